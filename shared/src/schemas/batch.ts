import Type from 'typebox'
import { Compile } from 'typebox/compile'
import { canonicalJson } from '../canonical-json.ts'
import { BackstopError } from '../errors.ts'
import { BATCH_SIGNING_DOMAIN, signValue, verifyValue, type PublicKey, type SecretKey } from '../signing.ts'
import { Base64, IsoTimestamp, MsgId, NodeId } from './common.ts'
import {
  checkEnvelopeHeader,
  describeErrors,
  ENVELOPE_VERSION,
  MAX_MESSAGE_BYTES,
  parseWire,
  type Envelope,
} from './envelope.ts'
import type { MessageKind } from './kinds.ts'

/**
 * An event batch (docs/protocol.md "Batches"): a run of the outbox's signed envelopes, in outbox order, under one
 * signature by the same node key. The collector verifies that one signature and not the inner ones (they are
 * covered by it, and stay on the wire so every stored event remains self-contained and verifiable on its own).
 * A batch is a container, not a message kind: it is never stored, acked or dispatched itself, so it is not in
 * the kinds table; its inner events are, one by one.
 */
export const MAX_BATCH_EVENTS = 256
/**
 * The same ceiling as any message: the broker and the decoder enforce one limit. The agent sends alone any record that
 * does not fit.
 */
export const MAX_BATCH_BYTES = MAX_MESSAGE_BYTES
/**
 * Kinds that may ride in a batch: the durable ones and heartbeats. `enroll` proves a key the batch cannot; `ack` flows
 * the other way.
 */
const NOT_BATCHABLE: ReadonlySet<MessageKind> = new Set<MessageKind>(['enroll', 'ack', 'checkpoint'])

export const BatchEnvelopeSchema = Type.Object(
  {
    v: Type.Literal(ENVELOPE_VERSION),
    kind: Type.Literal('batch'),
    node: NodeId,
    msgId: MsgId,
    ts: IsoTimestamp,
    body: Type.Object(
      { events: Type.Array(Type.Unknown(), { minItems: 1, maxItems: MAX_BATCH_EVENTS }) },
      { additionalProperties: false },
    ),
    sig: Base64,
  },
  { additionalProperties: false },
)

export interface BatchEnvelope {
  readonly v: typeof ENVELOPE_VERSION
  readonly kind: 'batch'
  readonly node: string
  readonly msgId: string
  readonly ts: string
  readonly body: { readonly events: readonly Envelope[] }
  readonly sig: string
}

export type UnsignedBatch = Omit<BatchEnvelope, 'sig'>

const batchCheck = Compile(BatchEnvelopeSchema)

export function signBatch(unsigned: UnsignedBatch, secretKey: SecretKey): BatchEnvelope {
  return { ...unsigned, sig: signValue(unsigned, secretKey, BATCH_SIGNING_DOMAIN) }
}

export function verifyBatchSignature(batch: { sig: string }, publicKey: PublicKey): boolean {
  const { sig, ...unsigned } = batch
  return verifyValue(unsigned, sig, publicKey, BATCH_SIGNING_DOMAIN)
}

/** The exact text a batch signature covers (without the domain prefix): for native Ed25519 signers and verifiers. */
export function batchSigningText(batch: UnsignedBatch | BatchEnvelope): string {
  const { sig: _sig, ...unsigned } = batch as BatchEnvelope
  return canonicalJson(unsigned)
}

/** A decoded wire message: one event, or a batch whose inner headers have been checked. */
export type WireMessage =
  { readonly batch: false; readonly env: Envelope } | { readonly batch: true; readonly env: BatchEnvelope }

/**
 * Step 1 of ingest for either shape: bytes → event envelope header, or → batch with every inner envelope's header
 * checked (same version, same node as the batch, a batchable kind, no nesting). Throws BackstopError; a batch-level
 * failure is BK_ERR_WIRE_BATCH / BK_ERR_WIRE_BATCH_NODE and rejects the whole batch. Inner bodies are NOT checked
 * here (`checkBody` per event, after the signature), so one bad body rejects only its own event.
 */
export function decodeMessage(payload: Uint8Array | string): WireMessage {
  const value = parseWire(payload)
  if (typeof value !== 'object' || value === null || (value as { kind?: unknown }).kind !== 'batch') {
    return { batch: false, env: checkEnvelopeHeader(value) }
  }
  if (!batchCheck.Check(value)) {
    throw new BackstopError(
      'BK_ERR_WIRE_BATCH',
      `batch: ${describeErrors(batchCheck.Errors(value))} (at most ${MAX_BATCH_EVENTS} events, at least 1)`,
    )
  }
  const batch = value as BatchEnvelope
  batch.body.events.forEach((inner, i) => checkInner(batch, inner, i))
  return { batch: true, env: batch }
}

function checkInner(batch: BatchEnvelope, inner: unknown, i: number): void {
  if (typeof inner === 'object' && inner !== null && (inner as { kind?: unknown }).kind === 'batch') {
    throw new BackstopError(
      'BK_ERR_WIRE_BATCH',
      `batch ${batch.msgId}: events[${i}] is itself a batch; batches do not nest`,
    )
  }
  let env: Envelope
  try {
    env = checkEnvelopeHeader(inner)
  } catch (e) {
    throw new BackstopError(
      'BK_ERR_WIRE_BATCH',
      `batch ${batch.msgId}: events[${i}] is not an event envelope: ${(e as Error).message}`,
    )
  }
  if (env.node !== batch.node) {
    throw new BackstopError(
      'BK_ERR_WIRE_BATCH_NODE',
      `batch ${batch.msgId} of node "${batch.node}": events[${i}] (${env.msgId}) belongs to node "${env.node}"`,
    )
  }
  if (NOT_BATCHABLE.has(env.kind)) {
    throw new BackstopError(
      'BK_ERR_WIRE_BATCH',
      `batch ${batch.msgId}: events[${i}] is "${env.kind}", which is sent alone, never in a batch`,
    )
  }
}
