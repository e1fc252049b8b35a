import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { DiskHealthBody } from '@backstop/shared'
import { buildApp } from '../../src/app.ts'
import { harness, probedStorage, T0, tankSource } from '../ledger/harness.ts'
import { actorOf, appDepsOf, injectAs } from '../support/app-deps.ts'

const report = (at: number, reallocatedSectors: number): DiskHealthBody => ({
  at: new Date(at).toISOString(),
  disks: [
    {
      name: '/dev/sdb',
      type: 'sat',
      protocol: 'ATA',
      source: 'smartctl',
      smart: 'passed',
      serial: 'WD-B1',
      model: 'WDC WD40EFRX',
      counters: { reallocatedSectors },
      failingAttributes: [],
      messages: [],
    },
  ],
  filesystems: [],
  pools: [],
  notes: [],
})

/**
 * The ledger reads device health from the store, the store raises alerts and requeues the node's assets (as
 * compose/ledger.ts wires it).
 */
function setup() {
  const h = harness()
  const disks = h.diskHealth
  const deps = appDepsOf(h)
  const app = buildApp(deps)
  const operator = deps.bearer('operator')
  const api = injectAs(app, operator)
  h.start()
  // c1 on the USB disk WD-B1, c2 on an offsite NAS (probed, as agents report them): production + 2 domains.
  const usb = probedStorage({ devices: [{ id: 'serial:WD-B1', transport: 'usb' }], fsUuid: 'usb1', media: 'usb' })
  const nas = probedStorage({
    host: 'nas2',
    site: 'office',
    devices: [{ id: 'serial:NAS-A', transport: 'sata' }],
    media: 'nas',
  })
  h.run(
    'snap',
    T0,
    60_000,
    [
      h.copy('c1', 'tank/data', T0 + 1, {
        location: { kind: 'usb', target: '/mnt/usb1', device: { serial: 'WD-B1' } },
        storage: usb,
      }),
      h.copy('c2', 'tank/data', T0 + 1, {
        location: { kind: 'nas', target: 'nas2:/b' },
        media: 'nas',
        offsite: true,
        immutable: true,
        storage: nas,
      }),
    ],
    'success',
    undefined,
    [{ asset: { kind: 'zfs-dataset', id: 'tank/data' }, storage: tankSource }],
  )
  const apply = (body: DiskHealthBody): void => {
    h.db.transaction(() => disks.applyReport('pve1', body, new Date(body.at)))()
    h.ledger.runNow()
  }
  const counts = async (): Promise<{ copies: number; onUnhealthyDevice: number }> => {
    const r = await api('/api/v1/asset?node=pve1&kind=zfs-dataset&id=tank/data')
    assert.equal(r.statusCode, 200, r.body)
    return (r.json() as { asset: { counts: { copies: number; onUnhealthyDevice: number } } }).asset.counts
  }
  return { h, app, api, actor: actorOf(operator), tokens: deps.tokens, apply, counts, store: disks }
}

