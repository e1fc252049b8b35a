import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import mqtt, { type MqttClient } from 'mqtt'
import { type AckBody, type Envelope, nodeTopic } from '@backstop/shared'
import { parseCollectorConfig } from '../../collector/src/config/load.ts'
import { startCollector } from '../../collector/src/main.ts'
import { captureLog, FakeAgent, payload, TOKEN } from '../../collector/test/support/harness.ts'
import { hostile } from './hostile-arbitraries.ts'

/**
 * A sample of the generated hostile messages over real MQTT into a real collector (startCollector, worker
 * verification): an enrolled node and a pending (unenrolled) client publish them; the collector stays up, stores
 * none of them, and still takes a genuine event afterwards. FUZZ_MQTT_MESSAGES overrides the count.
 */
const COUNT = Number(process.env['FUZZ_MQTT_MESSAGES'] ?? 2000)
const COUNT_TEXT = COUNT.toLocaleString('en')

function connect(url: string, a: FakeAgent, password: string): Promise<{ client: MqttClient; acks: AckBody[] }> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, {
      clientId: `backstop-agent-${a.node}`,
      username: a.node,
      password,
      clean: false,
      protocolVersion: 4,
      reconnectPeriod: 0,
      connectTimeout: 5000,
    })
    const acks: AckBody[] = []
    client.on('message', (_t, p) => acks.push((JSON.parse(p.toString()) as Envelope<'ack'>).body))
    client.once('connect', () =>
      client.subscribeAsync(nodeTopic(a.node, 'ack'), { qos: 1 }).then(() => resolve({ client, acks }), reject),
    )
    client.once('error', reject)
  })
}

