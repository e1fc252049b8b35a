import type { Logger } from 'pino'
import type { RetentionConfig } from '../config/retention.ts'
import type { Db } from '../store/db.ts'
import type { EpochMs } from '../store/iso-time.ts'
import { incrementalVacuum } from '../store/upkeep.ts'
import type { Clock } from '../time/clock.ts'
import type { SealedFile } from './audit-seal.ts'
import { tablePruners, type TablePruner } from './prune-tables.ts'

export interface RetentionReport {
  readonly at: EpochMs
  /** Rows deleted per table in this pass. */
  readonly deleted: Readonly<Record<string, number>>
  readonly sealed: readonly SealedFile[]
  readonly freedPages: number
  readonly ms: number
}

export interface RetentionDeps {
  readonly db: Db
  readonly config: RetentionConfig
  readonly clock: Clock
  readonly log: Logger
  /** Seals the next due audit segment (retention/audit-seal.ts); undefined when none is due. */
  readonly sealAudit: (now: EpochMs) => Promise<SealedFile | undefined>
  /** Lets the ingest run between two batches (default: the next macrotask). */
  readonly yieldTurn?: () => Promise<void>
}

export interface RetentionService {
  /** One pass over every table now (tests drive it with a fake clock). */
  runOnce(): Promise<RetentionReport>
  /** The schedule: a first pass a minute after start, then every `intervalMs`. */
  start(): void
  /** Stops the schedule and waits for a pass in progress (it stops after its current batch). */
  stop(): Promise<void>
  /** The last pass, for /metrics. */
  last(): RetentionReport | undefined
  /** Rows deleted per table since start, for /metrics. */
  totals(): Readonly<Record<string, number>>
}

const MAX_SEGMENTS_PER_PASS = 100
const VACUUM_PAGES_PER_STEP = 2000

/**
 * Runs the retention rules (prune-tables.ts) on a schedule inside the collector. Every table is pruned in batches of
 * `batchRows`, one transaction each, with a turn of the event loop in between, so the ingest never waits for more
 * than one batch. After the tables, due audit segments are sealed; then the freed pages go back to the file system.
 */
export function createRetentionService(d: RetentionDeps): RetentionService {
  const pruners: TablePruner[] = tablePruners(d.db, d.config)
  const yieldTurn = d.yieldTurn ?? (() => new Promise<void>((resolve) => setImmediate(resolve)))
  const totals: Record<string, number> = {}
  let last: RetentionReport | undefined
  let timer: unknown
  let running: Promise<RetentionReport> | undefined
  let stopped = false

  const pass = async (): Promise<RetentionReport> => {
    const now = d.clock.now()
    // Wall time the pass took, for the log only (the rules run on the injected clock's `now`).
    const started = performance.now()
    const deleted: Record<string, number> = {}
    for (const p of pruners) {
      p.begin?.(now)
      let n = 0
      for (;;) {
        const r = p.step(now, d.config.batchRows)
        n += r.deleted
        if (!r.more || stopped) {
          break
        }
        await yieldTurn()
      }
      deleted[p.table] = n
      totals[p.table] = (totals[p.table] ?? 0) + n
    }
    const sealed: SealedFile[] = []
    for (let i = 0; i < MAX_SEGMENTS_PER_PASS && !stopped; i++) {
      const s = await d.sealAudit(now)
      if (!s) {
        break
      }
      sealed.push(s)
    }
    let freedPages = 0
    for (;;) {
      const freed = incrementalVacuum(d.db, VACUUM_PAGES_PER_STEP)
      freedPages += freed
      if (freed < VACUUM_PAGES_PER_STEP || stopped) {
        break
      }
      await yieldTurn()
    }
    const report = { at: now, deleted, sealed, freedPages, ms: Math.round(performance.now() - started) }
    d.log.info(report, 'retention pass done')
    last = report
    return report
  }

  const runOnce = (): Promise<RetentionReport> => {
    running ??= pass().finally(() => {
      running = undefined
    })
    return running
  }

  const schedule = (delayMs: number): void => {
    timer = d.clock.setTimer(() => {
      runOnce()
        .catch((e: unknown) => d.log.error({ err: e }, 'retention pass failed; retried at the next interval'))
        .finally(() => {
          if (!stopped) {
            schedule(d.config.intervalMs)
          }
        })
    }, delayMs)
  }

  return {
    runOnce,
    start: () => {
      stopped = false
      schedule(Math.min(60_000, d.config.intervalMs))
    },
    stop: async () => {
      stopped = true
      if (timer !== undefined) {
        d.clock.clearTimer(timer)
      }
      await running?.catch(() => undefined)
    },
    last: () => last,
    totals: () => ({ ...totals }),
  }
}
