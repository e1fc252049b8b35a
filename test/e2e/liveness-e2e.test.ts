import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { alertTopics } from '@backstop/shared'
import mqtt, { type MqttClient } from 'mqtt'
import {
  agentBin,
  agentConfig,
  collectorBin,
  collectorSetup,
  getJson,
  startProc,
  tempDir,
  type Proc,
} from '../support/processes.ts'
import { waitFor } from '../support/wait-for.ts'

interface NodeView {
  node: string
  status: string
  statusAt: string | null
  statusReason: string | null
}
interface AlertView {
  key: string
  state: string
  severity: string
  summary: string
  since: string
}

/** Short enough for a test, long enough for a restarted agent to come back inside it on a loaded box. */
const DOWN_AFTER_S = 15

/** `backstop-collector token operator <name>`: read-only MQTT credentials for backstop/v1/alerts/#. */
function operatorCredentials(config: string): Promise<{ username: string; password: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [collectorBin, 'token', 'operator', 'it-dashboard', '--config', config],
      { timeout: 30_000 },
      (err, stdout, stderr) => {
        const username = /username: (\S+)/.exec(stdout)?.[1]
        const password = /password: (\S+)/.exec(stdout)?.[1]
        if (err !== null || username === undefined || password === undefined) {
          reject(new Error(`token operator failed: ${err?.message ?? ''} ${stderr.trim()}`))
          return
        }
        resolve({ username, password })
      },
    )
  })
}

/** An operator client subscribed to every alert topic; records the last payload per topic (retained included). */
async function alertSubscriber(t: TestContext, url: string, creds: { username: string; password: string }) {
  const seen = new Map<string, Record<string, unknown>>()
  const client: MqttClient = await mqtt.connectAsync(url, { ...creds, reconnectPeriod: 0, clean: true })
  t.after(() => client.end(true))
  client.on('message', (topic, payload) => {
    if (payload.length > 0) {
      seen.set(topic, JSON.parse(payload.toString()) as Record<string, unknown>)
    }
  })
  await client.subscribeAsync('backstop/v1/alerts/#', { qos: 1 })
  return { seen, client }
}

