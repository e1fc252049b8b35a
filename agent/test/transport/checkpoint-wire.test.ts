import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { keyPairFromSeed, signEnvelope, type BodyOf } from '@backstop/shared'
import { checkCheckpoint } from '../../src/transport/wire.ts'

const collector = keyPairFromSeed(new Uint8Array(32).fill(9))
const impostor = keyPairFromSeed(new Uint8Array(32).fill(10))
const body: BodyOf<'checkpoint'> = { coveredSeq: 7, collectorHighWater: 9 }

function checkpoint(node: string, key = collector.secretKey, b: unknown = body): Buffer {
  const env = signEnvelope(
    { v: 1, kind: 'checkpoint', node, msgId: 'checkpoint-1', seq: 0, ts: '2026-12-05T09:00:00.000Z', body: b } as never,
    key,
  )
  return Buffer.from(JSON.stringify(env))
}

describe('checkCheckpoint: only the pinned collector decides what the outbox deletes', () => {
  it('accepts a checkpoint for this node signed by the pinned key', () => {
    const r = checkCheckpoint(checkpoint('node-a'), 'node-a', collector.publicKey)
    assert.ok(r.ok)
    assert.deepEqual(r.ok && r.body, body)
  })
  const refused: Array<[string, Buffer, string | null, boolean]> = [
    ['signed by another key (forged)', checkpoint('node-a', impostor.secretKey), collector.publicKey, true],
    ['for another node', checkpoint('node-b'), collector.publicKey, false],
    ['before enrollment (nothing pinned)', checkpoint('node-a'), null, false],
    [
      'a body that is not a checkpoint',
      checkpoint('node-a', collector.secretKey, { coveredSeq: -1 }),
      collector.publicKey,
      false,
    ],
    ['not JSON', Buffer.from('{'), collector.publicKey, false],
  ]
  for (const [name, payload, key, forged] of refused) {
    it(`refuses one ${name}`, () => {
      const r = checkCheckpoint(payload, 'node-a', key)
      assert.equal(r.ok, false)
      assert.equal(!r.ok && r.forged, forged)
    })
  }
})
