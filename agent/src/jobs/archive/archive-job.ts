import { lstat, readdir, rename, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { durableTempTarget, mkdirData, writeFileDurable } from '@backstop/node-io'
import { BackstopError, type AssetRef, type Copy, type DeletedCopy, type Location } from '@backstop/shared'
import { describeFailure } from '../../exec/exec.ts'
import type { JobContext, JobResult, KindJob } from '../job.ts'
import {
  archiveName,
  createPrivateFile,
  deviceOf,
  fsyncPath,
  manifestLine,
  parseArchiveName,
  removeIfExists,
  sha256File,
  type ArchiveFile,
} from './archive-files.ts'
import { archiveRestoreTest, archiveVerifyCopy, verify } from './archive-checks.ts'
import {
  archivePlanLines,
  asStored,
  deleteArchives,
  planArchives,
  storedArchives,
  type StoredArchive,
} from './archive-retention.ts'
import type { ResolvedArchiveJob } from './config.ts'

/**
 * `archive`: GNU tar + gzip of the configured paths into `<destination>/<job>-<UTC stamp>.tar.gz`, written under
 * a temp name, fsync'd and renamed, with a sha256sum-format manifest next to it. The archive is then verified
 * (re-read and re-hashed against the manifest, and `tar --list` must read it to the end). Only after that does the
 * GFS `retention:` policy prune (archive-retention.ts), so a failed run never costs an older good archive.
 */
export function createArchiveJob(cfg: ResolvedArchiveJob): KindJob {
  const asset: AssetRef = { kind: 'file-set', id: `fileset:${cfg.name}`, name: cfg.paths.join(', ').slice(0, 256) }
  return {
    name: cfg.name,
    kind: 'archive',
    run: (ctx) => runArchive(cfg, asset, ctx),
    plan: (ctx) => archivePlanLines(cfg, ctx.clock.now()),
    inventory: async () => [asset],
    verifyCopy: (ctx, copyId) => archiveVerifyCopy(cfg, ctx, copyId),
    restoreTest: (ctx, copyId) => archiveRestoreTest(cfg, ctx, copyId),
  }
}

/** One run: tar → manifest → verify → prune with the GFS policy → report every archive as a copy. */
async function runArchive(cfg: ResolvedArchiveJob, asset: AssetRef, ctx: JobContext): Promise<JobResult> {
  const warnings: string[] = []
  await mkdirData(cfg.destination)
  await removeStaleTemps(cfg.destination, cfg.name)
  const present = await presentPaths(cfg, warnings)
  const fresh = await writeArchive(cfg, ctx, present, warnings)
  const location: Location = { kind: 'dir', target: cfg.destination, device: await deviceOf(cfg.destination) }
  const copyOf = (a: StoredArchive): Copy => archiveCopy(cfg, asset, location, a)
  if (fresh.verification.state !== 'verified') {
    const detail = fresh.verification.detail ?? 'verification failed'
    return {
      status: 'failed',
      copies: [copyOf(fresh)],
      deleted: [],
      warnings,
      bytes: fresh.bytes,
      error: { code: 'BK_ERR_VERIFY_FAILED', message: `${fresh.file.path}: ${detail}; older archives were kept` },
    }
  }
  ctx.progress(90, 'pruning')
  const now = ctx.clock.now()
  const stored = await storedArchives(cfg, now, fresh)
  for (const a of stored.filter((x) => x.verification.state === 'failed')) {
    warnings.push(`${a.file.path}: ${a.verification.detail ?? 'failed its check'}; it fills no retention slot`)
  }
  const plan = planArchives(cfg, stored, now)
  const { gone, errors } = await deleteArchives(plan)
  warnings.push(...errors)
  const goneIds = new Set(gone.map((g) => g.archive.id))
  const deleted: DeletedCopy[] = gone.map((g) => ({
    copyId: `archive:${g.archive.file.path}`,
    asset,
    location,
    name: g.archive.name,
    deletedAt: now.toISOString(),
    rule: g.rule,
  }))
  ctx.progress(100)
  const copies = [fresh, ...plan.keep, ...plan.destroy.map((d) => d.snap)]
    .filter((a, i, all) => !goneIds.has(a.id) && all.findIndex((b) => b.id === a.id) === i)
    .map(copyOf)
  return { ...finish(cfg, present, warnings), copies, deleted, warnings, bytes: fresh.bytes }
}

/** `success`, or `partial` naming the configured paths that did not exist. */
function finish(
  cfg: ResolvedArchiveJob,
  present: readonly string[],
  warnings: readonly string[],
): Pick<JobResult, 'status' | 'error'> {
  if (present.length === cfg.paths.length) {
    return { status: 'success' }
  }
  const message = warnings.filter((w) => w.startsWith('source path')).join('; ')
  return { status: 'partial', error: { code: 'BK_ERR_SOURCE_MISSING', message } }
}

/** The configured paths that exist; each missing one is a warning, all missing is an error. */
async function presentPaths(cfg: ResolvedArchiveJob, warnings: string[]): Promise<string[]> {
  const present: string[] = []
  for (const p of cfg.paths) {
    try {
      await lstat(p)
      present.push(p)
    } catch {
      warnings.push(
        `source path ${p} does not exist; it is not in this archive (fix jobs.${cfg.name}.paths or create it)`,
      )
    }
  }
  if (present.length === 0) {
    throw new BackstopError(
      'BK_ERR_SOURCE_MISSING',
      `none of the paths of job "${cfg.name}" exist: ${cfg.paths.join(', ')}; fix the job's paths or create them`,
    )
  }
  return present
}

/** tar into a temp name, fsync, rename, manifest, full verification; the destination is unchanged on failure. */
async function writeArchive(
  cfg: ResolvedArchiveJob,
  ctx: JobContext,
  present: readonly string[],
  warnings: string[],
): Promise<StoredArchive> {
  const file = await freshName(cfg.destination, cfg.name, ctx.clock.now())
  const tmp = join(cfg.destination, `.${file.name}.partial`)
  ctx.progress(0, `tar ${present.join(' ')}`)
  try {
    await createPrivateFile(tmp)
    await runTar(cfg, ctx, present, tmp, warnings)
    await fsyncPath(tmp)
    await rename(tmp, file.path)
    await fsyncPath(cfg.destination)
  } catch (e) {
    await removeIfExists(tmp)
    throw e
  }
  ctx.progress(60, 'hashing')
  const hash = await sha256File(file.path)
  // A data file's mode, like the archive's: 0600, or 0640 owned by the configured group.
  await writeFileDurable(`${file.path}.sha256`, manifestLine(hash, file.name))
  ctx.progress(70, 'verifying')
  const bytes = (await stat(file.path)).size
  return asStored(file, bytes, hash, await verify(ctx, file.path))
}

async function runTar(
  cfg: ResolvedArchiveJob,
  ctx: JobContext,
  present: readonly string[],
  tmp: string,
  warnings: string[],
): Promise<void> {
  const argv = [
    'tar',
    '--create',
    '--gzip',
    '--file',
    tmp,
    '--directory',
    '/',
    ...cfg.exclude.map((e) => `--exclude=${e.replace(/^\/+/, '')}`),
    '--',
    ...present.map((p) => p.replace(/^\/+/, '') || '.'),
  ]
  const r = await ctx.exec.run(argv, { signal: ctx.signal, timeoutMs: cfg.timeoutMs, maxOutputBytes: 1024 * 1024 })
  // GNU tar: 1 = some files changed while being read (the archive is still complete and readable); 2 = fatal.
  if (r.exitCode === 1 && r.signal === null) {
    warnings.push(
      `tar: some files changed while they were archived: ${r.stderr.trim().split('\n').slice(-3).join('; ')}`,
    )
  } else if (r.exitCode !== 0 || r.signal !== null) {
    throw new BackstopError(
      'BK_ERR_EXEC_FAILED',
      `${describeFailure(r)}; the destination ${cfg.destination} was left unchanged`,
    )
  }
}

function archiveCopy(cfg: ResolvedArchiveJob, asset: AssetRef, location: Location, a: StoredArchive): Copy {
  return {
    copyId: `archive:${a.file.path}`,
    asset,
    location,
    name: a.name,
    media: cfg.media,
    offsite: cfg.offsite,
    offline: cfg.offline,
    immutable: false,
    createdAt: a.createdAt.toISOString(),
    bytes: a.bytes,
    ...(a.hash ? { checksum: { algo: 'sha256' as const, value: a.hash } } : {}),
    verification: a.verification,
  }
}

async function freshName(dir: string, job: string, createdAt: Date): Promise<ArchiveFile> {
  for (let seq = 1; ; seq++) {
    const name = archiveName(job, createdAt, seq)
    try {
      await lstat(join(dir, name))
    } catch {
      return { name, path: join(dir, name), createdAt, seq }
    }
  }
}

/** Temp files of this job left by a crash or kill mid-write: never complete archives, safe to remove. */
async function removeStaleTemps(dir: string, job: string): Promise<void> {
  for (const name of await readdir(dir)) {
    const inner = (/^\.(.+)\.partial$/.exec(name)?.[1] ?? durableTempTarget(name))?.replace(/\.sha256$/, '')
    // Parsed, not prefix-matched: job "etc" must not touch a running job "etc-pve"'s temp files.
    if (inner !== undefined && parseArchiveName(job, inner)) {
      await removeIfExists(join(dir, name))
    }
  }
}
