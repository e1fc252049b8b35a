import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { type Envelope } from '@backstop/shared'
import { parseCollectorConfig } from '../../src/config/load.ts'
import { startCollector } from '../../src/main.ts'
import { apiFetch } from '../support/app-deps.ts'
import { captureLog, copy, FakeAgent, tempDir, TOKEN } from '../support/harness.ts'
import { sendAsNode } from '../support/send-as-node.ts'

describe('collector: retention and upkeep as composed in main.ts', () => {
  it('over MQTT: events pruned, then replayed, are acked and not applied; /metrics and the disk alert', async (t) => {
    const dir = tempDir(t, 'bk-retention-')
    const cfg = parseCollectorConfig(
      `dataDir: ${dir}\nmqtt: {host: 127.0.0.1, port: 0}\napi: {host: 127.0.0.1, port: 0}\n` +
        `enrollment: {tokens: [${TOKEN}]}\ningest: {batchIntervalMs: 2, verifyWorkers: 0}\ntls: {plaintext: true}\n` +
        'retention: {eventsDays: 7}\ndatabase: {diskFillAlertPercent: 1}\n',
      'test.yaml',
    )
    const { log, lines } = captureLog('info')
    const c = await startCollector(cfg, { log })
    t.after(() => c.stop())
    const agent = new FakeAgent('pve1')
    const send = (password: string, envs: Envelope[]) => sendAsNode(c.mqttUrl, 'pve1', password, envs)
    await send('pending', [agent.enroll()])
    const events = [agent.started('r1'), agent.finished('r1', [copy('c1')]), agent.started('r2')]
    await send(agent.password(), events)
    const count = (sql: string): number => (c.db.prepare(sql).get() as { n: number }).n
    assert.equal(count('SELECT count(*) AS n FROM events'), 3)
    assert.equal(count("SELECT seq AS n FROM node_high_water WHERE node = 'pve1'"), events[2]!.seq)

    // As if the events were received a year ago: the scheduled pass would prune them; run it now.
    c.db.prepare("UPDATE events SET received_at = '2025-01-01T00:00:00.000Z'").run()
    const pass = await c.upkeep.retention.runOnce()
    assert.equal(pass.deleted['events'], 3)
    assert.equal(count("SELECT forgotten_through AS n FROM node_high_water WHERE node = 'pve1'"), events[2]!.seq)
    assert.ok(lines.some((l) => l['msg'] === 'retention pass done'))

    const runsBefore = c.db.prepare('SELECT * FROM runs ORDER BY run_id').all()
    const dupsBefore = c.counters.get('ingest_duplicate_total')
    const acks = await send(agent.password(), events)
    assert.deepEqual(
      acks.flatMap((a) => a.rejected),
      [],
    )
    assert.equal(c.counters.get('ingest_duplicate_total') - dupsBefore, 3, 'acked as replays')
    assert.equal(count('SELECT count(*) AS n FROM events'), 0, 'not stored again')
    assert.deepEqual(c.db.prepare('SELECT * FROM runs ORDER BY run_id').all(), runsBefore, 'not applied again')
    assert.equal(
      lines.filter((l) => String(l['msg']).startsWith('event at or below the seqs retention pruned')).length,
      3,
    )

    c.upkeep.tick()
    const api = apiFetch(c, 'admin')
    const metrics = await (await api('/metrics')).text()
    assert.match(metrics, /^backstop_collector_db_bytes [1-9]\d*$/m)
    assert.match(metrics, /^backstop_collector_data_disk_used_ratio 0\.\d+$/m)
    assert.match(metrics, /^backstop_collector_retention_deleted_rows\{table="events"\} 3$/m)
    const alerts = (await (await api('/api/v1/alerts?limit=100')).json()) as {
      alerts: { key: string; state: string }[]
    }
    const fill = alerts.alerts.find((a) => a.key.startsWith('collector-disk-fill/collector-'))
    assert.equal(fill?.state, 'firing', JSON.stringify(alerts.alerts))
  })
})
