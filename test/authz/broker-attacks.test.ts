import assert from 'node:assert/strict'
import { connect as netConnect, type Socket } from 'node:net'
import { after, before, describe, it } from 'node:test'
import type { MqttClient } from 'mqtt'
import { nodeTopic } from '@backstop/shared'
import { FakeAgent, payload } from '../../collector/test/support/harness.ts'
import { retainedCount, startBrokerUnderAttack, type BrokerUnderAttack } from '../support/broker-under-attack.ts'
import { closedWithin, connectPacket, publishHeader, rawTls, readBytes, subscribePacket } from '../support/raw-mqtt.ts'

/**
 * The attack review's MQTT findings (issue 12 items 2, 3, 5), each reproduced with real clients against the real
 * listener: unauthenticated memory growth, oversized packets, idle sockets, connection floods, log floods, session
 * hijack by client id, and CONNECT password replay. Each test uses its own 127.0.0.x source address.
 */
describe('broker under attack: unauthenticated and hostile MQTT clients', () => {
  let t: BrokerUnderAttack
  const refused = (reason: string): number => t.counters.get('broker_refused_total', reason)
  const closed = (cl: MqttClient): Promise<void> =>
    new Promise((r) => (cl.connected ? cl.once('close', () => r()) : r()))

  before(async () => {
    t = await startBrokerUnderAttack(['node-a', 'node-r'], {
      tlsHandshakeTimeoutMs: 500,
      connectTimeoutMs: 500,
      maxConnectionsPerIp: 8,
      failedConnects: { burst: 5, perMinute: 1 },
      enrollsPerIp: { burst: 3, perMinute: 1 },
    })
  })
  after(() => t.close())

  it('an unenrolled name retains nothing and may publish only a size-capped enroll', async () => {
    const ghost = new FakeAgent('ghost1')
    const asGhost = { clientId: 'backstop-agent-ghost1', username: 'ghost1', localAddress: '127.0.0.11', clean: false }
    const cl = await t.connect(asGhost)
    const status = JSON.stringify({ state: 'online', ts: Date.now() })
    await cl.publishAsync(nodeTopic('ghost1', 'status'), status, { qos: 1, retain: true })
    assert.equal(await retainedCount(t.broker), 0, 'a pending client retains nothing')
    assert.deepEqual(t.statuses, [], 'nor is its status recorded')
    await cl.publishAsync(nodeTopic('ghost1', 'events'), payload(ghost.enroll()), { qos: 1 })
    assert.equal(t.events.filter((e) => e.node === 'ghost1').length, 1, 'its enroll reached the ingest')

    cl.publish(nodeTopic('ghost1', 'events'), payload(ghost.heartbeat()), { qos: 1 })
    await closed(cl)
    assert.equal(t.counters.get('broker_refused_total', 'pending-publish'), 1)
    const big = await t.connect(asGhost)
    big.publish(nodeTopic('ghost1', 'status'), Buffer.alloc(20 * 1024 * 1024, 0x7b), { qos: 0, retain: true })
    await closed(big)
    assert.equal(refused('packet-too-large'), 1, '20 MiB from a pending client: closed at the fixed header')
    assert.equal(await retainedCount(t.broker), 0)
    assert.equal(t.events.filter((e) => e.node === 'ghost1').length, 1, 'nothing but the enroll got through')
  })

  it('a PUBLISH declaring 256 MiB is refused at its fixed header, before and after authentication', async () => {
    const before = refused('packet-too-large')
    const anon = await rawTls(t.port, '127.0.0.12')
    anon.write(publishHeader('backstop/v1/x/status', 256 * 1024 * 1024 - 1, true))
    assert.ok((await closedWithin(anon, 2000)) < 2000)

    const a = t.agents['node-a'] as FakeAgent
    const node = await rawTls(t.port, '127.0.0.12')
    const connack = readBytes(node, 4)
    node.write(connectPacket({ clientId: 'backstop-agent-node-a', username: 'node-a', password: a.password() }))
    assert.deepEqual([...(await connack)], [0x20, 2, 0, 0], 'the node itself is accepted')
    node.write(publishHeader(nodeTopic('node-a', 'events'), 256 * 1024 * 1024 - 1))
    node.write(Buffer.alloc(64 * 1024, 0x20))
    await closedWithin(node, 2000)
    assert.equal(refused('packet-too-large'), before + 2)
    const lines = t.lines.filter((l) => l.reason === 'packet-too-large')
    assert.ok(lines.length >= 1 && lines.every((l) => l.code === 'BK_ERR_MQTT_PACKET_TOO_LARGE'))
  })

  it('idle sockets close: no TLS within the handshake timeout, no CONNECT within the connect timeout', async () => {
    const tcp = netConnect({ host: '127.0.0.1', port: t.port, localAddress: '127.0.0.13' })
    const tls = await rawTls(t.port, '127.0.0.13')
    const [tcpMs, tlsMs] = await Promise.all([closedWithin(tcp, 3000), closedWithin(tls, 3000)])
    assert.ok(tcpMs >= 300 && tlsMs >= 300, `closed by the timeouts, not at once (${tcpMs} / ${tlsMs} ms)`)
    assert.equal(refused('connect-timeout'), 1)
    assert.ok(refused('tls-handshake-timeout') + refused('tls-handshake') >= 1)
  })

  it('per-address connection cap: the ninth socket is dropped at accept, the first eight stay', async () => {
    const open: Socket[] = []
    for (let i = 0; i < 8; i++) {
      const s = netConnect({ host: '127.0.0.1', port: t.port, localAddress: '127.0.0.14' })
      await new Promise((r) => s.once('connect', r))
      open.push(s)
    }
    const ninth = netConnect({ host: '127.0.0.1', port: t.port, localAddress: '127.0.0.14' })
    ninth.on('error', () => undefined)
    assert.ok((await closedWithin(ninth, 1000)) < 400, 'dropped at once, not by a timeout')
    assert.equal(refused('conn-cap-ip'), 1)
    assert.ok(open.every((s) => !s.destroyed))
    for (const s of open) {
      s.destroy()
    }
  })

  it('refused CONNECTs from one address are rate limited; a genuine node elsewhere still connects', async () => {
    const a = t.agents['node-a'] as FakeAgent
    const bad = { clientId: 'backstop-agent-node-a', username: 'node-a', password: '1.bad', localAddress: '127.0.0.15' }
    for (let i = 0; i < 5; i++) {
      await assert.rejects(t.connect(bad), /Bad username or password/i)
    }
    await assert.rejects(t.connect(bad), (e: Error) => !/Bad username or password/i.test(e.message))
    assert.ok(refused('connect-rate') >= 1)
    const good = await t.connect({ clientId: 'backstop-agent-node-a', username: 'node-a', password: a.password() })
    good.end(true)
  })

  it('enrolls are rate limited per address', async () => {
    const g = new FakeAgent('ghost2')
    const cl = await t.connect({ clientId: 'backstop-agent-ghost2', username: 'ghost2', localAddress: '127.0.0.16' })
    for (let i = 0; i < 3; i++) {
      await cl.publishAsync(nodeTopic('ghost2', 'events'), payload(g.enroll()), { qos: 1 })
    }
    cl.publish(nodeTopic('ghost2', 'events'), payload(g.enroll()), { qos: 1 })
    await closed(cl)
    assert.equal(refused('enroll-rate'), 1)
    assert.equal(t.events.filter((e) => e.node === 'ghost2').length, 3)
  })

  it('one SUBSCRIBE with 5,000 forbidden filters is counted 5,000 times and logged once', async () => {
    const a = t.agents['node-a'] as FakeAgent
    const s = await rawTls(t.port, '127.0.0.17')
    // A pending client's packets are capped far below 5,000 filters: the enrolled node is the one that can try.
    const connack = readBytes(s, 4)
    s.write(connectPacket({ clientId: 'backstop-agent-node-a', username: 'node-a', password: a.password() }))
    assert.deepEqual([...(await connack)], [0x20, 2, 0, 0])
    const replies = readBytes(s, 5005)
    const filters = Array.from({ length: 5000 }, (_, i) => `backstop/v1/victim${i}/commands`)
    const linesBefore = t.lines.filter((l) => l.reason === 'subscribe').length
    const countBefore = t.counters.get('broker_acl_refused_total', 'subscribe')
    s.write(subscribePacket(filters))
    const all = await replies
    assert.equal(all.subarray(5).filter((b) => b === 0x80).length, 5000, 'every filter refused in the SUBACK')
    assert.equal(t.counters.get('broker_acl_refused_total', 'subscribe') - countBefore, 5000)
    assert.ok(t.lines.filter((l) => l.reason === 'subscribe').length - linesBefore <= 1, 'one log line at most')
    s.destroy()
  })

  it("an operator using the node's client id neither kicks the node nor inherits its queued command", async () => {
    const a = t.agents['node-a'] as FakeAgent
    const asNode = () => ({
      clientId: 'backstop-agent-node-a',
      username: 'node-a',
      password: a.password(),
      clean: false,
      localAddress: '127.0.0.18',
    })
    const node = await t.connect(asNode())
    await node.subscribeAsync(nodeTopic('node-a', 'commands'), { qos: 1 })
    const hijack = { ...t.operator, clientId: 'backstop-agent-node-a', clean: false, localAddress: '127.0.0.18' }
    const op = await t.connect(hijack)
    await node.publishAsync(nodeTopic('node-a', 'events'), 'still here', { qos: 1 })
    assert.ok(node.connected, 'the live agent was not kicked')
    await node.endAsync()

    t.broker.publishCommand('node-a', Buffer.from('{"queued":"command"}'))
    const got: string[] = []
    op.end(true)
    const op2 = await t.connect(hijack)
    op2.on('message', (topic) => got.push(topic))
    await op2.subscribeAsync('backstop/v1/alerts/#', { qos: 1 })
    const back = await t.connect(asNode())
    const cmd = await new Promise<string>((r) => back.once('message', (_t, p) => r(p.toString())))
    assert.equal(cmd, '{"queued":"command"}', 'the node, not the operator, received its queued command')
    assert.deepEqual(got, [])
    back.end(true)
    op2.end(true)
  })

  it("a pending client under a re-enroll allowance cannot take over the node's stored session", async () => {
    const r = t.agents['node-r'] as FakeAgent
    const asNode = () => ({
      clientId: 'backstop-agent-node-r',
      username: 'node-r',
      password: r.password(),
      clean: false,
    })
    const node = await t.connect(asNode())
    await node.subscribeAsync(nodeTopic('node-r', 'commands'), { qos: 1 })
    await node.endAsync()
    t.access.set('node-r', 'reenroll', 'test', new Date().toISOString())
    t.broker.publishCommand('node-r', Buffer.from('{"for":"node-r"}'))
    const impostor = new FakeAgent('node-r')
    const pending = await t.connect({ ...asNode(), password: impostor.password(), localAddress: '127.0.0.19' })
    const got: string[] = []
    pending.on('message', (topic) => got.push(topic))
    await pending.subscribeAsync(nodeTopic('node-r', 'ack'), { qos: 1 })
    const back = await t.connect(asNode())
    const cmd = await new Promise<string>((res) => back.once('message', (_t, p) => res(p.toString())))
    assert.equal(cmd, '{"for":"node-r"}')
    assert.ok(pending.connected, 'the pending client was a separate session (the node did not kick it)')
    assert.deepEqual(got, [])
    back.end(true)
    pending.end(true)
    t.access.clear('node-r')
  })

  it('a CONNECT password is accepted once', async () => {
    const a = t.agents['node-a'] as FakeAgent
    const opts = { clientId: 'backstop-agent-node-a', username: 'node-a', password: a.password(), clean: false }
    const first = await t.connect({ ...opts, localAddress: '127.0.0.20' })
    await first.endAsync()
    await assert.rejects(t.connect({ ...opts, localAddress: '127.0.0.20' }), /Bad username or password/i)
    assert.equal(t.counters.get('broker_auth_refused_total', 'replayed-password'), 1)
    const fresh = await t.connect({ ...opts, password: a.password(), localAddress: '127.0.0.20' })
    fresh.end(true)
  })
})

