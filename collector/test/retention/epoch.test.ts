import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import pino from 'pino'
import { keyPairFromSeed } from '@backstop/shared'
import { createAuditLog } from '../../src/audit/audit-log.ts'
import { resolveRetention } from '../../src/config/retention.ts'
import { createEnrollmentGate } from '../../src/identity/enrollment-gate.ts'
import { createTokensRepo } from '../../src/identity/enrollment-tokens.ts'
import { createIdentityService } from '../../src/identity/identity-service.ts'
import { createAccessRepo } from '../../src/identity/node-access.ts'
import { createRetentionService } from '../../src/retention/retention-service.ts'
import { openDb } from '../../src/store/db.ts'
import { createEventsRepo, type EventInsert } from '../../src/store/events-repo.ts'

const T0 = Date.parse('2026-01-01T00:00:00Z')
const DAY = 86_400_000
const k1 = keyPairFromSeed(new Uint8Array(32).fill(21)).publicKey
const k2 = keyPairFromSeed(new Uint8Array(32).fill(22)).publicKey

const ev = (seq: number, msgId: string, at: number): EventInsert => ({
  node: 'pve1',
  msgId,
  seq,
  kind: 'job.started',
  ts: new Date(at).toISOString(),
  receivedAt: at,
  raw: '{}',
})

describe('a re-enrollment with a new key starts a new epoch of seqs and checkpoints', () => {
  it('the new key numbers from 1 again; pruning the old epoch never forgets the new one', async (t) => {
    const { db } = openDb({ file: ':memory:' })
    t.after(() => db.close())
    let now = T0
    const audit = createAuditLog(db)
    const tokens = createTokensRepo(db)
    const access = createAccessRepo(db)
    const svc = createIdentityService({ db, tokens, access, audit, now: () => new Date(now), onRevoked: () => {} })
    const gate = createEnrollmentGate({ db, tokens, access, audit, staticTokens: (x) => x === 'static-dev-token' })
    db.prepare("INSERT INTO nodes (node, public_key, fingerprint, enrolled_at) VALUES ('pve1', ?, 'fp', ?)").run(
      k1,
      new Date(T0).toISOString(),
    )
    const events = createEventsRepo(db)
    for (let s = 1; s <= 50; s++) {
      assert.equal(events.record(ev(s, `old-${s}`, T0 + s * 1000)), 'stored')
    }
    db.prepare(
      `INSERT INTO node_checkpoints (node, covered_seq, backup_taken_at, backup_path, updated_at)
       VALUES ('pve1', 48, '2026-01-05T00:00:00.000Z', '/backup/x.db', '2026-01-05T00:00:00.000Z')`,
    ).run()
    // Reinstalled 10 days later: a new key, allowed by an admin; its outbox starts at seq 1.
    now = T0 + 10 * DAY
    svc.allowReenroll('pve1', 'cli:root', 'reinstalled')
    assert.equal(
      gate.admit({ node: 'pve1', publicKey: k2, token: 'static-dev-token', hostname: 'pve1', now: new Date(now) }),
      'key-replaced',
    )
    assert.deepEqual(
      { seq: events.highWater('pve1')?.seq, forgotten: events.highWater('pve1')?.forgottenThrough },
      { seq: 0, forgotten: 0 },
    )
    assert.equal(
      db.prepare("SELECT count(*) AS n FROM node_checkpoints WHERE node = 'pve1'").pluck().get(),
      0,
      'no backup covers the new epoch yet',
    )
    for (let s = 1; s <= 5; s++) {
      assert.equal(events.record(ev(s, `new-${s}`, now + s * 1000)), 'stored', `new epoch seq ${s}`)
    }
    // Retention prunes the old epoch's events (older than 7 days): the new epoch's mark stays untouched.
    const retention = createRetentionService({
      db,
      config: resolveRetention({ eventsDays: 7 }, '/nonexistent'),
      clock: { now: () => now, setTimer: () => 0, clearTimer: () => undefined },
      log: pino({ level: 'silent' }),
      sealAudit: () => Promise.resolve(undefined),
      yieldTurn: () => Promise.resolve(),
    })
    const r = await retention.runOnce()
    assert.equal(r.deleted['events'], 50)
    assert.equal(events.highWater('pve1')?.forgottenThrough, 0)
    assert.equal(events.record(ev(6, 'new-6', now + 6000)), 'stored')
    assert.equal(events.record(ev(3, 'new-3', now + 7000)), 'replay')
    // 100 days on, everything is pruned and SQLite numbers rows from 1 again: seqs of the new epoch are still
    // forgotten when pruned, so their replay is not applied.
    now += 100 * DAY
    assert.equal((await retention.runOnce()).deleted['events'], 6)
    assert.equal(events.highWater('pve1')?.forgottenThrough, 6)
    assert.equal(events.record(ev(7, 'new-7', now)), 'stored')
    assert.equal(db.prepare("SELECT id FROM events WHERE msg_id = 'new-7'").pluck().get(), 1, 'ids start again')
    now += 100 * DAY
    await retention.runOnce()
    assert.equal(events.highWater('pve1')?.forgottenThrough, 7)
    assert.equal(events.record(ev(7, 'new-7', now)), 'forgotten')
  })
})
