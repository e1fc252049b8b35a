import { randomBytes } from 'node:crypto'
import mqtt, { type MqttClient } from 'mqtt'
import {
  canonicalJson, keyPairFromSeed, nodeTopic, type Envelope, type KeyPair, type UnsignedEnvelope, type AckBody,
} from '@backstop/shared'
import { privateKeyObject, publicKeyObject, signMessage, verifyEnvelopeWith } from '@backstop/collector/src/crypto/ed25519.ts'

/** A simulated agent for the benchmark: the real wire protocol (docs/protocol.md), minus the agent's disk outbox. */
export class BenchAgent {
  readonly keys: KeyPair = keyPairFromSeed(randomBytes(32))
  private readonly sk = privateKeyObject(this.keys.secretKey)
  client!: MqttClient
  private collectorKey: ReturnType<typeof publicKeyObject>
  private onAck: (body: AckBody) => void = () => {}

  constructor(readonly node: string) {}

  sign<K extends Envelope['kind']>(unsigned: UnsignedEnvelope<K>): Envelope<K> {
    return { ...unsigned, sig: signMessage(canonicalJson(unsigned), this.sk) } as Envelope<K>
  }

  async connect(url: string): Promise<void> {
    const ts = Date.now()
    this.client = mqtt.connect(url, {
      clientId: `backstop-agent-${this.node}`, clean: false, username: this.node,
      password: `${ts}.${signMessage(`connect\n${this.node}\n${ts}`, this.sk)}`,
      reconnectPeriod: 0, protocolVersion: 4,
    })
    await new Promise<void>((resolve, reject) => {
      this.client.once('connect', () => resolve())
      this.client.once('error', reject)
    })
    this.client.on('message', (_topic, payload) => {
      const env = JSON.parse(payload.toString('utf8')) as Envelope<'ack'>
      if (this.collectorKey && !verifyEnvelopeWith(env, this.collectorKey)) {
        throw new Error('forged ack')
      }
      this.onAck(env.body)
    })
    await this.client.subscribeAsync(nodeTopic(this.node, 'ack'), { qos: 1 })
  }

  async enroll(token: string): Promise<void> {
    const env = this.sign({
      v: 1, kind: 'enroll', node: this.node, msgId: `${this.node}-enroll`, seq: 0, ts: new Date().toISOString(),
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
  }

  /** Pre-signed job.started events (signing is the agent's cost, not the collector's: done before timing). */
  events(count: number): Buffer[] {
    const out: Buffer[] = []
    const startedAt = new Date().toISOString()
    for (let seq = 1; seq <= count; seq++) {
      out.push(Buffer.from(JSON.stringify(this.sign({
        v: 1, kind: 'job.started', node: this.node, msgId: `${this.node}-${seq}`, seq, ts: startedAt,
        body: { runId: `${this.node}-run-${seq}`, job: 'bench', jobKind: 'archive', startedAt, trigger: 'schedule' },
      }))))
    }
    return out
  }

  /** Publishes with at most `window` events not yet acknowledged by the collector; resolves when all are acked. */
  send(payloads: Buffer[], window: number): Promise<void> {
    const topic = nodeTopic(this.node, 'events')
    let next = 0
    let acked = 0
    return new Promise((resolve, reject) => {
      const pump = (): void => {
        while (next < payloads.length && next - acked < window) {
          this.client.publish(topic, payloads[next++]!, { qos: 1 }, (err) => err && reject(err))
        }
      }
      this.onAck = (body) => {
        if (body.rejected.length > 0) {
          reject(new Error(`rejected: ${JSON.stringify(body.rejected[0])}`))
          return
        }
        acked += body.acked.length
        if (acked >= payloads.length) {
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
  const pubs = await Promise.all(payloads.map(async (_, i) => {
    const c = mqtt.connect(url, { clientId: `raw-pub-${i}`, clean: true, reconnectPeriod: 0 })
    await new Promise<void>((resolve) => c.once('connect', () => resolve()))
    return c
  }))
  const t0 = performance.now()
  await Promise.all(pubs.map((c, i) => new Promise<void>((resolve, reject) => {
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
  })))
  await done
  const seconds = (performance.now() - t0) / 1000
  await Promise.all([...pubs, sub].map((c) => c.endAsync()))
  return total / seconds
}
