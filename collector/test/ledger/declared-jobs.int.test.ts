import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { nextRunAfter, type DeclaredJob, type Envelope } from '@backstop/shared'
import { parseCollectorConfig } from '../../src/config/load.ts'
import { startCollector } from '../../src/main.ts'
import { apiFetch } from '../support/app-deps.ts'
import { captureLog, copy, FakeAgent, tempDir, TOKEN } from '../support/harness.ts'
import { jumpingClock } from '../../../test/support/jumping-clock.ts'
import { waitFor } from '../../../test/support/wait-for.ts'
import { sendAsNode } from '../support/send-as-node.ts'

const job = (name: string, assetId: string): DeclaredJob => ({
  name,
  kind: 'zfs',
  schedule: '0 3 * * *',
  timezone: 'UTC',
  assets: [{ kind: 'zfs-dataset', id: assetId }],
  targets: ['zfs:tank'],
})
const GRACE_S = 600

interface Expectation {
  job: string
  assetId: string
  status: string
  alertAfter: string | null
}
interface Alert {
  key: string
  kind: string
  state: string
}

describe('collector: expectations from the jobs a node declares', () => {
  it('a declared job that never runs pages at slot + grace, one that runs does not; removed jobs retire', async (t) => {
    const dir = tempDir(t, 'bk-declared-')
    // Liveness far away: the node is disconnected between sends and the clock jumps hours; node-down is not tested.
    const cfg = parseCollectorConfig(
      `dataDir: ${dir}\nmqtt: {host: 127.0.0.1, port: 0}\napi: {host: 127.0.0.1, port: 0}\n` +
        `enrollment: {tokens: [${TOKEN}]}\ningest: {batchIntervalMs: 2, verifyWorkers: 0}\ntls: {plaintext: true}\n` +
        `ledger: {defaultGraceS: ${GRACE_S}, nodeTimeoutS: 604800, nodeDownAfterS: 604800}\n`,
      'test.yaml',
    )
    const clock = jumpingClock()
    const c = await startCollector(cfg, { log: captureLog('warn').log, clock })
    t.after(() => c.stop())
    const api = apiFetch(c, 'admin')
    const get = async <T>(path: string): Promise<T> => (await (await api(path)).json()) as T
    const expectations = async () =>
      (await get<{ expectations: Expectation[] }>('/api/v1/expectations?node=pve1&limit=100')).expectations
    const alerts = async () => (await get<{ alerts: Alert[] }>('/api/v1/alerts?node=pve1&limit=100')).alerts
    const agent = new FakeAgent('pve1')
    const send = (password: string, envs: Envelope[]) => sendAsNode(c.mqttUrl, 'pve1', password, envs)
    await send('pending', [agent.enroll()])

    const declaredAt = clock.now()
    const declare = (jobs: DeclaredJob[], hash: string) =>
      agent.envelope('jobs.declared', { at: new Date(clock.now()).toISOString(), hash: hash.repeat(64), jobs })
    await send(agent.password(clock.now()), [
      declare([job('nightly', 'tank/data'), job('snap', 'tank/snap'), job('spare', 'tank/spare')], 'a'),
    ])
    const slot = nextRunAfter({ cron: '0 3 * * *', timezone: 'UTC' }, new Date(declaredAt))!.getTime()
    const due = slot + GRACE_S * 1000
    const first = await waitFor(
      async () => {
        const es = await expectations()
        return es.length === 3 ? es : undefined
      },
      { what: 'three expectations from the declaration, before any run', timeoutMs: 10_000 },
    )
    for (const e of first) {
      assert.equal(e.status, 'new')
      assert.equal(e.alertAfter, new Date(due).toISOString(), `${e.job}: due at the first 03:00 plus grace`)
    }

    // 03:02: snap runs. Its snapshot is named in whole seconds, before the run's start in milliseconds (issue 11).
    clock.jumpTo(slot + 120_000)
    const second = Math.floor(clock.now() / 1000) * 1000
    const startedAt = new Date(second + 400).toISOString()
    await send(agent.password(clock.now()), [
      agent.started('snap-1', 'snap', startedAt),
      agent.finished(
        'snap-1',
        [
          copy('zfs:tank/snap@auto', {
            asset: { kind: 'zfs-dataset', id: 'tank/snap' },
            createdAt: new Date(second).toISOString(),
            runId: 'snap-1',
          }),
        ],
        { job: 'snap', jobKind: 'zfs', startedAt, finishedAt: new Date(second + 3000).toISOString() },
      ),
    ])
    await waitFor(async () => (await expectations()).find((e) => e.job === 'snap')?.status === 'up', {
      what: 'snap met by its run',
      timeoutMs: 10_000,
    })

    // Past 03:10: nightly never ran.
    clock.jumpTo(due + 60_000)
    const missed = await waitFor(
      async () => (await alerts()).find((a) => a.key === 'missed-backup/pve1/nightly/zfs-dataset/tank/data'),
      { what: 'missed-backup for the declared job that never ran', timeoutMs: 10_000 },
    )
    assert.equal(missed.state, 'firing')
    assert.deepEqual(
      (await alerts()).filter((a) => a.kind === 'missed-backup').map((a) => a.key),
      ['missed-backup/pve1/nightly/zfs-dataset/tank/data', 'missed-backup/pve1/spare/zfs-dataset/tank/spare'],
      'the job that ran is not among them',
    )

    // nightly and spare leave the config: retired, their alerts resolved, audited.
    await send(agent.password(clock.now()), [declare([job('snap', 'tank/snap')], 'b')])
    await waitFor(async () => (await expectations()).length === 1, { what: 'expectations retired', timeoutMs: 10_000 })
    assert.deepEqual(
      (await expectations()).map((e) => [e.job, e.status]),
      [['snap', 'up']],
    )
    assert.deepEqual(
      (await alerts()).filter((a) => a.kind === 'missed-backup').map((a) => a.state),
      ['resolved', 'resolved'],
    )
    const audit = await get<{ entries: { actor: string; action: string; target: string }[] }>(
      '/api/v1/audit?action=job.retire',
    )
    assert.deepEqual(
      audit.entries.map((e) => [e.actor, e.action, e.target]),
      [
        ['system', 'job.retire', 'pve1/nightly'],
        ['system', 'job.retire', 'pve1/spare'],
      ],
    )
  })
})
