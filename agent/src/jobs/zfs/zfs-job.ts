import { promotionTags, type AssetRef, type Verification } from '@backstop/shared'
import { succeeded, describeFailure, type Exec } from '../../exec/exec.ts'
import { classifyZfsError, probeZfsCapabilities, snapshotArgvs, type ZfsCapabilities } from '../../tools/zfs.ts'
import type { ZfsSnapshotInfo } from '../../tools/zfs-parse.ts'
import type { CopyCheck, Job, JobContext, JobResult, PlanLine } from '../job.ts'
import { planCopies } from '../retention.ts'
import { newestBefore, taggedSnapshotName } from '../snapshot-common/retention.ts'
import { RunReport } from '../snapshot-common/report.ts'
import { zfsRestoreTest, zfsVerifyCopy } from './checks.ts'
import type { ResolvedZfsJob } from './config.ts'
import { zfsCopy, zfsDeleted } from './copies.ts'
import { destroySnapshots } from './destroy.ts'
import { poolLocation, poolOf, poolReport, type PoolReport } from './health.ts'
import { byDataset, listDatasets, listSnapshots, managedDatasets } from './listing.ts'
import { linkTo } from './link.ts'
import { ReportedReplicas } from '../snapshot-common/reported-replicas.ts'
import { ownedOf, processTarget, type SourceState } from './target.ts'
import { outsideWindow } from '../snapshot-common/window.ts'

/**
 * The `zfs` job kind. One run: pool health → list → one `zfs snapshot` (atomic where the CLI allows) with
 * promotion tags in a user property → replicate to each target → prune locally (holds and `dataset is busy`
 * protect) → report every snapshot and replica as a Copy and every deletion with its rule.
 */
export class ZfsSnapshotJob implements Job {
  readonly kind = 'zfs'
  readonly name: string
  private caps: ZfsCapabilities | null = null

  constructor(private readonly cfg: ResolvedZfsJob) {
    this.name = cfg.name
  }

  async run(ctx: JobContext): Promise<JobResult> {
    const report = new RunReport()
    await this.pass(ctx, report, false)
    return report.result()
  }

  async plan(ctx: JobContext): Promise<PlanLine[]> {
    const report = new RunReport()
    await this.pass(ctx, report, true)
    const fatal = report.errors.find((e) => e.code === 'BK_ERR_SNAPSHOT_SOURCE_MISSING')
    if (fatal !== undefined && report.lines.length === 0) {
      throw new Error(fatal.message)
    }
    return report.lines
  }

  async inventory(ctx: JobContext): Promise<AssetRef[]> {
    const r = await ctx.exec.run(['zfs', 'list', '-H', '-o', 'name', '-t', 'filesystem,volume'], { timeoutMs: 120_000 })
    return succeeded(r)
      ? r.stdout
          .split('\n')
          .filter((l) => l !== '')
          .map((id) => ({ kind: 'zfs-dataset', id }))
      : []
  }

  verifyCopy(ctx: JobContext, copyId: string): Promise<CopyCheck> {
    return zfsVerifyCopy(this.cfg, ctx, copyId)
  }

  async restoreTest(ctx: JobContext, copyId: string | undefined): Promise<CopyCheck> {
    return zfsRestoreTest(this.cfg, await this.capabilities(ctx.exec), ctx, copyId)
  }

  private async capabilities(exec: Exec): Promise<ZfsCapabilities> {
    this.caps ??= await probeZfsCapabilities(exec)
    return this.caps
  }

