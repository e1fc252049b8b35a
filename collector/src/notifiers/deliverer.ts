import type { Logger } from 'pino'
import type { Clock } from '../time/clock.ts'
import type { NotifyRepo, QueuedDelivery } from '../store/notify-repo.ts'
import { buildRequest, classifyStatus, type DeliveryOutcome } from './requests.ts'

export interface DelivererOptions {
  readonly repo: NotifyRepo
  readonly clock: Clock
  readonly log: Logger
  readonly fetch?: typeof fetch
  readonly timeoutMs?: number
  /** Attempts before a transiently failing delivery is given up (dead). */
  readonly maxAttempts?: number
  /** Delay before attempt n+1 (n ≥ 1). Default: 5 s × 4^(n-1), capped at 1 h. */
  readonly backoffMs?: (attempt: number) => number
}

const defaultBackoff = (n: number): number => Math.min(5000 * 4 ** (n - 1), 3_600_000)

/**
 * Sends queued notifications from SQLite (notify_queue survives restarts), one timer for the earliest due row,
 * sequentially so a slow channel cannot pile up sockets. Transient failures are retried with backoff;
 * permanent ones (and exhausted retries) are marked dead; each outcome updates the channel's delivery health.
 */
export function createDeliverer(o: DelivererOptions) {
  const doFetch = o.fetch ?? fetch
  const timeoutMs = o.timeoutMs ?? 10_000
  const maxAttempts = o.maxAttempts ?? 8
  const backoff = o.backoffMs ?? defaultBackoff
  let timer: unknown = null
  let current: Promise<void> | null = null
  let again = false
  let stopped = true

  const send = async (d: QueuedDelivery): Promise<DeliveryOutcome> => {
    const ch = o.repo.channel(d.channelId)
    if (ch === undefined) {
      return { ok: false, permanent: true, error: 'channel removed' }
    }
    const req = buildRequest(ch.kind, ch.url, d.flip)
    try {
      const res = await doFetch(req.url, {
        method: 'POST',
        headers: req.headers,
        body: req.body,
        signal: AbortSignal.timeout(timeoutMs),
      })
      await res.arrayBuffer().catch(() => undefined)
      return classifyStatus(res.status)
    } catch (e) {
      return {
        ok: false,
        permanent: false,
        error:
          (e as Error).name === 'TimeoutError'
            ? `timed out after ${timeoutMs} ms`
            : String((e as Error).cause ?? (e as Error).message),
      }
    }
  }

  /** One delivery pass at a time; a wake during a pass makes it loop once more. Returns the pass in flight. */
  const cycle = (): Promise<void> => {
    if (current !== null) {
      again = true
      return current
    }
    current = pass().finally(() => {
      current = null
      arm()
    })
    return current
  }

  const pass = async (): Promise<void> => {
    {
      do {
        again = false
        for (const d of o.repo.due(o.clock.now(), 50)) {
          const r = await send(d)
          const at = o.clock.now()
          if (r.ok) {
            o.repo.delivered(d, at)
          } else {
            const attempt = d.attempts + 1
            const retryAt = r.permanent || attempt >= maxAttempts ? null : at + backoff(attempt)
            o.repo.failed(d, at, r.error, retryAt)
            o.log.warn(
              { channel: d.channelId, key: d.flip.key, attempt, permanent: r.permanent, error: r.error, retryAt },
              retryAt === null ? 'notification dead' : 'notification failed; will retry',
            )
          }
          if (stopped) {
            return
          }
        }
      } while (again || (o.repo.nextDue() ?? Infinity) <= o.clock.now())
    }
  }

  const arm = (): void => {
    if (timer !== null) {
      o.clock.clearTimer(timer)
      timer = null
    }
    const next = o.repo.nextDue()
    if (!stopped && next !== null) {
      timer = o.clock.setTimer(() => {
        timer = null
        void cycle()
      }, next - o.clock.now())
    }
  }

  return {
    start(): void {
      stopped = false
      void cycle()
    },
    stop(): void {
      stopped = true
      if (timer !== null) {
        o.clock.clearTimer(timer)
        timer = null
      }
    },
    wake(): void {
      if (!stopped) {
        void cycle()
      }
    },
    /** Resolves once the queue has nothing due (tests). */
    drain: cycle,
  }
}
export type Deliverer = ReturnType<typeof createDeliverer>
