import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import nacl from 'tweetnacl'
import {
  BATCH_SIGNING_DOMAIN,
  connectProofText,
  hashAuditEntry,
  keyFingerprint,
  keyPairFromSeed,
  privateKeyObject,
  publicKeyObject,
  SIGNING_DOMAIN,
  signBatch,
  signBytes,
  signCommand,
  signEnvelope,
  toB64,
  verifyBatchSignature,
  verifyBytes,
  verifyEnvelopeSignature,
  type SigningDomain,
  type UnsignedBatch,
  type UnsignedCommand,
  type UnsignedEnvelope,
} from '@backstop/shared'

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'))

// RFC 8032 §7.1 TEST 1–3: the public key each secret seed derives.
const rfc8032 = [
  [
    '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
  ],
  [
    '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
  ],
  [
    'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
    'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
  ],
] as const

/**
 * Made by the tweetnacl implementation this module replaced (shared/src/signing.ts before node:crypto): keys on
 * disk and signatures already stored by collectors must keep verifying, and new ones must be the same bytes.
 */
const frozen = {
  seed: new Uint8Array(32).map((_, i) => i * 7),
  publicKey: 'TQ7DoNA/7/+TqbzOKiS0BtRvRK7/H3eH2u2xPKr6QCw=',
  secretKey: 'AAcOFRwjKjE4P0ZNVFtiaXB3foWMk5qhqK+2vcTL0tlNDsOg0D/v/5OpvM4qJLQG1G9Erv8fd4fa7bE8qvpALA==',
  fingerprint: '9cef5f45dd17e40ac354f1290d75d71b',
  connect: 'ewUhHr8Ad2+16qFk3d3H550EWetDtUwnmGyzk/YzAtJ6MmPHP+DGW1T4NPEPvJ9qXZwoJtn2mlb5xFxdTOq+Cw==',
  envelope: '/83aUFGSOYeVJS+EkQYEjnOjuE38tGgPgSX56NXvUc6V5852f31VTwvp9zmZyIorIfFBREmiPgqIjzcw4Q1mDw==',
  batch: 'nzJ9iAv6YEVWHGfQ/jeIuqUmLOwnNZrMLoX7j1OYiVbmbbS6LH2Q7SC4jbUbJZPibvFsweKRjsQiyQ35ntYwAg==',
  command: 'SmZFSZPiW0j7L6CSAwlt/Uu9BTXegRbWpKImDdg4yzZJXZlu+HtAxKwvYDw8yNnL4FWwI7Jq7DO1+94FMhnuCw==',
  auditHash: '8600e0b9610299ab8b822f78f046f96f19ef374add59b6795ffe22e193243ca2',
}
const envelope: UnsignedEnvelope<'job.progress'> = {
  v: 1,
  kind: 'job.progress',
  node: 'n-1',
  msgId: 'm-1',
  seq: 7,
  ts: '2026-11-22T03:00:00.000Z',
  body: { runId: 'r', job: 'j', percent: 12.5, message: 'zürich ✓ "quoted"' },
}
const batchOf = (sig: string): UnsignedBatch => ({
  v: 1,
  kind: 'batch',
  node: 'n-1',
  msgId: 'b-1',
  ts: '2026-11-22T03:00:01.000Z',
  body: { events: [{ ...envelope, sig } as never] },
})
const command: UnsignedCommand = {
  v: 1,
  type: 'command',
  id: 'c0ffee00c0ffee00c0ffee00',
  node: 'n-1',
  issuedAt: '2026-11-22T03:00:00.000Z',
  expiresAt: '2026-11-22T03:10:00.000Z',
  requestedBy: 'cli:root',
  kind: 'run-job',
  args: { job: 'etc' },
}

