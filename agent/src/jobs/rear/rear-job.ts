import { existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import type { AssetRef, Copy, DeletedCopy } from '@backstop/shared'
import { describeFailure, succeeded } from '../../exec/exec.ts'
import type { Job, JobContext, JobResult, PlanLine } from '../job.ts'
import { rearRestoreTest, rearVerifyCopy } from './checks.ts'
import { interpretChecklayout, rearArgv, renderLocalConf } from '../../tools/rear.ts'
import type { ResolvedRearJob } from './config.ts'
import {
  loadInventory,
  recordStick,
  saveInventory,
  staleSticks,
  type StickInventory,
  type StickRun,
} from './inventory.ts'
import {
  checkRearMd5,
  findStick,
  hashBoth,
  listRunDirs,
  mountStick,
  pruneRunDirs,
  type RunDir,
  type Stick,
  unmountStick,
} from './stick.ts'

/** rear -v milestones (usr/share/rear/*: LogPrint lines) → coarse progress. */
const milestones: [RegExp, number][] = [
  [/^Running workflow (mkbackup|mkrescue)/, 5],
  [/^Creating disk layout/, 15],
  [/^Creating root filesystem layout/, 25],
  [/^Copying (files|binaries|kernel modules)/, 35],
  [/^Creating recovery\/rescue system initramfs/, 45],
  [/^Making backup/, 55],
  [/^Archived /, 65],
  [/^Copying resulting files/, 85],
  [/^Exiting rear/, 95],
]

/**
 * One rear run onto the USB stick: find the stick by label, (checklayout), `rear mkbackup|mkrescue`, find the
 * new `rear/<host>/<YYYYMMDD.HHMM>/`, checksum it (and compare rear's .md5), keep N runs — deleting only after
 * the new run is on the stick and checked — and report every run on the stick as a copy. When the stick is not
 * attached the run fails with BK_ERR_USB_MEDIUM_MISSING but still reports the runs it knows as offline copies.
 */
export function createRearJob(job: ResolvedRearJob): Job {
  const host = job.rearHostname ?? hostname().split('.')[0]!
  const asset: AssetRef = { kind: 'host-image', id: `host/${host}`, name: host }

  const copyOf = (stick: { fsUuid: string | null; label: string }, run: StickRun, offline: boolean): Copy => ({
    copyId: `rear:${stick.fsUuid ?? stick.label}:${run.name}`,
    asset,
    location: {
      kind: 'usb',
      target: `${stick.label}:rear/${host}`,
      device: { label: stick.label, ...(stick.fsUuid ? { fsUuid: stick.fsUuid } : {}) },
    },
    name: run.name,
    media: 'usb',
    offsite: job.offsite,
    offline,
    immutable: false,
    createdAt: run.createdAt,
    ...(run.bytes !== undefined ? { bytes: run.bytes } : {}),
    ...(run.sha256 ? { checksum: { algo: 'sha256' as const, value: run.sha256 } } : {}),
    verification:
      run.sha256 && run.verifiedAt
        ? { state: 'verified', at: run.verifiedAt, method: 'sha256-after-write' }
        : { state: 'unverified', detail: 'run found on the stick without a checksum recorded by this agent' },
  })

  return {
    name: job.name,
    kind: 'rear',
    async run(ctx: JobContext): Promise<JobResult> {
      const warnings: string[] = []
      let inv: StickInventory = await loadInventory(ctx.stateDir)
      const stick = await findStick(ctx.exec, job.label)
      if (stick === null) {
        const known = Object.values(inv).filter((s) => s.label === job.label)
        warnings.push(...staleSticks(inv, ctx.clock.now(), job.staleAfterDays))
        return {
          status: 'failed',
          deleted: [],
          warnings,
          copies: known.flatMap((s) => s.runs.map((r) => copyOf(s, r, true))),
          error: {
            code: 'BK_ERR_USB_MEDIUM_MISSING',
            message: `no device with filesystem label "${job.label}" is attached; plug in the rescue stick (prepare a new one with \`rear format -- -y /dev/sdX\`)`,
          },
        }
      }
      if (stick.fsUuid === null) {
        warnings.push(
          `${stick.device} (label ${stick.label}) has no filesystem UUID; the stick cannot be told apart from another with the same label`,
        )
      }
      const mnt = join(ctx.stateDir, 'mnt')
      await mkdir(mnt, { recursive: true })
      const listNow = async (): Promise<RunDir[]> => {
        await mountStick(ctx.exec, stick, mnt)
        try {
          return await listRunDirs(mnt, host, job.nodeTimezone)
        } finally {
          const err = await unmountStick(ctx.exec, mnt)
          if (err) {
            warnings.push(err)
          }
        }
      }
      const before = await listNow()
      const configDir = job.configDir ?? (await writeConfig(ctx.stateDir, job, stick))

      let skip = false
      if (job.checkLayout) {
        const r = await ctx.exec.run(rearArgv(configDir, 'checklayout'), { timeoutMs: 600_000, signal: ctx.signal })
        const layout = interpretChecklayout(r.exitCode)
        if (layout === 'changed') {
          warnings.push(
            'rear checklayout: the disk layout or rear configuration changed since the last rescue image; the image on the stick was stale',
          )
        } else if (layout === 'error') {
          warnings.push(`rear checklayout failed: ${describeFailure(r)}`)
        } else if (job.onlyIfLayoutChanged) {
          skip = true
        }
      }

      let error: JobResult['error']
      if (!skip) {
        const onLine = (line: string): void => {
          for (const [re, pct] of milestones) {
            if (re.test(line)) {
              ctx.progress(pct, line.slice(0, 200))
            }
          }
        }
        const r = await ctx.exec.run(rearArgv(configDir, job.workflow), {
          timeoutMs: job.timeoutMs,
          signal: ctx.signal,
          onStdoutLine: onLine,
          onStderrLine: onLine,
        })
        if (!succeeded(r)) {
          error = {
            code: 'BK_ERR_REAR_FAILED',
            message: `${describeFailure(r)}; details in /var/log/rear/rear-${host}.log`.slice(0, 8000),
          }
        }
      }

      // Inspect the stick: the new run, its checksum, pruning, and every run as a copy.
      const known = new Map((inv[stick.fsUuid ?? '']?.runs ?? []).map((r) => [r.name, r]))
      const beforeNames = new Set(before.map((r) => r.name))
      const deleted: DeletedCopy[] = []
      const runs: StickRun[] = []
      let bytes: number | undefined
      await mountStick(ctx.exec, stick, mnt)
      try {
        const after = await listRunDirs(mnt, host, job.nodeTimezone)
        const fresh = after.filter((r) => !beforeNames.has(r.name)).at(-1) ?? null
        let freshOk = false
        if (fresh !== null && error === undefined) {
          const file = join(fresh.path, fresh.hasBackup ? 'backup.tar.gz' : 'initrd.cgz')
          if (!existsSync(file)) {
            error = {
              code: 'BK_ERR_VERIFY_FAILED',
              message: `${fresh.name} has no ${fresh.hasBackup ? 'backup.tar.gz' : 'initrd.cgz'}; rear reported success but the run is incomplete`,
            }
          } else {
            const h = await hashBoth(file, ctx.signal)
            const md5 = fresh.hasBackup ? await checkRearMd5(file, h.md5) : null
            if (md5 !== null && !md5.ok) {
              error = {
                code: 'BK_ERR_VERIFY_FAILED',
                message: `${file}: md5 ${h.md5} differs from rear's backup.tar.gz.md5 (${md5.expected}); the archive on the stick is corrupt — replace the stick`,
              }
            } else {
              freshOk = true
              if (job.integrityCheck && fresh.hasBackup && md5 === null) {
                warnings.push(`${fresh.name}: BACKUP_INTEGRITY_CHECK is on but rear wrote no backup.tar.gz.md5`)
              }
            }
            bytes = h.bytes
            known.set(fresh.name, {
              name: fresh.name,
              createdAt: fresh.createdAt.toISOString(),
              sha256: h.sha256,
              bytes: h.bytes,
              ...(freshOk ? { verifiedAt: ctx.clock.now().toISOString() } : {}),
            })
          }
        } else if (fresh === null && error === undefined && !skip) {
          error = {
            code: 'BK_ERR_REAR_FAILED',
            message: `rear ${job.workflow} exited 0 but no new rear/${host}/<YYYYMMDD.HHMM> directory appeared on ${stick.device}; is USB_SUFFIX set in the rear config?`,
          }
        }
        let kept = after
        if (freshOk && fresh !== null) {
          const pruned = await pruneRunDirs(after, job.keepRuns, fresh.name)
          warnings.push(...pruned.errors)
          const gone = new Set(pruned.removed.map((r) => r.name))
          kept = after.filter((r) => !gone.has(r.name))
          for (const r of pruned.removed) {
            deleted.push({
              copyId: `rear:${stick.fsUuid ?? stick.label}:${r.name}`,
              asset,
              location: { kind: 'usb', target: `${stick.label}:rear/${host}` },
              name: r.name,
              deletedAt: ctx.clock.now().toISOString(),
              rule: `keep-runs(${job.keepRuns})`,
            })
          }
        }
        for (const r of kept) {
          runs.push(known.get(r.name) ?? { name: r.name, createdAt: r.createdAt.toISOString() })
        }
      } finally {
        const err = await unmountStick(ctx.exec, mnt)
        if (err) {
          warnings.push(err)
        }
      }
      if (stick.fsUuid) {
        inv = recordStick(inv, stick.fsUuid, stick.label, runs, ctx.clock.now())
        await saveInventory(ctx.stateDir, inv)
      }
      warnings.push(...staleSticks(inv, ctx.clock.now(), job.staleAfterDays))
      const result: JobResult = {
        status: error ? 'failed' : 'success',
        copies: runs.map((r) => copyOf(stick, r, false)),
        deleted,
        warnings,
        ...(bytes !== undefined ? { bytes } : {}),
      }
      return error ? { ...result, error } : result
    },

    verifyCopy: (ctx, copyId) => rearVerifyCopy(job, host, ctx, copyId),
    restoreTest: () => rearRestoreTest(job),

    /** What keepRuns would keep or delete on the attached stick (nothing is deleted). Empty when no stick. */
    async plan(ctx: JobContext): Promise<PlanLine[]> {
      const stick = await findStick(ctx.exec, job.label)
      if (stick === null) {
        return []
      }
      const mnt = join(ctx.stateDir, 'mnt')
      await mkdir(mnt, { recursive: true })
      await mountStick(ctx.exec, stick, mnt)
      try {
        const runs = await listRunDirs(mnt, host, job.nodeTimezone)
        return runs.map((r) => {
          const same = runs
            .filter((x) => x.hasBackup === r.hasBackup)
            .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime())
          const rank = same.indexOf(r) + 1
          const kind = r.hasBackup ? 'backup' : 'rescue-only'
          return {
            location: `${stick.label}:rear/${host}`,
            name: r.name,
            createdAt: r.createdAt.toISOString(),
            action: rank <= job.keepRuns ? 'keep' : 'destroy',
            reasons: [
              `keep-runs(${job.keepRuns}): #${rank} newest ${kind} run${rank <= job.keepRuns ? '' : ', deleted after the next run is written'}`,
            ],
          }
        })
      } finally {
        await unmountStick(ctx.exec, mnt)
      }
    },
  }
}

async function writeConfig(stateDir: string, job: ResolvedRearJob, stick: Stick): Promise<string> {
  const dir = join(stateDir, 'rear-etc')
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const byLabel = `/dev/disk/by-label/${job.label}`
  // by-label survives /dev/sdX renumbering between runs; without udev there is only the device node.
  const url = `usb://${existsSync(byLabel) ? byLabel : stick.device}`
  await writeFile(
    join(dir, 'local.conf'),
    renderLocalConf({
      backupUrl: url,
      workflow: job.workflow,
      integrityCheck: job.integrityCheck,
      extra: job.extraConfig,
    }),
  )
  return dir
}
