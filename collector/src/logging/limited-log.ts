import type { Logger } from 'pino'

/** How often one kind of refusal or rejection may log (broker `mqtt.limits.logIntervalMs`, the ingest's rejects). */
export const DEFAULT_LOG_INTERVAL_MS = 10_000

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
