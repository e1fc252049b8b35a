import { isBackstopError, type BackstopError, type Envelope } from '@backstop/shared'
import type { AuditLog } from '../audit/audit-log.ts'
import { createBrokerIdentity, type BrokerIdentity } from '../identity/broker-identity.ts'
import { createEnrollmentGate } from '../identity/enrollment-gate.ts'
import { createTokensRepo as createEnrollmentTokensRepo, type TokensRepo } from '../identity/enrollment-tokens.ts'
import { createAccessRepo, type AccessRepo } from '../identity/node-access.ts'
import { createOperators } from '../identity/operators.ts'
import type { TokenCheck } from '../ingest/check.ts'
import type { Db } from '../store/db.ts'
import { dateOf, type Clock } from '../time/clock.ts'

export interface IdentityPart {
  readonly access: AccessRepo
  readonly enrollmentTokens: TokensRepo
  /** Who may CONNECT as what (revoked nodes, re-enrollment, read-only operators). */
  readonly brokerIdentity: BrokerIdentity
  /** The ingest's enrollment check: one-time tokens, approvals, revocation; returns the refusal, if any. */
  admitEnroll(env: Envelope<'enroll'>): BackstopError | undefined
}

/**
 * Step of the composition root: identity decisions (one-time tokens, approvals, revocation) read and write SQLite
 * directly, so a revocation from the CLI (another process) is effective at the next CONNECT.
 */
export function composeIdentity(d: {
  readonly db: Db
  readonly audit: AuditLog
  readonly clock: Clock
  readonly staticTokens: TokenCheck
}): IdentityPart {
  const now = dateOf(d.clock)
  const access = createAccessRepo(d.db)
  const enrollmentTokens = createEnrollmentTokensRepo(d.db)
  const gate = createEnrollmentGate({
    db: d.db,
    tokens: enrollmentTokens,
    access,
    audit: d.audit,
    staticTokens: d.staticTokens,
  })
  const operators = createOperators(d.db, d.audit, now)
  return {
    access,
    enrollmentTokens,
    brokerIdentity: createBrokerIdentity(access, operators),
    admitEnroll(env) {
      try {
        const b = env.body
        gate.admit({ node: env.node, publicKey: b.publicKey, token: b.token, hostname: b.hostname, now: now() })
        return undefined
      } catch (e) {
        if (isBackstopError(e)) {
          return e
        }
        throw e
      }
    },
  }
}
