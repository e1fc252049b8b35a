import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { agentConfig, collectorSetup, eventually, startProc, tempDir, type Proc } from '../support/processes.ts'
import { assertExactlyOnceInOrder, burstRows, highestIndex } from './ledger-check.ts'

/**
 * kill -9 at ≥ 20 random points while 10,000 events flow from a real agent process (FileOutbox, MQTT transport,
 * runtime) to a real collector process (aedes, ingest, SQLite WAL): the victim alternates between collector and
 * agent, each restarted after the kill. At the end every event is stored exactly once, in the node's order.
 * The agent holds new events while 500 await an ack, so the flow cannot finish before the last kill however long
 * the restarts take on a loaded machine. FAULT_KILLS / FAULT_EVENTS / FAULT_SEED override the defaults (20 / 10,000 /
 * 6).
 */
const KILLS = Number(process.env['FAULT_KILLS'] ?? 20)
const COUNT = Number(process.env['FAULT_EVENTS'] ?? 10_000)
const COUNT_TEXT = COUNT.toLocaleString('en')
const SEED = Number(process.env['FAULT_SEED'] ?? 6)
const burstAgent = 'test/support/burst-agent.ts'

/** mulberry32: a seeded PRNG, so a failing run can be replayed with FAULT_SEED. */
function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

describe('fault injection: kill -9 at random points', { timeout: 14 * 60_000 }, () => {
  it(`${KILLS} kills (collector and agent in turn) in ${COUNT_TEXT} events: 0 lost, 0 doubled, in order`, async (t) => {
    const random = rng(SEED)
    const dir = tempDir(t, 'bk-faults-')
    const c = await collectorSetup(dir)
    const node = 'fault-kill'
    const cfg = agentConfig(dir, c.mqttUrl, { node })
    let collector: Proc = await c.start()
    const startAgent = (): Proc =>
      startProc(
        [
          '--import',
          'tsx',
          burstAgent,
          '--config',
          cfg,
          '--count',
          String(COUNT),
          '--from',
          String(highestIndex(c.dbFile, node) + 1),
          '--pace-ms',
          '100',
          '--max-pending',
          '500',
        ],
        join(dir, 'agent.log'),
      )
    let agent = startAgent()
    t.after(async () => {
      await agent.kill9()
      await collector.kill9()
    })
    const points: Array<{ victim: string; threshold: number; afterMs: number; committed: number }> = []
    // Random kill points spread over the flow: a committed-count threshold plus a random 0–300 ms on top.
    const thresholds = Array.from({ length: KILLS }, () => Math.round((0.02 + random() * 0.9) * COUNT)).sort(
      (x, y) => x - y,
    )
    for (let k = 0; k < KILLS; k++) {
      // At least one more commit since the previous kill, so every kill lands at a distinct point of the flow.
      const threshold = Math.max(thresholds[k]!, (points.at(-1)?.committed ?? 0) + 1)
      await eventually(
        () => (burstRows(c.dbFile, node).length >= threshold ? true : undefined),
        `${threshold} events committed before kill ${k + 1} (kills so far: ${JSON.stringify(points)})`,
        120_000,
      )
      const afterMs = Math.round(random() * 300)
      await new Promise((r) => setTimeout(r, afterMs))
      const victim = k % 2 === 0 ? 'collector' : 'agent'
      if (victim === 'collector') {
        await collector.kill9()
        points.push({ victim, threshold, afterMs, committed: burstRows(c.dbFile, node).length })
        collector = await c.start()
      } else {
        await agent.kill9()
        points.push({ victim, threshold, afterMs, committed: burstRows(c.dbFile, node).length })
        agent = startAgent()
      }
    }
    await agent.waitFor(/^drained$/m, 5 * 60_000)
    const stored = await eventually(
      () => (burstRows(c.dbFile, node).length >= COUNT ? burstRows(c.dbFile, node).length : undefined),
      'all events committed',
      60_000,
    )
    console.log(`# faults-kill ${JSON.stringify({ kills: points.length, events: COUNT, stored, seed: SEED, points })}`)
    assert.equal(points.length, KILLS)
    assert.ok(
      points.some((p) => p.committed > 0 && p.committed < COUNT),
      'kills landed while events were flowing',
    )
    assert.equal(new Set(points.map((p) => p.committed)).size, KILLS, 'every kill at a distinct ledger position')
    assertExactlyOnceInOrder(c.dbFile, node, COUNT)
  })
})
