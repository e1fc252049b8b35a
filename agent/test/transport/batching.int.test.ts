import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { decodeMessage, MAX_BATCH_EVENTS, verifyBatchSignature, type Envelope } from '@backstop/shared'
import { MemoryOutbox } from '../../src/outbox/memory-outbox.ts'
import type { OutboxRecord } from '../../src/outbox/outbox.ts'
import { packRecords } from '../../src/transport/batch-pack.ts'
import { createSigner } from '../../src/transport/signer.ts'
import { agentEvent, agentKeys, firstArrivalSeqs, makeTransport, startCollector, waitFor } from './support.ts'

const range = (a: number, b: number): number[] => Array.from({ length: b - a + 1 }, (_, i) => a + i)
const signer = createSigner(agentKeys)

function records(from: number, to: number, pad = 0): OutboxRecord[] {
  return range(from, to).map((seq) => {
    const env = agentEvent(seq)(seq)
    const envelope = (
      pad > 0 ? signer.signEnvelope({ ...env, body: { ...env.body, message: 'p'.repeat(pad) } } as never) : env
    ) as Envelope
    return { seq, msgId: envelope.msgId, bytes: 0, envelope }
  })
}

const seqsOf = (payload: string): number[] => {
  const m = decodeMessage(payload)
  return m.batch ? m.env.body.events.map((e) => e.seq) : [m.env.seq]
}

describe('packRecords', () => {
  const base = { node: 'node-a', signer, now: new Date('2026-11-22T01:00:00Z'), singlesThrough: 0 }

  it('keeps outbox order, splits at the event limit, and sends a lone record exactly as before', () => {
    const out = packRecords(records(1, 600), base)
    assert.deepEqual(
      out.map((w) => w.records.length),
      [MAX_BATCH_EVENTS, MAX_BATCH_EVENTS, 600 - 2 * MAX_BATCH_EVENTS],
    )
    assert.deepEqual(
      out.flatMap((w) => seqsOf(w.payload)),
      range(1, 600),
    )
    for (const w of out) {
      const m = decodeMessage(w.payload)
      assert.equal(m.batch, true)
      assert.equal(m.env.msgId, w.batchId)
      assert.equal(verifyBatchSignature(m.env as never, agentKeys.publicKey), true, 'signed once, batch domain')
    }
    const one = records(7, 7)
    const [alone] = packRecords(one, base)
    assert.equal(alone!.batchId, undefined)
    assert.equal(alone!.payload, JSON.stringify(one[0]!.envelope), 'byte-identical to the pre-batch wire')
    assert.deepEqual(packRecords([], base), [])
  })

  it('splits by bytes under the message limit and sends alone records under singlesThrough', () => {
    const big = packRecords(records(1, 10, 3000), { ...base, maxBytes: 10_000 })
    assert.ok(
      big.every((w) => Buffer.byteLength(w.payload) <= 10_000),
      big.map((w) => Buffer.byteLength(w.payload)).join(','),
    )
    assert.deepEqual(
      big.flatMap((w) => seqsOf(w.payload)),
      range(1, 10),
    )
    assert.ok(big.length >= 4 && big.some((w) => w.batchId), 'several small batches')
    const huge = packRecords(records(1, 3, 9000), { ...base, maxBytes: 10_000 })
    assert.deepEqual(
      huge.map((w) => [w.batchId === undefined, w.records.length]),
      [
        [true, 1],
        [true, 1],
        [true, 1],
      ],
      'a record that cannot share a batch goes alone',
    )
    const mixed = packRecords(records(1, 6), { ...base, singlesThrough: 3 })
    assert.deepEqual(
      mixed.map((w) => w.records.map((r) => r.seq)),
      [[1], [2], [3], [4, 5, 6]],
    )
    assert.deepEqual(
      packRecords(records(1, 5), { ...base, maxEvents: 1 }).map((w) => w.batchId),
      [undefined, undefined, undefined, undefined, undefined],
      'maxBatch 1 = never batch',
    )
  })
})

describe('MqttTransport batching', () => {
  it('drains a backlog as batches, stored exactly once and in seq order, within the event window', async (t) => {
    const fc = await startCollector(t)
    const outbox = new MemoryOutbox({ maxBytes: 1 << 24 })
    for (let i = 1; i <= 700; i++) {
      await outbox.append(agentEvent(i))
    }
    const { tr } = makeTransport(t, fc, outbox, { window: 300 })
    tr.start()
    await waitFor(() => outbox.stats().pending === 0, 'backlog drained')
    assert.deepEqual(fc.storedSeqs('node-a'), range(1, 700))
    assert.deepEqual(firstArrivalSeqs(fc.received), range(1, 700))
    assert.ok(fc.batches.length >= 3, `${fc.batches.length} batches`)
    assert.ok(
      fc.batches.every((b) => b.body.events.length <= 300),
      'no batch exceeds the in-flight window',
    )
    const st = tr.status().counters
    assert.equal(st.acked, 700)
    assert.equal(st.published, 700)
    assert.equal(st.batches, fc.batches.length)
  })

  it('a batch rejected as a whole is resent event by event: only the bad event is dead-lettered', async (t) => {
    const fc = await startCollector(t)
    let batchRejections = 0
    fc.rejectBatch = () =>
      batchRejections++ === 0
        ? { code: 'BK_ERR_WIRE_BATCH', reason: 'test: refuse the first batch', permanent: true }
        : undefined
    fc.reject = (env) =>
      env.seq === 4 ? { code: 'BK_ERR_WIRE_SCHEMA', reason: 'test: seq 4 is bad', permanent: true } : undefined
    const outbox = new MemoryOutbox({ maxBytes: 1 << 20 })
    for (let i = 1; i <= 8; i++) {
      await outbox.append(agentEvent(i))
    }
    const { tr } = makeTransport(t, fc, outbox)
    tr.start()
    await waitFor(() => outbox.stats().pending === 0, 'all settled')
    assert.deepEqual(
      outbox.deadLetters.map((d) => [d.envelope.seq, d.code]),
      [[4, 'BK_ERR_WIRE_SCHEMA']],
    )
    assert.deepEqual(fc.storedSeqs('node-a'), [1, 2, 3, 5, 6, 7, 8])
    assert.equal(tr.status().counters.batchRejections, 1)
    assert.equal(tr.status().counters.deadLettered, 1)
  })

  it('a transiently rejected batch is retried later, and the events are stored once', async (t) => {
    const fc = await startCollector(t)
    let left = 2
    fc.rejectBatch = () =>
      left-- > 0 ? { code: 'BK_ERR_NODE_UNKNOWN', reason: 'not yet', permanent: false } : undefined
    const outbox = new MemoryOutbox({ maxBytes: 1 << 20 })
    for (let i = 1; i <= 20; i++) {
      await outbox.append(agentEvent(i))
    }
    const { tr } = makeTransport(t, fc, outbox)
    tr.start()
    await waitFor(() => outbox.stats().pending === 0, 'all settled')
    assert.deepEqual(fc.storedSeqs('node-a'), range(1, 20))
    assert.equal(outbox.deadLetters.length, 0)
    assert.equal(tr.status().counters.transientRejections, 2)
  })
})
