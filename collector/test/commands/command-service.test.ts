import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { checkCommand, decodeCommand, keyPairFromSeed, signEnvelope, type Envelope } from '@backstop/shared'
import { createAuditLog } from '../../src/audit/audit-log.ts'
import { applyCommandResult } from '../../src/ingest/command-result.ts'
import { createCommandService } from '../../src/commands/command-service.ts'
import { applyMessage } from '../../src/ingest/index.ts'
import type { HandlerContext, IngestStore } from '../../src/ingest/types.ts'
import { openDb } from '../../src/store/db.ts'
import { createEventsRepo } from '../../src/store/events-repo.ts'
import { createLedgerChangesRepo } from '../../src/store/ledger-changes-repo.ts'

const collector = keyPairFromSeed(new Uint8Array(32).fill(3))
const node = keyPairFromSeed(new Uint8Array(32).fill(4))

function world() {
  const { db } = openDb({ file: ':memory:' })
  const audit = createAuditLog(db)
  let now = Date.parse('2026-11-22T02:00:00.000Z')
  const published: Array<{ topic: string; payload: Buffer }> = []
  const states: Record<string, 'active' | 'revoked'> = { pve1: 'active', old: 'revoked' }
  const svc = createCommandService({
    db,
    audit,
    collectorSecretKey: collector.secretKey,
    now: () => new Date(now),
    publish: (topic, payload) => published.push({ topic, payload }),
    nodeState: (n) => states[n] ?? 'unknown',
  })
  const ctx = {
    store: { events: createEventsRepo(db), commands: svc } as unknown as IngestStore,
    collectorPublicKey: collector.publicKey,
    pinAfterCommit: () => {},
    changes: createLedgerChangesRepo(db),
  } satisfies HandlerContext
  return {
    db,
    audit,
    svc,
    published,
    ctx,
    advance: (ms: number) => {
      now += ms
    },
  }
}

function result(id: string, status: 'accepted' | 'succeeded' | 'failed', msgId: string): Envelope<'command.result'> {
  return signEnvelope(
    {
      v: 1,
      kind: 'command.result',
      node: 'pve1',
      msgId,
      seq: 1,
      ts: '2026-11-22T02:00:01.000Z',
      body: {
        commandId: id,
        kind: 'run-job',
        status,
        ...(status === 'succeeded' ? { runId: 'r-1' } : {}),
        at: '2026-11-22T02:00:01.000Z',
      },
    },
    node.secretKey,
  )
}

describe('collector commands', () => {
  it('issues a signed, node-bound command the agent-side check accepts, after storing and auditing it', () => {
    const w = world()
    const cmd = w.svc.issue({ node: 'pve1', kind: 'run-job', args: { job: 'daily' }, requestedBy: 'api:ops' })
    assert.equal(w.published.length, 1)
    assert.equal(w.published[0]!.topic, 'backstop/v1/pve1/commands')
    const wire = decodeCommand(w.published[0]!.payload)
    assert.equal(wire.id, cmd.id)
    assert.ok(wire.id.length >= 22, '128-bit nonce')
    checkCommand(wire, {
      collectorPublicKey: collector.publicKey,
      node: 'pve1',
      now: new Date('2026-11-22T02:01:00.000Z'),
      allow: ['run-job'],
    })
    assert.throws(
      () =>
        checkCommand(wire, {
          collectorPublicKey: collector.publicKey,
          node: 'pve1',
          now: new Date('2026-11-22T02:06:00.000Z'),
          allow: ['run-job'],
        }),
      /expired/,
    )
    assert.equal(w.svc.get(cmd.id)!.status, 'sent')
    assert.deepEqual(
      w.audit.list({}).map((e) => [e.action, e.target]),
      [['command.issue', 'pve1']],
    )
  })

  it('every command gets a fresh nonce', () => {
    const w = world()
    const ids = new Set(
      Array.from(
        { length: 50 },
        () => w.svc.issue({ node: 'pve1', kind: 'run-job', args: { job: 'daily' }, requestedBy: 'a' }).id,
      ),
    )
    assert.equal(ids.size, 50)
  })

  const refused: Array<[string, Parameters<ReturnType<typeof createCommandService>['issue']>[0], RegExp]> = [
    ['unknown node', { node: 'ghost', kind: 'run-job', args: { job: 'x' }, requestedBy: 'a' }, /no enrolled node/],
    ['revoked node', { node: 'old', kind: 'run-job', args: { job: 'x' }, requestedBy: 'a' }, /revoked/],
    [
      'ttl over an hour',
      { node: 'pve1', kind: 'run-job', args: { job: 'x' }, requestedBy: 'a', ttlMs: 2 * 3600_000 },
      /between 1 s and 1 h/,
    ],
  ]
  for (const [name, req, msg] of refused) {
    it(`refuses: ${name} (nothing published)`, () => {
      const w = world()
      assert.throws(() => w.svc.issue(req), msg)
      assert.equal(w.published.length, 0)
    })
  }

  it('command.result moves the command forward only, idempotently, through the ingest dispatcher', () => {
    const w = world()
    const cmd = w.svc.issue({ node: 'pve1', kind: 'run-job', args: { job: 'daily' }, requestedBy: 'api:ops' })
    const msg = (env: Envelope<'command.result'>) => ({
      env,
      raw: JSON.stringify(env),
      receivedAt: Date.parse('2026-11-22T02:00:02.000Z'),
    })
    assert.equal(applyMessage(msg(result(cmd.id, 'accepted', 'm1')), w.ctx).stored, true)
    assert.equal(applyMessage(msg(result(cmd.id, 'succeeded', 'm2')), w.ctx).stored, true)
    assert.equal(applyCommandResult(msg(result(cmd.id, 'succeeded', 'm2')), w.ctx).stored, false, 'replayed msgId')
    assert.equal(applyMessage(msg(result(cmd.id, 'accepted', 'm3')), w.ctx).stored, true)
    const row = w.svc.get(cmd.id)!
    assert.equal(row.status, 'succeeded')
    assert.equal(row.runId, 'r-1')
    assert.deepEqual(
      w.audit.list({}).map((e) => e.action),
      ['command.issue', 'command.accepted', 'command.succeeded', 'command.accepted'],
    )
    assert.equal(
      w.svc.recordResult('nas9', result(cmd.id, 'failed', 'm4').body, '2026-11-22T02:00:03.000Z'),
      false,
      'another node cannot report on this command',
    )
    assert.equal(w.audit.verify().ok, true)
  })
})
