import type { AuthenticateHandler, Client, ConnectPacket, PreConnectHandler } from 'aedes'
import type { Logger } from 'pino'
import { connectProofText, isValidNodeId, PUBLISH_FRAMING_BYTES, verifyBytes, type ErrorCode } from '@backstop/shared'
import type { BrokerIdentity } from '../identity/broker-identity.ts'
import type { KeyRing } from '../ingest/key-ring.ts'
import type { ConnectReplay } from './connect-replay.ts'
import type { BrokerLimits } from './limits.ts'
import type { PacketGuard } from './packet-guard.ts'
import type { Refusals } from './refusals.ts'
import { clientIdFor, type Session, type Sessions } from './session.ts'
import type { TokenBuckets } from './token-buckets.ts'

export interface ConnectAuthDeps {
  readonly keys: KeyRing
  readonly identity: BrokerIdentity | undefined
  readonly now: () => Date
  readonly maxSkewMs: number
  readonly limits: BrokerLimits
  readonly refusals: Refusals
  /** Refused CONNECTs per address; an empty bucket makes the listener drop that address's connections at accept. */
  readonly failedConnects: TokenBuckets
  readonly replay: ConnectReplay
  readonly sessions: Sessions
  readonly guards: WeakMap<Client, PacketGuard>
  readonly log: Logger
}

type Decision = { session: Session } | { refused: string; detail: Record<string, unknown> }

const refusalCodes: Partial<Record<string, ErrorCode>> = {
  revoked: 'BK_ERR_NODE_REVOKED',
  'replayed-password': 'BK_ERR_MQTT_CONNECT_REPLAY',
}

const ipOf = (client: Client): string => (client.conn as { remoteAddress?: string }).remoteAddress ?? '?'

/**
 * CONNECT per docs/protocol.md: username = node, clientId = backstop-agent-<node>, password =
 * "<tsMillis>.<sig over connect\n<node>\n<ts>>", accepted once. Operators log in as `operator:<name>`; a node
 * without a pinned key (or one an admin allowed to re-enroll) is admitted as pending: enroll only.
 */
export function createConnectAuth(d: ConnectAuthDeps): {
  preConnect: PreConnectHandler
  authenticate: AuthenticateHandler
} {
  const packets = new WeakMap<Client, ConnectPacket>()
  return {
    preConnect: (client, packet, done) => {
      const ip = ipOf(client)
      if (d.failedConnects.empty(ip)) {
        d.refusals.refuse({
          counter: 'broker_refused_total',
          reason: 'connect-rate',
          code: 'BK_ERR_MQTT_RATE_LIMITED',
          msg: 'MQTT CONNECT dropped: too many refused CONNECTs from this address; it may retry in a minute',
          detail: { ip },
        })
        done(new Error('too many refused CONNECTs from this address'), false)
        return
      }
      packets.set(client, packet)
      done(null, true)
    },
    authenticate: (client, username, password, done) => {
      const ip = ipOf(client)
      const decision = decide(d, client.id, ip, username, password)
      if ('refused' in decision) {
        d.failedConnects.take(ip)
        d.refusals.refuse({
          counter: 'broker_auth_refused_total',
          reason: decision.refused,
          code: refusalCodes[decision.refused] ?? 'BK_ERR_MQTT_CONNECT',
          msg: 'MQTT connection refused: check the node name, client id, key and clock of the connecting agent',
          detail: { ...decision.detail, ip },
        })
        // CONNACK 4: bad user name or password (MQTT 3.1.1).
        done(Object.assign(new Error(`connection refused: ${decision.refused}`), { returnCode: 4 }), false)
        return
      }
      bindSession(d, client, packets.get(client), decision.session)
      done(null, true)
    },
  }
}

function bindSession(d: ConnectAuthDeps, client: Client, packet: ConnectPacket | undefined, s: Session): void {
  d.sessions.set(client, s)
  const mutable = client as { id: string; clean: boolean }
  mutable.id = clientIdFor(s, client.id)
  if (s.kind !== 'node') {
    // aedes reads `clean` from the CONNECT packet when it restores or wipes the session after this hook.
    mutable.clean = true
    if (packet) {
      packet.clean = true
    }
  }
  const guard = d.guards.get(client)
  if (guard) {
    guard.limit = s.kind === 'node' ? d.limits.maxPacketBytes : d.limits.maxEnrollBytes + PUBLISH_FRAMING_BYTES
  }
  if (s.kind !== 'node') {
    d.log.info({ kind: s.kind, name: s.node, clientId: mutable.id }, 'MQTT client connected with a clean session')
  }
}

function decide(
  d: ConnectAuthDeps,
  clientId: string,
  ip: string,
  username: string | undefined,
  password: Buffer | undefined,
): Decision {
  const op = username !== undefined && d.identity ? d.identity.operator(username, password) : undefined
  if (op !== undefined) {
    return { session: { node: op, kind: 'operator', ip } }
  }
  const node = username ?? ''
  if (!isValidNodeId(node)) {
    return { refused: 'bad-username', detail: {} }
  }
  if (clientId !== `backstop-agent-${node}`) {
    return { refused: 'bad-client-id', detail: { node } }
  }
  const access = d.identity?.nodeAccess(node) ?? 'active'
  if (access === 'revoked') {
    return { refused: 'revoked', detail: { node } }
  }
  const pinned = d.keys.get(node)
  if (!pinned) {
    return { session: { node, kind: 'pending', ip, keyAtConnect: undefined } }
  }
  const text = password?.toString('utf8') ?? ''
  const dot = text.indexOf('.')
  const tsText = dot > 0 ? text.slice(0, dot) : ''
  const ts = /^\d{1,15}$/.test(tsText) ? Number(tsText) : NaN
  if (!Number.isFinite(ts)) {
    return { refused: 'bad-password-format', detail: { node } }
  }
  const skew = Math.abs(d.now().getTime() - ts)
  if (skew > d.maxSkewMs) {
    return { refused: 'clock-skew', detail: { node, skewMs: skew } }
  }
  if (!verifyBytes(connectProofText(node, tsText), text.slice(dot + 1), pinned.key)) {
    // An admin allowed this node to come back with a new key (reinstall): it may only enroll.
    return access === 'reenroll'
      ? { session: { node, kind: 'pending', ip, keyAtConnect: pinned.publicKey } }
      : { refused: 'bad-signature', detail: { node } }
  }
  if (!d.replay.accept(node, ts)) {
    return { refused: 'replayed-password', detail: { node, ts } }
  }
  return { session: { node, kind: 'node', ip } }
}
