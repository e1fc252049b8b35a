import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import mqtt from 'mqtt'
import { nodeTopic, verifyEnvelopeSignature, type BodyOf, type Envelope } from '@backstop/shared'
import { parseCollectorConfig } from '../../collector/src/config/load.ts'
import { startCollector } from '../../collector/src/main.ts'
import { captureLog, FakeAgent, payload } from '../../collector/test/support/harness.ts'
import { NodeSession } from '../support/node-session.ts'
import { tempDir, TOKEN } from '../support/processes.ts'
import { waitFor } from '../support/wait-for.ts'

interface Delivered {
  readonly retain: boolean
  readonly env: Envelope<'checkpoint'>
}

/**
 * The checkpoint topic on the real broker (collector in-process, a node over MQTT): on subscribe the node gets the
 * retained copy (RETAIN 1) and a fresh one (RETAIN 0) with the high-water mark as of now — the agent trusts only the
 * latter to detect a restored collector; a verified backup reaches a connected node live. An outbox.retention report
 * raises and resolves the node's outbox alerts.
 */
describe('checkpoints over MQTT (collector in-process)', { timeout: 120_000 }, () => {
  it('retained and live checkpoints, signed; outbox.retention raises outbox-backlog', async (t) => {
    const dir = tempDir(t, 'bk-checkpoint-')
    const c = await startCollector(
      parseCollectorConfig(
        `dataDir: ${dir}/collector\nmqtt: {host: 127.0.0.1, port: 0}\napi: {host: 127.0.0.1, port: 0}\n` +
          `enrollment: {tokens: [${TOKEN}]}\ningest: {batchIntervalMs: 2, verifyWorkers: 0}\ntls: {plaintext: true}\n`,
        'checkpoint.yaml',
      ),
      { log: captureLog('warn').log },
    )
    t.after(() => c.stop())
    const agent = new FakeAgent('cp-node')
    await NodeSession.enroll(c.mqttUrl, agent, TOKEN)
    const session = await NodeSession.open(c.mqttUrl, agent)
    t.after(() => session.close())
    for (let i = 0; i < 3; i++) {
      await new Promise<void>((resolve) => {
        session.client.publish(nodeTopic(agent.node, 'events'), payload(agent.started(`r${i}`)), { qos: 1 }, () =>
          resolve(),
        )
      })
    }
    await waitFor(() => c.db.prepare("SELECT seq FROM node_high_water WHERE node = 'cp-node'").get(), {
      what: 'events committed',
    })
    c.checkpoints.onVerifiedBackup({
      path: `${dir}/b.db`,
      takenAt: '2026-12-05T08:00:00.000Z',
      highWater: new Map([['cp-node', 2]]),
    })

    const got: Delivered[] = []
    const client = await mqtt.connectAsync(c.mqttUrl, {
      clientId: `backstop-agent-${agent.node}`,
      username: agent.node,
      password: agent.password(),
      clean: false,
      protocolVersion: 4,
      reconnectPeriod: 0,
    })
    t.after(() => client.endAsync(true))
    // The session is persistent (clean: false, like the agent's): acks queued for it earlier arrive here too.
    client.on('message', (topic, p, packet) => {
      if (topic === nodeTopic(agent.node, 'checkpoint')) {
        got.push({ retain: packet.retain, env: JSON.parse(p.toString()) as Envelope<'checkpoint'> })
      }
    })
    await client.subscribeAsync(nodeTopic(agent.node, 'checkpoint'), { qos: 1 })
    await waitFor(() => got.some((g) => g.retain) && got.some((g) => !g.retain), {
      what: 'a retained and a live checkpoint',
    })
    const hw = (c.db.prepare("SELECT seq FROM node_high_water WHERE node = 'cp-node'").get() as { seq: number }).seq
    for (const g of got) {
      assert.equal(g.env.kind, 'checkpoint')
      assert.ok(verifyEnvelopeSignature(g.env, c.collectorPublicKey), 'signed by the collector key')
      assert.equal(g.env.body.coveredSeq, 2)
    }
    const live = got.find((g) => !g.retain)!
    assert.equal(live.env.body.collectorHighWater, hw, 'the live one carries the high-water mark as of now')

    const backlog: BodyOf<'outbox.retention'> = {
      state: 'backlog',
      keptEvents: 1,
      keptBytes: 500,
      oldestKeptAt: '2026-12-01T00:00:00.000Z',
      checkpointSeq: 2,
      uncoveredThrough: 0,
      limits: { maxBytes: 268435456, maxAgeHours: 720, alertAfterHours: 48 },
    }
    const alert = () =>
      c.db.prepare("SELECT state, severity FROM alerts WHERE key = 'outbox-backlog/cp-node'").get() as
        { state: string; severity: string } | undefined
    // The same client id took the node's session over: this client speaks for the node now.
    await client.publishAsync(nodeTopic(agent.node, 'events'), payload(agent.envelope('outbox.retention', backlog)), {
      qos: 1,
    })
    assert.deepEqual(await waitFor(() => alert()?.state === 'firing' && alert(), { what: 'outbox-backlog fires' }), {
      state: 'firing',
      severity: 'warning',
    })
    await client.publishAsync(
      nodeTopic(agent.node, 'events'),
      payload(agent.envelope('outbox.retention', { ...backlog, state: 'ok' })),
      { qos: 1 },
    )
    await waitFor(() => alert()?.state === 'resolved', { what: 'outbox-backlog resolves' })
  })
})
