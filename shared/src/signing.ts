import { Buffer } from 'node:buffer'
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto'
import { canonicalJson } from './canonical-json.ts'

/**
 * The one Ed25519 module of the workspace (agent, collector, verify worker and tests all sign and verify here).
 * It runs on node:crypto (OpenSSL): computation, not I/O, so shared/ stays pure — no entropy is drawn here, the
 * caller brings the seed. RFC 8032 signatures are deterministic, so these are byte for byte the signatures the
 * earlier tweetnacl code made (shared/test/signing-vectors.test.ts: RFC vectors, frozen Backstop signatures, and a
 * property test against tweetnacl, kept as a test-only reference). Native verify is ~80x faster than pure JS,
 * which the collector's ingest rate needs (docs/contributing.md, "Ed25519").
 */

/** Domain separation: a Backstop signature can never be replayed as a signature over something else. */
export const SIGNING_DOMAIN = 'backstop/v1\n'
/**
 * Event batches (schemas/batch.ts) sign under their own domain, so a batch signature can never pass for an event's
 * (or a command's) and no single-event signature can be lifted onto a batch.
 */
export const BATCH_SIGNING_DOMAIN = 'backstop/v1/batch\n'
export type SigningDomain = typeof SIGNING_DOMAIN | typeof BATCH_SIGNING_DOMAIN
/**
 * Commands sign under SIGNING_DOMAIN with `domain: 'command'` added to the signed value (schemas/command.ts), so a
 * command signature can never pass for an event's: an event has no `domain` member.
 */
export const COMMAND_DOMAIN = 'command'

/** The text an agent signs as its MQTT CONNECT password (agent transport/wire.ts, collector broker/connect-auth.ts). */
export function connectProofText(node: string, tsMillis: string | number): string {
  return `connect\n${node}\n${tsMillis}`
}

export interface KeyPair {
  /** base64, 32 bytes */
  readonly publicKey: string
  /** base64, 64 bytes: seed ‖ public key (the form tweetnacl used; every stored key file has it) */
  readonly secretKey: string
}

/** A secret key as stored (base64, 64 bytes) or already parsed with {@link privateKeyObject} (hot paths). */
export type SecretKey = string | KeyObject
/** A public key as stored (base64, 32 bytes) or already parsed with {@link publicKeyObject}. */
export type PublicKey = string | KeyObject

const SEED_BYTES = 32
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')

function privateKeyFromSeed(seed: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' })
}

/** Pure: the caller brings 32 bytes of entropy (crypto.randomBytes in the agent and the collector). */
export function keyPairFromSeed(seed: Uint8Array): KeyPair {
  if (seed.length !== SEED_BYTES) {
    throw new RangeError(`seed must be ${SEED_BYTES} bytes, got ${seed.length}`)
  }
  const spki = createPublicKey(privateKeyFromSeed(seed)).export({ format: 'der', type: 'spki' })
  const publicKey = spki.subarray(SPKI_ED25519_PREFIX.length)
  return { publicKey: toB64(publicKey), secretKey: toB64(Buffer.concat([seed, publicKey])) }
}

/** Parses a stored secret key once, for code that signs often. Throws RangeError unless it is 64 bytes. */
export function privateKeyObject(secretKeyB64: string): KeyObject {
  const raw = fromB64(secretKeyB64)
  if (raw.length !== 2 * SEED_BYTES) {
    throw new RangeError('secret key must be 64 bytes (base64)')
  }
  return privateKeyFromSeed(raw.subarray(0, SEED_BYTES))
}

/** Parses a public key once, for code that verifies often; undefined unless it is 32 bytes of base64. */
export function publicKeyObject(publicKeyB64: string): KeyObject | undefined {
  const raw = fromB64(publicKeyB64)
  if (raw.length !== SEED_BYTES) {
    return undefined
  }
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' })
}

// Verifiers given base64 keys (fake collectors, command checks) see a handful of keys again and again.
const publicKeyCache = new Map<string, KeyObject | undefined>()
const PUBLIC_KEY_CACHE_SIZE = 256

function toPublicKeyObject(key: PublicKey): KeyObject | undefined {
  if (typeof key !== 'string') {
    return key
  }
  if (!publicKeyCache.has(key)) {
    if (publicKeyCache.size >= PUBLIC_KEY_CACHE_SIZE) {
      publicKeyCache.clear()
    }
    publicKeyCache.set(key, publicKeyObject(key))
  }
  return publicKeyCache.get(key)
}

export function signBytes(message: string, secretKey: SecretKey, domain: SigningDomain = SIGNING_DOMAIN): string {
  const key = typeof secretKey === 'string' ? privateKeyObject(secretKey) : secretKey
  return sign(null, Buffer.from(domain + message, 'utf8'), key).toString('base64')
}

/** False for anything malformed (key, signature, encoding); never throws. */
export function verifyBytes(
  message: string,
  sig: string,
  publicKey: PublicKey,
  domain: SigningDomain = SIGNING_DOMAIN,
): boolean {
  const key = toPublicKeyObject(publicKey)
  const s = fromB64(sig)
  if (!key || s.length !== 2 * SEED_BYTES) {
    return false
  }
  return verify(null, Buffer.from(domain + message, 'utf8'), key, s)
}

/** Signs the canonical JSON of `value` (which must not contain its own signature). */
export function signValue(value: unknown, secretKey: SecretKey, domain: SigningDomain = SIGNING_DOMAIN): string {
  return signBytes(canonicalJson(value), secretKey, domain)
}

export function verifyValue(
  value: unknown,
  sig: string,
  publicKey: PublicKey,
  domain: SigningDomain = SIGNING_DOMAIN,
): boolean {
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
  return createHash('sha512').update(fromB64(publicKey)).digest().subarray(0, 16).toString('hex')
}

const B64 = /^[A-Za-z0-9+/]*={0,2}$/

/** Strict base64: anything else (wrong length, other alphabet, not a string) is an empty array. */
export function fromB64(s: string): Uint8Array {
  if (typeof s !== 'string' || s.length % 4 !== 0 || !B64.test(s)) {
    return new Uint8Array(0)
  }
  return new Uint8Array(Buffer.from(s, 'base64'))
}

export function toB64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')
}
