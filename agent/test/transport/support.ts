import { randomUUID } from 'node:crypto'
import type { TestContext } from 'node:test'
import { keyPairFromSeed, type Envelope, type KeyPair } from '@backstop/shared'
import { systemClock } from '../../src/clock.ts'
import type { Outbox } from '../../src/outbox/outbox.ts'
import { createSigner } from '../../src/transport/signer.ts'
import { MqttTransport, type TransportOptions } from '../../src/transport/mqtt-transport.ts'
import { captureLog } from '../outbox/support.ts'
import { FakeCollector } from './fake-collector.ts'

export const agentKeys: KeyPair = keyPairFromSeed(new Uint8Array(32).fill(3))

export async function startCollector(t: TestContext, token?: string): Promise<FakeCollector> {
  const fc = await FakeCollector.start(token)
  t.after(() => fc.close())
  return fc
}

/** A transport with test-sized timings; `pinned` records what the agent pinned. */
export function makeTransport(t: TestContext, fc: FakeCollector, outbox: Outbox, over: Partial<TransportOptions> = {}) {
  const cap = captureLog()
  const pinned: string[] = []
  const tr = new MqttTransport({
    url: fc.url,
    node: 'node-a',
    signer: createSigner(agentKeys),
    outbox,
    clock: systemClock,
    log: cap.log,
    agentVersion: '0.1.0-test',
    hostname: 'node-a.test',
    heartbeatMs: 60_000,
    collectorKey: null,
    enrollmentToken: async () => fc.token,
    pinCollectorKey: async (pk) => void pinned.push(pk),
    heartbeatBody: () => ({
      agentVersion: '0.1.0-test',
      hostname: 'node-a.test',
      uptimeS: 1,
      outbox: outbox.stats(),
      jobs: [],
    }),
    backoff: { baseMs: 20, maxMs: 200 },
    enrollBackoff: { baseMs: 50, maxMs: 200 },
    ackTimeoutMs: 5_000,
    ...over,
  })
  fc.beforeClose.push(() => tr.stop())
  return { tr, pinned, lines: cap.lines }
}

const agentSigner = createSigner(agentKeys)

export function agentEvent(n: number): (seq: number) => Envelope {
  return (seq) =>
    agentSigner.signEnvelope({
      v: 1,
      kind: 'job.progress',
      node: 'node-a',
      msgId: randomUUID(),
      seq,
      ts: new Date().toISOString(),
      body: { runId: `run-${n}`, job: 'etc', percent: n % 101 },
    })
}

export async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > until) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`)
    }
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** First-arrival order of each msgId: what "in seq order" means for a receiver that also sees replays. */
export function firstArrivalSeqs(received: readonly Envelope[]): number[] {
  const seen = new Set<string>()
  return received.filter((e) => e.seq > 0 && !seen.has(e.msgId) && seen.add(e.msgId)).map((e) => e.seq)
}