  private async pass(ctx: JobContext, report: RunReport, dryRun: boolean): Promise<void> {
    const { exec } = ctx
    const now = ctx.clock.now()
    const cfg = this.cfg
    const caps = await this.capabilities(exec)
    const listing = await listDatasets(
      exec,
      cfg.datasets.map((d) => d.name),
    )
    for (const m of listing.missing) {
      report.error(
        'BK_ERR_SNAPSHOT_SOURCE_MISSING',
        `dataset "${m}" of job ${cfg.name} does not exist — fix the name in the config, or import its pool ` +
          `(\`zpool import\`)`,
      )
    }
    const specs = cfg.datasets.filter((d) => !listing.missing.includes(d.name))
    if (specs.length === 0) {
      report.fatal = true
      return
    }
    const managed = managedDatasets(specs, listing.datasets)
    const pools = new Map<string, PoolReport>()
    for (const pool of new Set(managed.map(poolOf))) {
      const rep = await poolReport(exec, pool)
      pools.set(pool, rep)
      report.warnings.push(...rep.problems)
    }
    let snaps: Map<string, ZfsSnapshotInfo[]>
    try {
      const all = await listSnapshots(
        exec,
        caps,
        specs.map((d) => d.name),
        false,
      )
      const keep = new Set(managed)
      snaps = byDataset(all.filter((s) => keep.has(s.dataset)))
    } catch (e) {
      report.caught(e, 'BK_ERR_EXEC_FAILED', true)
      return
    }
    const newNames = dryRun
      ? new Map<string, string>()
      : await this.snapshot(ctx, caps, specs, managed, snaps, now, report)
    const src: SourceState = {
      managed,
      snaps,
      newNames,
      recursiveRoots: specs.filter((s) => s.recursive).map((s) => s.name),
    }
    const reported = await ReportedReplicas.load(ctx.stateDir, cfg.name)
    const job = { name: cfg.name, prefix: cfg.prefix, timeoutMs: cfg.timeoutMs, signal: ctx.signal, reported }
    for (const target of cfg.targets) {
      if (outsideWindow(target, now, report)) {
        continue
      }
      const link = await linkTo(exec, caps, target, report)
      if (link !== null) {
        await processTarget(link, job, target, src, now, report, dryRun)
      }
    }
    if (!dryRun && cfg.targets.length > 0) {
      await reported.save()
    }
    await this.pruneLocal(exec, caps, src, pools, now, report, dryRun)
  }

  /**
   * Takes the run's snapshot: one name for all datasets, in as few `zfs snapshot` calls as the CLI allows.
   * A dataset whose own promotion tags differ (e.g. one added to the job since the last run) gets its
   * snapshot renamed to carry them. Returns dataset → short name of the snapshot taken.
   */
  private async snapshot(
    ctx: JobContext,
    caps: ZfsCapabilities,
    specs: ResolvedZfsJob['datasets'],
    managed: readonly string[],
    snaps: Map<string, ZfsSnapshotInfo[]>,
    now: Date,
    report: RunReport,
  ): Promise<Map<string, string>> {
    const { exec } = ctx
    const created = new Map<string, string>()
    const owned = (ds: string): Date[] => ownedOf(snaps.get(ds) ?? [], this.cfg.prefix).map((o) => o.owned.createdAt)
    if (managed.some((ds) => owned(ds).some((d) => d.getTime() === Math.floor(now.getTime() / 1000) * 1000))) {
      report.warnings.push(
        `a snapshot for ${now.toISOString()} already exists (two runs within one second); nothing new taken`,
      )
      return created
    }
    const nameOf = new Map(
      managed.map((ds) => [
        ds,
        taggedSnapshotName(this.cfg.prefix, now, promotionTags(now, this.cfg.retention, newestBefore(owned(ds), now))),
      ]),
    )
    const name =
      nameOf.get(specs[0]!.name) ??
      taggedSnapshotName(this.cfg.prefix, now, promotionTags(now, this.cfg.retention, null))
    const argvs = snapshotArgvs(
      caps,
      specs.map((s) => ({ dataset: s.name, recursive: s.recursive })),
      name,
      {},
    )
    if (argvs.length > 1) {
      ctx.log.info(
        { job: this.name, calls: argvs.length },
        'this zfs CLI cannot snapshot several datasets in one call; not atomic across the listed datasets ' +
          '(list one recursive parent for that)',
      )
    }
    for (const argv of argvs) {
      const r = await exec.run(argv, { timeoutMs: 600_000 })
      const roots = argv.filter((a) => a.endsWith(`@${name}`)).map((a) => a.slice(0, -name.length - 1))
      if (!succeeded(r)) {
        const kind = classifyZfsError(r.stderr)
        const code =
          kind === 'missing' || kind === 'no-pool' ? 'BK_ERR_SNAPSHOT_SOURCE_MISSING' : 'BK_ERR_SNAPSHOT_FAILED'
        const gone =
          code === 'BK_ERR_SNAPSHOT_SOURCE_MISSING' ? ' — the dataset or its pool disappeared during the run' : ''
        report.error(code, `${describeFailure(r)}${gone}`, true)
        continue
      }
      const recursive = argv.includes('-r')
      for (const ds of managed) {
        if (roots.some((root) => ds === root || (recursive && ds.startsWith(`${root}/`)))) {
          created.set(ds, name)
        }
      }
    }
    for (const [ds, taken] of created) {
      const own = nameOf.get(ds)!
      if (own !== taken) {
        const r = await exec.run(['zfs', 'rename', `${ds}@${taken}`, `${ds}@${own}`], { timeoutMs: 300_000 })
        if (succeeded(r)) {
          created.set(ds, own)
        } else {
          report.warnings.push(`could not rename ${ds}@${taken} to carry its own promotion tags: ${describeFailure(r)}`)
        }
      }
      snaps.set(ds, [...(snaps.get(ds) ?? []), newSnapshot(ds, created.get(ds)!, now)])
    }
    return created
  }

