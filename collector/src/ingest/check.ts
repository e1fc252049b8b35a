import { createHash, timingSafeEqual, type KeyObject } from 'node:crypto'
import {
  BackstopError,
  checkBody,
  decodeMessage,
  isBackstopError,
  MAX_MESSAGE_BYTES,
  publicKeyObject,
  verifyBatchSignature,
  verifyEnvelopeSignature,
  type BatchEnvelope,
  type Envelope,
  type ErrorCode,
  type WireMessage,
} from '@backstop/shared'
import type { KeyRing } from './key-ring.ts'

/** A message that passed every check that needs no database: decode, topic, key, signature, body, token. */
export interface Accepted {
  readonly ok: true
  readonly env: Envelope
  /** The payload exactly as received (stored in `events.raw`). */
  readonly raw: string
}

/** Rejected with a code. `msgId` undefined = garbage that cannot be attributed: dropped and counted, never acked. */
export interface Rejected {
  readonly ok: false
  readonly code: ErrorCode
  readonly reason: string
  readonly permanent: boolean
  readonly msgId: string | undefined
}

export type Verdict = Accepted | Rejected

/**
 * A batch whose one signature verified: a verdict per inner event, in batch order (docs/protocol.md "Batches").
 * A batch that fails as a whole (decode, topic, key, signature) is a plain Rejected carrying the batch msgId.
 */
export interface BatchChecked {
  readonly ok: 'batch'
  readonly msgId: string
  readonly items: readonly Verdict[]
}

export type Checked = Verdict | BatchChecked

export interface CheckDeps {
  readonly keys: Pick<KeyRing, 'get'>
  readonly tokens: TokenCheck
}

export type TokenCheck = (token: string) => boolean

/**
 * Constant-time membership test: every configured token is compared (no early exit), each through SHA-256 so the
 * comparison has a fixed length whatever the candidate's length.
 */
export function createTokenCheck(tokens: readonly string[]): TokenCheck {
  const digests = tokens.map((t) => createHash('sha256').update(t, 'utf8').digest())
  return (candidate) => {
    const d = createHash('sha256').update(candidate, 'utf8').digest()
    let ok = false
    for (const t of digests) {
      ok = timingSafeEqual(t, d) || ok
    }
    // One-time tokens pass this stateless check by shape only; the enrollment gate decides them against the
    // database on the main thread (pipeline `admitEnroll`), and without a gate the pipeline refuses them.
    return ok || ONE_TIME_TOKEN_RE.test(candidate)
  }
}

/** Shape of a one-time enrollment token (identity/enrollment-tokens.ts). */
export const ONE_TIME_TOKEN_RE = /^bk_[a-z0-9]{8}_[A-Za-z0-9_-]{43}$/

/**
 * Steps 1–5 of docs/protocol.md "Events": decode (size cap, JSON, header) → envelope node = topic node → key
 * (enroll: the key in its body) → signature → body schema (+ enrollment token). Never throws.
 */
export function checkMessage(topicNode: string, payload: Buffer | string, deps: CheckDeps): Checked {
  let msg: WireMessage
  try {
    msg = decodeMessage(payload)
  } catch (e) {
    const err = isBackstopError(e) ? e : new BackstopError('BK_ERR_WIRE_JSON', String(e))
    return reject(err, salvageMsgId(payload, err.code))
  }
  if (msg.batch) {
    return checkBatch(topicNode, msg.env, deps)
  }
  const env = msg.env
  const msgId = env.msgId
  if (env.node !== topicNode) {
    return reject(
      new BackstopError(
        'BK_ERR_WIRE_TOPIC',
        `envelope node "${env.node}" published on the topic of node "${topicNode}"`,
      ),
      msgId,
    )
  }
  let key: KeyObject | undefined
  if (env.kind === 'enroll') {
    const pk = (env.body as { publicKey?: unknown } | null)?.publicKey
    key = typeof pk === 'string' ? publicKeyObject(pk) : undefined
    if (!key) {
      return reject(
        new BackstopError('BK_ERR_WIRE_SCHEMA', 'enroll body.publicKey must be a base64 Ed25519 public key (32 bytes)'),
        msgId,
      )
    }
  } else {
    key = deps.keys.get(env.node)?.key
    if (!key) {
      return reject(
        new BackstopError(
          'BK_ERR_NODE_UNKNOWN',
          `node "${env.node}" has no pinned key; it must enroll first (send an enroll envelope with the token)`,
        ),
        msgId,
      )
    }
  }
  if (!verifyEnvelopeSignature(env, key)) {
    return reject(
      new BackstopError(
        'BK_ERR_SIG_INVALID',
        `${env.kind} ${msgId} from "${env.node}" is not signed by ` +
          `${env.kind === 'enroll' ? 'the key in its body' : 'the pinned key'}`,
      ),
      msgId,
    )
  }
  try {
    checkBody(env)
  } catch (e) {
    return reject(e as BackstopError, msgId)
  }
  if (env.kind === 'enroll' && !deps.tokens(env.body.token)) {
    return reject(
      new BackstopError(
        'BK_ERR_ENROLL_TOKEN',
        `node "${env.node}" presented an enrollment token that matches none in the collector config ` +
          `(enrollment.tokens)`,
      ),
      msgId,
    )
  }
  return { ok: true, env, raw: typeof payload === 'string' ? payload : payload.toString('utf8') }
}

