import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { createServer as createTlsServer, type Server } from 'node:tls'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { alertTopics, nodeTopic } from '@backstop/shared'
import { pinnedTlsOptions } from '../../agent/src/transport/tls-pinning.ts'
import { createAuditLog } from '../../collector/src/audit/audit-log.ts'
import { createBroker, type Broker } from '../../collector/src/broker/broker.ts'
import { createAccessRepo } from '../../collector/src/identity/node-access.ts'
import { createBrokerIdentity } from '../../collector/src/identity/broker-identity.ts'
import { createIdentityService } from '../../collector/src/identity/identity-service.ts'
import { createTokensRepo } from '../../collector/src/identity/enrollment-tokens.ts'
import { createOperators } from '../../collector/src/identity/operators.ts'
import { createKeyRing } from '../../collector/src/ingest/key-ring.ts'
import { createCounters } from '../../collector/src/metrics/counters.ts'
import { openDb, type Db } from '../../collector/src/store/db.ts'
import { createNodesRepo } from '../../collector/src/store/nodes-repo.ts'
import { loadOrCreateTls, type CollectorTls } from '../../collector/src/tls/load-or-create.ts'
import { serverTlsOptions } from '../../collector/src/tls/transport-security.ts'
import { captureLog, FakeAgent } from '../../collector/test/support/harness.ts'

/**
 * The MQTT half of the authorization matrix, over real mqtts with the agent's pinning: who may connect, publish
 * and subscribe where. Each row names the actor, the action and the expected refusal.
 */
