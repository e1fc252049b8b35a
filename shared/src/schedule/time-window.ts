import { DateTime } from 'luxon'
import { BackstopError } from '../errors.ts'

/**
 * A daily time window in an IANA zone (`01:00-05:00`: an offsite link used only at night). Pure: the caller
 * passes `now`. A window may cross midnight (`22:00-02:00`); start == end is refused (it would mean "never" or
 * "always" depending on the reader).
 */
export interface TimeWindow {
  /** Minutes after local midnight, start inclusive, end exclusive. */
  readonly startMin: number
  readonly endMin: number
  readonly timezone: string
  /** As configured, for messages. */
  readonly text: string
}

const FORM = /^([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-4]):([0-5][0-9])$/

/** Parses `HH:MM-HH:MM`; `where` names the config field in the error. */
export function parseTimeWindow(text: string, timezone: string, where: string): TimeWindow {
  const m = FORM.exec(text)
  const bad = (why: string): never => {
    throw new BackstopError(
      'BK_ERR_CONFIG_INVALID',
      `${where}: "${text}" ${why}; expected HH:MM-HH:MM in the job's time zone, e.g. 01:00-05:00 (may cross midnight)`,
    )
  }
  if (m === null) {
    return bad('is not a time window')
  }
  const startMin = Number(m[1]) * 60 + Number(m[2])
  const endMin = Number(m[3]) * 60 + Number(m[4])
  if (endMin > 24 * 60) {
    bad('ends after 24:00')
  }
  if (startMin === endMin % (24 * 60)) {
    bad('starts where it ends')
  }
  return { startMin, endMin, timezone, text }
}

function minuteOfDay(w: TimeWindow, now: Date): number {
  const local = DateTime.fromJSDate(now, { zone: w.timezone })
  return local.hour * 60 + local.minute
}

export function inTimeWindow(w: TimeWindow, now: Date): boolean {
  const m = minuteOfDay(w, now)
  return w.startMin < w.endMin ? m >= w.startMin && m < w.endMin : m >= w.startMin || m < w.endMin
}

/** The next instant the window opens after `now` (now itself when it opens this minute). */
export function nextWindowStart(w: TimeWindow, now: Date): Date {
  const local = DateTime.fromJSDate(now, { zone: w.timezone })
  let start = local.startOf('day').plus({ minutes: w.startMin })
  if (start < local.startOf('minute')) {
    start = start.plus({ days: 1 })
  }
  return start.toJSDate()
}
