import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { BackstopError, type ErrorCode, keyPairFromSeed } from '@backstop/shared'
import { createAuditLog } from '../../src/audit/audit-log.ts'
import { openDb } from '../../src/store/db.ts'
import { createAccessRepo } from '../../src/identity/node-access.ts'
import { createEnrollmentGate } from '../../src/identity/enrollment-gate.ts'
import { createTokensRepo } from '../../src/identity/enrollment-tokens.ts'
import { createIdentityService } from '../../src/identity/identity-service.ts'
import { createOperators } from '../../src/identity/operators.ts'
import { createBrokerIdentity } from '../../src/identity/broker-identity.ts'

const k1 = keyPairFromSeed(new Uint8Array(32).fill(11)).publicKey
const k2 = keyPairFromSeed(new Uint8Array(32).fill(12)).publicKey
const HOUR = 3600_000

function world(start = Date.parse('2026-11-22T02:00:00.000Z')) {
  const { db } = openDb({ file: ':memory:' })
  let now = start
  const clock = () => new Date(now)
  const audit = createAuditLog(db)
  const tokens = createTokensRepo(db)
  const access = createAccessRepo(db)
  const revoked: string[] = []
  const svc = createIdentityService({ db, tokens, access, audit, now: clock, onRevoked: (n) => revoked.push(n) })
  // Like ingest/check.ts's createTokenCheck: the static list, plus anything shaped like a one-time token.
  const gate = createEnrollmentGate({
    db,
    tokens,
    access,
    audit,
    staticTokens: (t) => t === 'static-dev-token' || /^bk_[a-z0-9]{8}_[A-Za-z0-9_-]{43}$/.test(t),
  })
  /** What ingest/enroll.ts does after an admitted enrollment commits: pin the key. */
  const pin = (node: string, key: string) =>
    db
      .prepare(
        "INSERT INTO nodes (node, public_key, fingerprint, enrolled_at) VALUES (?, ?, 'fp', ?) ON CONFLICT DO NOTHING",
      )
      .run(node, key, clock().toISOString())
  const enroll = (node: string, key: string, token: string): string => {
    try {
      const a = gate.admit({ node, publicKey: key, token, hostname: node, now: clock() })
      pin(node, key)
      return a
    } catch (e) {
      assert.ok(e instanceof BackstopError, String(e))
      return e.code
    }
  }
  return {
    db,
    svc,
    gate,
    audit,
    access,
    revoked,
    enroll,
    advance: (ms: number) => {
      now += ms
    },
    operators: createOperators(db, audit, clock),
  }
}

const code = (c: ErrorCode): string => c

describe('enrollment tokens', () => {
  it('are one-time: bound to the first node + key, idempotent for it, refused for others', () => {
    const w = world()
    const t = w.svc.createToken({ ttlMs: HOUR, requireApproval: false, actor: 'cli:root' })
    assert.match(t.token, /^bk_[a-z0-9]{8}_[A-Za-z0-9_-]{43}$/)
    assert.equal(w.enroll('pve1', k1, t.token), 'new')
    assert.equal(w.enroll('pve1', k1, t.token), 'same-key')
    assert.equal(w.enroll('pve2', k2, t.token), code('BK_ERR_ENROLL_TOKEN'))
    assert.equal(w.enroll('pve1', k2, t.token), code('BK_ERR_ENROLL_TOKEN'))
  })

  it('are stored only as a hash', () => {
    const w = world()
    const t = w.svc.createToken({ ttlMs: HOUR, requireApproval: false, actor: 'cli:root' })
    const dump =
      JSON.stringify(w.db.prepare('SELECT * FROM enrollment_tokens').all()) +
      JSON.stringify(w.db.prepare('SELECT * FROM audit_log').all())
    // The secret is base64url and may itself contain '_': take everything after `bk_<id>_`, not split('_').
    const secret = t.token.slice('bk_'.length + 8 + 1)
    assert.equal(secret.length, 43)
    assert.ok(!dump.includes(secret), 'the secret part never reaches the database or the audit log')
    assert.ok(dump.includes(t.token.slice(3, 11)), 'the token id is stored so operators can list and revoke it')
  })

  const refusals: Array<[string, (w: ReturnType<typeof world>, token: string) => void, string]> = [
    ['expired', (w) => w.advance(HOUR + 1), 'BK_ERR_ENROLL_TOKEN'],
    ['revoked', (w, _t) => w.svc.revokeToken(w.svc.listTokens()[0]!.id, 'cli:root'), 'BK_ERR_ENROLL_TOKEN'],
  ]
  for (const [name, setup, expected] of refusals) {
    it(`refuses a token that is ${name}`, () => {
      const w = world()
      const t = w.svc.createToken({ ttlMs: HOUR, requireApproval: false, actor: 'cli:root' })
      setup(w, t.token)
      assert.equal(w.enroll('pve1', k1, t.token), expected)
    })
  }

  it('refuses unknown and malformed tokens; static config tokens still work', () => {
    const w = world()
    for (const bad of ['', 'bk_00000000_' + 'A'.repeat(43), 'x'.repeat(300), 'static-dev-token ']) {
      assert.equal(w.enroll('pve1', k1, bad), code('BK_ERR_ENROLL_TOKEN'))
    }
    assert.equal(w.enroll('pve1', k1, 'static-dev-token'), 'new')
  })

  it('rejects a ttl outside 1 s … 30 days', () => {
    const w = world()
    assert.throws(() => w.svc.createToken({ ttlMs: 0, requireApproval: false, actor: 'a' }), /between 1 s and 30 days/)
    assert.throws(
      () => w.svc.createToken({ ttlMs: 31 * 24 * HOUR, requireApproval: false, actor: 'a' }),
      /between 1 s and 30 days/,
    )
  })
})

