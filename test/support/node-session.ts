import { mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import mqtt, { type MqttClient } from 'mqtt'
import { nodeTopic } from '@backstop/shared'
import { loadOrCreateTls } from '../../collector/src/tls/load-or-create.ts'
import type { FakeAgent } from '../../collector/test/support/harness.ts'
import { payload } from '../../collector/test/support/harness.ts'

/** The collector process's resident set, from /proc (Linux). */
export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) / 1024 : NaN
}

/**
 * One enrolled agent session as the real agent holds it: mqtts, signed CONNECT, persistent session, subscribed to
 * its ack topic. `heartbeat()` resolves with the milliseconds until the collector's ack for it arrived.
 */
export class NodeSession {
  private readonly waiting = new Map<string, () => void>()
  private constructor(
    readonly agent: FakeAgent,
    readonly client: MqttClient,
  ) {
    client.on('message', (_topic, p) => {
      const acked = (JSON.parse(p.toString()) as { body?: { acked?: string[] } }).body?.acked ?? []
      for (const id of acked) {
        this.waiting.get(id)?.()
        this.waiting.delete(id)
      }
    })
  }

  static async open(url: string, agent: FakeAgent, localAddress = '127.0.0.1'): Promise<NodeSession> {
    const client = await mqtt.connectAsync(url, {
      clientId: `backstop-agent-${agent.node}`,
      username: agent.node,
      password: agent.password(),
      clean: false,
      protocolVersion: 4,
      reconnectPeriod: 0,
      connectTimeout: 60_000,
      rejectUnauthorized: false,
      localAddress,
    } as mqtt.IClientOptions)
    await client.subscribeAsync(nodeTopic(agent.node, 'ack'), { qos: 1 })
    return new NodeSession(agent, client)
  }

  /** Enrolls `agent` over a pending connection (token enrollment) and waits for the collector's ack. */
  static async enroll(url: string, agent: FakeAgent, token: string): Promise<void> {
    const client = await mqtt.connectAsync(url, {
      clientId: `backstop-agent-${agent.node}`,
      username: agent.node,
      protocolVersion: 4,
      reconnectPeriod: 0,
      rejectUnauthorized: false,
    })
    await client.subscribeAsync(nodeTopic(agent.node, 'ack'), { qos: 1 })
    const env = agent.enroll(token)
    const acked = new Promise<void>((resolve) =>
      client.on('message', (_t, p) => {
        if (p.toString().includes(env.msgId)) {
          resolve()
        }
      }),
    )
    await client.publishAsync(nodeTopic(agent.node, 'events'), payload(env), { qos: 1 })
    await acked
    await client.endAsync()
  }

  heartbeat(timeoutMs = 30_000): Promise<number> {
    const env = this.agent.heartbeat()
    const t0 = performance.now()
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ack for ${env.msgId} in ${timeoutMs} ms`)), timeoutMs)
      this.waiting.set(env.msgId, () => {
        clearTimeout(timer)
        resolve(performance.now() - t0)
      })
      this.client.publish(nodeTopic(this.agent.node, 'events'), payload(env), { qos: 1 })
    })
  }

  close(): Promise<void> {
    return this.client.endAsync(true)
  }
}

export function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN
}

/** TLS material made before the collector starts (2048-bit, fast), so its start does not generate keys under load. */
export function pregenerateTls(dataDir: string): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  loadOrCreateTls({
    dir: join(dataDir, 'tls'),
    names: ['127.0.0.1', 'localhost'],
    now: new Date(),
    keyBits: { ca: 2048, server: 2048 },
  })
}
