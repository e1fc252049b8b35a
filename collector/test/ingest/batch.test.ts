import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  signBatch,
  verifyEnvelopeSignature,
  type BatchEnvelope,
  type Envelope,
  type UnsignedBatch,
} from '@backstop/shared'
import { FakeAgent, ingestHarness, payload, workerVerifier } from '../support/harness.ts'

let n = 0
function batchOf(agent: FakeAgent, events: unknown[], over: Partial<UnsignedBatch> = {}): BatchEnvelope {
  const unsigned = {
    v: 1 as const,
    kind: 'batch' as const,
    node: agent.node,
    msgId: `batch-${++n}`,
    ts: new Date().toISOString(),
    body: { events: events as Envelope[] },
    ...over,
  }
  return signBatch(unsigned, agent.keys.secretKey)
}

const verifiers = {
  inline: undefined,
  worker: workerVerifier(),
}

for (const [name, verifier] of Object.entries(verifiers)) {
  test(`${name}: a batch of good and bad events stores the good ones in order, acks them all in one ack`, async (t) => {
    const h = ingestHarness(t, verifier ? { verifier } : {})
    const a = new FakeAgent('pve1')
    await h.send('pve1', payload(a.enroll()))
    const acksBefore = h.acks.length
    const s1 = a.started('r1')
    const bad = a.envelope('job.started', { runId: 'r2' } as never)
    const f1 = a.finished('r1')
    const s3 = a.started('r3')
    await h.send('pve1', payload(batchOf(a, [s1, bad, f1, s1, s3])))
    const rows = h.store.events.listByNode('pve1', 100)
    assert.deepEqual(
      rows.map((r) => r.msgId),
      [s1.msgId, f1.msgId, s3.msgId],
      'good events stored once, in batch order',
    )
    for (const r of h.db
      .prepare<[string], { raw: string }>('SELECT raw FROM events WHERE node = ? ORDER BY id')
      .all('pve1')) {
      assert.equal(
        verifyEnvelopeSignature(JSON.parse(r.raw) as Envelope, a.keys.publicKey),
        true,
        'a stored row keeps its own signature',
      )
    }
    assert.equal(h.store.runs.get('pve1', 'r1')?.status, 'success')
    const acks = h.acks.slice(acksBefore)
    assert.equal(acks.length, 1, 'one signed ack for the whole batch')
    assert.deepEqual(
      acks[0]!.body.acked,
      [s1.msgId, f1.msgId, s1.msgId, s3.msgId],
      'the duplicate is acked again, not re-applied',
    )
    assert.deepEqual(
      acks[0]!.body.rejected.map((r) => [r.msgId, r.code, r.permanent]),
      [[bad.msgId, 'BK_ERR_WIRE_SCHEMA', true]],
    )
    assert.ok(
      !acks[0]!.body.acked.some((id) => id.startsWith('batch-')),
      'the batch itself is never acked: it is not an outbox record',
    )
    assert.equal(h.counters.get('ingest_stored_total', 'job.started'), 2)
    assert.equal(h.counters.get('ingest_duplicate_total', 'job.started'), 1)
    assert.equal(h.counters.get('ingest_rejected_total', 'BK_ERR_WIRE_SCHEMA'), 1)
  })

  test(`${name}: a batch that fails as a whole is rejected under its msgId, counted, and stores nothing`, async (t) => {
    const h = ingestHarness(t, verifier ? { verifier } : {})
    const a = new FakeAgent('pve1')
    const b = new FakeAgent('nas1')
    // before enrollment: transient, so the agent retries the batch later
    const early = batchOf(a, [a.started('r0'), a.started('r00')])
    await h.send('pve1', payload(early))
    await h.send('pve1', payload(a.enroll()))
    await h.send('nas1', payload(b.enroll()))
    const good = batchOf(a, [a.started('r1'), a.started('r2')])
    const tampered = structuredClone(good) as { body: { events: Envelope<'job.started'>[] } } & BatchEnvelope
    tampered.body.events[1]!.body.job = 'changed-after-signing'
    const foreign = batchOf(a, [a.started('r3'), b.started('x1')])
    const nested = batchOf(a, [a.started('r4'), batchOf(a, [a.started('r5')])])
    const wrongKey = batchOf(b, [a.started('r6')], { node: 'pve1' })
    for (const m of [tampered, foreign, nested, wrongKey]) {
      await h.send('pve1', payload(m))
    }
    await h.send('nas1', payload(good))
    const rejected = h.acks.flatMap((x) => x.body.rejected.map((r) => [x.node, r.msgId, r.code, r.permanent]))
    assert.deepEqual(rejected, [
      ['pve1', early.msgId, 'BK_ERR_NODE_UNKNOWN', false],
      ['pve1', tampered.msgId, 'BK_ERR_SIG_INVALID', true],
      ['pve1', foreign.msgId, 'BK_ERR_WIRE_BATCH_NODE', true],
      ['pve1', nested.msgId, 'BK_ERR_WIRE_BATCH', true],
      ['pve1', wrongKey.msgId, 'BK_ERR_SIG_INVALID', true],
      ['nas1', good.msgId, 'BK_ERR_WIRE_TOPIC', true],
    ])
    assert.equal(h.store.events.listByNode('pve1', 100).length, 0)
    assert.equal(h.store.events.listByNode('nas1', 100).length, 0)
    assert.equal(h.counters.get('ingest_rejected_total', 'BK_ERR_SIG_INVALID'), 2)
    assert.equal(h.counters.get('ingest_rejected_total', 'BK_ERR_WIRE_BATCH_NODE'), 1)
    assert.equal(h.counters.get('ingest_rejected_total', 'BK_ERR_WIRE_BATCH'), 1)
  })
}

test('batches and single events from one node interleave in arrival order', async (t) => {
  const h = ingestHarness(t, { batchSize: 3 })
  const a = new FakeAgent('pve1')
  await h.send('pve1', payload(a.enroll()))
  const sends: Promise<void>[] = []
  for (let i = 0; i < 20; i++) {
    const evs = Array.from({ length: 1 + (i % 5) }, (_, j) => a.started(`r${i}-${j}`))
    sends.push(h.send('pve1', payload(evs.length === 1 ? evs[0] : batchOf(a, evs))))
  }
  await Promise.all(sends)
  const seqs = h.store.events.listByNode('pve1', 1000).map((r) => r.seq)
  assert.equal(seqs.length, 60)
  assert.deepEqual(
    seqs,
    [...seqs].sort((x, y) => x - y),
  )
})
