import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { StorageIdentity } from '@backstop/shared'
import { buildApp } from '../../src/app.ts'
import { backupPoolStorage, harness, probedStorage, T0, tankSource } from '../ledger/harness.ts'
import { actorOf, appDepsOf, injectAs } from '../support/app-deps.ts'

const data = { kind: 'zfs-dataset' as const, id: 'tank/data' }
const ASSET_URL = '/api/v1/asset?node=pve1&kind=zfs-dataset&id=tank/data'
/** The USB disk the operator rotates: detached from pve1, reported at the node's site "home". */
const usbDetached = probedStorage({ fsUuid: 'USB-1-UUID', media: 'usb', attached: false })
/** A second pool whose only vdev sits on tank's disk: a version, however it is named. */
const sameDiskPool = probedStorage({ devices: tankSource.devices, fsUuid: 'second-pool', media: 'nvme' })

function setup(copies: { id: string; target: string; storage?: StorageIdentity; typed?: boolean }[]) {
  const h = harness()
  const deps = appDepsOf(h)
  const app = buildApp(deps)
  const admin = deps.bearer('admin')
  h.start()
  h.run(
    'snap',
    T0,
    60_000,
    copies.map((c) =>
      h.copy(c.id, data.id, T0 + 1, {
        location: { kind: 'zfs-pool', target: c.target },
        ...(c.storage ? { storage: c.storage } : {}),
        ...(c.typed ? { offsite: true, offline: true, immutable: true } : {}),
      }),
    ),
    'success',
    undefined,
    [{ asset: data, storage: tankSource }],
  )
  h.ledger.runNow()
  return { h, app, deps, api: injectAs(app, admin), actor: actorOf(admin) }
}

