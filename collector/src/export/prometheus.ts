import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client'
import type { Counters } from '../metrics/counters.ts'
import { registerStorageMetrics, type StorageSource } from '../metrics/storage-metrics.ts'
import type { AlertsRepo } from '../store/alerts-repo.ts'
import type { Db } from '../store/db.ts'
import type { LedgerAssetsRepo } from '../store/ledger-assets-repo.ts'
import type { NotifyRepo } from '../store/notify-repo.ts'

/**
 * Prometheus /metrics. Everything is read at scrape time from aggregates (the materialised verdicts), never from
 * the copies table. Labels stay low-cardinality: per asset only node/kind/asset ids, never copy ids or reason text.
 */
export interface PrometheusDeps {
  readonly db: Db
  readonly assets: Pick<LedgerAssetsRepo, 'summary'>
  readonly alerts: Pick<AlertsRepo, 'firingCounts'>
  readonly channels: Pick<NotifyRepo, 'channels'>
  readonly downNodes: () => ReadonlySet<string>
  readonly counters: Counters
  /** The collector's own database and disk (compose/upkeep.ts); absent in tests that do not need them. */
  readonly storage?: StorageSource
}

export function createPrometheus(o: PrometheusDeps) {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'backstop_collector_' })
  const { db } = o

  const perAsset = db.prepare<
    [],
    {
      node: string
      asset_kind: string
      asset_id: string
      tier: string
      verdict: string
      last_success_at: number | null
    }
  >(`SELECT node, asset_kind, asset_id, tier, verdict, last_success_at FROM ledger_assets WHERE lifecycle = 'active'`)
  new Gauge({
    name: 'backstop_asset_last_success_timestamp_seconds',
    help: 'Creation time of the newest counted copy of the asset',
    labelNames: ['node', 'kind', 'asset'],
    registers: [registry],
    collect() {
      this.reset()
      for (const r of perAsset.all()) {
        if (r.last_success_at !== null) {
          this.set({ node: r.node, kind: r.asset_kind, asset: r.asset_id }, r.last_success_at / 1000)
        }
      }
    },
  })
  new Gauge({
    name: 'backstop_asset_compliant',
    help: '1 when the asset meets 3-2-1-1-0 for its tier, 0 when not (archived/decommissioned assets are absent)',
    labelNames: ['node', 'kind', 'asset', 'tier'],
    registers: [registry],
    collect() {
      this.reset()
      for (const r of perAsset.all()) {
        this.set(
          { node: r.node, kind: r.asset_kind, asset: r.asset_id, tier: r.tier },
          r.verdict === 'compliant' ? 1 : 0,
        )
      }
    },
  })
  new Gauge({
    name: 'backstop_assets',
    help: 'Assets by verdict and tier',
    labelNames: ['verdict', 'tier'],
    registers: [registry],
    collect() {
      this.reset()
      for (const r of o.assets.summary()) {
        this.set({ verdict: r.verdict, tier: r.tier }, r.assets)
      }
    },
  })
  const classes = db.prepare<[], { all: number | null; offsite: number | null; offline: number | null }>(`SELECT
    sum(json_extract(counts, '$.copies') - 1) AS "all", sum(json_extract(counts, '$.offsite')) AS offsite,
    sum(json_extract(counts, '$.offlineOrImmutable')) AS offline
    FROM ledger_assets WHERE lifecycle = 'active' AND counts <> '{}'`)
  new Gauge({
    name: 'backstop_copy_locations',
    help: 'Independent locations holding a good copy, summed over active assets, by class',
    labelNames: ['class'],
    registers: [registry],
    collect() {
      const r = classes.get()
      this.set({ class: 'any' }, r?.all ?? 0)
      this.set({ class: 'offsite' }, r?.offsite ?? 0)
      this.set({ class: 'offline_or_immutable' }, r?.offline ?? 0)
    },
  })
  new Gauge({
    name: 'backstop_alerts_firing',
    help: 'Firing alerts (not folded under a node-down alert) by kind and severity',
    labelNames: ['kind', 'severity'],
    registers: [registry],
    collect() {
      this.reset()
      for (const r of o.alerts.firingCounts()) {
        this.set({ kind: r.kind, severity: r.severity }, r.n)
      }
    },
  })
  const expectations = db.prepare<[], { status: string; n: number }>(
    'SELECT status, count(*) AS n FROM expectations GROUP BY status',
  )
  new Gauge({
    name: 'backstop_expectations',
    help: 'Missed-backup expectations by stored status',
    labelNames: ['status'],
    registers: [registry],
    collect() {
      this.reset()
      for (const r of expectations.all()) {
        this.set({ status: r.status }, r.n)
      }
    },
  })
  new Gauge({
    name: 'backstop_nodes_down',
    help: 'Nodes that are offline or silent past the heartbeat timeout',
    registers: [registry],
    collect() {
      this.set(o.downNodes().size)
    },
  })
  new Gauge({
    name: 'backstop_notify_queue',
    help: 'Notification deliveries by channel and state',
    labelNames: ['channel', 'state'],
    registers: [registry],
    collect() {
      this.reset()
      for (const ch of o.channels.channels()) {
        this.set({ channel: ch.name, state: 'pending' }, ch.health.pending)
        this.set({ channel: ch.name, state: 'dead' }, ch.health.dead)
      }
    },
  })

  if (o.storage) {
    registerStorageMetrics(registry, o.storage)
  }
  const sync = counterSync(registry, o.counters)
  return {
    registry,
    render: async () => {
      sync()
      return { contentType: registry.contentType, body: await registry.metrics() }
    },
  }
}

/** The core's in-process counters, as real Prometheus counters (incremented by the delta since the last scrape). */
function counterSync(registry: Registry, counters: Counters): () => void {
  const seen = new Map<string, number>()
  const promCounters = new Map<string, Counter<'label'>>()
  for (const name of Object.keys(counters.snapshot())) {
    promCounters.set(
      name,
      new Counter({
        name: `backstop_${name}`,
        help: `collector counter ${name} (label: code, kind or reason)`,
        labelNames: ['label'],
        registers: [registry],
      }),
    )
  }
  return () => {
    for (const [name, labels] of Object.entries(counters.snapshot())) {
      for (const [label, value] of Object.entries(labels)) {
        const k = `${name}\u0000${label}`
        const delta = value - (seen.get(k) ?? 0)
        if (delta > 0) {
          promCounters.get(name)?.inc({ label }, delta)
          seen.set(k, value)
        }
      }
    }
  }
}
