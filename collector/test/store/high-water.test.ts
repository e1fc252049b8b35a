import assert from 'node:assert/strict'
import { cpSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, it, type TestContext } from 'node:test'
import { openDb, type Db } from '../../src/store/db.ts'
import { createEventsRepo, type EventInsert } from '../../src/store/events-repo.ts'

const migrations = fileURLToPath(new URL('../../src/store/migrations/', import.meta.url))

function tmp(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'bk-high-water-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

const T0 = Date.parse('2026-01-01T00:00:00Z')

function ev(node: string, seq: number, msgId = `${node}-${seq}`): EventInsert {
  return { node, msgId, seq, kind: 'job.started', ts: '2026-01-01T00:00:00.000Z', receivedAt: T0 + seq, raw: '{}' }
}

function openMemory(t: TestContext): Db {
  const { db } = openDb({ file: ':memory:' })
  t.after(() => db.close())
  return db
}

describe('node_high_water (migration 0040)', () => {
  it('is backfilled from events: per node the highest seq, its msgId and receipt time', (t) => {
    const dir = tmp(t)
    const before = join(dir, 'before')
    cpSync(migrations, before, { recursive: true, filter: (f) => !/\/00(4[0-9])-[^/]*\.sql$/.test(f) })
    const file = join(dir, 'c.db')
    {
      const { db } = openDb({ file, migrationsDir: before })
      const ins = db.prepare(`INSERT INTO events (node, msg_id, seq, kind, ts, received_at, raw)
        VALUES (?, ?, ?, 'job.started', '2026-01-01T00:00:00.000Z', ?, '{}')`)
      // out of insertion order on purpose: the mark is the highest seq, not the last row
      ins.run('pve1', 'a-7', 7, '2026-01-01T00:00:07.000Z')
      ins.run('pve1', 'a-9', 9, '2026-01-01T00:00:09.000Z')
      ins.run('pve1', 'a-8', 8, '2026-01-01T00:00:08.000Z')
      ins.run('nas', 'b-2', 2, '2026-01-01T00:00:02.000Z')
      db.close()
    }
    const { db, migrations: report } = openDb({ file, migrationsDir: migrations })
    t.after(() => db.close())
    assert.ok(report.applied.includes('0040-node-high-water'), report.applied.join(', '))
    assert.deepEqual(
      db.prepare('SELECT node, seq, msg_id, updated_at, forgotten_through FROM node_high_water ORDER BY node').all(),
      [
        { node: 'nas', seq: 2, msg_id: 'b-2', updated_at: '2026-01-01T00:00:02.000Z', forgotten_through: 0 },
        { node: 'pve1', seq: 9, msg_id: 'a-9', updated_at: '2026-01-01T00:00:09.000Z', forgotten_through: 0 },
      ],
    )
  })

  it('record: new events raise the mark, a known msgId is a replay, a late new seq is stored below it', (t) => {
    const repo = createEventsRepo(openMemory(t))
    assert.equal(repo.record(ev('pve1', 1)), 'stored')
    assert.equal(repo.record(ev('pve1', 3)), 'stored')
    assert.equal(repo.record(ev('pve1', 3)), 'replay')
    // seq 2 was rejected transiently and retried after 3 committed: new, applied, the mark stays at 3
    assert.equal(repo.record(ev('pve1', 2)), 'stored')
    assert.deepEqual(
      { seq: repo.highWater('pve1')?.seq, msgId: repo.highWater('pve1')?.msgId },
      { seq: 3, msgId: 'pve1-3' },
    )
    assert.equal(repo.count('pve1'), 3)
  })

  it('record: at or below forgotten_through an unknown msgId is never applied; above it, it is', (t) => {
    const db = openMemory(t)
    const repo = createEventsRepo(db)
    for (let s = 1; s <= 10; s++) {
      repo.record(ev('pve1', s))
    }
    // what retention does: events of seqs ≤ 6 pruned, the mark remembers it
    db.prepare('DELETE FROM events WHERE node = ? AND seq <= 6').run('pve1')
    db.prepare('UPDATE node_high_water SET forgotten_through = 6 WHERE node = ?').run('pve1')
    assert.equal(repo.record(ev('pve1', 4)), 'forgotten', 'a replay of a pruned event')
    assert.equal(repo.record(ev('pve1', 6)), 'forgotten')
    assert.equal(repo.record(ev('pve1', 8)), 'replay', 'still in the msgId window')
    assert.equal(repo.record(ev('pve1', 7, 'pve1-7-other')), 'renumbered', 'same seq, another msgId')
    assert.equal(repo.record(ev('pve1', 11)), 'stored')
    assert.equal(repo.highWater('pve1')?.seq, 11)
    assert.equal(repo.count('pve1'), 6, 'seqs 7–10, the renumbered 7 and 11')
  })

  it('resetHighWater starts a new epoch: seqs from 1 are new again', (t) => {
    const db = openMemory(t)
    const repo = createEventsRepo(db)
    repo.record(ev('pve1', 1))
    repo.record(ev('pve1', 2))
    db.prepare('DELETE FROM events').run()
    db.prepare('UPDATE node_high_water SET forgotten_through = 2').run()
    assert.equal(repo.record(ev('pve1', 1, 'epoch2-1')), 'forgotten')
    repo.resetHighWater('pve1', T0)
    assert.equal(repo.record(ev('pve1', 1, 'epoch2-1')), 'stored')
    assert.equal(repo.highWater('pve1')?.seq, 1)
  })
})
