import type { CalendarPeriods, PromotionClass } from './calendar.ts'

export interface RetentionSnapshot {
  readonly id: string
  readonly createdAt: Date
  /** Classes stored at creation (`promotionTags`); undefined = untagged → oldest in each calendar period. */
  readonly tags?: readonly PromotionClass[] | undefined
  /** Held / immutable (zfs hold, read-only by policy, …): never destroyed. */
  readonly held: boolean
  /** Complete and verified; only successful copies fill rules or justify deleting older copies. */
  readonly successful: boolean
}

/** A snapshot the rules may pick: successful and not newer than `now`, with its periods precomputed. */
export interface Candidate {
  readonly snap: RetentionSnapshot
  readonly ms: number
  readonly periods: CalendarPeriods
}

/**
 * The one total order every rule uses: creation instant, then id. Ties on the instant are broken the same
 * way everywhere, so "newest" and "oldest" are unambiguous and planning is deterministic.
 */
export function compareCandidates(a: Candidate, b: Candidate): number {
  return a.ms - b.ms || (a.snap.id < b.snap.id ? -1 : a.snap.id > b.snap.id ? 1 : 0)
}

/**
 * zrepl's structure: each rule only says which snapshots it keeps and why; nothing is destroyed by a rule.
 * `newestFirst` is sorted by `compareCandidates`, descending.
 */
export type KeepRule = (newestFirst: readonly Candidate[]) => ReadonlyMap<string, string>

/** `last(n)`: the n newest successful snapshots, calendar-blind (restic `--keep-last`). */
export function keepLast(n: number): KeepRule {
  return (newestFirst) => new Map(newestFirst.slice(0, n).map((c) => [c.snap.id, `last(${n})`]))
}

/**
 * `daily(30): 2026-11-20` etc.: the n most recent periods of `cls` that contain a successful snapshot each
 * keep one representative — the oldest snapshot tagged with `cls` at creation or, when no snapshot in the
 * period carries that tag (untagged history, a replica that missed the tagged one, a changed zone), the
 * oldest snapshot of the period. Periods of one class never overlap, so ordering them by their
 * representative orders them in time.
 */
export function keepPeriodic(cls: PromotionClass, n: number): KeepRule {
  return (newestFirst) => {
    if (n === 0) {
      return new Map()
    }
    const reps = new Map<string, { rep: Candidate; tagged: boolean }>()
    // Walking newest → oldest, the last write per period is its oldest member of the preferred kind.
    for (const c of newestFirst) {
      const label = c.periods[cls]
      const tagged = c.snap.tags?.includes(cls) === true
      const cur = reps.get(label)
      if (cur === undefined || tagged || !cur.tagged) {
        reps.set(label, { rep: c, tagged })
      }
    }
    const kept = new Map<string, string>()
    const ordered = [...reps.entries()].sort((a, b) => compareCandidates(b[1].rep, a[1].rep)).slice(0, n)
    for (const [label, { rep }] of ordered) {
      kept.set(rep.snap.id, `${cls}(${n}): ${label}`)
    }
    return kept
  }
}
