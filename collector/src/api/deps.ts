import type {
  FastifyBaseLogger,
  FastifyInstance,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { AlertService } from '../alerts/alert-service.ts'
import type { AuditLog } from '../audit/audit-log.ts'
import type { TokensRepo } from '../auth/tokens.ts'
import type { CommandService } from '../commands/command-service.ts'
import type { AuthMode } from '../config/schema.ts'
import type { DiskHealthStore } from '../health/disk-health-store.ts'
import type { AlertsRepo } from '../store/alerts-repo.ts'
import type { CoverageRepo } from '../store/coverage-repo.ts'
import type { CopiesRepo } from '../store/copies-repo.ts'
import type { ExpectationsRepo } from '../store/expectations-repo.ts'
import type { LedgerAssetsRepo } from '../store/ledger-assets-repo.ts'
import type { NodesRepo } from '../store/nodes-repo.ts'
import type { NotifyRepo } from '../store/notify-repo.ts'
import type { RunsRepo } from '../store/runs-repo.ts'
import type { SelfBackupsRepo } from '../store/self-backups-repo.ts'
import type { Clock } from '../time/clock.ts'

export interface HealthReport {
  readonly db: boolean
  readonly broker: boolean
}

/** What routes may ask of the ledger service (ledger/ledger-service.ts): re-evaluate, and who is down. */
export interface LedgerControl {
  downNodes(): ReadonlySet<string>
  /** Re-evaluate one asset now (after a policy change). */
  refreshAsset(node: string, kind: string, id: string): void
  /** Queue every asset of a node for the next pass (after its disk health changed). */
  requeueNode(node: string): void
  /** Drain pending ledger changes synchronously (an expectation schedule changed). */
  runNow(): void
  /** Drain them on the next macrotask. */
  wake(): void
}

/**
 * Everything the HTTP API uses; main.ts builds each piece once and tests pass real (in-memory SQLite) or fake
 * implementations. Every field is required: a route never checks whether its dependency exists.
 */
export interface AppDeps {
  /** HTTPS key + certificate chain (tls/transport-security.ts); null = plain HTTP (`tls.plaintext`). */
  readonly https: { readonly key: string; readonly cert: string } | null
  readonly log: FastifyBaseLogger
  readonly clock: Pick<Clock, 'now'>
  readonly health: () => HealthReport
  /** Bearer tokens and whether they are checked (api/auth-guard.ts). */
  readonly auth: { readonly tokens: TokensRepo; readonly mode: AuthMode }
  readonly nodes: NodesRepo
  readonly runs: RunsRepo
  readonly copies: CopiesRepo
  readonly assets: LedgerAssetsRepo
  /** Node inventories and intentionally unprotected assets, and the roles that need a bare-metal image. */
  readonly coverage: CoverageRepo & { readonly bareMetalImageRoles: readonly string[] }
  readonly expectations: ExpectationsRepo
  readonly ledger: LedgerControl
  /** Alert state changes (ack, silence, raise) that also publish and notify. */
  readonly alerts: AlertService
  /** Alert reads and maintenance windows. */
  readonly alertsRepo: AlertsRepo
  readonly channels: NotifyRepo
  /** The hash-chained audit log: operator actions are appended, GET /api/v1/audit reads it. */
  readonly audit: AuditLog
  /** Prometheus text exposition for GET /metrics. */
  readonly metrics: () => Promise<{ contentType: string; body: string }>
  readonly diskHealth: DiskHealthStore
  /** Signed commands to nodes. */
  readonly commands: CommandService
  /** The collector's backups of its own database and their checks (GET /api/v1/self-backup). */
  readonly selfBackups: SelfBackupsRepo
}

export type App = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>

/** A route module: registers its routes with the slice of AppDeps it uses. */
export type RouteModule = (app: App, deps: AppDeps) => void
