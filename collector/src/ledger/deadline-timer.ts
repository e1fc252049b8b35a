import type { LedgerClock } from './clock.ts'

/**
 * The ledger's one timer, armed for the earliest deadline (expectation alert_after, verdict expiry, heartbeat
 * timeout). `arm()` after every pass; re-arming for the same deadline keeps the timer that is already set.
 */
export function createDeadlineTimer(clock: LedgerClock, nextDeadline: () => number | null, onDue: () => void) {
  let timer: unknown = null
  let armedFor: number | null = null
  let stopped = true

  const clear = (): void => {
    if (timer !== null) {
      clock.clearTimer(timer)
      timer = null
    }
  }
  const fire = (): void => {
    timer = null
    armedFor = null
    onDue()
  }
  return {
    start(): void {
      stopped = false
    },
    stop(): void {
      stopped = true
      clear()
    },
    stopped: (): boolean => stopped,
    arm(): void {
      if (stopped) {
        return
      }
      const next = nextDeadline()
      if (next === armedFor && timer !== null) {
        return
      }
      clear()
      armedFor = next
      if (next !== null) {
        timer = clock.setTimer(fire, next - clock.now())
      }
    },
    armedFor: (): number | null => armedFor,
  }
}
