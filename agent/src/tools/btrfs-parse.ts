import { posix } from 'node:path'
/**
 * Pure parsers for btrfs-progs and findmnt output, tested against recorded real output
 * (agent/test/fixtures/btrfs/, btrfs-progs 6.2 on loop-mounted filesystems).
 */

export interface BtrfsSubvolume {
  readonly id: number
  readonly gen: number
  readonly topLevel: number
  /** Creation time as printed (`-s` adds it; local time, seconds). */
  readonly otime: string | null
  /** null for `-` (not a snapshot / not received). */
  readonly parentUuid: string | null
  readonly receivedUuid: string | null
  readonly uuid: string
  /** Relative to the filesystem's top-level subvolume (id 5). */
  readonly path: string
}

const uuidOrNull = (v: string | undefined): string | null => (v === undefined || v === '-' ? null : v)

/**
 * `btrfs subvolume list [-s] -u -q -R <path>`: lines of `key value` pairs in a fixed order, `path` last (it
 * may contain spaces). `-` is printed (column-padded) for an empty uuid.
 */
export function parseSubvolumeList(stdout: string): BtrfsSubvolume[] {
  const out: BtrfsSubvolume[] = []
  for (const line of stdout.split('\n')) {
    const at = line.indexOf(' path ')
    if (!line.startsWith('ID ') || at < 0) {
      continue
    }
    const tokens = line.slice(0, at).trim().split(/\s+/)
    const kv = new Map<string, string>()
    for (let i = 0; i < tokens.length;) {
      if (tokens[i] === 'top' && tokens[i + 1] === 'level') {
        kv.set('top level', tokens[i + 2] ?? '')
        i += 3
      } else if (tokens[i] === 'otime') {
        kv.set('otime', `${tokens[i + 1] ?? ''} ${tokens[i + 2] ?? ''}`)
        i += 3
      } else {
        kv.set(tokens[i]!, tokens[i + 1] ?? '')
        i += 2
      }
    }
    const uuid = uuidOrNull(kv.get('uuid'))
    if (uuid === null) {
      continue
    }
    out.push({
      id: Number(kv.get('ID')),
      gen: Number(kv.get('gen')),
      topLevel: Number(kv.get('top level')),
      otime: kv.get('otime') ?? null,
      parentUuid: uuidOrNull(kv.get('parent_uuid')),
      receivedUuid: uuidOrNull(kv.get('received_uuid')),
      uuid,
      path: line.slice(at + 6),
    })
  }
  return out
}

export interface BtrfsSubvolumeShow {
  readonly name: string
  readonly uuid: string | null
  readonly parentUuid: string | null
  readonly receivedUuid: string | null
  readonly creationTime: string | null
  readonly readonly: boolean
}

/** `btrfs subvolume show <path>`: `Key: value` lines under the path line. */
export function parseSubvolumeShow(stdout: string): BtrfsSubvolumeShow {
  const field = (k: string): string | null => {
    const m = new RegExp(`^\\s*${k}:\\s*(.*)$`, 'm').exec(stdout)
    return m === null ? null : m[1]!.trim()
  }
  return {
    name: field('Name') ?? '',
    uuid: uuidOrNull(field('UUID') ?? undefined),
    parentUuid: uuidOrNull(field('Parent UUID') ?? undefined),
    receivedUuid: uuidOrNull(field('Received UUID') ?? undefined),
    creationTime: field('Creation time'),
    readonly: /\breadonly\b/.test(field('Flags') ?? ''),
  }
}

export interface DeviceStats {
  readonly device: string
  readonly writeIoErrs: number
  readonly readIoErrs: number
  readonly flushIoErrs: number
  readonly corruptionErrs: number
  readonly generationErrs: number
}

const statKeys = {
  write_io_errs: 'writeIoErrs',
  read_io_errs: 'readIoErrs',
  flush_io_errs: 'flushIoErrs',
  corruption_errs: 'corruptionErrs',
  generation_errs: 'generationErrs',
} as const

/** `btrfs --format json device stats <path>` (values are strings in btrfs-progs' JSON). */
export function parseDeviceStatsJson(stdout: string): DeviceStats[] {
  const doc = JSON.parse(stdout) as { 'device-stats'?: Record<string, string>[] }
  return (doc['device-stats'] ?? []).map((d) => ({
    device: d['device'] ?? '?',
    writeIoErrs: Number(d['write_io_errs'] ?? 0),
    readIoErrs: Number(d['read_io_errs'] ?? 0),
    flushIoErrs: Number(d['flush_io_errs'] ?? 0),
    corruptionErrs: Number(d['corruption_errs'] ?? 0),
    generationErrs: Number(d['generation_errs'] ?? 0),
  }))
}

