import {
  assetAlertKinds,
  type AlertFlip,
  type AlertKind,
  type AlertRecord,
  type AlertState,
  type MaintenanceWindow,
  type NotifyDecision,
  type Severity,
} from '@backstop/shared'
import type { Db } from './db.ts'

export interface StoredAlert extends AlertRecord {
  readonly suppressedBy: string | null
  readonly updatedAt: number
}

export interface StoredFlip extends AlertFlip {
  readonly id: number
  readonly decision: NotifyDecision | 'suppressed'
}

export interface StoredWindow extends MaintenanceWindow {
  readonly id: number
  readonly reason: string
  readonly createdBy: string
  readonly createdAt: number
}

export interface AlertQuery {
  readonly state?: AlertState | undefined
  readonly severity?: Severity | undefined
  readonly kind?: AlertKind | undefined
  readonly node?: string | undefined
  readonly limit: number
  readonly offset: number
}

interface RawAlert {
  key: string
  kind: AlertKind
  node: string | null
  state: AlertState
  severity: Severity
  summary: string
  since: number
  acked_at: number | null
  acked_by: string | null
  silenced_until: number | null
  suppressed_by: string | null
  updated_at: number
}
interface RawFlip {
  id: number
  key: string
  kind: AlertKind
  node: string | null
  from_state: AlertFlip['from']
  to_state: AlertState
  severity: Severity
  summary: string
  at: number
  decision: NotifyDecision | 'suppressed'
}

const alertRow = (r: RawAlert): StoredAlert => ({
  key: r.key,
  kind: r.kind,
  node: r.node ?? undefined,
  state: r.state,
  severity: r.severity,
  summary: r.summary,
  since: r.since,
  ackedAt: r.acked_at,
  ackedBy: r.acked_by,
  silencedUntil: r.silenced_until,
  suppressedBy: r.suppressed_by,
  updatedAt: r.updated_at,
})
const flipRow = (r: RawFlip): StoredFlip => ({
  id: r.id,
  key: r.key,
  kind: r.kind,
  node: r.node ?? undefined,
  from: r.from_state,
  to: r.to_state,
  severity: r.severity,
  summary: r.summary,
  at: r.at,
  decision: r.decision,
})

