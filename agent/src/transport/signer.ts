import type { KeyObject } from 'node:crypto'
import {
  connectProofText,
  privateKeyObject,
  signBatch,
  signBytes,
  signEnvelope,
  type BatchEnvelope,
  type Envelope,
  type KeyPair,
  type MessageKind,
  type UnsignedBatch,
  type UnsignedEnvelope,
} from '@backstop/shared'

/** The node key, parsed once, signing everything the agent sends (shared/src/signing.ts does the Ed25519). */
export interface NodeSigner {
  readonly publicKey: string
  /** The MQTT CONNECT password's signature over connectProofText(node, ts). */
  signConnect(node: string, tsMillis: number): string
  signEnvelope<K extends MessageKind>(unsigned: UnsignedEnvelope<K>): Envelope<K>
  /** One signature over a whole batch of already-signed envelopes, under the batch domain (schemas/batch.ts). */
  signBatch(unsigned: UnsignedBatch): BatchEnvelope
}

/** Takes the stored pair (64-byte secret key: seed ‖ public key). */
export function createSigner(keys: KeyPair): NodeSigner {
  const key: KeyObject = privateKeyObject(keys.secretKey)
  return {
    publicKey: keys.publicKey,
    signConnect: (node, tsMillis) => signBytes(connectProofText(node, tsMillis), key),
    signEnvelope: (unsigned) => signEnvelope(unsigned, key),
    signBatch: (unsigned) => signBatch(unsigned, key),
  }
}
