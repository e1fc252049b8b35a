import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  BATCH_SIGNING_DOMAIN,
  decodeMessage,
  isBackstopError,
  keyPairFromSeed,
  MAX_BATCH_EVENTS,
  MAX_MESSAGE_BYTES,
  signBatch,
  signEnvelope,
  signValue,
  verifyBatchSignature,
  verifyEnvelopeSignature,
  type BatchEnvelope,
  type Envelope,
} from '../../src/index.ts'

const node = keyPairFromSeed(new Uint8Array(32).fill(7))
const other = keyPairFromSeed(new Uint8Array(32).fill(8))

function event(seq: number, n = 'pve1', keys = node): Envelope {
  return signEnvelope(
    {
      v: 1,
      kind: 'job.started',
      node: n,
      msgId: `${n}-${seq}`,
      seq,
      ts: '2026-11-22T01:00:00.000Z',
      body: {
        runId: `r${seq}`,
        job: 'etc',
        jobKind: 'archive',
        startedAt: '2026-11-22T01:00:00.000Z',
        trigger: 'schedule',
      },
    },
    keys.secretKey,
  )
}

function batch(events: unknown[], n = 'pve1', keys = node): BatchEnvelope {
  return signBatch(
    {
      v: 1,
      kind: 'batch',
      node: n,
      msgId: 'batch-1',
      ts: '2026-11-22T01:00:01.000Z',
      body: { events: events as Envelope[] },
    },
    keys.secretKey,
  )
}

function decodeError(value: unknown): string {
  try {
    decodeMessage(JSON.stringify(value))
  } catch (e) {
    assert.ok(isBackstopError(e))
    return e.code
  }
  return 'accepted'
}

test('a batch signature covers every inner event: any tampering fails the whole batch', () => {
  const b = batch([event(1), event(2), event(3)])
  assert.equal(verifyBatchSignature(b, node.publicKey), true)
  const tamperedBody = structuredClone(b) as unknown as { body: { events: Envelope<'job.started'>[] } }
  tamperedBody.body.events[1]!.body.job = 'other'
  assert.equal(
    verifyBatchSignature(tamperedBody as unknown as BatchEnvelope, node.publicKey),
    false,
    'inner body changed',
  )
  const swapped = { ...b, body: { events: [b.body.events[1], b.body.events[0], b.body.events[2]] } }
  assert.equal(verifyBatchSignature(swapped, node.publicKey), false, 'inner order changed')
  const dropped = { ...b, body: { events: b.body.events.slice(0, 2) } }
  assert.equal(verifyBatchSignature(dropped, node.publicKey), false, 'an event removed')
  assert.equal(verifyBatchSignature(b, other.publicKey), false, 'another node key')
})

test('batch and event signatures live in different domains and cannot stand in for each other', () => {
  const b = batch([event(1), event(2)])
  const { sig, ...unsigned } = b
  assert.equal(verifyEnvelopeSignature(b, node.publicKey), false, 'a batch signature is not an event signature')
  assert.equal(
    verifyBatchSignature({ ...unsigned, sig: signValue(unsigned, node.secretKey) }, node.publicKey),
    false,
    'an event-domain signature over the batch',
  )
  assert.equal(
    verifyBatchSignature(
      { ...unsigned, sig: signValue(unsigned, node.secretKey, BATCH_SIGNING_DOMAIN) },
      node.publicKey,
    ),
    true,
  )
  assert.equal(sig, signValue(unsigned, node.secretKey, BATCH_SIGNING_DOMAIN), 'deterministic')
  // the inner signatures stay valid on their own: a stored event remains self-contained
  for (const e of b.body.events) {
    assert.equal(verifyEnvelopeSignature(e, node.publicKey), true)
  }
})

test('decodeMessage: events still decode alone; batches are bounded and checked per inner header', () => {
  const single = decodeMessage(JSON.stringify(event(1)))
  assert.equal(single.batch, false)
  const ok = decodeMessage(JSON.stringify(batch([event(1), event(2)])))
  assert.equal(ok.batch, true)
  assert.equal(ok.env.body.events.length, 2)

  const cases: Array<[string, unknown, string]> = [
    ["another node's event inside", batch([event(1), event(2, 'nas1', other)]), 'BK_ERR_WIRE_BATCH_NODE'],
    ['nested batch', batch([event(1), batch([event(2)])]), 'BK_ERR_WIRE_BATCH'],
    ['empty', batch([]), 'BK_ERR_WIRE_BATCH'],
    [
      'too many events',
      batch(Array.from({ length: MAX_BATCH_EVENTS + 1 }, (_, i) => event(i + 1))),
      'BK_ERR_WIRE_BATCH',
    ],
    ['inner envelope without seq', batch([event(1), (({ seq: _s, ...e }) => e)(event(2))]), 'BK_ERR_WIRE_BATCH'],
    ['inner enroll', batch([{ ...event(1), kind: 'enroll' }]), 'BK_ERR_WIRE_BATCH'],
    ['inner ack', batch([{ ...event(1), kind: 'ack' }]), 'BK_ERR_WIRE_BATCH'],
    ['inner not an object', batch([event(1), 'x']), 'BK_ERR_WIRE_BATCH'],
    ['extra batch field', { ...batch([event(1)]), seq: 3 }, 'BK_ERR_WIRE_BATCH'],
    ['wrong version', { ...batch([event(1)]), v: 2 }, 'BK_ERR_WIRE_VERSION'],
  ]
  for (const [what, value, code] of cases) {
    assert.equal(decodeError(value), code, what)
  }
  // an inner body that fails its schema is NOT a batch-level error: it is judged per event after the signature
  const badBody = batch([event(1), { ...event(2), body: { runId: 'r2' } }])
  assert.equal(decodeMessage(JSON.stringify(badBody)).batch, true)
  // inner duplicates decode (idempotency on msgId is the store's job: stored once, acked twice)
  assert.equal(decodeMessage(JSON.stringify(batch([event(1), event(1)]))).batch, true)
})

test('a batch over the message size limit is refused before it is parsed', () => {
  const big = 'x'.repeat(8000)
  const events = Array.from({ length: 140 }, (_, i) => ({
    ...event(i + 1),
    body: { runId: `r${i}`, job: 'etc', jobKind: big, startedAt: '2026-11-22T01:00:00.000Z', trigger: 'schedule' },
  }))
  const text = JSON.stringify(batch(events))
  assert.ok(text.length > MAX_MESSAGE_BYTES)
  assert.throws(
    () => decodeMessage(text),
    (e: unknown) => isBackstopError(e) && e.code === 'BK_ERR_WIRE_TOO_LARGE',
  )
})
