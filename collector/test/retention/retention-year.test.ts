import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import pino from 'pino'
import { resolveRetention, type RetentionConfig } from '../../src/config/retention.ts'
import { createRetentionService, type RetentionService } from '../../src/retention/retention-service.ts'
import type { Db } from '../../src/store/db.ts'
import { harness, T0 } from '../ledger/harness.ts'
import { DAY, deletion, ledgerState, snapshotCopy, yearAgent } from './year-agent.ts'

const silent = pino({ level: 'silent' })

/** Short windows, so a simulated year shows every rule at work; small batches, so every table takes many. */
const SHORT: RetentionConfig = {
  ...resolveRetention(
    { eventsDays: 30, runsDays: 60, tombstoneDays: 30, alertFlipsDays: 60, diskSamplesDays: 31, batchRows: 25 },
    '/nonexistent',
  ),
}

function retentionOn(db: Db, clock: { now(): number }, config = SHORT): RetentionService {
  return createRetentionService({
    db,
    config,
    clock: { now: () => clock.now(), setTimer: () => 0, clearTimer: () => undefined },
    log: silent,
    sealAudit: () => Promise.resolve(undefined),
    yieldTurn: () => Promise.resolve(),
  })
}

const n = (db: Db, sql: string, ...args: unknown[]): number =>
  (db.prepare(sql).get(...args) as { n: number | null }).n ?? 0
const iso = (t: number): string => new Date(t).toISOString()

