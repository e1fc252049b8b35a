import fc from 'fast-check'
import { MAX_BATCH_EVENTS, signBatch, type Envelope, type KeyPair, type UnsignedBatch } from '@backstop/shared'
import { nodeKeys } from '../../collector/test/support/harness.ts'
import type { Expect, FuzzWorld, Hostile } from './hostile-arbitraries.ts'

/**
 * Hostile event batches (docs/protocol.md "Batches"). Everything from `hostileBatch` fails as a whole — forged or
 * foreign signature, another node's event inside, nesting, too many or no events, junk inside, wrong topic,
 * unknown node — so it is rejected once under the batch msgId, and nothing in it is stored.
 * `signedHostileBatch` is signed by the enrolled node itself: its inner events are judged one by one (bad bodies
 * rejected, replays recognised), which is what a compromised or buggy agent can do at worst.
 */
const msgId = fc.stringMatching(/^[A-Za-z0-9_.:-]{1,64}$/)
const b = (v: unknown): Buffer => Buffer.from(JSON.stringify(v))
const stranger = nodeKeys()

export function signBatchWith(keys: KeyPair, unsigned: UnsignedBatch): UnsignedBatch & { sig: string } {
  return signBatch(unsigned, keys.secretKey)
}

export function hostileBatch(w: FuzzWorld): fc.Arbitrary<Hostile> {
  const node = w.enrolled.node
  const inner = fc.array(fc.constantFrom(...w.stored), { minLength: 1, maxLength: 20 })
  const unsigned = (events: unknown[], id: string, over: Record<string, unknown> = {}): UnsignedBatch =>
    ({
      v: 1,
      kind: 'batch',
      node,
      msgId: id,
      ts: '2026-11-22T02:00:00.000Z',
      body: { events: events as Envelope[] },
      ...over,
    }) as UnsignedBatch
  const forgedSig = fc.base64String({ minLength: 88, maxLength: 88 })
  const foreign = (events: unknown[], id: string, over: Record<string, unknown> = {}): Buffer =>
    b(signBatchWith(stranger, unsigned(events, id, over)))
  const reject = (category: string, payload: Buffer, topicNode = node): Hostile => ({
    category: `batch: ${category}`,
    topicNode,
    payload,
    expect: 'reject' as Expect,
  })
  return fc.oneof(
    fc
      .tuple(inner, msgId, forgedSig)
      .map(([ev, id, sig]) => reject('forged signature', b({ ...unsigned(ev, id), sig }))),
    fc.tuple(inner, msgId).map(([ev, id]) => reject('signed by another key', foreign(ev, id))),
    fc.tuple(inner, msgId, fc.nat()).map(([ev, id, at]) => {
      const intruder = { ...ev[0], node: 'intruder' }
      const events = [...ev]
      events.splice(at % (events.length + 1), 0, intruder as Envelope)
      return reject('another node inside', foreign(events, id))
    }),
    fc
      .tuple(inner, msgId, msgId)
      .map(([ev, id, id2]) => reject('nested', foreign([...ev, { ...unsigned(ev, id2), sig: 'AAAA' }], id))),
    msgId.map((id) =>
      reject(
        'too many events',
        foreign(
          Array.from({ length: MAX_BATCH_EVENTS + 1 }, (_, i) => w.stored[i % w.stored.length]),
          id,
        ),
      ),
    ),
    msgId.map((id) => reject('no events', foreign([], id))),
    fc
      .tuple(fc.array(fc.jsonValue({ maxDepth: 3 }), { minLength: 1, maxLength: 5 }), msgId)
      .map(([junk, id]) => reject('junk inside', foreign(junk, id))),
    fc.tuple(inner, msgId).map(([ev, id]) => reject("on another node's topic", foreign(ev, id), 'intruder')),
    fc.tuple(inner, msgId).map(([ev, id]) =>
      reject(
        'unknown node',
        b(
          signBatchWith(
            stranger,
            unsigned(
              ev.map((e) => ({ ...e, node: 'ghost' })),
              id,
              { node: 'ghost' },
            ),
          ),
        ),
        'ghost',
      ),
    ),
    fc
      .tuple(inner, msgId, fc.constantFrom('v', 'seq', 'extra'))
      .map(([ev, id, field]) =>
        reject(
          `wrong batch field ${field}`,
          b({ ...signBatchWith(stranger, unsigned(ev, id)), [field]: field === 'v' ? 2 : 7 }),
        ),
      ),
  )
}

/** What one signed hostile batch must produce: per inner event, rejected or duplicate (never stored). */
export interface SignedHostile {
  readonly payload: Buffer
  readonly rejected: number
  readonly duplicates: number
}

export function signedHostileBatch(w: FuzzWorld): fc.Arbitrary<SignedHostile> {
  const keys = w.enrolled.keys
  const item = fc.oneof(
    fc.constantFrom(...w.stored).map((e) => ({ env: e as unknown, bad: false })),
    fc.tuple(fc.constantFrom(...w.stored), fc.jsonValue({ maxDepth: 2 }), msgId).map(([e, junk, id]) => ({
      env: { ...e, msgId: `bad-${id}`.slice(0, 64), body: { runId: junk } } as unknown,
      bad: true,
    })),
  )
  return fc.tuple(fc.array(item, { minLength: 1, maxLength: 64 }), msgId).map(([items, id]) => ({
    payload: b(
      signBatchWith(keys, {
        v: 1,
        kind: 'batch',
        node: w.enrolled.node,
        msgId: id,
        ts: '2026-11-22T02:00:00.000Z',
        body: { events: items.map((i) => i.env) as Envelope[] },
      }),
    ),
    rejected: items.filter((i) => i.bad).length,
    duplicates: items.filter((i) => !i.bad).length,
  }))
}
