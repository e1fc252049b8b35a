import type { JobFinishedBody, JobProgressBody, JobStartedBody } from '@backstop/shared'
import type { Statement } from 'better-sqlite3'
import type { Db } from './db.ts'
import { isoOf, type EpochMs } from './iso-time.ts'

export type RunState = 'running' | 'success' | 'partial' | 'failed'

export interface RunRow {
  readonly node: string
  readonly runId: string
  readonly job: string
  readonly jobKind: string
  readonly trigger: string | null
  readonly scheduledFor: string | null
  readonly startedAt: string
  readonly finishedAt: string | null
  readonly durationMs: number | null
  readonly status: RunState
  readonly bytes: number | null
  readonly error: { code: string; message: string } | null
  readonly progress: { percent: number; message: string | null } | null
  readonly warnings: string[]
  readonly copies: number | null
  readonly deleted: number | null
  readonly updatedAt: string
}

export interface RunQuery {
  readonly node?: string
  readonly job?: string
  readonly status?: RunState
  /** started_at >= since */
  readonly since?: string
  /** started_at < until */
  readonly until?: string
  readonly limit: number
  readonly offset: number
}

export interface RunsRepo {
  /** true when the run is new (first seen running): the ledger must learn that it started. */
  started(node: string, b: JobStartedBody, at: EpochMs): boolean
  progress(node: string, b: JobProgressBody, at: EpochMs): void
  /** true when the run left `running` or was first seen finished: the ledger must learn that it finished. */
  finished(node: string, b: JobFinishedBody, at: EpochMs): boolean
  get(node: string, runId: string): RunRow | undefined
  /** Newest first. */
  query(q: RunQuery): RunRow[]
}

interface RawRun {
  node: string
  run_id: string
  job: string
  job_kind: string
  trigger: string | null
  scheduled_for: string | null
  started_at: string
  finished_at: string | null
  duration_ms: number | null
  status: RunState
  bytes: number | null
  error_code: string | null
  error_message: string | null
  progress_percent: number | null
  progress_message: string | null
  warnings: string | null
  copies_count: number | null
  deleted_count: number | null
  updated_at: string
}

