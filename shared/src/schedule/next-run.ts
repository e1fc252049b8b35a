import { Cron } from 'croner'
import { BackstopError } from '../errors.ts'

/**
 * Pure schedule arithmetic over cron expressions in an IANA time zone (croner; no timers are started because
 * no callback is ever given). The agent's scheduler owns the only timer and asks these functions what is due.
 */
export interface Schedule {
  readonly cron: string
  readonly timezone: string
}

function build(s: Schedule): Cron {
  try {
    return new Cron(s.cron, { timezone: s.timezone, paused: true })
  } catch (e) {
    throw new BackstopError('BK_ERR_SCHEDULE_INVALID', `"${s.cron}" in ${s.timezone}: ${(e as Error).message}`)
  }
}

/** Throws BK_ERR_SCHEDULE_INVALID for a bad expression or an unknown time zone. */
export function validateSchedule(s: Schedule): void {
  if (!isValidTimeZone(s.timezone)) {
    throw new BackstopError(
      'BK_ERR_SCHEDULE_INVALID',
      `unknown IANA time zone "${s.timezone}" (e.g. "Europe/Amsterdam", "UTC")`,
    )
  }
  const c = build(s)
  if (c.nextRun(new Date(0)) === null) {
    throw new BackstopError('BK_ERR_SCHEDULE_INVALID', `"${s.cron}" never fires`)
  }
}

/** The first slot strictly after `after`, or null if the expression never fires again. */
export function nextRunAfter(s: Schedule, after: Date): Date | null {
  return build(s).nextRun(after)
}

/**
 * The most recent slot in (since, now], if any: a run that was due while the agent was down. Only the newest
 * missed slot is returned — catching up means one run, not one per missed slot.
 */
export function missedSlot(s: Schedule, since: Date, now: Date): Date | null {
  if (now <= since) {
    return null
  }
  const c = build(s)
  const prev = c.previousRuns(1, new Date(now.getTime() + 1))[0]
  if (prev === undefined || prev <= since) {
    return null
  }
  return prev
}

export function isValidTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz })
    return true
  } catch {
    return false
  }
}
