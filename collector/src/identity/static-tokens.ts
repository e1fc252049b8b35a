import { createHash, timingSafeEqual } from 'node:crypto'
import { BackstopError } from '@backstop/shared'
import type { ResolvedEnrollment } from '../config/enrollment.ts'

/** The secrets of every configured static token, expired ones too: the ingest's stateless shape check. */
export function tokenSecrets(e: ResolvedEnrollment): string[] {
  return e.tokens.map((t) => t.token)
}

/**
 * The enrollment gate's static-token check (`enrollment.tokens`, config/enrollment.ts): true when `candidate` is a
 * configured token that has not expired by the clock; an expired one is refused with BK_ERR_ENROLL_TOKEN naming
 * its entry and the way out. Every entry is compared through SHA-256 in constant time (no early exit).
 */
export function createStaticTokenCheck(
  e: ResolvedEnrollment,
  clock: { now(): number },
): (candidate: string) => boolean {
  const entries = e.tokens.map((t, i) => ({ i, expiresAt: t.expiresAt, digest: digest(t.token) }))
  return (candidate) => {
    const d = digest(candidate)
    let hit: (typeof entries)[number] | undefined
    for (const entry of entries) {
      if (timingSafeEqual(entry.digest, d)) {
        hit ??= entry
      }
    }
    if (hit === undefined) {
      return false
    }
    const now = clock.now()
    if (hit.expiresAt !== null && hit.expiresAt <= now) {
      throw new BackstopError(
        'BK_ERR_ENROLL_TOKEN',
        `static token enrollment.tokens[${hit.i}] expired at ${new Date(hit.expiresAt).toISOString()}; ` +
          'create a one-time token with `backstop-collector token create` ' +
          '(or set a later expiresAt in the collector config and restart)',
      )
    }
    return true
  }
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest()
}
