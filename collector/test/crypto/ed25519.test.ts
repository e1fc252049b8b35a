import assert from 'node:assert/strict'
import { test } from 'node:test'
import { signBytes, signEnvelope, verifyBytes, verifyEnvelopeSignature } from '@backstop/shared'
import {
  privateKeyObject,
  publicKeyObject,
  signEnvelopeWith,
  signMessage,
  verifyEnvelopeWith,
  verifyMessage,
} from '../../src/crypto/ed25519.ts'
import { nodeKeys } from '../support/harness.ts'

/** The collector's node:crypto Ed25519 must agree byte for byte with shared/src/signing.ts (tweetnacl). */
test('node:crypto and tweetnacl produce and accept the same signatures', () => {
  const kp = nodeKeys()
  const sk = privateKeyObject(kp.secretKey)
  const pk = publicKeyObject(kp.publicKey)!
  for (const msg of ['', 'connect\npve1\n1795312993956', 'ünïcødé ✓ \u0000', 'x'.repeat(10_000)]) {
    const ours = signMessage(msg, sk)
    assert.equal(ours, signBytes(msg, kp.secretKey), 'Ed25519 is deterministic: identical signatures')
    assert.ok(verifyBytes(msg, ours, kp.publicKey))
    assert.ok(verifyMessage(msg, signBytes(msg, kp.secretKey), pk))
    assert.ok(!verifyMessage(`${msg}!`, ours, pk))
  }
  const unsigned = {
    v: 1 as const,
    kind: 'job.progress' as const,
    node: 'pve1',
    msgId: 'm1',
    seq: 7,
    ts: '2026-11-22T00:00:00.000Z',
    body: { runId: 'r', job: 'j', percent: 50 },
  }
  const a = signEnvelopeWith(unsigned, sk)
  const b = signEnvelope(unsigned, kp.secretKey)
  assert.equal(a.sig, b.sig)
  assert.ok(verifyEnvelopeSignature(a, kp.publicKey))
  assert.ok(verifyEnvelopeWith(b, pk))
  const tampered = { ...unsigned, seq: 8, sig: b.sig }
  assert.ok(!verifyEnvelopeWith(tampered, pk))
})

test('malformed keys and signatures are rejected, not thrown', () => {
  assert.equal(publicKeyObject('AAAA'), undefined)
  assert.equal(publicKeyObject('not base64!'), undefined)
  assert.throws(() => privateKeyObject('AAAA'), /64 bytes/)
  const pk = publicKeyObject(nodeKeys().publicKey)!
  assert.equal(verifyMessage('m', 'AAAA', pk), false)
  assert.equal(verifyEnvelopeWith({ sig: 'x', body: { n: Number.NaN } } as never, pk), false)
})