describe('Ed25519 vectors', () => {
  it('derives the RFC 8032 public keys from their seeds; the secret key is seed ‖ public key', () => {
    for (const [seed, pk] of rfc8032) {
      const kp = keyPairFromSeed(hex(seed))
      assert.equal(kp.publicKey, toB64(hex(pk)))
      assert.equal(kp.secretKey, toB64(hex(seed + pk)))
    }
  })

  it('reproduces and verifies every frozen signature of the tweetnacl era, byte for byte', () => {
    const kp = keyPairFromSeed(frozen.seed)
    assert.deepEqual(kp, { publicKey: frozen.publicKey, secretKey: frozen.secretKey })
    assert.equal(keyFingerprint(kp.publicKey), frozen.fingerprint)
    const connect = connectProofText('n-1', 1795313450573)
    assert.equal(signBytes(connect, kp.secretKey), frozen.connect)
    assert.ok(verifyBytes(connect, frozen.connect, kp.publicKey))
    const env = signEnvelope(envelope, kp.secretKey)
    assert.equal(env.sig, frozen.envelope)
    assert.ok(verifyEnvelopeSignature(env, kp.publicKey))
    const batch = signBatch(batchOf(frozen.envelope), kp.secretKey)
    assert.equal(batch.sig, frozen.batch)
    assert.ok(verifyBatchSignature(batch, kp.publicKey))
    assert.equal(signCommand(command, kp.secretKey).sig, frozen.command)
    const entry = { seq: 1, ts: envelope.ts, actor: 'cli', action: 'node.enroll', target: 'n-1', detail: { a: 1 } }
    assert.equal(hashAuditEntry({ ...entry, prevHash: '' } as never), frozen.auditHash)
  })

  it('parsed keys (hot paths) sign and verify exactly like the stored base64 form', () => {
    const sk = privateKeyObject(frozen.secretKey)
    const pk = publicKeyObject(frozen.publicKey)!
    assert.equal(signEnvelope(envelope, sk).sig, frozen.envelope)
    assert.ok(verifyEnvelopeSignature({ ...envelope, sig: frozen.envelope }, pk))
    assert.equal(signBatch(batchOf(frozen.envelope), sk).sig, frozen.batch)
  })

  it('keeps the domains apart: an event signature is not a batch signature and vice versa', () => {
    const text = 'same text'
    const asEvent = signBytes(text, frozen.secretKey, SIGNING_DOMAIN)
    assert.equal(verifyBytes(text, asEvent, frozen.publicKey, BATCH_SIGNING_DOMAIN), false)
    const asBatch = signBytes(text, frozen.secretKey, BATCH_SIGNING_DOMAIN)
    assert.equal(verifyBytes(text, asBatch, frozen.publicKey, SIGNING_DOMAIN), false)
    assert.equal(verifyEnvelopeSignature({ ...envelope, sig: frozen.command }, frozen.publicKey), false)
  })

  it('rejects malformed keys and signatures without throwing; a short secret key is a RangeError', () => {
    assert.equal(publicKeyObject('AAAA'), undefined)
    assert.equal(publicKeyObject('not base64!'), undefined)
    assert.throws(() => privateKeyObject('AAAA'), /64 bytes/)
    assert.throws(() => keyPairFromSeed(new Uint8Array(31)), /32 bytes/)
    for (const sig of ['', 'AAAA', '!!', 42 as unknown as string, `${frozen.connect.slice(0, -2)}-_`]) {
      assert.equal(verifyBytes('m', sig, frozen.publicKey), false, String(sig))
    }
    assert.equal(verifyBytes('m', frozen.connect, 'bm9wZQ=='), false)
  })
})

describe('Ed25519 against tweetnacl (an independent implementation, test-only)', () => {
  const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)
  const domain = fc.constantFrom<SigningDomain>(SIGNING_DOMAIN, BATCH_SIGNING_DOMAIN)

  it('same keys, same signatures, and each verifies the other', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.string({ unit: 'grapheme' }),
        domain,
        (seed, m, d) => {
          const ours = keyPairFromSeed(seed)
          const theirs = nacl.sign.keyPair.fromSeed(seed)
          assert.equal(ours.publicKey, toB64(theirs.publicKey))
          assert.equal(ours.secretKey, toB64(theirs.secretKey))
          const sig = signBytes(m, ours.secretKey, d)
          assert.equal(sig, toB64(nacl.sign.detached(utf8(d + m), theirs.secretKey)))
          assert.ok(nacl.sign.detached.verify(utf8(d + m), Buffer.from(sig, 'base64'), theirs.publicKey))
          assert.ok(verifyBytes(m, sig, ours.publicKey, d))
          assert.equal(verifyBytes(`${m}.`, sig, ours.publicKey, d), false)
        },
      ),
      { numRuns: 40 },
    )
  })

  it('the fingerprint is SHA-512 of the public key, as tweetnacl hashes it', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (seed) => {
        const pk = keyPairFromSeed(seed).publicKey
        const expected = Buffer.from(nacl.hash(Buffer.from(pk, 'base64')).subarray(0, 16)).toString('hex')
        assert.equal(keyFingerprint(pk), expected)
      }),
      { numRuns: 20 },
    )
  })
})
