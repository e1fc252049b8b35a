import type { LedgerClock } from '../../src/ledger/clock.ts'

/** A manual clock: timers fire only inside advance()/runDue(), in deadline order. */
export function fakeClock(start: number) {
  let now = start
  let nextId = 1
  const timers = new Map<number, { at: number; fn: () => void }>()
  const clock: LedgerClock & { advance(ms: number): void; set(t: number): void; pending(): number[] } = {
    now: () => now,
    setTimer: (fn, delayMs) => {
      const id = nextId++
      timers.set(id, { at: now + Math.max(0, delayMs), fn })
      return id
    },
    clearTimer: (h) => {
      timers.delete(h as number)
    },
    advance(ms) {
      clock.set(now + ms)
    },
    set(t) {
      for (;;) {
        const due = [...timers.entries()].filter(([, v]) => v.at <= t).sort((a, b) => a[1].at - b[1].at)[0]
        if (due === undefined) {
          break
        }
        timers.delete(due[0])
        now = Math.max(now, due[1].at)
        due[1].fn()
      }
      now = t
    },
    pending: () => [...timers.values()].map((v) => v.at).sort((a, b) => a - b),
  }
  return clock
}