describe('disk health API', () => {
  it('lists disks with health and growth; acknowledging a grown counter makes the copy count again', async (t) => {
    const { h, app, api, actor, apply, counts, store } = setup()
    t.after(() => {
      h.stop()
      void app.close()
    })
    apply(report(T0 + 120_000, 0))
    assert.equal((await counts()).copies, 3)

    apply(report(T0 + 180_000, 8))
    const degraded = await counts()
    assert.equal(degraded.copies, 2, 'unacknowledged growth: degraded, c1 does not count')
    assert.equal(degraded.onUnhealthyDevice, 1)
    const list = await api('/api/v1/nodes/pve1/disks')
    assert.equal(list.statusCode, 200, list.body)
    const [disk] = list.json().disks
    assert.equal(list.json().at, new Date(T0 + 180_000).toISOString())
    assert.equal(disk.key, 'serial:WD-B1')
    assert.equal(disk.health, 'degraded')
    assert.deepEqual(disk.grown, [{ counter: 'reallocatedSectors', baseline: 0, current: 8, delta: 8 }])
    assert.equal(disk.baseline.acknowledgedAt, null)

    const ack = await api({
      method: 'POST',
      url: `/api/v1/nodes/pve1/disks/${encodeURIComponent('serial:WD-B1')}/acknowledge`,
    })
    assert.equal(ack.statusCode, 200, ack.body)
    assert.equal(ack.json().disk.health, 'ok')
    assert.deepEqual(ack.json().disk.grown, [])
    assert.equal(ack.json().disk.baseline.acknowledgedAt, new Date(T0).toISOString())
    assert.deepEqual(store.baselines('pve1').get('serial:WD-B1')?.counters, { reallocatedSectors: 8 })
    const audit = h.auditLog.list({ action: 'disk.acknowledge' })
    assert.deepEqual(
      audit.map((e) => [e.actor, e.target]),
      [[actor, 'pve1/serial:WD-B1']],
    )
    h.ledger.runNow()
    assert.equal((await counts()).copies, 3, 'acknowledged: the disk is ok, c1 counts again')
  })

  it('a disk first seen with 8 reallocated sectors: its copy counts once an operator acknowledges', async (t) => {
    const { h, app, api, actor, apply, counts, store } = setup()
    t.after(() => {
      h.stop()
      void app.close()
    })
    apply(report(T0 + 120_000, 8))
    assert.equal((await counts()).copies, 2, 'pre-existing damage: degraded, c1 does not count')
    const [disk] = (await api('/api/v1/nodes/pve1/disks')).json().disks
    assert.equal(disk.health, 'degraded')
    assert.deepEqual(disk.grown, [])
    assert.deepEqual(disk.baseline, {
      counters: { reallocatedSectors: 8 },
      firstSeenAt: new Date(T0 + 120_000).toISOString(),
      acknowledgedAt: null,
    })
    const diskAlerts = async (): Promise<string[]> => {
      const r = await api('/api/v1/alerts?kind=unhealthy-device&node=pve1')
      assert.equal(r.statusCode, 200, r.body)
      const list = r.json().alerts as { key: string; state: string; severity: string; summary: string }[]
      return list.map((a) => `${a.state} ${a.severity} ${a.key}: ${a.summary}`)
    }
    assert.deepEqual(await diskAlerts(), [
      'firing warning unhealthy-device/pve1/pre-existing-damage/serial:WD-B1: ' +
        '/dev/sdb (WDC WD40EFRX WD-B1): pre-existing damage: 8 reallocated sectors; acknowledge to baseline',
    ])

    const ack = await api({ method: 'POST', url: '/api/v1/nodes/pve1/disks/serial%3AWD-B1/acknowledge' })
    assert.equal(ack.statusCode, 200, ack.body)
    assert.equal(ack.json().disk.health, 'ok')
    assert.deepEqual(
      h.auditLog.list({ action: 'disk.acknowledge' }).map((e) => [e.actor, e.target]),
      [[actor, 'pve1/serial:WD-B1']],
    )
    h.ledger.runNow()
    assert.equal((await counts()).copies, 3, 'acknowledged: the baseline is 8 and c1 counts')
    assert.deepEqual(
      await diskAlerts(),
      [
        'resolved warning unhealthy-device/pve1/pre-existing-damage/serial:WD-B1: ' +
          `acknowledged by ${actor}: the current counters are the baseline`,
      ],
      'resolved by the acknowledgement itself, before the next report',
    )
    apply(report(T0 + 180_000, 8))
    assert.equal((await diskAlerts()).filter((a) => a.startsWith('firing')).length, 0, 'the same 8: nothing fires')
    apply(report(T0 + 240_000, 9))
    assert.equal((await counts()).copies, 2, 'growth beyond the acknowledged 8: degraded again')
    assert.deepEqual(
      (await diskAlerts()).filter((a) => a.startsWith('firing')),
      [
        'firing critical unhealthy-device/pve1/counter-grew/serial:WD-B1: ' +
          '/dev/sdb (WDC WD40EFRX WD-B1): reallocatedSectors 8→9 since the acknowledged baseline; ' +
          'acknowledge once understood',
      ],
    )
    assert.deepEqual(store.baselines('pve1').get('serial:WD-B1')?.counters, { reallocatedSectors: 8 })
  })

  it('answers coded 400 / 404 for bad or unknown nodes and disks, and needs the operator role', async (t) => {
    const { h, app, api, tokens, apply } = setup()
    t.after(() => {
      h.stop()
      void app.close()
    })
    apply(report(T0 + 120_000, 0))
    const cases: [method: 'GET' | 'POST', url: string, status: number, code: string, match: RegExp][] = [
      ['GET', '/api/v1/nodes/nobody/disks', 404, 'BK_ERR_API_NOT_FOUND', /no enrolled node "nobody"/],
      ['GET', '/api/v1/nodes/Bad%20Node!/disks', 400, 'BK_ERR_API_VALIDATION', /params\.node/],
      [
        'POST',
        '/api/v1/nodes/pve1/disks/serial%3ANOPE/acknowledge',
        404,
        'BK_ERR_API_NOT_FOUND',
        /no disk "serial:NOPE".*known: serial:WD-B1/,
      ],
      [
        'POST',
        '/api/v1/nodes/nobody/disks/serial%3AWD-B1/acknowledge',
        404,
        'BK_ERR_API_NOT_FOUND',
        /no enrolled node/,
      ],
      ['POST', '/api/v1/nodes/pve1/disks//acknowledge', 400, 'BK_ERR_API_VALIDATION', /params\.disk/],
    ]
    for (const [method, url, status, code, match] of cases) {
      const r = await api({ method, url })
      assert.equal(r.statusCode, status, `${method} ${url}: ${r.body}`)
      assert.equal(r.json().error.code, code, url)
      assert.match(r.json().error.message, match, url)
    }
    // A node known to the ledger but without any report yet: an empty list, not an error.
    h.core.nodes.insert({
      node: 'nas1',
      publicKey: 'k2',
      fingerprint: 'f2',
      enrolledAt: T0,
      hostname: 'nas1',
      agentVersion: '0',
    })
    assert.deepEqual((await api('/api/v1/nodes/nas1/disks')).json(), { node: 'nas1', at: null, disks: [] })

    const viewer = tokens.create('grafana', 'viewer', T0).token
    const operator = tokens.create('oncall', 'operator', T0).token
    const url = '/api/v1/nodes/pve1/disks/serial%3AWD-B1/acknowledge'
    assert.equal((await app.inject({ method: 'POST', url })).statusCode, 401)
    assert.equal(
      (
        await app.inject({
          method: 'GET',
          url: '/api/v1/nodes/pve1/disks',
          headers: { authorization: `Bearer ${viewer}` },
        })
      ).statusCode,
      200,
    )
    const weak = await app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${viewer}` } })
    assert.equal(weak.statusCode, 403)
    assert.equal(weak.json().error.code, 'BK_ERR_API_FORBIDDEN')
    const ok = await app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${operator}` } })
    assert.equal(ok.statusCode, 200, ok.body)
    assert.match(h.auditLog.list({ action: 'disk.acknowledge' })[0]!.actor, /^token:[0-9a-f]{16}$/)
  })
})
