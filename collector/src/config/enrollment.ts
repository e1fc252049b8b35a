import Type, { type Static } from 'typebox'
import { weakTokenReason } from '@backstop/shared'

/**
 * `enrollment:` in the collector config. One-time tokens from `backstop-collector token create`
 * (identity/enrollment-tokens.ts) are the default path and need nothing here. Static tokens are optional, reusable
 * until `expiresAt`, and then refused at enrollment (identity/static-tokens.ts).
 *
 * A bare string (the format before expiring tokens) still works, with a configcheck warning: every existing
 * install, the integration tests' collectors and the quick start wrote that format, and refusing it would stop an
 * upgraded collector from starting at all, which takes every agent's reporting down with it; a node that already
 * enrolled never presents its token again, so the risk left is a token that keeps enrolling new machines.
 */
export const EnrollmentInput = Type.Object(
  {
    tokens: Type.Optional(
      Type.Array(
        Type.Union([
          Type.String({ maxLength: 256 }),
          Type.Object(
            {
              token: Type.String({ maxLength: 256 }),
              /** ISO 8601 date (midnight UTC) or date-time with Z or an offset; refused from then on. */
              expiresAt: Type.String({ maxLength: 64 }),
            },
            { additionalProperties: false },
          ),
        ]),
        { maxItems: 100 },
      ),
    ),
  },
  { additionalProperties: false },
)
export type EnrollmentInput = Static<typeof EnrollmentInput>

export interface StaticToken {
  readonly token: string
  /** Epoch ms; null = a bare token from the old format (never expires, warned about). */
  readonly expiresAt: number | null
}

export interface ResolvedEnrollment {
  readonly tokens: readonly StaticToken[]
}

type Report = (path: (string | number)[], message: string) => void

/** A date (midnight UTC) or a date-time with Z or an offset: a zone-less time would depend on the host's zone. */
const DATE_RE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/

/** Checks each static token (length, placeholder, expiry date); `error` refuses the file, `warn` only reports. */
export function resolveEnrollment(input: EnrollmentInput | undefined, error: Report, warn: Report): ResolvedEnrollment {
  const tokens: StaticToken[] = []
  const seen = new Set<string>()
  ;(input?.tokens ?? []).forEach((entry, i) => {
    const bare = typeof entry === 'string'
    const token = bare ? entry : entry.token
    const where = bare ? ['enrollment', 'tokens', i] : ['enrollment', 'tokens', i, 'token']
    const weak = weakTokenReason(token)
    if (weak !== null) {
      error(where, `${weak}; generate one with: openssl rand -base64 24 (or drop static tokens: ${ONE_TIME_HINT})`)
      return
    }
    if (seen.has(token)) {
      error(where, `the same token is listed twice; remove one`)
      return
    }
    seen.add(token)
    if (bare) {
      warn(
        where,
        'a bare token never expires and enrolls any number of machines; ' +
          `write it as {token: …, expiresAt: 2026-12-31} or remove it (${ONE_TIME_HINT})`,
      )
      tokens.push({ token, expiresAt: null })
      return
    }
    const at = DATE_RE.test(entry.expiresAt)
      ? Date.parse(entry.expiresAt.length === 10 ? `${entry.expiresAt}T00:00:00Z` : entry.expiresAt)
      : NaN
    if (Number.isNaN(at)) {
      error(
        ['enrollment', 'tokens', i, 'expiresAt'],
        `"${entry.expiresAt}" is no date; use an ISO 8601 date or date-time, ` +
          'e.g. 2026-12-31 or 2026-12-31T18:00:00Z (a time needs Z or an offset)',
      )
      return
    }
    tokens.push({ token, expiresAt: at })
  })
  return { tokens }
}

const ONE_TIME_HINT = 'one-time tokens come from `backstop-collector token create`'
