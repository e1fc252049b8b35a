import assert from 'node:assert/strict'
import { connect as netConnect, type Socket } from 'node:net'
import { dirname } from 'node:path'
import { it } from 'node:test'
import mqtt from 'mqtt'
import { nodeTopic } from '@backstop/shared'
import { defaultBrokerLimits } from '../../collector/src/broker/limits.ts'
import { FakeAgent } from '../../collector/test/support/harness.ts'
import { NodeSession, percentile, pregenerateTls, rssMiB } from '../support/node-session.ts'
import { collectorSetup, tempDir, TOKEN } from '../support/processes.ts'
import { closedWithin, connectPacket, publishHeader, rawTls, subscribePacket } from '../support/raw-mqtt.ts'
import { serverHeldSockets } from '../support/tcp-table.ts'
import { waitFor } from '../support/wait-for.ts'

const IDLE_SOCKETS = 2000
const RSS_BOUND_MIB = 64
const ACK_P95_BOUND_MS = 1000
/** Grace on top of a collector timeout before a flood socket still open fails the test (a loaded CI machine). */
const GRACE_MS = 20_000
/** Huge-declared and SUBSCRIBE floods are closed at their fixed header; this is how long that may take under load. */
const AT_HEADER_MS = 30_000
/** Source addresses of the floods: idle sockets, retained floods, huge declared packets, SUBSCRIBE floods. */
const FLOOD_FROM = ['127.0.3.', '127.0.4.', '127.0.5.', '127.0.6.']

interface IdleSocket {
  readonly socket: Socket
  readonly openedAt: number
  /** Milliseconds from opening until the collector closed it. */
  closedMs?: number
}

/**
 * Issue 12's memory finding, measured on a real collector process: unauthenticated clients (retained floods,
 * huge declared packets, idle sockets, subscription floods) may not grow its RSS by more than 64 MiB, and an
 * enrolled node keeps getting its heartbeats acked meanwhile (p95 bound). Every flood socket must have been
 * closed by the collector — seen from the client and in the kernel's TCP table on the collector's side — by the
 * time its timeout (plus a grace) has passed: a socket left open is a failure, not a diagnostic.
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
  try {
    await Promise.all([retainedFloods(url), hugeDeclared(port), subscriptionFloods(port)])
    // The idle sockets are closed by the TLS handshake timeout, not by us: each within it (+ grace) of its opening.
    const lastOpened = Math.max(...idle.map((i) => i.openedAt))
    await waitFor(
      () => {
        const open = idle.filter((i) => i.closedMs === undefined).length
        return open === 0 || assert.fail(`${open} of ${IDLE_SOCKETS} idle never-TLS sockets still open`)
      },
      {
        what:
          `the collector's TLS handshake timeout (${defaultBrokerLimits.tlsHandshakeTimeoutMs} ms) ` +
          'to close every idle socket',
        timeoutMs: Math.max(0, lastOpened + defaultBrokerLimits.tlsHandshakeTimeoutMs + GRACE_MS - Date.now()),
        intervalMs: 100,
      },
    )
    // The collector's own side: it holds none of the flood connections (ESTABLISHED or CLOSE_WAIT) any more.
    await waitFor(
      () => {
        const held = serverHeldSockets(port, FLOOD_FROM)
        return held.length === 0 || assert.fail(`still held: ${held.length} (${held.slice(0, 5).join(', ')} …)`)
      },
      { what: 'the collector to hold no flood connection', timeoutMs: GRACE_MS, intervalMs: 100 },
    )
  } finally {
    attacking = false
    clearInterval(sampler)
    await heartbeats.catch(() => undefined)
    for (const i of idle) {
      i.socket.destroy()
    }
  }

  const growth = peak - baseline
  const p95 = percentile(acks, 95)
  const idleClosed = Math.max(...idle.map((i) => i.closedMs ?? NaN))
  t.diagnostic(
    `RSS ${baseline.toFixed(0)} → peak ${peak.toFixed(0)} MiB (+${growth.toFixed(1)}); ` +
      `ack p95 ${p95.toFixed(0)} ms over ${acks.length}; ` +
      `every idle socket closed within ${idleClosed} ms of its opening`,
  )
  assert.ok(growth <= RSS_BOUND_MIB, `collector grew by ${growth.toFixed(1)} MiB under the floods`)
  assert.ok(p95 <= ACK_P95_BOUND_MS, `heartbeat ack p95 ${p95.toFixed(0)} ms during the attack`)
  assert.ok(acks.length >= 20, 'the node kept being served throughout')
})

/** 2,000 TCP connections that never start TLS, spread over source addresses under the per-address cap. */
async function openIdle(port: number): Promise<IdleSocket[]> {
  const sockets: IdleSocket[] = []
  // 100 at a time: a burst beyond the listen backlog leaves sockets the server has not accepted yet.
  for (let i = 0; i < IDLE_SOCKETS; i += 100) {
    const batch = Array.from({ length: 100 }, (_, j) => {
      const s = netConnect({ host: '127.0.0.1', port, localAddress: `127.0.3.${1 + ((i + j) % 50)}` })
      const idle: IdleSocket = { socket: s, openedAt: Date.now() }
      s.on('error', () => undefined)
      s.once('close', () => (idle.closedMs = Date.now() - idle.openedAt))
      // Reading (nothing arrives) lets the server's FIN end the socket.
      s.resume()
      return idle
    })
    await Promise.all(batch.map((i) => new Promise((r) => i.socket.once('connect', r))))
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
      await closedWithin(s, AT_HEADER_MS, 'a 256 MiB PUBLISH').finally(() => {
        clearInterval(trickle)
        s.destroy()
      })
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
      await closedWithin(s, AT_HEADER_MS, 'a 5,000-filter SUBSCRIBE').finally(() => s.destroy())
    }),
  )
}