/** `btrfs device stats <path>` text form (`[/dev/x].write_io_errs   0`), for btrfs-progs without JSON. */
export function parseDeviceStatsText(stdout: string): DeviceStats[] {
  const byDev = new Map<string, Record<string, number>>()
  for (const m of stdout.matchAll(/^\[([^\]]+)\]\.(\w+)\s+(\d+)$/gm)) {
    const key = statKeys[m[2] as keyof typeof statKeys]
    if (key !== undefined) {
      byDev.set(m[1]!, { ...(byDev.get(m[1]!) ?? {}), [key]: Number(m[3]) })
    }
  }
  return [...byDev].map(([device, v]) => ({
    device,
    writeIoErrs: v['writeIoErrs'] ?? 0,
    readIoErrs: v['readIoErrs'] ?? 0,
    flushIoErrs: v['flushIoErrs'] ?? 0,
    corruptionErrs: v['corruptionErrs'] ?? 0,
    generationErrs: v['generationErrs'] ?? 0,
  }))
}

export const deviceErrorCount = (d: DeviceStats): number =>
  d.writeIoErrs + d.readIoErrs + d.flushIoErrs + d.corruptionErrs + d.generationErrs

export interface ScrubStatus {
  /** `never` when btrfs has no record of a scrub on this filesystem. */
  readonly status: 'finished' | 'running' | 'aborted' | 'interrupted' | 'never' | 'unknown'
  readonly started: string | null
  readonly errorSummary: string
  readonly ok: boolean
}

/** `btrfs scrub status <path>`. */
export function parseScrubStatus(stdout: string): ScrubStatus {
  const get = (k: string): string | null => new RegExp(`^${k}:\\s*(.*)$`, 'm').exec(stdout)?.[1]?.trim() ?? null
  const s = get('Status')
  const status = /no stats available/.test(stdout)
    ? 'never'
    : s === 'finished' || s === 'running' || s === 'aborted' || s === 'interrupted'
      ? s
      : 'unknown'
  const errorSummary = get('Error summary') ?? ''
  return { status, started: get('Scrub started'), errorSummary, ok: /no errors found/.test(errorSummary) }
}

/** `btrfs property get <path> ro` → `ro=true`. */
export function parseReadonlyProperty(stdout: string): boolean | null {
  const m = /^ro=(true|false)$/m.exec(stdout)
  return m === null ? null : m[1] === 'true'
}

export interface MountInfo {
  readonly target: string
  readonly source: string
  readonly fstype: string
  readonly uuid: string | null
  readonly label: string | null
  /** The subvolume mounted there, relative to the top level (`/` for the top level itself). */
  readonly fsroot: string
}

/** `findmnt -J -l -o TARGET,SOURCE,FSTYPE,UUID,LABEL,FSROOT` (one flat list). */
export function parseFindmnt(stdout: string): MountInfo[] {
  const doc = JSON.parse(stdout) as { filesystems?: Record<string, string | null>[] }
  return (doc.filesystems ?? []).map((f) => ({
    target: f['target'] ?? '',
    // A subvolume mount shows as `/dev/x[/subvol]`: the bracket part is FSROOT.
    source: (f['source'] ?? '').replace(/\[.*\]$/, ''),
    fstype: f['fstype'] ?? '',
    uuid: f['uuid'] ?? null,
    label: f['label'] ?? null,
    fsroot: f['fsroot'] ?? '/',
  }))
}

/** The mount a path lives on: the longest mount target that is a prefix of it. */
export function mountOf(mounts: readonly MountInfo[], path: string): MountInfo | null {
  let best: MountInfo | null = null
  for (const m of mounts) {
    const inside = path === m.target || path.startsWith(m.target === '/' ? '/' : `${m.target}/`)
    if (inside && (best === null || m.target.length > best.target.length)) {
      best = m
    }
  }
  return best
}

/** Maps a top-level-relative `list` path to an absolute path through this mount, or null when not visible. */
export function absolutePath(mount: MountInfo, listPath: string): string | null {
  const root = mount.fsroot.replace(/^\/+|\/+$/g, '')
  if (root === '') {
    return posix.join(mount.target, listPath)
  }
  return listPath === root
    ? mount.target
    : listPath.startsWith(`${root}/`)
      ? posix.join(mount.target, listPath.slice(root.length + 1))
      : null
}
