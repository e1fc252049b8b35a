/**
 * Enrollment tokens copied from a sample config or typed by hand. A token is the only thing between an unknown
 * machine and a pinned key, so the config loaders of the agent and the collector refuse these before anything
 * connects. Pure: the callers turn the reason into a config issue at the token's line.
 */
export const MIN_TOKEN_LENGTH = 16

/**
 * Words the shipped samples and common docs use where a real token belongs, as whole words so that a random token
 * (base64 from `openssl rand`) practically never matches by chance; plus `<…>`, `…` and runs of x.
 */
const PLACEHOLDER_WORDS = 'replace|change-?me|change-?it|placeholder|example|your|todo|fixme|here'
const PLACEHOLDER_RE = new RegExp(`(^|[^a-z0-9])(${PLACEHOLDER_WORDS})([^a-z0-9]|$)|<[^>]*>|x{6,}|\\.{3}|…`, 'i')

/** `backstop-collector token create` output: generated, so never a placeholder. */
const ONE_TIME_TOKEN_RE = /^bk_[a-z0-9]{8}_[A-Za-z0-9_-]{43}$/

/** The fewest distinct characters a token may have ("aaaaaaaaaaaaaaaa" has a length but no secret). */
const MIN_DISTINCT_CHARS = 8

/** Why `token` is no real secret, or null when it looks like one. */
export function weakTokenReason(token: string): string | null {
  if (ONE_TIME_TOKEN_RE.test(token)) {
    return null
  }
  if (PLACEHOLDER_RE.test(token)) {
    return `"${token}" is a placeholder, not a token`
  }
  if (token.length < MIN_TOKEN_LENGTH) {
    return `the token has ${token.length} characters; at least ${MIN_TOKEN_LENGTH} are needed`
  }
  if (new Set(token).size < MIN_DISTINCT_CHARS) {
    return `the token uses ${new Set(token).size} distinct characters; a random one uses many more`
  }
  return null
}
