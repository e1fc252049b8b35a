import {
  encodePromotionTags,
  parsePromotionTags,
  parseSnapshotTimestamp,
  planRetention,
  snapshotTimestamp,
  type PromotionClass,
  type RetentionDecision,
  type RetentionPolicy,
} from '@backstop/shared'
import type { PlanLine } from '../job.ts'

/**
 * The bridge between a snapshot job and the shared retention engine: which names are ours, what the engine
 * is told about each, and how its decisions become plan lines. A name that does not match exactly
 * `<prefix>_<UTC timestamp>` (plus the kind's suffix) is not ours: it is never passed to the engine and so is
 * never touched.
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

/** One of our snapshots on one location, as the engine needs it. */
export interface OwnedSnapshot {
  /** Unique on its location (full ZFS name / absolute btrfs path). */
  readonly id: string
  /** As shown to people (`tank/data@backstop_20261122T014500Z`). */
  readonly name: string
  readonly createdAt: Date
  readonly tags: readonly PromotionClass[] | undefined
  readonly held: boolean
  /** Complete and intact (read-only, guid matches …); only these justify deleting older ones. */
  readonly successful: boolean
}

export interface SnapshotPlan {
  readonly keep: readonly OwnedSnapshot[]
  readonly destroy: readonly { readonly snap: OwnedSnapshot; readonly rule: string }[]
  readonly lines: readonly PlanLine[]
}

/** Plans one location's snapshots of one asset; `location` labels the plan lines. */
export function planSnapshots(
  snaps: readonly OwnedSnapshot[],
  policy: RetentionPolicy,
  now: Date,
  location: string,
): SnapshotPlan {
  const decisions = planRetention(
    snaps.map((s) => ({ id: s.id, createdAt: s.createdAt, tags: s.tags, held: s.held, successful: s.successful })),
    policy,
    now,
  )
  const byId = new Map(snaps.map((s) => [s.id, s]))
  const keep: OwnedSnapshot[] = []
  const destroy: { snap: OwnedSnapshot; rule: string }[] = []
  const lines: PlanLine[] = []
  for (const d of decisions) {
    const snap = byId.get(d.id)
    if (snap === undefined) {
      continue
    }
    lines.push({
      location,
      name: snap.name,
      createdAt: snap.createdAt.toISOString(),
      action: d.action,
      reasons: d.reasons,
    })
    if (d.action === 'destroy') {
      destroy.push({ snap, rule: ruleText(d) })
    } else {
      keep.push(snap)
    }
  }
  return { keep, destroy, lines }
}

/** The DeletedCopy `rule` (≤ 256 chars): the engine's reason, trimmed. */
function ruleText(d: RetentionDecision): string {
  return d.reasons.join('; ').slice(0, 256)
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
