import { randomBytes } from 'node:crypto'
import { BackstopError } from '@backstop/shared'
import type { ChannelKind, Credentials } from '../store/channel-types.ts'

export { MASK, maskCredentials, splitUrlCredentials } from '../store/channel-types.ts'
export type { ChannelKind, Credentials, MaskedCredentials } from '../store/channel-types.ts'

/** Standard Webhooks secret: `whsec_` + base64 of 24–64 random bytes; the HMAC key is the decoded bytes. */
const WHSEC_RE = /^whsec_([A-Za-z0-9+/]+={0,2})$/

export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`
}

/** The HMAC key of a `whsec_` secret (checked by checkCredentials before it is stored). */
export function webhookKey(secret: string): Buffer {
  return Buffer.from(secret.slice('whsec_'.length), 'base64')
}

/** HTTP header values are visible ASCII; a newline in a token would split the request. */
const HEADER_SAFE_RE = /^[\x21-\x7e]+$/

const where = (field: string): string => `body.credentials.${field}`

/**
 * Which credential each kind takes, and its form. Throws BK_ERR_API_VALIDATION naming the field and the fix.
 * Webhook channels always sign: without a secret one is generated (newWebhookSecret) by the caller.
 */
export function checkCredentials(kind: ChannelKind, c: Credentials | undefined): void {
  if (c === undefined) {
    if (kind === 'gotify') {
      throw invalid(
        'body.credentials',
        'a gotify channel needs its application token: {"type": "token", "token": "A…"}',
      )
    }
    return
  }
  const allowed: Record<ChannelKind, readonly Credentials['type'][]> = {
    ntfy: ['token', 'basic'],
    gotify: ['token'],
    webhook: ['hmac'],
  }
  if (!allowed[kind].includes(c.type)) {
    throw invalid(where('type'), `a ${kind} channel takes credentials of type ${allowed[kind].join(' or ')}`)
  }
  if (c.type === 'hmac') {
    const m = WHSEC_RE.exec(c.secret)
    const n = m ? Buffer.from(m[1]!, 'base64').length : 0
    if (n < 24 || n > 64) {
      throw invalid(
        where('secret'),
        'must be "whsec_" + base64 of 24–64 random bytes (Standard Webhooks), e.g. from: ' +
          'echo "whsec_$(openssl rand -base64 32)"; or leave credentials out and the collector generates one',
      )
    }
    return
  }
  const [field, value] = c.type === 'token' ? ['token', c.token] : ['password', c.password]
  if (!HEADER_SAFE_RE.test(value) || value.length > 1024) {
    throw invalid(where(field), 'must be 1–1024 visible ASCII characters (it is sent in an HTTP header)')
  }
  if (c.type === 'basic' && (!HEADER_SAFE_RE.test(c.username) || c.username.includes(':'))) {
    throw invalid(where('username'), 'must be visible ASCII without ":" (HTTP Basic auth)')
  }
}

/**
 * Secrets do not belong in the URL: it is shown to every viewer, logged, and sent by fetch() as nothing useful
 * (fetch refuses a URL with user:pass@). Throws BK_ERR_API_VALIDATION saying where to put them instead.
 */
export function checkChannelUrl(kind: ChannelKind, raw: string): void {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw invalid('body.url', `"${raw}" is not a URL; use https://host/path`)
  }
  if (url.username !== '' || url.password !== '') {
    const how =
      kind === 'ntfy'
        ? 'for ntfy send {"credentials": {"type": "basic", "username": "…", "password": "…"}} ' +
          'or an access token as {"type": "token", "token": "tk_…"}'
        : kind === 'gotify'
          ? 'for gotify send the application token as {"credentials": {"type": "token", "token": "…"}}'
          : 'a webhook receiver verifies the webhook-signature header instead (docs/security.md)'
    throw invalid('body.url', `user:password@ in the URL is refused: it would be shown to every API reader; ${how}`)
  }
  for (const p of ['token', 'auth', 'access_token', 'apikey', 'key']) {
    if (url.searchParams.has(p)) {
      throw invalid('body.url', `the query parameter "${p}" looks like a secret; put it in body.credentials instead`)
    }
  }
}

function invalid(field: string, message: string): BackstopError {
  return new BackstopError('BK_ERR_API_VALIDATION', `${field}: ${message}`)
}
