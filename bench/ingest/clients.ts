import { randomBytes } from 'node:crypto'
import mqtt, { type MqttClient } from 'mqtt'
import {
  connectProofText,
  keyPairFromSeed,
  nodeTopic,
  privateKeyObject,
  publicKeyObject,
  signBytes,
  signEnvelope,
  verifyEnvelopeSignature,
  type Envelope,
  type KeyPair,
  type UnsignedEnvelope,
  type AckBody,
} from '@backstop/shared'
import { createSigner } from '@backstop/agent/src/transport/signer.ts'
import { packRecords } from '@backstop/agent/src/transport/batch-pack.ts'

/** One MQTT publish and how many events it carries (1, or a batch's size). */
export interface Outgoing {
  readonly payload: Buffer
  readonly events: number
}

/** A simulated agent for the benchmark: the real wire protocol (docs/protocol.md), minus the agent's disk outbox. */
export class BenchAgent {
  readonly keys: KeyPair = keyPairFromSeed(randomBytes(32))
  private readonly sk = privateKeyObject(this.keys.secretKey)
  client!: MqttClient
  private collectorKey: ReturnType<typeof publicKeyObject>
  private onAck: (body: AckBody) => void = () => {}

  constructor(readonly node: string) {}

  sign<K extends Envelope['kind']>(unsigned: UnsignedEnvelope<K>): Envelope<K> {
    return signEnvelope(unsigned, this.sk)
  }

  private url = ''

  async connect(url: string): Promise<void> {
    this.url = url
    const ts = Date.now()
    this.client = mqtt.connect(url, {
      clientId: `backstop-agent-${this.node}`,
      clean: false,
      username: this.node,
      password: `${ts}.${signBytes(connectProofText(this.node, ts), this.sk)}`,
      reconnectPeriod: 0,
      protocolVersion: 4,
    })
    await new Promise<void>((resolve, reject) => {
      this.client.once('connect', () => resolve())
      this.client.once('error', reject)
    })
    this.client.on('message', (_topic, payload) => {
      const env = JSON.parse(payload.toString('utf8')) as Envelope<'ack'>
      if (this.collectorKey && !verifyEnvelopeSignature(env, this.collectorKey)) {
        throw new Error('forged ack')
      }
      this.onAck(env.body)
    })
    await this.client.subscribeAsync(nodeTopic(this.node, 'ack'), { qos: 1 })
  }

  async enroll(token: string): Promise<void> {
    const env = this.sign({
      v: 1,
      kind: 'enroll',
      node: this.node,
      msgId: `${this.node}-enroll`,
      seq: 0,
      ts: new Date().toISOString(),
      body: { publicKey: this.keys.publicKey, token, hostname: this.node, agentVersion: 'bench' },
    })
    const acked = new Promise<void>((resolve, reject) => {
      this.onAck = (body) => {
        if (body.enrollment) {
          this.collectorKey = publicKeyObject(body.enrollment.collectorPublicKey)
          resolve()
        } else if (body.rejected.length > 0) {
          reject(new Error(`enroll rejected: ${JSON.stringify(body.rejected)}`))
        }
      }
    })
    await this.client.publishAsync(nodeTopic(this.node, 'events'), JSON.stringify(env), { qos: 1 })
    await acked
    // As the agent does: the enroll connection is a pending session, which may publish nothing but its enroll
    // (docs/security.md); events go over a new connection as the enrolled node.
    await this.client.endAsync()
    await this.connect(this.url)
  }

  /** Pre-signed job.started envelopes, as the agent writes them to its outbox (signed at emit time). */
  envelopes(count: number, from = 1): Envelope[] {
    const out: Envelope[] = []
    const startedAt = new Date().toISOString()
    for (let seq = from; seq < from + count; seq++) {
      out.push(
        this.sign({
          v: 1,
          kind: 'job.started',
          node: this.node,
          msgId: `${this.node}-${seq}`,
          seq,
          ts: startedAt,
          body: { runId: `${this.node}-run-${seq}`, job: 'bench', jobKind: 'archive', startedAt, trigger: 'schedule' },
        }),
      )
    }
    return out
  }

