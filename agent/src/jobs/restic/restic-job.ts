import { mkdir } from 'node:fs/promises'
import { BackstopError, type AssetRef, type Copy, type Location, type StorageIdentity } from '@backstop/shared'
import type { CopyCheck, JobContext, JobResult, KindJob, PlanLine } from '../job.ts'
import { RunReport } from '../snapshot-common/report.ts'
import { windowClosed } from '../snapshot-common/window.ts'
import type { ResolvedResticJob } from './config.ts'
import { probeAppendOnly, type ProbeOutcome } from './immutability-probe.ts'
import { parseBackupLine, parseRepositoryId, type ResticSnapshot } from './parse.ts'
import { ResticRepo } from './restic-cli.ts'
import { probeObjectLock, type HttpFetch } from './s3-lock-probe.ts'
import { placeRcloneRepository } from './rclone-place.ts'
import { forgetConfirmed, listJobSnapshots, planSnapshots } from './retention.ts'
import { backupInvocation, parentOf, sourceSnapshotOf } from './backup-argv.ts'
import { sourceAsset, takeSourceSnapshot, type SourceSnapshot } from './source-snapshot.ts'
import { readResticState, rotate, writeResticState, type ResticState } from './state.ts'

/**
 * `restic`: back up the configured paths into the repository (one restic snapshot per run, tagged with the job),
 * probe that the repository refuses deletion (append-only REST, or S3 object lock), apply our GFS retention with
 * forget + prune (never on a repository proven append-only: the node cannot delete there, the repository's owner
 * prunes; under object lock restic's deletes only add delete markers, the locked versions stay), check one rotating
 * group of the data, and report every snapshot of the job as a copy with the repository's identity.
 * Nothing on the node is touched: a repository that is locked, unreachable or refuses the password fails the run
 * with its coded error and every local file stays as it was.
 */
export function createResticJob(cfg: ResolvedResticJob, fetchFn?: HttpFetch): KindJob {
  // From a snapshot, the restic copies are copies of the dataset or subvolume itself (its offsite leg).
  const asset: AssetRef =
    cfg.source !== null
      ? sourceAsset(cfg.source)
      : { kind: 'file-set', id: `fileset:${cfg.name}`, name: cfg.paths.join(', ').slice(0, 256) }
  return {
    name: cfg.name,
    kind: 'restic',
    run: (ctx) => runRestic(cfg, asset, ctx, fetchFn),
    plan: (ctx) => planLines(cfg, ctx),
    inventory: async () => [asset],
    verifyCopy: (ctx, copyId) => verifySnapshot(cfg, ctx, copyId),
    restoreTest: () =>
      Promise.reject(
        new BackstopError(
          'BK_ERR_CMD_UNSUPPORTED',
          `restore-test is not implemented for restic jobs yet (${cfg.name})`,
        ),
      ),
  }
}

async function openRepo(cfg: ResolvedResticJob, ctx: JobContext): Promise<{ repo: ResticRepo; repoId: string }> {
  await mkdir(ctx.stateDir, { recursive: true, mode: 0o700 })
  const repo = await ResticRepo.open(ctx.exec, cfg, ctx.stateDir)
  return { repo, repoId: await repositoryId(repo) }
}

/** `restic cat config` → the repository id (the copies' failure domain). */
async function repositoryId(repo: ResticRepo): Promise<string> {
  const c = await repo.must(['cat', 'config'], 'reading the repository config', { timeoutMs: 120_000 })
  const repoId = parseRepositoryId(c.stdout)
  if (repoId === null) {
    throw new BackstopError('BK_ERR_EXEC_FAILED', `restic cat config on ${repo.display} printed no id`)
  }
  return repoId
}