describe('approval, revocation, re-enrollment', () => {
  it('an approval token parks the node as pending until an admin approves (token stays bound to it)', () => {
    const w = world()
    const t = w.svc.createToken({ ttlMs: HOUR, requireApproval: true, actor: 'cli:root' })
    assert.equal(w.enroll('nas1', k1, t.token), code('BK_ERR_ENROLL_PENDING'))
    assert.equal(w.enroll('nas1', k1, t.token), code('BK_ERR_ENROLL_PENDING'))
    assert.deepEqual(
      w.svc.listNodes().map((n) => [n.node, n.access]),
      [['nas1', 'pending']],
    )
    w.advance(2 * HOUR)
    w.svc.approve('nas1', 'cli:root')
    assert.equal(w.enroll('nas1', k1, t.token), 'new', 'the bound token works after expiry once approved')
    assert.equal(w.svc.pendingRequests().length, 0)
    assert.throws(() => w.svc.approve('nas1', 'cli:root'), /no pending enrollment request/)
  })

  it('a denied request stays denied', () => {
    const w = world()
    const t = w.svc.createToken({ ttlMs: HOUR, requireApproval: true, actor: 'cli:root' })
    w.enroll('nas1', k1, t.token)
    w.svc.deny('nas1', 'cli:root')
    assert.equal(w.enroll('nas1', k1, t.token), code('BK_ERR_ENROLL_TOKEN'))
  })

  it('revoke refuses the node and fires the in-process hook; reenroll lets a reinstalled node pin a new key', () => {
    const w = world()
    const b = createBrokerIdentity(w.access, w.operators)
    assert.equal(
      w.enroll('pve1', k1, w.svc.createToken({ ttlMs: HOUR, requireApproval: false, actor: 'a' }).token),
      'new',
    )
    w.svc.revoke('pve1', 'cli:root', 'stolen disk')
    assert.deepEqual(w.revoked, ['pve1'])
    assert.equal(b.nodeAccess('pve1'), 'revoked')
    const fresh = w.svc.createToken({ ttlMs: HOUR, requireApproval: false, actor: 'a' }).token
    assert.equal(w.enroll('pve1', k1, fresh), code('BK_ERR_NODE_REVOKED'))
    // Reinstall: a new key without admin consent is a mismatch …
    w.svc.allowReenroll('pve1', 'cli:root', 'reinstalled')
    assert.equal(b.nodeAccess('pve1'), 'reenroll')
    assert.equal(w.enroll('pve1', k2, fresh), 'key-replaced')
    assert.equal(b.nodeAccess('pve1'), 'active')
    assert.equal(w.db.prepare('SELECT public_key FROM nodes WHERE node = ?').pluck().get('pve1'), k2)
    // … and after the swap, the old key is the stranger.
    const another = w.svc.createToken({ ttlMs: HOUR, requireApproval: false, actor: 'a' }).token
    assert.equal(w.enroll('pve1', k1, another), code('BK_ERR_NODE_KEY_MISMATCH'))
    assert.throws(() => w.svc.revoke('ghost', 'a', 'x'), /no node "ghost"/)
  })

  it('every admin action and admission lands in a verifiable audit chain', () => {
    const w = world()
    const t = w.svc.createToken({ ttlMs: HOUR, requireApproval: true, actor: 'cli:root' })
    w.enroll('nas1', k1, t.token)
    w.svc.approve('nas1', 'cli:root')
    w.enroll('nas1', k1, t.token)
    w.svc.revoke('nas1', 'api:ops', 'decommissioned')
    assert.deepEqual(
      w.audit.list({}).map((e) => e.action),
      ['token.create', 'enroll.request', 'enroll.approve', 'enroll.admit', 'node.revoke'],
    )
    assert.equal(w.audit.verify().ok, true)
  })
})

describe('MQTT operator credentials', () => {
  it('authenticate with the shown secret only, until revoked; may read alerts only', () => {
    const w = world()
    const b = createBrokerIdentity(w.access, w.operators)
    const c = w.operators.create('grafana', 'cli:root')
    assert.equal(b.operator(c.username, Buffer.from(c.password)), 'grafana')
    assert.equal(b.operator(c.username, Buffer.from(`${c.password}x`)), undefined)
    assert.equal(b.operator('operator:nobody', Buffer.from(c.password)), undefined)
    assert.equal(b.operator(c.username, undefined), undefined)
    const filters: Array<[string, boolean]> = [
      ['backstop/v1/alerts/#', true],
      ['backstop/v1/alerts/events', true],
      ['backstop/v1/alerts/state/pve1/tank', true],
      ['backstop/v1/#', false],
      ['#', false],
      ['backstop/v1/pve1/commands', false],
      ['backstop/v1/+/events', false],
    ]
    for (const [f, ok] of filters) {
      assert.equal(b.operatorMaySubscribe(f), ok, f)
    }
    w.operators.revoke('grafana', 'cli:root')
    assert.equal(b.operator(c.username, Buffer.from(c.password)), undefined)
  })
})