describe('liveness without noise: real collector, real agents, real MQTT', { timeout: 240_000 }, () => {
  it('SIGTERM: shutdown, no page; kill -9: page after the delay; once keeps status; restart republishes', async (t) => {
    const dir = tempDir(t)
    const sample = join(dir, 'sample')
    mkdirSync(sample, { recursive: true })
    writeFileSync(join(sample, 'hosts'), '127.0.0.1 localhost\n')
    const c = await collectorSetup(dir, { ledger: { nodeDownAfterS: DOWN_AFTER_S } })
    let collector = await c.start()
    const token = await c.apiToken('viewer')
    const procs: Proc[] = []
    t.after(async () => {
      for (const p of procs) {
        await p.kill9()
      }
      await collector.kill9()
    })
    const node = (n: string): Promise<NodeView> => getJson<NodeView>(`${c.apiUrl}/api/v1/nodes/${n}`, token)
    const alerts = async (n: string): Promise<AlertView[]> =>
      (await getJson<{ alerts: AlertView[] }>(`${c.apiUrl}/api/v1/alerts?node=${n}&kind=node-down`, token)).alerts
    const calmCfg = agentConfig(dir, c.mqttUrl, {
      node: 'calm',
      jobs: [
        {
          kind: 'archive',
          name: 'etc',
          schedule: '0 3 1 1 *',
          catchUp: false,
          paths: [sample],
          destination: join(dir, 'backups'),
          retention: { keep: { last: 2 } },
          media: 'hdd',
        },
      ],
    })
    const crashCfg = agentConfig(dir, c.mqttUrl, { node: 'crash' })
    const run = (cfg: string, name: string): Proc => {
      const p = startProc([agentBin, 'run', '--config', cfg], join(dir, `${name}.log`))
      procs.push(p)
      return p
    }
    const online = (n: string) =>
      waitFor(async () => (await node(n)).status === 'online', { what: `${n} online`, timeoutMs: 60_000 })

    let calm = run(calmCfg, 'calm')
    const crash = run(crashCfg, 'crash')
    await online('calm')
    await online('crash')

    // A graceful stop (systemd's SIGTERM on upgrade or reboot) is recorded as such, and pages nobody.
    assert.equal(await calm.stop(), 0)
    const stopped = await waitFor(
      async () => {
        const n = await node('calm')
        return n.status === 'offline' ? n : undefined
      },
      { what: 'calm offline', timeoutMs: 20_000 },
    )
    assert.equal(stopped.statusReason, 'shutdown', 'the agent said why, the broker did not fire its Will')
    // A crash: the broker fires the Will.
    await crash.kill9()
    const lost = await waitFor(
      async () => {
        const n = await node('crash')
        return n.status === 'offline' ? n : undefined
      },
      { what: 'crash offline (Last Will)', timeoutMs: 20_000 },
    )
    assert.equal(lost.statusReason, 'lost')
    assert.deepEqual(await alerts('crash'), [], 'no instant node-down for a lost node either')

    calm = run(calmCfg, 'calm-again')
    await online('calm')
    const back = Date.now()
    assert.ok(
      back - Date.parse(stopped.statusAt!) < DOWN_AFTER_S * 1000,
      `calm came back inside the delay (${back - Date.parse(stopped.statusAt!)} ms); ` +
        'otherwise this test proves nothing',
    )

    // The operator credentials for the restart part are made while the node-down delay runs out.
    const credsMade = operatorCredentials(c.config)
    credsMade.catch(() => undefined) // awaited below; not an unhandled rejection meanwhile
    const down = await waitFor(async () => (await alerts('crash')).find((a) => a.state === 'firing'), {
      what: 'node-down of the killed node',
      timeoutMs: (DOWN_AFTER_S + 30) * 1000,
    })
    assert.equal(down.severity, 'critical')
    assert.match(down.summary, /connection lost: last will/)
    assert.equal(
      Date.parse(down.since) - Date.parse(lost.statusAt!),
      DOWN_AFTER_S * 1000,
      'node-down is dated at the end of the delay',
    )
    // calm's own deadline (stop + delay) came before crash's: had it been due, it would have fired by now.
    assert.deepEqual(await alerts('calm'), [], 'a stop that came back within the delay never raised node-down')

    // `once` on a node whose daemon is stopped: its events arrive, the recorded status stays the daemon's.
    assert.equal(await calm.stop(), 0)
    const before = await waitFor(
      async () => {
        const n = await node('calm')
        return n.status === 'offline' ? n : undefined
      },
      { what: 'calm offline again', timeoutMs: 20_000 },
    )
    const once = startProc([agentBin, 'once', 'etc', '--config', calmCfg], join(dir, 'once.log'))
    procs.push(once)
    assert.equal(await once.exited(), 0, once.output())
    const runs = await getJson<{ runs: { job: string; trigger: string | null; status: string }[] }>(
      `${c.apiUrl}/api/v1/runs?node=calm&job=etc`,
      token,
    )
    assert.deepEqual(
      runs.runs.map((r) => [r.trigger, r.status]),
      [['manual', 'success']],
      "once's events were delivered and acknowledged",
    )
    const after = await node('calm')
    assert.deepEqual(
      [after.status, after.statusAt, after.statusReason],
      [before.status, before.statusAt, before.statusReason],
      "once did not touch the daemon's status (no online, no offline, no Will)",
    )

    // The collector's own status and the retained alert states outlive a collector restart.
    const creds = await credsMade
    const live = await alertSubscriber(t, c.mqttUrl, creds)
    await waitFor(() => live.seen.get(alertTopics.collectorStatus)?.['state'] === 'online', {
      what: 'collector online (retained)',
    })
    assert.equal(await collector.stop(), 0)
    assert.deepEqual(
      [live.seen.get(alertTopics.collectorStatus)?.['state'], live.seen.get(alertTopics.collectorStatus)?.['reason']],
      ['offline', 'shutdown'],
      'a graceful collector stop says so before the broker closes',
    )
    collector = await c.start()
    const fresh = await alertSubscriber(t, c.mqttUrl, creds)
    const state = await waitFor(() => fresh.seen.get(alertTopics.state('node-down/crash')), {
      what: 'retained node-down state after the restart',
    })
    assert.deepEqual([state['state'], state['severity']], ['firing', 'critical'])
    await waitFor(() => fresh.seen.get(alertTopics.collectorStatus)?.['state'] === 'online', {
      what: 'collector online after the restart (retained)',
    })
  })
})
