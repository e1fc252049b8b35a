import type { Db } from './db.ts'
import { isoOf, type EpochMs } from './iso-time.ts'

export interface EventInsert {
  readonly node: string
  readonly msgId: string
  readonly seq: number
  readonly kind: string
  readonly ts: string
  readonly receivedAt: EpochMs
  readonly raw: string
}

export interface EventRow {
  readonly node: string
  readonly msgId: string
  readonly seq: number
  readonly kind: string
  readonly ts: string
  readonly receivedAt: string
}

export interface EventsRepo {
  /** Idempotent on (node, msgId): false when the message was already stored (a replay). */
  insert(e: EventInsert): boolean
  /** Per-node, in seq order (tests and audit tools). */
  listByNode(node: string, limit: number): EventRow[]
  count(node?: string): number
}

export function createEventsRepo(db: Db): EventsRepo {
  const insert = db.prepare(`INSERT INTO events (node, msg_id, seq, kind, ts, received_at, raw)
    VALUES (@node, @msgId, @seq, @kind, @ts, @receivedAt, @raw) ON CONFLICT (node, msg_id) DO NOTHING`)
  const byNode = db.prepare<
    [string, number],
    EventRow
  >(`SELECT node, msg_id AS msgId, seq, kind, ts, received_at AS receivedAt
    FROM events WHERE node = ? ORDER BY id LIMIT ?`)
  const countAll = db.prepare<[], { n: number }>('SELECT count(*) AS n FROM events')
  const countNode = db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM events WHERE node = ?')
  return {
    insert: (e) => insert.run({ ...e, receivedAt: isoOf(e.receivedAt) }).changes === 1,
    listByNode: (node, limit) => byNode.all(node, limit),
    count: (node) => (node === undefined ? countAll.get() : countNode.get(node))?.n ?? 0,
  }
}
