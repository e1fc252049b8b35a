import type { AuthorizeSubscribeHandler, Client, PublishPacket } from 'aedes'
import { parseNodeTopic, type ErrorCode, type NodeChannel, type ParsedNodeTopic } from '@backstop/shared'
import type { BrokerIdentity } from '../identity/broker-identity.ts'
import type { KeyRing } from '../ingest/key-ring.ts'
import type { BrokerLimits } from './limits.ts'
import type { Refusals } from './refusals.ts'
import { isPending, type Session, type Sessions } from './session.ts'
import type { TokenBuckets } from './token-buckets.ts'

export interface AclDeps {
  readonly keys: KeyRing
  readonly identity: BrokerIdentity | undefined
  readonly limits: BrokerLimits
  readonly refusals: Refusals
  readonly sessions: Sessions
  readonly enrollsPerIp: TokenBuckets
  readonly enrollsTotal: TokenBuckets
}

/** Why a publish is refused (a refused publish disconnects the client: MQTT 3.1.1 has no negative PUBACK). */
type Verdict = undefined | { reason: string; code: ErrorCode; msg: string }

/**
 * Publish ACL, checked for every client publish and every Last Will: a node publishes only its own events and
 * status; nothing a client publishes is retained (the collector's own alert publisher is the only retainer, and no
 * client may subscribe to node status anyway); a pending client publishes only a size-capped `enroll`, at a
 * bounded rate. Its status birth message and Will pass un-retained and unrecorded, so an unmodified agent can
 * enroll. Returns the publish's topic when an event should go on to the ingest.
 */
export function checkPublish(d: AclDeps, client: Client | null, packet: PublishPacket): ParsedNodeTopic | Error {
  packet.retain = false
  const session = client ? d.sessions.get(client) : undefined
  const t = parseNodeTopic(packet.topic)
  const verdict = judge(d, session, t, packet.payload as Buffer)
  if (!verdict && t) {
    return t
  }
  const v = verdict ?? { reason: 'topic', code: 'BK_ERR_WIRE_TOPIC', msg: 'publish refused' }
  d.refusals.refuse({
    counter: v.reason === 'topic' ? 'broker_acl_refused_total' : 'broker_refused_total',
    reason: v.reason === 'topic' ? 'publish' : v.reason,
    code: v.code,
    msg: `${v.msg}; disconnecting the client`,
    detail: { node: session?.node, kind: session?.kind, topic: packet.topic },
  })
  return new Error(`${v.code}: ${session?.node ?? '?'} may not publish this to ${packet.topic}`)
}

function judge(d: AclDeps, s: Session | undefined, t: ParsedNodeTopic | undefined, payload: Buffer): Verdict {
  if (!s || s.kind === 'operator' || !t || t.node !== s.node || (t.channel !== 'events' && t.channel !== 'status')) {
    return {
      reason: 'topic',
      code: 'BK_ERR_WIRE_TOPIC',
      msg: 'publish refused: a node may publish only backstop/v1/<its node>/events and …/status, operators nothing',
    }
  }
  if (t.channel === 'status') {
    return payload.length <= d.limits.maxStatusBytes
      ? undefined
      : { reason: 'status-too-large', code: 'BK_ERR_WIRE_TOPIC', msg: `status over ${d.limits.maxStatusBytes} bytes` }
  }
  return isPending(s, d.keys) ? judgeEnroll(d, s, payload) : undefined
}

function judgeEnroll(d: AclDeps, s: Session, payload: Buffer): Verdict {
  const code = 'BK_ERR_MQTT_PENDING_PUBLISH'
  if (payload.length > d.limits.maxEnrollBytes) {
    return { reason: 'enroll-too-large', code, msg: `pending client sent over ${d.limits.maxEnrollBytes} bytes` }
  }
  if (kindOf(payload) !== 'enroll') {
    return {
      reason: 'pending-publish',
      code,
      msg:
        'publish refused: a client that is not enrolled may publish only its enroll message ' +
        '(see docs/enrollment.md)',
    }
  }
  if (!d.enrollsPerIp.take(s.ip) || !d.enrollsTotal.take('')) {
    return {
      reason: 'enroll-rate',
      code: 'BK_ERR_MQTT_RATE_LIMITED',
      msg: 'enroll refused: too many enrollments from this address or in total; the agent retries with backoff',
    }
  }
  return undefined
}

/** What a node may subscribe to under its own prefix; it publishes only events and status (judge). */
const nodeReadable: ReadonlySet<NodeChannel> = new Set<NodeChannel>(['ack', 'commands', 'checkpoint'])

function kindOf(payload: Buffer): unknown {
  try {
    return (JSON.parse(payload.toString('utf8')) as { kind?: unknown } | null)?.kind
  } catch {
    return undefined
  }
}

/** Subscribe ACL: a node (or a pending one) its own ack, commands and checkpoint; an operator the alert topics. */
export function createSubscribeAcl(d: AclDeps): AuthorizeSubscribeHandler {
  return (client, sub, done) => {
    const session = client ? d.sessions.get(client) : undefined
    const t = parseNodeTopic(sub.topic)
    const ok =
      session?.kind === 'operator'
        ? d.identity?.operatorMaySubscribe(sub.topic) === true
        : !!session && !!t && t.node === session.node && nodeReadable.has(t.channel)
    if (ok) {
      done(null, sub)
      return
    }
    d.refusals.refuse({
      counter: 'broker_acl_refused_total',
      reason: 'subscribe',
      code: 'BK_ERR_WIRE_TOPIC',
      msg:
        'subscribe refused: nodes may read only backstop/v1/<their node>/ack, …/commands and …/checkpoint, ' +
        'operators backstop/v1/alerts/#',
      detail: { node: session?.node, kind: session?.kind, topic: sub.topic },
    })
    // null subscription = SUBACK failure (0x80) for this filter; the connection stays up.
    done(null, null)
  }
}
