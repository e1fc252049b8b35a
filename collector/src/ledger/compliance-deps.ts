import type { AuditLog } from '../audit/audit-log.ts'
import type { AuthMode } from '../auth/guard.ts'
import type { TokensRepo } from '../auth/tokens.ts'
import type { Brain } from './brain.ts'

/** What the compliance routes need (AppDeps.compliance); absent = those routes are not mounted. */
export interface ComplianceDeps {
  readonly brain: Brain
  readonly tokens: TokensRepo
  readonly authMode: AuthMode
  /** The hash-chained audit log, for GET /api/v1/audit. */
  readonly auditLog?: AuditLog | undefined
  /** Prometheus text exposition for GET /metrics. */
  readonly metrics?: (() => Promise<{ contentType: string; body: string }>) | undefined
}
