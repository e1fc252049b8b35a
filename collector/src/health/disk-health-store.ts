import {
  acknowledgeBaseline,
  type AlertCondition,
  type DeviceHealthLookup,
  deviceHealthMap,
  type DiskAlert,
  diskAlertKey,
  type DiskBaseline,
  type DiskCounters,
  type DiskHealthBody,
  diskKey,
  type DiskThresholds,
  evaluateDiskHealth,
  initialBaseline,
  reconcileBaseline,
  type UsagePoint,
} from '@backstop/shared'
import type { Db } from '../store/db.ts'

/**
 * Collector side of disk health: stores each node's latest `disk.health` report, keeps the counter baselines
 * the operator acknowledges, samples filesystem usage for fill forecasts, and turns the pure rules of
 * shared/src/health into alert conditions (kind `unhealthy-device`). Conditions that no longer hold are
 * raised with `firing: false`, so transient states (heat, a pending sector rewritten) resolve by themselves.
 */
export interface DiskHealthStoreOptions {
  /** The alert service's `raise` (collector/src/alerts/alert-service.ts); runs inside the ingest transaction. */
  readonly raise?: (cond: AlertCondition, at: number) => unknown
  readonly thresholds?: DiskThresholds
  /**
   * Called (inside the transaction) when a device's health changed with this report, so the verdicts of the
   * node's assets are recomputed: compose/ledger.ts passes the ledger changes' `requeueNode`.
   */
  readonly onDeviceHealthChanged?: (node: string) => void
}

export interface AppliedDiskReport {
  readonly alerts: DiskAlert[]
  readonly conditions: AlertCondition[]
}

const HISTORY_DAYS = 31
/** The disk alerts an acknowledgement answers: damage seen on first sight and growth since the baseline. */
const acknowledgedRules = ['pre-existing-damage', 'counter-grew'] as const

