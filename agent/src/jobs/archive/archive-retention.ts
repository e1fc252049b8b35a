import { stat } from 'node:fs/promises'
import type { Verification } from '@backstop/shared'
import type { PlanLine } from '../job.ts'
import { planCopies, type CopyPlan, type OwnedCopy } from '../retention.ts'
import { listArchives, readManifest, removeIfExists, sha256File, type ArchiveFile } from './archive-files.ts'
import type { ResolvedArchiveJob } from './config.ts'

/**
 * Retention of the archive job through the shared GFS engine. An archive is successful only when it verifies: the
 * one just written after its full check (hash + `tar --list`), older ones when their bytes still match their
 * `.sha256` manifest. A corrupted or manifest-less archive therefore never fills a keep slot, so it can never push
 * an intact older archive out.
 */
export interface StoredArchive extends OwnedCopy {
  readonly file: ArchiveFile
  readonly bytes: number
  /** The manifest's sha256 (null when there is none). */
  readonly hash: string | null
  readonly verification: Verification
}

/** Re-hashes one archive against its manifest (a copy that rotted on disk shows up as failed). */
export async function checkStored(file: ArchiveFile, at: Date): Promise<StoredArchive> {
  const expected = await readManifest(file.path)
  const bytes = (await stat(file.path)).size
  const actual = expected === null ? null : await sha256File(file.path)
  const verification: Verification =
    expected === null
      ? { state: 'unverified', method: 'sha256-manifest', detail: 'no .sha256 manifest next to it' }
      : {
          state: actual === expected ? 'verified' : 'failed',
          at: at.toISOString(),
          method: 'sha256-manifest',
          ...(actual === expected ? {} : { detail: `sha256 is ${actual}, manifest says ${expected}` }),
        }
  return asStored(file, bytes, expected, verification)
}

export function asStored(
  file: ArchiveFile,
  bytes: number,
  hash: string | null,
  verification: Verification,
): StoredArchive {
  return {
    id: file.path,
    name: file.name,
    createdAt: file.createdAt,
    // Archive names carry no promotion tags: the engine takes the oldest archive of each calendar period.
    tags: undefined,
    held: false,
    successful: verification.state === 'verified',
    file,
    bytes,
    hash,
    verification,
  }
}

/**
 * Every archive of the job in its destination, checked: `fresh` (the one this run wrote and verified) as given,
 * all others re-hashed. Newest first, as listed.
 */
export async function storedArchives(
  cfg: ResolvedArchiveJob,
  at: Date,
  fresh: StoredArchive | null,
): Promise<StoredArchive[]> {
  const out: StoredArchive[] = []
  for (const file of await listArchives(cfg.destination, cfg.name)) {
    out.push(file.path === fresh?.id ? fresh : await checkStored(file, at))
  }
  return out
}

export function planArchives(
  cfg: ResolvedArchiveJob,
  stored: readonly StoredArchive[],
  now: Date,
): CopyPlan<StoredArchive> {
  return planCopies(stored, cfg.retention, now, cfg.destination)
}

/** `backstop-agent plan <job>`: the same decisions a run would make now, nothing deleted. */
export async function archivePlanLines(cfg: ResolvedArchiveJob, now: Date): Promise<PlanLine[]> {
  return [...planArchives(cfg, await storedArchives(cfg, now, null), now).lines]
}

/** Deletes what the plan destroys (archive and manifest); returns the archives that are gone, with their rule. */
export async function deleteArchives(
  plan: CopyPlan<StoredArchive>,
): Promise<{ gone: { archive: StoredArchive; rule: string }[]; errors: string[] }> {
  const gone: { archive: StoredArchive; rule: string }[] = []
  const errors: string[] = []
  for (const d of plan.destroy) {
    try {
      // The archive first: an orphaned manifest is ignored by listArchives, an orphaned archive would be unverified.
      await removeIfExists(d.snap.file.path)
      await removeIfExists(`${d.snap.file.path}.sha256`)
      gone.push({ archive: d.snap, rule: d.rule })
    } catch (e) {
      errors.push(`could not delete ${d.snap.file.path}: ${(e as Error).message}`)
    }
  }
  return { gone, errors }
}
