import assert from 'node:assert/strict'
import { createServer, type Socket } from 'node:net'
import { it, type TestContext } from 'node:test'
import { MemoryOutbox } from '../../src/outbox/memory-outbox.ts'
import type { FakeCollector } from './fake-collector.ts'
import { makeTransport, waitFor } from './support.ts'

/**
 * A connection cut after CONNACK but before the session is set up (a flapping link, a broker restarting). mqtt.js
 * fails a pending SUBSCRIBE when the line drops, but never settles the persistent session's (clean: false) QoS 1
 * retained `online` publish, so a session that awaited it waited forever — the agent stayed silent with its outbox
 * full (seen once in CI: no reconnect for 240 s). A raw TCP "broker" drops every connection at either step.
 */

/** SUBACK for a SUBSCRIBE packet (fixed header 0x82): its packet id, and QoS 1 granted for each topic filter. */
function subackFor(p: Buffer): Buffer {
  let i = 1
  while ((p[i++]! & 0x80) !== 0) {
    // remaining-length varint
  }
  const id = p.subarray(i, i + 2)
  const granted: number[] = []
  for (let j = i + 2; j + 2 < p.length;) {
    j += 2 + p.readUInt16BE(j) + 1
    granted.push(1)
  }
  return Buffer.concat([Buffer.from([0x90, 2 + granted.length]), id, Buffer.from(granted)])
}

/** A raw TCP "broker" that answers CONNACK (and SUBACK up to `dropAt`) and drops the line at packet `dropAt`. */
async function droppingBroker(
  t: TestContext,
  dropAt: 'subscribe' | 'status',
): Promise<{ url: string; n: () => number }> {
  const sockets = new Set<Socket>()
  let connections = 0
  const broker = createServer((s) => {
    connections++
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
    s.on('error', () => undefined)
    let packets = 0
    s.on('data', (d) => {
      packets++
      if (packets === 1) {
        s.write(Buffer.from([0x20, 0x02, 0x00, 0x00])) // CONNACK, accepted, no session present
      } else if (packets === 2 && dropAt === 'status') {
        s.write(subackFor(d))
      } else {
        s.destroy() // no answer: the line is gone
      }
    })
  })
  await new Promise<void>((r) => broker.listen(0, '127.0.0.1', r))
  t.after(() => {
    sockets.forEach((s) => s.destroy())
    broker.close()
  })
  return { url: `mqtt://127.0.0.1:${(broker.address() as { port: number }).port}`, n: () => connections }
}

for (const dropAt of ['subscribe', 'status'] as const) {
  const step = dropAt === 'status' ? 'retained online status' : 'SUBSCRIBE'
  it(`a connection dropped at the ${step} is left and retried, every time`, async (t) => {
    const { url, n } = await droppingBroker(t, dropAt)
    const fc = { url, token: 'enroll-token-1', beforeClose: [] } as unknown as FakeCollector
    const { tr, lines } = makeTransport(t, fc, new MemoryOutbox({ maxBytes: 1 << 20 }))
    t.after(() => tr.stop())
    tr.start()
    await waitFor(() => n() >= 4, 'four connections', 10_000)
    assert.ok(
      lines.some((l) => l['msg'] === 'disconnected from the collector'),
      'each dropped session ends as a disconnect',
    )
  })
}
