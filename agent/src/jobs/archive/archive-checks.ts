import { lstat, mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { BackstopError, type Verification } from '@backstop/shared'
import { describeFailure, succeeded } from '../../exec/exec.ts'
import type { CopyCheck, JobContext } from '../job.ts'
import { listArchives, parseArchiveName, readManifest, sha256File } from './archive-files.ts'
import type { ResolvedArchiveJob } from './config.ts'

export const METHOD = 'sha256-manifest+tar-list'
const RESTORE_METHOD = 'sha256-manifest+tar-extract+tar-diff'
/** Scratch directories of restore tests live under the job's state dir with this prefix (and nowhere else). */
const SCRATCH_PREFIX = 'restore-test-'

/**
 * The archive's integrity check: re-read and re-hash against the `.sha256` manifest, then `tar --list` must read
 * the archive to the end. Used after writing (archive-job.ts) and by reverify-copy / restore-test.
 */
export async function verify(ctx: Pick<JobContext, 'clock' | 'exec' | 'signal'>, path: string): Promise<Verification> {
  const at = ctx.clock.now().toISOString()
  const expected = await readManifest(path)
  const actual = await sha256File(path)
  if (expected !== actual) {
    return {
      state: 'failed',
      at,
      method: METHOD,
      detail: `re-read sha256 ${actual} does not match the manifest (${expected ?? 'missing'})`,
    }
  }
  const list = await ctx.exec.run(['tar', '--list', '--gzip', '--file', path], {
    signal: ctx.signal,
    maxOutputBytes: 64 * 1024,
  })
  if (list.exitCode !== 0 || list.signal !== null) {
    return { state: 'failed', at, method: METHOD, detail: `archive is not readable: ${describeFailure(list)}` }
  }
  return { state: 'verified', at, method: METHOD }
}

/** `archive:<destination>/<job>-<stamp>.tar.gz` → the archive's path; anything else is not a copy of this job. */
function pathOf(cfg: ResolvedArchiveJob, copyId: string): string {
  const path = copyId.startsWith('archive:') ? copyId.slice('archive:'.length) : ''
  if (path === '' || dirname(path) !== cfg.destination || parseArchiveName(cfg.name, basename(path)) === null) {
    throw new BackstopError(
      'BK_ERR_COPY_NOT_FOUND',
      `copy "${copyId}" is not an archive of job "${cfg.name}" ` +
        `(its copies are archive:${cfg.destination}/${cfg.name}-<UTC stamp>.tar.gz; ` +
        'list them with GET /api/v1/copies)',
    )
  }
  return path
}

async function sizeOf(path: string): Promise<number | null> {
  try {
    return (await stat(path)).size
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      return null
    }
    throw e
  }
}

function failed(
  copyId: string,
  method: string,
  checks: string[],
  code: string,
  message: string,
  bytes?: number,
): CopyCheck {
  return {
    result: 'failed',
    copyId,
    method,
    checks: [...checks, `FAILED: ${message}`],
    ...(bytes !== undefined ? { bytes } : {}),
    error: { code, message },
  }
}

/** reverify-copy: the same hash + readability check as after writing, run again now. */
export async function archiveVerifyCopy(cfg: ResolvedArchiveJob, ctx: JobContext, copyId: string): Promise<CopyCheck> {
  const path = pathOf(cfg, copyId)
  const bytes = await sizeOf(path)
  if (bytes === null) {
    return failed(
      copyId,
      METHOD,
      [],
      'BK_ERR_COPY_NOT_FOUND',
      `${path} no longer exists (deleted or its disk is not mounted)`,
    )
  }
  const v = await verify(ctx, path)
  if (v.state !== 'verified') {
    return failed(
      copyId,
      METHOD,
      [`read ${bytes} bytes of ${path}`],
      'BK_ERR_VERIFY_FAILED',
      `${path}: ${v.detail ?? 'verification failed'}`,
      bytes,
    )
  }
  return {
    result: 'ok',
    copyId,
    method: METHOD,
    bytes,
    checks: [
      `sha256 of ${path} (${bytes} bytes) matches ${basename(path)}.sha256`,
      'tar --list read the archive to the end',
    ],
  }
}

/**
 * restore-test: verify the archive, extract it into a scratch directory under the job's state dir, and let
 * `tar --diff` compare every extracted file (content, size, mode, mtime) with the archive. The scratch
 * directory is removed afterwards whatever happened; leftovers of a crashed test are removed first.
 */
