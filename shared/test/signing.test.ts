import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import {
  BackstopError,
  canonicalJson,
  checkBody,
  decodeEnvelope,
  keyFingerprint,
  keyPairFromSeed,
  signEnvelope,
  verifyEnvelopeSignature,
  type UnsignedEnvelope,
} from '@backstop/shared'

const kp = keyPairFromSeed(new Uint8Array(32).fill(7))
const other = keyPairFromSeed(randomBytes(32))

function heartbeat(overrides: Partial<UnsignedEnvelope<'heartbeat'>> = {}): UnsignedEnvelope<'heartbeat'> {
  return {
    v: 1,
    kind: 'heartbeat',
    node: 'pve1',
    msgId: 'm-1',
    seq: 1,
    ts: '2026-11-22T01:00:00.000Z',
    body: { agentVersion: '0.1.0', hostname: 'pve1', uptimeS: 3, outbox: { pending: 0, bytes: 0 }, jobs: [] },
    ...overrides,
  }
}

describe('canonical JSON', () => {
  const cases: Array<[string, unknown, string]> = [
    [
      'sorts keys at every depth',
      { b: 1, a: { d: [1, { z: 0, y: 1 }], c: 'x' } },
      '{"a":{"c":"x","d":[1,{"y":1,"z":0}]},"b":1}',
    ],
    ['drops undefined members', { a: undefined, b: null }, '{"b":null}'],
    ['undefined in arrays becomes null', [undefined, 1], '[null,1]'],
    ['escapes strings like JSON', { 'k"': 'line\nbreak' }, '{"k\\"":"line\\nbreak"}'],
  ]
  for (const [name, input, expected] of cases) {
    it(name, () => assert.equal(canonicalJson(input), expected))
  }
  it('refuses non-finite numbers', () => assert.throws(() => canonicalJson({ a: Number.NaN }), /non-finite/))
  it('refuses absurd nesting', () => {
    let deep: unknown = 1
    for (let i = 0; i < 100; i++) {
      deep = [deep]
    }
    assert.throws(() => canonicalJson(deep), /nesting/)
  })
})

describe('envelope signing', () => {
  it('round-trips through the wire and verifies', () => {
    const env = signEnvelope(heartbeat(), kp.secretKey)
    const decoded = decodeEnvelope(Buffer.from(JSON.stringify(env)))
    assert.equal(verifyEnvelopeSignature(decoded, kp.publicKey), true)
    checkBody(decoded)
  })
  it('key order on the wire does not matter', () => {
    const env = signEnvelope(heartbeat(), kp.secretKey)
    const reordered = Object.fromEntries(Object.entries(env).reverse())
    assert.equal(verifyEnvelopeSignature(decodeEnvelope(JSON.stringify(reordered)), kp.publicKey), true)
  })
  it('fails for another key', () => {
    assert.equal(verifyEnvelopeSignature(signEnvelope(heartbeat(), kp.secretKey), other.publicKey), false)
  })
  it('fails when any field is tampered with', () => {
    const env = signEnvelope(heartbeat(), kp.secretKey)
    for (const tampered of [
      { ...env, seq: 2 },
      { ...env, node: 'pve2' },
      { ...env, body: { ...env.body, uptimeS: 4 } },
    ]) {
      assert.equal(verifyEnvelopeSignature(tampered, kp.publicKey), false)
    }
  })
  it('fails on a garbage signature instead of throwing', () => {
    assert.equal(
      verifyEnvelopeSignature({ ...signEnvelope(heartbeat(), kp.secretKey), sig: 'AAAA' }, kp.publicKey),
      false,
    )
    assert.equal(
      verifyEnvelopeSignature({ ...signEnvelope(heartbeat(), kp.secretKey), sig: '!!' }, kp.publicKey),
      false,
    )
  })
  it('fingerprints are stable hex', () => {
    assert.match(keyFingerprint(kp.publicKey), /^[0-9a-f]{32}$/)
    assert.equal(keyFingerprint(kp.publicKey), keyFingerprint(kp.publicKey))
  })
})

describe('decodeEnvelope rejects bad input with a coded error', () => {
  const good = signEnvelope(heartbeat(), kp.secretKey)
  const cases: Array<[string, string | Uint8Array, string, RegExp?]> = [
    ['malformed JSON', '{"v":1,', 'BK_ERR_WIRE_JSON'],
    ['invalid UTF-8', new Uint8Array([0xff, 0xfe, 0x7b]), 'BK_ERR_WIRE_JSON'],
    ['wrong version', JSON.stringify({ ...good, v: 2 }), 'BK_ERR_WIRE_VERSION', /v=2/],
    ['unknown kind', JSON.stringify({ ...good, kind: 'nope' }), 'BK_ERR_WIRE_SCHEMA', /\/kind/],
    ['negative seq', JSON.stringify({ ...good, seq: -1 }), 'BK_ERR_WIRE_SCHEMA', /\/seq/],
    ['node with a wildcard', JSON.stringify({ ...good, node: 'a/#' }), 'BK_ERR_WIRE_SCHEMA', /\/node/],
    ['extra top-level field', JSON.stringify({ ...good, extra: 1 }), 'BK_ERR_WIRE_SCHEMA'],
    ['a JSON array', '[1,2]', 'BK_ERR_WIRE_SCHEMA'],
    ['too large', 'x'.repeat(1024 * 1024 + 1), 'BK_ERR_WIRE_TOO_LARGE'],
  ]
  for (const [name, payload, code, detail] of cases) {
    it(name, () => {
      assert.throws(
        () => decodeEnvelope(payload),
        (e: unknown) => {
          assert.ok(e instanceof BackstopError)
          assert.equal(e.code, code)
          if (detail) {
            assert.match(e.message, detail)
          }
          return true
        },
      )
    })
  }
  it('checkBody names the failing field', () => {
    const env = decodeEnvelope(
      JSON.stringify(signEnvelope(heartbeat({ body: { agentVersion: 'x' } as never }), kp.secretKey)),
    )
    assert.throws(() => checkBody(env), /heartbeat body: .*hostname|heartbeat body: \/ must have required properties/)
  })
})
