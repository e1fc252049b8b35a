import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import mqtt, { type MqttClient } from 'mqtt'
import { MAX_MESSAGE_BYTES, nodeTopic, type AckBody, type Envelope } from '@backstop/shared'
import { parseCollectorConfig } from '../../src/config/load.ts'
import { startCollector, type RunningCollector } from '../../src/main.ts'
import { captureLog, FakeAgent, payload, TOKEN } from '../support/harness.ts'
import { apiFetch } from '../support/app-deps.ts'

/** Real TCP: mqtt.js clients ↔ the collector's aedes broker on an ephemeral port, through the full durable path. */

interface Conn {
  readonly client: MqttClient
  readonly acks: AckBody[]
  waitAck(pred: (a: AckBody) => boolean, what: string): Promise<AckBody>
}

function connect(url: string, a: FakeAgent, opts: { password?: string; clientId?: string } = {}): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, {
      clientId: opts.clientId ?? `backstop-agent-${a.node}`,
      username: a.node,
      password: opts.password ?? a.password(),
      clean: false,
      protocolVersion: 4,
      reconnectPeriod: 0,
      connectTimeout: 5000,
    })
    const acks: AckBody[] = []
    const waiters: { pred: (a: AckBody) => boolean; resolve: (a: AckBody) => void }[] = []
    client.on('message', (_topic, p) => {
      const body = (JSON.parse(p.toString('utf8')) as Envelope<'ack'>).body
      acks.push(body)
      for (const w of waiters.splice(0)) {
        if (w.pred(body)) {
          w.resolve(body)
        } else {
          waiters.push(w)
        }
      }
    })
    const waitAck = (pred: (a: AckBody) => boolean, what: string): Promise<AckBody> => {
      const found = acks.find(pred)
      if (found) {
        return Promise.resolve(found)
      }
      return new Promise((res, rej) => {
        const timer = setTimeout(() => rej(new Error(`no ack: ${what}; got ${JSON.stringify(acks)}`)), 30_000)
        waiters.push({
          pred,
          resolve: (b) => {
            clearTimeout(timer)
            res(b)
          },
        })
      })
    }
    client.once('connect', () => {
      client.subscribeAsync(nodeTopic(a.node, 'ack'), { qos: 1 }).then(() => resolve({ client, acks, waitAck }), reject)
    })
    client.once('error', (e) => {
      client.end(true)
      reject(e)
    })
  })
}

