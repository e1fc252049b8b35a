import { inTimeWindow, missedSlot, nextWindowStart, type Schedule, type TimeWindow } from '@backstop/shared'
import type { RunReport } from './report.ts'

/**
 * A target with a time window (`window: 01:00-05:00`) is attempted only by runs inside it; outside, the run says
 * so and goes on (local snapshots and pruning; the target's base stays held), and the first run inside sends
 * everything missing. True when the target is to be skipped now.
 */
export function outsideWindow(
  target: { readonly name: string; readonly window?: TimeWindow },
  now: Date,
  report: RunReport,
): boolean {
  const closed = windowClosed(target.window, now)
  if (closed !== null) {
    report.warnings.push(`target ${target.name}: ${closed} sends everything missing`)
  }
  return closed !== null
}

/** Null inside the window (or without one); else "outside its window … the next run from <start>", to be ended. */
export function windowClosed(w: TimeWindow | undefined, now: Date): string | null {
  if (w === undefined || inTimeWindow(w, now)) {
    return null
  }
  const opens = nextWindowStart(w, now).toISOString()
  return `outside its window ${w.text} (${w.timezone}), not attempted; the next run from ${opens}`
}

/**
 * A target with its own `schedule:` gets new snapshots only when one of its slots has passed since the newest
 * snapshot it already holds (`newestHeld`, null when it holds none: due). Stateless: the target's own contents say
 * when it was last fed, so a slot missed while the node was off is caught up by the next run. Not being due is the
 * normal state between slots, so it is no warning. True when not due.
 */
export function notDue(target: { readonly schedule?: Schedule }, newestHeld: Date | null, now: Date): boolean {
  const s = target.schedule
  return s !== undefined && newestHeld !== null && missedSlot(s, newestHeld, now) === null
}
