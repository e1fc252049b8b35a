import { calendarPeriods, PROMOTION_CLASSES, type PromotionClass } from './calendar.ts'
import { assertComputablePolicy, type RetentionPolicy } from './policy.ts'

/**
 * Promotion classes to store with a snapshot when it is created (sanoid's tag-at-creation model, the only
 * one that gives a calendar-exact "1st of month" and "Jan 1" copy): a class is tagged when this snapshot is
 * the first of its calendar period, i.e. `previous` — the creation time of the newest earlier successful
 * snapshot of the same job on the same target — lies in another period of that class.
 *
 * Catch-up is deliberate: if the node was off on the 1st, the first snapshot after it is the month's
 * monthly (like sanoid's catch-up). Without `previous` (first snapshot ever, or a caller that does not know)
 * every class is tagged, which makes planning pick the oldest snapshot of each period — the same result as
 * untagged snapshots — so omitting it is safe, only less robust against later zone/policy changes.
 * All classes are tagged regardless of their keep counts, so raising a count later finds its candidates.
 */
export function promotionTags(createdAt: Date, policy: RetentionPolicy, previous?: Date | null): PromotionClass[] {
  assertComputablePolicy(policy)
  assertDate(createdAt, 'createdAt')
  if (previous === undefined || previous === null) {
    return [...PROMOTION_CLASSES]
  }
  assertDate(previous, 'previous')
  if (previous.getTime() >= createdAt.getTime()) {
    // Out-of-order input: this snapshot is not the first of anything we can tell; stay conservative.
    return [...PROMOTION_CLASSES]
  }
  const now = calendarPeriods(createdAt, policy)
  const before = calendarPeriods(previous, policy)
  return PROMOTION_CLASSES.filter((c) => now[c] !== before[c])
}

const LETTER: Record<PromotionClass, string> = { hourly: 'h', daily: 'd', weekly: 'w', monthly: 'm', yearly: 'y' }
const NONE = '-'

/**
 * Compact, canonical form for a ZFS user property or a btrfs name suffix: letters in class order
 * (`hdwmy`), e.g. `hd` for hourly+daily; `-` for "tagged with nothing" (distinct from an absent tag, which
 * means "untagged → oldest in period").
 */
export function encodePromotionTags(tags: readonly PromotionClass[]): string {
  const s = PROMOTION_CLASSES.filter((c) => tags.includes(c))
    .map((c) => LETTER[c])
    .join('')
  return s === '' ? NONE : s
}

const TAGS_PATTERN = /^(-|h?d?w?m?y?)$/

/**
 * Inverse of `encodePromotionTags`. Anything else (empty, unknown letters, wrong order, repeats) gives
 * `undefined`: the snapshot is then treated as untagged, which is always safe.
 */
export function parsePromotionTags(s: string): PromotionClass[] | undefined {
  if (s === '' || !TAGS_PATTERN.test(s)) {
    return undefined
  }
  return s === NONE ? [] : PROMOTION_CLASSES.filter((c) => s.includes(LETTER[c]))
}

function assertDate(d: Date, name: string): void {
  if (!(d instanceof Date) || !Number.isFinite(d.getTime())) {
    throw new RangeError(`promotionTags: ${name} is not a valid Date`)
  }
}
