import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  connectProofText,
  keyPairFromSeed,
  signBatch,
  signBytes,
  signEnvelope,
  verifyBatchSignature,
  verifyBytes,
  verifyEnvelopeSignature,
  type UnsignedEnvelope,
} from '@backstop/shared'
import { createSigner } from '../../src/transport/signer.ts'

const keys = keyPairFromSeed(new Uint8Array(32).map((_, i) => i * 7))
const unsigned: UnsignedEnvelope<'heartbeat'> = {
  v: 1,
  kind: 'heartbeat',
  node: 'n-1',
  msgId: 'm-1',
  seq: 1,
  ts: '2026-11-22T03:00:00.000Z',
  body: { agentVersion: '0.1.0', hostname: 'n-1', uptimeS: 3, outbox: { pending: 0, bytes: 0 }, jobs: [] },
}

describe('the agent signer (node key parsed once; the Ed25519 is shared/src/signing.ts)', () => {
  const signer = createSigner(keys)

  it('signs envelopes, batches and the CONNECT proof exactly as the stored key would', () => {
    const env = signer.signEnvelope(unsigned)
    assert.equal(env.sig, signEnvelope(unsigned, keys.secretKey).sig)
    assert.ok(verifyEnvelopeSignature(env, keys.publicKey))
    const batch = { v: 1, kind: 'batch', node: 'n-1', msgId: 'b-1', ts: unsigned.ts, body: { events: [env] } } as const
    assert.equal(signer.signBatch(batch).sig, signBatch(batch, keys.secretKey).sig)
    assert.ok(verifyBatchSignature(signer.signBatch(batch), keys.publicKey))
    const proof = signer.signConnect('n-1', 1795313450573)
    assert.equal(proof, signBytes(connectProofText('n-1', 1795313450573), keys.secretKey))
    assert.ok(verifyBytes('connect\nn-1\n1795313450573', proof, keys.publicKey))
  })

  it('refuses a secret key that is not 64 bytes', () => {
    assert.throws(() => createSigner({ publicKey: keys.publicKey, secretKey: 'AAAA' }), /64 bytes/)
  })
})