/**
 * Same steps for a batch (inner headers were checked by decodeMessage): batch node = topic node → pinned key →
 * ONE signature over the whole batch (batch domain) → each inner body on its own. Inner signatures are covered by
 * the batch signature and not verified again; a bad inner body rejects only that event.
 */
function checkBatch(topicNode: string, batch: BatchEnvelope, deps: CheckDeps): Checked {
  if (batch.node !== topicNode) {
    return reject(
      new BackstopError(
        'BK_ERR_WIRE_TOPIC',
        `batch node "${batch.node}" published on the topic of node "${topicNode}"`,
      ),
      batch.msgId,
    )
  }
  const key = deps.keys.get(batch.node)?.key
  if (!key) {
    return reject(
      new BackstopError(
        'BK_ERR_NODE_UNKNOWN',
        `node "${batch.node}" has no pinned key; it must enroll first (send an enroll envelope with the token)`,
      ),
      batch.msgId,
    )
  }
  if (!verifyBatchSignature(batch, key)) {
    return reject(
      new BackstopError(
        'BK_ERR_SIG_INVALID',
        `batch ${batch.msgId} of ${batch.body.events.length} events from "${batch.node}" is not signed by the ` +
          `pinned key (batch domain)`,
      ),
      batch.msgId,
    )
  }
  const items = batch.body.events.map((env): Verdict => {
    try {
      checkBody(env)
    } catch (e) {
      return reject(e as BackstopError, env.msgId)
    }
    return { ok: true, env, raw: JSON.stringify(env) }
  })
  return { ok: 'batch', msgId: batch.msgId, items }
}

function reject(e: BackstopError, msgId: string | undefined): Rejected {
  return { ok: false, code: e.code, reason: e.message, permanent: e.permanent, msgId }
}

const MSG_ID_RE = /"msgId"\s*:\s*"([A-Za-z0-9_.:-]{1,64})"/

/**
 * A message that fails the header check but still names a well-formed msgId gets a permanent rejection in the
 * ack, so the agent dead-letters it instead of replaying it forever. Oversized payloads are not parsed: the msgId
 * is looked for near either end (canonical JSON puts it after the body, insertion order before it).
 */
function salvageMsgId(input: Buffer | string, code: ErrorCode): string | undefined {
  if (code === 'BK_ERR_WIRE_JSON') {
    return undefined
  }
  const payload = typeof input === 'string' ? Buffer.from(input, 'utf8') : input
  const text =
    payload.length > MAX_MESSAGE_BYTES
      ? `${payload.subarray(0, 4096).toString('utf8')}\n${payload.subarray(payload.length - 4096).toString('utf8')}`
      : payload.toString('utf8')
  if (payload.length <= MAX_MESSAGE_BYTES) {
    try {
      const v = JSON.parse(text) as { msgId?: unknown }
      return typeof v?.msgId === 'string' && MSG_ID_RE.test(`"msgId":${JSON.stringify(v.msgId)}`) ? v.msgId : undefined
    } catch {
      return undefined
    }
  }
  return MSG_ID_RE.exec(text)?.[1]
}
