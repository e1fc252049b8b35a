import type { ConnectionOptions } from 'node:tls'
import { connect, type IClientOptions, type MqttClient } from 'mqtt'
import type { NodeSigner } from './signer.ts'
import { connectCredentials, statusPayload, type NodeTopics } from './wire.ts'

export interface ConnectInput {
  readonly url: string
  readonly node: string
  readonly signer: NodeSigner
  readonly now: Date
  readonly topics: NodeTopics
  readonly keepaliveS: number
  readonly connectTimeoutMs: number
  readonly tls: Pick<ConnectionOptions, 'ca' | 'rejectUnauthorized' | 'checkServerIdentity' | 'minVersion'> | undefined
  readonly stop: AbortSignal
  /** Attached before CONNACK: a persistent session delivers queued acks right after it. */
  readonly onAck: (payload: Buffer) => void
  readonly onCommand: ((payload: Buffer) => void) | undefined
  /** A collector checkpoint; `retained`: the stored copy delivered on subscribe, not a live publish. */
  readonly onCheckpoint: (payload: Buffer, retained: boolean) => void
  /** Set the retained `offline` Last Will: only the process that owns the node's status topic (the daemon). */
  readonly will: boolean
}

/**
 * One connection attempt per docs/protocol.md "Connection": persistent session, the node as username, a fresh
 * signed timestamp as password, the retained `offline` Last Will (the daemon only). mqtt.js's own reconnect is off (the
 * transport retries with its backoff and a new password). Resolves the connected client or the reason.
 */
export function connectClient(i: ConnectInput): Promise<{ client: MqttClient } | { error: string }> {
  const { username, password } = connectCredentials(i.node, i.signer, i.now.getTime())
  const options: IClientOptions = {
    clientId: `backstop-agent-${i.node}`,
    protocolVersion: 4,
    clean: false,
    username,
    password,
    keepalive: i.keepaliveS,
    connectTimeout: i.connectTimeoutMs,
    reconnectPeriod: 0,
    resubscribe: false,
    ...(i.will
      ? {
          will: {
            topic: i.topics.status,
            payload: Buffer.from(statusPayload('offline', i.now, { reason: 'lost' })),
            qos: 1,
            retain: true,
          },
        }
      : {}),
    ...(i.tls as IClientOptions | undefined),
  }
  return new Promise((resolve) => {
    const c = connect(i.url, options)
    c.on('message', (topic, payload, packet) => {
      if (topic === i.topics.ack) {
        i.onAck(payload)
      } else if (topic === i.topics.commands) {
        i.onCommand?.(payload)
      } else if (topic === i.topics.checkpoint) {
        i.onCheckpoint(payload, packet.retain)
      }
    })
    let settled = false
    const finish = (err?: Error): void => {
      if (settled) {
        return
      }
      settled = true
      if (!err && !i.stop.aborted) {
        resolve({ client: c })
        return
      }
      c.removeAllListeners('message')
      c.on('error', () => undefined)
      c.end(true)
      resolve({ error: err?.message ?? 'stopped' })
    }
    c.once('connect', () => finish())
    c.on('error', (e) => finish(e))
    c.once('close', () => finish(new Error('connection closed before CONNACK')))
    // mqtt.js does not always emit 'close' when a client that never connected is ended: do not wait for it.
    i.stop.addEventListener('abort', () => finish(new Error('stopped')), { once: true })
  })
}
