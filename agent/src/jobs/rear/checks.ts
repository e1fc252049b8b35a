import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { BackstopError } from '@backstop/shared'
import { describeFailure, succeeded } from '../../exec/exec.ts'
import type { CopyCheck, JobContext } from '../job.ts'
import type { ResolvedRearJob } from './config.ts'
import { loadInventory } from './inventory.ts'
import { checkRearMd5, findStick, hashBoth, listRunDirs, mountStick, unmountStick } from './stick.ts'

const METHOD = 'sha256-inventory+rear-md5+gzip-test'

function failed(copyId: string, checks: string[], code: string, message: string, bytes?: number): CopyCheck {
  return {
    result: 'failed',
    copyId,
    method: METHOD,
    checks: [...checks, `FAILED: ${message}`],
    ...(bytes !== undefined ? { bytes } : {}),
    error: { code, message },
  }
}

/**
 * reverify-copy of a REAR run on the stick (`rear:<fs uuid or label>:rear/<host>/<YYYYMMDD.HHMM>`): the stick
 * must be attached (else the copy is offline, not bad: BK_ERR_USB_MEDIUM_MISSING is thrown and the ledger
 * keeps its state), the run's backup.tar.gz (or initrd.cgz for rescue-only runs) is re-read and compared with
 * the sha256 this agent recorded after writing and with rear's own .md5, and `gzip -t` must read the archive.
 */
export async function rearVerifyCopy(
  job: ResolvedRearJob,
  host: string,
  ctx: JobContext,
  copyId: string,
): Promise<CopyCheck> {
  const m = /^rear:([^:]+):(rear\/[^/]+\/[^/]+)$/.exec(copyId)
  if (m === null || !m[2]!.startsWith(`rear/${host}/`)) {
    throw new BackstopError(
      'BK_ERR_COPY_NOT_FOUND',
      `copy "${copyId}" is not a REAR run of job "${job.name}" ` +
        `(its copies are rear:<stick fs uuid>:rear/${host}/<YYYYMMDD.HHMM>; list them with GET /api/v1/copies)`,
    )
  }
  const [, stickId, runName] = m as unknown as [string, string, string]
  const stick = await findStick(ctx.exec, job.label)
  if (stick === null || (stick.fsUuid ?? stick.label) !== stickId) {
    const attached =
      stick === null
        ? `no stick labelled "${job.label}" is attached`
        : `the attached stick is ${stick.fsUuid ?? stick.label}, not ${stickId}`
    throw new BackstopError(
      'BK_ERR_USB_MEDIUM_MISSING',
      `${attached}; plug in the stick holding ${runName} and ask again`,
    )
  }
  const checks = [`stick ${stickId} (${stick.device}) is attached`]
  const mnt = join(ctx.stateDir, 'mnt')
  await mkdir(mnt, { recursive: true })
  await mountStick(ctx.exec, stick, mnt)
  try {
    const run = (await listRunDirs(mnt, host, job.nodeTimezone)).find((r) => r.name === runName)
    if (run === undefined) {
      return failed(copyId, checks, 'BK_ERR_COPY_NOT_FOUND', `${runName} is not on the stick (deleted or overwritten)`)
    }
    const file = join(run.path, run.hasBackup ? 'backup.tar.gz' : 'initrd.cgz')
    if (!existsSync(file)) {
      return failed(
        copyId,
        checks,
        'BK_ERR_VERIFY_FAILED',
        `${runName} has no ${run.hasBackup ? 'backup.tar.gz' : 'initrd.cgz'}: the run is incomplete`,
      )
    }
    const h = await hashBoth(file, ctx.signal)
    const recorded = Object.values(await loadInventory(ctx.stateDir))
      .find((s) => (s.fsUuid || s.label) === stickId)
      ?.runs.find((r) => r.name === runName)
    if (recorded?.sha256 !== undefined && recorded.sha256 !== h.sha256) {
      return failed(
        copyId,
        checks,
        'BK_ERR_VERIFY_FAILED',
        `${file}: sha256 ${h.sha256} differs from ${recorded.sha256} recorded after writing; ` +
          'the stick is corrupt — replace it',
        h.bytes,
      )
    }
    checks.push(
      recorded?.sha256 !== undefined
        ? `sha256 of ${file} (${h.bytes} bytes) matches the one recorded after writing`
        : `read ${file} (${h.bytes} bytes); no sha256 was recorded for this run by this agent`,
    )
    if (run.hasBackup) {
      const md5 = await checkRearMd5(file, h.md5)
      if (md5 !== null && !md5.ok) {
        return failed(
          copyId,
          checks,
          'BK_ERR_VERIFY_FAILED',
          `${file}: md5 ${h.md5} differs from rear's backup.tar.gz.md5 (${md5.expected})`,
          h.bytes,
        )
      }
      checks.push(md5 === null ? 'rear wrote no backup.tar.gz.md5' : "md5 matches rear's backup.tar.gz.md5")
      const gz = await ctx.exec.run(['gzip', '--test', file], { signal: ctx.signal, timeoutMs: job.timeoutMs })
      if (!succeeded(gz)) {
        return failed(copyId, checks, 'BK_ERR_VERIFY_FAILED', `gzip --test: ${describeFailure(gz)}`, h.bytes)
      }
      checks.push('gzip --test read the archive to the end')
    }
    return { result: 'ok', copyId, method: METHOD, checks, bytes: h.bytes }
  } finally {
    const err = await unmountStick(ctx.exec, mnt)
    if (err) {
      ctx.log.warn({ err }, 'could not unmount the rescue stick after re-verify')
    }
  }
}

/** A REAR image is restored by booting the machine from the stick (`rear recover`): nothing to test in place. */
export function rearRestoreTest(job: ResolvedRearJob): Promise<CopyCheck> {
  return Promise.reject(
    new BackstopError(
      'BK_ERR_CMD_UNSUPPORTED',
      `job "${job.name}" is of kind rear: a REAR recovery boots a machine from the stick and rewrites its ` +
        'disks, so it cannot be restore-tested in place. Boot the stick on spare hardware or in a VM; ' +
        `reverify-copy checks the run's checksums on the stick`,
    ),
  )
}
