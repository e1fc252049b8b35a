import type { Socket } from 'node:net'
import { Aedes, type AedesPublishPacket, type Client, type PublishPacket } from 'aedes'
import type { Logger } from 'pino'
import { nodeTopic, parseNodeTopic } from '@backstop/shared'
import type { BrokerIdentity } from '../identity/broker-identity.ts'
import type { KeyRing } from '../ingest/key-ring.ts'
import type { Counters } from '../metrics/counters.ts'
import { createConnectAuth } from './connect-auth.ts'
import { createConnectReplay, type ConnectReplay } from './connect-replay.ts'
import { createConnectionGate, type ConnectionGate } from './connection-gate.ts'
import { resolveBrokerLimits, type BrokerLimits } from './limits.ts'
import { PacketGuard } from './packet-guard.ts'
import { checkPublish, createSubscribeAcl, type AclDeps } from './publish-acl.ts'
import { createRefusals, type Refusals } from './refusals.ts'
import { isPending, type Sessions } from './session.ts'
import { createTokenBuckets, type TokenBuckets } from './token-buckets.ts'

export interface BrokerDeps {
  readonly keys: KeyRing
  readonly counters: Counters
  readonly log: Logger
  readonly now: () => Date
  /** A message on backstop/v1/<node>/events; call `done` when it is settled (committed+acked, rejected, dropped). */
  /** `from`: the connection (its aedes client), so a rolled-back batch can fail the rest of it. */
  readonly onEvent: (node: string, payload: Buffer, done: (err?: Error) => void, from: object) => void
  /** A message published on backstop/v1/<node>/status (the agent's birth message or its Last Will). */
  readonly onStatus: (node: string, payload: Buffer) => void
  /** Allowed CONNECT clock skew; default ±300 s (docs/protocol.md). */
  readonly maxSkewMs?: number
  /** Per connection: events in the ingest before aedes stops reading that socket (default 2000 / 16 MiB). */
  readonly maxUnsettled?: number
  readonly maxUnsettledBytes?: number
  /** Revoked nodes, admin-allowed re-enrollment, read-only operators (identity/broker-identity.ts). */
  readonly identity?: BrokerIdentity
  /** What clients may cost the collector; defaults in limits.ts. */
  readonly limits?: Partial<BrokerLimits>
  /**
   * A node subscribed to its checkpoint topic (each connection does): the collector publishes it a checkpoint
   * with its high-water mark as of now (docs/reliability.md "Checkpoints"); the retained one may be hours old.
   */
  readonly onCheckpointSubscribe?: (node: string) => void
}

export interface Broker {
  readonly aedes: Aedes
  readonly limits: BrokerLimits
  /** Hands a client socket (plain, or TLS after the handshake) to aedes behind the packet-size guard. */
  handle(socket: Socket): void
  /** TCP accept: connection caps and the refused-CONNECT rate, before any TLS work. False = dropped. */
  admit(socket: Socket): boolean
  /** A TLS handshake that failed or timed out (counted, logged with a rate limit). */
  tlsFailed(err: Error): void
  /** Publishes an application-level ack to backstop/v1/<node>/ack (QoS 1, the node's persistent session queues it). */
  publishAck(node: string, payload: Buffer): void
  /** Publishes a signed command to backstop/v1/<node>/commands (QoS 1, queued in the node's session). */
  publishCommand(node: string, payload: Buffer): void
  /**
   * Publishes the node's signed checkpoint to backstop/v1/<node>/checkpoint, retained (QoS 1): an agent gets the
   * newest one whenever it subscribes. Only the collector publishes there (the publish ACL refuses every client).
   */
  publishCheckpoint(node: string, payload: Buffer): void
  /** Drops the node's live session (revocation); its next CONNECT is refused by `identity`. */
  disconnect(node: string): boolean
  close(): Promise<void>
}

/** Everything the hooks share, built once per broker. */
interface Ctx extends AclDeps {
  readonly deps: BrokerDeps
  readonly log: Logger
  readonly failedConnects: TokenBuckets
  readonly replay: ConnectReplay
  readonly gate: ConnectionGate
  readonly guards: WeakMap<Client, PacketGuard>
}

/**
 * The embedded broker with Backstop's auth hooks. Listening is listener.ts's job (`createMqttServer`).
 * CONNECT (connect-auth.ts), publish and subscribe ACLs (publish-acl.ts), limits (limits.ts).
 * Events are handed to the ingest from `authorizePublish`. aedes reads the next chunk from a socket only when every
 * packet of the previous chunk has called back, so holding the callback is the backpressure: it is held once a
 * connection has `maxUnsettled` messages in flight (see forwardEvent), never letting a publisher run ahead of the
 * commits by more than that window. The application-level ack (after the commit) is the only receipt either way.
 */
