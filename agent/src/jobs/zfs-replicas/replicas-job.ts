import { probeZfsCapabilities, type ZfsCapabilities } from '../../tools/zfs.ts'
import type { JobContext, KindJob } from '../job.ts'
import { planCopies } from '../retention.ts'
import { holderJob } from '../snapshot-common/holder-job.ts'
import type { RunReport } from '../snapshot-common/report.ts'
import { destroySnapshots } from '../zfs/destroy.ts'
import { byDataset, listDatasets, listSnapshots } from '../zfs/listing.ts'
import { ownedOf } from '../zfs/target.ts'
import type { ResolvedZfsReplicasJob } from './config.ts'

/**
 * The `zfs-replicas` kind, on a host that receives pushed replicas: per dataset below the receive root, plan the
 * job's snapshots (by the sender's prefix and the promotion tags in their names) with this host's policy and
 * destroy what it does not keep. The snapshot a sender holds as its incremental base (`backstop-<job>-<target>`)
 * and the newest of each dataset are always kept, so the next push still finds its base. It reports no copies:
 * the replicas are the senders' assets, reported by the senders, which notice a replica gone at their next run.
 */
export function createZfsReplicasJob(cfg: ResolvedZfsReplicasJob): KindJob {
  let caps: Promise<ZfsCapabilities> | null = null
  return holderJob('zfs-replicas', cfg.name, async (ctx, report, dryRun) => {
    caps ??= probeZfsCapabilities(ctx.exec)
    await prunePass(cfg, await caps, ctx, report, dryRun)
    return null
  })
}

async function prunePass(
  cfg: ResolvedZfsReplicasJob,
  zfs: ZfsCapabilities,
  ctx: JobContext,
  report: RunReport,
  dryRun: boolean,
): Promise<void> {
  const { dataset: root, prefix } = cfg
  const now = ctx.clock.now()
  try {
    if ((await listDatasets(ctx.exec, [root])).missing.length > 0) {
      report.warnings.push(
        `receive root ${root} does not exist (yet): no sender has pushed here; check the name against the ` +
          `senders' target url`,
      )
      return
    }
    const snaps = byDataset(await listSnapshots(ctx.exec, zfs, [root], false))
    for (const [ds, list] of snaps) {
      const owned = ownedOf(list, prefix).map((o) => o.owned)
      const plan = planCopies(owned, cfg.retention, now, ds)
      report.lines.push(...plan.lines)
      if (dryRun || plan.destroy.length === 0) {
        continue
      }
      const reqs = plan.destroy.map((d) => ({ dataset: ds, name: d.snap.id.slice(ds.length + 1), rule: d.rule }))
      const out = await destroySnapshots(ctx.exec, zfs, reqs, [], () => [])
      for (const r of out.destroyed) {
        ctx.log.info({ snapshot: `${r.dataset}@${r.name}`, rule: r.rule }, 'replica pruned')
      }
      for (const f of out.failed) {
        report.error('BK_ERR_PRUNE_FAILED', `${f.req.dataset}@${f.req.name}: ${f.error}`)
      }
    }
  } catch (e) {
    report.caught(e, 'BK_ERR_EXEC_FAILED', true)
  }
}
