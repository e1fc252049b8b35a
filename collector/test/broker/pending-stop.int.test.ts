import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test, type TestContext } from 'node:test'
import mqtt from 'mqtt'
import { nodeTopic } from '@backstop/shared'
import { parseCollectorConfig } from '../../src/config/load.ts'
import { startCollector } from '../../src/main.ts'
import { captureLog, FakeAgent, payload, TOKEN } from '../support/harness.ts'
import { apiFetch } from '../support/app-deps.ts'
import { waitFor } from '../../../test/support/wait-for.ts'

/** A collector with a 400 ms batch interval and one MQTT client of node pve7 that has not enrolled yet. */
async function collectorAndClient(t: TestContext) {
  const dir = mkdtempSync(join(tmpdir(), 'bk-pending-stop-'))
  const cfg = parseCollectorConfig(
    `dataDir: ${dir}\nmqtt: {host: 127.0.0.1, port: 0}\napi: {host: 127.0.0.1, port: 0}\n` +
      `enrollment: {tokens: [${TOKEN}]}\ningest: {batchIntervalMs: 400, verifyWorkers: 1}\ntls: {plaintext: true}\n`,
    'test.yaml',
  )
  const c = await startCollector(cfg, { log: captureLog('warn').log })
  t.after(async () => {
    await c.stop()
    rmSync(dir, { recursive: true, force: true })
  })
  const agent = new FakeAgent('pve7')
  const client = await mqtt.connectAsync(c.mqttUrl, {
    clientId: 'backstop-agent-pve7',
    username: 'pve7',
    password: 'not-enrolled-yet',
    clean: false,
    protocolVersion: 4,
    reconnectPeriod: 0,
  })
  const api = apiFetch(c, 'viewer')
  const view = async (): Promise<Record<string, unknown> | undefined> => {
    const nodes = ((await (await api('/api/v1/nodes')).json()) as { nodes: Record<string, unknown>[] }).nodes
    return nodes.find((x) => x['node'] === 'pve7')
  }
  /** pve7 as GET /api/v1/nodes shows it, once `ready` holds. */
  const viewWhen = (ready: (n: Record<string, unknown>) => boolean, what: string) =>
    waitFor(
      async () => {
        const n = await view()
        return n !== undefined && ready(n) ? n : undefined
      },
      { what, timeoutMs: 20_000 },
    )
  const publishStatus = (state: string, reason?: string): Promise<unknown> => {
    const body = JSON.stringify({ state, ts: new Date().toISOString(), ...(reason ? { reason } : {}) })
    return client.publishAsync(nodeTopic('pve7', 'status'), Buffer.from(body), { qos: 1, retain: true })
  }
  const publishEvent = (env: unknown): Promise<unknown> =>
    client.publishAsync(nodeTopic('pve7', 'events'), payload(env), { qos: 1 })
  return { agent, client, viewWhen, publishStatus, publishEvent }
}

/**
 * An agent stopped within a second of its first start: it publishes its enrollment and, on SIGTERM, its retained
 * `offline`, then disconnects cleanly (no Will) — all before the enrollment commits. The status came from a
 * client that had proved no key yet; once the enrollment pins the key, the node must show what it left with,
 * not the `online` its enrollment implies.
 */
test('a node that stopped before its enrollment committed shows offline (shutdown), not online', async (t) => {
  const { agent, client, viewWhen, publishStatus, publishEvent } = await collectorAndClient(t)
  await publishStatus('online')
  await publishEvent(agent.enroll())
  await publishStatus('offline', 'shutdown')
  await client.endAsync()
  const node = await viewWhen((n) => n['status'] === 'offline', 'pve7 offline')
  assert.equal(node['statusReason'], 'shutdown')
})

/**
 * The enrollment committed while the client was still connected: its stop's `offline` is recorded at once. An event
 * of the same connection that settles after it left (a heartbeat still in its batch) must not bring back the birth
 * `online` held while the client was pending.
 */
test('a stop right after the enrollment committed stays offline when the last batch settles after it', async (t) => {
  const { agent, client, viewWhen, publishStatus, publishEvent } = await collectorAndClient(t)
  await publishStatus('online')
  await publishEvent(agent.enroll())
  await viewWhen((n) => n['status'] === 'online', 'pve7 enrolled')
  await publishEvent(agent.heartbeat())
  await publishStatus('offline', 'shutdown')
  await client.endAsync()
  const node = await viewWhen((n) => n['heartbeatAt'] !== null, 'the heartbeat committed')
  assert.equal(node['status'], 'offline', JSON.stringify(node))
  assert.equal(node['statusReason'], 'shutdown')
})

/**
 * The other order: the stop's `offline` arrived while the client was pending (held), the enrollment committed while
 * it was still connected, then it disconnected cleanly. The held `offline` is recorded at the disconnect.
 */
test('an offline sent while pending is recorded when the client leaves after its enrollment committed', async (t) => {
  const { agent, client, viewWhen, publishStatus, publishEvent } = await collectorAndClient(t)
  await publishStatus('online')
  await publishEvent(agent.enroll())
  await publishStatus('offline', 'restart')
  await viewWhen(() => true, 'pve7 enrolled')
  await client.endAsync()
  const node = await viewWhen((n) => n['status'] === 'offline', 'pve7 offline')
  assert.equal(node['statusReason'], 'restart')
})
