import type { Logger } from 'pino'
import type { ErrorCode } from '@backstop/shared'
import { createLimitedLog } from '../logging/limited-log.ts'
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
