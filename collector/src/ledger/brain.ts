import type { DeviceHealthLookup } from '@backstop/shared'
import type { Logger } from 'pino'
import type { AuditLog } from '../audit/audit-log.ts'
import { createAlertService, type MqttPublish } from '../alerts/alert-service.ts'
import { createDeliverer } from '../notifiers/deliverer.ts'
import { createAlertsRepo } from '../store/alerts-repo.ts'
import type { Db } from '../store/db.ts'
import { createExpectationsRepo } from '../store/expectations-repo.ts'
import { createLedgerAssetsRepo } from '../store/ledger-assets-repo.ts'
import { createNotifyRepo } from '../store/notify-repo.ts'
import { systemLedgerClock, type LedgerClock } from './clock.ts'
import { ledgerConfig, type LedgerConfig } from './config.ts'
import type { TelemetrySink } from './context.ts'
import { createLedger } from './ledger-service.ts'

export interface BrainOptions {
  readonly db: Db
  readonly log: Logger
  /** aedes.publish bound to QoS 1; alerts go to alertTopics.state(key) (retained) and alertTopics.events. */
  readonly publish: MqttPublish
  readonly clock?: LedgerClock
  readonly config?: LedgerConfig
  readonly deviceHealth?: (node: string) => DeviceHealthLookup
  readonly telemetry?: TelemetrySink
  /** Called after every committed ledger pass (main.ts: wake the Influx exporter). */
  readonly afterCommit?: () => void
  readonly fetch?: typeof fetch
  /** Records operator actions (ack, silence, policy changes) in the hash-chained audit log. */
  readonly audit?: (actor: string, action: string, target: string, detail: Record<string, unknown>) => void
}

const unknownHealth: DeviceHealthLookup = () => 'unknown'

/**
 * Wires the compliance brain: ledger (verdicts, expectations, node liveness), alerts (SQLite + MQTT) and the
 * notification deliverer. main.ts calls `start()` after the broker is up and `wake()` after every ingest commit
 * and node status change; `stop()` on shutdown.
 */
export function createBrain(o: BrainOptions) {
  const clock = o.clock ?? systemLedgerClock
  const config = o.config ?? ledgerConfig()
  const repos = {
    assets: createLedgerAssetsRepo(o.db),
    expectations: createExpectationsRepo(o.db),
    alerts: createAlertsRepo(o.db),
    notify: createNotifyRepo(o.db),
  }
  const deliverer = createDeliverer({ repo: repos.notify, clock, log: o.log, ...(o.fetch ? { fetch: o.fetch } : {}) })
  // The ledger owns node liveness; the alert service asks it lazily (they need each other).
  let downNodes: () => ReadonlySet<string> = () => new Set()
  const alerts = createAlertService({
    alerts: repos.alerts,
    notify: repos.notify,
    publish: o.publish,
    minSeverity: config.notifyMinSeverity,
    downNodes: () => downNodes(),
    log: o.log,
    onQueued: () => deliverer.wake(),
    ...(o.audit ? { audit: o.audit } : {}),
  })
  const ledger = createLedger(
    {
      db: o.db,
      assets: repos.assets,
      expectations: repos.expectations,
      alerts,
      config,
      log: o.log,
      deviceHealth: o.deviceHealth ?? (() => unknownHealth),
      telemetry: o.telemetry,
      afterCommit: o.afterCommit,
    },
    clock,
  )
  downNodes = ledger.downNodes
  return {
    repos,
    alerts,
    ledger,
    deliverer,
    config,
    clock,
    audit: o.audit ?? ((): void => undefined),
    start(): void {
      ledger.start()
      deliverer.start()
    },
    stop(): void {
      ledger.stop()
      deliverer.stop()
    },
    wake: (): void => ledger.wake(),
  }
}
export type Brain = ReturnType<typeof createBrain>

/** Operator actions into the hash-chained audit log (the security room's AuditLog). */
export function auditSink(log: AuditLog, now: () => number): NonNullable<BrainOptions['audit']> {
  return (actor, action, target, detail) => {
    log.append({ actor, action, target, detail }, new Date(now()))
  }
}
