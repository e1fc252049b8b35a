import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { test } from 'node:test'
import Database from 'better-sqlite3'
import mqtt from 'mqtt'
import { nodeTopic, type Envelope } from '@backstop/shared'
import { FakeAgent, payload, tempDir, TOKEN } from '../support/harness.ts'

const bin = fileURLToPath(new URL('../../bin/backstop-collector.mjs', import.meta.url))

/**
 * The receipt guarantee across a crash: kill -9 the collector in the middle of a burst; every msgId it acked must be
 * in the database afterwards (the ack follows the commit, and synchronous=FULL makes the commit durable).
 */
test('every acked event survives kill -9 of the collector mid-burst', async (t) => {
  const dir = tempDir(t)
  const cfg = join(dir, 'collector.yaml')
  writeFileSync(
    cfg,
    `dataDir: ${dir}/data\nmqtt: {host: 127.0.0.1, port: 0}\napi: {host: 127.0.0.1, port: 0}\n` +
      `enrollment: {tokens: [${TOKEN}]}\ningest: {verifyWorkers: 1, batchSize: 50}\n` +
      'log: {level: warn}\ntls: {plaintext: true}\n',
  )
  const child = spawn(process.execPath, [bin, 'run', '--config', cfg], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.after(() => child.kill('SIGKILL'))
  const mqttUrl = await new Promise<string>((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      const m = /MQTT (mqtt:\/\/\S+)/.exec(out)
      if (m) {
        resolve(m[1] as string)
      }
    })
    child.once('exit', (code) => reject(new Error(`collector exited early (${code})`)))
  })
  const agent = new FakeAgent('burst1')
  const pending = mqtt.connect(mqttUrl, {
    clientId: 'backstop-agent-burst1',
    username: 'burst1',
    password: 'x',
    reconnectPeriod: 0,
  })
  await new Promise((r) => pending.once('connect', r))
  await pending.subscribeAsync(nodeTopic('burst1', 'ack'), { qos: 1 })
  const enrolled = new Promise((r) => pending.once('message', r))
  await pending.publishAsync(nodeTopic('burst1', 'events'), payload(agent.enroll()), { qos: 1 })
  await enrolled
  pending.end(true)

  const client = mqtt.connect(mqttUrl, {
    clientId: 'backstop-agent-burst1',
    username: 'burst1',
    password: agent.password(),
    clean: false,
    reconnectPeriod: 0,
  })
  client.on('error', () => {})
  await new Promise((r) => client.once('connect', r))
  await client.subscribeAsync(nodeTopic('burst1', 'ack'), { qos: 1 })
  const acked = new Set<string>()
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  client.on('message', (_t, p) => {
    for (const id of (JSON.parse(p.toString('utf8')) as Envelope<'ack'>).body.acked) {
      acked.add(id)
    }
    if (acked.size >= 300 && child.exitCode === null) {
      child.kill('SIGKILL')
    }
  })
  for (let i = 0; i < 3000; i++) {
    client.publish(nodeTopic('burst1', 'events'), payload(agent.started(`r${i}`)), { qos: 1 })
  }
  await exited
  client.end(true)
  assert.ok(acked.size >= 300, `acks before the kill: ${acked.size}`)
  const db = new Database(join(dir, 'data', 'collector.db'), { readonly: true })
  t.after(() => db.close())
  const stored = new Set(
    (db.prepare('SELECT msg_id FROM events WHERE node = ?').all('burst1') as { msg_id: string }[]).map((r) => r.msg_id),
  )
  const lost = [...acked].filter((id) => !stored.has(id))
  assert.deepEqual(lost, [], 'acked but not stored after the crash')
  assert.ok(stored.size < 3000, 'the kill landed mid-burst')
  // per-node order: stored rows follow the publish order
  const seqs = (db.prepare('SELECT seq FROM events WHERE node = ? ORDER BY id').all('burst1') as { seq: number }[]).map(
    (r) => r.seq,
  )
  assert.deepEqual(
    seqs,
    [...seqs].sort((a, b) => a - b),
  )
})
