import type { ExpectationSchedule, ExpectationState, StoredExpectationStatus } from '@backstop/shared'
import type { Db } from './db.ts'

export interface ExpectationKey {
  readonly node: string
  readonly job: string
  readonly assetKind: string
  readonly assetId: string
}

export interface ExpectationRow extends ExpectationKey {
  readonly id: number
  readonly state: ExpectationState
  readonly alertAfter: number | null
  readonly lastFlipAt: number | null
  readonly source: 'auto' | 'api'
}

interface Raw {
  id: number
  node: string
  job: string
  asset_kind: string
  asset_id: string
  schedule_kind: 'period' | 'cron'
  period_s: number | null
  cron: string | null
  timezone: string | null
  grace_s: number
  status: StoredExpectationStatus
  created_at: number
  last_finish_at: number | null
  running_since: number | null
  running_run_id: string | null
  alert_after: number | null
  last_flip_at: number | null
  source: 'auto' | 'api'
}

export interface ExpectationQuery {
  readonly node?: string | undefined
  readonly job?: string | undefined
  readonly status?: StoredExpectationStatus | undefined
  readonly limit: number
  readonly offset: number
}

function toRow(r: Raw): ExpectationRow {
  const schedule: ExpectationSchedule =
    r.schedule_kind === 'period'
      ? { kind: 'period', periodS: r.period_s ?? 86400 }
      : { kind: 'cron', cron: r.cron ?? '', timezone: r.timezone ?? 'UTC' }
  return {
    id: r.id,
    node: r.node,
    job: r.job,
    assetKind: r.asset_kind,
    assetId: r.asset_id,
    alertAfter: r.alert_after,
    lastFlipAt: r.last_flip_at,
    source: r.source,
    state: {
      schedule,
      graceS: r.grace_s,
      status: r.status,
      createdAt: r.created_at,
      lastFinishAt: r.last_finish_at ?? undefined,
      runningSince: r.running_since ?? undefined,
      runningRunId: r.running_run_id ?? undefined,
    },
  }
}

function scheduleParams(s: ExpectationSchedule) {
  return s.kind === 'period'
    ? { scheduleKind: 'period', periodS: s.periodS, cron: null, timezone: null }
    : { scheduleKind: 'cron', periodS: null, cron: s.cron, timezone: s.timezone }
}

