import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { keyPairFromSeed, verifyBytes } from '@backstop/shared'
import { backoffMs } from '../../src/transport/backoff.ts'
import { createSigner } from '../../src/transport/signer.ts'
import { checkAck, connectCredentials, enrollEnvelope, statusPayload } from '../../src/transport/wire.ts'

const node = keyPairFromSeed(new Uint8Array(32).fill(5))
const collector = keyPairFromSeed(new Uint8Array(32).fill(6))
const stranger = keyPairFromSeed(new Uint8Array(32).fill(7))

function ack(body: object, signer = collector, kind = 'ack'): Buffer {
  const env = createSigner(signer).signEnvelope({
    v: 1,
    kind,
    node: 'n1',
    msgId: 'ack-1',
    seq: 0,
    ts: '2026-11-22T03:00:00.000Z',
    body,
  } as never)
  return Buffer.from(JSON.stringify(env))
}

describe('backoff', () => {
  const policy = { baseMs: 1000, maxMs: 60_000 }
  const cases: Array<{ attempt: number; random: number; want: number }> = [
    { attempt: 0, random: 0, want: 500 },
    { attempt: 0, random: 1, want: 1000 },
    { attempt: 3, random: 0, want: 4000 },
    { attempt: 3, random: 0.5, want: 6000 },
    { attempt: 6, random: 1, want: 60_000 },
    { attempt: 1000, random: 0, want: 30_000 },
  ]
  for (const c of cases) {
    it(`attempt ${c.attempt}, random ${c.random} → ${c.want} ms`, () => {
      assert.equal(
        backoffMs(c.attempt, policy, () => c.random),
        c.want,
      )
    })
  }
})

describe('wire helpers', () => {
  it('CONNECT password is "<ms>.<sig over connect\\n<node>\\n<ms>>"', () => {
    const { username, password } = connectCredentials('n1', createSigner(node), 1795313450573)
    assert.equal(username, 'n1')
    const [ts, sig] = password.split('.')
    assert.equal(ts, '1795313450573')
    assert.ok(verifyBytes('connect\nn1\n1795313450573', sig!, node.publicKey))
  })

  it('status payloads: online with the version, offline with why (the Will says lost)', () => {
    const now = new Date('2026-11-22T03:00:00.000Z')
    assert.deepEqual(JSON.parse(statusPayload('online', now, { agentVersion: '0.1.0' })), {
      state: 'online',
      ts: '2026-11-22T03:00:00.000Z',
      agentVersion: '0.1.0',
    })
    assert.deepEqual(JSON.parse(statusPayload('offline', now)), {
      state: 'offline',
      ts: '2026-11-22T03:00:00.000Z',
      reason: 'lost',
    })
    assert.deepEqual(JSON.parse(statusPayload('offline', now, { reason: 'shutdown' })), {
      state: 'offline',
      ts: '2026-11-22T03:00:00.000Z',
      reason: 'shutdown',
    })
  })

  it('enroll is seq 0 and signed by the key it carries', () => {
    const env = enrollEnvelope({
      node: 'n1',
      signer: createSigner(node),
      token: 't',
      hostname: 'h',
      agentVersion: '0.1.0',
      now: new Date(),
    })
    assert.equal(env.seq, 0)
    assert.equal(env.body.publicKey, node.publicKey)
  })

  const enrollment = { node: 'n1', collectorPublicKey: collector.publicKey }
  const cases: Array<{ name: string; payload: Buffer; pinned: string | null; ok: boolean; forged?: boolean }> = [
    { name: 'a valid ack', payload: ack({ acked: ['a'], rejected: [] }), pinned: collector.publicKey, ok: true },
    {
      name: 'an ack by another key',
      payload: ack({ acked: ['a'], rejected: [] }, stranger),
      pinned: collector.publicKey,
      ok: false,
      forged: true,
    },
    { name: 'garbage', payload: Buffer.from('{nope'), pinned: collector.publicKey, ok: false, forged: false },
    {
      name: 'another kind',
      payload: ack({ acked: [], rejected: [] }, collector, 'heartbeat'),
      pinned: collector.publicKey,
      ok: false,
      forged: false,
    },
    { name: 'a bad ack body', payload: ack({ acked: 'a' }), pinned: collector.publicKey, ok: false, forged: false },
    {
      name: 'an enrollment ack signed by the key it announces',
      payload: ack({ acked: ['e'], rejected: [], enrollment }),
      pinned: null,
      ok: true,
    },
    {
      name: 'an enrollment ack announcing a key it is not signed by',
      payload: ack({ acked: ['e'], rejected: [], enrollment }, stranger),
      pinned: null,
      ok: false,
      forged: true,
    },
    {
      name: 'an ack before enrollment without enrollment',
      payload: ack({ acked: ['e'], rejected: [] }),
      pinned: null,
      ok: false,
      forged: false,
    },
  ]
  for (const c of cases) {
    it(`checkAck: ${c.name}`, () => {
      const r = checkAck(c.payload, c.pinned)
      assert.equal(r.ok, c.ok)
      if (!r.ok) {
        assert.equal(r.forged, c.forged)
      }
    })
  }
})