export async function createBroker(deps: BrokerDeps): Promise<Broker> {
  const ctx = createContext(deps)
  const aedes = await Aedes.createBroker({
    connectTimeout: ctx.limits.connectTimeoutMs,
    ...createConnectAuth({ ...ctx, identity: deps.identity, now: deps.now, maxSkewMs: deps.maxSkewMs ?? 300_000 }),
    authorizePublish: (client, packet, done) => {
      const t = checkPublish(ctx, client, packet)
      if (t instanceof Error) {
        done(t)
      } else if (t.channel === 'status') {
        done(null)
      } else {
        forwardEvent(ctx, client as Client, t.node, packet, done)
      }
    },
    authorizeSubscribe: createSubscribeAcl(ctx),
    published: (packet, client, done) => {
      recordStatus(ctx, packet, client)
      done(null)
    },
  })
  watchErrors(aedes, ctx)
  aedes.on('clientDisconnect', (client) => statusOfLeftWhilePending(ctx, client as Client))
  watchCheckpointSubscribes(aedes, ctx)
  return brokerApi(aedes, ctx)
}

function createContext(deps: BrokerDeps): Ctx {
  const limits = resolveBrokerLimits(deps.limits)
  const refusals: Refusals = createRefusals({ ...deps, intervalMs: limits.logIntervalMs })
  const failedConnects = createTokenBuckets(limits.failedConnects, deps.now)
  return {
    deps,
    log: deps.log,
    keys: deps.keys,
    identity: deps.identity,
    limits,
    refusals,
    sessions: new WeakMap() as Sessions,
    guards: new WeakMap(),
    failedConnects,
    enrollsPerIp: createTokenBuckets(limits.enrollsPerIp, deps.now),
    enrollsTotal: createTokenBuckets(limits.enrollsTotal, deps.now, 1),
    replay: createConnectReplay({ startedAt: deps.now().getTime(), windowMs: deps.maxSkewMs ?? 300_000 }),
    gate: createConnectionGate(limits, refusals, failedConnects),
  }
}

/** Messages of one connection handed to the ingest and not yet settled (committed+acked, rejected or dropped). */
interface Window {
  count: number
  bytes: number
}
const windows = new WeakMap<Client, Window>()

/**
 * Pipelining with a bound: the publish is released at once (aedes PUBACKs it and reads on) while this connection
 * has fewer than `maxUnsettled` messages / bytes waiting for their commit; past that, the callback is held until the
 * message settles, which stops aedes reading this socket (backpressure). A commit that fails after an early release
 * closes the connection, so the agent replays everything it has not seen acked.
 */
function forwardEvent(ctx: Ctx, client: Client, node: string, packet: PublishPacket, done: (e?: Error | null) => void) {
  const w = windows.get(client) ?? { count: 0, bytes: 0 }
  windows.set(client, w)
  const bytes = (packet.payload as Buffer).length
  w.count++
  w.bytes += bytes
  const release = w.count <= (ctx.deps.maxUnsettled ?? 2000) && w.bytes <= (ctx.deps.maxUnsettledBytes ?? 16 << 20)
  if (release) {
    done(null)
  }
  ctx.deps.onEvent(
    node,
    packet.payload as Buffer,
    (err) => {
      w.count--
      w.bytes -= bytes
      if (!err) {
        statusOfLeftWhilePending(ctx, client)
      }
      if (!release) {
        done(err ?? null)
      } else if (err) {
        ctx.log.warn({ node, err: err.message }, 'closing the connection so the agent replays unacknowledged events')
        client.close()
      }
    },
    client,
  )
}

/**
 * The last status a still-pending client published (its birth message, a graceful stop's `offline`, or its Will),
 * not recorded because the client had proved no key yet.
 */
const heldStatus = new WeakMap<Client, Buffer>()

/**
 * A node's status (birth message or Will) is recorded; a still-pending client's is not (it proved no key), but it
 * is held: see statusOfLeftWhilePending.
 */
function recordStatus(ctx: Ctx, packet: AedesPublishPacket, client: Client | null): void {
  const session = client ? ctx.sessions.get(client) : undefined
  if (!client || !session || session.kind === 'operator' || packet.topic !== nodeTopic(session.node, 'status')) {
    return
  }
  if (isPending(session, ctx.keys)) {
    heldStatus.set(client, packet.payload as Buffer)
    return
  }
  // A status recorded now supersedes the one held while pending (the birth `online`): recording that one later,
  // when an event of this client settles after it left, would overwrite the stop's `offline`.
  heldStatus.delete(client)
  ctx.deps.onStatus(session.node, packet.payload as Buffer)
}

