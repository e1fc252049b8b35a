import assert from 'node:assert/strict'
import Database from 'better-sqlite3'

/**
 * What the collector committed for `node`'s burst (runId burst-<i>), read from its SQLite file (WAL: a concurrent
 * reader is fine).
 */
export function burstRows(dbFile: string, node: string): { id: number; seq: number; runId: string }[] {
  try {
    const db = new Database(dbFile, { readonly: true, fileMustExist: true })
    try {
      return db
        .prepare(
          `SELECT id, seq, json_extract(raw, '$.body.runId') AS runId FROM events ` +
            `WHERE node = ? AND kind = 'job.started' ORDER BY id`,
        )
        .all(node) as { id: number; seq: number; runId: string }[]
    } finally {
      db.close()
    }
  } catch {
    return []
  }
}

export function highestIndex(dbFile: string, node: string): number {
  let max = 0
  for (const r of burstRows(dbFile, node)) {
    max = Math.max(max, Number(r.runId.replace('burst-', '')))
  }
  return max
}

/** 0 lost, 0 duplicated, stored in the node's seq order. Returns the row count. */
export function assertExactlyOnceInOrder(dbFile: string, node: string, count: number): number {
  const rows = burstRows(dbFile, node)
  const seen = new Map<string, number>()
  for (const r of rows) {
    seen.set(r.runId, (seen.get(r.runId) ?? 0) + 1)
  }
  assert.deepEqual([...seen].filter(([, n]) => n > 1).slice(0, 10), [], 'no event stored twice')
  const missing: string[] = []
  for (let i = 1; i <= count && missing.length < 10; i++) {
    if (!seen.has(`burst-${i}`)) {
      missing.push(`burst-${i}`)
    }
  }
  assert.deepEqual(missing, [], 'no event lost')
  assert.equal(rows.length, count)
  for (let i = 1; i < rows.length; i++) {
    if (!(rows[i]!.seq > rows[i - 1]!.seq)) {
      assert.fail(`per-node order broken at row ${rows[i]!.id}: seq ${rows[i]!.seq} after ${rows[i - 1]!.seq}`)
    }
  }
  return rows.length
}
