import { existsSync } from 'node:fs'
import { readdir, rm, stat } from 'node:fs/promises'
import { basename, join } from 'node:path'
import type { Copy, DeletedCopy, RetentionPolicy } from '@backstop/shared'
import type { PlanLine } from '../job.ts'
import { planCopies } from '../retention.ts'
import type { PathIdentity } from '../../tools/lsblk.ts'
import { guestAsset } from '../../tools/pvesh.ts'
import { type ArchiveName, companionFiles, parseArchiveName } from '../../tools/vzdump.ts'
import type { ChecksumStore } from './files.ts'
import type { ResolvedVzdumpJob } from './config.ts'

/** One finished archive file in a dump directory. */
export interface ArchiveFile extends ArchiveName {
  readonly path: string
  readonly name: string
  readonly bytes: number
  /** `<basename>.protected` exists: PVE's protection flag; never pruned. */
  readonly protected: boolean
}

/** Finished archives only (`.dat`/`.tmp` are in progress or abandoned). Names that are not vzdump's are ignored. */
export async function listArchives(dir: string, timezone: string): Promise<ArchiveFile[]> {
  let names: string[]
  try {
    names = await readdir(dir)
  } catch {
    return []
  }
  const out: ArchiveFile[] = []
  for (const name of names) {
    const parsed = parseArchiveName(name, timezone)
    if (parsed === null) {
      continue
    }
    const path = join(dir, name)
    const st = await stat(path).catch(() => null)
    if (st === null || !st.isFile()) {
      continue
    }
    const prot = companionFiles(path)[2]!
    out.push({ ...parsed, path, name, bytes: st.size, protected: existsSync(prot) })
  }
  return out
}

export function archiveCopy(
  job: ResolvedVzdumpJob,
  dir: string,
  a: ArchiveFile,
  sums: ChecksumStore,
  guestName?: string,
  device?: PathIdentity | null,
): Copy {
  const sum = sums.get(a.path)
  return {
    copyId: `vzdump:${dir}/${a.name}`,
    asset: guestAsset(a.vmtype, a.vmid, guestName),
    // The disk/filesystem under the dump dir: a copy there stops counting when that device fails.
    location: { kind: 'dir', target: dir, ...(device ? { device: { ...device } } : {}) },
    name: a.name,
    media: job.media,
    offsite: job.offsite,
    offline: job.offline,
    // PVE "protected" is a flag anyone with storage access can remove (vzdump.adoc): not immutability.
    immutable: job.immutable,
    createdAt: a.createdAt.toISOString(),
    bytes: a.bytes,
    ...(sum ? { checksum: { algo: 'sha256' as const, value: sum.sha256 } } : {}),
    verification: sum
      ? {
          state: sum.bytes === a.bytes ? 'verified' : 'failed',
          at: sum.at,
          method: 'sha256-after-write',
          ...(sum.bytes === a.bytes
            ? {}
            : { detail: `size changed from ${sum.bytes} to ${a.bytes} bytes since it was hashed` }),
        }
      : { state: 'unverified', detail: 'not written by this job (no checksum recorded)' },
  }
}

export interface PruneResult {
  readonly kept: ArchiveFile[]
  readonly deleted: DeletedCopy[]
  readonly lines: PlanLine[]
  readonly errors: string[]
}

/**
 * GFS retention per guest over the archive files of the guests this job backs up. Only archives with a
 * recorded checksum and still their recorded size count as successful (so an old archive is never deleted on the
 * strength of a new one the agent did not verify); protected ones are held. Deletes the archive and its
 * companions (.log, .notes).
 */
export async function pruneArchives(
  job: ResolvedVzdumpJob,
  policy: RetentionPolicy,
  dir: string,
  archives: readonly ArchiveFile[],
  vmids: ReadonlySet<number>,
  sums: ChecksumStore,
  now: Date,
  dryRun: boolean,
): Promise<PruneResult> {
  const groups = new Map<string, ArchiveFile[]>()
  for (const a of archives) {
    if (!vmids.has(a.vmid)) {
      continue
    }
    const key = `${a.vmtype}/${a.vmid}`
    groups.set(key, [...(groups.get(key) ?? []), a])
  }
  const kept: ArchiveFile[] = []
  const deleted: DeletedCopy[] = []
  const lines: PlanLine[] = []
  const errors: string[] = []
  for (const group of groups.values()) {
    const plan = planCopies(
      group.map((a) => ({
        id: a.path,
        name: a.name,
        createdAt: a.createdAt,
        tags: undefined,
        held: a.protected,
        // Hashed after vzdump wrote it and unchanged in size since: a failed or unverified archive fills no slot.
        successful: sums.get(a.path)?.bytes === a.bytes,
        archive: a,
      })),
      policy,
      now,
      dir,
    )
    lines.push(...plan.lines)
    kept.push(...plan.keep.map((k) => k.archive))
    for (const { snap, rule } of plan.destroy) {
      const a = snap.archive
      if (dryRun) {
        kept.push(a)
        continue
      }
      try {
        await rm(a.path)
        for (const c of companionFiles(a.path)) {
          await rm(c, { force: true })
        }
        sums.delete(a.path)
        deleted.push({
          copyId: `vzdump:${dir}/${a.name}`,
          asset: guestAsset(a.vmtype, a.vmid),
          location: { kind: 'dir', target: dir },
          name: basename(a.path),
          deletedAt: now.toISOString(),
          rule,
        })
      } catch (e) {
        errors.push(`could not delete ${a.path}: ${(e as Error).message}`)
        kept.push(a)
      }
    }
  }
  return { kept, deleted, lines, errors }
}