describe('verdict by failure domain through ingest and the API (issue 11)', () => {
  it('marks snapshots on production and a second pool on the same disk as versions, and says why', async (t) => {
    const { h, app, api } = setup([
      { id: 's1', target: 'tank', storage: tankSource },
      { id: 'p2', target: 'second', storage: sameDiskPool },
      { id: 'b1', target: 'backup', storage: backupPoolStorage },
    ])
    t.after(() => {
      h.stop()
      void app.close()
    })
    const r = (await api(ASSET_URL)).json()
    assert.equal(r.asset.counts.copies, 2, 'production + the backup pool on its own disk')
    assert.equal(r.asset.counts.versions, 2)
    const byId = Object.fromEntries(r.copies.map((c: { copyId: string }) => [c.copyId, c]))
    assert.equal(byId.s1.role, 'version')
    assert.equal(byId.p2.role, 'version')
    assert.match(byId.p2.why, /version: on the production storage \(dev:wwn:0x5002538e0000tank\)/)
    assert.equal(byId.b1.role, 'copy')
    assert.equal(byId.b1.counted, true)
    assert.deepEqual(byId.b1.failureDomain, ['dev:serial:WD-BACKUP', 'fs:bk', 'location:pve1/zfs-pool/backup'])
    assert.equal(byId.b1.storage.site, 'home', 'the probed storage is stored and returned per copy')
    const tooFew = r.asset.reasons.find((x: { code: string }) => x.code === 'too-few-copies')
    assert.ok(tooFew.copies.includes('pve1/zfs-pool/second'), 'the reason names the uncounted place')
    assert.match(tooFew.message, /pve1\/zfs-pool\/second \[p2\] \(version: on the production storage/)
  })

  it('an old agent typing offsite/offline/immutable earns no copy and none of the typed claims', async (t) => {
    const { h, app, api } = setup([
      { id: 'b1', target: 'backup', storage: backupPoolStorage },
      { id: 'o1', target: 'old-nas', typed: true },
    ])
    t.after(() => {
      h.stop()
      void app.close()
    })
    const r = (await api(ASSET_URL)).json()
    // Its devices are unknown: it could be on production's disk or the backup pool's, one failure away.
    assert.deepEqual([r.asset.counts.copies, r.asset.counts.offsite, r.asset.counts.offlineOrImmutable], [2, 0, 0])
    const old = r.asset.places.find((p: { locationKey: string }) => p.locationKey === 'pve1/zfs-pool/old-nas')
    assert.deepEqual([old.unprobed, old.unprovenClaims], [true, ['offsite', 'offline', 'immutable']])
    assert.deepEqual([old.counted, old.why.slice(0, 44)], [false, 'not counted: no probed storage identity (its'])
    assert.match(
      r.asset.reasons.find((x: { code: string }) => x.code === 'no-offsite').message,
      /pve1\/zfs-pool\/old-nas \[o1\] \(no probed storage identity/,
    )
  })

  it('rotation: recording that the USB disk is at the office makes its copy offsite at once, audited', async (t) => {
    const { h, app, api, actor, deps } = setup([
      { id: 'b1', target: 'backup', storage: backupPoolStorage },
      { id: 'u1', target: 'usb', storage: usbDetached },
    ])
    t.after(() => {
      h.stop()
      void app.close()
    })
    const before = (await api(ASSET_URL)).json().asset
    assert.deepEqual([before.counts.offsite, before.counts.offlineOrImmutable], [0, 1])
    assert.deepEqual(
      before.reasons.map((x: { code: string }) => x.code),
      ['no-offsite'],
    )

    const viewer = injectAs(app, deps.bearer('viewer'))
    const denied = await viewer({ method: 'PUT', url: '/api/v1/media/site', payload: { fsUuid: 'x', site: 'y' } })
    assert.equal(denied.statusCode, 403, 'rotation is an operator write')

    const put = await api({
      method: 'PUT',
      url: '/api/v1/media/site',
      payload: { fsUuid: 'usb-1-uuid', site: 'office', note: 'weekly rotation' },
    })
    assert.equal(put.statusCode, 200, put.body)
    assert.deepEqual(put.json().assets, ['pve1/zfs-dataset/tank/data'])
    const after = (await api(ASSET_URL)).json().asset
    assert.equal(after.verdict, 'compliant', JSON.stringify(after.reasons))
    assert.deepEqual([after.counts.offsite, after.counts.offlineOrImmutable], [1, 1])
    assert.deepEqual((await api('/api/v1/media/sites')).json().sites, { 'usb-1-uuid': 'office' })
    const audit = h.auditLog.list({ action: 'medium.site' })
    assert.deepEqual(
      audit.map((e) => [e.actor, e.target, e.detail]),
      [[actor, 'usb-1-uuid', { site: 'office', note: 'weekly rotation' }]],
    )
  })

  it('a USB disk detached from pve1, in pve2’s inventory: online, plugged into pve2, until pulled', async (t) => {
    const { h, app, api } = setup([
      { id: 'b1', target: 'backup', storage: backupPoolStorage },
      { id: 'u1', target: 'usb', storage: usbDetached },
    ])
    t.after(() => {
      h.stop()
      void app.close()
    })
    const offline = (): Promise<number> => api(ASSET_URL).then((r) => r.json().asset.counts.offlineOrImmutable)
    assert.equal(await offline(), 1, 'detached from pve1, seen nowhere: offline')
    const pve2 = {
      node: 'pve2',
      publicKey: 'k2',
      fingerprint: 'f2',
      enrolledAt: T0,
      hostname: 'pve2',
      agentVersion: '0',
    }
    h.core.nodes.insert(pve2)
    const stick = { name: 'sdb1', type: 'part', size: 64 << 20, removable: true, fstype: 'vfat', uuid: 'usb-1-uuid' }
    const inventory = (at: number, blockDevices: (typeof stick)[]) =>
      h.core.assets.replaceInventory('pve2', { at: new Date(at).toISOString(), assets: [], blockDevices })
    inventory(T0 + 60_000, [stick])
    h.ledger.runNow()
    const plugged = (await api(ASSET_URL)).json().asset
    assert.equal(plugged.counts.offlineOrImmutable, 0)
    const why = plugged.reasons.find((x: { code: string }) => x.code === 'no-offline-or-immutable')
    assert.match(why.message, /pve1\/zfs-pool\/usb \[u1\] \(online: plugged into pve2/)
    // lsblk failed on pve2: block devices unknown, not none — the stick stays where it was last seen.
    const lsblkFailed = { part: 'blockDevices' as const, reason: 'BK_ERR_EXEC_TIMEOUT: lsblk was killed' }
    h.core.assets.replaceInventory('pve2', {
      at: new Date(T0 + 90_000).toISOString(),
      assets: [],
      incomplete: [lsblkFailed],
    })
    h.ledger.runNow()
    assert.equal(await offline(), 0, 'an inventory that could not list block devices unplugs nothing')
    inventory(T0 + 120_000, [])
    h.ledger.runNow()
    assert.equal(await offline(), 1, 'pulled out of pve2 as well: offline again')
  })

  it("a replica nas1 pulled onto its own pool named tank counts in pve1's verdict, held by nas1", async (t) => {
    const { h, app, api } = setup([{ id: 's1', target: 'tank', storage: tankSource }])
    t.after(() => {
      h.stop()
      void app.close()
    })
    const nasTank = probedStorage({
      host: 'nas1',
      site: 'office',
      devices: [{ id: 'serial:NAS-DISK', transport: 'sata' }],
      fsUuid: 'nas-tank',
      immutability: { kind: 'pull-replica', probedAt: new Date(T0 + 2).toISOString() },
    })
    h.core.nodes.insert({
      node: 'nas1',
      publicKey: 'k2',
      fingerprint: 'f2',
      enrolledAt: T0,
      hostname: 'nas1',
      agentVersion: '0',
    })
    const at = new Date(T0 + 5000).toISOString()
    const replica = h.copy('s1', data.id, T0 + 1, {
      asset: { ...data, node: 'pve1', name: 'pve1.lan:tank/data' },
      location: { kind: 'zfs-pool', target: 'tank' },
      storage: nasTank,
    })
    h.core.runs.finished(
      'nas1',
      {
        runId: 'p1',
        job: 'pull-pve1',
        jobKind: 'zfs-pull',
        startedAt: at,
        finishedAt: at,
        status: 'success',
        copies: [replica],
        deleted: [],
        warnings: [],
      },
      at,
    )
    h.ledger.runNow()
    const r = (await api(ASSET_URL)).json()
    const byId = Object.fromEntries(r.copies.map((c: { copyId: string }) => [c.copyId, c]))
    assert.equal(byId['nas1:s1'].heldBy, 'nas1')
    assert.equal(byId['nas1:s1'].role, 'copy', 'not a version: its pool is not the production tank')
    assert.equal(byId['nas1:s1'].counted, true)
    assert.ok(byId['nas1:s1'].failureDomain.includes('location:nas1/zfs-pool/tank'))
    assert.equal(byId.s1.role, 'version')
    assert.deepEqual([r.asset.counts.copies, r.asset.counts.offsite, r.asset.counts.offlineOrImmutable], [2, 1, 1])
    const nasAssets = (await api('/api/v1/copies?node=nas1')).json().copies
    assert.deepEqual(nasAssets, [], 'nas1 got no asset of its own')

    // pve1's root key gets a login on nas1: pve1 (or whoever owns it) can now delete the replica nas1 pulled.
    const pveKey = 'SHA256:z8cSgvOjx2YP/FLsEuM5eJijgMOHwnnmsrgoZap1ID8'
    const inventory = (node: string, t: number, sshKeys: { authorized: string[]; own: string[] }) =>
      h.core.assets.replaceInventory(node, { at: new Date(T0 + t).toISOString(), assets: [], sshKeys })
    inventory('pve1', 10_000, { authorized: [], own: [pveKey] })
    inventory('nas1', 10_000, { authorized: [pveKey], own: [] })
    h.ledger.runNow()
    const exposed = (await api(ASSET_URL)).json().asset
    assert.equal(exposed.counts.offlineOrImmutable, 0)
    const place = exposed.places.find((p: { locationKey: string }) => p.locationKey === 'nas1/zfs-pool/tank')
    assert.deepEqual(
      [place.immutable, place.immutabilityVoided],
      [false, 'not immutable: an ssh key the source node holds is authorized on nas1'],
    )
    const why = exposed.reasons.find((x: { code: string }) => x.code === 'no-offline-or-immutable')
    assert.match(why.message, /nas1\/zfs-pool\/tank \[s1\] \(online, not immutable: an ssh key the source node/)
    // ssh-keygen failed on nas1: its logins are unknown, not none — the replica stays exposed.
    h.core.assets.replaceInventory('nas1', {
      at: new Date(T0 + 15_000).toISOString(),
      assets: [],
      incomplete: [{ part: 'sshKeys', reason: 'BK_ERR_EXEC_SPAWN: ssh-keygen not found' }],
    })
    h.ledger.runNow()
    assert.equal((await api(ASSET_URL)).json().asset.counts.offlineOrImmutable, 0, 'unknown logins restore nothing')
    // The operator removes the key from nas1's authorized_keys: nas1's next inventory restores the claim at once.
    inventory('nas1', 20_000, { authorized: [], own: [] })
    h.ledger.runNow()
    assert.equal((await api(ASSET_URL)).json().asset.counts.offlineOrImmutable, 1)
  })
})
