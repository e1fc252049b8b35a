import assert from 'node:assert/strict'
import { test } from 'node:test'
import { canonicalJson, MAX_MESSAGE_BYTES, type Envelope } from '@backstop/shared'
import {
  copy,
  FakeAgent,
  ingestHarness,
  nodeKeys,
  payload,
  TOKEN,
  workerVerifier,
  type Harness,
} from '../support/harness.ts'
import { waitFor } from '../../../test/support/wait-for.ts'

const clockMovesOn = (): Promise<boolean> => {
  const at = Date.now()
  return waitFor(() => Date.now() > at, { what: 'the wall clock to pass one millisecond' })
}

async function enrolled(h: Harness, node = 'pve1'): Promise<FakeAgent> {
  const a = new FakeAgent(node)
  await h.send(node, payload(a.enroll()))
  return a
}

test('enroll pins the key, answers with the collector key, and events flow into runs and copies', async (t) => {
  const h = ingestHarness(t)
  const a = new FakeAgent('pve1')
  const enroll = a.enroll()
  await h.send('pve1', payload(enroll))
  assert.equal(h.acks.length, 1)
  assert.deepEqual(h.acks[0]!.body, {
    acked: [enroll.msgId],
    rejected: [],
    enrollment: { node: 'pve1', collectorPublicKey: h.collectorPublicKey },
  })
  assert.equal(h.keys.get('pve1')?.publicKey, a.keys.publicKey)
  assert.equal(h.store.nodes.get('pve1')?.hostname, 'pve1.lan')

  const started = a.started('r1')
  const finished = a.finished('r1', [copy('c1'), copy('c2', { media: 'usb', offline: true })], {
    deleted: [
      {
        copyId: 'c0',
        asset: { kind: 'file-set', id: 'fileset:etc-archive' },
        location: { kind: 'dir', target: '/srv/backup' },
        name: 'c0.tar.gz',
        deletedAt: '2026-11-22T01:00:02.100Z',
        rule: 'keep-last(2)',
      },
    ],
  })
  await Promise.all([h.send('pve1', payload(started)), h.send('pve1', payload(finished))])
  const run = h.store.runs.get('pve1', 'r1')
  assert.equal(run?.status, 'success')
  assert.equal(run?.trigger, 'schedule')
  assert.equal(run?.durationMs, 2500)
  assert.equal(run?.bytes, 1234)
  const live = h.store.copies.query({ node: 'pve1', includeDeleted: false, limit: 10, offset: 0 })
  assert.deepEqual(
    live.map((c) => [c.copyId, c.media, c.offline]),
    [
      ['c1', 'hdd', false],
      ['c2', 'usb', true],
    ],
  )
  const all = h.store.copies.query({ node: 'pve1', includeDeleted: true, limit: 10, offset: 0 })
  assert.deepEqual(all.find((c) => c.copyId === 'c0')?.deleted, {
    at: '2026-11-22T01:00:02.100Z',
    rule: 'keep-last(2)',
  })
  assert.equal(
    h.store.events.count('pve1'),
    2,
    'job events stored once each; enroll is not stored (it carries the token)',
  )
  assert.equal(h.counters.get('ingest_stored_total', 'job.finished'), 1)
})

test('the ack is published only after the commit, one per node per batch', async (t) => {
  const h = ingestHarness(t, { batchSize: 1000, batchIntervalMs: 20 })
  const a = await enrolled(h, 'pve1')
  const b = await enrolled(h, 'nas1')
  h.acks.length = 0
  const sends: Promise<void>[] = []
  for (let i = 0; i < 50; i++) {
    sends.push(h.send('pve1', payload(a.started(`ra${i}`))), h.send('nas1', payload(b.started(`rb${i}`))))
  }
  await Promise.all(sends)
  assert.equal(h.acks.length, 2, 'one ack per node for the whole batch')
  for (const ack of h.acks) {
    assert.equal(ack.body.acked.length, 50)
    // read through a second SQLite connection when publishAck ran: the rows were already committed
    assert.equal(ack.eventsAtPublish, 50, `${ack.node}: ack published before its events were committed`)
  }
  assert.equal(h.counters.get('ingest_batches_total') >= 3, true)
})

