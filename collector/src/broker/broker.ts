import { Aedes, type AedesPublishPacket, type Client, type PublishPacket, type Subscription } from 'aedes'
import type { Logger } from 'pino'
import { isValidNodeId, nodeTopic, parseNodeTopic } from '@backstop/shared'
import { verifyMessage } from '../crypto/ed25519.ts'
import type { BrokerIdentity } from '../identity/broker-identity.ts'
import type { KeyRing } from '../ingest/key-ring.ts'
import type { Counters } from '../metrics/counters.ts'

export interface BrokerDeps {
  readonly keys: KeyRing
  readonly counters: Counters
  readonly log: Logger
  readonly now: () => Date
  /** A message on backstop/v1/<node>/events; call `done` when it is settled (committed+acked, rejected, dropped). */
  readonly onEvent: (node: string, payload: Buffer, done: (err?: Error) => void) => void
  /** A message published on backstop/v1/<node>/status (the agent's birth message or its Last Will). */
  readonly onStatus: (node: string, payload: Buffer) => void
  /** Allowed CONNECT clock skew; default ±300 s (docs/protocol.md). */
  readonly maxSkewMs?: number
  /** Per connection: events in the ingest before aedes stops reading that socket (default 2000 / 16 MiB). */
  readonly maxUnsettled?: number
  readonly maxUnsettledBytes?: number
  /** Security room (identity/broker-identity.ts): revoked nodes, admin-allowed re-enrollment, read-only operators. */
  readonly identity?: BrokerIdentity
}

export interface Broker {
  readonly aedes: Aedes
  /** Publishes an application-level ack to backstop/v1/<node>/ack (QoS 1, the node's persistent session queues it). */
  publishAck(node: string, payload: Buffer): void
  /** Publishes a signed command to backstop/v1/<node>/commands (QoS 1, queued in the node's session). */
  publishCommand(node: string, payload: Buffer): void
  /** Drops the node's live session (revocation); its next CONNECT is refused by `identity`. */
  disconnect(node: string): boolean
  close(): Promise<void>
}

interface Session {
  /** Node id, or `operator:<name>` for a read-only operator client. */
  readonly node: string
  readonly operator?: boolean
  /** Connected without a pinned key: may only enroll (the ingest rejects anything else with BK_ERR_NODE_UNKNOWN). */
  readonly pending: boolean
}

const sessions = new WeakMap<Client, Session>()

/** Messages of one connection handed to the ingest and not yet settled (committed+acked, rejected or dropped). */
interface Window {
  count: number
  bytes: number
}
const windows = new WeakMap<Client, Window>()
function windowOf(client: Client): Window {
  let w = windows.get(client)
  if (!w) {
    w = { count: 0, bytes: 0 }
    windows.set(client, w)
  }
  return w
}

/**
 * The embedded broker with Backstop's auth hooks. Listening is main.ts's job (`net.createServer(broker.aedes.handle)`).
 * CONNECT: username = node, clientId = backstop-agent-<node>, password = "<tsMillis>.<sig over connect\n<node>\n<ts>>".
 * Publish ACL: own events + status only. Subscribe ACL: own ack + commands only.
 * Events are handed to the ingest from `authorizePublish`. aedes reads the next chunk from a socket only when every
 * packet of the previous chunk has called back, so holding the callback is the backpressure: it is held once a
 * connection has `maxUnsettled` messages in flight (see below), never letting a publisher run ahead of the commits
 * by more than that window. The application-level ack (after the commit) is the only receipt either way.
 */
