import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import mqtt from 'mqtt'
import { alertTopics, type DiskHealthBody, type Envelope } from '@backstop/shared'
import { createAuditLog } from '../../src/audit/audit-log.ts'
import { createTokensRepo } from '../../src/auth/tokens.ts'
import { parseCollectorConfig } from '../../src/config/load.ts'
import { createOperators } from '../../src/identity/operators.ts'
import { startCollector } from '../../src/main.ts'
import { probedStorage } from '../ledger/harness.ts'
import { captureLog, copy, FakeAgent, tempDir, TOKEN } from '../support/harness.ts'
import { waitFor } from '../../../test/support/wait-for.ts'
import { sendAsNode } from '../support/send-as-node.ts'

const until = <T>(what: string, probe: () => Promise<T | undefined>): Promise<T> =>
  waitFor(probe, { what, timeoutMs: 30_000 })

/**
 * main.ts's wiring, through the real process path: signed disk.health over MQTT → ingest → disk-health store →
 * alert + requeue → ledger pass → the copy on the failed disk stops counting. Also: api.auth from the config.
 */
describe('collector end to end: disk health reaches the verdict and the alerts', () => {
  it('a FAILED disk under a copy drops that copy from the verdict and fires unhealthy-device on MQTT', async (t) => {
    const dir = tempDir(t, 'bk-disk-e2e-')
    const cfg = parseCollectorConfig(
      `dataDir: ${dir}\nmqtt: {host: 127.0.0.1, port: 0}\napi: {host: 127.0.0.1, port: 0, auth: required}\n` +
        `enrollment: {tokens: [${TOKEN}]}\ningest: {batchIntervalMs: 2, verifyWorkers: 0}\ntls: {plaintext: true}\n`,
      'test.yaml',
    )
    const c = await startCollector(cfg, { log: captureLog('warn').log })
    t.after(() => c.stop())

    // api.auth: required → no anonymous window, even before any token exists.
    const anon = await fetch(`${c.apiUrl}/api/v1/nodes`)
    assert.equal(anon.status, 401)
    assert.equal(((await anon.json()) as { error: { code: string } }).error.code, 'BK_ERR_API_UNAUTHORIZED')
    assert.equal((await fetch(`${c.apiUrl}/healthz`)).status, 200, 'liveness stays open')
    const bearer = { authorization: `Bearer ${createTokensRepo(c.db).create('e2e', 'operator', Date.now()).token}` }
    const api = (path: string, init: RequestInit = {}): Promise<Response> =>
      fetch(`${c.apiUrl}${path}`, { ...init, headers: bearer })

    const agent = new FakeAgent('pve1')
    const send = (password: string, envs: Envelope[]) => sendAsNode(c.mqttUrl, 'pve1', password, envs)
    await send('pending', [agent.enroll()])
    // c1 on the USB disk with serial S1, c2 offsite in object storage; storage probed, as a current agent reports it.
    const probed = probedStorage
    const usb = probed({ devices: [{ id: 'serial:S1', transport: 'usb' }], fsUuid: 'usb1', media: 'usb' })
    const bucket = probed({ host: 's3.example', site: 'cloud', repository: 's3.example/b', media: 'object' })
    const root = probed({ devices: [{ id: 'serial:N1', transport: 'nvme' }], fsUuid: 'root', media: 'nvme' })
    await send(agent.password(), [
      agent.started('r1'),
      agent.finished(
        'r1',
        [
          copy('c1', {
            location: { kind: 'usb', target: '/mnt/usb1', device: { serial: 'S1', label: 'REAR-000' } },
            media: 'usb',
            storage: usb,
          }),
          copy('c2', {
            location: { kind: 'object', target: 's3://b' },
            media: 'object',
            offsite: true,
            storage: bucket,
          }),
        ],
        { sources: [{ asset: { kind: 'file-set', id: 'fileset:etc-archive' }, storage: root }] },
      ),
    ])
    type Counts = { copies: number; onUnhealthyDevice: number }
    const counts = async (): Promise<Counts | undefined> => {
      const res = await api(`/api/v1/asset?node=pve1&kind=file-set&id=${encodeURIComponent('fileset:etc-archive')}`)
      return res.status === 200 ? ((await res.json()) as { asset: { counts: Counts } }).asset.counts : undefined
    }
    const before = await until('the verdict', counts)
    assert.equal(before.copies, 3)
    assert.equal(before.onUnhealthyDevice, 0)

    const op = createOperators(c.db, createAuditLog(c.db), () => new Date()).create('ha', 'test')
    const sub = await mqtt.connectAsync(c.mqttUrl, {
      username: op.username,
      password: op.password,
      clientId: 'ha-disk-e2e',
      reconnectPeriod: 0,
    })
    t.after(() => sub.endAsync())
    const seen = new Map<string, Record<string, unknown>>()
    sub.on('message', (topic, p) => seen.set(topic, JSON.parse(p.toString()) as Record<string, unknown>))
    await sub.subscribeAsync('backstop/v1/alerts/#', { qos: 1 })

    const report: DiskHealthBody = {
      at: new Date().toISOString(),
      disks: [
        {
          name: '/dev/sdb',
          type: 'sat',
          protocol: 'ATA',
          source: 'smartctl',
          smart: 'failed',
          serial: 'S1',
          counters: { reallocatedSectors: 1200 },
          failingAttributes: ['Reallocated_Sector_Ct'],
          messages: [],
        },
        {
          name: '/dev/nvme0',
          type: 'nvme',
          protocol: 'NVMe',
          source: 'smartctl',
          smart: 'passed',
          serial: 'N1',
          counters: { mediaErrors: 0 },
          failingAttributes: [],
          messages: [],
        },
      ],
      filesystems: [],
      pools: [],
      notes: [],
    }
    await send(agent.password(), [agent.envelope('disk.health', report)])

    const after = await until('the copy on S1 to stop counting', async () => {
      const n = await counts()
      return n !== undefined && n.onUnhealthyDevice > 0 ? n : undefined
    })
    assert.deepEqual([after.copies, after.onUnhealthyDevice], [2, 1], 'only the copy on the failed disk is dropped')
    const key = 'unhealthy-device/pve1/smart-failed/serial:S1'
    await until(`${key} on MQTT`, async () => (seen.get(alertTopics.state(key))?.state === 'firing' ? true : undefined))
    assert.equal(seen.get(alertTopics.state(key))?.severity, 'critical')
    const alerts = (await (await api('/api/v1/alerts?kind=unhealthy-device&state=firing')).json()) as {
      alerts: { key: string }[]
    }
    assert.ok(
      alerts.alerts.some((a) => a.key === key),
      `firing: ${alerts.alerts.map((a) => a.key).join(', ')}`,
    )

    // The disk routes are mounted by main.ts and see the same store.
    const disks = (await (await api('/api/v1/nodes/pve1/disks')).json()) as { disks: { key: string; health: string }[] }
    assert.deepEqual(
      disks.disks.map((d) => [d.key, d.health]),
      [
        ['serial:S1', 'failed'],
        ['serial:N1', 'ok'],
      ],
    )
  })
})
