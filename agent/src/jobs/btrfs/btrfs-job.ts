import { mkdir } from 'node:fs/promises'
import { posix } from 'node:path'
import { encodePromotionTags, promotionTags, type AssetRef, type Verification } from '@backstop/shared'
import { describeFailure, succeeded } from '../../exec/exec.ts'
import { classifyBtrfsError, snapshotArgv } from '../../tools/btrfs.ts'
import type { MountInfo } from '../../tools/btrfs-parse.ts'
import type { CopyCheck, Job, JobContext, JobResult, PlanLine } from '../job.ts'
import { planCopies } from '../retention.ts'
import { RunReport } from '../snapshot-common/report.ts'
import { btrfsRestoreTest, btrfsVerifyCopy } from './checks.ts'
import type { ResolvedBtrfsJob } from './config.ts'
import { btrfsMountOf, btrfsSnapshotName, fsHealth, fsLocation, loadFs, loadMounts, type FsView } from './fs.ts'
import { btrfsCopy, btrfsDeleted, deleteSubvolumes, ownedIn, toOwned, type BtrfsOwned } from './snapshots.ts'
import { heldBases, loadState, saveState, type BtrfsJobState } from './state.ts'
import { processBtrfsTarget, type BtrfsSource } from './target.ts'
import { ReportedReplicas } from '../snapshot-common/reported-replicas.ts'

/**
 * The `btrfs` job kind. One run: filesystem health → read-only snapshot of each subvolume into snapshotDir
 * (name carries the UTC time and promotion tags) → send every snapshot each mounted target is missing, oldest
 * first (catch-up after it was away) → prune locally, keeping every target's incremental base → report copies
 * and deletions.
 */
export class BtrfsSnapshotJob implements Job {
  readonly kind = 'btrfs'
  readonly name: string

  constructor(private readonly cfg: ResolvedBtrfsJob) {
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
    if (report.fatal && report.lines.length === 0) {
      throw new Error(report.errors[0]?.message ?? 'btrfs plan failed')
    }
    return report.lines
  }

  async inventory(ctx: JobContext): Promise<AssetRef[]> {
    const mounts = await loadMounts(ctx.exec)
    const out: AssetRef[] = []
    for (const m of mounts.filter((x) => x.fstype === 'btrfs')) {
      const fs = await loadFs(ctx.exec, m).catch(() => null)
      for (const path of fs?.byPath.keys() ?? []) {
        // Snapshots are copies, not assets: only subvolumes that are not read-only.
        if (!fs!.readonlyUuids.has(fs!.byPath.get(path)!.uuid)) {
          out.push({ kind: 'btrfs-subvolume', id: path })
        }
      }
    }
    return out
  }

  verifyCopy(ctx: JobContext, copyId: string): Promise<CopyCheck> {
    return btrfsVerifyCopy(this.cfg, ctx, copyId)
  }

  restoreTest(ctx: JobContext, copyId: string | undefined): Promise<CopyCheck> {
    return btrfsRestoreTest(this.cfg, ctx, copyId)
  }

  private async pass(ctx: JobContext, report: RunReport, dryRun: boolean): Promise<void> {
    const { exec } = ctx
    const cfg = this.cfg
    const now = ctx.clock.now()
    const state = await loadState(ctx.stateDir, cfg.name)
    for (const name of Object.keys(state.bases)) {
      // A target removed from the config no longer pins its old base.
      if (!cfg.targets.some((t) => t.name === name)) {
        delete state.bases[name]
      }
    }
    let mounts: MountInfo[]
    let fs: FsView
    const mount = await loadMounts(exec)
      .then((m) => {
        mounts = m
        return btrfsMountOf(m, cfg.snapshotDir)
      })
      .catch((e: unknown) => {
        report.caught(e, 'BK_ERR_EXEC_FAILED', true)
        return null
      })
    if (mount === null) {
      if (!report.fatal) {
        report.error(
          'BK_ERR_SNAPSHOT_SOURCE_MISSING',
          `snapshotDir ${cfg.snapshotDir} of job ${cfg.name} is not on a mounted btrfs filesystem — mount it ` +
            `or fix the path`,
          true,
        )
      }
      return
    }
    report.warnings.push(...(await fsHealth(exec, mount)))
    try {
      fs = await loadFs(exec, mount)
    } catch (e) {
      report.caught(e, 'BK_ERR_SNAPSHOT_SOURCE_MISSING', true)
      return
    }
    const specs = cfg.subvolumes.filter((s) => {
      const ok = s.path === mount.target || fs.byPath.has(s.path)
      const same = btrfsMountOf(mounts!, s.path)?.uuid === mount.uuid
      if (!ok || !same) {
        report.error(
          'BK_ERR_SNAPSHOT_SOURCE_MISSING',
          `subvolume ${s.path} of job ${cfg.name} ` +
            `${ok ? 'is not on the same filesystem as snapshotDir' : 'does not exist'} — fix the path in the config`,
        )
      }
      return ok && same
    })
    if (specs.length === 0) {
      report.fatal = true
      return
    }
    const owned = new Map(specs.map((s) => [s.name, ownedIn(fs, cfg.snapshotDir, cfg.prefix, s.name)]))
    if (!dryRun) {
      await this.snapshotAll(ctx, specs, owned, mount, state, now, report)
    }
    const src: BtrfsSource = { mount, owned, assets: new Map(specs.map((s) => [s.name, s.path])) }
    const memory = { state, reported: await ReportedReplicas.load(ctx.stateDir, cfg.name) }
    for (const target of cfg.targets) {
      await processBtrfsTarget(exec, cfg, target, mounts!, src, memory, now, report, dryRun, ctx.signal)
    }
    await this.pruneLocal(ctx, src, state, now, report, dryRun)
    if (!dryRun) {
      await saveState(ctx.stateDir, cfg.name, state)
      await memory.reported.save()
    }
  }

