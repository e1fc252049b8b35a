import { mkdir } from 'node:fs/promises'
import { posix } from 'node:path'
import type { Verification } from '@backstop/shared'
import { describeFailure, succeeded, type Exec, type ExecOpts } from '../../exec/exec.ts'
import { classifyBtrfsError, deleteArgv, receiveArgv, sendArgv } from '../../tools/btrfs.ts'
import type { MountInfo } from '../../tools/btrfs-parse.ts'
import { planCopies } from '../retention.ts'
import type { RunReport } from '../snapshot-common/report.ts'
import { notDue, outsideWindow } from '../snapshot-common/window.ts'
import type { ResolvedBtrfsJob, ResolvedBtrfsTarget } from './config.ts'
import { planCatchUp } from './catch-up.ts'
import { processRemoteBtrfsTarget } from './remote-target.ts'
import { btrfsMountOf, fsHealth, fsLocation, loadFs, type FsView } from './fs.ts'
import {
  btrfsCopy,
  btrfsDeleted,
  deleteSubvolumes,
  newestHeldIn,
  ownedIn,
  toOwned,
  type BtrfsOwned,
} from './snapshots.ts'
import type { BtrfsRunMemory } from './state.ts'
import { vanishedRule } from '../snapshot-common/reported-replicas.ts'
import type { BtrfsSource } from './source.ts'

export type { BtrfsSource } from './source.ts'

/**
 * One target end to end: reachable only if its path is on a mounted btrfs that is not the source filesystem
 * (and has the configured UUID) — an unplugged disk's empty mountpoint is never written to. Then send what
 * is missing, record the newest common snapshot as the base, prune with the target's policy, report copies.
 */
export async function processBtrfsTarget(
  exec: Exec,
  cfg: ResolvedBtrfsJob,
  target: ResolvedBtrfsTarget,
  mounts: readonly MountInfo[],
  src: BtrfsSource,
  memory: BtrfsRunMemory,
  now: Date,
  report: RunReport,
  dryRun: boolean,
  signal: AbortSignal,
): Promise<void> {
  if (outsideWindow(target, now, report)) {
    return
  }
  if (target.ssh !== null) {
    const remote = { ...target, ssh: target.ssh }
    return processRemoteBtrfsTarget(exec, cfg, remote, src, memory, now, report, dryRun, signal)
  }
  const { state, reported } = memory
  const tm = targetMount(target, mounts, src, report)
  if (tm === null) {
    return
  }
  report.warnings.push(...(await fsHealth(exec, tm)).map((p) => `target ${target.name}: ${p}`))
  let tfs: FsView
  try {
    if (!dryRun) {
      await mkdir(target.path, { recursive: true })
    }
    tfs = await loadFs(exec, tm)
    const due = !notDue(target, newestHeldIn(tfs, target.path, cfg.prefix, src.owned.keys()), now)
    if (!dryRun && due && (await sendAll(exec, target, src, tfs, report, { timeoutMs: cfg.timeoutMs, signal }))) {
      tfs = await loadFs(exec, tm)
    }
  } catch (e) {
    report.caught(e, 'BK_ERR_REPLICATION_FAILED')
    return
  }
  const location = fsLocation(tm)
  const bases = (state.bases[target.name] ??= {})
  for (const [name, local] of src.owned) {
    const replicas = ownedIn(tfs, target.path, cfg.prefix, name)
    const received = new Set(replicas.map((r) => r.sv.receivedUuid).filter((u): u is string => u !== null))
    const base = [...local].reverse().find((o) => received.has(o.sv.uuid))
    if (base !== undefined && !dryRun) {
      bases[name] = base.name
    }
    const localUuids = new Set(local.map((o) => o.sv.uuid))
    const plan = planCopies(
      replicas.map((r) =>
        toOwned(r, base !== undefined && r.sv.receivedUuid === base.sv.uuid, r.readonly && r.sv.receivedUuid !== null),
      ),
      target.retention,
      now,
      `${target.name}:${target.path}`,
    )
    report.lines.push(...plan.lines)
    const gone = new Set<string>()
    if (!dryRun) {
      const out = await deleteSubvolumes(
        exec,
        plan.destroy.map((d) => d.snap.id),
      )
      for (const d of plan.destroy.filter((x) => out.deleted.includes(x.snap.id))) {
        gone.add(d.snap.id)
        report.deleted.push(btrfsDeleted(d.snap.id, src.assets.get(name)!, location, now, d.rule))
      }
      out.failed.forEach((f) => report.error('BK_ERR_PRUNE_FAILED', `target ${target.name}: ${f}`))
    }
    const kept = replicas.filter((x) => !gone.has(x.path))
    for (const r of kept) {
      report.copies.push(btrfsCopy(r, src.assets.get(name)!, location, target, replicaVerification(r, localUuids, now)))
    }
    const vanished = reported.vanished(
      target.name,
      name,
      kept.map((r) => r.path),
    )
    for (const path of dryRun ? [] : vanished.filter((p) => !gone.has(p))) {
      report.deleted.push(btrfsDeleted(path, src.assets.get(name)!, location, now, vanishedRule(target.name, 'local')))
    }
  }
}

