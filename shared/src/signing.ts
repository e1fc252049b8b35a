import nacl from 'tweetnacl'
import { canonicalJson } from './canonical-json.ts'

/** Domain separation: a Backstop signature can never be replayed as a signature over something else. */
export const SIGNING_DOMAIN = 'backstop/v1\n'
const DOMAIN = SIGNING_DOMAIN
/**
 * Event batches (schemas/batch.ts) sign under their own domain, so a batch signature can never pass for an event's
 * (or a command's) and no single-event signature can be lifted onto a batch.
 */
export const BATCH_SIGNING_DOMAIN = 'backstop/v1/batch\n'

export interface KeyPair {
  /** base64, 32 bytes */
  readonly publicKey: string
  /** base64, 64 bytes (tweetnacl's seed + public key form) */
  readonly secretKey: string
}

/** Pure: the caller brings 32 bytes of entropy (crypto.randomBytes in the agent). */
export function keyPairFromSeed(seed: Uint8Array): KeyPair {
  if (seed.length !== nacl.sign.seedLength) {
    throw new RangeError(`seed must be ${nacl.sign.seedLength} bytes, got ${seed.length}`)
  }
  const kp = nacl.sign.keyPair.fromSeed(seed)
  return { publicKey: toB64(kp.publicKey), secretKey: toB64(kp.secretKey) }
}

export function signBytes(message: string, secretKey: string, domain: string = DOMAIN): string {
  const sk = fromB64(secretKey)
  if (sk.length !== nacl.sign.secretKeyLength) {
    throw new RangeError('secret key must be 64 bytes (base64)')
  }
  return toB64(nacl.sign.detached(utf8(domain + message), sk))
}

export function verifyBytes(message: string, sig: string, publicKey: string, domain: string = DOMAIN): boolean {
  const pk = fromB64(publicKey)
  const s = fromB64(sig)
  if (pk.length !== nacl.sign.publicKeyLength || s.length !== nacl.sign.signatureLength) {
    return false
  }
  return nacl.sign.detached.verify(utf8(domain + message), s, pk)
}

/** Signs the canonical JSON of `value` (which must not contain its own signature). */
export function signValue(value: unknown, secretKey: string, domain: string = DOMAIN): string {
  return signBytes(canonicalJson(value), secretKey, domain)
}

export function verifyValue(value: unknown, sig: string, publicKey: string, domain: string = DOMAIN): boolean {
  let text: string
  try {
    text = canonicalJson(value)
  } catch {
    return false
  }
  return verifyBytes(text, sig, publicKey, domain)
}

/** Short, stable fingerprint of a public key for logs and the API (first 16 bytes of SHA-512, hex). */
export function keyFingerprint(publicKey: string): string {
  const digest = nacl.hash(fromB64(publicKey))
  return Array.from(digest.subarray(0, 16), (b) => b.toString(16).padStart(2, '0')).join('')
}

const B64 = /^[A-Za-z0-9+/]*={0,2}$/

export function fromB64(s: string): Uint8Array {
  if (typeof s !== 'string' || s.length % 4 !== 0 || !B64.test(s)) {
    return new Uint8Array(0)
  }
  const bin = atob(s)
  const out = new Uint8Array(bin.length)
  for (let i = 0; i < bin.length; i++) {
    out[i] = bin.charCodeAt(i)
  }
  return out
}

export function toB64(bytes: Uint8Array): string {
  let bin = ''
  for (const b of bytes) {
    bin += String.fromCharCode(b)
  }
  return btoa(bin)
}

function utf8(s: string): Uint8Array {
  return new TextEncoder().encode(s)
}
