import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto'
import {
  BATCH_SIGNING_DOMAIN,
  batchSigningText,
  canonicalJson,
  fromB64,
  type BatchEnvelope,
  type Envelope,
  type KeyPair,
  type MessageKind,
  type UnsignedBatch,
  type UnsignedEnvelope,
} from '@backstop/shared'

/**
 * Ed25519 through node:crypto (OpenSSL) rather than tweetnacl: identical signatures byte for byte (RFC 8032 is
 * deterministic) over exactly shared/src/signing.ts's message (domain prefix + canonical JSON without `sig`),
 * but ~50x faster — tweetnacl needs ~17 ms per signature on a loaded 2-core box, which would cap `emit` at
 * ~60 events/s. agent/test/transport/ed25519.test.ts checks both directions against shared's tweetnacl code.
 */
const DOMAIN = 'backstop/v1\n'
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')

export interface NodeSigner {
  readonly publicKey: string
  signMessage(message: string): string
  signEnvelope<K extends MessageKind>(unsigned: UnsignedEnvelope<K>): Envelope<K>
  /**
   * One signature over a whole batch of already-signed envelopes, under the batch domain (shared/src/schemas/batch.ts).
   */
  signBatch(unsigned: UnsignedBatch): BatchEnvelope
}

/** Takes the stored pair (tweetnacl's 64-byte secret key form: seed ‖ public key). */
export function createSigner(keys: KeyPair): NodeSigner {
  const raw = fromB64(keys.secretKey)
  if (raw.length !== 64) {
    throw new RangeError('secret key must be 64 bytes (base64)')
  }
  const key = createPrivateKey({
    key: Buffer.concat([PKCS8_ED25519_PREFIX, raw.subarray(0, 32)]),
    format: 'der',
    type: 'pkcs8',
  })
  const signMessage = (message: string): string =>
    sign(null, Buffer.from(DOMAIN + message, 'utf8'), key).toString('base64')
  return {
    publicKey: keys.publicKey,
    signMessage,
    signEnvelope: <K extends MessageKind>(unsigned: UnsignedEnvelope<K>): Envelope<K> =>
      ({ ...unsigned, sig: signMessage(canonicalJson(unsigned)) }) as Envelope<K>,
    signBatch: (unsigned) => ({
      ...unsigned,
      sig: sign(null, Buffer.from(BATCH_SIGNING_DOMAIN + batchSigningText(unsigned), 'utf8'), key).toString('base64'),
    }),
  }
}

const publicKeys = new Map<string, KeyObject | null>()

function publicKeyObject(publicKeyB64: string): KeyObject | null {
  let k = publicKeys.get(publicKeyB64)
  if (k === undefined) {
    const raw = fromB64(publicKeyB64)
    k =
      raw.length === 32
        ? createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' })
        : null
    if (publicKeys.size > 64) {
      publicKeys.clear()
    }
    publicKeys.set(publicKeyB64, k)
  }
  return k
}

/** Same contract as shared's verifyEnvelopeSignature: false for anything malformed, never throws. */
export function verifyEnvelope(env: { sig: string }, publicKeyB64: string): boolean {
  const key = publicKeyObject(publicKeyB64)
  const { sig, ...unsigned } = env
  const s = typeof sig === 'string' ? Buffer.from(sig, 'base64') : Buffer.alloc(0)
  if (!key || s.length !== 64) {
    return false
  }
  let text: string
  try {
    text = canonicalJson(unsigned)
  } catch {
    return false
  }
  return verify(null, Buffer.from(DOMAIN + text, 'utf8'), key, s)
}

/** Native check of a batch signature (batch domain); the agent never needs it, its tests' fake collector does. */
export function verifyBatch(batch: BatchEnvelope, publicKeyB64: string): boolean {
  const key = publicKeyObject(publicKeyB64)
  const s = typeof batch.sig === 'string' ? Buffer.from(batch.sig, 'base64') : Buffer.alloc(0)
  if (!key || s.length !== 64) {
    return false
  }
  let text: string
  try {
    text = batchSigningText(batch)
  } catch {
    return false
  }
  return verify(null, Buffer.from(BATCH_SIGNING_DOMAIN + text, 'utf8'), key, s)
}
