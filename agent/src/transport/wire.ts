import { randomUUID } from 'node:crypto'
import {
  checkBody,
  decodeEnvelope,
  nodeTopic,
  verifyEnvelopeSignature,
  type AckBody,
  type BodyOf,
  type Envelope,
  type HeartbeatBody,
  type OfflineCause,
} from '@backstop/shared'
import type { NodeSigner } from './signer.ts'

/** MQTT CONNECT credentials (docs/protocol.md "Connection"): the password proves possession of the node key. */
export function connectCredentials(
  node: string,
  signer: NodeSigner,
  nowMs: number,
): { username: string; password: string } {
  return { username: node, password: `${nowMs}.${signer.signConnect(node, nowMs)}` }
}

/** Why the agent leaves: a stop it chose (`shutdown`, `restart`) or the Last Will (`lost`) the broker sends. */
export type LeaveReason = OfflineCause

/**
 * Retained status payloads (docs/protocol.md "Connection"): `online` after CONNACK; `offline` with `reason`
 * `lost` as the Last Will, `shutdown` or `restart` published before a graceful disconnect.
 */
export function statusPayload(
  state: 'online' | 'offline',
  now: Date,
  o: { readonly agentVersion?: string; readonly reason?: LeaveReason } = {},
): string {
  return JSON.stringify(
    state === 'online'
      ? { state, ts: now.toISOString(), agentVersion: o.agentVersion }
      : { state, ts: now.toISOString(), reason: o.reason ?? 'lost' },
  )
}

export interface EnrollInput {
  readonly node: string
  readonly signer: NodeSigner
  readonly token: string
  readonly hostname: string
  readonly agentVersion: string
  readonly now: Date
}

/** Not durable (seq 0); signed with the key it asks the collector to pin (proof of possession). */
export function enrollEnvelope(i: EnrollInput): Envelope<'enroll'> {
  return i.signer.signEnvelope({
    v: 1,
    kind: 'enroll',
    node: i.node,
    msgId: randomUUID(),
    seq: 0,
    ts: i.now.toISOString(),
    body: { publicKey: i.signer.publicKey, token: i.token, hostname: i.hostname, agentVersion: i.agentVersion },
  })
}

export function heartbeatEnvelope(
  node: string,
  signer: NodeSigner,
  body: HeartbeatBody,
  now: Date,
): Envelope<'heartbeat'> {
  return signer.signEnvelope({
    v: 1,
    kind: 'heartbeat',
    node,
    msgId: randomUUID(),
    seq: 0,
    ts: now.toISOString(),
    body,
  })
}

export type AckCheck =
  | { readonly ok: true; readonly ack: Envelope<'ack'>; readonly body: AckBody }
  | { readonly ok: false; readonly forged: boolean; readonly reason: string }

/**
 * An ack from `backstop/v1/<node>/ack`: it must decode, be an `ack`, match the schema and carry a signature by
 * `collectorKey` (the pinned key; during enrollment, the key the enrollment ack itself announces). A bad
 * signature is `forged` — counted separately, because only the collector may publish there.
 */
export function checkAck(payload: Buffer, collectorKey: string | null): AckCheck {
  const env = decodeChecked(payload)
  if ('reason' in env) {
    return { ok: false, forged: false, reason: env.reason }
  }
  if (env.kind !== 'ack') {
    return { ok: false, forged: false, reason: `expected an ack envelope, got ${env.kind}` }
  }
  const key = collectorKey ?? env.body.enrollment?.collectorPublicKey
  if (!key) {
    return { ok: false, forged: false, reason: 'no collector key pinned and the ack carries no enrollment' }
  }
  if (!verifyEnvelopeSignature(env, key)) {
    return {
      ok: false,
      forged: true,
      reason: collectorKey
        ? 'signature does not verify against the pinned collector key'
        : 'enrollment ack is not signed by the key it announces',
    }
  }
  return { ok: true, ack: env, body: env.body }
}

export type CheckpointCheck =
  | { readonly ok: true; readonly env: Envelope<'checkpoint'>; readonly body: BodyOf<'checkpoint'> }
  | { readonly ok: false; readonly forged: boolean; readonly reason: string }

/**
 * A checkpoint from `backstop/v1/<node>/checkpoint` (docs/reliability.md): it must decode, be a `checkpoint` for
 * this node, match the schema and be signed by the pinned collector key — it decides what the outbox deletes, so
 * before enrollment (no key pinned) none is accepted.
 */
export function checkCheckpoint(payload: Buffer, node: string, collectorKey: string | null): CheckpointCheck {
  const env = decodeChecked(payload)
  if ('reason' in env) {
    return { ok: false, forged: false, reason: env.reason }
  }
  if (env.kind !== 'checkpoint' || env.node !== node) {
    return { ok: false, forged: false, reason: `expected a checkpoint for ${node}, got ${env.kind} for ${env.node}` }
  }
  if (!collectorKey) {
    return { ok: false, forged: false, reason: 'no collector key pinned yet' }
  }
  if (!verifyEnvelopeSignature(env, collectorKey)) {
    return { ok: false, forged: true, reason: 'signature does not verify against the pinned collector key' }
  }
  return { ok: true, env, body: env.body }
}

/** Decoded and schema-checked (signature not yet), or why not. */
function decodeChecked(payload: Buffer): Envelope | { readonly reason: string } {
  try {
    const env = decodeEnvelope(payload)
    checkBody(env)
    return env
  } catch (e) {
    return { reason: (e as Error).message }
  }
}

export interface NodeTopics {
  readonly events: string
  readonly ack: string
  readonly status: string
  readonly commands: string
  readonly checkpoint: string
}

export function topicsFor(node: string): NodeTopics {
  return {
    events: nodeTopic(node, 'events'),
    ack: nodeTopic(node, 'ack'),
    status: nodeTopic(node, 'status'),
    commands: nodeTopic(node, 'commands'),
    checkpoint: nodeTopic(node, 'checkpoint'),
  }
}