test('a replayed msgId is stored once and acked again', async (t) => {
  const h = ingestHarness(t)
  const a = await enrolled(h)
  const env = a.started('r1')
  await h.send('pve1', payload(env))
  await h.send('pve1', payload(env))
  assert.equal(h.store.events.count('pve1'), 1)
  assert.deepEqual(
    h.acks.slice(-2).map((x) => x.body.acked),
    [[env.msgId], [env.msgId]],
  )
  assert.equal(h.counters.get('ingest_duplicate_total', 'job.started'), 1)
})

interface BadCase {
  readonly name: string
  /** topic node, payload */
  readonly make: (a: FakeAgent, h: Harness) => [string, Buffer]
  readonly code: string
  /** undefined = dropped (no msgId to answer), else rejected in the ack with that permanence */
  readonly permanent?: boolean
}

const badCases: BadCase[] = [
  { name: 'malformed JSON', make: () => ['pve1', Buffer.from('{"v":1,"kind":')], code: 'BK_ERR_WIRE_JSON' },
  { name: 'not UTF-8', make: () => ['pve1', Buffer.from([0x7b, 0xff, 0xfe, 0x7d])], code: 'BK_ERR_WIRE_JSON' },
  {
    name: 'envelope schema (no msgId)',
    make: () => ['pve1', payload({ v: 1, kind: 'job.started', node: 'pve1' })],
    code: 'BK_ERR_WIRE_SCHEMA',
  },
  {
    name: 'envelope schema (unknown kind, msgId present)',
    make: (a) => ['pve1', payload({ ...a.started('r1'), kind: 'job.exploded' })],
    code: 'BK_ERR_WIRE_SCHEMA',
    permanent: true,
  },
  {
    name: 'envelope version',
    make: (a) => ['pve1', payload({ ...a.started('r1'), v: 2 })],
    code: 'BK_ERR_WIRE_VERSION',
    permanent: true,
  },
  {
    name: 'body schema',
    code: 'BK_ERR_WIRE_SCHEMA',
    permanent: true,
    make: (a) => [
      'pve1',
      payload(
        a.envelope('job.started', {
          runId: 'r1',
          job: 'x',
          jobKind: 'archive',
          startedAt: 'yesterday',
          trigger: 'schedule',
        }),
      ),
    ],
  },
  {
    name: 'bad signature',
    make: (a) => ['pve1', payload({ ...a.started('r1'), sig: a.started('r2').sig })],
    code: 'BK_ERR_SIG_INVALID',
    permanent: true,
  },
  {
    name: 'body changed after signing',
    make: (a) => {
      const e = a.started('r1')
      return ['pve1', payload({ ...e, body: { ...e.body, job: 'other' } })]
    },
    code: 'BK_ERR_SIG_INVALID',
    permanent: true,
  },
  {
    name: 'envelope node ≠ topic node',
    make: (a) => ['nas1', payload(a.started('r1'))],
    code: 'BK_ERR_WIRE_TOPIC',
    permanent: true,
  },
  {
    name: 'unknown node',
    make: () => {
      const x = new FakeAgent('ghost')
      return ['ghost', payload(x.started('r1'))]
    },
    code: 'BK_ERR_NODE_UNKNOWN',
    permanent: false,
  },
  {
    name: 'enroll with a wrong token',
    make: () => {
      const x = new FakeAgent('new1')
      return ['new1', payload(x.enroll('wrong-token-wrong-token'))]
    },
    code: 'BK_ERR_ENROLL_TOKEN',
    permanent: true,
  },
  {
    name: 'enroll not signed by the key in its body',
    make: (a) => [
      'pve1',
      payload(
        a.envelope('enroll', { publicKey: nodeKeys().publicKey, token: TOKEN, hostname: 'h', agentVersion: '1' }),
      ),
    ],
    code: 'BK_ERR_SIG_INVALID',
    permanent: true,
  },
  {
    name: 'enroll with a different key than the pinned one',
    make: () => {
      const x = new FakeAgent('pve1')
      return ['pve1', payload(x.enroll())]
    },
    code: 'BK_ERR_NODE_KEY_MISMATCH',
    permanent: true,
  },
  {
    name: 'an ack from an agent',
    make: (a) => ['pve1', payload(a.envelope('ack', { acked: [], rejected: [] }))],
    code: 'BK_ERR_WIRE_SCHEMA',
    permanent: true,
  },
  {
    name: 'oversized payload (msgId recoverable)',
    code: 'BK_ERR_WIRE_TOO_LARGE',
    permanent: true,
    make: (a) => [
      'pve1',
      Buffer.from(canonicalJson({ ...a.started('r1'), body: { pad: 'x'.repeat(MAX_MESSAGE_BYTES) } })),
    ],
  },
  {
    name: 'oversized garbage',
    make: () => ['pve1', Buffer.alloc(MAX_MESSAGE_BYTES + 1, 0x61)],
    code: 'BK_ERR_WIRE_TOO_LARGE',
  },
]

