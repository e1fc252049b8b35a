import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { DeletedCopy } from '@backstop/shared'
import { describeFailure, succeeded } from '../../exec/exec.ts'
import { interpretChecklayout, rearArgv } from '../../tools/rear.ts'
import type { JobContext, JobResult } from '../job.ts'
import type { ResolvedRearJob } from './config.ts'
import type { StickInventory, StickRun } from './inventory.ts'
import { deleteRunDirs, planRunDirs } from './rear-retention.ts'
import { checkRearMd5, hashBoth, listRunDirs, mountStick, type RunDir, type Stick, unmountStick } from './stick.ts'

/**
 * The steps of one rear run (rear-job.ts strings them together): checklayout, the rear workflow, then the
 * inspection of the stick — the new run's checksum and rear's own .md5, GFS pruning, and every run as a copy.
 */
export type RunError = JobResult['error']

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

/** Where one job's runs live on a stick, as copies name it. */
export interface RearPlace {
  readonly job: ResolvedRearJob
  readonly host: string
  readonly stick: Stick
  readonly mnt: string
}

/** `rear checklayout`: true when the run can be skipped (mkrescue with onlyIfLayoutChanged and nothing changed). */
export async function checkLayout(
  ctx: JobContext,
  job: ResolvedRearJob,
  configDir: string,
  warnings: string[],
): Promise<boolean> {
  if (!job.checkLayout) {
    return false
  }
  const r = await ctx.exec.run(rearArgv(configDir, 'checklayout'), { timeoutMs: 600_000, signal: ctx.signal })
  const layout = interpretChecklayout(r.exitCode)
  if (layout === 'changed') {
    warnings.push(
      'rear checklayout: the disk layout or rear configuration changed since the last rescue image; ' +
        'the image on the stick was stale',
    )
  } else if (layout === 'error') {
    warnings.push(`rear checklayout failed: ${describeFailure(r)}`)
  }
  return layout === 'unchanged' && job.onlyIfLayoutChanged
}

/** `rear mkbackup|mkrescue` within the job's timeout, with progress from its milestones. */
export async function runRear(
  ctx: JobContext,
  job: ResolvedRearJob,
  configDir: string,
  host: string,
): Promise<RunError> {
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
  if (succeeded(r)) {
    return undefined
  }
  return {
    code: 'BK_ERR_REAR_FAILED',
    message: `${describeFailure(r)}; details in /var/log/rear/rear-${host}.log`.slice(0, 8000),
  }
}

/** Runs `fn` with the stick mounted; it is unmounted again whatever happens (a failed umount is a warning). */
async function withStick<T>(ctx: JobContext, p: RearPlace, warnings: string[], fn: () => Promise<T>): Promise<T> {
  await mountStick(ctx.exec, p.stick, p.mnt)
  try {
    return await fn()
  } finally {
    const err = await unmountStick(ctx.exec, p.mnt)
    if (err) {
      warnings.push(err)
    }
  }
}

/** The stick's run dirs of this host (mounted for the listing only). */
export function listOnStick(ctx: JobContext, p: RearPlace, warnings: string[]): Promise<RunDir[]> {
  return withStick(ctx, p, warnings, () => listRunDirs(p.mnt, p.host, p.job.nodeTimezone))
}

