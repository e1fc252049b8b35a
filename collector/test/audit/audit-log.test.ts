import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { openDb } from '../../src/store/db.ts'
import { createAuditLog } from '../../src/audit/audit-log.ts'
import type { Db } from '../../src/store/db.ts'

const t0 = Date.parse('2026-11-22T02:00:00.000Z')

function seeded(n: number): { db: Db; log: ReturnType<typeof createAuditLog> } {
  const { db } = openDb({ file: ':memory:' })
  const log = createAuditLog(db)
  for (let i = 0; i < n; i++) {
    log.append(
      {
        actor: 'cli:root',
        action: i === 2 ? 'copy.delete' : 'token.create',
        target: `t${i}`,
        detail: { i, rule: 'daily' },
      },
      new Date(t0 + i * 1000),
    )
  }
  return { db, log }
}

/** Tampering needs the append-only triggers gone first: exactly what an attacker with the DB file would do. */
function unlock(db: Db): void {
  db.exec('DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete')
}

describe('audit log (SQLite)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bk-audit-'))
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('appends a verifiable chain and lists by action', () => {
    const { log } = seeded(5)
    const v = log.verify()
    assert.equal(v.ok, true)
    assert.equal(v.count, 5)
    assert.equal(log.head()!.seq, 5)
    assert.deepEqual(
      log.list({ action: 'copy.delete' }).map((e) => e.target),
      ['t2'],
    )
    assert.deepEqual(
      log.list({ afterSeq: 3 }).map((e) => e.seq),
      [4, 5],
    )
  })

  it('refuses UPDATE and DELETE at the database level', () => {
    const { db } = seeded(2)
    assert.throws(() => db.prepare("UPDATE audit_log SET actor = 'x' WHERE seq = 1").run(), /append-only/)
    assert.throws(() => db.prepare('DELETE FROM audit_log WHERE seq = 2').run(), /append-only/)
  })

  const tamper: Array<[string, (db: Db) => void, string]> = [
    [
      'edit',
      (db) => db.prepare(`UPDATE audit_log SET detail = '{"i":1,"rule":"none"}' WHERE seq = 2`).run(),
      'hash-mismatch',
    ],
    [
      'edit into non-JSON',
      (db) => db.prepare("UPDATE audit_log SET detail = 'garbage' WHERE seq = 2").run(),
      'hash-mismatch',
    ],
    ['delete', (db) => db.prepare('DELETE FROM audit_log WHERE seq = 3').run(), 'seq-gap'],
    [
      'reorder (swap two rows)',
      (db) => {
        const a = db.prepare('SELECT * FROM audit_log WHERE seq = 2').get() as Record<string, unknown>
        const b = db.prepare('SELECT * FROM audit_log WHERE seq = 3').get() as Record<string, unknown>
        const upd = db.prepare(
          'UPDATE audit_log SET ts = @ts, actor = @actor, action = @action, target = @target, detail = @detail, ' +
            'prev_hash = @prev_hash, hash = @hash WHERE seq = @seq',
        )
        db.prepare("UPDATE audit_log SET hash = hash || 'x' WHERE seq IN (2, 3)").run()
        upd.run({ ...b, seq: 2 })
        upd.run({ ...a, seq: 3 })
      },
      'broken-link',
    ],
  ]
  for (const [name, fn, problem] of tamper) {
    it(`verify detects ${name}`, () => {
      const { db, log } = seeded(5)
      unlock(db)
      fn(db)
      const v = log.verify()
      assert.ok(!v.ok && v.problem === problem, JSON.stringify(v))
    })
  }

  it('a truncated tail is caught against the recorded head', () => {
    const { db, log } = seeded(5)
    const head = log.head()!
    unlock(db)
    db.prepare('DELETE FROM audit_log WHERE seq >= 4').run()
    assert.equal(log.verify().ok, true)
    const v = log.verify({ seq: head.seq, hash: head.hash })
    assert.ok(!v.ok && v.problem === 'head-mismatch', JSON.stringify(v))
  })

  it('two writers on one file (collector + CLI) never fork the chain', () => {
    const file = join(dir, 'c.db')
    const a = openDb({ file }).db
    const b = openDb({ file }).db
    const la = createAuditLog(a)
    const lb = createAuditLog(b)
    for (let i = 0; i < 50; i++) {
      ;(i % 2 ? la : lb).append(
        { actor: i % 2 ? 'system' : 'cli:root', action: 'x', target: String(i), detail: {} },
        new Date(t0 + i),
      )
    }
    assert.deepEqual(la.verify(), { ok: true, count: 50, head: lb.head()!.hash })
    a.close()
    b.close()
  })
})
