import { Gauge, type Registry } from 'prom-client'
import type { DbStats, DiskStats } from '../store/upkeep.ts'

/** What /metrics reads about the collector's own storage (compose/upkeep.ts), at scrape time. */
export interface StorageSource {
  db(): DbStats
  disk(): DiskStats & { readonly daysUntilFull: number | null }
  /** Rows deleted by retention since start, per table, and when the last pass ran (epoch ms). */
  retention(): { readonly totals: Readonly<Record<string, number>>; readonly lastAt: number | undefined }
}

/**
 * The collector's own storage in /metrics (docs/reliability.md "Database upkeep"): the database and WAL sizes,
 * free pages, the fill of the data directory's file system and its days-until-full forecast, retention progress.
 */
export function registerStorageMetrics(registry: Registry, s: StorageSource): void {
  const gauge = (name: string, help: string, read: () => number | null, labelNames: string[] = []): Gauge => {
    return new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        const v = read()
        // No value (e.g. no forecast yet): no sample, rather than a made-up number.
        this.reset()
        if (v !== null && Number.isFinite(v)) {
          this.set(v)
        }
      },
    })
  }
  gauge('backstop_collector_db_bytes', 'Size of the collector database file', () => s.db().dbBytes)
  gauge('backstop_collector_db_wal_bytes', 'Size of the database write-ahead log', () => s.db().walBytes)
  gauge('backstop_collector_db_pages', 'Pages in the database file', () => s.db().pages)
  gauge(
    'backstop_collector_db_free_pages',
    'Free pages in the database file (given back by incremental vacuum after retention)',
    () => s.db().freePages,
  )
  gauge('backstop_collector_db_page_size_bytes', 'Database page size', () => s.db().pageSize)
  gauge('backstop_collector_data_disk_size_bytes', "Size of the data directory's file system", () => s.disk().sizeBytes)
  gauge(
    'backstop_collector_data_disk_used_bytes',
    "Used bytes of the data directory's file system",
    () => s.disk().usedBytes,
  )
  gauge(
    'backstop_collector_data_disk_available_bytes',
    "Bytes of the data directory's file system available to the collector",
    () => s.disk().availableBytes,
  )
  gauge('backstop_collector_data_disk_used_ratio', "Fill of the data directory's file system (0..1)", () => {
    const d = s.disk()
    return d.sizeBytes > 0 ? d.usedBytes / d.sizeBytes : null
  })
  gauge(
    'backstop_collector_data_disk_full_forecast_days',
    "Days until the data directory's file system is full (linear fit of hourly samples; absent when not growing)",
    () => s.disk().daysUntilFull,
  )
  gauge('backstop_collector_retention_last_run_timestamp_seconds', 'When the last retention pass ran', () => {
    const at = s.retention().lastAt
    return at === undefined ? null : at / 1000
  })
  new Gauge({
    name: 'backstop_collector_retention_deleted_rows',
    help: 'Rows deleted by retention since the collector started, per table',
    labelNames: ['table'],
    registers: [registry],
    collect() {
      this.reset()
      for (const [table, n] of Object.entries(s.retention().totals)) {
        this.set({ table }, n)
      }
    },
  })
}