describe('fuzz over real MQTT', { timeout: 5 * 60_000 }, () => {
  it(`${COUNT_TEXT} hostile messages from enrolled and pending clients: nothing stored, still serving`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'bk-fuzz-mqtt-'))
    const c = await startCollector(
      parseCollectorConfig(
        `dataDir: ${dir}\n` +
          'mqtt: {host: 127.0.0.1, port: 0}\napi: {host: 127.0.0.1, port: 0}\n' +
          `enrollment: {tokens: [${TOKEN}]}\n` +
          'ingest: {batchIntervalMs: 2, verifyWorkers: 1}\ntls: {plaintext: true}\nlog: {level: error}\n',
        'fuzz.yaml',
      ),
      { log: captureLog('fatal').log },
    )
    const clients: MqttClient[] = []
    t.after(async () => {
      for (const cl of clients) {
        cl.end(true)
      }
      await c.stop()
      rmSync(dir, { recursive: true, force: true })
    })
    const a = new FakeAgent('fz1')
    const pending = await connect(c.mqttUrl, a, 'not-enrolled')
    clients.push(pending.client)
    const enroll = a.enroll()
    await pending.client.publishAsync(nodeTopic('fz1', 'events'), payload(enroll), { qos: 1 })
    // Like a real agent: enrollment is done when its ack (after the commit) arrives, not at the MQTT PUBACK.
    for (let i = 0; i < 200 && !pending.acks.some((b) => b.enrollment); i++) {
      await new Promise((r) => setTimeout(r, 25))
    }
    assert.ok(
      pending.acks.some((b) => b.enrollment),
      'enrollment acknowledged',
    )
    pending.client.end(true)
    const conn = await connect(c.mqttUrl, a, a.password())
    clients.push(conn.client)
    const stored = Array.from({ length: 20 }, (_, i) =>
      a.envelope('job.started', {
        runId: `r${i}`,
        job: 'daily',
        jobKind: 'zfs',
        startedAt: '2026-11-22T01:00:00.000Z',
        trigger: 'schedule',
      }),
    )
    for (const e of stored) {
      await conn.client.publishAsync(nodeTopic('fz1', 'events'), payload(e), { qos: 1 })
    }
    const storedCount = (): number =>
      (c.db.prepare("SELECT count(*) AS n FROM events WHERE node = 'fz1'").get() as { n: number }).n
    // Stored means acknowledged by the collector (after its commit); the MQTT PUBACK is not a receipt.
    const acked = (): number => new Set(conn.acks.flatMap((b) => b.acked)).size
    for (let i = 0; i < 200 && acked() < 20; i++) {
      await new Promise((r) => setTimeout(r, 25))
    }
    assert.equal(storedCount(), 20)
    // A client that is not enrolled may publish only its enroll message: anything else disconnects it (the broker's
    // publish ACL). A packet over the size limit disconnects even an enrolled node (the packet guard, before the
    // body is buffered). Either client reconnects after such a refusal; refusals are counted, never stored.
    const stranger = new FakeAgent('stranger')
    const sessions = {
      enrolled: { agent: a, password: () => a.password(), conn: conn, disconnects: [] as string[] },
      stranger: {
        agent: stranger,
        password: () => 'whatever',
        conn: await connect(c.mqttUrl, stranger, 'whatever'),
        disconnects: [] as string[],
      },
    }
    clients.push(sessions.stranger.conn.client)
    const refusedBefore = c.counters.get('broker_refused_total')
    const sample = fc.sample(hostile({ enrolled: a, stored }), { numRuns: COUNT, seed: 5 })
    let i = 0
    for (const h of sample) {
      // Only the own topic is allowed; the ACL test covers other topics. Half go through the pending stranger.
      const s = i++ % 2 === 0 ? sessions.enrolled : sessions.stranger
      if (!s.conn.client.connected) {
        s.conn = await connect(c.mqttUrl, s.agent, s.password())
        clients.push(s.conn.client)
      }
      const cl = s.conn.client
      const closed = new Promise<'closed'>((resolve) => cl.once('close', () => resolve('closed')))
      const outcome = await Promise.race([
        cl.publishAsync(nodeTopic(s.agent.node, 'events'), h.payload, { qos: 1 }).then(() => 'acked' as const),
        closed,
      ])
      if (outcome === 'closed') {
        s.disconnects.push(h.category)
      }
    }
    assert.deepEqual(
      [...new Set(sessions.enrolled.disconnects)],
      sessions.enrolled.disconnects.length > 0 ? ['over 1 MiB'] : [],
      'an enrolled node is disconnected only for packets over the size limit',
    )
    assert.ok(sessions.stranger.disconnects.length > 0, 'the pending stranger is disconnected for non-enroll messages')
    assert.ok(
      c.counters.get('broker_refused_total') - refusedBefore >= sessions.stranger.disconnects.length,
      'every refusal is counted',
    )
    const strangerDisconnects = sessions.stranger.disconnects.length
    assert.equal(storedCount(), 20, 'no hostile message stored')
    assert.equal((c.db.prepare("SELECT count(*) AS n FROM events WHERE node = 'stranger'").get() as { n: number }).n, 0)
    const after = a.envelope('job.started', {
      runId: 'after',
      job: 'daily',
      jobKind: 'zfs',
      startedAt: '2026-11-22T01:00:00.000Z',
      trigger: 'schedule',
    })
    const live = sessions.enrolled.conn.client.connected
      ? sessions.enrolled.conn
      : await connect(c.mqttUrl, a, a.password())
    clients.push(live.client)
    await live.client.publishAsync(nodeTopic('fz1', 'events'), payload(after), { qos: 1 })
    for (let i = 0; i < 400 && !live.acks.some((b) => b.acked.includes(after.msgId)); i++) {
      await new Promise((r) => setTimeout(r, 25))
    }
    assert.equal(storedCount(), 21, 'a genuine event still goes through')
    const snap = c.counters.snapshot()
    const summary = {
      messages: COUNT,
      strangerDisconnects,
      rejected: snap.ingest_rejected_total,
      dropped: snap.ingest_dropped_total,
      duplicate: snap.ingest_duplicate_total,
    }
    console.log(`# fuzz-mqtt ${JSON.stringify(summary)}`)
  })
})
