import type { Logger } from 'pino'
import { createAlertService, type AlertService, type MqttPublish } from '../alerts/alert-service.ts'
import type { AuditLog } from '../audit/audit-log.ts'
import { createDiskHealthStore, type DiskHealthStore } from '../health/disk-health-store.ts'
import type { LedgerConfig } from '../ledger/config.ts'
import type { TelemetrySink } from '../ledger/context.ts'
import { createLedger, type Ledger } from '../ledger/ledger-service.ts'
import { createDeliverer } from '../notifiers/deliverer.ts'
import { createAlertsRepo, type AlertsRepo } from '../store/alerts-repo.ts'
import { createCoverageRepo, type CoverageRepo } from '../store/coverage-repo.ts'
import type { Db } from '../store/db.ts'
import { createExpectationsRepo, type ExpectationsRepo } from '../store/expectations-repo.ts'
import { createLedgerAssetsRepo, type LedgerAssetsRepo } from '../store/ledger-assets-repo.ts'
import { createLedgerChangesRepo } from '../store/ledger-changes-repo.ts'
import { createNotifyRepo, type NotifyRepo } from '../store/notify-repo.ts'
import type { Clock } from '../time/clock.ts'
import { latePort } from './late-port.ts'

export interface LedgerPartDeps {
  readonly db: Db
  readonly clock: Clock
  readonly log: Logger
  readonly config: LedgerConfig
  /** aedes.publish bound to QoS 1 (alerts/mqtt-publisher.ts); tests capture it. */
  readonly publish: MqttPublish
  /** The one audit log: operator actions on alerts are appended here. */
  readonly audit: AuditLog
  /** Where verdicts and runs go for the Influx export; undefined = export off. */
  readonly telemetry: TelemetrySink | undefined
  /** After each committed ledger pass (wakes the Influx exporter). */
  readonly afterCommit: () => void
  /** The notifier's HTTP client; tests pass a fake. */
  readonly fetch: typeof fetch
}

/** The compliance side of the collector, each piece built once; main.ts hands them out as narrow interfaces. */
export interface LedgerPart {
  readonly assets: LedgerAssetsRepo
  /** Node inventories and intentionally unprotected assets (API: /api/v1/coverage). */
  readonly coverage: CoverageRepo & { readonly bareMetalImageRoles: readonly string[] }
  readonly expectations: ExpectationsRepo
  readonly alertsRepo: AlertsRepo
  readonly channels: NotifyRepo
  readonly alerts: AlertService
  readonly diskHealth: DiskHealthStore
  readonly ledger: Ledger
  start(): void
  stop(): void
}

/**
 * Step of the composition root (main.ts): repos, then the alert service, the disk-health store, the ledger and
 * the notification deliverer. The alert service folds alerts of down nodes, which the ledger's liveness knows, and
 * the ledger raises alerts: that one cycle goes through an explicit late-bound port.
 */
export function composeLedger(d: LedgerPartDeps): LedgerPart {
  const assets = createLedgerAssetsRepo(d.db)
  const expectations = createExpectationsRepo(d.db)
  const alertsRepo = createAlertsRepo(d.db)
  const channels = createNotifyRepo(d.db)
  const changes = createLedgerChangesRepo(d.db)
  const deliverer = createDeliverer({ repo: channels, clock: d.clock, log: d.log, fetch: d.fetch })
  const foldingNodes = latePort<() => ReadonlyMap<string, string>>('the ledger (node liveness)')
  const alerts = createAlertService({
    alerts: alertsRepo,
    notify: channels,
    publish: d.publish,
    minSeverity: d.config.notifyMinSeverity,
    foldingNodes: () => foldingNodes.get()(),
    log: d.log,
    onQueued: () => deliverer.wake(),
    audit: (actor, action, target, detail) =>
      d.audit.append({ actor, action, target, detail }, new Date(d.clock.now())),
  })
  // Both callbacks run inside the ingest transaction: a raise is recorded there, a requeue is a ledger_changes row.
  const diskHealth = createDiskHealthStore(d.db, { raise: alerts.raise, onDeviceHealthChanged: changes.requeueNode })
  const ledger = createLedger(
    {
      db: d.db,
      assets,
      expectations,
      alerts,
      config: d.config,
      log: d.log,
      // Copies on a failed or degraded device stop counting toward 3-2-1-1-0 (docs/disk-health.md).
      deviceHealth: diskHealth.deviceHealth,
      audit: (action, target, detail, at) => d.audit.append({ actor: 'system', action, target, detail }, new Date(at)),
      telemetry: d.telemetry,
      afterCommit: d.afterCommit,
    },
    d.clock,
  )
  foldingNodes.bind(ledger.foldingNodes)
  return {
    assets,
    coverage: { ...createCoverageRepo(d.db), bareMetalImageRoles: d.config.bareMetalImageRoles },
    expectations,
    alertsRepo,
    channels,
    alerts,
    diskHealth,
    ledger,
    start(): void {
      // The broker's retained store starts empty: every alert's state first, then what the first pass changes.
      alerts.republishRetained()
      ledger.start()
      deliverer.start()
    },
    stop(): void {
      ledger.stop()
      deliverer.stop()
    },
  }
}