async function runRestic(
  cfg: ResolvedResticJob,
  asset: AssetRef,
  ctx: JobContext,
  fetchFn: HttpFetch | undefined,
): Promise<JobResult> {
  const report = new RunReport()
  const closed = windowClosed(cfg.window, ctx.clock.now())
  if (closed !== null) {
    // Nothing is opened: the repository's link is not to be used now (a catch-up or on-demand run at day time).
    report.warnings.push(`${cfg.repository.display}: ${closed} backs up`)
    return report.result()
  }
  await mkdir(ctx.stateDir, { recursive: true, mode: 0o700 })
  const repo = await ResticRepo.open(ctx.exec, cfg, ctx.stateDir)
  const state = await readResticState(ctx.stateDir)
  // The id is read while the backup runs (both take a shared lock): restic's key derivation on every open is the
  // fixed cost of each command. When both fail, the config read's error is the more specific one.
  const idRead = repositoryId(repo)
  idRead.catch(() => undefined)
  const fresh = await backupFromSource(cfg, repo, ctx, report).catch(async (e: unknown) => {
    await idRead
    throw e
  })
  const repoId = await idRead
  const now = ctx.clock.now()
  const probe =
    cfg.repository.backend === 's3'
      ? await probeObjectLock(cfg, repo.env, now, fetchFn)
      : await probeAppendOnly(cfg, fetchFn)
  const provenAt = probe.state === 'append-only' || probe.state === 'object-lock' ? now.toISOString() : null
  immutabilityFindings(probe, state, report, cfg.repository.backend === 's3' ? 'object-locked' : 'append-only')
  ctx.progress(85, 'retention')
  let snaps = await listJobSnapshots(repo, cfg.name, cfg.timeoutMs)
  if (fresh !== null && !snaps.some((s) => s.id.startsWith(fresh))) {
    report.error('BK_ERR_VERIFY_FAILED', `snapshot ${fresh} reported by restic backup is not listed in ${repo.display}`)
  }
  const plan = planSnapshots(cfg, snaps, now)
  const location: Location = {
    kind: cfg.repository.media === 'object' ? 'object' : 'nas',
    target: cfg.repository.display,
    device: { id: `restic:${repoId}` },
  }
  if (plan.destroy.length > 0 && probe.state === 'append-only') {
    report.warnings.push(
      `${plan.destroy.length} snapshot(s) are past retention, but ${repo.display} is append-only: this node cannot ` +
        `delete there; prune on the repository host (docs/restic.md)`,
    )
  } else if (plan.destroy.length > 0) {
    const out = await forgetConfirmed(
      repo,
      cfg.name,
      plan.destroy.map((d) => d.snap.id),
      cfg.timeoutMs,
    )
    for (const d of plan.destroy.filter((x) => out.gone.includes(x.snap.id))) {
      report.deleted.push({
        copyId: copyIdOf(repoId, d.snap.snap),
        asset,
        location,
        name: d.snap.name,
        deletedAt: now.toISOString(),
        rule: d.rule,
      })
    }
    if (out.kept.length > 0) {
      report.error(
        'BK_ERR_PRUNE_FAILED',
        `${out.kept.length} snapshot(s) the retention policy deletes are still listed in ${repo.display} after ` +
          `forget: ${out.kept.map((i) => i.slice(0, 8)).join(', ')}${out.error ? ` (${out.error})` : ''}`,
      )
    }
    snaps = snaps.filter((s) => !out.gone.includes(s.id))
  }
  ctx.progress(92, 'check')
  const verified = await checkRotation(cfg, repo, ctx, state, report)
  // A lost proof stays recorded (and the run partial, the alert firing) until the probe passes again.
  await writeResticState(ctx.stateDir, {
    ...verified.state,
    provenAt: provenAt ?? state.provenAt,
    repositoryId: repoId,
  })
  ctx.progress(100)
  for (const s of snaps) {
    report.copies.push(copyOf(cfg, asset, location, repoId, s, verified.verification, fresh, ctx.runId))
  }
  const placed =
    cfg.repository.backend === 'rclone'
      ? [await placeRcloneRepository(ctx.exec, cfg.repository, repo.env, report.warnings)]
      : []
  const r = { ...report.result(), ...(placed.length > 0 ? { placed } : {}) }
  if (provenAt === null) {
    return r
  }
  // Object lock: until the canary's retain-until, i.e. what the bucket's default gives an object written now.
  const immutability: NonNullable<StorageIdentity['immutability']> = {
    kind: probe.state === 'object-lock' ? 'object-lock' : 'append-only',
    probedAt: provenAt,
    ...(probe.state === 'object-lock' ? { retainUntil: probe.retainUntil } : {}),
    detail: probe.detail.slice(0, 1000),
  }
  return { ...r, immutability: [{ at: cfg.repository.display, immutability }] }
}