  /** Takes this run's snapshots, re-reads the filesystem, updates `owned` and records each new one in `state`. */
  private async snapshotAll(
    ctx: JobContext,
    specs: ResolvedBtrfsJob['subvolumes'],
    owned: Map<string, BtrfsOwned[]>,
    mount: MountInfo,
    state: BtrfsJobState,
    now: Date,
    report: RunReport,
  ): Promise<Map<string, BtrfsOwned>> {
    const cfg = this.cfg
    const created = new Map<string, BtrfsOwned>()
    const names = await this.snapshot(ctx, specs, owned, now, report)
    if (names.size === 0) {
      return created
    }
    const fs = await loadFs(ctx.exec, mount)
    for (const s of specs) {
      const list = ownedIn(fs, cfg.snapshotDir, cfg.prefix, s.name)
      owned.set(s.name, list)
      const mine = list.find((o) => o.name === names.get(s.name))
      if (mine !== undefined) {
        created.set(s.name, mine)
        state.snapshots[mine.name] = {
          createdAt: now.toISOString(),
          tags: mine.name.split('_').at(-1)!,
          uuid: mine.sv.uuid,
        }
      }
    }
    return created
  }

  /** One read-only snapshot per subvolume (btrfs has no multi-subvolume atomic snapshot). */
  private async snapshot(
    ctx: JobContext,
    specs: ResolvedBtrfsJob['subvolumes'],
    owned: Map<string, BtrfsOwned[]>,
    now: Date,
    report: RunReport,
  ): Promise<Map<string, string>> {
    const cfg = this.cfg
    await mkdir(cfg.snapshotDir, { recursive: true })
    const made = new Map<string, string>()
    for (const s of specs) {
      const prev = (owned.get(s.name) ?? []).filter((o) => o.parsed.createdAt < now).at(-1)?.parsed.createdAt ?? null
      const name = btrfsSnapshotName(
        s.name,
        cfg.prefix,
        now,
        encodePromotionTags(promotionTags(now, cfg.retention, prev)),
      )
      if ((owned.get(s.name) ?? []).some((o) => o.parsed.createdAt.getTime() === now.getTime())) {
        report.warnings.push(
          `a snapshot of ${s.path} for ${now.toISOString()} already exists (two runs within one second); ` +
            `nothing new taken`,
        )
        continue
      }
      const r = await ctx.exec.run(snapshotArgv(s.path, posix.join(cfg.snapshotDir, name)), { timeoutMs: 600_000 })
      if (succeeded(r)) {
        made.set(s.name, name)
      } else {
        const code =
          classifyBtrfsError(r.stderr) === 'missing' ? 'BK_ERR_SNAPSHOT_SOURCE_MISSING' : 'BK_ERR_SNAPSHOT_FAILED'
        report.error(code, describeFailure(r))
      }
    }
    if (made.size === 0) {
      report.fatal = true
    }
    return made
  }

  private async pruneLocal(
    ctx: JobContext,
    src: BtrfsSource,
    state: BtrfsJobState,
    now: Date,
    report: RunReport,
    dryRun: boolean,
  ): Promise<void> {
    const held = heldBases(state)
    const location = fsLocation(src.mount)
    const verified: Verification = {
      state: 'verified',
      at: now.toISOString(),
      method: 'btrfs-readonly',
      detail: 'read-only snapshot',
    }
    for (const [name, list] of src.owned) {
      const plan = planCopies(
        list.map((o) => toOwned(o, held.has(o.name), o.readonly)),
        this.cfg.retention,
        now,
        `local:${src.assets.get(name)}`,
      )
      report.lines.push(...plan.lines)
      const gone = new Set<string>()
      if (!dryRun) {
        const out = await deleteSubvolumes(
          ctx.exec,
          plan.destroy.map((d) => d.snap.id),
        )
        for (const d of plan.destroy.filter((x) => out.deleted.includes(x.snap.id))) {
          gone.add(d.snap.id)
          delete state.snapshots[posix.basename(d.snap.id)]
          report.deleted.push(btrfsDeleted(d.snap.id, src.assets.get(name)!, location, now, d.rule))
        }
        out.failed.forEach((f) => report.error('BK_ERR_PRUNE_FAILED', f))
        for (const o of list.filter((x) => !gone.has(x.path))) {
          report.copies.push(
            btrfsCopy(
              o,
              src.assets.get(name)!,
              location,
              this.cfg,
              o.readonly
                ? verified
                : {
                    state: 'failed',
                    at: now.toISOString(),
                    method: 'btrfs-readonly',
                    detail: 'snapshot is writable: it can have been changed since it was taken',
                  },
            ),
          )
        }
      }
    }
  }
}