describe('authorization matrix: MQTT over TLS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bk-authz-'))
  const a = new FakeAgent('node-a')
  const b = new FakeAgent('node-b')
  const c = new FakeAgent('node-c')
  const events: Array<{ node: string; body: string }> = []
  const clients: MqttClient[] = []
  let db: Db
  let tls: CollectorTls
  let broker: Broker
  let server: Server
  let url: string
  let identity: ReturnType<typeof createIdentityService>
  let operator: { username: string; password: string }

  before(async () => {
    db = openDb({ file: join(dir, 'c.db') }).db
    const nodes = createNodesRepo(db)
    for (const n of [a, b, c]) {
      nodes.insert({
        node: n.node,
        publicKey: n.keys.publicKey,
        fingerprint: 'fp',
        enrolledAt: Date.now(),
        hostname: n.node,
        agentVersion: '0.1.0',
      })
    }
    const keys = createKeyRing(nodes)
    const audit = createAuditLog(db)
    const access = createAccessRepo(db)
    const operators = createOperators(db, audit, () => new Date())
    operator = operators.create('grafana', 'test')
    broker = await createBroker({
      keys,
      counters: createCounters(),
      now: () => new Date(),
      log: captureLog('warn').log,
      identity: createBrokerIdentity(access, operators),
      onEvent: (node, payload, done) => {
        events.push({ node, body: payload.toString() })
        done()
      },
      onStatus: () => {},
    })
    identity = createIdentityService({
      db,
      tokens: createTokensRepo(db),
      access,
      audit,
      now: () => new Date(),
      onRevoked: (n) => {
        keys.unpin(n)
        broker.disconnect(n)
      },
    })
    identity.revoke('node-c', 'test', 'decommissioned')
    tls = loadOrCreateTls({
      dir: join(dir, 'tls'),
      names: ['localhost', '127.0.0.1'],
      now: new Date(),
      keyBits: { ca: 2048, server: 2048 },
    })
    server = createTlsServer(serverTlsOptions(tls), broker.aedes.handle)
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    url = `mqtts://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  after(async () => {
    for (const cl of clients) {
      cl.end(true)
    }
    server.close()
    await broker.close()
    db.close()
    rmSync(dir, { recursive: true, force: true })
  })

  function connect(opts: IClientOptions): Promise<MqttClient> {
    return new Promise((resolve, reject) => {
      const cl = mqtt.connect(url, {
        protocolVersion: 4,
        reconnectPeriod: 0,
        connectTimeout: 5000,
        clean: false,
        ...pinnedTlsOptions(tls.caCert, tls.fingerprint),
        ...opts,
      })
      clients.push(cl)
      cl.once('connect', () => resolve(cl))
      cl.once('error', (e) => {
        cl.end(true)
        reject(e)
      })
      cl.once('close', () => reject(new Error('closed before CONNACK')))
    })
  }
  const asNode = (n: FakeAgent, over: IClientOptions = {}): Promise<MqttClient> =>
    connect({ clientId: `backstop-agent-${n.node}`, username: n.node, password: n.password(), ...over })
  /** Granted QoS, or 128 (SUBACK failure, which mqtt.js reports as an error). */
  const grant = (cl: MqttClient, topic: string): Promise<number> =>
    cl.subscribeAsync(topic, { qos: 1 }).then(
      (g) => g[0]!.qos,
      (e: Error & { packet?: { granted?: number[] } }) => (e.packet?.granted?.[0] === 128 ? 128 : Promise.reject(e)),
    )
  const closed = (cl: MqttClient): Promise<void> =>
    new Promise((r) => (cl.connected ? cl.once('close', () => r()) : r()))

  const refusedConnects: Array<[string, () => IClientOptions, RegExp]> = [
    ['anonymous client', () => ({ clientId: 'x' }), /Bad username or password|Not authorized/i],
    [
      'node A claiming to be node B (A signs)',
      () => ({ clientId: 'backstop-agent-node-b', username: 'node-b', password: a.password() }),
      /Bad username or password/i,
    ],
    [
      'node A with a replayed stale password',
      () => ({ clientId: 'backstop-agent-node-a', username: 'node-a', password: a.password(Date.now() - 3600_000) }),
      /Bad username or password/i,
    ],
    [
      'node A under another client id',
      () => ({ clientId: 'backstop-agent-node-b', username: 'node-a', password: a.password() }),
      /Bad username or password/i,
    ],
    [
      'revoked node C with its genuine key',
      () => ({ clientId: 'backstop-agent-node-c', username: 'node-c', password: c.password() }),
      /Bad username or password/i,
    ],
    [
      'operator with a wrong secret',
      () => ({ clientId: 'op1', username: 'operator:grafana', password: 'guess' }),
      /Bad username or password/i,
    ],
  ]
  for (const [who, opts, err] of refusedConnects) {
    it(`CONNECT refused: ${who}`, async () => {
      await assert.rejects(connect(opts()), err)
    })
  }

  it('plain TCP client cannot talk to the TLS listener; an impostor pin is refused before CONNECT', async () => {
    await assert.rejects(
      connect({ protocol: 'mqtt', clientId: 'p', username: 'node-a', password: a.password() } as IClientOptions),
      /closed before CONNACK|ECONNRESET|socket|connack/i,
    )
    const wrongPin = 'AB:'.repeat(31) + 'AB'
    await assert.rejects(
      connect({
        ...pinnedTlsOptions(tls.caCert, wrongPin),
        clientId: 'backstop-agent-node-a',
        username: 'node-a',
        password: a.password(),
      }),
      /pinned/,
    )
  })

  it("node A: own events accepted; B's events, status and alerts refused (never delivered)", async () => {
    const cl = await asNode(a)
    await cl.publishAsync(nodeTopic('node-a', 'events'), 'mine', { qos: 1 })
    assert.deepEqual(
      events.map((e) => e.node),
      ['node-a'],
    )
    const cl2 = await asNode(a, { password: a.password() })
    cl2.publish(nodeTopic('node-b', 'events'), 'forged', { qos: 1 })
    await closed(cl2)
    for (const topic of [
      nodeTopic('node-b', 'status'),
      alertTopics.events,
      nodeTopic('node-a', 'commands'),
      nodeTopic('node-a', 'ack'),
      nodeTopic('node-a', 'checkpoint'),
    ]) {
      const cl3 = await asNode(a, { password: a.password() })
      cl3.publish(topic, 'forged', { qos: 1 })
      await closed(cl3)
    }
    assert.deepEqual(
      events.map((e) => e.node),
      ['node-a'],
      'nothing forged reached the ingest',
    )
  })

  const subscriptions: Array<[string, boolean]> = [
    [nodeTopic('node-a', 'ack'), true],
    [nodeTopic('node-a', 'commands'), true],
    [nodeTopic('node-a', 'checkpoint'), true],
    [nodeTopic('node-b', 'ack'), false],
    [nodeTopic('node-b', 'checkpoint'), false],
    [nodeTopic('node-b', 'commands'), false],
    [nodeTopic('node-a', 'events'), false],
    ['backstop/v1/+/commands', false],
    ['#', false],
    [alertTopics.stateWildcard, false],
  ]
  it('node A subscribes only to its own ack, commands and checkpoint', async () => {
    const cl = await asNode(a, { password: a.password() })
    for (const [topic, ok] of subscriptions) {
      assert.equal(await grant(cl, topic), ok ? 1 : 128, topic)
    }
  })

  it('operator client reads alerts only and publishes nothing', async () => {
    const cl = await connect({ clientId: 'op-grafana', username: operator.username, password: operator.password })
    assert.equal(await grant(cl, alertTopics.stateWildcard), 1)
    assert.equal(await grant(cl, alertTopics.events), 1)
    for (const t of [nodeTopic('node-a', 'events'), nodeTopic('node-a', 'commands'), '#']) {
      assert.equal(await grant(cl, t), 128, t)
    }
    const before = events.length
    cl.publish(nodeTopic('node-a', 'events'), 'from operator', { qos: 1 })
    await closed(cl)
    assert.equal(events.length, before)
  })

  it('revoking a connected node drops its session and refuses its reconnect', async () => {
    const cl = await asNode(b)
    const gone = closed(cl)
    identity.revoke('node-b', 'test', 'stolen')
    await gone
    await assert.rejects(asNode(b, { password: b.password() }), /Bad username or password/i)
  })
})
