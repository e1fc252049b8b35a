import { InfluxDB, Point, setLogger, type WriteApi } from '@influxdata/influxdb-client'
import type { Logger } from 'pino'
import type { InfluxExportOptions } from '../config/schema.ts'
import type { Clock } from '../time/clock.ts'
import type { TelemetrySink } from '../ledger/context.ts'
import type { Db } from '../store/db.ts'

/**
 * Telemetry as InfluxDB line protocol to any `/api/v2/write` server (InfluxDB 2/3, VictoriaMetrics, Telegraf).
 * Lines are queued in SQLite first (export_queue, in the ledger's transaction) and deleted only after a 2xx: the
 * client's own retry buffer is RAM-only and drops lines, so it is switched off (maxRetries 0) and the queue does
 * the retrying with backoff. A TSDB outage of any length loses nothing (bounded by maxQueueLines).
 */
export function createExportQueue(db: Db) {
  const insert = db.prepare('INSERT INTO export_queue (line, created_at) VALUES (?, ?)')
  const take = db.prepare<[number], { id: number; line: string }>(
    'SELECT id, line FROM export_queue ORDER BY id LIMIT ?',
  )
  const del = db.prepare('DELETE FROM export_queue WHERE id <= ?')
  const count = db.prepare<[], { n: number }>('SELECT count(*) AS n FROM export_queue')
  const trim = db.prepare('DELETE FROM export_queue WHERE id <= (SELECT max(id) FROM export_queue) - ?')
  return {
    enqueue(line: string, at: number): void {
      insert.run(line, at)
    },
    take: (limit: number) => take.all(limit),
    /** Rows are taken in id order, so acknowledging up to the last id of a batch is exact. */
    ack(lastId: number): void {
      del.run(lastId)
    },
    size: (): number => count.get()?.n ?? 0,
    trim: (keep: number): number => trim.run(keep).changes,
  }
}
export type ExportQueue = ReturnType<typeof createExportQueue>

/** The ledger's telemetry hook: builds line protocol (ms precision) and queues it. */
export function influxSink(queue: ExportQueue): TelemetrySink {
  return {
    run(r) {
      const p = new Point('backstop_run')
        .tag('node', r.node)
        .tag('job', r.job)
        .tag('job_kind', r.jobKind)
        .tag('status', r.status)
        .intField('ok', r.status === 'failed' ? 0 : 1)
        .timestamp(r.at)
      if (r.durationMs !== null) {
        p.floatField('duration_s', r.durationMs / 1000)
      }
      if (r.bytes !== null) {
        p.intField('bytes', r.bytes)
      }
      queue.enqueue(p.toLineProtocol()!, r.at)
    },
    verdict(a) {
      const p = new Point('backstop_verdict')
        .tag('node', a.node)
        .tag('kind', a.kind)
        .tag('asset', a.id)
        .tag('tier', a.tier)
        .intField('compliant', a.status === 'compliant' ? 1 : 0)
        .intField('copies', a.counts.copies ?? 0)
        .intField('media_types', a.counts.mediaTypes ?? 0)
        .intField('offsite', a.counts.offsite ?? 0)
        .intField('offline_or_immutable', a.counts.offlineOrImmutable ?? 0)
        .intField('verification_errors', a.counts.verificationErrors ?? 0)
        .timestamp(a.at)
      queue.enqueue(p.toLineProtocol()!, a.at)
    },
  }
}

/** Drains the queue to the TSDB with one timer (next retry) and exponential backoff, 1 s → 5 min. */
export function createInfluxExporter(o: InfluxExportOptions & { queue: ExportQueue; clock: Clock; log: Logger }) {
  setLogger({
    error: (message, err) => o.log.debug({ err }, message),
    warn: (message, err) => o.log.debug({ err }, message),
  })
  const batchLines = o.batchLines ?? 5000
  const maxQueue = o.maxQueueLines ?? 1_000_000
  const api: WriteApi = new InfluxDB({ url: o.url, token: o.token, timeout: o.timeoutMs ?? 10_000 }).getWriteApi(
    o.org,
    o.bucket,
    'ms',
    { maxRetries: 0, flushInterval: 0, batchSize: batchLines + 1, maxBufferLines: batchLines + 1 },
  )
  let failures = 0
  let timer: unknown = null
  let current: Promise<void> | null = null
  let stopped = true
  let lastError: string | null = null
  let written = 0

  const pass = async (): Promise<void> => {
    const dropped = o.queue.trim(maxQueue)
    if (dropped > 0) {
      o.log.error({ dropped, maxQueue }, 'export queue over its limit: oldest telemetry lines dropped')
    }
    for (;;) {
      const rows = o.queue.take(batchLines)
      if (rows.length === 0 || stopped) {
        return
      }
      try {
        api.writeRecords(rows.map((r) => r.line))
        await api.flush()
        o.queue.ack(rows[rows.length - 1]!.id)
        written += rows.length
        failures = 0
        lastError = null
      } catch (e) {
        failures++
        lastError = (e as Error).message
        const delay = Math.min(1000 * 2 ** (failures - 1), 300_000)
        o.log.warn(
          { err: lastError, queued: o.queue.size(), retryInMs: delay },
          'telemetry export failed; lines stay queued',
        )
        timer = o.clock.setTimer(() => {
          timer = null
          void cycle()
        }, delay)
        return
      }
    }
  }
  const cycle = (): Promise<void> => {
    if (current === null && timer === null && !stopped) {
      current = pass().finally(() => {
        current = null
      })
    }
    return current ?? Promise.resolve()
  }
  return {
    start(): void {
      stopped = false
      void cycle()
    },
    /** After the ledger queued lines. A pending backoff timer is respected (no hammering a down TSDB). */
    wake: (): void => {
      void cycle()
    },
    drain: cycle,
    status: () => ({ queued: o.queue.size(), written, consecutiveFailures: failures, lastError }),
    async stop(): Promise<void> {
      stopped = true
      if (timer !== null) {
        o.clock.clearTimer(timer)
        timer = null
      }
      await current
      await api.close().catch(() => undefined)
    },
  }
}
export type InfluxExporter = ReturnType<typeof createInfluxExporter>

/**
 * The composition-root helper: with options, a queue-backed sink for the ledger plus its exporter; without, a
 * no-op (export not configured). main.ts passes `sink` and `wake` to createBrain and starts/stops it.
 */
export function createTelemetry(db: Db, log: Logger, opts: InfluxExportOptions | undefined, clock: Clock) {
  if (opts === undefined) {
    return {
      sink: undefined,
      wake: (): void => undefined,
      start: (): void => undefined,
      stop: async (): Promise<void> => undefined,
    }
  }
  const queue = createExportQueue(db)
  const exporter = createInfluxExporter({ ...opts, queue, clock, log })
  return { sink: influxSink(queue), wake: exporter.wake, start: exporter.start, stop: exporter.stop }
}
