import assert from 'node:assert/strict'
import { describe, it, type TestContext } from 'node:test'
import { isBackstopError, verifyEnvelopeSignature } from '@backstop/shared'
import type { Outbox, OutboxRecord } from '../../src/outbox/outbox.ts'
import { event, testKeys } from './support.ts'

export interface OutboxFactory {
  /** A fresh, empty outbox bounded by maxBytes; the factory registers its own cleanup on `t`. */
  (t: TestContext, opts: { maxBytes: number }): Promise<Outbox>
}

const MiB = 1024 * 1024

/**
 * One contract for every Outbox implementation (MQTT.js abstract_store pattern): each implementation's test
 * file calls this with its factory. Durability across restarts is tested per implementation.
 */
export function outboxContract(name: string, make: OutboxFactory): void {
  describe(`Outbox contract: ${name}`, () => {
    it('assigns seq 1, 2, 3 … and returns what build produced', async (t) => {
      const ob = await make(t, { maxBytes: MiB })
      const recs = [await ob.append(event(1)), await ob.append(event(2)), await ob.append(event(3))]
      assert.deepEqual(
        recs.map((r) => r.seq),
        [1, 2, 3],
      )
      for (const r of recs) {
        assert.equal(r.envelope.seq, r.seq)
        assert.equal(r.msgId, r.envelope.msgId)
        assert.ok(verifyEnvelopeSignature(r.envelope, testKeys.publicKey), 'stored envelope still verifies')
      }
    })

    it('gives concurrent appends distinct, increasing seqs in call order', async (t) => {
      const ob = await make(t, { maxBytes: MiB })
      const recs = await Promise.all(Array.from({ length: 50 }, (_, i) => ob.append(event(i))))
      assert.deepEqual(
        recs.map((r) => r.seq),
        Array.from({ length: 50 }, (_, i) => i + 1),
      )
      assert.deepEqual(
        recs.map((r) => r.envelope.body),
        Array.from({ length: 50 }, (_, i) => event(i)(1).body),
      )
    })

    const table: Array<{ afterSeq: number; limit: number; want: number[] }> = [
      { afterSeq: 0, limit: 100, want: [1, 2, 3, 4, 5] },
      { afterSeq: 0, limit: 2, want: [1, 2] },
      { afterSeq: 2, limit: 2, want: [3, 4] },
      { afterSeq: 4, limit: 10, want: [5] },
      { afterSeq: 5, limit: 10, want: [] },
    ]
    for (const c of table) {
      it(`readPending(after ${c.afterSeq}, limit ${c.limit}) → [${c.want.join(',')}]`, async (t) => {
        const ob = await make(t, { maxBytes: MiB })
        for (let i = 1; i <= 5; i++) {
          await ob.append(event(i))
        }
        const got = await ob.readPending(c.afterSeq, c.limit)
        assert.deepEqual(
          got.map((r) => r.seq),
          c.want,
        )
        assert.deepEqual(
          got.map((r) => r.envelope.seq),
          c.want,
        )
      })
    }

    it('ack removes exactly the named records, in any order; unknown and repeated ids are ignored', async (t) => {
      const ob = await make(t, { maxBytes: MiB })
      const recs: OutboxRecord[] = []
      for (let i = 1; i <= 6; i++) {
        recs.push(await ob.append(event(i)))
      }
      const id = (seq: number): string => recs[seq - 1]!.msgId
      assert.equal(await ob.ack([id(5), id(2), 'no-such-id']), 2)
      assert.equal(await ob.ack([id(2)]), 0)
      assert.deepEqual(
        (await ob.readPending(0, 100)).map((r) => r.seq),
        [1, 3, 4, 6],
      )
      assert.equal(await ob.ack([id(1), id(3)]), 2)
      assert.deepEqual(
        (await ob.readPending(0, 100)).map((r) => r.seq),
        [4, 6],
      )
      assert.deepEqual(
        (await ob.readPending(4, 100)).map((r) => r.seq),
        [6],
      )
      const st = ob.stats()
      assert.equal(st.pending, 2)
      assert.equal(st.bytes, recs[3]!.bytes + recs[5]!.bytes)
    })

    it('deadLetter removes the records from pending', async (t) => {
      const ob = await make(t, { maxBytes: MiB })
      const a = await ob.append(event(1))
      const b = await ob.append(event(2))
      assert.equal(
        await ob.deadLetter([
          { msgId: a.msgId, code: 'BK_ERR_WIRE_SCHEMA', reason: '/percent too big' },
          { msgId: 'nope', code: 'X', reason: 'y' },
        ]),
        1,
      )
      assert.deepEqual(
        (await ob.readPending(0, 10)).map((r) => r.msgId),
        [b.msgId],
      )
    })

    it('stats count pending records and their bytes', async (t) => {
      const ob = await make(t, { maxBytes: MiB })
      assert.deepEqual(ob.stats(), { pending: 0, bytes: 0 })
      const a = await ob.append(event(1))
      const b = await ob.append(event(2))
      assert.deepEqual(ob.stats(), { pending: 2, bytes: a.bytes + b.bytes })
      assert.ok(a.bytes > JSON.stringify(a.envelope).length - 1)
    })

    it('refuses an append past maxBytes (BK_ERR_OUTBOX_FULL names outbox.maxBytes); accepts after acks', async (t) => {
      const ob = await make(t, { maxBytes: 2000 })
      const accepted: OutboxRecord[] = []
      let full: unknown
      for (let i = 0; i < 100 && !full; i++) {
        try {
          accepted.push(await ob.append(event(i)))
        } catch (e) {
          full = e
        }
      }
      assert.ok(isBackstopError(full, 'BK_ERR_OUTBOX_FULL'), `expected OUTBOX_FULL, got ${String(full)}`)
      assert.match((full as Error).message, /outbox\.maxBytes = 2000/)
      assert.ok(ob.stats().bytes <= 2000)
      assert.equal(ob.stats().pending, accepted.length)
      await ob.ack([accepted[0]!.msgId])
      const next = await ob.append(event(999))
      assert.equal(next.seq, accepted.length + 1, 'a refused append does not burn a seq')
    })

    it('rejects an envelope whose seq differs from the assigned one', async (t) => {
      const ob = await make(t, { maxBytes: MiB })
      await assert.rejects(
        ob.append((seq) => event(1)(seq + 1)),
        /build must use the seq/,
      )
      assert.equal((await ob.append(event(2))).seq, 1)
    })

    it('rejects appends after close', async (t) => {
      const ob = await make(t, { maxBytes: MiB })
      await ob.append(event(1))
      await ob.close()
      await assert.rejects(ob.append(event(2)), /closed/)
    })
  })
}
