import assert from 'node:assert/strict'
import { request } from 'node:https'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import mqtt, { type MqttClient } from 'mqtt'
import { type AckBody, checkCommand, decodeCommand, type Envelope, nodeTopic } from '@backstop/shared'
import { pinnedTlsOptions } from '../../agent/src/transport/tls-pinning.ts'
import { parseCollectorConfig } from '../../collector/src/config/load.ts'
import { startCollector, type RunningCollector } from '../../collector/src/main.ts'
import { captureLog, FakeAgent, payload, TOKEN } from '../../collector/test/support/harness.ts'

/**
 * The whole trust path through the real collector (startCollector, TLS on by default): pinned mqtts, one-time
 * tokens, approval, revocation of a live session, a signed command and its result, HTTPS for the API.
 */
describe('enrollment, revocation and commands over pinned TLS (real collector)', () => {
  let c: RunningCollector
  let dir: string
  const clients: MqttClient[] = []
  const { log } = captureLog('warn')

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bk-trust-e2e-'))
    const cfg = parseCollectorConfig(
      `dataDir: ${dir}\n` +
        'mqtt: {host: 127.0.0.1, port: 0}\napi: {host: 127.0.0.1, port: 0}\n' +
        `enrollment: {tokens: [${TOKEN}]}\n` +
        'ingest: {batchIntervalMs: 2, verifyWorkers: 0}\ntls: {names: [localhost, 127.0.0.1]}\n',
      'trust.yaml',
    )
    c = await startCollector(cfg, { log })
  })
  after(async () => {
    for (const cl of clients) {
      cl.end(true)
    }
    await c.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  interface Conn {
    client: MqttClient
    acks: AckBody[]
    commands: Buffer[]
    waitFor<T>(get: () => T | undefined, what: string): Promise<T>
  }
  function connect(a: FakeAgent, password: string): Promise<Conn> {
    return new Promise((resolve, reject) => {
      const client = mqtt.connect(c.mqttUrl, {
        clientId: `backstop-agent-${a.node}`,
        username: a.node,
        password,
        clean: false,
        protocolVersion: 4,
        reconnectPeriod: 0,
        connectTimeout: 5000,
        ...pinnedTlsOptions(c.tlsCaCert!, c.tlsFingerprint!),
      })
      clients.push(client)
      const conn: Conn = {
        client,
        acks: [],
        commands: [],
        waitFor: async (get, what) => {
          for (let i = 0; i < 250; i++) {
            const v = get()
            if (v !== undefined) {
              return v
            }
            await new Promise((r) => setTimeout(r, 20))
          }
          throw new Error(`timed out waiting for ${what}; acks ${JSON.stringify(conn.acks)}`)
        },
      }
      client.on('message', (topic, p) => {
        if (topic.endsWith('/ack')) {
          conn.acks.push((JSON.parse(p.toString()) as Envelope<'ack'>).body)
        } else {
          conn.commands.push(p)
        }
      })
      client.once('connect', () => {
        client
          .subscribeAsync([nodeTopic(a.node, 'ack'), nodeTopic(a.node, 'commands')], { qos: 1 })
          .then(() => resolve(conn), reject)
      })
      client.once('error', reject)
    })
  }
  async function enroll(a: FakeAgent, token: string): Promise<{ acked: boolean; code?: string }> {
    const conn = await connect(a, a.password())
    const env = a.enroll(token)
    await conn.client.publishAsync(nodeTopic(a.node, 'events'), payload(env), { qos: 1 })
    const ack = await conn.waitFor(
      () => conn.acks.find((x) => x.acked.includes(env.msgId) || x.rejected.some((r) => r.msgId === env.msgId)),
      `ack of ${env.msgId}`,
    )
    conn.client.end(true)
    const rej = ack.rejected.find((r) => r.msgId === env.msgId)
    return rej ? { acked: false, code: rej.code } : { acked: true }
  }

  it("serves mqtts and HTTPS with the pinned CA; the fingerprint is the CA's", async () => {
    assert.match(c.mqttUrl, /^mqtts:\/\//)
    assert.match(c.apiUrl, /^https:\/\//)
    assert.match(c.tlsFingerprint!, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/)
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${c.apiUrl}/healthz`, { ...pinnedTlsOptions(c.tlsCaCert!, c.tlsFingerprint!) }, (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      })
      req.once('error', reject)
      req.end()
    })
    assert.equal(status, 200)
  })

  it('a one-time token enrolls exactly one node', async () => {
    const t = c.identity.createToken({ ttlMs: 60_000, requireApproval: false, actor: 'test' })
    assert.deepEqual(await enroll(new FakeAgent('edge1'), t.token), { acked: true })
    assert.deepEqual(await enroll(new FakeAgent('edge2'), t.token), { acked: false, code: 'BK_ERR_ENROLL_TOKEN' })
    assert.deepEqual(await enroll(new FakeAgent('edge3'), 'bk_abcdefgh_' + 'x'.repeat(43)), {
      acked: false,
      code: 'BK_ERR_ENROLL_TOKEN',
    })
  })

  it('an approval token parks the node until an admin approves', async () => {
    const t = c.identity.createToken({ ttlMs: 60_000, requireApproval: true, actor: 'test' })
    const nas = new FakeAgent('nas1')
    assert.deepEqual(await enroll(nas, t.token), { acked: false, code: 'BK_ERR_ENROLL_PENDING' })
    c.identity.approve('nas1', 'test')
    assert.deepEqual(await enroll(nas, t.token), { acked: true })
  })

  it('a signed command reaches the node, verifies against the collector key, and its result is recorded', async () => {
    const a = new FakeAgent('cmd1')
    assert.deepEqual(await enroll(a, TOKEN), { acked: true })
    const conn = await connect(a, a.password())
    const cmd = c.commands.issue({ node: 'cmd1', kind: 'run-job', args: { job: 'etc-archive' }, requestedBy: 'test' })
    const wire = decodeCommand(await conn.waitFor(() => conn.commands[0], 'command'))
    checkCommand(wire, { collectorPublicKey: c.collectorPublicKey, node: 'cmd1', now: new Date(), allow: ['run-job'] })
    const result = a.envelope('command.result', {
      commandId: cmd.id,
      kind: 'run-job',
      status: 'succeeded',
      runId: 'r-9',
      at: new Date().toISOString(),
    })
    await conn.client.publishAsync(nodeTopic('cmd1', 'events'), payload(result), { qos: 1 })
    await conn.waitFor(() => conn.acks.find((x) => x.acked.includes(result.msgId)), 'result ack')
    assert.equal(c.commands.get(cmd.id)!.status, 'succeeded')
  })

  it('revoking a node drops its live session and refuses its reconnect and re-enrollment', async () => {
    const a = new FakeAgent('gone1')
    assert.deepEqual(await enroll(a, TOKEN), { acked: true })
    const conn = await connect(a, a.password())
    const closed = new Promise<void>((r) => conn.client.once('close', () => r()))
    c.identity.revoke('gone1', 'test', 'stolen')
    await closed
    await assert.rejects(connect(a, a.password()), /Bad username or password/i)
  })
})
