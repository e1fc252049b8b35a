/**
 * The ledger's time seam: the deadline scheduler's one timer and every "now" go through here, so tests drive
 * missed-backup detection with a fake clock instead of sleeping.
 */
export interface LedgerClock {
  now(): number
  setTimer(fn: () => void, delayMs: number): unknown
  clearTimer(handle: unknown): void
}

/** setTimeout caps at 2^31-1 ms (~24.8 days); a longer wait re-arms on the way. */
export const MAX_TIMER_MS = 2_147_483_647

export const systemLedgerClock: LedgerClock = {
  now: () => Date.now(),
  setTimer: (fn, delayMs) => {
    const t = setTimeout(fn, Math.min(Math.max(0, delayMs), MAX_TIMER_MS))
    t.unref()
    return t
  },
  clearTimer: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
}
