import { lstat, mkdir, readdir, rename, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { durableTempTarget, writeFileDurable } from '@backstop/node-io'
import {
  BackstopError,
  type AssetRef,
  type Copy,
  type DeletedCopy,
  type Location,
  type Verification,
} from '@backstop/shared'
import { describeFailure } from '../../exec/exec.ts'
import type { Job, JobContext, JobResult, PlanLine } from '../job.ts'
import {
  archiveName,
  COPY_MODE,
  createPrivateFile,
  deviceOf,
  fsyncPath,
  listArchives,
  manifestLine,
  parseArchiveName,
  readManifest,
  removeIfExists,
  sha256File,
  type ArchiveFile,
} from './archive-files.ts'
import { archiveRestoreTest, archiveVerifyCopy, METHOD, verify } from './archive-checks.ts'
import type { ResolvedArchiveJob } from './config.ts'

/**
 * `archive`: GNU tar + gzip of the configured paths into `<destination>/<job>-<UTC stamp>.tar.gz`, written under
 * a temp name, fsync'd and renamed, with a sha256sum-format manifest next to it. The archive is then verified
 * (re-read and re-hashed against the manifest, and `tar --list` must read it to the end). Only after that are
 * archives beyond keep-last-N deleted, so a failed run never costs an older good archive.
 */
export function createArchiveJob(cfg: ResolvedArchiveJob): Job {
  const asset: AssetRef = { kind: 'file-set', id: `fileset:${cfg.name}`, name: cfg.paths.join(', ').slice(0, 256) }
  const rule = `keep-last(${cfg.keepLast})`

  const copyOf = (
    f: ArchiveFile,
    location: Location,
    verification: Verification,
    bytes: number,
    hash: string | null,
  ): Copy => ({
    copyId: `archive:${f.path}`,
    asset,
    location,
    name: f.name,
    media: cfg.media,
    offsite: cfg.offsite,
    offline: cfg.offline,
    immutable: false,
    createdAt: f.createdAt.toISOString(),
    bytes,
    ...(hash ? { checksum: { algo: 'sha256' as const, value: hash } } : {}),
    verification,
  })

  return {
    name: cfg.name,
    kind: 'archive',

    async run(ctx: JobContext): Promise<JobResult> {
      const warnings: string[] = []
      await mkdir(cfg.destination, { recursive: true, mode: 0o700 })
      await removeStaleTemps(cfg.destination, cfg.name)

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

      const createdAt = ctx.clock.now()
      const file = await freshName(cfg.destination, cfg.name, createdAt)
      const tmp = join(cfg.destination, `.${file.name}.partial`)
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
      ctx.progress(0, `tar ${present.join(' ')}`)
      try {
        await createPrivateFile(tmp)
        const r = await ctx.exec.run(argv, {
          signal: ctx.signal,
          timeoutMs: cfg.timeoutMs,
          maxOutputBytes: 1024 * 1024,
        })
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
        await fsyncPath(tmp)
        await rename(tmp, file.path)
        await fsyncPath(cfg.destination)
      } catch (e) {
        await removeIfExists(tmp)
        throw e
      }
      ctx.progress(60, 'hashing')
      const hash = await sha256File(file.path)
      await writeFileDurable(`${file.path}.sha256`, manifestLine(hash, file.name), { mode: COPY_MODE })

      ctx.progress(70, 'verifying')
      const location: Location = { kind: 'dir', target: cfg.destination, device: await deviceOf(cfg.destination) }
      const bytes = (await stat(file.path)).size
      const verification = await verify(ctx, file.path)
      const newCopy = copyOf(file, location, verification, bytes, hash)
      if (verification.state !== 'verified') {
        return {
          status: 'failed',
          copies: [newCopy],
          deleted: [],
          warnings,
          bytes,
          error: {
            code: 'BK_ERR_VERIFY_FAILED',
            message: `${file.path}: ${verification.detail ?? 'verification failed'}; older archives were kept`,
          },
        }
      }

      ctx.progress(90, 'pruning')
      const all = await listArchives(cfg.destination, cfg.name)
      const { keep, drop } = keepLast(all, cfg.keepLast, file.path)
      const deleted: DeletedCopy[] = []
      for (const old of drop) {
        await removeIfExists(`${old.path}.sha256`)
        await removeIfExists(old.path)
        deleted.push({
          copyId: `archive:${old.path}`,
          asset,
          location,
          name: old.name,
          deletedAt: ctx.clock.now().toISOString(),
          rule,
        })
      }
      // Older kept archives are re-hashed against their manifests: a copy that rotted on disk shows up as failed.
      const copies = [newCopy]
      for (const old of keep.filter((f) => f.path !== file.path)) {
        const expected = await readManifest(old.path)
        const size = (await stat(old.path)).size
        const actual = expected ? await sha256File(old.path) : null
        const v: Verification =
          expected === null
            ? { state: 'unverified', method: METHOD, detail: 'no .sha256 manifest next to it' }
            : {
                state: actual === expected ? 'verified' : 'failed',
                at: ctx.clock.now().toISOString(),
                method: 'sha256-manifest',
                ...(actual === expected ? {} : { detail: `sha256 is ${actual}, manifest says ${expected}` }),
              }
        copies.push(copyOf(old, location, v, size, expected))
      }
      ctx.progress(100)
      const missing = cfg.paths.length - present.length
      return {
        status: missing > 0 ? 'partial' : 'success',
        copies,
        deleted,
        warnings,
        bytes,
        ...(missing > 0
          ? {
              error: {
                code: 'BK_ERR_SOURCE_MISSING',
                message: warnings.filter((w) => w.startsWith('source path')).join('; '),
              },
            }
          : {}),
      }
    },

    async plan(): Promise<PlanLine[]> {
      const all = await listArchives(cfg.destination, cfg.name)
      const { keep } = keepLast(all, cfg.keepLast, null)
      return all.map((f, i) => ({
        location: cfg.destination,
        name: f.name,
        createdAt: f.createdAt.toISOString(),
        action: keep.includes(f) ? 'keep' : 'destroy',
        reasons: [keep.includes(f) ? `${rule}: #${i + 1} newest` : `${rule}: #${i + 1} newest, beyond ${cfg.keepLast}`],
      }))
    },

    async inventory(): Promise<AssetRef[]> {
      return [asset]
    },

    verifyCopy: (ctx, copyId) => archiveVerifyCopy(cfg, ctx, copyId),
    restoreTest: (ctx, copyId) => archiveRestoreTest(cfg, ctx, copyId),
  }
}

/** The newest `n` archives are kept; `mustKeep` (the archive just written) is never deleted, whatever its rank. */
export function keepLast(
  newestFirst: readonly ArchiveFile[],
  n: number,
  mustKeep: string | null,
): { keep: ArchiveFile[]; drop: ArchiveFile[] } {
  const keep = newestFirst.filter((f, i) => i < n || f.path === mustKeep)
  return { keep, drop: newestFirst.filter((f) => !keep.includes(f)) }
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