function replicaVerification(r: BtrfsOwned, localUuids: ReadonlySet<string>, now: Date): Verification {
  if (!r.readonly) {
    return {
      state: 'failed',
      at: now.toISOString(),
      method: 'btrfs-readonly',
      detail: 'replica is writable: it may have been changed, and its received_uuid no longer proves its origin',
    }
  }
  if (r.sv.receivedUuid !== null && localUuids.has(r.sv.receivedUuid)) {
    return {
      state: 'verified',
      at: now.toISOString(),
      method: 'btrfs-received-uuid',
      detail: `read-only; received_uuid ${r.sv.receivedUuid} is the local snapshot's uuid`,
    }
  }
  return {
    state: 'unverified',
    method: 'btrfs-received-uuid',
    detail: 'read-only, but the local snapshot it came from no longer exists to compare against',
  }
}

/**
 * The target's mounted filesystem, or null when it is absent or not the configured disk — a warning for a removable
 * target, an error for one that should be there.
 */
function targetMount(
  target: ResolvedBtrfsTarget,
  mounts: readonly MountInfo[],
  src: BtrfsSource,
  report: RunReport,
): MountInfo | null {
  const tm = btrfsMountOf(mounts, target.path)
  const why =
    tm === null
      ? `${target.path} is not on a mounted btrfs filesystem`
      : tm.uuid === src.mount.uuid
        ? `${target.path} is on the source filesystem (is the disk mounted?)`
        : target.fsUuid !== null && tm.uuid !== target.fsUuid
          ? `${tm.target} has UUID ${tm.uuid}, not the configured ${target.fsUuid}`
          : null
  if (why === null && tm !== null) {
    return tm
  }
  const msg =
    `target ${target.name} is offline: ${why}; its copies are kept as last reported and local ` + `pruning went ahead`
  if (target.offline) {
    report.warnings.push(msg)
  } else {
    report.error(
      'BK_ERR_REPLICATION_FAILED',
      `${msg}. It is not marked offline: true — mount it or mark it as removable`,
    )
  }
  return null
}

/**
 * Sends every snapshot the target is missing, per subvolume oldest first, each incremental on the one before
 * (planCatchUp): a target back after three missed runs gets all three. The first failure stops that subvolume's
 * catch-up, so the target never holds a later snapshot without the earlier ones (btrbk does the same); the
 * next run resumes from the newest that arrived. True when anything was received.
 */
async function sendAll(
  exec: Exec,
  target: ResolvedBtrfsTarget,
  src: BtrfsSource,
  tfs: FsView,
  report: RunReport,
  /** The job's timeout and signal (timeout or shutdown, run-job.ts): a send never outlives its job. */
  limits: Required<Pick<ExecOpts, 'timeoutMs' | 'signal'>>,
): Promise<boolean> {
  let any = false
  const inTarget = [...tfs.byPath].filter(([p]) => posix.dirname(p) === target.path).map(([, sv]) => sv)
  const received = new Set(inTarget.map((sv) => sv.receivedUuid).filter((u): u is string => u !== null))
  for (const local of src.owned.values()) {
    for (const { snap, parent } of planCatchUp(local, received)) {
      const dest = posix.join(target.path, snap.name)
      const leftover = tfs.byPath.get(dest)
      if (leftover !== undefined && leftover.receivedUuid === null) {
        // A receive that died half-way leaves a writable subvolume without received_uuid: it is garbage.
        await exec.run(deleteArgv([dest]), { timeoutMs: 600_000 })
      }
      const p = await exec.pipeline([sendArgv(snap.path, parent?.path ?? null), receiveArgv(target.path)], limits)
      const failed = p.stages.find((s) => !succeeded(s))
      if (failed !== undefined) {
        const full = p.stages.some((s) => classifyBtrfsError(s.stderr) === 'no-space')
        report.error(
          'BK_ERR_REPLICATION_FAILED',
          `target ${target.name}: ${snap.path} → ${target.path}: ${describeFailure(failed)}` +
            (full ? ' — the target filesystem is full: free space there or lower its retention' : ''),
        )
        await exec.run(deleteArgv([dest]), { timeoutMs: 600_000 })
        break
      }
      report.bytes += p.bytesPiped
      any = true
    }
  }
  return any
}
