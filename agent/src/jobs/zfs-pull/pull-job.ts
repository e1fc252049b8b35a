import type { AssetRef, StorageIdentity } from '@backstop/shared'
import { succeeded } from '../../exec/exec.ts'
import { probeZfsCapabilities, type ZfsCapabilities } from '../../tools/zfs.ts'
import type { JobContext, KindJob } from '../job.ts'
import { parseTaggedSnapshotName } from '../snapshot-common/retention.ts'
import { holderJob } from '../snapshot-common/holder-job.ts'
import type { RunReport } from '../snapshot-common/report.ts'
import { ReportedReplicas } from '../snapshot-common/reported-replicas.ts'
import { windowClosed } from '../snapshot-common/window.ts'
import { localSide, remoteSide, type ZfsSide } from '../zfs/endpoint.ts'
import { streamOf } from '../zfs/link.ts'
import { byDataset, listDatasets, listSnapshots, managedDatasets } from '../zfs/listing.ts'
import type { ReplicationLink } from '../zfs/replicate.ts'
import { sshFailureOf } from '../zfs/ssh-failure.ts'
import { processTarget, type SourceState } from '../zfs/target.ts'
import type { ResolvedZfsTarget } from '../zfs/config.ts'
import type { ResolvedZfsPullJob } from './config.ts'

/**
 * The `zfs-pull` kind: list the source's snapshots over ssh, receive what this host is missing (`-I` from the
 * newest guid-matched base, resumable where both ends can: the source's gate checks each resume token), hold the
 * base on both ends, prune the replicas here with this job's policy, report every replica as a copy. Replicas count
 * as `pull-replica` immutable only while the probe (pullProof) finds no way for the source to write here.
 */
export function createZfsPullJob(cfg: ResolvedZfsPullJob): KindJob {
  const pull = new ZfsPull(cfg)
  return holderJob('zfs-pull', cfg.name, async (ctx, report, dryRun) => {
    const proof = await pull.pass(ctx, report, dryRun)
    return proof === null ? null : { immutability: [{ at: poolOfDs(cfg.dataset), immutability: proof }] }
  })
}

/** One pull job's passes; the capabilities of this host's zfs are probed once. */
class ZfsPull {
  private caps: ZfsCapabilities | null = null

  constructor(private readonly cfg: ResolvedZfsPullJob) {}

  async pass(
    ctx: JobContext,
    report: RunReport,
    dryRun: boolean,
  ): Promise<NonNullable<StorageIdentity['immutability']> | null> {
    const cfg = this.cfg
    const closed = windowClosed(cfg.window, ctx.clock.now())
    if (closed !== null && !dryRun) {
      // Nothing is run, here or over ssh: the link is not to be used now (a catch-up or on-demand run by day).
      report.warnings.push(`source ${cfg.ssh!.host}: ${closed} pulls`)
      return null
    }
    this.caps ??= await probeZfsCapabilities(ctx.exec)
    const { side: source, probe } = await remoteSide(ctx.exec, cfg.ssh!)
    const failure = sshFailureOf([probe], source)
    if (failure !== null) {
      report.error(failure.code, `source ${source.where}: ${failure.message}`, true)
      return null
    }
    // Resumable where both ends are (OpenZFS): the cut receive keeps its state here, and the source's gate decodes
    // the token of the `send -t` that resumes it and refuses one naming a dataset this key may not send.
    const target = localSide(ctx.exec, this.caps)
    const src = await this.sourceState(source, report)
    if (src === null) {
      return null
    }
    const link: ReplicationLink = {
      local: ctx.exec,
      source,
      target,
      name: cfg.name,
      ...streamOf(cfg, source, report, cfg.name),
    }
    const reported = await ReportedReplicas.load(ctx.stateDir, cfg.name)
    const job = { name: cfg.name, prefix: cfg.prefix, timeoutMs: cfg.timeoutMs, signal: ctx.signal, reported }
    const before = { copies: report.copies.length, deleted: report.deleted.length }
    await processTarget(link, job, this.targetOf(), src, ctx.clock.now(), report, dryRun)
    if (!dryRun) {
      await reported.save()
    }
    // The asset is the source node's dataset: the collector files these copies under that node, held by this one.
    const ofSource = <T extends { asset: AssetRef }>(c: T): T => ({
      ...c,
      asset: { ...c.asset, node: cfg.sourceNode, name: `${cfg.ssh!.host}:${c.asset.id}` },
    })
    report.copies.splice(before.copies, Infinity, ...report.copies.slice(before.copies).map(ofSource))
    report.deleted.splice(before.deleted, Infinity, ...report.deleted.slice(before.deleted).map(ofSource))
    return dryRun ? null : pullProof(target, cfg.dataset, source.where, ctx.clock.now())
  }

