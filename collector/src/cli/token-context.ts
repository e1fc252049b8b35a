import { existsSync, readFileSync } from 'node:fs'
import { userInfo } from 'node:os'
import { join } from 'node:path'
import { createAuditLog, type AuditLog } from '../audit/audit-log.ts'
import { loadCollectorConfig } from '../config/load.ts'
import type { ResolvedCollectorConfig } from '../config/schema.ts'
import { createAccessRepo } from '../identity/node-access.ts'
import { createIdentityService, type IdentityService } from '../identity/identity-service.ts'
import { createTokensRepo } from '../identity/enrollment-tokens.ts'
import { createOperators, type Operators } from '../identity/operators.ts'
import { openDb, type Db } from '../store/db.ts'
import { certFingerprint } from '../tls/certificates.ts'

/**
 * What the security CLI commands (`token`, `node`, `audit`) share: the collector's database opened next to a
 * possibly running collector (WAL + busy_timeout make that safe), the identity services, and who is acting.
 */
export interface SecurityContext {
  readonly config: ResolvedCollectorConfig
  readonly db: Db
  readonly audit: AuditLog
  readonly identity: IdentityService
  readonly operators: Operators
  readonly actor: string
  /** CA fingerprint agents must pin, when TLS material exists yet (created on the collector's first start). */
  caFingerprint(): string | undefined
  close(): void
}

export function openSecurityContext(configFile: string): SecurityContext {
  const config = loadCollectorConfig(configFile)
  const { db } = openDb({ file: config.dbFile })
  const audit = createAuditLog(db)
  const access = createAccessRepo(db)
  const now = (): Date => new Date()
  const actor = `cli:${safeUser()}`
  return {
    config,
    db,
    audit,
    actor,
    // Revocations reach the running collector through node_access (broker refuses the CONNECT; the revocation
    // watcher drops a live session within seconds).
    identity: createIdentityService({ db, tokens: createTokensRepo(db), access, audit, now }),
    operators: createOperators(db, audit, now),
    caFingerprint: () => {
      const tls = (config as { tls?: { caFile?: string | null } }).tls
      const file = tls?.caFile ?? join(config.dataDir, 'tls', 'ca.pem')
      return existsSync(file) ? certFingerprint(readFileSync(file, 'utf8')) : undefined
    },
    close: () => db.close(),
  }
}

function safeUser(): string {
  try {
    return userInfo().username
  } catch {
    return `uid${process.getuid?.() ?? '?'}`
  }
}

/** `90s`, `15m`, `24h`, `7d` → milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d{1,6})(s|m|h|d)$/.exec(text.trim())
  if (!m) {
    return Number.NaN
  }
  const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd']
  return Number(m[1]) * unit
}
