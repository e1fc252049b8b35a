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
    const unusable = unusableUrl(ch.url)
    if (unusable !== null) {
      return { ok: false, permanent: true, error: unusable }
    }
    const req = buildRequest(ch, d.flip, { id: `bk-flip-${d.flipId}`, now: o.clock.now() })
    try {
      const res = await doFetch(req.url, {
        method: 'POST',
        headers: req.headers,
        body: req.body,
        // A redirect is a permanent failure (classifyStatus): credentials are never replayed to another URL.
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      })
      await res.arrayBuffer().catch(() => undefined)
      return classifyStatus(res.status, {
        location: res.headers.get('location'),
        retryAfter: res.headers.get('retry-after'),
      })
    } catch (e) {
      return fetchFailure(e as Error, timeoutMs)
    }
  }

  /** A permanent failure is logged once per channel and error; health and the queue row record every one. */
  const reported = new Map<number, string>()
  const report = (
    d: QueuedDelivery,
    r: { permanent: boolean; error: string },
    attempt: number,
    retryAt: number | null,
  ) => {
    const fields = { channel: d.channelId, key: d.flip.key, attempt, permanent: r.permanent, error: r.error, retryAt }
    if (!r.permanent) {
      o.log.warn(
        fields,
        retryAt === null ? 'notification dead after its last retry' : 'notification failed; will retry',
      )
    } else if (reported.get(d.channelId) !== r.error) {
      reported.set(d.channelId, r.error)
      o.log.warn(
        fields,
        'notification channel fails permanently; not retried, further failures are not logged until it changes',
      )
    }
  }

  /**
   * One delivery pass at a time; a wake during a pass makes it loop once more. A wake that comes after the pass
   * left its loop (but before it settled) chains one more pass, so what was queued before the call is attempted
   * by the time the returned promise resolves.
   */
  const cycle = (): Promise<void> => {
    if (current !== null) {
      again = true
      return current.then(() => (stopped ? undefined : cycle()))
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
            reported.delete(d.channelId)
          } else {
            const attempt = d.attempts + 1
            const wait = Math.max(backoff(attempt), r.retryAfterMs ?? 0)
            const retryAt = r.permanent || attempt >= maxAttempts ? null : at + wait
            o.repo.failed(d, at, r.error, retryAt)
            report(d, r, attempt, retryAt)
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

/** A URL no request can succeed with: unparsable, not http(s), or with user:pass@ (fetch refuses those). */
function unusableUrl(raw: string): string | null {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    return `the channel URL "${raw}" is not a URL; replace the channel`
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return `the channel URL scheme ${url.protocol} is not http or https; replace the channel`
  }
  if (url.username !== '' || url.password !== '') {
    return 'the channel URL carries user:password@; replace the channel and send credentials separately'
  }
  return null
}

/**
 * Network errors, refused connections and timeouts may heal: transient. fetch() throws a TypeError without a
 * cause when it cannot even build the request (a header value it refuses): that fails the same way every time.
 */
function fetchFailure(e: Error, timeoutMs: number): DeliveryOutcome {
  if (e.name === 'TimeoutError') {
    return { ok: false, permanent: false, error: `timed out after ${timeoutMs} ms` }
  }
  if (e instanceof TypeError && e.cause === undefined) {
    return { ok: false, permanent: true, error: `the request cannot be built: ${e.message}` }
  }
  return { ok: false, permanent: false, error: String(e.cause ?? e.message) }
}
