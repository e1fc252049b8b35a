import assert from 'node:assert/strict'
import { describe, it, type TestContext } from 'node:test'
import type { InventoryBody } from '@backstop/shared'
import { buildApp } from '../../src/app.ts'
import { ledgerConfig } from '../../src/ledger/config.ts'
import { harness, T0 } from '../ledger/harness.ts'
import { actorOf, appDepsOf, injectAs } from '../support/app-deps.ts'

function setup(t: TestContext, roles?: string[]) {
  const h = harness(ledgerConfig(roles !== undefined ? { bareMetalImageRoles: roles } : {}))
  const deps = appDepsOf(h)
  const app = buildApp(deps)
  h.start()
  t.after(() => {
    h.stop()
    void app.close()
  })
  const inventory = (body: Omit<InventoryBody, 'at'>, at = T0): void => {
    h.db.transaction(() => h.core.assets.replaceInventory('pve1', { at: new Date(at).toISOString(), ...body }))()
    h.ledger.runNow()
  }
  const operator = deps.bearer('operator')
  return {
    h,
    app,
    deps,
    inventory,
    operator,
    api: injectAs(app, operator),
    viewer: injectAs(app, deps.bearer('viewer')),
  }
}

const assets = (rear: string[]): InventoryBody['assets'] => [
  { asset: { kind: 'zfs-dataset', id: 'tank/scratch' }, coveredBy: [] },
  { asset: { kind: 'zfs-dataset', id: 'tank/data' }, coveredBy: ['snap'] },
  { asset: { kind: 'host-image', id: 'host/pve1', name: 'pve1' }, coveredBy: rear },
]

describe('coverage from the inventory', () => {
  it('raises a gap for an uncovered asset and a hypervisor without bare-metal image; rear resolves it', async (t) => {
    const { h, inventory, viewer } = setup(t)
    inventory({
      role: 'hypervisor',
      assets: assets([]),
      mounts: [{ target: '/', source: '/dev/vda', fstype: 'ext4' }],
      blockDevices: [{ name: 'vda', type: 'disk', size: 1000, removable: false, mountpoint: '/' }],
    })
    assert.equal(h.alert('coverage-gap/pve1/zfs-dataset/tank/scratch')!.state, 'firing')
    assert.equal(h.alert('coverage-gap/pve1/zfs-dataset/tank/data'), undefined)
    const image = h.alert('coverage-gap/pve1/host-image/host/pve1')!
    assert.equal(image.state, 'firing')
    assert.match(image.summary, /pve1 \(role hypervisor\) has no bare-metal image/)
    const view = (await viewer('/api/v1/coverage?node=pve1')).json()
    assert.equal(view.role, 'hypervisor')
    assert.deepEqual(
      view.assets.map((a: { kind: string; id: string; status: string }) => `${a.kind} ${a.id} ${a.status}`),
      ['host-image host/pve1 gap', 'zfs-dataset tank/data covered', 'zfs-dataset tank/scratch gap'],
    )
    assert.deepEqual(view.mounts, [{ target: '/', source: '/dev/vda', fstype: 'ext4' }])
    assert.equal(view.blockDevices[0].name, 'vda')
    inventory({ role: 'hypervisor', assets: assets(['rescue-usb']) }, T0 + 60_000)
    assert.equal(h.alert('coverage-gap/pve1/host-image/host/pve1')!.state, 'resolved')
  })

  it('needs no image for a role the collector does not list', async (t) => {
    const { h, inventory, viewer } = setup(t, ['hypervisor'])
    inventory({ role: 'server', assets: assets([]) })
    assert.equal(h.alert('coverage-gap/pve1/host-image/host/pve1'), undefined)
    const view = (await viewer('/api/v1/coverage?node=pve1')).json()
    assert.equal(view.assets.find((a: { kind: string }) => a.kind === 'host-image').status, 'not-required')
    // The node becomes a hypervisor: its next inventory raises the gap.
    inventory({ role: 'hypervisor', assets: assets([]) }, T0 + 60_000)
    assert.equal(h.alert('coverage-gap/pve1/host-image/host/pve1')!.state, 'firing')
  })
})

