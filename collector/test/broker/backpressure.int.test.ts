import assert from 'node:assert/strict'
import { createServer, type AddressInfo } from 'node:net'
import { test } from 'node:test'
import mqtt from 'mqtt'
import { nodeTopic } from '@backstop/shared'
import { createBroker } from '../../src/broker/broker.ts'
import { createKeyRing } from '../../src/ingest/key-ring.ts'
import { createCounters } from '../../src/metrics/counters.ts'
import { captureLog, FakeAgent } from '../support/harness.ts'

/**
 * Backpressure: once a connection has `maxUnsettled` events waiting for their commit, aedes stops reading its
 * socket; settling them resumes the flow. And an event settled with an error after an early release closes the
 * connection (the agent must replay).
 */
test('a publisher cannot run ahead of the ingest by more than the window (plus one socket read)', async (t) => {
  const agent = new FakeAgent('bp1')
  const keys = createKeyRing({ list: () => [] })
  keys.pin('bp1', agent.keys.publicKey)
  const held: ((err?: Error) => void)[] = []
  const { log } = captureLog('warn')
  const broker = await createBroker({
    keys,
    counters: createCounters(),
    log,
    now: () => new Date(),
    maxUnsettled: 10,
    onEvent: (_node, _payload, done) => {
      held.push(done)
    },
    onStatus: () => {},
  })
  const server = createServer(broker.aedes.handle)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.after(async () => {
    server.close()
    await broker.close()
  })
  const client = mqtt.connect(`mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`, {
    clientId: 'backstop-agent-bp1',
    username: 'bp1',
    password: agent.password(),
    reconnectPeriod: 0,
  })
  t.after(() => client.end(true))
  await new Promise((r) => client.once('connect', r))
  const body = Buffer.alloc(8 * 1024, 0x61) // 8 KiB: a 64 KiB socket read holds at most ~8 of them
  for (let i = 0; i < 200; i++) {
    client.publish(nodeTopic('bp1', 'events'), body, { qos: 1 })
  }
  const settle = async (): Promise<void> => new Promise((r) => setTimeout(r, 300))
  await settle()
  const firstWave = held.length
  assert.ok(firstWave >= 10, `the window is used: ${firstWave}`)
  assert.ok(firstWave <= 10 + 16, `reading stopped near the window: ${firstWave} handed to the ingest`)
  // settle what is held: the flow resumes, each wave still bounded, until all 200 arrived
  let delivered = firstWave
  for (let round = 0; round < 200 && delivered < 200; round++) {
    for (const done of held.splice(0)) {
      done()
    }
    await new Promise((r) => setTimeout(r, 50))
    assert.ok(held.length <= 10 + 16, `wave ${round}: ${held.length}`)
    delivered += held.length
  }
  assert.equal(delivered, 200)
  for (const done of held.splice(0)) {
    done()
  }
  const closed = new Promise<void>((r) => client.once('close', () => r()))
  // an error after an early release closes the connection
  client.publish(nodeTopic('bp1', 'events'), body, { qos: 1 })
  await new Promise((r) => setTimeout(r, 100))
  held.shift()?.(new Error('commit failed'))
  await closed
})