export function createRunsRepo(db: Db): RunsRepo {
  // job.started and job.finished arrive in seq order, but a run may be reported finished without a started
  // event (e.g. the agent lost it before the outbox existed); both write paths tolerate either order and never
  // regress a status. UPDATE-then-INSERT, so each path knows whether the run is new or just left `running`: that
  // is what the ingest handlers tell the ledger (ledger-changes-repo.ts).
  const startedUpd = db.prepare(
    `UPDATE runs SET trigger = @trigger, scheduled_for = @scheduledFor WHERE node = @node AND run_id = @runId`,
  )
  const startedIns =
    db.prepare(`INSERT INTO runs (node, run_id, job, job_kind, trigger, scheduled_for, started_at, status, updated_at)
    VALUES (@node, @runId, @job, @jobKind, @trigger, @scheduledFor, @startedAt, 'running', @at)
    ON CONFLICT (node, run_id) DO NOTHING`)
  const progress =
    db.prepare(`UPDATE runs SET progress_percent = @percent, progress_message = @message, updated_at = @at
    WHERE node = @node AND run_id = @runId AND status = 'running'`)
  const finishing = `UPDATE runs SET job = @job, job_kind = @jobKind, started_at = @startedAt,
      finished_at = @finishedAt, duration_ms = @durationMs, status = @status, bytes = @bytes, error_code = @errorCode,
      error_message = @errorMessage, warnings = @warnings, copies_count = @copies, deleted_count = @deleted,
      updated_at = @at
    WHERE node = @node AND run_id = @runId`
  const finishedFromRunning = db.prepare(`${finishing} AND status = 'running'`)
  const finishedUpd = db.prepare(finishing)
  const finishedIns =
    db.prepare(`INSERT INTO runs (node, run_id, job, job_kind, started_at, finished_at, duration_ms, status, bytes,
      error_code, error_message, warnings, copies_count, deleted_count, updated_at)
    VALUES (@node, @runId, @job, @jobKind, @startedAt, @finishedAt, @durationMs, @status, @bytes, @errorCode,
      @errorMessage, @warnings, @copies, @deleted, @at) ON CONFLICT (node, run_id) DO NOTHING`)
  const get = db.prepare<[string, string], RawRun>('SELECT * FROM runs WHERE node = ? AND run_id = ?')
  const cache = new Map<string, Statement>()
  return {
    started: (node, b, at) => {
      const row = {
        node,
        runId: b.runId,
        job: b.job,
        jobKind: b.jobKind,
        trigger: b.trigger,
        scheduledFor: b.scheduledFor ?? null,
        startedAt: b.startedAt,
        at: isoOf(at),
      }
      const known = startedUpd.run({ node, runId: b.runId, trigger: b.trigger, scheduledFor: b.scheduledFor ?? null })
      return known.changes === 0 && startedIns.run(row).changes === 1
    },
    progress: (node, b, at) => {
      progress.run({ node, runId: b.runId, percent: b.percent, message: b.message ?? null, at: isoOf(at) })
    },
    finished: (node, b, at) => {
      const row = {
        node,
        runId: b.runId,
        job: b.job,
        jobKind: b.jobKind,
        startedAt: b.startedAt,
        finishedAt: b.finishedAt,
        durationMs: Math.max(0, Date.parse(b.finishedAt) - Date.parse(b.startedAt)),
        status: b.status,
        bytes: b.bytes ?? null,
        errorCode: b.error?.code ?? null,
        errorMessage: b.error?.message ?? null,
        warnings: JSON.stringify(b.warnings),
        copies: b.copies.length,
        deleted: b.deleted.length,
        at: isoOf(at),
      }
      if (finishedFromRunning.run(row).changes === 1) {
        return true
      }
      // Already finished (a re-report): refresh the row, the ledger has seen this run finish.
      return finishedUpd.run(row).changes === 0 && finishedIns.run(row).changes === 1
    },
    get: (node, runId) => {
      const r = get.get(node, runId)
      return r ? toRow(r) : undefined
    },
    query: (q) => {
      const where: string[] = []
      const params: Record<string, string | number> = { limit: q.limit, offset: q.offset }
      for (const [col, key] of [
        ['node', 'node'],
        ['job', 'job'],
        ['status', 'status'],
      ] as const) {
        if (q[key] !== undefined) {
          where.push(`${col} = @${key}`)
          params[key] = q[key]
        }
      }
      if (q.since !== undefined) {
        where.push('started_at >= @since')
        params['since'] = q.since
      }
      if (q.until !== undefined) {
        where.push('started_at < @until')
        params['until'] = q.until
      }
      // Built only from the fixed fragments above (at most 2^5 shapes, cached); values are bound parameters.
      const sql = `SELECT * FROM runs ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY started_at DESC, node, run_id LIMIT @limit OFFSET @offset`
      let stmt = cache.get(sql)
      if (!stmt) {
        stmt = db.prepare(sql)
        cache.set(sql, stmt)
      }
      return (stmt.all(params) as RawRun[]).map(toRow)
    },
  }
}

function toRow(r: RawRun): RunRow {
  return {
    node: r.node,
    runId: r.run_id,
    job: r.job,
    jobKind: r.job_kind,
    trigger: r.trigger,
    scheduledFor: r.scheduled_for,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    durationMs: r.duration_ms,
    status: r.status,
    bytes: r.bytes,
    error: r.error_code !== null ? { code: r.error_code, message: r.error_message ?? '' } : null,
    progress: r.progress_percent !== null ? { percent: r.progress_percent, message: r.progress_message } : null,
    warnings: r.warnings ? (JSON.parse(r.warnings) as string[]) : [],
    copies: r.copies_count,
    deleted: r.deleted_count,
    updatedAt: r.updated_at,
  }
}