  /** The source's snapshots of our prefix; the newest of each dataset is what this run brings over. */
  private async sourceState(source: ZfsSide, report: RunReport): Promise<SourceState | null> {
    const cfg = this.cfg
    try {
      const listing = await listDatasets(
        source.exec,
        cfg.datasets.map((d) => d.name),
      )
      for (const m of listing.missing) {
        report.error('BK_ERR_SNAPSHOT_SOURCE_MISSING', `dataset "${m}" does not exist on ${source.where}`)
      }
      const specs = cfg.datasets.filter((d) => !listing.missing.includes(d.name))
      if (specs.length === 0) {
        report.fatal = true
        return null
      }
      const managed = managedDatasets(specs, listing.datasets)
      const all = await listSnapshots(
        source.exec,
        source.caps,
        specs.map((d) => d.name),
        false,
      )
      const keep = new Set(managed)
      const snaps = byDataset(all.filter((s) => keep.has(s.dataset)))
      const newNames = new Map<string, string>()
      for (const ds of managed) {
        const newest = (snaps.get(ds) ?? []).filter((s) => parseTaggedSnapshotName(cfg.prefix, s.name) !== null).at(-1)
        if (newest !== undefined) {
          newNames.set(ds, newest.name)
        }
      }
      return { managed, snaps, newNames, recursiveRoots: [] }
    } catch (e) {
      report.caught(e, 'BK_ERR_REPLICATION_FAILED', true)
      return null
    }
  }

  private targetOf(): ResolvedZfsTarget {
    const c = this.cfg
    return {
      name: c.name,
      dataset: c.dataset,
      retention: c.retention,
      media: c.media,
      offsite: c.offsite,
      offline: false,
      ...(c.site !== undefined ? { site: c.site } : {}),
      bandwidth: c.bandwidth,
      compress: c.compress,
      raw: c.raw,
      prunes: true,
    }
  }
}

const poolOfDs = (ds: string): string => ds.split('/')[0] ?? ds

/**
 * What a pull receiver can prove about its replicas, from this host: the replication is pulled (the source holds
 * no credential here through Backstop), no ZFS permission is delegated on the receive root (`zfs allow` lists none,
 * so no unprivileged login can destroy or roll back), and the root is not shared over NFS or SMB. It cannot see
 * every other login the operator may have given the source (docs/compliance.md says so); any check that fails or
 * cannot be read leaves the replicas without the claim.
 */
export async function pullProof(
  target: ZfsSide,
  root: string,
  sourceWhere: string,
  now: Date,
): Promise<NonNullable<StorageIdentity['immutability']> | null> {
  const allow = await target.exec.run(['zfs', 'allow', root], { timeoutMs: 60_000 })
  const noDelegation = succeeded(allow)
    ? allow.stdout.trim() === '' || !/Local|Descendent|Create time/i.test(allow.stdout)
    : /pyzfs\.py not found/.test(`${allow.stdout}${allow.stderr}`)
  if (!noDelegation) {
    return null
  }
  const share = await target.exec.run(['zfs', 'get', '-H', '-o', 'value', 'sharenfs,sharesmb', root], {
    timeoutMs: 60_000,
  })
  const values = share.stdout.trim().split('\n')
  if (!succeeded(share) || values.length !== 2 || values.some((v) => v !== 'off' && v !== '-')) {
    return null
  }
  return {
    kind: 'pull-replica',
    probedAt: now.toISOString(),
    detail:
      `pulled by this host from ${sourceWhere}; no zfs permission delegated on ${root}` +
      `${succeeded(allow) ? '' : ' (this zfs has no delegation at all)'}; not shared over NFS/SMB`,
  }
}
