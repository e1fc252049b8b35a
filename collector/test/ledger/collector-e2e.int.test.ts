import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import mqtt from 'mqtt'
import { alertTopics, type Envelope } from '@backstop/shared'
import { createAuditLog } from '../../src/audit/audit-log.ts'
import { createOperators } from '../../src/identity/operators.ts'
import { parseCollectorConfig } from '../../src/config/load.ts'
import { startCollector } from '../../src/main.ts'
import { apiFetch } from '../support/app-deps.ts'
import { captureLog, copy, FakeAgent, tempDir, TOKEN } from '../support/harness.ts'
import { sendAsNode } from '../support/send-as-node.ts'

/** The whole path in one process: signed job.finished over MQTT → ingest commit → ledger wake → verdict in the API. */
describe('collector end to end: ingest wakes the compliance ledger', () => {
  it('a committed job.finished produces a verdict, an expectation, an alert and metrics', async (t) => {
    const dir = tempDir(t, 'bk-e2e-')
    const cfg = parseCollectorConfig(
      `dataDir: ${dir}\nmqtt: {host: 127.0.0.1, port: 0}\napi: {host: 127.0.0.1, port: 0}\n` +
        `enrollment: {tokens: [${TOKEN}]}\ningest: {batchIntervalMs: 2, verifyWorkers: 0}\ntls: {plaintext: true}\n`,
      'test.yaml',
    )
    const c = await startCollector(cfg, { log: captureLog('warn').log })
    t.after(() => c.stop())
    const api = apiFetch(c, 'viewer')
    const agent = new FakeAgent('pve1')
    const send = (password: string, envs: Envelope[]) => sendAsNode(c.mqttUrl, 'pve1', password, envs)
    await send('pending', [agent.enroll()])
    // The collector runs on the wall clock, so the run is one that finished a minute ago: a fixed date would turn
    // the daily expectation 'down' once the test runs more than a day after that date.
    const at = (msAgo: number): string => new Date(Date.now() - msAgo).toISOString()
    const made = {
      createdAt: at(58_000),
      verification: { state: 'verified' as const, at: at(57_000), method: 'sha256-manifest' },
    }
    // Issue 11: the agent probes where each copy and the live data are. The object-store copy is offsite (site
    // "cloud" ≠ "home") and immutable (object lock retained for a month) by those probed facts — the typed
    // `offsite: true, immutable: true` alone would no longer count.
    const home = { host: 'pve1', site: 'home' }
    const fin = agent.finished(
      'r1',
      [
        copy('c1', {
          ...made,
          storage: { ...home, devices: [{ id: 'serial:HDD-2', transport: 'sata' }], media: 'hdd' },
        }),
        copy('c2', {
          ...made,
          location: { kind: 'object', target: 's3://b' },
          media: 'object',
          offsite: true,
          immutable: true,
          storage: {
            host: 's3.example',
            site: 'cloud',
            devices: [],
            repository: 's3.example/b',
            media: 'object',
            immutability: { kind: 'object-lock', probedAt: at(57_000), retainUntil: at(-30 * 86_400_000) },
          },
        }),
      ],
      {
        startedAt: at(60_000),
        finishedAt: at(56_000),
        sources: [
          {
            asset: { kind: 'file-set', id: 'fileset:etc-archive' },
            storage: { ...home, devices: [{ id: 'wwn:root-nvme', transport: 'nvme' }], media: 'nvme' },
          },
        ],
      },
    )
    const acks = await send(agent.password(), [agent.started('r1', 'etc-archive', at(60_000)), fin])
    assert.ok(
      acks.some((a) => a.acked.includes(fin.msgId)),
      'job.finished acked',
    )

    const url = `/api/v1/asset?node=pve1&kind=file-set&id=${encodeURIComponent('fileset:etc-archive')}`
    let res = await api(url)
    for (let i = 0; i < 50 && res.status === 404; i++) {
      await new Promise((r) => setTimeout(r, 20))
      res = await api(url)
    }
    assert.equal(res.status, 200)
    const body = (await res.json()) as {
      asset: { verdict: string; counts: { copies: number } }
      expectations: { job: string; status: string }[]
    }
    assert.equal(body.asset.counts.copies, 3)
    assert.deepEqual(
      body.expectations.map((e) => [e.job, e.status]),
      [['etc-archive', 'up']],
    )
    assert.equal(body.asset.verdict, 'compliant')
    const summary = (await (await api('/api/v1/compliance/summary')).json()) as { assets: number }
    assert.equal(summary.assets, 1)
    const metrics = await (await api('/metrics')).text()
    assert.match(
      metrics,
      /backstop_asset_last_success_timestamp_seconds\{node="pve1",kind="file-set",asset="fileset:etc-archive"\}/,
    )
    assert.match(metrics, /backstop_ingest_stored_total\{label="job.finished"\} 1/)
    const docs = await fetch(`${c.apiUrl}/docs/json`)
    assert.equal(docs.status, 200)

    // A coverage gap reported by the agent reaches an operator client on the collector's own broker.
    const op = createOperators(c.db, createAuditLog(c.db), () => new Date()).create('ha', 'test')
    const sub = await mqtt.connectAsync(c.mqttUrl, {
      username: op.username,
      password: op.password,
      clientId: 'ha-e2e',
      reconnectPeriod: 0,
    })
    t.after(() => sub.endAsync())
    const seen = new Map<string, Record<string, unknown>>()
    sub.on('message', (topic, p) => seen.set(topic, JSON.parse(p.toString()) as Record<string, unknown>))
    await sub.subscribeAsync('backstop/v1/alerts/#', { qos: 1 })
    const inv = agent.envelope('inventory', {
      at: new Date().toISOString(),
      assets: [{ asset: { kind: 'vm', id: 'vm/101' }, coveredBy: [] }],
    })
    await send(agent.password(), [inv])
    const topic = alertTopics.state('coverage-gap/pve1/vm/vm/101')
    // The retained state and the event stream are two publishes: wait for both.
    const both = (): boolean => seen.has(topic) && seen.has(alertTopics.events)
    for (let i = 0; i < 100 && !both(); i++) {
      await new Promise((r) => setTimeout(r, 20))
    }
    assert.equal(seen.get(topic)?.state, 'firing', `got ${[...seen.keys()].join(', ')}`)
    assert.equal(seen.get(alertTopics.events)?.key, 'coverage-gap/pve1/vm/vm/101', `got ${[...seen.keys()].join(', ')}`)
  })
})
