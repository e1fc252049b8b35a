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

/**
 * The rate limiter behind `Refusals`, for callers that count elsewhere (the ingest counts a rejection when its ack
 * commits): a warning per `key` at most once per `intervalMs`; the first line after that carries `suppressed`, the
 * number of lines dropped since the last one, and says so in its message.
 */
export type LimitedLog = (key: string, fields: Record<string, unknown>, msg: string) => void

export function createLimitedLog(deps: { log: Logger; now: () => number; intervalMs: number }): LimitedLog {
  const windows = new Map<string, { loggedAt: number; suppressed: number }>()
  return (key, fields, msg) => {
    const t = deps.now()
    const w = windows.get(key)
    if (w && t - w.loggedAt < deps.intervalMs) {
      w.suppressed++
      return
    }
    const suppressed = w?.suppressed ?? 0
    windows.set(key, { loggedAt: t, suppressed: 0 })
    deps.log.warn(
      suppressed > 0 ? { ...fields, suppressed } : fields,
      suppressed > 0 ? `${msg} (and ${suppressed} more like it since the last line)` : msg,
    )
  }
}

export function createRefusals(deps: {
  log: Logger
  counters: Counters
  now: () => Date
  intervalMs: number
}): Refusals {
  const limited = createLimitedLog({ ...deps, now: () => deps.now().getTime() })
  return {
    refuse: (r) => {
      deps.counters.inc(r.counter, r.reason)
      limited(`${r.counter}/${r.reason}`, { ...r.detail, reason: r.reason, code: r.code }, r.msg)
    },
  }
}