/** The two fleet-wide limits (a flood from many addresses): connections and enrolls in total. */
describe('broker under attack from many addresses: the global caps', () => {
  let t: BrokerUnderAttack
  const refused = (reason: string): number => t.counters.get('broker_refused_total', reason)
  /** Waits until the listener holds `n` connections (a socket destroyed here closes there a moment later). */
  const connectionsAre = async (n: number): Promise<void> => {
    for (let i = 0; i < 250; i++) {
      const open = await new Promise<number>((res, rej) => t.server.getConnections((e, c) => (e ? rej(e) : res(c))))
      if (open === n) {
        return
      }
      await new Promise((r) => setTimeout(r, 20))
    }
    assert.fail(`the listener never got down to ${n} connections`)
  }

  before(async () => {
    t = await startBrokerUnderAttack(['node-g'], {
      maxConnections: 4,
      maxConnectionsPerIp: 8,
      enrollsTotal: { burst: 2, perMinute: 1 },
    })
  })
  after(() => t.close())

  it('a connection over maxConnections is dropped at accept from any address; a freed slot is reusable', async () => {
    const open: Socket[] = []
    for (let i = 0; i < 4; i++) {
      const s = netConnect({ host: '127.0.0.1', port: t.port, localAddress: `127.0.0.${40 + i}` })
      await new Promise((r) => s.once('connect', r))
      open.push(s)
    }
    const fifth = netConnect({ host: '127.0.0.1', port: t.port, localAddress: '127.0.0.44' })
    fifth.on('error', () => undefined)
    assert.ok((await closedWithin(fifth, 1000)) < 400, 'dropped at once, not by a timeout')
    assert.equal(refused('conn-cap-global'), 1)
    assert.equal(refused('conn-cap-ip'), 0, 'no address was over its own cap')
    assert.ok(open.every((s) => !s.destroyed))
    const gone = open.pop() as Socket
    gone.destroy()
    await connectionsAre(3)
    const again = netConnect({ host: '127.0.0.1', port: t.port, localAddress: '127.0.0.45' })
    await new Promise((r) => again.once('connect', r))
    await assert.rejects(closedWithin(again, 300), /still open/, 'admitted into the freed slot')
    assert.equal(refused('conn-cap-global'), 1)
    for (const s of [...open, again]) {
      s.destroy()
    }
    await connectionsAre(0)
  })

  it('enrolls are rate limited in total: the third from a third address is refused', async () => {
    const enroll = async (name: string, address: string, accepted: boolean): Promise<void> => {
      const g = new FakeAgent(name)
      const cl = await t.connect({ clientId: `backstop-agent-${name}`, username: name, localAddress: address })
      if (accepted) {
        await cl.publishAsync(nodeTopic(name, 'events'), payload(g.enroll()), { qos: 1 })
        await cl.endAsync()
        return
      }
      const closedNow = new Promise<void>((r) => cl.once('close', () => r()))
      cl.publish(nodeTopic(name, 'events'), payload(g.enroll()), { qos: 1 })
      await closedNow
      cl.end(true)
    }
    await enroll('ghost-a', '127.0.0.50', true)
    await enroll('ghost-b', '127.0.0.51', true)
    await enroll('ghost-c', '127.0.0.52', false)
    assert.equal(refused('enroll-rate'), 1)
    assert.deepEqual(
      t.events.filter((e) => e.node.startsWith('ghost-')).map((e) => e.node),
      ['ghost-a', 'ghost-b'],
    )
  })
})
