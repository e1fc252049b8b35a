import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  keyPairFromSeed,
  signBytes,
  signEnvelope,
  verifyBytes,
  verifyEnvelopeSignature,
  type UnsignedEnvelope,
} from '@backstop/shared'
import { createSigner, verifyEnvelope } from '../../src/transport/ed25519.ts'

const keys = keyPairFromSeed(new Uint8Array(32).map((_, i) => i * 7))
const other = keyPairFromSeed(new Uint8Array(32).fill(200))
const unsigned: UnsignedEnvelope<'job.progress'> = {
  v: 1,
  kind: 'job.progress',
  node: 'n-1',
  msgId: 'm-1',
  seq: 7,
  ts: '2026-11-22T03:00:00.000Z',
  body: { runId: 'r', job: 'j', percent: 12.5, message: 'zürich ✓ "quoted"' },
}

describe('native Ed25519 matches shared (tweetnacl) byte for byte', () => {
  it('envelope signatures are identical and cross-verify', () => {
    const native = createSigner(keys).signEnvelope(unsigned)
    const nacl = signEnvelope(unsigned, keys.secretKey)
    assert.equal(native.sig, nacl.sig)
    assert.ok(verifyEnvelopeSignature(native, keys.publicKey))
    assert.ok(verifyEnvelope(nacl, keys.publicKey))
  })

  it('message signatures (the CONNECT password) are identical', () => {
    const m = 'connect\nn-1\n1795313450573'
    assert.equal(createSigner(keys).signMessage(m), signBytes(m, keys.secretKey))
    assert.ok(verifyBytes(m, createSigner(keys).signMessage(m), keys.publicKey))
  })

  const bad: Array<{ name: string; env: () => { sig: string }; key: string }> = [
    { name: 'another key', env: () => signEnvelope(unsigned, keys.secretKey), key: other.publicKey },
    { name: 'a changed body', env: () => ({ ...signEnvelope(unsigned, keys.secretKey), seq: 8 }), key: keys.publicKey },
    {
      name: 'a truncated signature',
      env: () => ({ ...signEnvelope(unsigned, keys.secretKey), sig: 'AAAA' }),
      key: keys.publicKey,
    },
    { name: 'a malformed public key', env: () => signEnvelope(unsigned, keys.secretKey), key: 'bm9wZQ==' },
    { name: 'a non-string signature', env: () => ({ ...unsigned, sig: 42 as unknown as string }), key: keys.publicKey },
  ]
  for (const c of bad) {
    it(`rejects ${c.name} (as shared does)`, () => {
      assert.equal(verifyEnvelope(c.env(), c.key), false)
      assert.equal(verifyEnvelopeSignature(c.env(), c.key), false)
    })
  }
})
