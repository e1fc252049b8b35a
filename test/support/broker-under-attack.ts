import { mkdtempSync, rmSync } from 'node:fs'
import { type AddressInfo, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { createAuditLog } from '../../collector/src/audit/audit-log.ts'
import { createBroker, type Broker } from '../../collector/src/broker/broker.ts'
import type { BrokerLimits } from '../../collector/src/broker/limits.ts'
import { createMqttServer } from '../../collector/src/broker/listener.ts'
import { createAccessRepo, type AccessRepo } from '../../collector/src/identity/node-access.ts'
import { createBrokerIdentity } from '../../collector/src/identity/broker-identity.ts'
import { createOperators } from '../../collector/src/identity/operators.ts'
import { createKeyRing } from '../../collector/src/ingest/key-ring.ts'
import { createCounters, type Counters } from '../../collector/src/metrics/counters.ts'
import { openDb, type Db } from '../../collector/src/store/db.ts'
import type { NodesRepo } from '../../collector/src/store/nodes-repo.ts'
import { loadOrCreateTls, type CollectorTls } from '../../collector/src/tls/load-or-create.ts'
import { serverTlsOptions } from '../../collector/src/tls/transport-security.ts'
import { captureLog, FakeAgent } from '../../collector/test/support/harness.ts'

/**
 * An in-process broker behind the real MQTT listener (TLS, connection caps, packet guard), with enrolled nodes,
 * one operator and recorders for what reached the ingest. Attack tests talk to it with mqtt.js and raw sockets.
 */
export interface BrokerUnderAttack {
  readonly broker: Broker
  readonly server: Server
  readonly port: number
  readonly url: string
  readonly tls: CollectorTls
  readonly counters: Counters
  readonly lines: Record<string, unknown>[]
  readonly events: Array<{ node: string; body: string }>
  readonly statuses: string[]
  readonly access: AccessRepo
  readonly operator: { username: string; password: string }
  readonly agents: Record<string, FakeAgent>
  /** mqtt.js over TLS from `localAddress` (each test its own 127.0.0.x, so per-address limits do not mix). */
  connect(opts: IClientOptions & { localAddress?: string }): Promise<MqttClient>
  close(): Promise<void>
}

export async function startBrokerUnderAttack(
  nodes: string[],
  limits: Partial<BrokerLimits>,
): Promise<BrokerUnderAttack> {
  const dir = mkdtempSync(join(tmpdir(), `bk-attack-${Math.random().toString(36).slice(2, 8)}-`))
  const db: Db = openDb({ file: join(dir, 'c.db') }).db
  const agents = Object.fromEntries(nodes.map((n) => [n, new FakeAgent(n)]))
  // The key ring reads only (node, publicKey) from the nodes table.
  const keys = createKeyRing({
    list: () => Object.values(agents).map((a) => ({ node: a.node, publicKey: a.keys.publicKey })),
  } as unknown as Pick<NodesRepo, 'list'>)
  const access = createAccessRepo(db)
  const operators = createOperators(db, createAuditLog(db), () => new Date())
  const operator = operators.create('viewer', 'test')
  const counters = createCounters()
  const cap = captureLog('info')
  const events: Array<{ node: string; body: string }> = []
  const statuses: string[] = []
  const broker = await createBroker({
    keys,
    counters,
    now: () => new Date(),
    log: cap.log,
    identity: createBrokerIdentity(access, operators),
    onEvent: (node, payload, done) => {
      events.push({ node, body: payload.toString() })
      done()
    },
    onStatus: (node, payload) => statuses.push(`${node}:${payload.toString()}`),
    limits,
  })
  const tls = loadOrCreateTls({
    dir: join(dir, 'tls'),
    names: ['localhost', '127.0.0.1'],
    now: new Date(),
    keyBits: { ca: 2048, server: 2048 },
  })
  const server = createMqttServer(broker, serverTlsOptions(tls))
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as AddressInfo).port
  const url = `mqtts://127.0.0.1:${port}`
  const clients: MqttClient[] = []
  return {
    broker,
    server,
    port,
    url,
    tls,
    counters,
    lines: cap.lines,
    events,
    statuses,
    access,
    operator,
    agents,
    connect: (opts) =>
      new Promise((resolve, reject) => {
        const cl = mqtt.connect(url, {
          protocolVersion: 4,
          reconnectPeriod: 0,
          connectTimeout: 5000,
          ca: tls.caCert,
          servername: 'localhost',
          ...opts,
        })
        clients.push(cl)
        cl.once('connect', () => resolve(cl))
        cl.once('error', (e) => {
          cl.end(true)
          reject(e)
        })
        cl.once('close', () => reject(new Error('closed before CONNACK')))
      }),
    close: async () => {
      for (const cl of clients) {
        cl.end(true)
      }
      server.close()
      await broker.close()
      db.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** Retained messages the broker holds (the collector's own alert publisher is the only one allowed to add any). */
export async function retainedCount(broker: Broker): Promise<number> {
  const p = (broker.aedes as unknown as { persistence: { createRetainedStream(p: string): AsyncIterable<unknown> } })
    .persistence
  let n = 0
  for await (const _ of p.createRetainedStream('#')) {
    n++
  }
  return n
}
