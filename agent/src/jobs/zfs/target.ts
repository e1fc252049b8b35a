import type { Verification } from '@backstop/shared'
import { describeFailure, succeeded, type Exec, type ExecOpts } from '../../exec/exec.ts'
import type { ZfsCapabilities } from '../../tools/zfs.ts'
import { parseZfsGuids, type ZfsSnapshotInfo } from '../../tools/zfs-parse.ts'
import { planCopies, type OwnedCopy } from '../retention.ts'
import { parseTaggedSnapshotName } from '../snapshot-common/retention.ts'
import type { RunReport } from '../snapshot-common/report.ts'
import type { ResolvedZfsJob, ResolvedZfsTarget } from './config.ts'
import { zfsCopy, zfsDeleted } from './copies.ts'
import { destroySnapshots, type DestroyRequest } from './destroy.ts'
import { poolLocation, poolOf, poolReport } from './health.ts'
import { byDataset, listSnapshots } from './listing.ts'
import {
  holdTag,
  moveHolds,
  planSend,
  prepareTargetRoot,
  sendOne,
  targetDatasetOf,
  type SendPlan,
} from './replicate.ts'

/** The source side as the job left it just before replication. */
export interface SourceState {
  readonly managed: readonly string[]
  /** Per dataset, oldest first, including the snapshot just taken (guid filled in). */
  readonly snaps: Map<string, ZfsSnapshotInfo[]>
  /** Per dataset, the snapshot this run took (its name carries that dataset's tags); empty in plan mode. */
  readonly newNames: ReadonlyMap<string, string>
  readonly recursiveRoots: readonly string[]
}

/** Our snapshots of one dataset, as the retention engine sees them. */
export function ownedOf(
  snaps: readonly ZfsSnapshotInfo[],
  prefix: string,
): { info: ZfsSnapshotInfo; owned: OwnedCopy }[] {
  const out: { info: ZfsSnapshotInfo; owned: OwnedCopy }[] = []
  for (const s of snaps) {
    const parsed = parseTaggedSnapshotName(prefix, s.name)
    if (parsed !== null) {
      out.push({
        info: s,
        owned: {
          id: s.fullName,
          name: s.fullName,
          createdAt: parsed.createdAt,
          tags: parsed.tags,
          held: s.userrefs > 0,
          successful: true,
        },
      })
    }
  }
  return out
}

/**
 * One replication target, end to end: reachability (an absent pool is reported offline and skipped — it
 * never blocks anything else), send what is missing, move the base hold, copy promotion tags, prune with the
 * target's own policy, report every replica as a copy. `dryRun` only plans.
 */
export async function processTarget(
  exec: Exec,
  caps: ZfsCapabilities,
  cfg: ResolvedZfsJob,
  target: ResolvedZfsTarget,
  src: SourceState,
  now: Date,
  report: RunReport,
  dryRun: boolean,
  /** The job's signal (timeout or shutdown, run-job.ts): a send never outlives its job. */
  signal: AbortSignal,
): Promise<void> {
  const pool = poolOf(target.dataset)
  const health = await poolReport(exec, pool)
  if (!health.present) {
    reportOffline(target, pool, report)
    return
  }
  report.warnings.push(...health.problems.map((p) => `target ${target.name}: ${p}`))
  const location = poolLocation(health, pool)
  let targetSnaps: Map<string, ZfsSnapshotInfo[]>
  try {
    const datasets = dryRun ? new Set<string>() : await prepareTargetRoot(exec, target)
    targetSnaps = byDataset(
      await listSnapshots(exec, caps, [target.dataset]).catch((e: unknown) => (dryRun ? [] : Promise.reject(e))),
    )
    await fillGuids(exec, src, targetSnaps, target, report)
    if (!dryRun && src.newNames.size > 0) {
      const limits = { timeoutMs: cfg.timeoutMs, signal }
      const sent = await sendAll(exec, target, src, targetSnaps, datasets, report, limits)
      if (sent.length > 0) {
        await moveBaseHolds(exec, cfg, target, src, sent, report)
        targetSnaps = byDataset(await listSnapshots(exec, caps, [target.dataset]))
        await fillGuids(exec, src, targetSnaps, target, report)
      }
    }
  } catch (e) {
    report.caught(e, 'BK_ERR_REPLICATION_FAILED')
    return
  }
  const sourceGuids = guidsOf(src)
  for (const ds of src.managed) {
    const targetDs = targetDatasetOf(target, ds)
    const owned = ownedOf(targetSnaps.get(targetDs) ?? [], cfg.prefix)
    const plan = planCopies(
      owned.map((o) => o.owned),
      target.retention,
      now,
      `${target.name}:${targetDs}`,
    )
    report.lines.push(...plan.lines)
    const destroyed = new Set<string>()
    if (!dryRun && plan.destroy.length > 0) {
      const reqs: DestroyRequest[] = plan.destroy.map((d) => ({
        dataset: targetDs,
        name: d.snap.id.slice(targetDs.length + 1),
        rule: d.rule,
      }))
      const out = await destroySnapshots(exec, caps, reqs, [], () => [])
      for (const r of out.destroyed) {
        destroyed.add(`${r.dataset}@${r.name}`)
        report.deleted.push(zfsDeleted(`${r.dataset}@${r.name}`, ds, location, now, r.rule))
      }
      for (const f of out.failed) {
        report.error('BK_ERR_PRUNE_FAILED', `target ${target.name}: ${f.error}`)
      }
    }
    for (const { info, owned: o } of owned) {
      if (!destroyed.has(info.fullName)) {
        report.copies.push(
          zfsCopy(info, o.createdAt, ds, location, target, replicaVerification(info, sourceGuids.has(info.guid), now)),
        )
      }
    }
  }
}