describe('retention over a simulated year (injected clock)', () => {
  it('keeps each table to its window, keeps what explains a kept copy, and the verdicts do not change', async () => {
    const h = harness()
    h.start()
    const agent = yearAgent(h.db)
    const retention = retentionOn(h.db, h.clock)
    // tank/old: snapshots on days 0–9, all deleted on day 40, listed in the inventory until day 100.
    for (let d = 0; d < 365; d++) {
      const t = T0 + d * DAY
      h.clock.set(t)
      const copies = [snapshotCopy(`data-${d}`, 'tank/data', t)]
      if (d === 0) {
        copies.push(snapshotCopy('data-yearly-0', 'tank/data', t))
      }
      if (d < 10) {
        copies.push(snapshotCopy(`old-${d}`, 'tank/old', t))
      }
      const deleted = d >= 30 ? [deletion(`data-${d - 30}`, 'tank/data', t)] : []
      if (d === 40) {
        for (let o = 0; o < 10; o++) {
          deleted.push(deletion(`old-${o}`, 'tank/old', t))
        }
      }
      agent.run('snap', t, copies, deleted, d % 10 === 5 ? 'failed' : 'success')
      agent.inventory(t + 120_000, d <= 100 ? ['tank/data', 'tank/old'] : ['tank/data'])
      h.ledger.runNow()
      const before = ledgerState(h.db).verdicts
      const r = await retention.runOnce()
      h.ledger.runNow()
      assert.deepEqual(ledgerState(h.db).verdicts, before, `day ${d}: retention changed a verdict`)
      if (d === 90) {
        // deleted 50 days ago, past the 30-day window, but the asset is still listed and has no live copy
        assert.equal(n(h.db, "SELECT count(*) AS n FROM copies WHERE asset_id = 'tank/old'"), 10)
        assert.ok((r.deleted['events'] ?? 0) > 0, 'events go daily once the window is full')
      }
      if (d === 120) {
        assert.equal(n(h.db, "SELECT count(*) AS n FROM copies WHERE asset_id = 'tank/old'"), 10, 'gone 20 days')
      }
      if (d === 131) {
        assert.equal(n(h.db, "SELECT count(*) AS n FROM copies WHERE asset_id = 'tank/old'"), 0, 'gone 31 days')
      }
    }
    const now = h.clock.now()
    // events: only the last 30 days, and the idempotency mark remembers what was pruned
    const oldest = h.db.prepare('SELECT min(received_at) AS at FROM events').get() as { at: string }
    assert.ok(oldest.at >= iso(now - 30 * DAY), oldest.at)
    const mark = h.db.prepare('SELECT seq, forgotten_through FROM node_high_water WHERE node = ?').get('pve1') as {
      seq: number
      forgotten_through: number
    }
    assert.equal(mark.seq, agent.sent.length)
    assert.ok(mark.forgotten_through > agent.sent.length - 31 * 3 - 3, JSON.stringify(mark))
    // tombstones of a living asset: only those deleted within the window
    assert.equal(n(h.db, 'SELECT count(*) AS n FROM copies WHERE deleted_at < ?', iso(now - 30 * DAY)), 0)
    assert.equal(n(h.db, "SELECT count(*) AS n FROM copies WHERE asset_id = 'tank/data' AND deleted_at IS NULL"), 31)
    // runs: the window, plus those a listed copy names — the first run (it made the copy kept for the year), and a
    // run whose snapshot's tombstone is still inside its own window
    const old = h.db
      .prepare('SELECT run_id FROM runs WHERE started_at < ? ORDER BY started_at')
      .all(iso(now - 60 * DAY)) as { run_id: string }[]
    assert.equal(old[0]?.run_id, 'run-1')
    for (const r of old) {
      assert.ok(n(h.db, 'SELECT count(*) AS n FROM copies WHERE first_run_id = ?', r.run_id) > 0, r.run_id)
    }
    assert.ok(old.length <= 3, JSON.stringify(old))
    assert.ok(n(h.db, 'SELECT count(*) AS n FROM runs') <= 63)
    // alert flips: older than 60 days only as the newest flip of an alert
    const oldFlips = h.db.prepare('SELECT key, id FROM alert_flips WHERE at < ?').all(now - 60 * DAY) as {
      key: string
      id: number
    }[]
    for (const f of oldFlips) {
      assert.equal(n(h.db, 'SELECT max(id) AS n FROM alert_flips WHERE key = ?', f.key), f.id, f.key)
    }
    assert.ok(n(h.db, 'SELECT count(*) AS n FROM alert_flips') < 20)
    h.stop()
  })

  it('prune every event, then replay every envelope: nothing is applied twice', async () => {
    const h = harness()
    h.start()
    const agent = yearAgent(h.db)
    for (let d = 0; d < 40; d++) {
      const t = T0 + d * DAY
      h.clock.set(t)
      const deleted = d >= 10 ? [deletion(`data-${d - 10}`, 'tank/data', t)] : []
      agent.run('snap', t, [snapshotCopy(`data-${d}`, 'tank/data', t)], deleted, d === 20 ? 'failed' : 'success')
      agent.inventory(t + 120_000, ['tank/data'])
      h.ledger.runNow()
    }
    // Long windows for everything but the events: the replay must leave every other table as it is.
    const eventsOnly = resolveRetention({ eventsDays: 7, batchRows: 10 }, '/nonexistent')
    h.clock.set(T0 + 60 * DAY)
    h.ledger.runNow()
    const r = await retentionOn(h.db, h.clock, eventsOnly).runOnce()
    assert.equal(r.deleted['events'], agent.sent.length)
    assert.equal(n(h.db, 'SELECT count(*) AS n FROM events'), 0)
    h.ledger.runNow()
    const before = ledgerState(h.db)
    assert.equal(before['ledgerChanges']?.length, 0)

    const replayed = agent.replayAll(h.clock.now())
    h.ledger.runNow()
    assert.deepEqual(
      replayed.filter((a) => a.stored),
      [],
      'a replayed envelope was applied',
    )
    assert.deepEqual(ledgerState(h.db), before, 'a replay changed the ledger')
    assert.equal(n(h.db, 'SELECT count(*) AS n FROM events'), 0, 'nothing stored again')
    // and the agent's next event is new
    agent.run('snap', h.clock.now(), [snapshotCopy('data-next', 'tank/data', h.clock.now())])
    assert.equal(n(h.db, "SELECT count(*) AS n FROM copies WHERE copy_id = 'data-next'"), 1)
    h.stop()
  })
})
