import type {
  FastifyBaseLogger,
  FastifyInstance,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { CommandService } from '../commands/command-service.ts'
import type { DiskHealthStore } from '../health/disk-health-store.ts'
import type { ComplianceDeps } from '../ledger/compliance-deps.ts'
import type { CopiesRepo } from '../store/copies-repo.ts'
import type { NodesRepo } from '../store/nodes-repo.ts'
import type { RunsRepo } from '../store/runs-repo.ts'

export interface HealthReport {
  readonly db: boolean
  readonly broker: boolean
}

/** What the API needs; main.ts (or a test) provides it. Rooms extend this interface with their own fields. */
export interface AppDeps {
  /** HTTPS key + certificate chain (tls/transport-security.ts); absent = plain HTTP (`tls.plaintext`). */
  readonly https?: { readonly key: string; readonly cert: string } | undefined
  readonly nodes: NodesRepo
  readonly runs: RunsRepo
  readonly copies: CopiesRepo
  readonly health: () => HealthReport
  readonly log?: FastifyBaseLogger
  /** Compliance room: ledger, alerts, tokens, metrics. Absent = those routes (and auth) are not mounted. */
  readonly compliance?: ComplianceDeps
  /** Disk health (docs/disk-health.md): GET/acknowledge routes. Absent = those routes are not mounted. */
  readonly diskHealth?: DiskHealthStore | undefined
  /** Security room: signed commands to nodes (commands/command-routes.ts). Absent = those routes are not mounted. */
  readonly commands?: CommandService | undefined
}

export type App = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>
