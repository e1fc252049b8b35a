import { IANAZone } from 'luxon'
import Type, { type Static } from 'typebox'
import { BackstopError } from '../errors.ts'

/**
 * The calendar GFS retention policy a snapshot/backup job carries (`retention:` in the agent config).
 * Counts are "the N most recent calendar periods that have a successful snapshot" (restic/PBS style, so a
 * node that was off for two weeks does not lose two weeks of dailies); 0 turns a class off.
 * docs/retention.md has the exact semantics.
 */
export const WEEKDAYS = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'] as const
export type Weekday = (typeof WEEKDAYS)[number]

const Count = (description: string): ReturnType<typeof Type.Integer> =>
  Type.Integer({ minimum: 0, maximum: 100000, description })

export const RetentionPolicyInput = Type.Object(
  {
    /** IANA zone whose calendar defines hours/days/weeks/months/years. Default: the agent's `timezone`. */
    timezone: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    keep: Type.Optional(
      Type.Object(
        {
          last: Type.Optional(Count('newest successful snapshots kept regardless of calendar (default 1)')),
          hourly: Type.Optional(Count('local clock hours, first snapshot of each (default 0)')),
          daily: Type.Optional(Count('local days, first snapshot of each (default 30)')),
          weekly: Type.Optional(Count('weeks starting on promote.weekday, first snapshot of each (default 12)')),
          monthly: Type.Optional(Count('months starting on promote.monthDay, first snapshot of each (default 12)')),
          yearly: Type.Optional(Count('years starting on promote.yearStart, first snapshot of each (default 7)')),
        },
        { additionalProperties: false },
      ),
    ),
    promote: Type.Optional(
      Type.Object(
        {
          /** The day a week starts: its first snapshot is the weekly. Default sunday. */
          weekday: Type.Optional(Type.Enum(WEEKDAYS)),
          /** The day of the month a month starts (1–28, so every month has it). Default 1. */
          monthDay: Type.Optional(Type.Integer({ minimum: 1, maximum: 28 })),
          /** "MM-DD" a year starts. Default "01-01". Feb 29 is refused (not every year has it). */
          yearStart: Type.Optional(Type.String({ pattern: '^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$' })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
)
export type RetentionPolicyInput = Static<typeof RetentionPolicyInput>

export interface RetentionKeep {
  readonly last: number
  readonly hourly: number
  readonly daily: number
  readonly weekly: number
  readonly monthly: number
  readonly yearly: number
}

export interface RetentionPolicy {
  readonly timezone: string
  readonly keep: RetentionKeep
  readonly promote: {
    readonly weekday: Weekday
    readonly monthDay: number
    readonly yearStart: { readonly month: number; readonly day: number }
  }
}

export const DEFAULT_KEEP: RetentionKeep = { last: 1, hourly: 0, daily: 30, weekly: 12, monthly: 12, yearly: 7 }

/** Keeps only the newest `n` successful copies: the calendar classes off (archive and rear defaults). */
export function keepLastOnly(n: number): RetentionKeep {
  return { last: n, hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0 }
}

/**
 * Defaults resolved once; `defaultTimezone` is the agent-wide zone. `defaults` are the counts an omitted key takes
 * (a job kind may have its own, e.g. keepLastOnly(2) on a small USB stick). Validate with `retentionPolicyIssues`.
 */
export function resolveRetentionPolicy(
  input: RetentionPolicyInput | undefined,
  defaultTimezone = 'UTC',
  defaults: RetentionKeep = DEFAULT_KEEP,
): RetentionPolicy {
  const keep = input?.keep ?? {}
  const promote = input?.promote ?? {}
  const [month, day] = (promote.yearStart ?? '01-01').split('-').map(Number) as [number, number]
  return {
    timezone: input?.timezone ?? defaultTimezone,
    keep: {
      last: keep.last ?? defaults.last,
      hourly: keep.hourly ?? defaults.hourly,
      daily: keep.daily ?? defaults.daily,
      weekly: keep.weekly ?? defaults.weekly,
      monthly: keep.monthly ?? defaults.monthly,
      yearly: keep.yearly ?? defaults.yearly,
    },
    promote: { weekday: promote.weekday ?? 'sunday', monthDay: promote.monthDay ?? 1, yearStart: { month, day } },
  }
}

export interface RetentionPolicyIssue {
  /** Path inside the policy object, e.g. `['keep']` or `['promote', 'yearStart']` (configcheck adds the prefix). */
  readonly path: readonly string[]
  readonly message: string
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

/** Issues that make a policy unusable: a broken calendar (`structural`) or one that keeps nothing. */
export function retentionPolicyIssues(policy: RetentionPolicy): RetentionPolicyIssue[] {
  const issues = structuralIssues(policy)
  const k = policy.keep
  if (k.last + k.hourly + k.daily + k.weekly + k.monthly + k.yearly === 0) {
    issues.push({
      path: ['keep'],
      message:
        'every keep count is 0, so every snapshot but the newest would be deleted; ' +
        'set at least one of keep.last, hourly, daily, weekly, monthly, yearly above 0 (e.g. daily: 30)',
    })
  }
  return issues
}

// Zone validity cannot change within a process (the zone database is compiled into ICU), and checking builds
// an Intl.DateTimeFormat (~50 µs): remember the answer, since the engine checks on every call.
const zoneValidity = new Map<string, boolean>()
function isKnownZone(zone: string): boolean {
  let ok = zoneValidity.get(zone)
  if (ok === undefined) {
    ok = IANAZone.isValidZone(zone)
    zoneValidity.set(zone, ok)
  }
  return ok
}

function structuralIssues(policy: RetentionPolicy): RetentionPolicyIssue[] {
  const issues: RetentionPolicyIssue[] = []
  if (!isKnownZone(policy.timezone)) {
    issues.push({
      path: ['timezone'],
      message: `unknown IANA time zone "${policy.timezone}" (e.g. "UTC", "Europe/Amsterdam")`,
    })
  }
  const { month, day } = policy.promote.yearStart
  if (
    !Number.isInteger(month) ||
    month < 1 ||
    month > 12 ||
    !Number.isInteger(day) ||
    day < 1 ||
    day > (DAYS_IN_MONTH[month - 1] ?? 0)
  ) {
    issues.push({
      path: ['promote', 'yearStart'],
      message: `"${month}-${day}" is not a day every year has; use "MM-DD" such as "01-01"`,
    })
  }
  const md = policy.promote.monthDay
  if (!Number.isInteger(md) || md < 1 || md > 28) {
    issues.push({ path: ['promote', 'monthDay'], message: `${md} is not a day every month has; use 1–28` })
  }
  if (!WEEKDAYS.includes(policy.promote.weekday)) {
    issues.push({
      path: ['promote', 'weekday'],
      message: `"${policy.promote.weekday}" is not one of ${WEEKDAYS.join(', ')}`,
    })
  }
  for (const [name, n] of Object.entries(policy.keep)) {
    if (!Number.isInteger(n) || n < 0) {
      issues.push({ path: ['keep', name], message: `${n} is not a count; use a whole number ≥ 0` })
    }
  }
  return issues
}

/** Throws BK_ERR_CONFIG_INVALID listing every issue (including "would delete everything"); configcheck's entry. */
export function assertValidRetentionPolicy(policy: RetentionPolicy, where = 'retention'): void {
  throwIssues(retentionPolicyIssues(policy), where)
}

/**
 * The engine refuses only a policy whose calendar it cannot compute. An all-zero policy is still planned
 * safely (the newest successful copy is always kept); refusing it is configcheck's job.
 */
export function assertComputablePolicy(policy: RetentionPolicy): void {
  throwIssues(structuralIssues(policy), 'retention')
}

function throwIssues(issues: RetentionPolicyIssue[], where: string): void {
  if (issues.length > 0) {
    const text = issues.map((i) => `${[where, ...i.path].join('.')}: ${i.message}`).join('; ')
    throw new BackstopError('BK_ERR_CONFIG_INVALID', text)
  }
}

const ORDINAL = (n: number): string =>
  `${n}${n % 10 === 1 && n !== 11 ? 'st' : n % 10 === 2 && n !== 12 ? 'nd' : n % 10 === 3 && n !== 13 ? 'rd' : 'th'}`
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']

/**
 * One line for plan output and logs, e.g.
 * `last 1, daily 30, weekly 12 (from sunday), monthly 12 (from the 1st), yearly 7 (from Jan 1) in Europe/Amsterdam`.
 * Classes with count 0 are left out.
 */
export function describeRetentionPolicy(policy: RetentionPolicy): string {
  const { keep, promote } = policy
  const parts: string[] = []
  const add = (n: number, text: string): void => {
    if (n > 0) {
      parts.push(text)
    }
  }
  add(keep.last, `last ${keep.last}`)
  add(keep.hourly, `hourly ${keep.hourly}`)
  add(keep.daily, `daily ${keep.daily}`)
  add(keep.weekly, `weekly ${keep.weekly} (from ${promote.weekday})`)
  add(keep.monthly, `monthly ${keep.monthly} (from the ${ORDINAL(promote.monthDay)})`)
  add(
    keep.yearly,
    `yearly ${keep.yearly} (from ${MONTHS[promote.yearStart.month - 1] ?? '?'} ${promote.yearStart.day})`,
  )
  return `${parts.length > 0 ? parts.join(', ') : 'nothing but the newest copy'} in ${policy.timezone}`
}