export function createAlertsRepo(db: Db) {
  const get = db.prepare<[string], RawAlert>('SELECT * FROM alerts WHERE key = ?')
  const upsert = db.prepare(`INSERT INTO alerts (key, kind, node, state, severity, summary, since, acked_at, acked_by,
      silenced_until, suppressed_by, updated_at)
    VALUES (@key, @kind, @node, @state, @severity, @summary, @since, @ackedAt, @ackedBy,
      @silencedUntil, @suppressedBy, @updatedAt)
    ON CONFLICT (key) DO UPDATE SET state = excluded.state, severity = excluded.severity, summary = excluded.summary,
      since = excluded.since, acked_at = excluded.acked_at, acked_by = excluded.acked_by,
      silenced_until = excluded.silenced_until, suppressed_by = excluded.suppressed_by,
      updated_at = excluded.updated_at`)
  const insertFlip =
    db.prepare(`INSERT INTO alert_flips (key, kind, node, from_state, to_state, severity, summary, at, decision)
    VALUES (@key, @kind, @node, @from, @to, @severity, @summary, @at, @decision)`)
  const unpublished = db.prepare<[], RawFlip>('SELECT * FROM alert_flips WHERE published = 0 ORDER BY id')
  const markPublished = db.prepare('UPDATE alert_flips SET published = 1 WHERE id = ?')
  const flipsOf = db.prepare<[string, number], RawFlip>(
    'SELECT * FROM alert_flips WHERE key = ? ORDER BY id DESC LIMIT ?',
  )
  const windows = db.prepare<
    [number],
    {
      id: number
      start_at: number
      end_at: number
      node: string | null
      key_prefix: string | null
      reason: string
      created_by: string
      created_at: number
    }
  >('SELECT * FROM maintenance_windows WHERE end_at > ? ORDER BY start_at')
  const addWindow =
    db.prepare(`INSERT INTO maintenance_windows (start_at, end_at, node, key_prefix, reason, created_by, created_at)
    VALUES (@start, @end, @node, @keyPrefix, @reason, @createdBy, @createdAt)`)
  const firingOfNode = db.prepare<[string], RawAlert>(`SELECT * FROM alerts WHERE node = ? AND state = 'firing'`)
  const everyAlert = db.prepare<[], RawAlert>('SELECT * FROM alerts ORDER BY key')
  return {
    /** Every alert, firing and resolved, one at a time (the retained-state republish on start). */
    *each(): Generator<StoredAlert> {
      for (const r of everyAlert.iterate()) {
        yield alertRow(r)
      }
    },
    get(key: string): StoredAlert | undefined {
      const r = get.get(key)
      return r && alertRow(r)
    },
    put(a: AlertRecord, suppressedBy: string | null, at: number): void {
      upsert.run({
        key: a.key,
        kind: a.kind,
        node: a.node ?? null,
        state: a.state,
        severity: a.severity,
        summary: a.summary,
        since: a.since,
        ackedAt: a.ackedAt,
        ackedBy: a.ackedBy,
        silencedUntil: a.silencedUntil,
        suppressedBy,
        updatedAt: at,
      })
    },
    addFlip(f: AlertFlip, decision: StoredFlip['decision']): number {
      return Number(
        insertFlip.run({
          key: f.key,
          kind: f.kind,
          node: f.node ?? null,
          from: f.from,
          to: f.to,
          severity: f.severity,
          summary: f.summary,
          at: f.at,
          decision,
        }).lastInsertRowid,
      )
    },
    unpublishedFlips(): StoredFlip[] {
      return unpublished.all().map(flipRow)
    },
    markPublished(id: number): void {
      markPublished.run(id)
    },
    flips(key: string, limit: number): StoredFlip[] {
      return flipsOf.all(key, limit).map(flipRow)
    },
    firingOfNode(node: string): StoredAlert[] {
      return firingOfNode.all(node).map(alertRow)
    },
    activeWindows(now: number): StoredWindow[] {
      return windows.all(now).map((w) => ({
        id: w.id,
        start: w.start_at,
        end: w.end_at,
        node: w.node ?? undefined,
        keyPrefix: w.key_prefix ?? undefined,
        reason: w.reason,
        createdBy: w.created_by,
        createdAt: w.created_at,
      }))
    },
    addWindow(w: MaintenanceWindow & { reason: string; createdBy: string; createdAt: number }): number {
      return Number(
        addWindow.run({
          start: w.start,
          end: w.end,
          node: w.node ?? null,
          keyPrefix: w.keyPrefix ?? null,
          reason: w.reason,
          createdBy: w.createdBy,
          createdAt: w.createdAt,
        }).lastInsertRowid,
      )
    },
    deleteWindow(id: number): boolean {
      return db.prepare('DELETE FROM maintenance_windows WHERE id = ?').run(id).changes > 0
    },
    list(q: AlertQuery): { items: StoredAlert[]; total: number } {
      const where: string[] = []
      const params: Record<string, string | number> = {}
      for (const key of ['state', 'severity', 'kind', 'node'] as const) {
        if (q[key] !== undefined) {
          where.push(`${key} = @${key}`)
          params[key] = q[key]
        }
      }
      const w = where.length ? `WHERE ${where.join(' AND ')}` : ''
      const items = (
        db
          .prepare(`SELECT * FROM alerts ${w} ORDER BY state, since DESC, key LIMIT @limit OFFSET @offset`)
          .all({ ...params, limit: q.limit, offset: q.offset }) as RawAlert[]
      ).map(alertRow)
      const total = (db.prepare(`SELECT count(*) AS n FROM alerts ${w}`).get(params) as { n: number }).n
      return { items, total }
    },
    /** Asset-level alerts (assetAlertKinds) that started firing in [start, end], per key. */
    raisedBetween(start: number, end: number): { key: string; n: number }[] {
      return db
        .prepare(
          `SELECT key, count(*) AS n FROM alert_flips WHERE kind IN (${assetAlertKinds.map((k) => `'${k}'`).join(', ')})
        AND to_state = 'firing'
        AND from_state <> 'firing' AND at >= ? AND at <= ? GROUP BY key`,
        )
        .all(start, end) as { key: string; n: number }[]
    },
    firingCounts(): { kind: string; severity: string; n: number }[] {
      return db
        .prepare(
          `SELECT kind, severity, count(*) AS n FROM alerts WHERE state = 'firing' AND suppressed_by IS NULL ` +
            'GROUP BY kind, severity',
        )
        .all() as { kind: string; severity: string; n: number }[]
    },
  }
}
export type AlertsRepo = ReturnType<typeof createAlertsRepo>
