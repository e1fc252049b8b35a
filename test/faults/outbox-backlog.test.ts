import { join } from 'node:path'
import { describe, it } from 'node:test'
import { agentConfig, collectorSetup, eventually, startProc, tempDir } from '../support/processes.ts'
import { assertExactlyOnceInOrder, burstRows } from './ledger-check.ts'

/**
 * The collector is down while the agent keeps working: ≥ 100,000 events are held in the agent's FileOutbox, then
 * the collector starts and the backlog drains — every event stored once, in the order the agent wrote it.
 * FAULT_BACKLOG overrides the count.
 */
const COUNT = Number(process.env['FAULT_BACKLOG'] ?? 100_000)
const burstAgent = 'test/support/burst-agent.ts'

describe('fault injection: collector down, outbox backlog', { timeout: 12 * 60_000 }, () => {
  it(`${COUNT.toLocaleString('en')} events queued while the collector is down drain in order`, async (t) => {
    const dir = tempDir(t, 'bk-backlog-')
    const c = await collectorSetup(dir, { ingest: { batchSize: 2000 } })
    const node = 'fault-backlog'
    const started = Date.now()
    const agent = startProc(
      [
        '--import',
        'tsx',
        burstAgent,
        '--config',
        agentConfig(dir, c.mqttUrl, { node, extra: { outbox: { maxBytes: 512 * 1024 * 1024 } } }),
        '--count',
        String(COUNT),
        // Reconnect backoff capped at 2 s (default: growing towards 60 s while the collector is down): the agent
        // finds the collector soon after it starts, and again after the collector closes the pre-enrollment
        // connection, so the drain is what is waited for and timed, not a backoff sleep.
        '--backoff-max-ms',
        '2000',
      ],
      join(dir, 'agent.log'),
    )
    t.after(() => agent.kill9())
    await agent.waitFor(new RegExp(`^emitted ${COUNT}$`, 'm'), 8 * 60_000)
    const queuedS = (Date.now() - started) / 1000
    const collector = await c.start()
    t.after(() => collector.kill9())
    const drainStart = Date.now()
    await agent.waitFor(/^drained$/m, 8 * 60_000)
    await eventually(() => (burstRows(c.dbFile, node).length >= COUNT ? true : undefined), 'backlog committed', 60_000)
    const drainS = (Date.now() - drainStart) / 1000
    const summary = {
      events: COUNT,
      queuedSeconds: queuedS,
      drainSeconds: drainS,
      drainPerSecond: Math.round(COUNT / drainS),
    }
    console.log(`# faults-backlog ${JSON.stringify(summary)}`)
    assertExactlyOnceInOrder(c.dbFile, node, COUNT)
  })
})
