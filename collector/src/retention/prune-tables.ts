import type { RetentionConfig } from '../config/retention.ts'
import type { Db } from '../store/db.ts'
import { isoOf, type EpochMs } from '../store/iso-time.ts'

const DAY_MS = 86_400_000

/** What one step did: rows deleted, and whether the table may hold more to prune in this pass. */
export interface Stepped {
  readonly deleted: number
  readonly more: boolean
}

/** One table's retention rule: each step deletes at most `limit` rows in one transaction. */
export interface TablePruner {
  readonly table: string
  /** Called once at the start of each pass (before its first step). */
  begin?(now: EpochMs): void
  step(now: EpochMs, limit: number): Stepped
}

const stepped = (deleted: number, limit: number): Stepped => ({ deleted, more: deleted >= limit })

/** The rules of docs/reliability.md "Retention", one per table, in the order a pass runs them. */
export function tablePruners(db: Db, cfg: RetentionConfig): TablePruner[] {
  return [
    eventsPruner(db, cfg.eventsDays),
    // Tombstones before runs: a run is kept while a listed copy names it, so their pruning comes first.
    tombstonesPruner(db, cfg.tombstoneDays),
    runsPruner(db, cfg.runsDays),
    flipsPruner(db, cfg.alertFlipsDays),
    deliveriesPruner(db, cfg.alertFlipsDays),
    samplesPruner(db, cfg.diskSamplesDays),
  ]
}

const cutoff = (now: EpochMs, days: number): string => isoOf(now - days * DAY_MS)

/**
 * Raw events received before the window, oldest first (ids grow with receipt). Each node's `forgotten_through`
 * rises to the highest seq deleted, in the same transaction: from then on the high-water mark, not the msgId,
 * recognises a replay of those seqs (store/events-repo.ts). Events of an older epoch (before a re-enrollment with a
 * new key, id < epoch_from_id) leave the new epoch's mark alone.
 */
function eventsPruner(db: Db, days: number): TablePruner {
  const oldest = db.prepare<[string, number], { id: number; node: string; seq: number }>(
    'SELECT id, node, seq FROM events WHERE received_at < ? ORDER BY id LIMIT ?',
  )
  const epochs = db.prepare<[], { node: string; epoch: number }>(
    'SELECT node, epoch_from_id AS epoch FROM node_high_water',
  )
  const del = db.prepare('DELETE FROM events WHERE id <= ? AND received_at < ?')
  // SQLite reuses ids once the newest rows are gone (no AUTOINCREMENT): when no row at or above a node's
  // epoch_from_id is left, every row is of the old epoch, and the next id (max + 1) already starts the new one.
  const epochDown = db.prepare(`UPDATE node_high_water SET epoch_from_id = (SELECT coalesce(max(id), 0) + 1 FROM events)
    WHERE epoch_from_id > (SELECT coalesce(max(id), 0) + 1 FROM events)`)
  // A node with events but no mark (not possible after 0040's backfill) gets one: pruning must never forget silently.
  const forget = db.prepare(`INSERT INTO node_high_water (node, seq, msg_id, updated_at, forgotten_through)
    VALUES (@node, @seq, '', @at, @seq)
    ON CONFLICT (node) DO UPDATE SET forgotten_through = max(forgotten_through, excluded.forgotten_through),
      seq = max(seq, excluded.seq)`)
  const step = db.transaction((now: EpochMs, limit: number): Stepped => {
    const before = cutoff(now, days)
    const rows = oldest.all(before, limit)
    const last = rows[rows.length - 1]
    if (!last) {
      return stepped(0, limit)
    }
    const epoch = new Map(epochs.all().map((e) => [e.node, e.epoch]))
    const highest = new Map<string, number>()
    for (const r of rows) {
      if (r.id >= (epoch.get(r.node) ?? 0) && r.seq > (highest.get(r.node) ?? 0)) {
        highest.set(r.node, r.seq)
      }
    }
    for (const [node, seq] of highest) {
      forget.run({ node, seq, at: isoOf(now) })
    }
    const deleted = del.run(last.id, before).changes
    epochDown.run()
    return stepped(deleted, limit)
  })
  return { table: 'events', step }
}

/**
 * Finished runs started before the window, except the newest run of each (node, job) — the ledger's view of a
 * job's last outcome — and a run a listed copy (live, or a tombstone still kept) names as its creating, first or
 * last run: a copy kept by a yearly GFS class keeps the run that explains it for as long. The runs copies name are
 * read once per pass (a run older than the window cannot gain a copy during it); candidates are walked by a cursor.
 */
