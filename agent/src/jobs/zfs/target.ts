import type { Location, Verification } from '@backstop/shared'
import { describeFailure, succeeded, type ExecOpts } from '../../exec/exec.ts'
import { parseZfsGuids, type ZfsSnapshotInfo } from '../../tools/zfs-parse.ts'
import { planCopies, type OwnedCopy } from '../retention.ts'
import { parseTaggedSnapshotName } from '../snapshot-common/retention.ts'
import type { RunReport } from '../snapshot-common/report.ts'
import { vanishedRule, type ReportedReplicas } from '../snapshot-common/reported-replicas.ts'
import { notDue } from '../snapshot-common/window.ts'
import type { ResolvedZfsTarget } from './config.ts'
import { zfsCopy, zfsCopyId, zfsDeleted } from './copies.ts'
import { destroySnapshots, type DestroyRequest } from './destroy.ts'
import { poolLocation, poolOf, poolReport, type PoolReport } from './health.ts'
import { byDataset, listSnapshots } from './listing.ts'
import {
  holdTag,
  moveHolds,
  parseResumeTokens,
  planSend,
  prepareTargetRoot,
  resumeCut,
  sendOne,
  targetDatasetOf,
  type ReplicationLink,
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
 * The newest of our snapshots the target holds of every dataset, i.e. the oldest of the per-dataset newest (the
 * target is fed only as far as its least fed dataset); null when some dataset has none there yet.
 */
function newestHeld(
  managed: readonly string[],
  targetSnaps: Map<string, ZfsSnapshotInfo[]>,
  target: ResolvedZfsTarget,
  prefix: string,
): Date | null {
  let least = Infinity
  for (const ds of managed) {
    const held = ownedOf(targetSnaps.get(targetDatasetOf(target, ds)) ?? [], prefix)
    if (held.length === 0) {
      return null
    }
    least = Math.min(least, Math.max(...held.map((o) => o.owned.createdAt.getTime())))
  }
  return Number.isFinite(least) ? new Date(least) : null
}

/** The job around one target: its name (hold tag), snapshot prefix, timeout, and the run's signal. */
export interface TargetJob {
  readonly name: string
  readonly prefix: string
  readonly timeoutMs: number
  /** The job's signal (timeout or shutdown, run-job.ts): a send never outlives its job. */
  readonly signal: AbortSignal
  /** What each target held at the last run: a replica gone since (pruned by its host, or by hand) is reported. */
  readonly reported: ReportedReplicas
}

/**
 * One replication target, end to end: reachability (an absent pool is reported offline and skipped — it
 * never blocks anything else), finish a cut transfer, send what is missing, move the base hold on both ends,
 * prune with the target's own policy (only where the target is this host: a remote receiver prunes itself),
 * report every replica as a copy. `dryRun` only plans.
 */
export async function processTarget(
  link: ReplicationLink,
  job: TargetJob,
  target: ResolvedZfsTarget,
  src: SourceState,
  now: Date,
  report: RunReport,
  dryRun: boolean,
): Promise<void> {
  const tside = link.target
  const pool = poolOf(target.dataset)
  const health = await poolReport(tside.exec, pool)
  if (!health.present) {
    reportOffline(target, pool, report, tside.where, health.problems[0])
    return
  }
  report.warnings.push(...health.problems.map((p) => `target ${target.name}: ${p}`))
  const location = targetLocation(health, pool, target)
  let targetSnaps: Map<string, ZfsSnapshotInfo[]>
  try {
    const datasets = dryRun ? new Set<string>() : await prepareTargetRoot(tside, target.dataset, report)
    const limits = { timeoutMs: job.timeoutMs, signal: job.signal }
    if (!dryRun && link.source.caps.resumable && tside.caps.resumable) {
      await resumeCut(link, await resumeTokens(link, target.dataset), report, limits)
    }
    targetSnaps = byDataset(
      await listSnapshots(tside.exec, tside.caps, [target.dataset]).catch((e: unknown) =>
        dryRun ? [] : Promise.reject(e),
      ),
    )
    await fillGuids(link, src, targetSnaps, target, report)
    const due = !notDue(target, newestHeld(src.managed, targetSnaps, target, job.prefix), now)
    if (!dryRun && src.newNames.size > 0 && due) {
      const sent = await sendAll(link, target, src, targetSnaps, datasets, report, limits)
      if (sent.length > 0) {
        await moveBaseHolds(link, job.name, target, src, sent, report)
        targetSnaps = byDataset(await listSnapshots(tside.exec, tside.caps, [target.dataset]))
        await fillGuids(link, src, targetSnaps, target, report)
      }
    }
  } catch (e) {
    report.caught(e, 'BK_ERR_REPLICATION_FAILED')
    return
  }
  const sourceGuids = guidsOf(src)
  for (const ds of src.managed) {
    const targetDs = targetDatasetOf(target, ds)
    const owned = ownedOf(targetSnaps.get(targetDs) ?? [], job.prefix)
    const plan = planCopies(
      owned.map((o) => o.owned),
      target.retention,
      now,
      `${target.name}:${targetDs}`,
    )
    const destroyed = new Set<string>()
    if (!target.prunes) {
      // A remote receiver is pruned by its own agent (its gate refuses `zfs destroy` from us): plan nothing here.
    } else {
      report.lines.push(...plan.lines)
    }
    if (target.prunes && !dryRun && plan.destroy.length > 0) {
      const reqs: DestroyRequest[] = plan.destroy.map((d) => ({
        dataset: targetDs,
        name: d.snap.id.slice(targetDs.length + 1),
        rule: d.rule,
      }))
      const out = await destroySnapshots(tside.exec, tside.caps, reqs, [], () => [])
      for (const r of out.destroyed) {
        destroyed.add(`${r.dataset}@${r.name}`)
        report.deleted.push(zfsDeleted(`${r.dataset}@${r.name}`, ds, location, now, r.rule))
      }
      for (const f of out.failed) {
        report.error('BK_ERR_PRUNE_FAILED', `target ${target.name}: ${f.error}`)
      }
    }
    const kept = owned.filter(({ info }) => !destroyed.has(info.fullName))
    for (const { info, owned: o } of kept) {
      const copy = zfsCopy(
        info,
        o.createdAt,
        ds,
        location,
        target,
        replicaVerification(info, sourceGuids.has(info.guid), now),
      )
      report.copies.push({ ...copy, copyId: replicaCopyId(target, info.fullName) })
    }
    const gone = job.reported.vanished(
      target.name,
      ds,
      kept.map(({ info }) => info.fullName),
    )
    for (const name of dryRun ? [] : gone.filter((n) => !destroyed.has(n))) {
      const rule = vanishedRule(target.name, tside.where)
      report.deleted.push({ ...zfsDeleted(name, ds, location, now, rule), copyId: replicaCopyId(target, name) })
    }
  }
}

/** A replica on another host is named with that host: the same dataset name may exist here too. */
const replicaCopyId = (target: ResolvedZfsTarget, fullName: string): string =>
  target.ssh === undefined ? zfsCopyId(fullName) : `zfs:${target.ssh.host}:${fullName}`

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

/** Where a replica lives: the pool on this host, or `host:pool` for a remote receiver (probed as remote storage). */
function targetLocation(health: PoolReport, pool: string, target: ResolvedZfsTarget): Location {
  const local = poolLocation(health, pool)
  return target.ssh === undefined ? local : { ...local, target: `${target.ssh.host}:${pool}` }
}

/** `receive_resume_token` of every dataset below the target root that has one (one `zfs get -r`). */
async function resumeTokens(link: ReplicationLink, root: string): Promise<Map<string, string>> {
  const r = await link.target.exec.run(['zfs', 'get', '-H', '-r', '-o', 'name,value', 'receive_resume_token', root], {
    timeoutMs: 120_000,
    maxOutputBytes: 64 * 1024 * 1024,
  })
  return succeeded(r) ? parseResumeTokens(r.stdout) : new Map()
}

/** An absent target pool: expected for a removable target (a warning), an error for one that should be there. */
function reportOffline(
  target: ResolvedZfsTarget,
  pool: string,
  report: RunReport,
  where: string,
  why: string | undefined,
): void {
  // On a remote host the reason may be the gate or ssh, not the pool: keep what the far end said.
  const on = where === 'local' ? '' : ` on ${where} (${why ?? 'no answer'})`
  const msg =
    `target ${target.name} (${target.dataset}${on}) is offline: pool ${pool} is not imported; its ` +
    `copies are kept as last reported and local pruning went ahead`
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
  link: ReplicationLink,
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
        `target ${target.name}: ${targetDs} (${link.target.where}) has snapshots that ${ds} does not have after ` +
          `their newest common one, or none in common (matched by guid). Nothing was received or destroyed; ` +
          `Backstop never rolls a target back — inspect ${targetDs}, then rename it to start a new full replica`,
      )
    } else if (plan !== null && (await sendOne(link, plan, datasets, report, limits)) === 'sent') {
      sent.push(plan)
    }
  }
  return sent
}

async function moveBaseHolds(
  link: ReplicationLink,
  jobName: string,
  target: ResolvedZfsTarget,
  src: SourceState,
  sent: readonly SendPlan[],
  report: RunReport,
): Promise<void> {
  const tag = holdTag(jobName, target.name)
  const based = sent.filter((p) => p.base !== null)
  // Each end through its own Exec (one of them may be over ssh): hold the new base first, then release the old.
  const held = await moveHolds(
    link.source.exec,
    tag,
    sent.map((p) => `${p.source}@${p.newest}`),
    based.map((p) => `${p.source}@${p.base}`),
    report,
  )
  await moveHolds(
    link.target.exec,
    tag,
    sent.map((p) => `${p.targetDs}@${p.newest}`),
    based.map((p) => `${p.targetDs}@${p.base}`),
    report,
  )
  const release = based.map((p) => `${p.source}@${p.base}`)
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
  link: ReplicationLink,
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
  const r = await link.source.exec.run(
    ['zfs', 'get', '-H', '-p', '-o', 'name,property,value', 'guid,createtxg', ...wanted],
    {
      timeoutMs: 300_000,
      maxOutputBytes: 256 * 1024 * 1024,
    },
  )
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
