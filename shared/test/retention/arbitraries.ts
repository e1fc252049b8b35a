import fc from 'fast-check'
import {
  PROMOTION_CLASSES,
  promotionTags,
  resolveRetentionPolicy,
  WEEKDAYS,
  type PromotionClass,
  type RetentionPolicy,
  type RetentionSnapshot,
} from '@backstop/shared'

/**
 * Random histories for the retention properties: zones with DST (and odd offsets), start points right before
 * DST changes, month/year ends, gaps from minutes to months (also 0 = same second), failed and held copies,
 * untagged / randomly tagged / correctly tagged snapshots, and `now` from before the newest copy (clock
 * skew) to a year after it.
 */
export const ZONES = ['UTC', 'Europe/Amsterdam', 'America/New_York', 'Asia/Kolkata', 'Australia/Lord_Howe'] as const

/** Each zone with instants its calendar is awkward at; histories start up to 12 h before one. */
const ANCHORS: ReadonlyArray<readonly [(typeof ZONES)[number], string]> = [
  ['Europe/Amsterdam', '2026-03-29T01:00:00Z'], // spring forward: 02:00 → 03:00, a 23-hour day
  ['Europe/Amsterdam', '2026-10-25T01:00:00Z'], // fall back: 02:00–03:00 twice, a 25-hour day
  ['America/New_York', '2026-03-08T07:00:00Z'],
  ['America/New_York', '2026-11-01T06:00:00Z'],
  ['Australia/Lord_Howe', '2026-04-04T15:00:00Z'], // 30-minute fall back
  ['Australia/Lord_Howe', '2026-10-03T15:30:00Z'],
  ['UTC', '2026-01-01T00:00:00Z'], // year end
  ['Asia/Kolkata', '2026-01-31T18:30:00Z'], // month end at +05:30
]

const MIN = 60_000

const policyArb = (timezone: string): fc.Arbitrary<RetentionPolicy> =>
  fc
    .record({
      last: fc.nat(3),
      hourly: fc.nat(4),
      daily: fc.nat(5),
      weekly: fc.nat(3),
      monthly: fc.nat(3),
      yearly: fc.nat(2),
      weekday: fc.constantFrom(...WEEKDAYS),
      monthDay: fc.integer({ min: 1, max: 28 }),
      yearStart: fc.constantFrom('01-01', '01-01', '04-06', '07-01', '12-31'),
    })
    .map((r) =>
      resolveRetentionPolicy({
        timezone,
        keep: {
          last: r.last,
          hourly: r.hourly,
          daily: r.daily,
          weekly: r.weekly,
          monthly: r.monthly,
          yearly: r.yearly,
        },
        promote: { weekday: r.weekday, monthDay: r.monthDay, yearStart: r.yearStart },
      }),
    )

const gapArb = fc.oneof(
  { weight: 1, arbitrary: fc.constant(0) },
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 180 }) },
  { weight: 4, arbitrary: fc.integer({ min: 60, max: 72 * 60 }) },
  { weight: 2, arbitrary: fc.integer({ min: 24 * 60, max: 60 * 24 * 60 }) },
)

const snapArb = fc.record({
  gap: gapArb,
  successful: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  held: fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  tags: fc.option(fc.subarray([...PROMOTION_CLASSES]), { nil: undefined, freq: 2 }),
})

export type TagMode = 'untagged' | 'random' | 'computed'

export interface History {
  readonly policy: RetentionPolicy
  readonly snapshots: RetentionSnapshot[]
  readonly now: Date
}

/** `long`: 6–20 copies instead of fast-check's small sizes (0–10), for properties about periods. */
export function historyArb(mode?: TagMode, long = false): fc.Arbitrary<History> {
  const start = fc.constantFrom(...ANCHORS).chain(([zone, at]) =>
    fc.record({
      policy: policyArb(zone),
      anchor: fc.constant(Date.parse(at)),
    }),
  )
  return fc
    .record({
      start,
      jitter: fc.integer({ min: -12 * 60, max: 0 }),
      steps: long
        ? fc.array(snapArb, { minLength: 6, maxLength: 20, size: 'max' })
        : fc.array(snapArb, { maxLength: 40 }),
      nowAfter: fc.oneof(fc.integer({ min: -3 * 24 * 60, max: 0 }), fc.integer({ min: 0, max: 400 * 24 * 60 })),
      mode: mode === undefined ? fc.constantFrom<TagMode>('untagged', 'random', 'computed') : fc.constant(mode),
    })
    .map(({ start: { policy, anchor }, jitter, steps, nowAfter, mode: m }) => {
      let t = anchor + jitter * MIN
      let previousOk: Date | null = null
      const snapshots: RetentionSnapshot[] = steps.map((s, i) => {
        t += s.gap * MIN
        const createdAt = new Date(t)
        let tags: readonly PromotionClass[] | undefined = m === 'random' ? s.tags : undefined
        if (m === 'computed') {
          tags = promotionTags(createdAt, policy, previousOk)
        }
        if (s.successful) {
          previousOk = createdAt
        }
        return { id: `s${String(i).padStart(3, '0')}`, createdAt, tags, held: s.held, successful: s.successful }
      })
      return { policy, snapshots, now: new Date(t + nowAfter * MIN) }
    })
}