for (const c of badCases) {
  test(`bad input is rejected, logged and counted, and ingest keeps going: ${c.name}`, async (t) => {
    const h = ingestHarness(t)
    const a = await enrolled(h, 'pve1')
    await enrolled(h, 'nas1')
    h.acks.length = 0
    const [topicNode, body] = c.make(a, h)
    const before = h.store.events.count()
    await h.send(topicNode, body)
    assert.equal(h.store.events.count(), before, 'nothing stored')
    const logged = h.lines.find((l) => l['code'] === c.code)
    assert.ok(logged, `a log line with code ${c.code}`)
    assert.equal(typeof logged['reason'], 'string')
    if (c.permanent === undefined) {
      assert.equal(h.acks.length, 0, 'garbage is not acked')
      assert.equal(h.counters.get('ingest_dropped_total', c.code), 1)
    } else {
      assert.equal(h.acks.length, 1)
      const ack = h.acks[0]!
      assert.equal(ack.node, topicNode, 'the answer goes to the connection that published')
      assert.equal(ack.body.rejected.length, 1)
      assert.equal(ack.body.rejected[0]!.code, c.code)
      assert.equal(ack.body.rejected[0]!.permanent, c.permanent)
      assert.ok(ack.body.rejected[0]!.reason.length > 0)
      assert.equal(h.counters.get('ingest_rejected_total', c.code), 1)
    }
    // the pipeline still works afterwards
    const ok = a.started('after')
    await h.send('pve1', payload(ok))
    assert.deepEqual(h.acks.at(-1)?.body.acked, [ok.msgId])
  })
}

test('a handler failure rolls back only that message (savepoint), the rest of the batch commits', async (t) => {
  const h = ingestHarness(t, { batchSize: 1000, batchIntervalMs: 20 })
  const a = await enrolled(h)
  h.acks.length = 0
  // Sabotage: a trigger that fails for one run id only — the handler throws a non-Backstop (SQLite) error.
  h.db.exec(
    "CREATE TRIGGER boom BEFORE INSERT ON runs WHEN NEW.run_id = 'bad' BEGIN SELECT RAISE(ABORT, 'disk says no'); END",
  )
  const good1 = a.started('g1')
  const bad = a.started('bad')
  const good2 = a.started('g2')
  await Promise.all([good1, bad, good2].map((e) => h.send('pve1', payload(e))))
  assert.equal(h.acks.length, 1)
  assert.deepEqual(h.acks[0]!.body.acked, [good1.msgId, good2.msgId])
  assert.deepEqual(
    h.acks[0]!.body.rejected.map((r) => [r.msgId, r.code, r.permanent]),
    [[bad.msgId, 'BK_ERR_INTERNAL_ERROR', false]],
  )
  assert.equal(h.store.events.count('pve1'), 2, "the failed message's event row was rolled back with it")
  assert.ok(h.lines.some((l) => l['level'] === 50 && l['msgId'] === bad.msgId))
})