export function createExpectationsRepo(db: Db) {
  const insert = db.prepare(`INSERT INTO expectations (node, job, asset_kind, asset_id, schedule_kind, period_s, cron,
      timezone, grace_s, status, created_at, alert_after, source)
    VALUES (@node, @job, @assetKind, @assetId, @scheduleKind, @periodS, @cron, @timezone, @graceS, 'new',
      @createdAt, @alertAfter, @source)
    ON CONFLICT (node, job, asset_kind, asset_id) DO NOTHING`)
  const getByKey = db.prepare<[string, string, string, string], Raw>(
    'SELECT * FROM expectations WHERE node = ? AND job = ? AND asset_kind = ? AND asset_id = ?',
  )
  const getById = db.prepare<[number], Raw>('SELECT * FROM expectations WHERE id = ?')
  const ofJob = db.prepare<[string, string], Raw>('SELECT * FROM expectations WHERE node = ? AND job = ?')
  const ofAsset = db.prepare<[string, string, string], Raw>(
    'SELECT * FROM expectations WHERE node = ? AND asset_kind = ? AND asset_id = ?',
  )
  const save =
    db.prepare(`UPDATE expectations SET status = @status, created_at = @createdAt, last_finish_at = @lastFinishAt,
    running_since = @runningSince, running_run_id = @runningRunId, alert_after = @alertAfter,
    last_flip_at = coalesce(@flipAt, last_flip_at) WHERE id = @id`)
  const setSchedule =
    db.prepare(`UPDATE expectations SET schedule_kind = @scheduleKind, period_s = @periodS, cron = @cron,
    timezone = @timezone, grace_s = @graceS, source = 'api' WHERE id = @id`)
  const declared = db.prepare(`UPDATE expectations SET schedule_kind = @scheduleKind, period_s = @periodS, cron = @cron,
    timezone = @timezone, alert_after = @alertAfter WHERE id = @id`)
  const retire = db.prepare('DELETE FROM expectations WHERE id = ?')
  const ofNode = db.prepare<[string], Raw>('SELECT * FROM expectations WHERE node = ?')
  const toLearn = db.prepare<
    [string, string],
    Raw
  >(`SELECT * FROM expectations WHERE node = ? AND job = ? AND source = 'auto'
    AND schedule_kind = 'period' AND last_finish_at IS NOT NULL
    AND (learned_for IS NULL OR learned_for <> last_finish_at)`)
  const learned = db.prepare('UPDATE expectations SET period_s = ?, learned_for = ?, alert_after = ? WHERE id = ?')
  const due = db.prepare<[number, number], Raw>(
    'SELECT * FROM expectations WHERE alert_after IS NOT NULL AND alert_after <= ? ORDER BY alert_after LIMIT ?',
  )
  const next = db.prepare<[], { t: number | null }>(
    'SELECT min(alert_after) AS t FROM expectations WHERE alert_after IS NOT NULL',
  )
  return {
    create(
      k: ExpectationKey,
      schedule: ExpectationSchedule,
      graceS: number,
      createdAt: number,
      alertAfter: number | null,
      source: 'auto' | 'api',
    ): ExpectationRow {
      insert.run({ ...k, ...scheduleParams(schedule), graceS, createdAt, alertAfter, source })
      return toRow(getByKey.get(k.node, k.job, k.assetKind, k.assetId) as Raw)
    },
    get(k: ExpectationKey): ExpectationRow | undefined {
      const r = getByKey.get(k.node, k.job, k.assetKind, k.assetId)
      return r && toRow(r)
    },
    byId(id: number): ExpectationRow | undefined {
      const r = getById.get(id)
      return r && toRow(r)
    },
    ofJob(node: string, job: string): ExpectationRow[] {
      return ofJob.all(node, job).map(toRow)
    },
    ofAsset(node: string, kind: string, id: string): ExpectationRow[] {
      return ofAsset.all(node, kind, id).map(toRow)
    },
    save(id: number, s: ExpectationState, alertAfter: number | null, flipAt: number | null): void {
      save.run({
        id,
        status: s.status,
        createdAt: s.createdAt,
        lastFinishAt: s.lastFinishAt ?? null,
        runningSince: s.runningSince ?? null,
        runningRunId: s.runningRunId ?? null,
        alertAfter,
        flipAt,
      })
    },
    setSchedule(id: number, schedule: ExpectationSchedule, graceS: number): void {
      setSchedule.run({ id, ...scheduleParams(schedule), graceS })
    },
    /** The schedule the agent declared for the job replaces the default or learned one (source stays `auto`). */
    declaredSchedule(id: number, schedule: ExpectationSchedule, alertAfter: number | null): void {
      declared.run({ id, ...scheduleParams(schedule), alertAfter })
    },
    /** The job is no longer declared: nothing is expected of it any more. */
    retire(id: number): void {
      retire.run(id)
    },
    ofNode(node: string): ExpectationRow[] {
      return ofNode.all(node).map(toRow)
    },
    /** Auto expectations of (node, job) with a finished run the period was not yet learned from. */
    toLearn(node: string, job: string): ExpectationRow[] {
      return toLearn.all(node, job).map(toRow)
    },
    learned(id: number, periodS: number, lastFinishAt: number, alertAfter: number | null): void {
      learned.run(periodS, lastFinishAt, alertAfter, id)
    },
    due(now: number, limit: number): ExpectationRow[] {
      return due.all(now, limit).map(toRow)
    },
    nextDeadline(): number | null {
      return next.get()?.t ?? null
    },
    list(q: ExpectationQuery): { items: ExpectationRow[]; total: number } {
      const where: string[] = []
      const params: Record<string, string | number> = {}
      for (const key of ['node', 'job', 'status'] as const) {
        if (q[key] !== undefined) {
          where.push(`${key} = @${key}`)
          params[key] = q[key]
        }
      }
      const w = where.length ? `WHERE ${where.join(' AND ')}` : ''
      const items = (
        db
          .prepare(
            `SELECT * FROM expectations ${w} ORDER BY node, job, asset_kind, asset_id LIMIT @limit OFFSET @offset`,
          )
          .all({ ...params, limit: q.limit, offset: q.offset }) as Raw[]
      ).map(toRow)
      const total = (db.prepare(`SELECT count(*) AS n FROM expectations ${w}`).get(params) as { n: number }).n
      return { items, total }
    },
  }
}
export type ExpectationsRepo = ReturnType<typeof createExpectationsRepo>
