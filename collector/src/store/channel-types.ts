/** What the notify tables store about a channel; notifiers/credentials.ts checks and masks them. */
export type ChannelKind = 'webhook' | 'ntfy' | 'gotify'

/**
 * A channel's secret, stored apart from its URL (notify_secrets) and never returned by the API:
 * `token` is an ntfy access token (Authorization: Bearer) or a Gotify application token (X-Gotify-Key);
 * `basic` an ntfy user + password (Authorization: Basic); `hmac` a webhook signing secret (`whsec_` + base64).
 */
export type Credentials =
  | { readonly type: 'token'; readonly token: string }
  | { readonly type: 'basic'; readonly username: string; readonly password: string }
  | { readonly type: 'hmac'; readonly secret: string }

/** What GET /api/v1/channels shows: the same shape, the user name kept, MASK where the secret was. */
export type MaskedCredentials = Credentials

export const MASK = '********'

export function maskCredentials(c: Credentials | null): MaskedCredentials | null {
  if (c === null) {
    return null
  }
  if (c.type === 'basic') {
    return { type: 'basic', username: c.username, password: MASK }
  }
  return c.type === 'token' ? { type: 'token', token: MASK } : { type: 'hmac', secret: MASK }
}

/** A stored URL with user:pass@ (accepted before this check existed): the credentials and the URL without them. */
export function splitUrlCredentials(raw: string): { url: string; credentials: Credentials } | null {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    return null
  }
  if (url.username === '' && url.password === '') {
    return null
  }
  const username = decodeURIComponent(url.username)
  const password = decodeURIComponent(url.password)
  url.username = ''
  url.password = ''
  return { url: url.toString(), credentials: { type: 'basic', username, password } }
}
