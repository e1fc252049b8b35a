/** Agent config `outbox.keep` (docs/reliability.md "Outbox retention"), resolved. */
export interface KeepBounds {
  /** Kept bytes above this are released oldest first, covered or not. */
  readonly maxBytes: number
  /** Kept records older than this (by their event time) are released, covered or not. */
  readonly maxAgeMs: number
  /** Kept records older than this raise `outbox-backlog` (so do kept bytes above 80 % of maxBytes). */
  readonly alertAfterMs: number
}

export interface KeptRecord {
  readonly seq: number
  readonly bytes: number
  /** Event time, epoch ms. */
  readonly at: number
}

/**
 * Pure: the highest seq that must be released so the kept records (in seq order, totalling `keptBytes`) fit the
 * bounds at `nowMs`; 0 when they fit. Release is a prefix in seq order: the oldest go first.
 */
export function forcedReleaseThrough(
  kept: readonly KeptRecord[],
  keptBytes: number,
  bounds: KeepBounds,
  nowMs: number,
): number {
  let bytes = keptBytes
  let through = 0
  for (const r of kept) {
    if (bytes <= bounds.maxBytes && nowMs - r.at <= bounds.maxAgeMs) {
      break
    }
    bytes -= r.bytes
    through = r.seq
  }
  return through
}

/** Pure: whether the outbox keeps more than the alert threshold. */
export function isBacklog(oldestAt: number | null, keptBytes: number, bounds: KeepBounds, nowMs: number): boolean {
  return (oldestAt !== null && nowMs - oldestAt > bounds.alertAfterMs) || keptBytes > bounds.maxBytes * 0.8
}