/**
 * The status a client left with — a stop's `offline` or its Will — was held unrecorded while it was pending. Once
 * it has gone and its enrollment committed (the key is pinned), record it, or the node would show the `online` the
 * enrollment implies with nobody there (an agent stopped within a second of its first start). Asked both when one
 * of its events settles (the enrollment committed after it left) and when it disconnects (it left after that).
 */
function statusOfLeftWhilePending(ctx: Ctx, client: Client): void {
  const held = heldStatus.get(client)
  const session = ctx.sessions.get(client)
  if (held === undefined || session === undefined || !client.closed || isPending(session, ctx.keys)) {
    return
  }
  heldStatus.delete(client)
  ctx.deps.onStatus(session.node, held)
}

function watchErrors(aedes: Aedes, ctx: Ctx): void {
  aedes.on('clientError', (client, err) => {
    ctx.log.debug({ node: ctx.sessions.get(client)?.node, err: err.message }, 'MQTT client error')
  })
  aedes.on('connectionError', (client, err) => {
    if (err.message === 'connect did not arrive in time') {
      ctx.refusals.refuse({
        counter: 'broker_refused_total',
        reason: 'connect-timeout',
        code: 'BK_ERR_MQTT_TIMEOUT',
        msg: `MQTT connection closed: no CONNECT within ${ctx.limits.connectTimeoutMs} ms (limit connectTimeoutMs)`,
        detail: { ip: (client.conn as { remoteAddress?: string }).remoteAddress },
      })
      return
    }
    ctx.log.debug({ err: err.message }, 'MQTT connection error')
  })
}

function watchCheckpointSubscribes(aedes: Aedes, ctx: Ctx): void {
  const hook = ctx.deps.onCheckpointSubscribe
  if (!hook) {
    return
  }
  aedes.on('subscribe', (subs, client) => {
    const s = client ? ctx.sessions.get(client) : undefined
    if (!s || s.kind !== 'node') {
      return
    }
    // Granted subscriptions only (a refused one carries qos 128); the ACL already limited them to the node's own.
    if (subs.some((sub) => sub.qos <= 2 && parseNodeTopic(sub.topic)?.channel === 'checkpoint')) {
      hook(s.node)
    }
  })
}

function brokerApi(aedes: Aedes, ctx: Ctx): Broker {
  const publish = (node: string, channel: 'ack' | 'commands' | 'checkpoint', payload: Buffer, onErr: string): void => {
    const packet: PublishPacket = {
      cmd: 'publish',
      topic: nodeTopic(node, channel),
      payload,
      qos: 1,
      retain: channel === 'checkpoint',
      dup: false,
    }
    aedes.publish(packet, (err) => {
      if (err) {
        ctx.log.error({ node, err }, onErr)
      }
    })
  }
  return {
    aedes,
    limits: ctx.limits,
    handle: (socket) => {
      const guard = new PacketGuard(socket, ctx.limits.maxConnectPacketBytes, (declared, limit) =>
        ctx.refusals.refuse({
          counter: 'broker_refused_total',
          reason: 'packet-too-large',
          code: 'BK_ERR_MQTT_PACKET_TOO_LARGE',
          msg: `MQTT packet declares ${declared} bytes, over this connection's ${limit}; closed before buffering it`,
          detail: { ip: socket.remoteAddress, declared, limit },
        }),
      )
      ctx.guards.set(aedes.handle(guard as unknown as Socket), guard)
    },
    admit: (socket) => ctx.gate.admit(socket),
    tlsFailed: (err) =>
      ctx.refusals.refuse({
        counter: 'broker_refused_total',
        reason: /timed? ?out/i.test(err.message) ? 'tls-handshake-timeout' : 'tls-handshake',
        code: /timed? ?out/i.test(err.message) ? 'BK_ERR_MQTT_TIMEOUT' : 'BK_ERR_TLS_CONFIG',
        msg: `TLS handshake on the MQTT port failed: ${err.message} (limit tlsHandshakeTimeoutMs)`,
      }),
    publishAck: (node, payload) =>
      publish(node, 'ack', payload, 'could not publish ack; the agent will replay and be acked again'),
    publishCommand: (node, payload) =>
      publish(node, 'commands', payload, 'could not publish command; it stays "sent" in the ledger and expires'),
    publishCheckpoint: (node, payload) =>
      publish(node, 'checkpoint', payload, 'could not publish checkpoint; the agent keeps its events until the next'),
    disconnect: (node) => {
      const clients = (aedes as unknown as { clients: Record<string, Client | undefined> }).clients
      const live = [clients[`backstop-agent-${node}`], clients[`backstop-pending:${node}`]].filter((c) => !!c)
      for (const client of live) {
        ctx.log.warn({ node }, 'dropping the session of a revoked node')
        client.close()
      }
      return live.length > 0
    },
    close: () =>
      new Promise<void>((resolve) => {
        aedes.close(() => resolve())
      }),
  }
}