function replicaVerification(info: ZfsSnapshotInfo, guidMatches: boolean, now: Date): Verification {
  return guidMatches
    ? {
        state: 'verified',
        at: now.toISOString(),
        method: 'zfs-guid',
        detail: `guid ${info.guid} equals the source snapshot's`,
      }
    : {
        state: 'unverified',
        method: 'zfs-guid',
        detail: 'the source snapshot with this guid no longer exists to compare against',
      }
}

/** The guids of every source snapshot: a replica with one of them is the same snapshot, verified. */
function guidsOf(src: SourceState): Set<string> {
  return new Set(
    [...src.snaps.values()]
      .flat()
      .map((s) => s.guid)
      .filter((g) => g !== ''),
  )
}

/** An absent target pool: expected for a removable target (a warning), an error for one that should be there. */
function reportOffline(target: ResolvedZfsTarget, pool: string, report: RunReport): void {
  const msg = `target ${target.name} (${target.dataset}) is offline: pool ${pool} is not imported; its copies are kept as last reported and local pruning went ahead`
  if (target.offline) {
    report.warnings.push(msg)
  } else {
    report.error(
      'BK_ERR_REPLICATION_FAILED',
      `${msg}. It is not marked offline: true in the config — import the pool or mark the target as removable`,
    )
  }
}

async function sendAll(
  exec: Exec,
  target: ResolvedZfsTarget,
  src: SourceState,
  targetSnaps: Map<string, ZfsSnapshotInfo[]>,
  datasets: Set<string>,
  report: RunReport,
  limits: Required<Pick<ExecOpts, 'timeoutMs' | 'signal'>>,
): Promise<SendPlan[]> {
  const sent: SendPlan[] = []
  // Parents first, so a child's receive finds its parent dataset.
  for (const ds of [...src.managed].sort((a, b) => a.split('/').length - b.split('/').length || (a < b ? -1 : 1))) {
    const targetDs = targetDatasetOf(target, ds)
    const newest = src.newNames.get(ds)
    const plan =
      newest === undefined
        ? null
        : planSend(ds, targetDs, src.snaps.get(ds) ?? [], targetSnaps.get(targetDs) ?? [], newest)
    if (plan === 'diverged') {
      report.error(
        'BK_ERR_REPLICATION_DIVERGED',
        `target ${target.name}: ${targetDs} has snapshots but none in common with ${ds} (matched by guid); ` +
          `rename or destroy ${targetDs} to start a new full replica`,
      )
    } else if (plan !== null && (await sendOne(exec, plan, datasets, report, target.name, limits))) {
      sent.push(plan)
    }
  }
  return sent
}

async function moveBaseHolds(
  exec: Exec,
  cfg: ResolvedZfsJob,
  target: ResolvedZfsTarget,
  src: SourceState,
  sent: readonly SendPlan[],
  report: RunReport,
): Promise<void> {
  const hold = sent.flatMap((p) => [`${p.source}@${p.newest}`, `${p.targetDs}@${p.newest}`])
  const release = sent
    .filter((p) => p.base !== null)
    .flatMap((p) => [`${p.source}@${p.base}`, `${p.targetDs}@${p.base}`])
  const held = await moveHolds(exec, holdTag(cfg.name, target.name), hold, release, report)
  // Keep the in-memory source model in step, so local pruning and the copy report see the holds.
  for (const [ds, list] of src.snaps) {
    src.snaps.set(
      ds,
      list.map((s) => {
        const delta = (held.has(s.fullName) ? 1 : 0) - (release.includes(s.fullName) && s.userrefs > 0 ? 1 : 0)
        return delta === 0 ? s : { ...s, userrefs: s.userrefs + delta }
      }),
    )
  }
}

/**
 * Exact guid/createtxg for the source snapshots that matter to this target — those whose name the target
 * has, plus the one just taken — read with one `zfs get` (the light source listing has no guids).
 */
async function fillGuids(
  exec: Exec,
  src: SourceState,
  targetSnaps: Map<string, ZfsSnapshotInfo[]>,
  target: ResolvedZfsTarget,
  report: RunReport,
): Promise<void> {
  const wanted: string[] = []
  for (const ds of src.managed) {
    const onTarget = new Set((targetSnaps.get(targetDatasetOf(target, ds)) ?? []).map((s) => s.name))
    for (const s of src.snaps.get(ds) ?? []) {
      if (s.guid === '' && (onTarget.has(s.name) || s.name === src.newNames.get(ds))) {
        wanted.push(s.fullName)
      }
    }
  }
  if (wanted.length === 0) {
    return
  }
  const r = await exec.run(['zfs', 'get', '-H', '-p', '-o', 'name,property,value', 'guid,createtxg', ...wanted], {
    timeoutMs: 300_000,
    maxOutputBytes: 256 * 1024 * 1024,
  })
  if (!succeeded(r)) {
    report.warnings.push(`could not read guids of source snapshots: ${describeFailure(r)}`)
  }
  const got = parseZfsGuids(r.stdout)
  for (const [ds, list] of src.snaps) {
    src.snaps.set(
      ds,
      list.map((s) => {
        const g = got.get(s.fullName)
        return s.guid === '' && g !== undefined && g.guid !== '' ? { ...s, guid: g.guid, createtxg: g.createtxg } : s
      }),
    )
  }
}
