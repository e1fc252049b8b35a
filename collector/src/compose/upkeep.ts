import {
  collectorDiskConditions,
  daysUntilFull,
  forecastFull,
  type AlertCondition,
  type FillForecast,
} from '@backstop/shared'
import type { Logger } from 'pino'
import type { AuditLog } from '../audit/audit-log.ts'
import type { DatabaseUpkeepConfig, RetentionConfig } from '../config/retention.ts'
import type { StorageSource } from '../metrics/storage-metrics.ts'
import { sealDueAuditSegment } from '../retention/audit-seal.ts'
import { createRetentionService, type RetentionService } from '../retention/retention-service.ts'
import type { Db } from '../store/db.ts'
import { isoOf } from '../store/iso-time.ts'
import { createWalCheckpointer, dbStats, diskStats, type DiskStats } from '../store/upkeep.ts'
import type { Clock } from '../time/clock.ts'

export interface UpkeepDeps {
  readonly db: Db
  readonly dbFile: string
  readonly dataDir: string
  readonly retention: RetentionConfig
  readonly database: DatabaseUpkeepConfig
  readonly clock: Clock
  readonly log: Logger
  readonly audit: AuditLog
  /** The collector's signing key pair (keys.ts): seals audit segments. */
  readonly keys: { readonly secretKey: string; readonly publicKey: string }
  /** The alert service (raise inside a transaction, publishPending after it). */
  readonly alerts: { raise(c: AlertCondition, at: number): unknown; publishPending(): unknown }
  /** The collector's node id in alert keys (the same as its self-backup's). */
  readonly node: string
  /** The file system of dataDir; default statfs (tests pass a fake disk). */
  readonly disk?: () => DiskStats
}

export interface UpkeepPart {
  readonly retention: RetentionService
  readonly storage: StorageSource
  /** One upkeep tick now: WAL policy, optimize when due, hourly disk sample and its alerts (tests). */
  tick(): void
  start(): void
  stop(): Promise<void>
}

const TICK_MS = 10_000
const SAMPLE_MS = 3_600_000
const CHECK_MS = 300_000
const SEGMENT_MAX_ENTRIES = 50_000

/**
 * The collector's care of its own state: retention on a schedule (retention/), SQLite upkeep (store/upkeep.ts:
 * WAL checkpoints, PRAGMA optimize) and the data directory's disk — hourly samples, a fill forecast, the
 * collector-disk-fill and collector-disk-forecast alerts, and all of it in /metrics.
 */
export function composeUpkeep(d: UpkeepDeps): UpkeepPart {
  const disk = d.disk ?? (() => diskStats(d.dataDir))
  const retention = createRetentionService({
    db: d.db,
    config: d.retention,
    clock: d.clock,
    log: d.log.child({ c: 'retention' }),
    sealAudit: (now) =>
      sealDueAuditSegment(
        {
          db: d.db,
          audit: d.audit,
          secretKey: d.keys.secretKey,
          publicKey: d.keys.publicKey,
          exportDir: d.retention.audit.exportDir,
          sealAfterDays: d.retention.audit.sealAfterDays,
          maxEntries: SEGMENT_MAX_ENTRIES,
          log: d.log.child({ c: 'audit-seal' }),
        },
        now,
      ),
  })
  const wal = createWalCheckpointer(
    d.db,
    d.dbFile,
    { truncateBytes: d.database.walTruncateBytes, idleMs: d.database.idleCheckpointMs },
    d.log,
  )
  const insertSample = d.db.prepare(
    'INSERT OR REPLACE INTO collector_disk_samples (at, used_bytes, size_bytes) VALUES (?, ?, ?)',
  )
  const samples = d.db.prepare<[string], { at: string; usedBytes: number; sizeBytes: number }>(
    'SELECT at, used_bytes AS usedBytes, size_bytes AS sizeBytes FROM collector_disk_samples WHERE at >= ? ORDER BY at',
  )
  const lastSample = d.db.prepare<[], { at: string }>('SELECT max(at) AS at FROM collector_disk_samples')
  let forecast: FillForecast | null = null
  let optimizedAt = d.clock.now()
  let checkedAt: number | undefined
  let timer: unknown

  // Samples hourly (kept in the database, so a restart keeps the trend); judges the disk every few minutes.
  const checkDisk = (now: number): void => {
    const s = disk()
    const last = lastSample.get()?.at
    if (!last || now - Date.parse(last) >= SAMPLE_MS) {
      insertSample.run(isoOf(now), s.usedBytes, s.sizeBytes)
    }
    forecast = forecastFull(samples.all(isoOf(now - d.retention.diskSamplesDays * 86_400_000)))
    const conds = collectorDiskConditions(
      d.node,
      { dataDir: d.dataDir, sizeBytes: s.sizeBytes, usedBytes: s.usedBytes, forecast },
      { fillPercent: d.database.diskFillAlertPercent, fullInDays: d.database.diskFullForecastDays },
      new Date(now),
    )
    d.db.transaction(() => conds.forEach((c) => d.alerts.raise(c, now)))()
    d.alerts.publishPending()
    checkedAt = now
  }

  const tick = (): void => {
    const now = d.clock.now()
    wal(now)
    if (now - optimizedAt >= d.database.optimizeIntervalMs) {
      d.db.pragma('optimize')
      optimizedAt = now
    }
    if (checkedAt === undefined || now - checkedAt >= CHECK_MS) {
      checkDisk(now)
    }
  }

  const loop = (): void => {
    timer = d.clock.setTimer(() => {
      try {
        tick()
      } catch (e) {
        d.log.error({ err: e }, 'database upkeep tick failed; retried at the next one')
      }
      loop()
    }, TICK_MS)
  }

  return {
    retention,
    tick,
    storage: {
      db: () => dbStats(d.db, d.dbFile),
      disk: () => {
        const s = disk()
        const days = daysUntilFull({ ...s, dataDir: d.dataDir, forecast }, new Date(d.clock.now()))
        return { ...s, daysUntilFull: days }
      },
      retention: () => ({ totals: retention.totals(), lastAt: retention.last()?.at }),
    },
    start() {
      retention.start()
      loop()
    },
    async stop() {
      if (timer !== undefined) {
        d.clock.clearTimer(timer)
      }
      await retention.stop()
      try {
        // SQLite's advice: optimize before closing a long-lived connection.
        d.db.pragma('optimize')
      } catch (e) {
        d.log.warn({ err: e }, 'PRAGMA optimize on stop failed')
      }
    },
  }
}