function runsPruner(db: Db, days: number): TablePruner {
  const named = db.prepare<[], { node: string; run: string }>(
    `SELECT node, created_run_id AS run FROM copies WHERE created_run_id IS NOT NULL
     UNION SELECT node, first_run_id FROM copies WHERE first_run_id IS NOT NULL
     UNION SELECT node, last_run_id FROM copies WHERE last_run_id IS NOT NULL`,
  )
  const candidates = db.prepare<
    { before: string; at: string; rowid: number; limit: number },
    { rowid: number; node: string; run_id: string; started_at: string }
  >(
    `SELECT r.rowid, r.node, r.run_id, r.started_at FROM runs r
     WHERE r.started_at < @before AND (r.started_at, r.rowid) > (@at, @rowid) AND r.status <> 'running'
       AND EXISTS (SELECT 1 FROM runs n WHERE n.node = r.node AND n.job = r.job AND n.started_at > r.started_at)
     ORDER BY r.started_at, r.rowid LIMIT @limit`,
  )
  const delRun = db.prepare('DELETE FROM runs WHERE rowid = ?')
  const delAssets = db.prepare('DELETE FROM ledger_run_assets WHERE node = ? AND run_id = ?')
  let keep = new Set<string>()
  let cursor = { at: '', rowid: 0 }
  const step = db.transaction((now: EpochMs, limit: number): Stepped => {
    const rows = candidates.all({ before: cutoff(now, days), ...cursor, limit })
    let n = 0
    for (const r of rows) {
      if (!keep.has(`${r.node}\0${r.run_id}`)) {
        delAssets.run(r.node, r.run_id)
        n += delRun.run(r.rowid).changes
      }
    }
    const last = rows[rows.length - 1]
    if (last) {
      cursor = { at: last.started_at, rowid: last.rowid }
    }
    return { deleted: n, more: rows.length >= limit }
  })
  return {
    table: 'runs',
    begin() {
      keep = new Set(named.all().map((r) => `${r.node}\0${r.run}`))
      cursor = { at: '', rowid: 0 }
    },
    step,
  }
}

/**
 * Copy tombstones deleted before the window, while the asset goes on without them (it has a live copy) or once
 * the asset is gone: no live copy, not present in the node's inventory, and not reported gone within the window.
 * An asset that exists with no live copy keeps its tombstones: they are the record of how it lost its copies.
 */
function tombstonesPruner(db: Db, days: number): TablePruner {
  const candidates = db.prepare<
    { before: string; at: string; rowid: number; limit: number },
    { rowid: number; node: string; copy_id: string; deleted_at: string; prune: number }
  >(
    `SELECT c.rowid, c.node, c.copy_id, c.deleted_at, (
         EXISTS (SELECT 1 FROM copies l WHERE l.node = c.node AND l.asset_kind = c.asset_kind
                   AND l.asset_id = c.asset_id AND l.deleted_at IS NULL)
         OR NOT EXISTS (SELECT 1 FROM assets a WHERE a.node = c.node AND a.asset_kind = c.asset_kind
                   AND a.asset_id = c.asset_id AND (a.present = 1 OR a.reported_at >= @before))
       ) AS prune
     FROM copies c
     WHERE c.deleted_at IS NOT NULL AND c.deleted_at < @before AND (c.deleted_at, c.rowid) > (@at, @rowid)
     ORDER BY c.deleted_at, c.rowid LIMIT @limit`,
  )
  const delCopy = db.prepare('DELETE FROM copies WHERE rowid = ?')
  let cursor = { at: '', rowid: 0 }
  const step = db.transaction((now: EpochMs, limit: number): Stepped => {
    const rows = candidates.all({ before: cutoff(now, days), ...cursor, limit })
    let n = 0
    for (const c of rows) {
      if (c.prune === 1) {
        n += delCopy.run(c.rowid).changes
      }
    }
    const last = rows[rows.length - 1]
    if (last) {
      cursor = { at: last.deleted_at, rowid: last.rowid }
    }
    return { deleted: n, more: rows.length >= limit }
  })
  return {
    table: 'copies (tombstones)',
    begin() {
      cursor = { at: '', rowid: 0 }
    },
    step,
  }
}

/** Alert flips before the window, except each alert's newest flip and those not yet published. */
function flipsPruner(db: Db, days: number): TablePruner {
  const del = db.prepare(`DELETE FROM alert_flips WHERE id IN (
    SELECT f.id FROM alert_flips f WHERE f.at < ? AND f.published = 1
      AND f.id <> (SELECT max(g.id) FROM alert_flips g WHERE g.key = f.key)
    ORDER BY f.at LIMIT ?)`)
  const step = db.transaction((now: EpochMs, limit: number) =>
    stepped(del.run(now - days * DAY_MS, limit).changes, limit),
  )
  return { table: 'alert_flips', step }
}

/** Notification deliveries that finished (sent or given up) before the alert-flip window. */
function deliveriesPruner(db: Db, days: number): TablePruner {
  const del = db.prepare(`DELETE FROM notify_queue WHERE id IN (
    SELECT id FROM notify_queue WHERE state <> 'pending' AND done_at < ? ORDER BY id LIMIT ?)`)
  const step = db.transaction((now: EpochMs, limit: number) =>
    stepped(del.run(now - days * DAY_MS, limit).changes, limit),
  )
  return { table: 'notify_queue', step }
}

/**
 * File-system usage samples before the window: the agents' (also of nodes that stopped reporting; the ingest
 * prunes a reporting node's own) and the collector host's (store/upkeep.ts).
 */
function samplesPruner(db: Db, days: number): TablePruner {
  const del = db.prepare(`DELETE FROM fs_usage_samples WHERE (node, mount, at) IN (
    SELECT node, mount, at FROM fs_usage_samples WHERE at < ? LIMIT ?)`)
  const own = db.prepare(`DELETE FROM collector_disk_samples WHERE at IN (
    SELECT at FROM collector_disk_samples WHERE at < ? LIMIT ?)`)
  const step = db.transaction((now: EpochMs, limit: number) => {
    const before = cutoff(now, days)
    const n = del.run(before, limit).changes
    return stepped(n + own.run(before, Math.max(0, limit - n)).changes, limit)
  })
  return { table: 'fs_usage_samples', step }
}
