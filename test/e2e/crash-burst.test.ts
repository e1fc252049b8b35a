import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import Database from 'better-sqlite3'
import { agentConfig, collectorSetup, eventually, startProc, tempDir, type Proc } from '../support/processes.ts'

const COUNT = 5000
const burstAgent = 'test/support/burst-agent.ts'

/** Reads what the collector has committed, from its SQLite file (WAL allows a concurrent reader). */
function stored(dbFile: string, node: string): { rows: { id: number; seq: number; msgId: string; runId: string }[] } {
  const db = new Database(dbFile, { readonly: true, fileMustExist: true })
  try {
    const rows = db
      .prepare(
        `SELECT id, seq, msg_id AS msgId, json_extract(raw, '$.body.runId') AS runId
      FROM events WHERE node = ? AND kind = 'job.started' ORDER BY id`,
      )
      .all(node) as { id: number; seq: number; msgId: string; runId: string }[]
    return { rows }
  } finally {
    db.close()
  }
}

function storedCount(dbFile: string, node: string): number | undefined {
  try {
    const db = new Database(dbFile, { readonly: true, fileMustExist: true })
    try {
      return (
        db.prepare(`SELECT count(*) AS n FROM events WHERE node = ? AND kind = 'job.started'`).get(node) as {
          n: number
        }
      ).n
    } finally {
      db.close()
    }
  } catch {
    return undefined
  }
}

function maxIndex(dbFile: string, node: string): number {
  return Math.max(0, ...stored(dbFile, node).rows.map((r) => Number(r.runId.replace('burst-', ''))))
}

/** Every event exactly once, in the node's order (insertion order = seq order), none missing. */
function assertExactlyOnceInOrder(dbFile: string, node: string): void {
  const { rows } = stored(dbFile, node)
  const byRun = new Map<string, number>()
  for (const r of rows) {
    byRun.set(r.runId, (byRun.get(r.runId) ?? 0) + 1)
  }
  const dupes = [...byRun].filter(([, n]) => n > 1)
  assert.deepEqual(dupes, [], 'no event stored twice')
  const missing = Array.from({ length: COUNT }, (_, i) => `burst-${i + 1}`).filter((id) => !byRun.has(id))
  assert.deepEqual(missing, [], 'no event lost')
  assert.equal(rows.length, COUNT)
  for (let i = 1; i < rows.length; i++) {
    assert.ok(
      rows[i]!.seq > rows[i - 1]!.seq,
      `per-node order: row ${rows[i]!.id} seq ${rows[i]!.seq} after seq ${rows[i - 1]!.seq}`,
    )
  }
}

// The two cases share nothing (own directory, collector, agent, ports), so they run side by side.
describe('kill -9 during a burst of 5,000 events', { timeout: 240_000, concurrency: 2 }, () => {
  it('collector killed mid-burst and restarted: every event stored exactly once, in order', async (t) => {
    const dir = tempDir(t)
    const c = await collectorSetup(dir)
    let collector: Proc = await c.start()
    const node = 'crash-collector'
    const cfg = agentConfig(dir, c.mqttUrl, { node })
    const agent = startProc(
      // Reconnect backoff capped at 2 s (default: growing while the collector is down and restarting).
      ['--import', 'tsx', burstAgent, '--config', cfg, '--count', String(COUNT), '--backoff-max-ms', '2000'],
      join(dir, 'agent.log'),
    )
    t.after(async () => {
      await agent.kill9()
      await collector.kill9()
    })
    await eventually(
      () => ((storedCount(c.dbFile, node) ?? 0) >= 1000 ? true : undefined),
      '1,000 events committed',
      60_000,
    )
    await collector.kill9()
    const atKill = storedCount(c.dbFile, node) ?? 0
    assert.ok(atKill < COUNT, `the kill landed mid-burst (${atKill} of ${COUNT} committed)`)
    // The agent keeps emitting into its outbox while the collector is down.
    await new Promise((r) => setTimeout(r, 1500))
    collector = await c.start()
    await agent.waitFor(/^drained$/m, 120_000)
    assertExactlyOnceInOrder(c.dbFile, node)
  })

  it('agent killed mid-burst and restarted: every event stored exactly once, in order', async (t) => {
    const dir = tempDir(t)
    const c = await collectorSetup(dir)
    const collector = await c.start()
    const node = 'crash-agent'
    const cfg = agentConfig(dir, c.mqttUrl, { node })
    let agent = startProc(
      ['--import', 'tsx', burstAgent, '--config', cfg, '--count', String(COUNT)],
      join(dir, 'agent.log'),
    )
    t.after(async () => {
      await agent.kill9()
      await collector.kill9()
    })
    await agent.waitFor(/^emitted 2\d{3}$/m, 90_000)
    await agent.kill9()
    const from = maxIndex(c.dbFile, node) + 1
    agent = startProc(
      ['--import', 'tsx', burstAgent, '--config', cfg, '--count', String(COUNT), '--from', String(from)],
      join(dir, 'agent.log'),
    )
    const resumed = await agent.waitFor(/^resume (\d+)$/m)
    assert.ok(Number(resumed[1]) > 1 && Number(resumed[1]) <= COUNT, `resumed at ${resumed[1]}`)
    await agent.waitFor(/^drained$/m, 120_000)
    assertExactlyOnceInOrder(c.dbFile, node)
  })
})
