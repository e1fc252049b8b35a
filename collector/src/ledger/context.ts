import type { DeviceHealthLookup, Tier } from '@backstop/shared'
import type { Logger } from 'pino'
import type { AlertService } from '../alerts/alert-service.ts'
import type { Db } from '../store/db.ts'
import type { ExpectationsRepo } from '../store/expectations-repo.ts'
import type { LedgerAssetsRepo } from '../store/ledger-assets-repo.ts'
import type { LedgerConfig } from './config.ts'

/** Where telemetry lines go (the Influx export queue); called inside the ledger transaction. */
export interface TelemetrySink {
  run(r: {
    node: string
    job: string
    jobKind: string
    status: string
    durationMs: number | null
    bytes: number | null
    at: number
  }): void
  verdict(a: {
    node: string
    kind: string
    id: string
    tier: Tier
    status: string
    counts: Record<string, number | null>
    at: number
  }): void
}

export interface LedgerContext {
  readonly db: Db
  readonly assets: LedgerAssetsRepo
  readonly expectations: ExpectationsRepo
  readonly alerts: AlertService
  readonly config: LedgerConfig
  readonly log: Logger
  /** Per node: health of the devices its copies live on (health/disk-health-store.ts); default: all unknown. */
  readonly deviceHealth: (node: string) => DeviceHealthLookup
  /** Appends to the one audit log as `system` (e.g. expectations retired because a job is no longer declared). */
  readonly audit: (action: string, target: string, detail: Readonly<Record<string, unknown>>, at: number) => void
  readonly telemetry?: TelemetrySink | undefined
  /** After each committed evaluation pass (e.g. wake the telemetry exporter). */
  readonly afterCommit?: (() => void) | undefined
}