/**
 * A repository proven append-only (object-locked) before that is not now: a coded error, first among the run's errors
 * so the collector's immutability-lost alert sees it whatever else went wrong, on every run until the probe passes.
 */
function immutabilityFindings(probe: ProbeOutcome, state: ResticState, report: RunReport, proven: string): void {
  if (probe.state === 'append-only' || probe.state === 'object-lock') {
    return
  }
  if (state.provenAt !== null) {
    report.errors.unshift({
      code: 'BK_ERR_IMMUTABILITY_LOST',
      message:
        `${probe.detail}; it was last proven ${proven} at ${state.provenAt} — its copies no longer count as ` +
        'immutable (docs/restic.md: what to do)',
    })
  } else if (probe.state === 'unknown') {
    report.warnings.push(probe.detail)
  }
}

/**
 * Live paths: the backup. A snapshot source: take the snapshot (or hold the newest), back it up with the job's newest
 * snapshot-sourced restic snapshot as parent, and give it back afterwards whatever happened — destroy the one this run
 * took and its clone, release a reused one's hold. What could not be removed fails the run, saying how to remove it.
 */
async function backupFromSource(
  cfg: ResolvedResticJob,
  repo: ResticRepo,
  ctx: JobContext,
  report: RunReport,
): Promise<string | null> {
  if (cfg.source === null) {
    return backup(cfg, repo, ctx, report, null, null)
  }
  const parent = parentOf(await listJobSnapshots(repo, cfg.name, cfg.timeoutMs))
  const snap = await takeSourceSnapshot(ctx, cfg.source, cfg.name)
  report.warnings.push(...snap.warnings)
  let outcome: string | null
  try {
    outcome = await backup(cfg, repo, ctx, report, snap, parent)
  } catch (e) {
    const left = await snap.release()
    if (left.length > 0 && e instanceof BackstopError) {
      throw new BackstopError(e.code, `${e.message}; and could not remove ${left.join(', ')}`)
    }
    throw e
  }
  for (const l of await snap.release()) {
    report.error('BK_ERR_PRUNE_FAILED', `could not remove ${l}`)
  }
  return outcome
}

/** `restic backup --json`: status lines become progress; the summary names the new snapshot. */
async function backup(
  cfg: ResolvedResticJob,
  repo: ResticRepo,
  ctx: JobContext,
  report: RunReport,
  snap: SourceSnapshot | null,
  parent: ReturnType<typeof parentOf>,
): Promise<string | null> {
  let snapshotId: string | null = null
  const inv = backupInvocation(cfg, snap, parent)
  ctx.progress(0, `restic backup ${snap === null ? '' : `of ${snap.fullName} `}to ${repo.display}`)
  const r = await repo.run(inv.args, {
    ...(inv.cwd !== undefined ? { cwd: inv.cwd } : {}),
    ...(inv.env !== undefined ? { env: inv.env } : {}),
    timeoutMs: cfg.timeoutMs,
    signal: ctx.signal,
    maxOutputBytes: 1024 * 1024,
    onStdoutLine: (line) => {
      const l = parseBackupLine(line)
      if (l.type === 'status') {
        ctx.progress(Math.floor(l.percent * 80), `${l.bytesDone} of ${l.totalBytes} bytes`)
      } else if (l.type === 'summary') {
        snapshotId = l.snapshotId
        report.bytes = l.bytesProcessed
      }
    },
  })
  // Exit 3: some source data could not be read; an incomplete snapshot was still written.
  if (r.exitCode === 3 && r.signal === null) {
    report.error('BK_ERR_SOURCE_MISSING', `restic could not read some files: ${lastLines(r.stderr)}`)
    return snapshotId
  }
  if (r.exitCode !== 0 || r.signal !== null) {
    throw await repo.failure(r, 'restic backup')
  }
  return snapshotId
}

