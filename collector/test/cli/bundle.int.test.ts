import assert from 'node:assert/strict'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { fileURLToPath } from 'node:url'
import mqtt from 'mqtt'
import { nodeTopic, type AckBody, type Envelope } from '@backstop/shared'
import { waitFor } from '../../../test/support/wait-for.ts'
import { FakeAgent, payload, tempDir, TOKEN } from '../support/harness.ts'

/**
 * The shipped collector: `collector/scripts/build.mjs` bundles it to plain JavaScript, and production runs that
 * bundle with plain `node` (no tsx loader), next to the production node_modules (here: a link to the workspace's).
 */
const collectorDir = fileURLToPath(new URL('../..', import.meta.url))
const collectorPackage = JSON.parse(readFileSync(join(collectorDir, 'package.json'), 'utf8')) as { version: string }
const COMMIT = 'bundle-test-0123abcd'

/** Plain node: no --import tsx, no NODE_OPTIONS inherited from the test runner. */
function plainNode(args: string[]): ChildProcess {
  const env = { ...process.env }
  delete env['NODE_OPTIONS']
  return spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
}

function buildInto(t: TestContext): string {
  const dir = tempDir(t, 'bk-bundle-')
  const built = spawnSync(process.execPath, [join(collectorDir, 'scripts/build.mjs'), '--out', join(dir, 'dist')], {
    encoding: 'utf8',
    env: { ...process.env, BACKSTOP_BUILD_COMMIT: COMMIT },
    timeout: 120_000,
  })
  assert.equal(built.status, 0, `build failed: ${built.stderr}`)
  symlinkSync(join(collectorDir, 'node_modules'), join(dir, 'node_modules'))
  return join(dir, 'dist', 'backstop-collector.mjs')
}

function enrollOverMqtt(mqttUrl: string, agent: FakeAgent): Promise<AckBody> {
  const client = mqtt.connect(mqttUrl, {
    clientId: `backstop-agent-${agent.node}`,
    username: agent.node,
    password: 'not-enrolled-yet',
    protocolVersion: 4,
    reconnectPeriod: 0,
  })
  const enroll = agent.enroll()
  return new Promise<AckBody>((resolve, reject) => {
    client.on('message', (_topic, p) => {
      const ack = (JSON.parse(p.toString('utf8')) as Envelope<'ack'>).body
      if (ack.acked.includes(enroll.msgId)) {
        resolve(ack)
      }
    })
    client.once('error', reject)
    client.once('connect', () => {
      client
        .subscribeAsync(nodeTopic(agent.node, 'ack'), { qos: 1 })
        .then(() => client.publishAsync(nodeTopic(agent.node, 'events'), payload(enroll), { qos: 1 }))
        .catch(reject)
    })
  }).finally(() => client.end(true))
}

describe('the collector bundle runs on plain node', { timeout: 180_000 }, () => {
  it('prints its version and embedded commit, serves /healthz, verifies in its worker, stops on SIGTERM', async (t) => {
    const bundle = buildInto(t)
    const version = spawnSync(process.execPath, [bundle, '--version'], { encoding: 'utf8', timeout: 30_000 })
    assert.equal(version.status, 0, version.stderr)
    assert.equal(version.stdout.trim(), `backstop-collector ${collectorPackage.version} (commit ${COMMIT})`)

    const dir = tempDir(t, 'bk-bundle-run-')
    const cfg = join(dir, 'collector.yaml')
    writeFileSync(
      cfg,
      `dataDir: ${dir}/data\nmqtt: {host: 127.0.0.1, port: 0}\napi: {host: 127.0.0.1, port: 0}\n` +
        `enrollment: {tokens: [${TOKEN}]}\ningest: {verifyWorkers: 1}\nlog: {level: warn}\ntls: {plaintext: true}\n`,
    )
    const child = plainNode([bundle, 'run', '--config', cfg])
    t.after(() => child.kill('SIGKILL'))
    let out = ''
    let err = ''
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()))
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
    const urls = await waitFor(() => /API (http:\/\/\S+)\s+MQTT (mqtt:\/\/\S+)/.exec(out) ?? undefined, {
      what: `the bundle to print its URLs (stderr: ${err})`,
      timeoutMs: 60_000,
    })

    const health = await fetch(`${urls[1]}/healthz`)
    assert.equal(health.status, 200, 'healthz answers without credentials')
    assert.deepEqual(await health.json(), { ok: true, db: true, broker: true })

    // The enroll envelope is signature-checked by the verify worker (dist/verify-worker-boot.mjs).
    const agent = new FakeAgent('bundle-node')
    const ack = await enrollOverMqtt(urls[2] as string, agent)
    assert.ok(ack.enrollment?.collectorPublicKey, `enrollment answered: ${JSON.stringify(ack)}`)
    // pino logs to stdout; a worker that cannot load logs "verification worker crashed" and the main thread takes over.
    assert.doesNotMatch(out, /verification worker/, 'the worker loaded from the bundle')

    child.kill('SIGTERM')
    assert.equal(await exited, 0, err)
  })
})
