import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import type { Envelope } from '@backstop/shared'
import { FileOutbox } from '../../src/outbox/file-outbox.ts'
import { captureLog, fixedClock, tempDir } from './support.ts'

type Op =
  { op: 'append'; n: number } | { op: 'ack'; pick: number[] } | { op: 'deadLetter'; pick: number } | { op: 'restart' }

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('append' as const), n: fc.integer({ min: 1, max: 12 }) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('ack' as const), pick: fc.array(fc.nat(), { maxLength: 6 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('deadLetter' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('restart' as const) }) },
)

function small(id: string): (seq: number) => Envelope {
  return (seq) => ({
    v: 1,
    kind: 'job.progress',
    node: 'n',
    msgId: id,
    seq,
    ts: '2026-11-22T03:00:00.000Z',
    body: { runId: 'r', job: 'j', percent: 1 },
    sig: 'AA==',
  })
}

/**
 * Model check: after any sequence of appends, out-of-order acks, dead-letters and restarts (tiny segments and a
 * tiny ack-log threshold, so rotation, segment deletion and checkpoint compaction all happen), the FileOutbox
 * holds exactly the model's pending records, in seq order, and never hands out a seq twice.
 */
describe('FileOutbox against a model', () => {
  it('matches a Map-based model under random operations with restarts', async (t) => {
    let run = 0
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 25 }), async (ops) => {
        const dir = join(tempDir(t, 'backstop-model-'), `r${run++}`)
        const open = () =>
          FileOutbox.open({
            dir,
            maxBytes: 1 << 20,
            log: captureLog().log,
            clock: fixedClock,
            segmentBytes: 600,
            ackLogCompactBytes: 80,
          })
        let ob = await open()
        const model = new Map<string, number>()
        let lastSeq = 0
        let ids = 0
        try {
          for (const o of ops) {
            if (o.op === 'append') {
              const recs = await Promise.all(Array.from({ length: o.n }, () => ob.append(small(`m${ids++}`))))
              for (const r of recs) {
                assert.ok(r.seq > lastSeq, `seq ${r.seq} after ${lastSeq}`)
                lastSeq = r.seq
                model.set(r.msgId, r.seq)
              }
            } else if (o.op === 'ack' || o.op === 'deadLetter') {
              const live = [...model.keys()]
              const picks = o.op === 'ack' ? o.pick : [o.pick]
              const chosen = [...new Set(picks.filter(() => live.length > 0).map((p) => live[p % live.length]!))]
              const n =
                o.op === 'ack'
                  ? await ob.ack(chosen)
                  : await ob.deadLetter(chosen.map((msgId) => ({ msgId, code: 'X', reason: 'y' })))
              assert.equal(n, chosen.length)
              chosen.forEach((id) => model.delete(id))
            } else {
              await ob.close()
              ob = await open()
            }
            const got = await ob.readPending(0, 10_000)
            assert.deepEqual(
              got.map((r) => [r.msgId, r.seq]),
              [...model.entries()].sort((a, b) => a[1] - b[1]),
            )
            assert.equal(ob.stats().pending, model.size)
          }
          await ob.close()
          ob = await open()
          assert.equal(
            (await ob.append(small('last'))).seq,
            lastSeq + 1,
            'seq continues after the highest ever assigned',
          )
        } finally {
          await ob.close()
        }
      }),
      { numRuns: 40 },
    )
  })
})