test('a failing commit acks nothing and settles every message with an error (agents replay)', async (t) => {
  const h = ingestHarness(t, { batchSize: 1000, batchIntervalMs: 20 })
  const a = await enrolled(h)
  h.acks.length = 0
  const envs: Envelope[] = [a.started('x1'), a.started('x2')]
  const results = Promise.allSettled(envs.map((e) => h.send('pve1', payload(e))))
  // Make the COMMIT itself fail: a deferred foreign key violation is only checked at commit time.
  h.db.exec('CREATE TABLE fk_parent (id INTEGER PRIMARY KEY)')
  h.db.exec('CREATE TABLE fk_child (p INTEGER REFERENCES fk_parent(id) DEFERRABLE INITIALLY DEFERRED)')
  h.db.exec('CREATE TRIGGER fk_boom AFTER INSERT ON events BEGIN INSERT INTO fk_child (p) VALUES (42); END')
  const settled = await results
  assert.deepEqual(
    settled.map((s) => s.status),
    ['rejected', 'rejected'],
  )
  assert.equal(h.acks.length, 0)
  assert.equal(h.counters.get('ingest_batch_failures_total'), 1)
  h.db.exec('DROP TRIGGER fk_boom')
  assert.equal(h.store.events.count('pve1'), 0)
})

test("a failed commit fails the node's queued messages too: its events are never stored out of order", async (t) => {
  // batchSize 1: each message is its own transaction, as a long lock makes one batch fail and the next succeed.
  const h = ingestHarness(t, { batchSize: 1, batchIntervalMs: 20 })
  const a = await enrolled(h)
  const b = await enrolled(h, 'pve2')
  h.db.exec('CREATE TABLE fk_parent (id INTEGER PRIMARY KEY)')
  h.db.exec('CREATE TABLE fk_child (p INTEGER REFERENCES fk_parent(id) DEFERRABLE INITIALLY DEFERRED)')
  // Only the first message's commit fails (deferred foreign key, checked at COMMIT); the ones behind it would pass.
  const failFirst =
    "CREATE TRIGGER fk_boom AFTER INSERT ON events WHEN json_extract(NEW.raw, '$.body.runId') = 'x1' " +
    'BEGIN INSERT INTO fk_child (p) VALUES (42); END'
  h.db.exec(failFirst)
  const sends: [string, Envelope][] = [
    ['pve1', a.started('x1')],
    ['pve2', b.started('y1')],
    ['pve1', a.started('x2')],
  ]
  const settled = await Promise.allSettled(sends.map(([node, e]) => h.send(node, payload(e))))
  assert.deepEqual(
    settled.map((s) => s.status),
    ['rejected', 'fulfilled', 'rejected'],
    "pve1's second message fails with its first (replayed in order); pve2 is not held back",
  )
  assert.equal(h.store.events.count('pve1'), 0, 'nothing of pve1 stored ahead of the message that failed')
  assert.equal(h.store.events.count('pve2'), 1)
  h.db.exec('DROP TRIGGER fk_boom')
})

test('a full disk in a handler fails the whole batch (nothing acked, agents replay), not one message', async (t) => {
  const h = ingestHarness(t, { batchSize: 1000, batchIntervalMs: 20 })
  const a = await enrolled(h)
  h.acks.length = 0
  // SQLITE_FULL, as a full disk gives it: the file may not grow past the pages it has now.
  const pages = h.db.pragma('page_count', { simple: true }) as number
  h.db.pragma(`max_page_count = ${pages}`)
  const envs = Array.from({ length: 40 }, (_, i) => a.started(`full-${i}-${'x'.repeat(50)}`))
  const settled = await Promise.allSettled(envs.map((e) => h.send('pve1', payload(e))))
  assert.ok(
    settled.every((s) => s.status === 'rejected' && /full/.test(String(s.reason))),
    'every message settles with the storage error',
  )
  assert.deepEqual(h.acks, [], 'no ack, not even a transient rejection: the agent replays all of them in order')
  assert.ok(h.counters.get('ingest_batch_failures_total') >= 1)
  h.db.pragma('max_page_count = 4294967294')
  for (const e of envs) {
    await h.send('pve1', payload(e))
  }
  assert.deepEqual(
    h.store.events
      .listByNode('pve1', 100)
      .map((r) => r.msgId)
      .filter((id) => envs.some((e) => e.msgId === id)),
    envs.map((e) => e.msgId),
    'replayed once space is back: all stored, in order',
  )
})

