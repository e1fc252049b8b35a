import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createConnection, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { connectAsync } from 'mqtt'
import { requirePlatform } from '../../../test/support/platform.ts'
import { MemoryOutbox } from '../../src/outbox/memory-outbox.ts'
import { agentEvent, makeTransport, startCollector, waitFor } from './support.ts'

async function freePort(): Promise<number> {
  const srv = createServer()
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()))
  const port = (srv.address() as { port: number }).port
  await new Promise<void>((r) => srv.close(() => r()))
  return port
}

function accepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ port, host: '127.0.0.1' }, () => {
      s.destroy()
      resolve(true)
    })
    s.on('error', () => resolve(false))
  })
}

/** mosquitto on its own port and temp config; the default queue limits would drop QoS 1 bursts, so they are off. */
async function startMosquitto(t: TestContext, port: number, dir: string): Promise<ChildProcess> {
  const conf = join(dir, 'mosquitto.conf')
  writeFileSync(
    conf,
    [
      'per_listener_settings false',
      'allow_anonymous true',
      'persistence false',
      'max_queued_messages 0',
      'max_inflight_messages 0',
      `listener ${port} 127.0.0.1`,
      'log_dest stderr',
      '',
    ].join('\n'),
    { mode: 0o644 },
  )
  const p = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] })
  t.after(() => {
    p.kill('SIGKILL')
  })
  let out = ''
  p.stderr?.on('data', (d: Buffer) => {
    out += d.toString()
  })
  await waitFor(
    () => p.exitCode === null && out.includes('Opening ipv4 listen socket'),
    `mosquitto listening (${out.slice(-300)})`,
  )
  for (let i = 0; i < 100 && !(await accepting(port)); i++) {
    await new Promise((r) => setTimeout(r, 20))
  }
  return p
}

describe('MqttTransport on mosquitto', () => {
  it('survives a broker kill mid-burst and restart: every event stored once, acks eventually complete', async (t) => {
    if (!requirePlatform(t, { commands: ['mosquitto'] })) {
      return
    }
    const dir = mkdtempSync(join(tmpdir(), 'backstop-mosq-'))
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    const port = await freePort()
    let broker = await startMosquitto(t, port, dir)
    // The collector logic of the aedes fake, fed by an MQTT client on mosquitto.
    const fc = await startCollector(t)
    const col = await connectAsync(`mqtt://127.0.0.1:${port}`, {
      clientId: 'fake-collector',
      clean: true,
      reconnectPeriod: 50,
    })
    t.after(() => col.endAsync(true))
    col.on('message', (topic, payload) => fc.ingest(topic, payload))
    col.on('connect', () => void col.subscribe('backstop/v1/+/events', { qos: 1 }))
    await col.subscribeAsync('backstop/v1/+/events', { qos: 1 })
    fc.sendAck = async (topic, payload) => {
      await col.publishAsync(topic, payload, { qos: 1 }).catch(() => undefined)
    }
    const outbox = new MemoryOutbox({ maxBytes: 8 << 20 })
    const { tr } = makeTransport(t, fc, outbox, { url: `mqtt://127.0.0.1:${port}`, ackTimeoutMs: 1000, window: 50 })
    fc.beforeClose.length = 0
    t.after(() => tr.stop())
    tr.start()
    await waitFor(() => tr.status().enrolled, 'enrolled through mosquitto')
    const N = 600
    for (let i = 1; i <= N; i++) {
      await outbox.append(agentEvent(i))
      tr.kick()
      if (i === N / 3) {
        broker.kill('SIGKILL')
      }
      if (i === N / 2) {
        broker = await startMosquitto(t, port, dir)
      }
    }
    await waitFor(() => outbox.stats().pending === 0, 'all acknowledged after the flap', 60_000)
    const seqs = fc.storedSeqs('node-a')
    assert.equal(seqs.length, N, 'each event stored exactly once')
    // Sorted: here the collector is a separate client that also loses its subscription in the flap, so first
    // arrival can have gaps that the ack-timeout replay fills later (the real collector embeds its broker).
    assert.deepEqual(
      [...seqs].sort((a, b) => a - b),
      Array.from({ length: N }, (_, i) => i + 1),
    )
    assert.ok(tr.status().counters.connects >= 2, 'reconnected')
  })
})
