import { existsSync } from 'node:fs'
import { stat } from 'node:fs/promises'
import { basename, dirname } from 'node:path'
import { BackstopError } from '@backstop/shared'
import { describeFailure, succeeded } from '../../exec/exec.ts'
import { companionFiles, parseArchiveName } from '../../tools/vzdump.ts'
import type { CopyCheck, JobContext } from '../job.ts'
import type { ResolvedVzdumpJob } from './config.ts'
import { ChecksumStore, sha256File } from './files.ts'

const METHOD = 'sha256-after-write+compressor-test+log'
/** Each compressor's own integrity test: decompresses the whole stream and checks its checksums, writes nothing. */
const TEST_ARGV: Record<'zst' | 'gz' | 'lzo', (path: string) => string[]> = {
  zst: (p) => ['zstd', '--test', '--quiet', p],
  gz: (p) => ['gzip', '--test', p],
  lzo: (p) => ['lzop', '--test', p],
}

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
 * `vzdump:<dump dir>/<vzdump archive name>` of this job: the dump dir is the job's (dumpdir, or the storage path),
 * or — for a storage whose path is not configured — one this job recorded a checksum for.
 */
async function pathOf(job: ResolvedVzdumpJob, sums: ChecksumStore, copyId: string): Promise<string> {
  if (copyId.startsWith('pbs:')) {
    throw new BackstopError(
      'BK_ERR_CMD_UNSUPPORTED',
      `copy "${copyId}" is a Proxmox Backup Server snapshot: PBS verify jobs own its verification ` +
        '(`proxmox-backup-manager verify`), not the agent',
    )
  }
  const path = copyId.startsWith('vzdump:') ? copyId.slice('vzdump:'.length) : ''
  const parsed = path.startsWith('/') ? parseArchiveName(basename(path), job.nodeTimezone) : null
  const dir = 'dumpdir' in job.target ? job.target.dumpdir : job.target.path
  const ours = dir !== null ? dirname(path) === dir : sums.get(path) !== undefined
  const guest = parsed !== null && (!('vmids' in job.selection) || job.selection.vmids.includes(parsed.vmid))
  if (parsed === null || !ours || !guest) {
    throw new BackstopError(
      'BK_ERR_COPY_NOT_FOUND',
      `copy "${copyId}" is not a vzdump archive of job "${job.name}" (its copies are ` +
        `vzdump:${dir ?? '<dump dir>'}/vzdump-<qemu|lxc>-<vmid>-<time>.<vma|tar>[.zst|.gz|.lzo]; ` +
        'list them with GET /api/v1/copies)',
    )
  }
  return path
}

/**
 * reverify-copy of a vzdump archive: the sha256 recorded right after vzdump wrote it still matches, the
 * compressor's test mode reads the whole stream, and vzdump's .log is next to it. It says nothing about whether
 * the guest inside boots — only `qmrestore`/`pct restore` can (see restore-test).
 */
export async function vzdumpVerifyCopy(job: ResolvedVzdumpJob, ctx: JobContext, copyId: string): Promise<CopyCheck> {
  const sums = await ChecksumStore.open(ctx.stateDir)
  const path = await pathOf(job, sums, copyId)
  const checks: string[] = []
  const st = await stat(path).catch(() => null)
  if (st === null) {
    return failed(
      copyId,
      checks,
      'BK_ERR_COPY_NOT_FOUND',
      `${path} no longer exists (pruned by hand, or the storage is not mounted)`,
    )
  }
  const recorded = sums.get(path)
  if (recorded !== undefined) {
    const now = await sha256File(path, ctx.signal)
    if (now.sha256 !== recorded.sha256) {
      return failed(
        copyId,
        checks,
        'BK_ERR_VERIFY_FAILED',
        `${path}: sha256 ${now.sha256} (${now.bytes} bytes) differs from ${recorded.sha256} ` +
          `(${recorded.bytes} bytes) recorded at ${recorded.at}`,
        now.bytes,
      )
    }
    checks.push(`sha256 of ${path} (${now.bytes} bytes) matches the one recorded after vzdump wrote it`)
  } else {
    checks.push(`${path}: no sha256 recorded (not written by this job); integrity rests on the compressor test`)
  }
  const compression = parseArchiveName(basename(path), job.nodeTimezone)!.compression
  if (compression === null) {
    checks.push('uncompressed archive: no stream test available')
  } else {
    const r = await ctx.exec.run(TEST_ARGV[compression](path), { signal: ctx.signal, timeoutMs: job.timeoutMs })
    if (!succeeded(r)) {
      return failed(
        copyId,
        checks,
        'BK_ERR_VERIFY_FAILED',
        `${compression} test of ${path}: ${describeFailure(r)}`,
        st.size,
      )
    }
    checks.push(`${TEST_ARGV[compression](path).slice(0, 2).join(' ')} read the whole stream`)
  }
  const [log, notes] = companionFiles(path) as [string, string]
  if (!existsSync(log)) {
    return failed(
      copyId,
      checks,
      'BK_ERR_VERIFY_FAILED',
      `${basename(log)} is missing next to the archive: vzdump always writes it, ` +
        `so the archive's provenance is unknown`,
      st.size,
    )
  }
  checks.push(`${basename(log)} present${existsSync(notes) ? `, ${basename(notes)} present` : ''}`)
  return { result: 'ok', copyId, method: METHOD, checks, bytes: st.size }
}

/**
 * Only Proxmox can restore a guest; on a node without it (and vzdump is faked on this test machine) this is refused.
 */
export function vzdumpRestoreTest(job: ResolvedVzdumpJob): Promise<CopyCheck> {
  return Promise.reject(
    new BackstopError(
      'BK_ERR_CMD_UNSUPPORTED',
      `job "${job.name}" is of kind vzdump: a restore test needs \`qmrestore\`/\`pct restore\` into a spare ` +
        'VMID on a Proxmox node, which this agent does not run. Use reverify-copy ' +
        '(sha256 + compressor test) or restore by hand with `qmrestore <archive> <spare vmid>`',
    ),
  )
}
