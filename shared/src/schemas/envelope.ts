import Type, { type Static } from 'typebox'
import { Compile } from 'typebox/compile'
import { assertJsonDepth } from '../canonical-json.ts'
import { BackstopError } from '../errors.ts'
import { signValue, verifyValue, type PublicKey, type SecretKey } from '../signing.ts'
import { Base64, IsoTimestamp, MsgId, NodeId } from './common.ts'
import { type MessageKind, messageKindNames, messageKinds } from './kinds.ts'

export const ENVELOPE_VERSION = 1
/** Hard ceiling for one message on the wire; the broker and the decoder both enforce it. */
export const MAX_MESSAGE_BYTES = 1024 * 1024
/** MQTT topic, packet id and fixed header around a message: `backstop/v1/<63-char node>/events` is 86 bytes. */
export const PUBLISH_FRAMING_BYTES = 1024

/** The envelope without its body schema: checked first, so the signature can be verified before the body is trusted. */
export const EnvelopeHeader = Type.Object(
  {
    v: Type.Literal(ENVELOPE_VERSION),
    kind: Type.Union(messageKindNames.map((k) => Type.Literal(k))),
    node: NodeId,
    msgId: MsgId,
    /** Per-node sequence number, strictly increasing in the order the agent wrote its outbox. */
    seq: Type.Integer({ minimum: 0 }),
    ts: IsoTimestamp,
    body: Type.Unknown(),
    sig: Base64,
  },
  { additionalProperties: false },
)

export type BodyOf<K extends MessageKind> = Static<(typeof messageKinds)[K]['body']>

export type Envelope<K extends MessageKind = MessageKind> = {
  [P in K]: {
    v: typeof ENVELOPE_VERSION
    kind: P
    node: string
    msgId: string
    seq: number
    ts: string
    body: BodyOf<P>
    sig: string
  }
}[K]

export type UnsignedEnvelope<K extends MessageKind = MessageKind> = Omit<Envelope<K>, 'sig'>

const headerCheck = Compile(EnvelopeHeader)
const bodyChecks = Object.fromEntries(messageKindNames.map((k) => [k, Compile(messageKinds[k].body)])) as {
  [K in MessageKind]: ReturnType<typeof Compile>
}

export function signEnvelope<K extends MessageKind>(unsigned: UnsignedEnvelope<K>, secretKey: SecretKey): Envelope<K> {
  const sig = signValue(unsigned, secretKey)
  return { ...unsigned, sig } as Envelope<K>
}

export function verifyEnvelopeSignature(env: { sig: string }, publicKey: PublicKey): boolean {
  const { sig, ...unsigned } = env
  return verifyValue(unsigned, sig, publicKey)
}

/**
 * Step 1 of ingest: bytes → envelope header. Throws BackstopError(BK_ERR_WIRE_*) naming what is wrong.
 * The body is still untrusted after this; check the signature, then `checkBody`.
 */
export function decodeEnvelope(payload: Uint8Array | string): Envelope {
  return checkEnvelopeHeader(parseWire(payload))
}

/** Size cap, UTF-8, nesting depth, JSON, envelope version: everything a message must pass before its shape is read. */
export function parseWire(payload: Uint8Array | string): unknown {
  const size = typeof payload === 'string' ? payload.length : payload.byteLength
  if (size > MAX_MESSAGE_BYTES) {
    throw new BackstopError('BK_ERR_WIRE_TOO_LARGE', `${size} bytes > ${MAX_MESSAGE_BYTES}`)
  }
  let value: unknown
  try {
    const text = typeof payload === 'string' ? payload : new TextDecoder('utf-8', { fatal: true }).decode(payload)
    assertJsonDepth(text, MAX_JSON_DEPTH)
    value = JSON.parse(text)
  } catch (e) {
    throw new BackstopError('BK_ERR_WIRE_JSON', (e as Error).message)
  }
  if (typeof value === 'object' && value !== null && 'v' in value && (value as { v: unknown }).v !== ENVELOPE_VERSION) {
    throw new BackstopError(
      'BK_ERR_WIRE_VERSION',
      `envelope v=${JSON.stringify((value as { v: unknown }).v)}, this build speaks v${ENVELOPE_VERSION}`,
    )
  }
  return value
}

/** A parsed value → envelope header, or BK_ERR_WIRE_SCHEMA naming the failing paths. */
export function checkEnvelopeHeader(value: unknown): Envelope {
  if (!headerCheck.Check(value)) {
    throw new BackstopError('BK_ERR_WIRE_SCHEMA', describeErrors(headerCheck.Errors(value)))
  }
  return value as Envelope
}

/** Nothing deeper can be signed (canonicalJson refuses it), so nothing deeper is worth parsing. */
export const MAX_JSON_DEPTH = 64

/** Step 3 of ingest: the body matches its kind's schema. Throws BK_ERR_WIRE_SCHEMA with the failing paths. */
export function checkBody(env: Envelope): void {
  const check = bodyChecks[env.kind]
  if (!check.Check(env.body)) {
    throw new BackstopError('BK_ERR_WIRE_SCHEMA', `${env.kind} body: ${describeErrors(check.Errors(env.body))}`)
  }
}

export function describeErrors(errors: Iterable<{ instancePath: string; message: string }>): string {
  const out: string[] = []
  for (const e of errors) {
    out.push(`${e.instancePath || '/'} ${e.message}`)
    if (out.length >= 3) {
      break
    }
  }
  return out.join('; ')
}