  private async pruneLocal(
    exec: Exec,
    caps: ZfsCapabilities,
    src: SourceState,
    pools: Map<string, PoolReport>,
    now: Date,
    report: RunReport,
    dryRun: boolean,
  ): Promise<void> {
    const requests: { dataset: string; name: string; rule: string }[] = []
    const plans = new Map<string, ReturnType<typeof ownedOf>>()
    for (const ds of src.managed) {
      const owned = ownedOf(src.snaps.get(ds) ?? [], this.cfg.prefix)
      plans.set(ds, owned)
      const plan = planCopies(
        owned.map((o) => o.owned),
        this.cfg.retention,
        now,
        `local:${ds}`,
      )
      report.lines.push(...plan.lines)
      requests.push(...plan.destroy.map((d) => ({ dataset: ds, name: d.snap.id.slice(ds.length + 1), rule: d.rule })))
    }
    const destroyed = new Set<string>()
    if (!dryRun && requests.length > 0) {
      const holders = (root: string, name: string): string[] =>
        src.managed.filter(
          (ds) => (ds === root || ds.startsWith(`${root}/`)) && (src.snaps.get(ds) ?? []).some((s) => s.name === name),
        )
      const out = await destroySnapshots(exec, caps, requests, src.recursiveRoots, holders)
      for (const r of out.destroyed) {
        const full = `${r.dataset}@${r.name}`
        destroyed.add(full)
        report.deleted.push(
          zfsDeleted(full, r.dataset, poolLocation(pools.get(poolOf(r.dataset)), poolOf(r.dataset)), now, r.rule),
        )
      }
      for (const f of out.failed) {
        report.error('BK_ERR_PRUNE_FAILED', f.error)
      }
    }
    if (dryRun) {
      return
    }
    for (const [ds, owned] of plans) {
      const pool = poolOf(ds)
      const rep = pools.get(pool)
      const location = poolLocation(rep, pool)
      const verification = localVerification(rep, now)
      for (const { info, owned: o } of owned) {
        if (!destroyed.has(info.fullName)) {
          report.copies.push(zfsCopy(info, o.createdAt, ds, location, this.cfg, verification))
        }
      }
    }
  }
}

function newSnapshot(dataset: string, name: string, now: Date): ZfsSnapshotInfo {
  return {
    fullName: `${dataset}@${name}`,
    dataset,
    name,
    guid: '',
    createtxg: 0,
    creation: now,
    userrefs: 0,
    used: null,
    referenced: null,
    tags: null,
  }
}

/** A local snapshot is as sound as its pool: verified on a healthy pool, failed on one with data errors. */
function localVerification(rep: PoolReport | undefined, now: Date): Verification {
  if (rep === undefined || rep.status === null) {
    return { state: 'unverified', method: 'zpool-status', detail: 'pool status could not be read' }
  }
  if (!rep.status.dataErrors.ok || rep.health === 'FAULTED' || (rep.status.scrub.errors ?? 0) > 0) {
    return {
      state: 'failed',
      at: now.toISOString(),
      method: 'zpool-status',
      detail: `${rep.health}; ${rep.status.dataErrors.text}; scrub: ${rep.status.scrub.text}`.slice(0, 1000),
    }
  }
  return {
    state: 'verified',
    at: now.toISOString(),
    method: 'zpool-status',
    detail: `pool ${rep.pool} ${rep.health}, no known data errors`,
  }
}