/** Checksums the run just written and compares rear's .md5; the record is verified only when both hold. */
async function checkFresh(
  ctx: JobContext,
  fresh: RunDir,
  warnings: string[],
  integrityCheck: boolean,
): Promise<{ record: StickRun | null; error: RunError }> {
  const file = join(fresh.path, fresh.hasBackup ? 'backup.tar.gz' : 'initrd.cgz')
  if (!existsSync(file)) {
    const what = fresh.hasBackup ? 'backup.tar.gz' : 'initrd.cgz'
    const message = `${fresh.name} has no ${what}; rear reported success but the run is incomplete`
    return { record: null, error: { code: 'BK_ERR_VERIFY_FAILED', message } }
  }
  const h = await hashBoth(file, ctx.signal)
  const md5 = fresh.hasBackup ? await checkRearMd5(file, h.md5) : null
  const record = { name: fresh.name, createdAt: fresh.createdAt.toISOString(), sha256: h.sha256, bytes: h.bytes }
  if (md5 !== null && !md5.ok) {
    const message =
      `${file}: md5 ${h.md5} differs from rear's backup.tar.gz.md5 (${md5.expected}); ` +
      'the archive on the stick is corrupt — replace the stick'
    return { record, error: { code: 'BK_ERR_VERIFY_FAILED', message } }
  }
  if (integrityCheck && fresh.hasBackup && md5 === null) {
    warnings.push(`${fresh.name}: BACKUP_INTEGRITY_CHECK is on but rear wrote no backup.tar.gz.md5`)
  }
  return { record: { ...record, verifiedAt: ctx.clock.now().toISOString() }, error: undefined }
}

export interface Inspection {
  readonly runs: StickRun[]
  /** The run directory this run created, if any: its copy carries the run id (named by the minute, it looks older
   * than the run's start, so only the id pairs it with the run). */
  readonly fresh: string | null
  readonly deleted: DeletedCopy[]
  readonly bytes: number | undefined
  readonly error: RunError
}

/**
 * After rear: find the new run among `before`, check it, prune with the GFS policy (only when the new run verified),
 * and list every remaining run with what the inventory knows about it.
 */
export async function inspectStick(
  ctx: JobContext,
  p: RearPlace,
  inv: StickInventory,
  before: readonly RunDir[],
  state: { error: RunError; skipped: boolean },
  warnings: string[],
): Promise<Inspection> {
  const known = new Map((inv[p.stick.fsUuid ?? '']?.runs ?? []).map((r) => [r.name, r]))
  const beforeNames = new Set(before.map((r) => r.name))
  let { error } = state
  return withStick(ctx, p, warnings, async () => {
    let bytes: number | undefined
    const after = await listRunDirs(p.mnt, p.host, p.job.nodeTimezone)
    const fresh = after.filter((r) => !beforeNames.has(r.name)).at(-1) ?? null
    if (fresh !== null && error === undefined) {
      const checked = await checkFresh(ctx, fresh, warnings, p.job.integrityCheck)
      error = checked.error
      bytes = checked.record?.bytes
      if (checked.record !== null) {
        known.set(fresh.name, checked.record)
      }
    } else if (fresh === null && error === undefined && !state.skipped) {
      error = {
        code: 'BK_ERR_REAR_FAILED',
        message:
          `rear ${p.job.workflow} exited 0 but no new rear/${p.host}/<YYYYMMDD.HHMM> directory ` +
          `appeared on ${p.stick.device}; is USB_SUFFIX set in the rear config?`,
      }
    }
    const deleted = fresh !== null && error === undefined ? await prune(ctx, p, after, known, warnings) : []
    const gone = new Set(deleted.map((d) => d.name))
    const runs = after
      .filter((r) => !gone.has(r.name))
      .map((r) => known.get(r.name) ?? { name: r.name, createdAt: r.createdAt.toISOString() })
    return { runs, fresh: fresh !== null && !gone.has(fresh.name) ? fresh.name : null, deleted, bytes, error }
  })
}

async function prune(
  ctx: JobContext,
  p: RearPlace,
  runs: readonly RunDir[],
  known: ReadonlyMap<string, StickRun>,
  warnings: string[],
): Promise<DeletedCopy[]> {
  const location = `${p.stick.label}:rear/${p.host}`
  const now = ctx.clock.now()
  const { removed, errors } = await deleteRunDirs(planRunDirs(runs, known, p.job.retention, now, location))
  warnings.push(...errors)
  return removed.map((d) => ({
    copyId: `rear:${p.stick.fsUuid ?? p.stick.label}:${d.run.name}`,
    asset: { kind: 'host-image', id: `host/${p.host}`, name: p.host },
    location: { kind: 'usb', target: location },
    name: d.run.name,
    deletedAt: now.toISOString(),
    rule: d.rule,
  }))
}
