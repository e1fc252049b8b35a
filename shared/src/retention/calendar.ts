import { IANAZone } from 'luxon'
import type { RetentionPolicy, Weekday } from './policy.ts'

/** The calendar classes a snapshot can be promoted to, shortest period first. */
export const PROMOTION_CLASSES = ['hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const
export type PromotionClass = (typeof PROMOTION_CLASSES)[number]

/** Per class, the label of the calendar period an instant falls in (the label is also the period's identity). */
export type CalendarPeriods = Record<PromotionClass, string>

const JS_WEEKDAY: Record<Weekday, number> = {
  sunday: 0,
  monday: 1,
  tuesday: 2,
  wednesday: 3,
  thursday: 4,
  friday: 5,
  saturday: 6,
}

/**
 * The periods `createdAt` belongs to in the policy's zone. Only the UTC offset comes from the zone database
 * (luxon); everything after that is plain calendar arithmetic on the local wall-clock date, so a 23- or
 * 25-hour DST day is still exactly one day, and the repeated hour at fall-back is two distinct hours
 * (their labels differ by offset: `…T02:00+02:00` and `…T02:00+01:00`).
 *
 * Labels: hourly `2026-03-29T03:00+02:00`, daily `2026-11-20`, weekly = the week's first date
 * `2026-11-15`, monthly `2026-11` (or its first date when `monthDay` ≠ 1), yearly `2026` (or its first
 * date when `yearStart` ≠ 01-01).
 */
export function calendarPeriods(createdAt: Date, policy: RetentionPolicy): CalendarPeriods {
  const ms = createdAt.getTime()
  const offsetMin = utcOffsetMinutes(policy.timezone, ms)
  // A Date whose UTC fields read as the local wall clock; never interpreted as an instant again.
  const wall = new Date(ms + offsetMin * 60_000)
  const y = wall.getUTCFullYear()
  const m = wall.getUTCMonth() + 1
  const d = wall.getUTCDate()
  const { weekday, monthDay, yearStart } = policy.promote

  const back = (wall.getUTCDay() - JS_WEEKDAY[weekday] + 7) % 7
  const monthStart = d >= monthDay ? civil(y, m, monthDay) : civil(y, m - 1, monthDay)
  const inYear = m > yearStart.month || (m === yearStart.month && d >= yearStart.day)
  const yearFrom = inYear ? y : y - 1

  return {
    hourly: `${ymd(y, m, d)}T${p2(wall.getUTCHours())}:00${offsetText(offsetMin)}`,
    daily: ymd(y, m, d),
    weekly: civil(y, m, d - back),
    monthly: monthDay === 1 ? monthStart.slice(0, 7) : monthStart,
    yearly:
      yearStart.month === 1 && yearStart.day === 1 ? pad4(yearFrom) : civil(yearFrom, yearStart.month, yearStart.day),
  }
}

const SLOT_MS = 15 * 60_000
const MAX_CACHED = 100_000
const offsetCache = new Map<string, number>()

/**
 * luxon's zone offset costs ~15 µs (an Intl formatToParts), and a prune plans the same snapshots every run.
 * Memoised per zone and 15-minute UTC slot, but only for slots whose first and last millisecond have the same
 * offset: no zone changes its offset twice within 15 minutes, so the offset is then constant throughout. A
 * slot that contains a transition is computed exactly every time. Bounded: cleared when it grows too large.
 */
function utcOffsetMinutes(timezone: string, ms: number): number {
  const slot = Math.floor(ms / SLOT_MS)
  const key = `${timezone} ${slot}`
  const hit = offsetCache.get(key)
  if (hit !== undefined) {
    return hit
  }
  const zone = IANAZone.create(timezone)
  const start = zone.offset(slot * SLOT_MS)
  if (start !== zone.offset(slot * SLOT_MS + SLOT_MS - 1)) {
    return zone.offset(ms)
  }
  if (offsetCache.size >= MAX_CACHED) {
    offsetCache.clear()
  }
  offsetCache.set(key, start)
  return start
}

/**
 * `YYYY-MM-DD` of a proleptic Gregorian date; out-of-range parts roll over (day 0 = last day of the previous month).
 */
function civil(y: number, m: number, d: number): string {
  const t = new Date(0)
  t.setUTCFullYear(y, m - 1, d)
  return ymd(t.getUTCFullYear(), t.getUTCMonth() + 1, t.getUTCDate())
}

function ymd(y: number, m: number, d: number): string {
  return `${pad4(y)}-${p2(m)}-${p2(d)}`
}

function offsetText(min: number): string {
  const sign = min < 0 ? '-' : '+'
  const a = Math.abs(min)
  return `${sign}${p2(Math.floor(a / 60))}:${p2(a % 60)}`
}

function p2(n: number): string {
  return String(n).padStart(2, '0')
}

function pad4(n: number): string {
  return String(n).padStart(4, '0')
}
