import {
  encodePromotionTags,
  parsePromotionTags,
  parseSnapshotTimestamp,
  snapshotTimestamp,
  type PromotionClass,
} from '@backstop/shared'

/**
 * Snapshot names the ZFS and Btrfs jobs own. A name that does not match exactly `<prefix>_<UTC timestamp>` (plus
 * the kind's suffix) is not ours: it is never passed to the retention engine (jobs/retention.ts) and so is never
 * touched.
 */
export function snapshotBaseName(prefix: string, at: Date): string {
  return `${prefix}_${snapshotTimestamp(at)}`
}

/**
 * `<prefix>_<UTC timestamp>_<promotion tags>`, e.g. `backstop_20261122T014500Z_dwm` (`-` = tagged with
 * nothing). The tags ride in the name on ZFS as on btrfs: a user property on every snapshot made zfs-fuse list
 * snapshots about 3× slower (measured, docs/benchmarks.md), and a name survives send/receive unchanged.
 */
export function taggedSnapshotName(prefix: string, at: Date, tags: readonly PromotionClass[]): string {
  return `${snapshotBaseName(prefix, at)}_${encodePromotionTags(tags)}`
}

/** Creation instant and tags from a tagged name, or null when the name is not exactly ours. */
export function parseTaggedSnapshotName(
  prefix: string,
  name: string,
): { createdAt: Date; tags: PromotionClass[] | undefined } | null {
  const head = `${prefix}_`
  if (!name.startsWith(head)) {
    return null
  }
  const m = /^(\d{8}T\d{6}Z)_([-a-z]+)$/.exec(name.slice(head.length))
  const createdAt = m === null ? null : parseSnapshotTimestamp(m[1]!)
  return createdAt === null ? null : { createdAt, tags: parsePromotionTags(m![2]!) }
}

/** The newest of `dates` strictly before `before`, for promotion tagging. */
export function newestBefore(dates: readonly Date[], before: Date): Date | null {
  let best: Date | null = null
  for (const d of dates) {
    if (d.getTime() < before.getTime() && (best === null || d.getTime() > best.getTime())) {
      best = d
    }
  }
  return best
}
