import { createHmac } from 'node:crypto'
import type { AlertFlip } from '@backstop/shared'
import { webhookKey, type ChannelKind, type Credentials } from './credentials.ts'

export interface OutboundRequest {
  readonly url: string
  readonly headers: Record<string, string>
  readonly body: string
}

export interface RequestTarget {
  readonly kind: ChannelKind
  readonly url: string
  readonly credentials: Credentials | null
}

/** Per delivery: a stable id (the same on every retry, the receiver's idempotency key) and the send time. */
export interface DeliveryMeta {
  readonly id: string
  readonly now: number
}

/** HTTP headers are Latin-1; alert text may not be. */
const ascii = (s: string): string => s.replace(/[^\x20-\x7e]/g, '?').slice(0, 200)

const NTFY_PRIORITY = { info: '3', warning: '4', critical: '5' } as const
/** Gotify's Android client: 1–3 icon only, 4–7 with sound, 8–10 also vibrates. */
const GOTIFY_PRIORITY = { info: 4, warning: 6, critical: 8 } as const

const title = (f: AlertFlip): string =>
  ascii(`${f.to === 'resolved' ? 'RESOLVED' : f.severity.toUpperCase()}: ${f.kind} ${f.node ?? ''}`.trim())

/**
 * webhook: the flip as JSON, signed per Standard Webhooks 1.0 (webhookSignature). ntfy: POST to the topic URL,
 * the summary as the message, Title / Priority / Tags headers (docs.ntfy.sh/publish), credentials as an
 * Authorization header. gotify: POST <server>/message with the application token in X-Gotify-Key (kept out of the
 * URL, and so out of proxy logs).
 */
export function buildRequest(t: RequestTarget, f: AlertFlip, meta: DeliveryMeta): OutboundRequest {
  if (t.kind === 'webhook') {
    const body = webhookBody(f)
    const secret = t.credentials?.type === 'hmac' ? t.credentials.secret : null
    return {
      url: t.url,
      headers: {
        'content-type': 'application/json',
        'user-agent': 'backstop-collector',
        ...(secret === null ? {} : webhookSignature(secret, meta.id, meta.now, body)),
      },
      body,
    }
  }
  if (t.kind === 'gotify') {
    const token: Record<string, string> = t.credentials?.type === 'token' ? { 'x-gotify-key': t.credentials.token } : {}
    return {
      url: gotifyMessageUrl(t.url),
      headers: { 'content-type': 'application/json', 'user-agent': 'backstop-collector', ...token },
      body: JSON.stringify({
        title: title(f),
        message: f.summary,
        priority: f.to === 'resolved' ? 2 : GOTIFY_PRIORITY[f.severity],
      }),
    }
  }
  const resolved = f.to === 'resolved'
  return {
    url: t.url,
    headers: {
      'content-type': 'text/plain; charset=utf-8',
      title: title(f),
      priority: resolved ? '3' : NTFY_PRIORITY[f.severity],
      tags: resolved ? 'white_check_mark' : f.severity === 'critical' ? 'rotating_light' : 'warning',
      ...authorization(t.credentials),
    },
    body: f.summary,
  }
}

/** The configured server URL, with `/message` appended unless it is already there. */
function gotifyMessageUrl(url: string): string {
  const base = url.replace(/\/+$/, '')
  return base.endsWith('/message') ? base : `${base}/message`
}

function authorization(c: Credentials | null): Record<string, string> {
  if (c?.type === 'token') {
    return { authorization: `Bearer ${c.token}` }
  }
  if (c?.type === 'basic') {
    return { authorization: `Basic ${Buffer.from(`${c.username}:${c.password}`, 'utf8').toString('base64')}` }
  }
  return {}
}

function webhookBody(f: AlertFlip): string {
  return JSON.stringify({
    source: 'backstop',
    key: f.key,
    kind: f.kind,
    node: f.node ?? null,
    from: f.from,
    to: f.to,
    severity: f.severity,
    summary: f.summary,
    at: new Date(f.at).toISOString(),
  })
}

/**
 * Standard Webhooks 1.0: `webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>` with the
 * base64-decoded `whsec_` secret as key and the timestamp in unix seconds. The timestamp is signed, so a receiver
 * that refuses timestamps older than a few minutes cannot be fed a recorded delivery again (docs/security.md).
 */
export function webhookSignature(secret: string, id: string, nowMs: number, body: string): Record<string, string> {
  const ts = String(Math.floor(nowMs / 1000))
  const mac = createHmac('sha256', webhookKey(secret)).update(`${id}.${ts}.${body}`, 'utf8').digest('base64')
  return { 'webhook-id': id, 'webhook-timestamp': ts, 'webhook-signature': `v1,${mac}` }
}

/** `retryAfterMs`: the receiver's Retry-After on a transient failure (429, 503), honoured up to an hour. */
export type DeliveryOutcome = { ok: true } | { ok: false; permanent: boolean; error: string; retryAfterMs?: number }

/**
 * Transient: 408, 425, 429 and 5xx (network errors and timeouts are decided by the deliverer). Everything else
 * fails the same way next time: 3xx (redirects are not followed, so credentials never go to another host), 401/403
 * (credentials refused), 404/410 (no such topic or endpoint) and the other 4xx.
 */
export function classifyStatus(
  status: number,
  headers: { location?: string | null; retryAfter?: string | null } = {},
): DeliveryOutcome {
  if (status >= 200 && status < 300) {
    return { ok: true }
  }
  const transient = status === 408 || status === 425 || status === 429 || status >= 500
  if (transient) {
    const wait = retryAfterMs(headers.retryAfter)
    return { ok: false, permanent: false, error: `HTTP ${status}`, ...(wait === null ? {} : { retryAfterMs: wait }) }
  }
  const location = headers.location
  const hint =
    status === 401 || status === 403
      ? 'credentials refused; set them with PUT /api/v1/channels/:id/credentials'
      : status >= 300 && status < 400
        ? `redirected${location ? ` to ${location}` : ''}; configure the final URL`
        : 'the request is refused as it is; check the channel URL'
  return { ok: false, permanent: true, error: `HTTP ${status}: ${hint}` }
}

/** Retry-After in seconds (the form ntfy and most APIs send), capped at an hour; an HTTP date is ignored. */
function retryAfterMs(v: string | null | undefined): number | null {
  return v !== null && v !== undefined && /^\d{1,6}$/.test(v.trim()) ? Math.min(Number(v) * 1000, 3_600_000) : null
}