describe('a partial inventory (a tool failed on the node)', () => {
  it('keeps the unknown kind and facts as last known; the next complete one decides', async (t) => {
    const { h, inventory, viewer } = setup(t)
    const stick = { name: 'sdb1', type: 'part', size: 8e9, removable: true, tran: 'usb', uuid: 'STICK-1' }
    const vda = { name: 'vda', type: 'disk', size: 1000, removable: false, mountpoint: '/' }
    inventory({ role: 'hypervisor', assets: assets([]), blockDevices: [vda, stick] })
    assert.equal(h.alert('coverage-gap/pve1/zfs-dataset/tank/scratch')!.state, 'firing')

    // zfs-fuse stopped and lsblk hung: no datasets and no block devices in this inventory, both said unknown.
    const incomplete: InventoryBody['incomplete'] = [
      { part: 'blockDevices', reason: 'BK_ERR_EXEC_TIMEOUT: lsblk ran longer than 30000 ms' },
      { part: 'zfs-dataset', reason: 'BK_ERR_EXEC_FAILED: internal error: failed to initialize ZFS library' },
    ]
    inventory({ role: 'hypervisor', assets: assets([]).slice(2), incomplete }, T0 + 60_000)
    assert.equal(h.alert('coverage-gap/pve1/zfs-dataset/tank/scratch')!.state, 'firing', 'not taken as gone')
    const view = (await viewer('/api/v1/coverage?node=pve1')).json()
    assert.deepEqual(
      view.assets.map((a: { kind: string; id: string; status: string }) => `${a.kind} ${a.id} ${a.status}`),
      ['host-image host/pve1 gap', 'zfs-dataset tank/data covered', 'zfs-dataset tank/scratch gap'],
    )
    assert.deepEqual(view.incomplete, incomplete)
    assert.deepEqual(
      view.blockDevices.map((d: { name: string }) => d.name),
      ['vda', 'sdb1'],
      'the stick is still where it was last seen',
    )

    // zfs back: the dataset destroyed meanwhile is gone now, and nothing is unknown any more.
    inventory({ role: 'hypervisor', assets: assets([]).slice(1), blockDevices: [vda] }, T0 + 120_000)
    assert.equal(h.alert('coverage-gap/pve1/zfs-dataset/tank/scratch')!.state, 'resolved')
    const after = (await viewer('/api/v1/coverage?node=pve1')).json()
    assert.deepEqual(after.incomplete, [])
    assert.equal(after.assets.find((a: { id: string }) => a.id === 'tank/scratch').status, 'gone')
    assert.deepEqual(
      after.blockDevices.map((d: { name: string }) => d.name),
      ['vda'],
    )
  })
})

describe('marking an asset intentionally unprotected', () => {
  it('is role-checked, audited with its reason, shown, resolves the alert; removing it re-raises', async (t) => {
    const { h, app, inventory, api, viewer, operator } = setup(t)
    inventory({ role: 'hypervisor', assets: assets(['rescue-usb']) })
    const key = 'coverage-gap/pve1/zfs-dataset/tank/scratch'
    assert.equal(h.alert(key)!.state, 'firing')
    const url = '/api/v1/asset/exemption?node=pve1&kind=zfs-dataset&id=tank/scratch'
    const forbidden = await viewer({ method: 'PUT', url, payload: { reason: 'scratch space' } })
    assert.equal(forbidden.statusCode, 403)
    assert.equal((await app.inject({ method: 'PUT', url, payload: { reason: 'x-y-z' } })).statusCode, 401)
    assert.equal(h.alert(key)!.state, 'firing', 'a refused request changes nothing')
    const missing = await api({
      method: 'PUT',
      url: '/api/v1/asset/exemption?node=pve1&kind=zfs-dataset&id=tank/nope',
      payload: { reason: 'scratch space' },
    })
    assert.equal(missing.statusCode, 404)
    assert.equal((await api({ method: 'PUT', url, payload: {} })).statusCode, 400, 'a reason is required')
    const ok = await api({ method: 'PUT', url, payload: { reason: 'scratch space, rebuilt nightly' } })
    assert.equal(ok.statusCode, 200, ok.body)
    assert.equal(h.alert(key)!.state, 'resolved')
    const scratch = (await viewer('/api/v1/coverage?node=pve1'))
      .json()
      .assets.find((a: { id: string }) => a.id === 'tank/scratch')
    assert.equal(scratch.status, 'exempt')
    assert.equal(scratch.exemption.reason, 'scratch space, rebuilt nightly')
    assert.equal(scratch.exemption.actor, actorOf(operator))
    assert.equal(scratch.exemption.at, new Date(h.clock.now()).toISOString())
    // A later inventory still listing it uncovered keeps it quiet.
    inventory({ role: 'hypervisor', assets: assets(['rescue-usb']) }, T0 + 60_000)
    assert.equal(h.alert(key)!.state, 'resolved')
    const audit = (await api('/api/v1/audit?action=asset.exempt')).json().entries
    assert.equal(audit.length, 1)
    assert.equal(audit[0].target, 'pve1/zfs-dataset/tank/scratch')
    assert.equal(audit[0].actor, actorOf(operator))
    assert.deepEqual(audit[0].detail, { reason: 'scratch space, rebuilt nightly' })
    const removed = await api({ method: 'DELETE', url })
    assert.equal(removed.statusCode, 200, removed.body)
    assert.equal(h.alert(key)!.state, 'firing')
    assert.equal((await api('/api/v1/audit?action=asset.unexempt')).json().entries.length, 1)
    assert.equal((await api({ method: 'DELETE', url })).statusCode, 404)
  })
})
