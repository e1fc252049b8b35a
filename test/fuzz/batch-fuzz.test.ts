import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { FakeAgent, ingestHarness, payload, workerVerifier } from '../../collector/test/support/harness.ts'
import { hostileBatch, signedHostileBatch } from './hostile-batches.ts'

/**
 * Hostile event batches through the whole pipeline (worker-pool verification, batcher, SQLite, signed acks):
 * batches that fail as a whole are rejected once under their msgId and counted; batches signed by the enrolled
 * node itself but full of bad bodies and replays get a verdict per inner event. Never a crash, nothing stored.
 * (ingest-fuzz.test.ts also mixes the whole-batch failures into its 1,000,000-message check-stage run.)
 */
const TOTAL = Number(process.env['FUZZ_BATCHES'] ?? 3_000)

describe('ingest fuzz: hostile batches', { timeout: 5 * 60_000 }, () => {
  it(`${TOTAL.toLocaleString('en')} hostile batches: rejected and counted, never stored, never a crash`, async (t) => {
    const h = ingestHarness(t, {
      batchSize: 1000,
      verifier: workerVerifier({ size: 2 }),
    })
    const enrolled = new FakeAgent('fz1')
    await h.send('fz1', payload(enrolled.enroll()))
    const stored = Array.from({ length: 30 }, (_, i) => enrolled.started(`r${i}`))
    await Promise.all(stored.map((e) => h.send('fz1', payload(e))))
    const before = h.store.events.count()
    const base = {
      rejected: h.counters.get('ingest_rejected_total'),
      duplicate: h.counters.get('ingest_duplicate_total'),
      dropped: h.counters.get('ingest_dropped_total'),
    }
    const world = { enrolled, stored }

    const whole = fc.sample(hostileBatch(world), { numRuns: TOTAL, seed: 31 })
    const signed = fc.sample(signedHostileBatch(world), { numRuns: Math.ceil(TOTAL / 10), seed: 37 })
    for (let i = 0; i < whole.length; i += 500) {
      await Promise.all(whole.slice(i, i + 500).map((x) => h.send(x.topicNode, x.payload)))
    }
    await Promise.all(signed.map((x) => h.send('fz1', x.payload)))
    await h.ingest.close()

    const rejected = h.counters.get('ingest_rejected_total') - base.rejected
    const duplicate = h.counters.get('ingest_duplicate_total') - base.duplicate
    const dropped = h.counters.get('ingest_dropped_total') - base.dropped
    const expectInnerRejected = signed.reduce((n, x) => n + x.rejected, 0)
    const expectDuplicates = signed.reduce((n, x) => n + x.duplicates, 0)
    const byCode = h.counters.snapshot().ingest_rejected_total
    const summary = { whole: whole.length, signed: signed.length, rejected, duplicate, dropped, byCode }
    console.log(`# batch-fuzz ${JSON.stringify(summary)}`)

    assert.equal(h.store.events.count(), before, 'no hostile batch stored anything')
    assert.equal(dropped, 0, 'every hostile batch names a msgId and is answered')
    assert.equal(
      rejected,
      whole.length + expectInnerRejected,
      'one rejection per failed batch, one per bad inner event',
    )
    assert.equal(duplicate, expectDuplicates, 'replayed events inside a signed batch are duplicates, not re-applied')
    const codes = new Set(Object.keys(h.counters.snapshot().ingest_rejected_total ?? {}))
    for (const code of [
      'BK_ERR_SIG_INVALID',
      'BK_ERR_WIRE_BATCH',
      'BK_ERR_WIRE_BATCH_NODE',
      'BK_ERR_WIRE_TOPIC',
      'BK_ERR_NODE_UNKNOWN',
      'BK_ERR_WIRE_SCHEMA',
      'BK_ERR_WIRE_VERSION',
    ]) {
      assert.ok(codes.has(code), `${code} among ${[...codes].join(', ')}`)
    }
  })
})
