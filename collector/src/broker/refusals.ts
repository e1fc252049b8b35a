import type { Logger } from 'pino'
import type { ErrorCode } from '@backstop/shared'
import type { CounterName, Counters } from '../metrics/counters.ts'

/**
 * Every refusal is counted (Prometheus: `<counter>{label="<reason>"}`), but a reason logs at most one line per
 * `intervalMs`: a SUBSCRIBE with 5,000 forbidden filters or a flood of bad CONNECTs is one warning carrying the
 * number of refusals it stands for, not 5,000 lines. The line after a quiet interval reports what was suppressed.
 */
export interface Refusals {
  refuse(r: Refusal): void
}

export interface Refusal {
  readonly counter: CounterName
  readonly reason: string
  readonly code: ErrorCode
  /** What was refused and how to fix it, for the log line. */
  readonly msg: string
  readonly detail?: Record<string, unknown>
}

interface Window {
  loggedAt: number
  suppressed: number
}

export function createRefusals(deps: {
  log: Logger
  counters: Counters
  now: () => Date
  intervalMs: number
}): Refusals {
  const windows = new Map<string, Window>()
  return {
    refuse: (r) => {
      deps.counters.inc(r.counter, r.reason)
      const key = `${r.counter}/${r.reason}`
      const t = deps.now().getTime()
      const w = windows.get(key)
      if (w && t - w.loggedAt < deps.intervalMs) {
        w.suppressed++
        return
      }
      const suppressed = w?.suppressed ?? 0
      windows.set(key, { loggedAt: t, suppressed: 0 })
      deps.log.warn(
        { ...r.detail, reason: r.reason, code: r.code, ...(suppressed > 0 ? { suppressed } : {}) },
        suppressed > 0 ? `${r.msg} (and ${suppressed} more like it since the last line)` : r.msg,
      )
    },
  }
}