  /** One MQTT message per event (the pre-batch wire, still valid). */
  events(count: number, from = 1): Buffer[] {
    return this.envelopes(count, from).map((e) => Buffer.from(JSON.stringify(e)))
  }

  /**
   * The agent's drain of a backlog: the same packing code (agent/src/transport/batch-pack.ts) turns runs of outbox
   * records into batches signed once. Batch signing is the agent's cost and happens before timing, like event signing.
   */
  batches(count: number, from = 1): Outgoing[] {
    const recs = this.envelopes(count, from).map((envelope) => ({
      seq: envelope.seq,
      msgId: envelope.msgId,
      bytes: 0,
      envelope,
    }))
    return packRecords(recs, {
      node: this.node,
      signer: createSigner(this.keys),
      now: new Date(),
      singlesThrough: 0,
    }).map((w) => ({ payload: Buffer.from(w.payload), events: w.records.length }))
  }

  /**
   * Publishes with at most `window` events not yet acknowledged by the collector (the agent's in-flight window
   * counts events, whether they travel alone or in a batch); resolves when all are acked.
   */
  send(messages: Outgoing[], window: number): Promise<void> {
    const topic = nodeTopic(this.node, 'events')
    const total = messages.reduce((n, m) => n + m.events, 0)
    let next = 0
    let sent = 0
    let acked = 0
    return new Promise((resolve, reject) => {
      const pump = (): void => {
        while (
          next < messages.length &&
          sent - acked + messages[next]!.events <= Math.max(window, messages[next]!.events)
        ) {
          const m = messages[next++]!
          sent += m.events
          this.client.publish(topic, m.payload, { qos: 1 }, (err) => err && reject(err))
        }
      }
      this.onAck = (body) => {
        if (body.rejected.length > 0) {
          reject(new Error(`rejected: ${JSON.stringify(body.rejected[0])}`))
          return
        }
        acked += body.acked.length
        if (acked >= total) {
          resolve()
        } else {
          pump()
        }
      }
      pump()
    })
  }

  async close(): Promise<void> {
    await this.client.endAsync()
  }
}

/** The peer path: plain publishers and one subscriber through a hook-less aedes, QoS 1, same payload bytes. */
export async function rawPassThrough(url: string, payloads: Buffer[][], window: number): Promise<number> {
  const total = payloads.reduce((n, p) => n + p.length, 0)
  const sub = mqtt.connect(url, { clientId: 'raw-sub', clean: true, reconnectPeriod: 0 })
  await new Promise<void>((resolve) => sub.once('connect', () => resolve()))
  await sub.subscribeAsync('raw/+/events', { qos: 1 })
  let received = 0
  const done = new Promise<void>((resolve) => {
    sub.on('message', () => {
      if (++received === total) {
        resolve()
      }
    })
  })
  const pubs = await Promise.all(
    payloads.map(async (_, i) => {
      const c = mqtt.connect(url, { clientId: `raw-pub-${i}`, clean: true, reconnectPeriod: 0 })
      await new Promise<void>((resolve) => c.once('connect', () => resolve()))
      return c
    }),
  )
  const t0 = performance.now()
  await Promise.all(
    pubs.map(
      (c, i) =>
        new Promise<void>((resolve, reject) => {
          const mine = payloads[i]!
          let next = 0
          let inflight = 0
          const pump = (): void => {
            while (next < mine.length && inflight < window) {
              inflight++
              c.publish(`raw/${i}/events`, mine[next++]!, { qos: 1 }, (err) => {
                if (err) {
                  reject(err)
                  return
                }
                inflight--
                if (next >= mine.length && inflight === 0) {
                  resolve()
                } else {
                  pump()
                }
              })
            }
          }
          pump()
        }),
    ),
  )
  await done
  const seconds = (performance.now() - t0) / 1000
  await Promise.all([...pubs, sub].map((c) => c.endAsync()))
  return total / seconds
}
