import { succeeded, describeFailure, type Exec, type ExecOpts } from '../../exec/exec.ts'
import { classifyZfsError, holdArgv, receiveArgv, releaseArgv, sendArgv } from '../../tools/zfs.ts'
import type { ZfsSnapshotInfo } from '../../tools/zfs-parse.ts'
import type { RunReport } from '../snapshot-common/report.ts'
import type { ResolvedZfsTarget } from './config.ts'
import { listDatasets } from './listing.ts'

/** The hold tag that pins a replication base on both sides, per job and target. */
export const holdTag = (job: string, target: string): string => `backstop-${job}-${target}`

/** `tank/data` on target `usb/backup` lands at `usb/backup/tank/data`. */
export const targetDatasetOf = (target: ResolvedZfsTarget, source: string): string => `${target.dataset}/${source}`

export interface SendPlan {
  readonly source: string
  readonly targetDs: string
  /** Short snapshot name to bring over. */
  readonly newest: string
  /** Newest source snapshot whose guid the target has, or null for a first full send. */
  readonly base: string | null
}

/**
 * Pure: what to send for one dataset. The incremental base is the newest source snapshot whose **guid**
 * exists on the target (syncoid's getmatchingsnapshot): names can be reused, guids cannot.
 * Returns null when the target already has `newest`, or `diverged` when the target has snapshots but none
 * in common (receiving would need a destructive `-F` over someone's data: left to a human).
 */
export function planSend(
  source: string,
  targetDs: string,
  sourceSnaps: readonly ZfsSnapshotInfo[],
  targetSnaps: readonly ZfsSnapshotInfo[],
  newest: string,
): SendPlan | null | 'diverged' {
  if (targetSnaps.some((t) => t.name === newest)) {
    return null
  }
  const guids = new Set(targetSnaps.map((t) => t.guid))
  // Newest by createtxg (read exactly for every candidate), not by listing order.
  const common = sourceSnaps
    .filter((s) => s.guid !== '' && guids.has(s.guid))
    .sort((a, b) => a.createtxg - b.createtxg)
    .at(-1)
  if (common === undefined) {
    return targetSnaps.length === 0 ? { source, targetDs, newest, base: null } : 'diverged'
  }
  return { source, targetDs, newest, base: common.name }
}

/**
 * Sends one dataset (`zfs send [-I base] | zfs receive -F`, through Exec.pipeline: no shell). Creates the
 * parent on the target first when missing. Failures are recorded on `report`, never thrown. `limits` are the job's:
 * its timeout bounds the send, and its signal (timeout or shutdown, run-job.ts) kills both stages.
 */
export async function sendOne(
  exec: Exec,
  plan: SendPlan,
  targetDatasets: Set<string>,
  report: RunReport,
  targetName: string,
  limits: Required<Pick<ExecOpts, 'timeoutMs' | 'signal'>>,
): Promise<boolean> {
  const parent = plan.targetDs.slice(0, plan.targetDs.lastIndexOf('/'))
  if (!targetDatasets.has(parent)) {
    const mk = await exec.run(['zfs', 'create', '-p', parent], { timeoutMs: 120_000 })
    if (!succeeded(mk) && classifyZfsError(mk.stderr) !== 'exists') {
      report.error(
        'BK_ERR_REPLICATION_FAILED',
        `target ${targetName}: could not create ${parent}: ${describeFailure(mk)}`,
      )
      return false
    }
    targetDatasets.add(parent)
  }
  const from = plan.base === null ? null : `${plan.source}@${plan.base}`
  const p = await exec.pipeline([sendArgv(`${plan.source}@${plan.newest}`, from), receiveArgv(plan.targetDs)], limits)
  const failed = p.stages.find((s) => !succeeded(s))
  if (failed !== undefined) {
    const full = p.stages.some((s) => classifyZfsError(s.stderr) === 'no-space')
    report.error(
      'BK_ERR_REPLICATION_FAILED',
      `target ${targetName}: ${plan.source}@${plan.newest} → ${plan.targetDs}: ${describeFailure(failed)}` +
        (full ? ' — the target pool is full: free space there or lower its retention' : ''),
    )
    return false
  }
  report.bytes += p.bytesPiped
  targetDatasets.add(plan.targetDs)
  return true
}

/** Every dataset that exists below the target root (creates the root when only it is missing). */
export async function prepareTargetRoot(exec: Exec, target: ResolvedZfsTarget): Promise<Set<string>> {
  const listing = await listDatasets(exec, [target.dataset])
  if (listing.missing.length > 0) {
    const mk = await exec.run(['zfs', 'create', '-p', target.dataset], { timeoutMs: 120_000 })
    if (!succeeded(mk)) {
      throw new Error(`could not create ${target.dataset}: ${describeFailure(mk)}`)
    }
    return new Set([target.dataset])
  }
  return new Set(listing.datasets)
}

/**
 * Moves the hold from the old base to the new one on both sides: hold first, release after, so a base is
 * pinned at every moment (zrepl's step holds, syncoid --use-hold). Batched; a failed batch is retried per
 * snapshot, and a release of a tag that is not there (first run, base held by hand) is not an error.
 */
export async function moveHolds(
  exec: Exec,
  tag: string,
  hold: readonly string[],
  release: readonly string[],
  report: RunReport,
): Promise<Set<string>> {
  const held = new Set<string>()
  await batchOrEach(
    exec,
    holdArgv(tag, hold),
    hold,
    (s) => holdArgv(tag, [s]),
    (s, ok, stderr) => {
      if (ok || stderr.includes('already exists')) {
        held.add(s)
      } else {
        report.warnings.push(`could not hold ${s} with tag ${tag}: ${stderr.trim()}`)
      }
    },
  )
  await batchOrEach(
    exec,
    releaseArgv(tag, release),
    release,
    (s) => releaseArgv(tag, [s]),
    () => {},
  )
  return held
}

async function batchOrEach(
  exec: Exec,
  batch: string[],
  items: readonly string[],
  one: (s: string) => string[],
  done: (s: string, ok: boolean, stderr: string) => void,
): Promise<void> {
  if (items.length === 0) {
    return
  }
  const r = await exec.run(batch, { timeoutMs: 300_000 })
  if (succeeded(r)) {
    items.forEach((s) => done(s, true, ''))
    return
  }
  for (const s of items) {
    const x = await exec.run(one(s), { timeoutMs: 300_000 })
    done(s, succeeded(x), x.stderr)
  }
}