describe('collector over real MQTT (TCP, port 0)', () => {
  let c: RunningCollector
  let dir: string
  const { log, lines } = captureLog('info')
  const conns: MqttClient[] = []
  const pve = new FakeAgent('pve1')

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bk-collector-tcp-'))
    const cfg = parseCollectorConfig(
      `dataDir: ${dir}\nmqtt: {host: 127.0.0.1, port: 0}\napi: {host: 127.0.0.1, port: 0}\n` +
        `enrollment: {tokens: [${TOKEN}]}\ningest: {batchIntervalMs: 2, verifyWorkers: 1}\ntls: {plaintext: true}\n`,
      'test.yaml',
    )
    c = await startCollector(cfg, { log })
  })
  after(async () => {
    for (const cl of conns) {
      cl.end(true)
    }
    await c.stop()
    rmSync(dir, { recursive: true, force: true })
  })
  const open = async (a: FakeAgent, opts?: { password?: string; clientId?: string }): Promise<Conn> => {
    const conn = await connect(c.mqttUrl, a, opts)
    conns.push(conn.client)
    return conn
  }

  it('enrolls a pending node, then accepts its signed events and shows the run in the API', async () => {
    const pending = await open(pve, { password: 'not-enrolled-yet' })
    const enroll = pve.enroll()
    await pending.client.publishAsync(nodeTopic('pve1', 'events'), payload(enroll), { qos: 1 })
    const ack = await pending.waitAck((a) => a.acked.includes(enroll.msgId), 'enroll')
    assert.equal(ack.enrollment?.collectorPublicKey, c.collectorPublicKey)
    pending.client.end(true)

    const conn = await open(pve)
    const started = pve.started('r1')
    const finished = pve.finished('r1')
    await conn.client.publishAsync(nodeTopic('pve1', 'events'), payload(started), { qos: 1 })
    await conn.client.publishAsync(nodeTopic('pve1', 'events'), payload(finished), { qos: 1 })
    await conn.waitAck((a) => a.acked.includes(finished.msgId), 'job.finished')
    const res = await apiFetch(c, 'viewer')('/api/v1/runs?node=pve1')
    const body = (await res.json()) as { runs: { runId: string; status: string }[] }
    assert.deepEqual(
      body.runs.map((r) => [r.runId, r.status]),
      [['r1', 'success']],
    )
    const copies = (await (await apiFetch(c, 'viewer')('/api/v1/copies?node=pve1')).json()) as {
      copies: { copyId: string }[]
    }
    assert.deepEqual(
      copies.copies.map((x) => x.copyId),
      ['c1'],
    )
  })

  it('refuses CONNECT with a bad signature, a wrong client id or a skewed clock, and counts it', async () => {
    const impostor = new FakeAgent('pve1')
    const before = c.counters.get('broker_auth_refused_total')
    await assert.rejects(open(impostor), /Bad username or password/i)
    await assert.rejects(open(pve, { clientId: 'someone-else' }), /Bad username or password/i)
    await assert.rejects(open(pve, { password: pve.password(Date.now() - 10 * 60_000) }), /Bad username or password/i)
    assert.equal(c.counters.get('broker_auth_refused_total') - before, 3)
    assert.deepEqual(
      ['bad-signature', 'bad-client-id', 'clock-skew'].map((r) => c.counters.get('broker_auth_refused_total', r)),
      [1, 1, 1],
    )
  })

  it("disconnects a node that publishes to another node's topic and refuses foreign subscriptions", async () => {
    const conn = await open(pve)
    // SUBACK 0x80 (failure) for the foreign topic; mqtt.js surfaces it as an error carrying the packet
    await assert.rejects(
      conn.client.subscribeAsync(nodeTopic('nas1', 'ack'), { qos: 1 }),
      (e: { packet?: { granted?: number[] } }) => {
        assert.deepEqual(e.packet?.granted, [128])
        return true
      },
    )
    const closed = new Promise<void>((resolve) => conn.client.once('close', () => resolve()))
    conn.client.publish(nodeTopic('nas1', 'events'), payload(pve.started('x')), { qos: 1 })
    await closed
    assert.equal(c.counters.get('broker_acl_refused_total', 'publish'), 1)
    assert.equal(c.counters.get('broker_acl_refused_total', 'subscribe'), 1)
    assert.ok(
      lines.some((l) => l['code'] === 'BK_ERR_WIRE_TOPIC' && String(l['topic']) === nodeTopic('nas1', 'events')),
    )
  })

  const bad: { name: string; make: () => Buffer; code: string; acked: boolean }[] = [
    { name: 'malformed JSON', make: () => Buffer.from('{nope'), code: 'BK_ERR_WIRE_JSON', acked: false },
    {
      name: 'wrong schema',
      make: () =>
        payload(
          pve.envelope('job.started', {
            runId: 'r',
            job: 'j',
            jobKind: 'archive',
            startedAt: 'soon',
            trigger: 'schedule',
          }),
        ),
      code: 'BK_ERR_WIRE_SCHEMA',
      acked: true,
    },
    {
      name: 'bad signature',
      make: () => payload({ ...pve.started('r9'), sig: pve.started('r8').sig }),
      code: 'BK_ERR_SIG_INVALID',
      acked: true,
    },
    {
      name: 'node ≠ topic',
      make: () => payload(new FakeAgent('nas1').started('r1')),
      code: 'BK_ERR_WIRE_TOPIC',
      acked: true,
    },
    {
      name: 'key mismatch on enroll',
      make: () => payload(new FakeAgent('pve1').enroll()),
      code: 'BK_ERR_NODE_KEY_MISMATCH',
      acked: true,
    },
    {
      name: 'oversized payload',
      make: () => Buffer.alloc(MAX_MESSAGE_BYTES + 10, 0x20),
      code: 'BK_ERR_WIRE_TOO_LARGE',
      acked: false,
    },
  ]
  for (const b of bad) {
    it(`rejects ${b.name} with a logged reason and a counter, and keeps running`, async () => {
      const conn = await open(pve)
      const body = b.make()
      const counter = b.acked ? 'ingest_rejected_total' : 'ingest_dropped_total'
      const before = c.counters.get(counter, b.code)
      await conn.client.publishAsync(nodeTopic('pve1', 'events'), body, { qos: 1 })
      if (b.acked) {
        const ack = await conn.waitAck((a) => a.rejected.some((r) => r.code === b.code), b.code)
        assert.equal(ack.rejected.find((r) => r.code === b.code)?.permanent, true)
      }
      // garbage gets no ack: wait for the counter (the PUBACK does not wait for the ingest)
      for (let i = 0; i < 200 && c.counters.get(counter, b.code) === before; i++) {
        await new Promise((r) => setTimeout(r, 10))
      }
      assert.equal(c.counters.get(counter, b.code) - before, 1)
      assert.ok(lines.some((l) => l['code'] === b.code && typeof l['reason'] === 'string'))
      const ok = pve.started(`after-${b.code}`)
      await conn.client.publishAsync(nodeTopic('pve1', 'events'), payload(ok), { qos: 1 })
      await conn.waitAck((a) => a.acked.includes(ok.msgId), 'the next good message')
      conn.client.end(true)
    })
  }

  it('stores a replayed msgId once and acks it again', async () => {
    const conn = await open(pve)
    const env = pve.started('replay')
    await conn.client.publishAsync(nodeTopic('pve1', 'events'), payload(env), { qos: 1 })
    await conn.client.publishAsync(nodeTopic('pve1', 'events'), payload(env), { qos: 1 })
    // both copies may land in one batch (one ack listing the msgId twice) or in two
    const ackedTimes = (): number => conn.acks.flatMap((x) => x.acked).filter((m) => m === env.msgId).length
    await conn.waitAck(() => ackedTimes() >= 2, 'the replay acked again')
    const n = (c.db.prepare('SELECT count(*) AS n FROM events WHERE msg_id = ?').get(env.msgId) as { n: number }).n
    assert.equal(n, 1)
  })

  it('disconnects a client that is not enrolled when it publishes anything but its enroll message', async () => {
    const ghost = new FakeAgent('ghost1')
    const g = await open(ghost, { password: 'x' })
    const before = c.counters.get('broker_refused_total', 'pending-publish')
    const closed = new Promise<void>((resolve) => g.client.once('close', () => resolve()))
    g.client.publish(nodeTopic('ghost1', 'events'), payload(ghost.started('r1')), { qos: 1 })
    await closed
    assert.equal(c.counters.get('broker_refused_total', 'pending-publish') - before, 1)
    const n = (c.db.prepare("SELECT count(*) AS n FROM events WHERE node = 'ghost1'").get() as { n: number }).n
    assert.equal(n, 0)
  })

  it('records the retained online status and the Last Will', async () => {
    const a = new FakeAgent('st1')
    const p = await open(a, { password: 'x' })
    const enroll = a.enroll()
    await p.client.publishAsync(nodeTopic('st1', 'events'), payload(enroll), { qos: 1 })
    await p.waitAck((x) => x.acked.includes(enroll.msgId), 'enroll')
    p.client.end(true)
    const client = mqtt.connect(c.mqttUrl, {
      clientId: 'backstop-agent-st1',
      username: 'st1',
      password: a.password(),
      clean: false,
      reconnectPeriod: 0,
      will: {
        topic: nodeTopic('st1', 'status'),
        payload: Buffer.from(JSON.stringify({ state: 'offline', ts: Date.now() + 1000 })),
        qos: 1,
        retain: true,
      },
    })
    await new Promise<void>((resolve) => client.once('connect', () => resolve()))
    await client.publishAsync(
      nodeTopic('st1', 'status'),
      JSON.stringify({ state: 'online', ts: Date.now(), agentVersion: '0.3.0' }),
      { qos: 1, retain: true },
    )
    const api = apiFetch(c, 'viewer')
    const get = async (): Promise<{ status: string; agentVersion: string }> =>
      (await (await api('/api/v1/nodes/st1')).json()) as { status: string; agentVersion: string }
    assert.deepEqual(await get().then((n) => [n.status, n.agentVersion]), ['online', '0.3.0'])
    // an unclean disconnect publishes the will
    ;(client as unknown as { stream: { destroy(): void } }).stream.destroy()
    for (let i = 0; i < 50 && (await get()).status !== 'offline'; i++) {
      await new Promise((r) => setTimeout(r, 20))
    }
    assert.equal((await get()).status, 'offline')
    client.end(true)
  })
})