/** One group of `check --read-data-subset=n/N`; the rotation index is persisted by the caller. */
async function checkRotation(
  cfg: ResolvedResticJob,
  repo: ResticRepo,
  ctx: JobContext,
  state: ResticState,
  report: RunReport,
): Promise<{ state: ResticState; verification: Copy['verification'] }> {
  if (cfg.checkGroups === 0) {
    return { state, verification: { state: 'unverified', method: 'none', detail: 'checkGroups: 0 (no restic check)' } }
  }
  const at = ctx.clock.now().toISOString()
  const subset = rotate(state, cfg.checkGroups)
  const args = ['check', `--read-data-subset=${subset.group}/${cfg.checkGroups}`]
  const method = `restic-check+read-data-subset=${subset.group}/${cfg.checkGroups}`
  const r = await repo.run(args, { timeoutMs: cfg.timeoutMs, signal: ctx.signal })
  if (r.exitCode === 0 && r.signal === null) {
    return { state: subset.next, verification: { state: 'verified', at, method } }
  }
  const failure = await repo.failure(r, 'restic check')
  if (failure.code !== 'BK_ERR_EXEC_FAILED') {
    // Locked or unreachable now: the data was not read, which says nothing about it. Try this group again next run.
    report.warnings.push(`${failure.message}; the check runs again next time`)
    return { state, verification: { state: 'unverified', method, detail: failure.message.slice(0, 1000) } }
  }
  report.error(
    'BK_ERR_VERIFY_FAILED',
    `restic check on ${repo.display} found errors: ${lastLines(r.stdout + r.stderr)}`,
  )
  return { state: subset.next, verification: { state: 'failed', at, method, detail: lastLines(r.stdout) } }
}

function copyIdOf(repoId: string, s: ResticSnapshot): string {
  return `restic:${repoId}:${s.id}`
}

function copyOf(
  cfg: ResolvedResticJob,
  asset: AssetRef,
  location: Location,
  repoId: string,
  s: ResticSnapshot,
  verification: Copy['verification'],
  fresh: string | null,
  runId: string,
): Copy {
  return {
    copyId: copyIdOf(repoId, s),
    asset,
    location,
    // The filesystem snapshot it was read from (its creation time is createdAt: one consistent point in time).
    name: sourceSnapshotOf(s) === null ? s.shortId : `${s.shortId} from ${sourceSnapshotOf(s)!}`.slice(0, 1024),
    media: cfg.repository.media,
    offsite: false,
    offline: false,
    immutable: false,
    createdAt: s.time.toISOString(),
    ...(s.bytes !== undefined ? { bytes: s.bytes } : {}),
    verification,
    ...(fresh !== null && s.id.startsWith(fresh) ? { runId } : {}),
  }
}

function lastLines(text: string): string {
  return text.trim().split('\n').slice(-3).join('; ').slice(0, 1000)
}

async function planLines(cfg: ResolvedResticJob, ctx: JobContext): Promise<PlanLine[]> {
  const { repo } = await openRepo(cfg, ctx)
  return [...planSnapshots(cfg, await listJobSnapshots(repo, cfg.name, cfg.timeoutMs), ctx.clock.now()).lines]
}

/** reverify-copy: the snapshot is still listed and `restic check` (structure) passes. */
async function verifySnapshot(cfg: ResolvedResticJob, ctx: JobContext, copyId: string): Promise<CopyCheck> {
  const { repo, repoId } = await openRepo(cfg, ctx)
  const snaps = await listJobSnapshots(repo, cfg.name, cfg.timeoutMs)
  const s = snaps.find((x) => copyIdOf(repoId, x) === copyId)
  if (s === undefined) {
    throw new BackstopError(
      'BK_ERR_COPY_NOT_FOUND',
      `${copyId} is not a snapshot of job ${cfg.name} in ${repo.display}`,
    )
  }
  const checks = [`snapshot ${s.shortId} listed in ${repo.display}`]
  const r = await repo.run(['check'], { timeoutMs: cfg.timeoutMs, signal: ctx.signal })
  if (r.exitCode === 0 && r.signal === null) {
    return { result: 'ok', copyId, method: 'restic-check', checks: [...checks, 'restic check: no errors were found'] }
  }
  const f = await repo.failure(r, 'restic check')
  return {
    result: 'failed',
    copyId,
    method: 'restic-check',
    checks: [...checks, f.message],
    error: { code: f.code, message: f.message },
  }
}
