import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { MqttClient } from 'mqtt'
import { MemoryOutbox } from '../../src/outbox/memory-outbox.ts'
import type { MqttTransport } from '../../src/transport/mqtt-transport.ts'
import { agentEvent, makeTransport, startCollector, waitFor } from './support.ts'

/** The live mqtt.js client, to cut its socket the way a crash or a pulled cable would. */
const cutSocket = (tr: MqttTransport): void => {
  ;(tr as unknown as { client: MqttClient }).client.stream.destroy()
}

describe('presence on the status topic: graceful stop, Last Will, one-shot runs', () => {
  it('a graceful stop says offline with its reason; a cut connection leaves the Will, reason lost', async (t) => {
    const fc = await startCollector(t)
    const outbox = new MemoryOutbox({ maxBytes: 1 << 20 })
    const { tr } = makeTransport(t, fc, outbox)
    tr.start()
    await waitFor(() => tr.status().enrolled && fc.statuses.length === 1, 'enrolled and online')
    cutSocket(tr)
    await waitFor(() => fc.statuses.length === 3, 'the Will, then online again after the reconnect')
    assert.deepEqual(
      fc.statuses.map((s) => [s.state, s.reason]),
      [
        ['online', undefined],
        ['offline', 'lost'],
        ['online', undefined],
      ],
    )
    await tr.stop('restart')
    await waitFor(() => fc.statuses.length === 4, 'offline status on stop')
    assert.deepEqual(fc.statuses[3], { state: 'offline', retain: true, reason: 'restart' })
  })

  it('without presence (once): events are delivered, but no status, no Will and no heartbeat', async (t) => {
    const fc = await startCollector(t)
    const outbox = new MemoryOutbox({ maxBytes: 1 << 20 })
    for (let i = 1; i <= 3; i++) {
      await outbox.append(agentEvent(i))
    }
    const { tr } = makeTransport(t, fc, outbox, { presence: false, heartbeatMs: 20 })
    tr.start()
    await waitFor(() => outbox.stats().pending === 0, 'events acknowledged')
    cutSocket(tr)
    await waitFor(() => tr.status().counters.connects === 2, 'reconnected after the cut')
    for (let i = 4; i <= 5; i++) {
      await outbox.append(agentEvent(i))
    }
    tr.kick()
    await waitFor(() => outbox.stats().pending === 0, 'events after the reconnect acknowledged')
    await tr.stop()
    assert.deepEqual(fc.statuses, [], 'the status topic was never touched')
    assert.equal(fc.heartbeats.length, 0, 'a one-shot run sends no heartbeat that would go silent when it exits')
    assert.equal(fc.storedSeqs('node-a').length, 5)
  })
})
