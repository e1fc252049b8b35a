import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { alertTopics } from '@backstop/shared'
import pino from 'pino'
import { createAuditLog } from '../../src/audit/audit-log.ts'
import { collectorStatusPayload, createCollectorStatus } from '../../src/alerts/collector-status.ts'
import { composeLedger } from '../../src/compose/ledger.ts'
import { ledgerConfig } from '../../src/ledger/config.ts'
import { H, harness, T0 } from '../ledger/harness.ts'
import { fakeClock } from '../ledger/fake-clock.ts'

describe('retained state after a collector restart', () => {
  it('a restarted compliance side publishes every alert state again, firing and resolved, retained', () => {
    const h = harness()
    h.start()
    h.run('snap', T0, 60_000, [h.copy('c1', 'tank/a', T0 + 1)])
    h.db.transaction(() => h.core.nodes.setStatus('pve1', 'offline', new Date(T0 + H).toISOString(), '', 'lost'))()
    h.clock.set(T0 + H)
    h.ledger.runNow()
    h.clock.set(T0 + 2 * H)
    assert.equal(h.alert('node-down/pve1')?.state, 'firing')
    h.stop()

    // The broker's retained store is empty after a restart; the database is not.
    const published: { topic: string; payload: Record<string, unknown>; retain: boolean }[] = []
    const again = composeLedger({
      db: h.db,
      log: pino({ level: 'silent' }),
      clock: fakeClock(T0 + 3 * H),
      config: ledgerConfig(),
      audit: createAuditLog(h.db),
      telemetry: undefined,
      afterCommit: () => undefined,
      fetch: globalThis.fetch,
      publish: (topic, payload, o) =>
        published.push({ topic, payload: JSON.parse(payload) as Record<string, unknown>, retain: o.retain }),
    })
    again.start()
    const state = published.find((p) => p.topic === alertTopics.state('node-down/pve1'))
    assert.ok(state, JSON.stringify(published.map((p) => p.topic)))
    assert.deepEqual([state.retain, state.payload['state'], state.payload['severity']], [true, 'firing', 'critical'])
    again.stop()
  })

  it("the collector's own status: online with its version, offline with the reason, both retained", () => {
    const sent: [string, string, boolean][] = []
    const now = new Date('2026-11-20T00:00:00.000Z')
    const s = createCollectorStatus(
      (topic, payload, o) => sent.push([topic, payload, o.retain]),
      () => now,
      '1.2.3',
    )
    s.online()
    s.offline()
    assert.deepEqual(sent, [
      [alertTopics.collectorStatus, collectorStatusPayload('online', now, { version: '1.2.3' }), true],
      [alertTopics.collectorStatus, collectorStatusPayload('offline', now, { reason: 'shutdown' }), true],
    ])
    assert.deepEqual(JSON.parse(sent[1]![1]), { state: 'offline', ts: '2026-11-20T00:00:00.000Z', reason: 'shutdown' })
    assert.equal(alertTopics.collectorStatus, 'backstop/v1/alerts/collector/status')
  })
})
