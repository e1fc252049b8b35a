import { posix } from 'node:path'
import type { Copy, DeletedCopy, Location, MediaType, Verification } from '@backstop/shared'
import { describeFailure, succeeded, type Exec } from '../../exec/exec.ts'
import { classifyBtrfsError, deleteArgv } from '../../tools/btrfs.ts'
import type { BtrfsSubvolume } from '../../tools/btrfs-parse.ts'
import type { OwnedCopy } from '../retention.ts'
import { parseBtrfsSnapshotName, type FsView, type ParsedBtrfsName } from './fs.ts'

/** One of our snapshots (or received replicas) in a directory of a mounted filesystem. */
export interface BtrfsOwned {
  readonly path: string
  readonly name: string
  readonly parsed: ParsedBtrfsName
  readonly sv: BtrfsSubvolume
  readonly readonly: boolean
}

/** Our snapshots of subvolume `subvol` directly inside `dir`, oldest first. Foreign names are left out. */
export function ownedIn(fs: FsView, dir: string, prefix: string, subvol: string): BtrfsOwned[] {
  const out: BtrfsOwned[] = []
  for (const [path, sv] of fs.byPath) {
    if (posix.dirname(path) !== dir) {
      continue
    }
    const name = posix.basename(path)
    const parsed = parseBtrfsSnapshotName(name, prefix)
    if (parsed !== null && parsed.subvol === subvol) {
      out.push({ path, name, parsed, sv, readonly: fs.readonlyUuids.has(sv.uuid) })
    }
  }
  return out.sort((a, b) => a.parsed.createdAt.getTime() - b.parsed.createdAt.getTime())
}

/**
 * The newest of our snapshots the target directory holds of every subvolume, i.e. the oldest of the per-subvolume
 * newest (a target is fed only as far as its least fed subvolume); null when some subvolume has none there yet.
 */
export function newestHeldIn(fs: FsView, dir: string, prefix: string, subvols: Iterable<string>): Date | null {
  let least = Infinity
  for (const sub of subvols) {
    const held = ownedIn(fs, dir, prefix, sub)
    if (held.length === 0) {
      return null
    }
    least = Math.min(least, held.at(-1)!.parsed.createdAt.getTime())
  }
  return Number.isFinite(least) ? new Date(least) : null
}

export function toOwned(o: BtrfsOwned, held: boolean, successful: boolean): OwnedCopy {
  return { id: o.path, name: o.path, createdAt: o.parsed.createdAt, tags: o.parsed.tags, held, successful }
}

export interface CopyClass {
  readonly media: MediaType
  readonly offsite: boolean
  readonly offline: boolean
}

export const btrfsCopyId = (path: string): string => `btrfs:${path}`

/** `asset` is the source subvolume path; immutable = read-only (btrfs has no holds). */
export function btrfsCopy(
  o: BtrfsOwned,
  asset: string,
  location: Location,
  cls: CopyClass,
  verification: Verification,
): Copy {
  return {
    copyId: btrfsCopyId(o.path),
    asset: { kind: 'btrfs-subvolume', id: asset },
    location,
    name: o.path,
    media: cls.media,
    offsite: cls.offsite,
    offline: cls.offline,
    immutable: o.readonly,
    createdAt: o.parsed.createdAt.toISOString(),
    verification,
  }
}

export function btrfsDeleted(path: string, asset: string, location: Location, at: Date, rule: string): DeletedCopy {
  return {
    copyId: btrfsCopyId(path),
    asset: { kind: 'btrfs-subvolume', id: asset },
    location,
    name: path,
    deletedAt: at.toISOString(),
    rule: rule.slice(0, 256),
  }
}

/**
 * Deletes subvolumes in one `btrfs subvolume delete` call; if that fails, one call each so a single bad path
 * does not keep the others. Returns the paths deleted and the failures.
 */
export async function deleteSubvolumes(
  exec: Exec,
  paths: readonly string[],
): Promise<{ deleted: string[]; failed: string[] }> {
  if (paths.length === 0) {
    return { deleted: [], failed: [] }
  }
  const all = await exec.run(deleteArgv(paths), { timeoutMs: 600_000 })
  if (succeeded(all)) {
    return { deleted: [...paths], failed: [] }
  }
  const deleted: string[] = []
  const failed: string[] = []
  for (const p of paths) {
    const one = await exec.run(deleteArgv([p]), { timeoutMs: 600_000 })
    // The batch may have removed some before it failed: gone now counts as deleted.
    if (succeeded(one) || classifyBtrfsError(one.stderr) === 'missing') {
      deleted.push(p)
    } else {
      failed.push(describeFailure(one))
    }
  }
  return { deleted, failed }
}