export function createDiskHealthStore(db: Db, opts: DiskHealthStoreOptions = {}) {
  const q = {
    putReport: db.prepare(`INSERT INTO disk_reports (node, at, body) VALUES (?, ?, ?)
      ON CONFLICT (node) DO UPDATE SET at = excluded.at, body = excluded.body WHERE excluded.at >= disk_reports.at`),
    report: db.prepare<[string], { at: string; body: string }>('SELECT at, body FROM disk_reports WHERE node = ?'),
    baselines: db.prepare<
      [string],
      { disk_key: string; counters: string; first_seen_at: string; acknowledged_at: string | null }
    >('SELECT disk_key, counters, first_seen_at, acknowledged_at FROM disk_baselines WHERE node = ?'),
    putBaseline:
      db.prepare(`INSERT INTO disk_baselines (node, disk_key, counters, first_seen_at, acknowledged_at, acknowledged_by)
      VALUES (@node, @key, @counters, @firstSeen, @ackAt, @ackBy)
      ON CONFLICT (node, disk_key) DO UPDATE SET counters = excluded.counters,
        acknowledged_at = coalesce(excluded.acknowledged_at, disk_baselines.acknowledged_at),
        acknowledged_by = coalesce(excluded.acknowledged_by, disk_baselines.acknowledged_by)`),
    sample: db.prepare(
      'INSERT OR REPLACE INTO fs_usage_samples (node, mount, at, used_bytes, size_bytes) VALUES (?, ?, ?, ?, ?)',
    ),
    history: db.prepare<[string, string], { mount: string; at: string; used_bytes: number; size_bytes: number }>(
      'SELECT mount, at, used_bytes, size_bytes FROM fs_usage_samples WHERE node = ? AND at >= ? ORDER BY at',
    ),
    prune: db.prepare('DELETE FROM fs_usage_samples WHERE node = ? AND at < ?'),
    firing: db.prepare<[string], { alert_key: string }>('SELECT alert_key FROM disk_alerts_firing WHERE node = ?'),
    fire: db.prepare('INSERT OR IGNORE INTO disk_alerts_firing (node, alert_key) VALUES (?, ?)'),
    clear: db.prepare('DELETE FROM disk_alerts_firing WHERE node = ? AND alert_key = ?'),
  }

  const baselines = (node: string): Map<string, DiskBaseline> =>
    new Map(
      q.baselines.all(node).map((r) => [
        r.disk_key,
        {
          diskKey: r.disk_key,
          counters: JSON.parse(r.counters) as DiskCounters,
          firstSeenAt: r.first_seen_at,
          acknowledgedAt: r.acknowledged_at,
        },
      ]),
    )

  const putBaseline = (node: string, b: DiskBaseline, by: string | null): void => {
    q.putBaseline.run({
      node,
      key: b.diskKey,
      counters: JSON.stringify(b.counters),
      firstSeen: b.firstSeenAt,
      ackAt: by === null ? null : b.acknowledgedAt,
      ackBy: by,
    })
  }

  const latest = (node: string): DiskHealthBody | undefined => {
    const r = q.report.get(node)
    return r === undefined ? undefined : (JSON.parse(r.body) as DiskHealthBody)
  }

  return {
    /**
     * Call from the ingest handler, inside the batch transaction. Alerts are judged against the baselines as
     * they were *before* this report (so growth shows), then the baselines are reconciled (new disks start at
     * their current values; counters that went down lower the baseline).
     */
    applyReport(node: string, body: DiskHealthBody, receivedAt: Date): AppliedDiskReport {
      const at = body.at
      const healthBefore = healthSignature(latest(node), baselines(node))
      q.putReport.run(node, at, JSON.stringify(body))
      for (const fs of body.filesystems) {
        q.sample.run(node, fs.mount, at, fs.usedBytes, fs.sizeBytes)
      }
      const since = new Date(Date.parse(at) - HISTORY_DAYS * 86_400_000).toISOString()
      q.prune.run(node, since)
      const history = new Map<string, UsagePoint[]>()
      for (const r of q.history.all(node, since)) {
        const list = history.get(r.mount) ?? []
        list.push({ at: r.at, usedBytes: r.used_bytes, sizeBytes: r.size_bytes })
        history.set(r.mount, list)
      }
      const base = baselines(node)
      const alerts = evaluateDiskHealth({
        report: body,
        baselines: base,
        usageHistory: history,
        now: receivedAt,
        ...(opts.thresholds ? { thresholds: opts.thresholds } : {}),
      })
      for (const d of body.disks) {
        const key = diskKey(d)
        const b = base.get(key)
        putBaseline(node, b === undefined ? initialBaseline(d, receivedAt) : reconcileBaseline(b, d), null)
      }
      const conditions = this.conditionsFor(node, alerts)
      const ms = receivedAt.getTime()
      for (const c of conditions) {
        opts.raise?.(c, ms)
        if (c.firing) {
          q.fire.run(node, c.key)
        } else {
          q.clear.run(node, c.key)
        }
      }
      if (opts.onDeviceHealthChanged && healthSignature(latest(node), baselines(node)) !== healthBefore) {
        opts.onDeviceHealthChanged(node)
      }
      return { alerts, conditions }
    },

    /** Firing conditions for `alerts` plus a resolving one for every disk alert of the node that stopped. */
    conditionsFor(node: string, alerts: readonly DiskAlert[]): AlertCondition[] {
      const now = new Map(alerts.map((a) => [diskAlertKey(node, a), a]))
      const out: AlertCondition[] = [...now].map(([key, a]) => ({
        key,
        kind: 'unhealthy-device',
        severity: a.severity,
        node,
        summary: a.message,
        firing: true,
      }))
      for (const { alert_key: key } of q.firing.all(node)) {
        if (!now.has(key)) {
          out.push({
            key,
            kind: 'unhealthy-device',
            severity: 'info',
            node,
            summary: 'disk condition cleared',
            firing: false,
          })
        }
      }
      return out
    },

    /**
     * The operator accepts a disk's current counters ("yes, 8 reallocated sectors, I know"). The damage and growth
     * alerts of the disk resolve at once (not at its next report, up to an interval later); the ledger's next
     * pass publishes them.
     */
    acknowledge(node: string, key: string, by: string, at: Date): DiskBaseline | undefined {
      const d = latest(node)?.disks.find((x) => diskKey(x) === key)
      const b = baselines(node).get(key)
      if (d === undefined || b === undefined) {
        return undefined
      }
      const acked = acknowledgeBaseline(b, d, at)
      db.transaction(() => {
        putBaseline(node, acked, by)
        const firing = new Set(q.firing.all(node).map((r) => r.alert_key))
        for (const rule of acknowledgedRules) {
          const alert = diskAlertKey(node, { rule, subject: key })
          // Without an alert service (the CLI) the row stays, so the next report resolves the alert instead.
          if (opts.raise !== undefined && firing.has(alert)) {
            const summary = `acknowledged by ${by}: the current counters are the baseline`
            opts.raise({ key: alert, kind: 'unhealthy-device', severity: 'info', node, summary, firing: false }, +at)
            q.clear.run(node, alert)
          }
        }
      })()
      return acked
    },

    latest,
    baselines,

    /** For the ledger's `deviceHealth` (compose/ledger.ts): is the device under a copy failed/degraded? */
    deviceHealth(node: string): DeviceHealthLookup {
      const report = latest(node)
      if (report === undefined) {
        return () => 'unknown'
      }
      const map = deviceHealthMap(report, baselines(node))
      return (key) => map.get(key) ?? 'unknown'
    },
  }
}
export type DiskHealthStore = ReturnType<typeof createDiskHealthStore>

/** A stable string of key → health, to tell whether a report changed any device's health. */
function healthSignature(report: DiskHealthBody | undefined, base: ReadonlyMap<string, DiskBaseline>): string {
  if (report === undefined) {
    return ''
  }
  return [...deviceHealthMap(report, base)]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, h]) => `${k}=${h}`)
    .join(',')
}