export async function createBroker(deps: BrokerDeps): Promise<Broker> {
  const maxSkewMs = deps.maxSkewMs ?? 300_000
  const maxUnsettled = deps.maxUnsettled ?? 2000
  const maxUnsettledBytes = deps.maxUnsettledBytes ?? 16 * 1024 * 1024
  const { log, counters } = deps

  const refuse = (reason: string, detail: Record<string, unknown>): Error & { returnCode: number } => {
    counters.inc('broker_auth_refused_total', reason)
    log.warn({ ...detail, reason }, 'MQTT connection refused')
    // CONNACK 4: bad user name or password (MQTT 3.1.1).
    return Object.assign(new Error(`connection refused: ${reason}`), { returnCode: 4 })
  }

  const aedes = await Aedes.createBroker({
    authenticate: (client, username, password, done) => {
      const op = username !== undefined && deps.identity ? deps.identity.operator(username, password) : undefined
      if (op !== undefined) {
        sessions.set(client, { node: `operator:${op}`, operator: true, pending: false })
        log.info({ operator: op, clientId: client.id }, 'operator client connected (read-only: alert topics)')
        done(null, true)
        return
      }
      const node = username ?? ''
      if (!isValidNodeId(node)) {
        done(refuse('bad-username', { clientId: client.id }), false)
        return
      }
      if (client.id !== `backstop-agent-${node}`) {
        done(refuse('bad-client-id', { node, clientId: client.id }), false)
        return
      }
      const access = deps.identity?.nodeAccess(node) ?? 'active'
      if (access === 'revoked') {
        done(refuse('revoked', { node, code: 'BK_ERR_NODE_REVOKED' }), false)
        return
      }
      const pinned = deps.keys.get(node)
      if (!pinned) {
        sessions.set(client, { node, pending: true })
        log.info({ node }, 'node without a pinned key connected: pending enrollment')
        done(null, true)
        return
      }
      const text = password?.toString('utf8') ?? ''
      const dot = text.indexOf('.')
      const tsText = dot > 0 ? text.slice(0, dot) : ''
      const ts = /^\d{1,15}$/.test(tsText) ? Number(tsText) : NaN
      if (!Number.isFinite(ts)) {
        done(refuse('bad-password-format', { node }), false)
        return
      }
      const skew = Math.abs(deps.now().getTime() - ts)
      if (skew > maxSkewMs) {
        done(refuse('clock-skew', { node, skewMs: skew }), false)
        return
      }
      if (!verifyMessage(`connect\n${node}\n${tsText}`, text.slice(dot + 1), pinned.key)) {
        if (access === 'reenroll') {
          // An admin allowed this node to come back with a new key (reinstall): it may only enroll.
          sessions.set(client, { node, pending: true })
          log.info({ node }, 'node presents a new key and may re-enroll (allowed by an admin)')
          done(null, true)
          return
        }
        done(refuse('bad-signature', { node }), false)
        return
      }
      sessions.set(client, { node, pending: false })
      done(null, true)
    },

    authorizePublish: (client, packet, done) => {
      const session = client ? sessions.get(client) : undefined
      const t = parseNodeTopic(packet.topic)
      if (!session || !t || t.node !== session.node || (t.channel !== 'events' && t.channel !== 'status')) {
        counters.inc('broker_acl_refused_total', 'publish')
        log.warn(
          { node: session?.node, topic: packet.topic, code: 'BK_ERR_WIRE_TOPIC' },
          'publish refused: a node may publish only backstop/v1/<its node>/events and …/status; disconnecting it',
        )
        done(new Error(`BK_ERR_WIRE_TOPIC: ${session?.node ?? '?'} may not publish to ${packet.topic}`))
        return
      }
      if (t.channel === 'status') {
        done(null)
        return
      }
      // Pipelining with a bound: the publish is released at once (aedes PUBACKs it and reads on) while this
      // connection has fewer than `maxUnsettled` messages / bytes waiting for their commit; past that, the callback
      // is held until the message settles, which stops aedes reading this socket (backpressure). A commit that
      // fails after an early release closes the connection, so the agent replays everything it has not seen acked.
      const w = windowOf(client as Client)
      const bytes = (packet.payload as Buffer).length
      w.count++
      w.bytes += bytes
      const release = w.count <= maxUnsettled && w.bytes <= maxUnsettledBytes
      if (release) {
        done(null)
      }
      deps.onEvent(t.node, packet.payload as Buffer, (err) => {
        w.count--
        w.bytes -= bytes
        if (!release) {
          done(err ?? null)
        } else if (err) {
          log.warn(
            { node: t.node, err: err.message },
            'closing the connection so the agent replays unacknowledged events',
          )
          ;(client as Client).close()
        }
      })
    },

    authorizeSubscribe: (client, sub: Subscription, done) => {
      const session = client ? sessions.get(client) : undefined
      if (session?.operator) {
        if (deps.identity?.operatorMaySubscribe(sub.topic)) {
          done(null, sub)
          return
        }
        counters.inc('broker_acl_refused_total', 'subscribe')
        log.warn(
          { operator: session.node, topic: sub.topic, code: 'BK_ERR_WIRE_TOPIC' },
          'subscribe refused: operator clients may read backstop/v1/alerts/# only',
        )
        done(null, null)
        return
      }
      const t = parseNodeTopic(sub.topic)
      if (!session || !t || t.node !== session.node || (t.channel !== 'ack' && t.channel !== 'commands')) {
        counters.inc('broker_acl_refused_total', 'subscribe')
        log.warn(
          { node: session?.node, topic: sub.topic, code: 'BK_ERR_WIRE_TOPIC' },
          'subscribe refused: a node may subscribe only to backstop/v1/<its node>/ack and …/commands',
        )
        // null subscription = SUBACK failure (0x80) for this topic; the connection stays up.
        done(null, null)
        return
      }
      done(null, sub)
    },

    published: (packet: AedesPublishPacket, client: Client | null, done) => {
      if (client) {
        const t = parseNodeTopic(packet.topic)
        const session = sessions.get(client)
        if (t && t.channel === 'status' && session && t.node === session.node) {
          deps.onStatus(t.node, packet.payload as Buffer)
        }
      }
      done(null)
    },
  })

  aedes.on('clientError', (client, err) => {
    log.debug({ node: sessions.get(client)?.node, clientId: client.id, err: err.message }, 'MQTT client error')
  })
  aedes.on('connectionError', (client, err) => {
    log.debug({ clientId: client.id, err: err.message }, 'MQTT connection error')
  })

  return {
    aedes,
    publishAck: (node, payload) => {
      const packet: PublishPacket = {
        cmd: 'publish',
        topic: nodeTopic(node, 'ack'),
        payload,
        qos: 1,
        retain: false,
        dup: false,
      }
      aedes.publish(packet, (err) => {
        if (err) {
          log.error({ node, err }, 'could not publish ack; the agent will replay and be acked again')
        }
      })
    },
    publishCommand: (node, payload) => {
      const packet: PublishPacket = {
        cmd: 'publish',
        topic: nodeTopic(node, 'commands'),
        payload,
        qos: 1,
        retain: false,
        dup: false,
      }
      aedes.publish(packet, (err) => {
        if (err) {
          log.error({ node, err }, 'could not publish command; it stays "sent" in the ledger and expires')
        }
      })
    },
    disconnect: (node) => {
      const client = (aedes as unknown as { clients: Record<string, Client | undefined> }).clients[
        `backstop-agent-${node}`
      ]
      if (!client) {
        return false
      }
      log.warn({ node }, 'dropping the session of a revoked node')
      client.close()
      return true
    },
    close: () =>
      new Promise<void>((resolve) => {
        aedes.close(() => resolve())
      }),
  }
}