test('status messages apply in arrival order: the Last Will (dated at CONNECT) marks the node offline', async (t) => {
  const h = ingestHarness(t)
  await enrolled(h)
  h.ingest.status(
    'pve1',
    Buffer.from(JSON.stringify({ state: 'online', ts: '2026-11-22T02:00:00.000Z', agentVersion: '0.2.0' })),
  )
  assert.equal(h.store.nodes.get('pve1')?.status, 'online')
  assert.equal(h.store.nodes.get('pve1')?.agentVersion, '0.2.0')
  // The will's payload is fixed at CONNECT, so its ts is older than the online published after CONNACK —
  // but the broker delivers it when the session dies, which makes it the newer fact.
  h.ingest.status('pve1', Buffer.from(JSON.stringify({ state: 'offline', ts: Date.parse('2026-11-22T01:59:59.000Z') })))
  assert.equal(h.store.nodes.get('pve1')?.status, 'offline')
  h.ingest.status('pve1', Buffer.from(JSON.stringify({ state: 'online', ts: '2026-11-22T03:00:00.000Z' })))
  assert.equal(h.store.nodes.get('pve1')?.status, 'online')
  h.ingest.status('pve1', Buffer.from('nonsense'))
  assert.equal(h.store.nodes.get('pve1')?.status, 'online')
})

test('an offline status arriving while a heartbeat waits for its batch stands: the node stays offline', async (t) => {
  // A stop right after a heartbeat: the heartbeat is still being verified and batched when the `offline` arrives
  // and is recorded at once. The heartbeat is dated at its arrival, which was before the status.
  // Verified on a worker thread, as in the collector: the heartbeat is still in verification when the status comes.
  const h = ingestHarness(t, {
    batchIntervalMs: 30,
    verifier: workerVerifier(),
  })
  const a = await enrolled(h)
  const beat = h.send('pve1', payload(a.heartbeat()))
  h.ingest.status('pve1', Buffer.from(JSON.stringify({ state: 'offline', ts: Date.now(), reason: 'shutdown' })))
  await beat
  assert.ok(h.store.nodes.get('pve1')?.heartbeatAt, 'the heartbeat was applied')
  assert.equal(h.store.nodes.get('pve1')?.status, 'offline')
  assert.equal(h.store.nodes.get('pve1')?.statusReason, 'shutdown')
})

test('enrollment over a live session marks a new node online (its status preceded its row)', async (t) => {
  const h = ingestHarness(t)
  h.ingest.status('pve1', Buffer.from(JSON.stringify({ state: 'online', ts: '2026-11-22T02:00:00.000Z' })))
  assert.equal(h.store.nodes.get('pve1'), undefined)
  await enrolled(h)
  assert.equal(h.store.nodes.get('pve1')?.status, 'online')
})

test('heartbeat updates the node and is acked, not stored as an event', async (t) => {
  const h = ingestHarness(t)
  const a = await enrolled(h)
  const hb = a.heartbeat()
  await h.send('pve1', payload(hb))
  assert.deepEqual(h.acks.at(-1)?.body.acked, [hb.msgId])
  assert.equal(h.store.events.count('pve1'), 0)
  assert.deepEqual((h.store.nodes.get('pve1')?.heartbeat as { uptimeS: number }).uptimeS, 12)
  assert.equal(h.store.nodes.get('pve1')?.status, 'online', 'a heartbeat proves the node is up')
  // arrival order: a Last Will delivered later marks it offline, a heartbeat after that marks it online again.
  // Arrival is the receipt time (ms): each step waits for the clock to move on so "later" is strictly later.
  await clockMovesOn()
  h.ingest.status('pve1', Buffer.from(JSON.stringify({ state: 'offline', ts: Date.now() - 60_000 })))
  assert.equal(h.store.nodes.get('pve1')?.status, 'offline')
  await clockMovesOn()
  await h.send('pve1', payload(a.heartbeat()))
  assert.equal(h.store.nodes.get('pve1')?.status, 'online')
})

test('re-enrolling with the same key is idempotent', async (t) => {
  const h = ingestHarness(t)
  const a = await enrolled(h)
  const again = a.enroll('second-token-abcdefghijklmnop')
  await h.send('pve1', payload(again))
  assert.deepEqual(h.acks.at(-1)?.body.acked, [again.msgId])
  assert.equal(h.acks.at(-1)?.body.enrollment?.collectorPublicKey, h.collectorPublicKey)
  assert.equal(h.store.nodes.list().length, 1)
})
