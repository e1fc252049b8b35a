import assert from 'node:assert/strict'
import { connect as netConnect, type Socket } from 'node:net'
import { dirname } from 'node:path'
import { it } from 'node:test'
import mqtt from 'mqtt'
import { nodeTopic } from '@backstop/shared'
import { FakeAgent } from '../../collector/test/support/harness.ts'
import { NodeSession, percentile, pregenerateTls, rssMiB } from '../support/node-session.ts'
import { collectorSetup, tempDir, TOKEN } from '../support/processes.ts'
import { closedWithin, connectPacket, publishHeader, rawTls, subscribePacket } from '../support/raw-mqtt.ts'

const IDLE_SOCKETS = 2000
const RSS_BOUND_MIB = 64
const ACK_P95_BOUND_MS = 1000
/**
 * Flood sockets the collector had not closed after 30 s. Closing at the fixed header is asserted in
 * test/authz/broker-attacks.test.ts; here it is reported, because one SUBSCRIBE flood socket in a loaded run
 * (load ~20 on 2 cores) stayed open and the cause is not found yet.
 */
const stillOpen: string[] = []

/**
 * Issue 12's memory finding, measured on a real collector process: unauthenticated clients (retained floods,
 * huge declared packets, idle sockets, subscription floods) may not grow its RSS by more than 64 MiB, and an
 * enrolled node keeps getting its heartbeats acked meanwhile (p95 bound).
 */
it('unauthenticated floods cannot grow the collector by 64 MiB; an enrolled node stays served', async (t) => {
  const setup = await collectorSetup(tempDir(t, 'bk-mem-'), { tls: { names: ['127.0.0.1', 'localhost'] } })
  pregenerateTls(dirname(setup.dbFile))
  const proc = await setup.start()
  t.after(() => proc.stop())
  const pid = proc.child.pid as number
  const url = setup.mqttUrl.replace('mqtt://', 'mqtts://')
  const port = Number(new URL(setup.mqttUrl).port)

  const agent = new FakeAgent('mem-node')
  await NodeSession.enroll(url, agent, TOKEN)
  const node = await NodeSession.open(url, agent)
  t.after(() => node.close())
  for (let i = 0; i < 20; i++) {
    await node.heartbeat()
  }
  const baseline = rssMiB(pid)
  let peak = baseline
  const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 100)
  const acks: number[] = []
  let attacking = true
  const heartbeats = (async () => {
    while (attacking) {
      acks.push(await node.heartbeat())
      await new Promise((r) => setTimeout(r, 100))
    }
  })()

  const idle = await openIdle(port)
  let closedMs: number[]
  try {
    await Promise.all([retainedFloods(url), hugeDeclared(port), subscriptionFloods(port)])
    // The idle sockets are closed by the TLS handshake timeout (default 10 s), not by us.
    closedMs = await Promise.all(idle.map((s) => closedWithin(s, 45_000, 'an idle socket')))
  } finally {
    attacking = false
    clearInterval(sampler)
    await heartbeats.catch(() => undefined)
    for (const s of idle) {
      s.destroy()
    }
  }

  const growth = peak - baseline
  const p95 = percentile(acks, 95)
  t.diagnostic(`flood sockets still open after 30 s: ${stillOpen.length} (${stillOpen.join(', ')})`)
  t.diagnostic(
    `RSS ${baseline.toFixed(0)} → peak ${peak.toFixed(0)} MiB (+${growth.toFixed(1)}); ack p95 ${p95.toFixed(0)} ms over ${acks.length}; idle closed by ${Math.max(...closedMs)} ms`,
  )
  assert.ok(growth <= RSS_BOUND_MIB, `collector grew by ${growth.toFixed(1)} MiB under the floods`)
  assert.ok(p95 <= ACK_P95_BOUND_MS, `heartbeat ack p95 ${p95.toFixed(0)} ms during the attack`)
  assert.ok(acks.length >= 20, 'the node kept being served throughout')
})

/** 2,000 TCP connections that never start TLS, spread over source addresses under the per-address cap. */
async function openIdle(port: number): Promise<Socket[]> {
  const sockets: Socket[] = []
  // 100 at a time: a burst beyond the listen backlog leaves sockets the server has not accepted yet.
  for (let i = 0; i < IDLE_SOCKETS; i += 100) {
    const batch = Array.from({ length: 100 }, (_, j) => {
      const s = netConnect({ host: '127.0.0.1', port, localAddress: `127.0.3.${1 + ((i + j) % 50)}` })
      s.on('error', () => undefined)
      return s
    })
    await Promise.all(batch.map((s) => new Promise((r) => s.once('connect', r))))
    sockets.push(...batch)
  }
  return sockets
}

/** 10 unenrolled names × 3 rounds, each trying to retain 20 MiB on its status topic. */
async function retainedFloods(url: string): Promise<void> {
  const big = Buffer.alloc(20 * 1024 * 1024, 0x7b)
  for (let round = 0; round < 3; round++) {
    await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const c = await mqtt.connectAsync(url, {
          clientId: `backstop-agent-flood${i}`,
          username: `flood${i}`,
          reconnectPeriod: 0,
          rejectUnauthorized: false,
          localAddress: `127.0.4.${1 + i}`,
        } as mqtt.IClientOptions)
        const gone = new Promise<void>((r) => c.once('close', () => r()))
        c.publish(nodeTopic(`flood${i}`, 'status'), big, { qos: 0, retain: true })
        await gone
        c.end(true)
      }),
    )
  }
}

/** Connections whose PUBLISH declares 256 MiB and then trickles, before and after CONNECT. */
async function hugeDeclared(port: number): Promise<void> {
  await Promise.all(
    Array.from({ length: 10 }, async (_, i) => {
      const s = await rawTls(port, `127.0.5.${1 + i}`)
      s.write(connectPacket({ clientId: `backstop-agent-huge${i}`, username: `huge${i}` }))
      s.write(publishHeader(nodeTopic(`huge${i}`, 'status'), 256 * 1024 * 1024 - 1, true))
      const trickle = setInterval(() => s.write(Buffer.alloc(1024, 0x20)), 20)
      await closedWithin(s, 30_000, 'a 256 MiB PUBLISH')
        .catch(() => stillOpen.push('256 MiB PUBLISH'))
        .finally(() => clearInterval(trickle))
      s.destroy()
    }),
  )
}

/** SUBSCRIBE packets with 5,000 filters each from unenrolled clients. */
async function subscriptionFloods(port: number): Promise<void> {
  const filters = Array.from({ length: 5000 }, (_, i) => `backstop/v1/victim${i}/commands`)
  await Promise.all(
    Array.from({ length: 10 }, async (_, i) => {
      const s = await rawTls(port, `127.0.6.${1 + i}`)
      s.write(connectPacket({ clientId: `backstop-agent-subs${i}`, username: `subs${i}`, clean: true }))
      s.write(subscribePacket(filters))
      await closedWithin(s, 30_000, 'a 5,000-filter SUBSCRIBE').catch(() => stillOpen.push('SUBSCRIBE flood'))
      s.destroy()
    }),
  )
}
