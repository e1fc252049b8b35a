/**
 * Pure parsers for the commands the storage prober runs to find the block devices beneath a path, pool or
 * filesystem (agent/src/storage/probe.ts). Formats recorded on util-linux 2.38, btrfs-progs 6.2 and zfs-fuse 0.7
 * (agent/test/fixtures/storage/README.md).
 */

/** One line of `findmnt -J -T <path> -o TARGET,SOURCE,FSTYPE,UUID,MAJ:MIN,FSROOT`: the mount holding a path. */
export interface MountOfPath {
  readonly target: string
  /** `/dev/vda`, a pool or dataset name (`tank/data`), `tmpfs`, `host:/export` … (btrfs `[/subvol]` removed). */
  readonly source: string
  readonly fstype: string
  readonly uuid: string | null
  /** st_dev of the filesystem as `major:minor`: what every file on it reports, the id of "the disk holding it". */
  readonly majMin: string
}

export const findmntTargetColumns = 'TARGET,SOURCE,FSTYPE,UUID,MAJ:MIN,FSROOT'

export function findmntTargetArgv(path: string): string[] {
  return ['findmnt', '-J', '-T', path, '-o', findmntTargetColumns]
}

export function parseFindmntTarget(json: string): MountOfPath | null {
  const doc = JSON.parse(json) as { filesystems?: Record<string, unknown>[] }
  const f = doc.filesystems?.[0]
  if (!f) {
    return null
  }
  return {
    target: str(f['target']) ?? '/',
    source: (str(f['source']) ?? '').replace(/\[.*\]$/, ''),
    fstype: str(f['fstype']) ?? '',
    uuid: str(f['uuid']),
    majMin: str(f['maj:min']) ?? '',
  }
}

export interface LoopDevice {
  /** `/dev/loop1` */
  readonly name: string
  /** The file behind it; null for a loop device without one (detached but not freed). */
  readonly backFile: string | null
}

export const losetupArgv = ['losetup', '-J'] as const

/** `losetup -J`: every attached loop device and its backing file. Empty output means none are attached. */
export function parseLosetup(json: string): LoopDevice[] {
  if (json.trim() === '') {
    return []
  }
  const doc = JSON.parse(json) as { loopdevices?: Record<string, unknown>[] }
  return (doc.loopdevices ?? []).map((l) => ({
    name: str(l['name']) ?? '',
    // Deleted backing files show as `/path (deleted)`.
    backFile: str(l['back-file'])?.replace(/ \(deleted\)$/, '') ?? null,
  }))
}

export interface BtrfsFilesystem {
  readonly label: string | null
  readonly uuid: string
  /** Device paths of every member (`devid N … path /dev/x`). */
  readonly devices: readonly string[]
  /** `*** Some devices missing` */
  readonly missing: boolean
}

export function btrfsShowArgv(path: string): string[] {
  return ['btrfs', 'filesystem', 'show', path]
}

/** `btrfs filesystem show <mnt>` (text; btrfs-progs has no JSON for it in 6.2). */
export function parseBtrfsShow(text: string): BtrfsFilesystem[] {
  const out: BtrfsFilesystem[] = []
  for (const block of text.split(/^(?=Label: )/m)) {
    const head = /^Label: (?:'(.*)'|none)\s+uuid: ([0-9a-f-]+)/m.exec(block)
    if (!head) {
      continue
    }
    const devices = [...block.matchAll(/^\s*devid\s+\d+\s.*\spath\s+(\S+)\s*$/gm)].map((m) => m[1]!)
    out.push({ label: head[1] ?? null, uuid: head[2]!, devices, missing: /devices missing/i.test(block) })
  }
  return out
}

/** What the `zpool` CLI accepts, from its usage text (zfs-fuse 0.7: `status [-vx]`; OpenZFS 2.x: `-P`, `-L`). */
export interface ZpoolCapabilities {
  /** `zpool status -P`: full vdev paths. Without it, whole disks print as `sda`, files as their absolute path. */
  readonly fullPaths: boolean
  /** `zpool status -L`: symbolic links (`/dev/disk/by-id/…`) resolved to `/dev/sdX`, which lsblk names. */
  readonly resolveLinks: boolean
}

export function parseZpoolUsage(usage: string): ZpoolCapabilities {
  const status = usage
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l.startsWith('status '))
  const flags = status?.match(/\[-([A-Za-z]+)\]/g)?.join('') ?? ''
  return { fullPaths: flags.includes('P'), resolveLinks: flags.includes('L') }
}

export function zpoolStatusArgv(caps: ZpoolCapabilities, pool: string): string[] {
  return ['zpool', 'status', ...(caps.fullPaths ? ['-P'] : []), ...(caps.resolveLinks ? ['-L'] : []), pool]
}

/** Grouping rows of a pool's config tree, not devices. */
const groupRow = /^(mirror|raidz\d?|draid\d?|spare|replacing|logs|cache|spares|special|dedup)(-\d+|:.*)?$/

export interface ZpoolVdevs {
  readonly pool: string
  /** Leaf vdevs as device or file paths (`/dev/sda1`, `/var/pools/a.img`); relative names get `/dev/`. */
  readonly leaves: readonly string[]
}

/**
 * The leaf vdevs of each pool in `zpool status` output: the rows of the `config:` table below the pool's own row
 * that are not groups (mirror-0, raidz1-0, logs, cache …). Cache devices and spares are included: a spare that
 * stood in is data, and a spare being "attached" is what matters for failure domains.
 */
export function parseZpoolVdevs(text: string): ZpoolVdevs[] {
  const out: ZpoolVdevs[] = []
  for (const block of text.split(/^\s*pool: /m).slice(1)) {
    const lines = block.split('\n')
    const pool = (lines[0] ?? '').trim()
    const start = lines.findIndex((l) => /^\s+NAME\s+STATE\b/.test(l))
    const leaves: string[] = []
    for (const line of start < 0 ? [] : lines.slice(start + 1)) {
      if (/^\S/.test(line)) {
        break // `errors:` ends the table
      }
      const name = line.trim().split(/\s+/)[0] ?? ''
      if (name === '' || name === pool || groupRow.test(name)) {
        continue
      }
      leaves.push(name.startsWith('/') ? name : `/dev/${name}`)
    }
    out.push({ pool, leaves })
  }
  return out
}

/** `zpool list -H -o name,guid <pool>`: the pool GUID, its identity across imports and renames. */
export function parsePoolGuid(text: string): string | null {
  const fields = text.trim().split('\t')
  return fields.length >= 2 && fields[1] !== '-' ? fields[1]! : null
}

function str(v: unknown): string | null {
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : null
}