export async function archiveRestoreTest(
  cfg: ResolvedArchiveJob,
  ctx: JobContext,
  copyId: string | undefined,
): Promise<CopyCheck> {
  const picked = copyId !== undefined ? { path: pathOf(cfg, copyId), copyId } : await newestVerified(cfg, ctx)
  const checks: string[] = []
  const bytes = await sizeOf(picked.path)
  if (bytes === null) {
    return failed(
      picked.copyId,
      RESTORE_METHOD,
      checks,
      'BK_ERR_COPY_NOT_FOUND',
      `${picked.path} no longer exists (deleted or its disk is not mounted)`,
    )
  }
  const v = await verify(ctx, picked.path)
  if (v.state !== 'verified') {
    return failed(
      picked.copyId,
      RESTORE_METHOD,
      checks,
      'BK_ERR_VERIFY_FAILED',
      `${picked.path}: ${v.detail ?? 'verification failed'}`,
      bytes,
    )
  }
  checks.push(`sha256 of ${picked.path} (${bytes} bytes) matches its manifest`)
  await removeStaleScratch(ctx.stateDir)
  const scratch = await mkdtemp(join(ctx.stateDir, SCRATCH_PREFIX))
  try {
    const opts = { signal: ctx.signal, timeoutMs: cfg.timeoutMs, maxOutputBytes: 256 * 1024 }
    const x = await ctx.exec.run(['tar', '--extract', '--gzip', '--file', picked.path, '--directory', scratch], opts)
    if (!succeeded(x)) {
      return failed(
        picked.copyId,
        RESTORE_METHOD,
        checks,
        'BK_ERR_RESTORE_TEST_FAILED',
        `extracting into ${scratch}: ${describeFailure(x)}`,
        bytes,
      )
    }
    const tree = await walk(scratch)
    checks.push(`extracted ${tree.files} files, ${tree.dirs} directories, ${tree.bytes} bytes into a scratch directory`)
    if (tree.files + tree.dirs === 0) {
      return failed(
        picked.copyId,
        RESTORE_METHOD,
        checks,
        'BK_ERR_RESTORE_TEST_FAILED',
        'the archive extracted to nothing',
        bytes,
      )
    }
    const d = await ctx.exec.run(['tar', '--diff', '--gzip', '--file', picked.path, '--directory', scratch], opts)
    if (!succeeded(d)) {
      const diffs = `${d.stdout}\n${d.stderr}`
        .trim()
        .split('\n')
        .filter((l) => l !== '')
        .slice(0, 5)
        .join('; ')
      return failed(
        picked.copyId,
        RESTORE_METHOD,
        checks,
        'BK_ERR_RESTORE_TEST_FAILED',
        `restored files differ from the archive: ${diffs || describeFailure(d)}`,
        bytes,
      )
    }
    checks.push('tar --diff: every restored file matches the archive (content, size, mode, mtime)')
    return { result: 'ok', copyId: picked.copyId, method: RESTORE_METHOD, checks, bytes }
  } finally {
    await rm(scratch, { recursive: true, force: true })
  }
}

/** The newest archive of the job whose hash still matches its manifest. */
async function newestVerified(cfg: ResolvedArchiveJob, ctx: JobContext): Promise<{ path: string; copyId: string }> {
  const all = await listArchives(cfg.destination, cfg.name)
  for (const f of all) {
    if ((await verify(ctx, f.path)).state === 'verified') {
      return { path: f.path, copyId: `archive:${f.path}` }
    }
  }
  throw new BackstopError(
    'BK_ERR_COPY_NOT_FOUND',
    `job "${cfg.name}" has no archive in ${cfg.destination} that verifies (${all.length} found); ` +
      'run the job, or name a copy with copyId',
  )
}

async function removeStaleScratch(stateDir: string): Promise<void> {
  for (const name of await readdir(stateDir)) {
    if (name.startsWith(SCRATCH_PREFIX)) {
      await rm(join(stateDir, name), { recursive: true, force: true })
    }
  }
}

async function walk(dir: string): Promise<{ files: number; dirs: number; bytes: number }> {
  const acc = { files: 0, dirs: 0, bytes: 0 }
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isDirectory()) {
      acc.dirs++
    } else {
      acc.files++
      if (e.isFile()) {
        acc.bytes += (await lstat(join(e.parentPath, e.name))).size
      }
    }
  }
  return acc
}
