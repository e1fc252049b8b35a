import type { Db } from './db.ts'
import { encodeRaw } from './event-raw.ts'
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

/**
 * What `record` decided (docs/reliability.md "Duplicates"):
 * - `stored`: new, kept in `events`; the node's high-water mark rose if the seq is above it.
 * - `replay`: its msgId is still in `events` (the msgId window): acked again, nothing re-applied.
 * - `forgotten`: its msgId is unknown but its seq is at or below the node's `forgotten_through` (retention pruned
 *   the events of those seqs), so it cannot be told apart from a replay of a pruned event: acked, not applied.
 * - `renumbered`: stored like `stored`, but the window holds another msgId for the same seq: the agent's outbox
 *   restarted its numbering (wiped while the key was kept). Reported so the collector can say so.
 */
export type Recorded = 'stored' | 'replay' | 'forgotten' | 'renumbered'

export interface HighWaterRow {
  readonly node: string
  readonly seq: number
  readonly msgId: string
  readonly updatedAt: string
  readonly forgottenThrough: number
  /** Events with a lower id belong to an older epoch of the node (before its key was replaced). */
  readonly epochFromId: number
}

export interface EventsRepo {
  /** The idempotency gate of every durable kind; runs inside the batch transaction. */
  record(e: EventInsert): Recorded
  /** Per-node, in seq order (tests and audit tools). */
  listByNode(node: string, limit: number): EventRow[]
  count(node?: string): number
  /** Per node, the highest committed seq (node_high_water, migration 0040). */
  highWater(node: string): HighWaterRow | undefined
  /** A new agent epoch (key replaced by a re-enrollment): its seqs start again; old envelopes no longer verify. */
  resetHighWater(node: string, at: EpochMs): void
}

export function createEventsRepo(db: Db): EventsRepo {
  const insert = db.prepare(`INSERT INTO events (node, msg_id, seq, kind, ts, received_at, raw)
    VALUES (@node, @msgId, @seq, @kind, @ts, @receivedAt, @raw) ON CONFLICT (node, msg_id) DO NOTHING`)
  const mark = db.prepare<[string], HighWaterRow>(`SELECT node, seq, msg_id AS msgId, updated_at AS updatedAt,
    forgotten_through AS forgottenThrough, epoch_from_id AS epochFromId FROM node_high_water WHERE node = ?`)
  const raise = db.prepare(`INSERT INTO node_high_water (node, seq, msg_id, updated_at)
    VALUES (@node, @seq, @msgId, @receivedAt)
    ON CONFLICT (node) DO UPDATE SET seq = excluded.seq, msg_id = excluded.msg_id, updated_at = excluded.updated_at
    WHERE excluded.seq > node_high_water.seq`)
  const otherAtSeq = db.prepare<[string, number, string, number], { n: number }>(
    'SELECT count(*) AS n FROM events WHERE node = ? AND seq = ? AND msg_id <> ? AND id >= ?',
  )
  // Kept as a row (seq 0): events before epoch_from_id belong to the old key and must not move the new marks.
  const reset = db.prepare(`INSERT INTO node_high_water (node, seq, msg_id, updated_at, epoch_from_id)
    VALUES (@node, 0, '', @at, (SELECT coalesce(max(id), 0) + 1 FROM events))
    ON CONFLICT (node) DO UPDATE SET seq = 0, msg_id = '', updated_at = excluded.updated_at, forgotten_through = 0,
      epoch_from_id = excluded.epoch_from_id`)
  const byNode = db.prepare<
    [string, number],
    EventRow
  >(`SELECT node, msg_id AS msgId, seq, kind, ts, received_at AS receivedAt
    FROM events WHERE node = ? ORDER BY id LIMIT ?`)
  const countAll = db.prepare<[], { n: number }>('SELECT count(*) AS n FROM events')
  const countNode = db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM events WHERE node = ?')
  return {
    record(e) {
      const hw = mark.get(e.node)
      // Below what retention forgot: the msgId cannot be compared, and a replay must never apply twice.
      if (hw && e.seq <= hw.forgottenThrough) {
        return 'forgotten'
      }
      const receivedAt = isoOf(e.receivedAt)
      if (insert.run({ ...e, receivedAt, raw: encodeRaw(e.raw) }).changes === 0) {
        return 'replay'
      }
      if (!hw || e.seq > hw.seq) {
        raise.run({ node: e.node, seq: e.seq, msgId: e.msgId, receivedAt })
        return 'stored'
      }
      // At or below the mark and new: out of order (a transient rejection retried), or a renumbered outbox.
      return (otherAtSeq.get(e.node, e.seq, e.msgId, hw.epochFromId)?.n ?? 0) > 0 ? 'renumbered' : 'stored'
    },
    listByNode: (node, limit) => byNode.all(node, limit),
    count: (node) => (node === undefined ? countAll.get() : countNode.get(node))?.n ?? 0,
    highWater: (node) => mark.get(node),
    resetHighWater: (node, at) => {
      reset.run({ node, at: isoOf(at) })
    },
  }
}
