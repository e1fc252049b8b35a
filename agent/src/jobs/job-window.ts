import { DateTime } from 'luxon'
import {
  BackstopError,
  inTimeWindow,
  nextRunAfter,
  parseTimeWindow,
  validateSchedule,
  type Schedule,
  type TimeWindow,
} from '@backstop/shared'
import type { ResolvedCommonJob } from './common-config.ts'

/** Any fixed day: the schedule/window check walks the slots after it (the result must not depend on today). */
const REFERENCE_DAY = '2026-01-05T00:00:00Z'

function isValid(schedule: Schedule): boolean {
  try {
    validateSchedule(schedule)
    return true
  } catch {
    return false
  }
}

/** How many of the schedule's next slots are checked against the window (a week of hourly slots and more). */
const SLOTS_CHECKED = 200

/**
 * `window:` of a job whose every run uses the remote link (restic, zfs-pull). A slot outside the window would be a
 * run that never copies while the collector expects a copy from it: a schedule that leaves the window is a config
 * error naming the first such slot.
 */
export function resolveJobWindow(
  text: string | undefined,
  common: ResolvedCommonJob,
  tz: string,
  where: string,
): TimeWindow | undefined {
  if (text === undefined) {
    return undefined
  }
  const window = parseTimeWindow(text, tz, `${where}.window`)
  const schedule = common.schedule
  if (schedule === null || !isValid(schedule)) {
    // No slots to check; an invalid schedule is reported by the schedule's own check.
    return window
  }
  let at = new Date(REFERENCE_DAY)
  for (let i = 0; i < SLOTS_CHECKED; i++) {
    const slot = nextRunAfter(schedule, at)
    if (slot === null) {
      break
    }
    if (!inTimeWindow(window, slot)) {
      const local = DateTime.fromJSDate(slot, { zone: schedule.timezone }).toFormat('HH:mm')
      throw new BackstopError(
        'BK_ERR_CONFIG_INVALID',
        `${where}.schedule: "${schedule.cron}" fires at ${local}, outside window ${text} (${schedule.timezone}); ` +
          'make every slot fall inside it (e.g. "0 2 * * *" for 01:00-05:00) or widen the window',
      )
    }
    at = slot
  }
  return window
}
