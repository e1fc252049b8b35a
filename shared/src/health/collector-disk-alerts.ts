import type { FillForecast } from './forecast.ts'
import { alertKey, type AlertCondition } from '../compliance/alert-flips.ts'

export interface CollectorDiskThresholds {
  /** collector-disk-fill fires above this fill (percent of the file system holding the data directory). */
  readonly fillPercent: number
  /** collector-disk-forecast fires when the forecast says full in fewer days than this. */
  readonly fullInDays: number
}

export interface CollectorDiskState {
  readonly dataDir: string
  readonly sizeBytes: number
  readonly usedBytes: number
  /** forecastFull over the collector's own samples; null while there are too few. */
  readonly forecast: FillForecast | null
}

const DAY_MS = 86_400_000

/** Days until the data directory's file system is full; null when not growing or not known yet. */
export function daysUntilFull(s: CollectorDiskState, now: Date): number | null {
  const at = s.forecast?.fullAt
  return at ? Math.max(0, (Date.parse(at) - now.getTime()) / DAY_MS) : null
}

/**
 * The two alerts on the collector host's own disk (docs/reliability.md "Database upkeep"): a full disk stops the
 * ingest (SQLite cannot commit, so nothing is acknowledged and the agents' outboxes grow), so both page before it.
 * Critical past 95 % or when full within a week. Both conditions are always returned, so a clear resolves them.
 */
export function collectorDiskConditions(
  node: string,
  s: CollectorDiskState,
  th: CollectorDiskThresholds,
  now: Date,
): AlertCondition[] {
  const pct = s.sizeBytes > 0 ? (100 * s.usedBytes) / s.sizeBytes : 0
  const days = daysUntilFull(s, now)
  const where = `the file system of the collector's data directory ${s.dataDir}`
  return [
    {
      key: alertKey('collector-disk-fill', node),
      kind: 'collector-disk-fill',
      severity: pct >= 95 ? 'critical' : 'warning',
      node,
      firing: pct > th.fillPercent,
      summary:
        `${where} is ${pct.toFixed(1)} % full (alert above ${th.fillPercent} %): when it fills, the collector ` +
        'can no longer commit or acknowledge events; free space, move dataDir, or shorten retention',
    },
    {
      key: alertKey('collector-disk-forecast', node),
      kind: 'collector-disk-forecast',
      severity: days !== null && days < 7 ? 'critical' : 'warning',
      node,
      firing: days !== null && days < th.fullInDays,
      summary:
        days === null
          ? `${where} is not forecast to fill`
          : `${where} is forecast to be full in ${days.toFixed(1)} days (at ${s.forecast?.fullAt}, growing ` +
            `${Math.round(s.forecast?.bytesPerDay ?? 0)} bytes/day; alert below ${th.fullInDays} days)`,
    },
  ]
}
