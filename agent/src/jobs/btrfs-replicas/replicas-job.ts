import { posix } from 'node:path'
import type { JobContext, KindJob } from '../job.ts'
import { planCopies } from '../retention.ts'
import { holderJob } from '../snapshot-common/holder-job.ts'
import type { RunReport } from '../snapshot-common/report.ts'
import { btrfsMountOf, loadFs, loadMounts, parseBtrfsSnapshotName } from '../btrfs/fs.ts'
import { deleteSubvolumes, ownedIn, toOwned } from '../btrfs/snapshots.ts'
import type { ResolvedBtrfsReplicasJob } from './config.ts'

/**
 * The `btrfs-replicas` kind, on a host that receives pushed btrfs snapshots: per sent subvolume (the name before
 * `@`) in the receiving directory, plan the replicas with this host's policy and delete what it does not keep.
 * A replica counts as successful only read-only with a received_uuid (a writable one is a cut or running receive);
 * the newest successful one is always kept, and it is what each sender holds as its incremental parent. It reports
 * no copies: the senders report their replicas and notice pruned ones at their next run.
 */
export function createBtrfsReplicasJob(cfg: ResolvedBtrfsReplicasJob): KindJob {
  return holderJob('btrfs-replicas', cfg.name, async (ctx, report, dryRun) => {
    await prunePass(cfg, ctx, report, dryRun)
    return null
  })
}

async function prunePass(
  cfg: ResolvedBtrfsReplicasJob,
  ctx: JobContext,
  report: RunReport,
  dryRun: boolean,
): Promise<void> {
  const { path: dir, prefix } = cfg
  try {
    const mount = btrfsMountOf(await loadMounts(ctx.exec), dir)
    if (mount === null) {
      report.error(
        'BK_ERR_SNAPSHOT_SOURCE_MISSING',
        `${dir} is not on a mounted btrfs filesystem: mount the receiving filesystem, or fix jobs.${cfg.name}.path`,
        true,
      )
      return
    }
    const fs = await loadFs(ctx.exec, mount)
    const subvols = new Set(
      [...fs.byPath.keys()]
        .filter((p) => posix.dirname(p) === dir)
        .map((p) => parseBtrfsSnapshotName(posix.basename(p), prefix)?.subvol)
        .filter((s): s is string => s !== undefined),
    )
    for (const sub of [...subvols].sort()) {
      const replicas = ownedIn(fs, dir, prefix, sub)
      const owned = replicas.map((r) => toOwned(r, false, r.readonly && r.sv.receivedUuid !== null))
      const plan = planCopies(owned, cfg.retention, ctx.clock.now(), `${dir}/${sub}`)
      report.lines.push(...plan.lines)
      if (dryRun || plan.destroy.length === 0) {
        continue
      }
      const out = await deleteSubvolumes(
        ctx.exec,
        plan.destroy.map((d) => d.snap.id),
      )
      for (const d of plan.destroy.filter((x) => out.deleted.includes(x.snap.id))) {
        ctx.log.info({ subvolume: d.snap.id, rule: d.rule }, 'replica pruned')
      }
      out.failed.forEach((f) => report.error('BK_ERR_PRUNE_FAILED', `${dir}: ${f}`))
    }
  } catch (e) {
    report.caught(e, 'BK_ERR_EXEC_FAILED', true)
  }
}
