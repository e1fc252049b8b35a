import { MAX_TIMER_MS, type Clock } from '../../collector/src/time/clock.ts'

/**
 * The collector's clock for a scenario that needs hours to pass: the wall clock plus an offset that only moves
 * forward. `jumpTo(t)` moves it; timers due by then fire at once, the others re-arm for what is left. The agents
 * keep the real clock: a scenario jumps only across a stretch in which they are not meant to do anything.
 */
export interface JumpingClock extends Clock {
  jumpTo(t: number): void
}

export function jumpingClock(): JumpingClock {
  let offset = 0
  interface Timer {
    readonly at: number
    readonly fn: () => void
    t?: ReturnType<typeof setTimeout>
  }
  const timers = new Set<Timer>()
  const now = (): number => Date.now() + offset
  const arm = (h: Timer): void => {
    h.t = setTimeout(
      () => {
        if (now() < h.at) {
          arm(h)
          return
        }
        timers.delete(h)
        h.fn()
      },
      Math.min(Math.max(0, h.at - now()), MAX_TIMER_MS),
    )
    h.t.unref()
  }
  return {
    now,
    setTimer(fn, delayMs) {
      const h: Timer = { at: now() + delayMs, fn }
      timers.add(h)
      arm(h)
      return h
    },
    clearTimer(h) {
      clearTimeout((h as Timer).t)
      timers.delete(h as Timer)
    },
    jumpTo(t) {
      offset += Math.max(0, t - now())
      for (const h of timers) {
        clearTimeout(h.t)
        arm(h)
      }
    },
  }
}
