/**
 * The collector's one time seam: every "now" (epoch milliseconds) and the few timers (ledger deadlines, notifier
 * retries, telemetry flushes) go through a Clock that main.ts creates once, so tests drive time with a fake clock
 * instead of sleeping.
 */
export interface Clock {
  now(): number
  setTimer(fn: () => void, delayMs: number): unknown
  clearTimer(handle: unknown): void
}

/** setTimeout caps at 2^31-1 ms (~24.8 days); a longer wait re-arms on the way. */
export const MAX_TIMER_MS = 2_147_483_647

/** Wall-clock time; timers are unref'd so a pending deadline never keeps a stopping process alive. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer: (fn, delayMs) => {
    const t = setTimeout(fn, Math.min(Math.max(0, delayMs), MAX_TIMER_MS))
    t.unref()
    return t
  },
  clearTimer: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
}

/** For modules whose timestamps are Date objects (the broker's CONNECT window, ingest receipt times). */
export function dateOf(clock: Pick<Clock, 'now'>): () => Date {
  return () => new Date(clock.now())
}
