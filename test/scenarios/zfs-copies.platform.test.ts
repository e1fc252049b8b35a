import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { requirePlatform } from '../support/platform.ts'
import { zfsFuseReady } from '../support/zfs.ts'
import { fleet, type AssetRef, type Verdict } from './support/fleet.ts'

/**
 * Where the copies of a ZFS dataset are, and what the collector makes of it: real agent binary, real collector,
 * zfs-fuse pools on files on "disks" the scenario creates (the system disk holding /tmp, or a tmpfs of its own).
 * Default tier `standard`: 3 copies, 2 media types, 1 offsite, 1 offline or immutable, 0 verification errors.
 */
const needs = { root: true, commands: ['zpool', 'zfs', 'losetup', 'mount'], checks: [zfsFuseReady] }
/** The standard tier's RPO: 26 h. */
const RPO_S = 26 * 3600
const keep = { keep: { last: 3, hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0 } }

/** [code, actual, required] of every reason, sorted: the rules that are not met, and by how much. */
const rules = (v: Verdict): [string, number, number][] =>
  v.reasons
    .map((r): [string, number, number] => [r.code, r.actual, r.required])
    .sort((a, b) => a[0].localeCompare(b[0]))
const reason = (v: Verdict, code: string): string => v.reasons.find((r) => r.code === code)?.message ?? ''
const counts = (v: Verdict, keys: readonly string[]): Record<string, number | null | undefined> =>
  Object.fromEntries(keys.map((k) => [k, v.counts[k]]))

describe('scenarios: ZFS copies counted by failure domain', { timeout: 180_000 }, () => {
  it('all copies on the production pool: one copy, non-compliant', async (t) => {
    if (!requirePlatform(t, needs)) {
      return
    }
    const f = await fleet(t)
    const pve1 = f.node('pve1')
    const tank = pve1.zfsPool('tank')
    const vm = tank.dataset('vm-100-disk-0')
    pve1.job({ kind: 'zfs', name: 'tank-snapshots', datasets: [vm], retention: keep, media: 'hdd' })
    assert.equal((await f.runJob('pve1', 'tank-snapshots')).status, 'success')
    assert.equal((await f.runJob('pve1', 'tank-snapshots')).status, 'success')

    const asset: AssetRef = { node: 'pve1', kind: 'zfs-dataset', id: vm }
    const v = await f.collector.verdict(asset)
    assert.equal(v.status, 'non-compliant')
    assert.deepEqual(counts(v, ['copies', 'offsite', 'offlineOrImmutable', 'versions']), {
      copies: 1,
      offsite: 0,
      offlineOrImmutable: 0,
      versions: 1,
    })
    assert.deepEqual(rules(v), [
      ['no-offline-or-immutable', 0, 1],
      ['no-offsite', 0, 1],
      // No counted copy at all, so none is fresh either (-1: there is no newest counted copy).
      ['stale', -1, RPO_S],
      ['too-few-copies', 1, 3],
      ['too-few-media', 1, 2],
    ])
    assert.match(reason(v, 'too-few-copies'), new RegExp(`${tank.pool}.*version`), 'the reason names the versions')
    // One page, about what the user must fix: nothing else fired, not even briefly.
    await f.alertsAre([`firing warning non-compliant/pve1/zfs-dataset/${vm}`], 'versions only')
  })

  it('replica on a second disk that is always attached: two copies, not offline', async (t) => {
    if (!requirePlatform(t, needs)) {
      return
    }
    const f = await fleet(t)
    const pve1 = f.node('pve1')
    const tank = pve1.zfsPool('tank')
    const backup = pve1.zfsPool('backup', f.disk('sdb'))
    const vm = tank.dataset('vm-101-disk-0')
    // The operator typed offline: true for a disk that never leaves the machine: the collector must not believe it.
    const target = { name: 'sdb', dataset: `${backup.pool}/replica`, media: 'hdd', offline: true }
    pve1.job({ kind: 'zfs', name: 'tank-repl', datasets: [vm], retention: keep, media: 'hdd', targets: [target] })
    assert.equal((await f.runJob('pve1', 'tank-repl')).status, 'success')

    const v = await f.collector.verdict({ node: 'pve1', kind: 'zfs-dataset', id: vm })
    assert.equal(v.status, 'non-compliant')
    assert.deepEqual(counts(v, ['copies', 'offsite', 'offlineOrImmutable', 'versions']), {
      copies: 2,
      offsite: 0,
      offlineOrImmutable: 0,
      versions: 1,
    })
    assert.deepEqual(rules(v), [
      ['no-offline-or-immutable', 0, 1],
      ['no-offsite', 0, 1],
      ['too-few-copies', 2, 3],
      ['too-few-media', 1, 2],
    ])
    assert.match(reason(v, 'no-offline-or-immutable'), new RegExp(`${backup.pool}[^;]*online`), 'attached: online')
    await f.alertsAre([`firing warning non-compliant/pve1/zfs-dataset/${vm}`], 'a replica always attached')
  })

  it('replica on a second pool on the same disk does not count', async (t) => {
    if (!requirePlatform(t, needs)) {
      return
    }
    const f = await fleet(t)
    const pve1 = f.node('pve1')
    const tank = pve1.zfsPool('tank')
    const backup = pve1.zfsPool('backup') // on the system disk, like tank
    const vm = tank.dataset('vm-102-disk-0')
    const target = { name: 'backup', dataset: `${backup.pool}/replica`, media: 'hdd' }
    pve1.job({ kind: 'zfs', name: 'tank-repl', datasets: [vm], retention: keep, media: 'hdd', targets: [target] })
    assert.equal((await f.runJob('pve1', 'tank-repl')).status, 'success')

    const v = await f.collector.verdict({ node: 'pve1', kind: 'zfs-dataset', id: vm })
    assert.equal(v.status, 'non-compliant')
    assert.deepEqual(counts(v, ['copies', 'offsite', 'offlineOrImmutable']), {
      copies: 1,
      offsite: 0,
      offlineOrImmutable: 0,
    })
    assert.deepEqual(rules(v), [
      ['no-offline-or-immutable', 0, 1],
      ['no-offsite', 0, 1],
      ['stale', -1, RPO_S],
      ['too-few-copies', 1, 3],
      ['too-few-media', 1, 2],
    ])
    // The second pool sits on the production disk: a version of production, named with the disk it shares.
    assert.match(
      reason(v, 'too-few-copies'),
      new RegExp(`${backup.pool}[^;]*(production storage|shares)[^;]*dev:`),
      'names the replica and the shared disk',
    )
    assert.equal(v.counts['versions'], 2, 'the snapshots on tank and the replica on the same disk')
    await f.alertsAre([`firing warning non-compliant/pve1/zfs-dataset/${vm}`], 'a replica on the same disk')
  })

  it('held snapshots only are protected against accidents, not immutable', async (t) => {
    if (!requirePlatform(t, needs)) {
      return
    }
    const f = await fleet(t)
    const pve1 = f.node('pve1')
    const tank = pve1.zfsPool('tank')
    const backup = pve1.zfsPool('backup', f.disk('sdc'))
    const vm = tank.dataset('vm-103-disk-0')
    // Replication holds its base on both sides (zfs hold): the node's own root releases it in one command.
    const target = { name: 'sdc', dataset: `${backup.pool}/replica`, media: 'hdd' }
    pve1.job({ kind: 'zfs', name: 'tank-repl', datasets: [vm], retention: keep, media: 'hdd', targets: [target] })
    assert.equal((await f.runJob('pve1', 'tank-repl')).status, 'success')
    assert.equal((await f.runJob('pve1', 'tank-repl')).status, 'success')

    const v = await f.collector.verdict({ node: 'pve1', kind: 'zfs-dataset', id: vm })
    assert.equal(v.counts['offlineOrImmutable'], 0, 'a zfs hold does not fill the fourth "1"')
    assert.ok((v.counts['protectedAgainstAccidents'] ?? 0) >= 1, JSON.stringify(v.counts))
    assert.ok(
      rules(v).some(([code, actual, required]) => code === 'no-offline-or-immutable' && actual === 0 && required === 1),
    )
    assert.match(
      reason(v, 'no-offline-or-immutable'),
      new RegExp(`${backup.pool}[^;]*protected against accidents only \\(zfs-hold\\)`),
      'the hold is shown for what it is',
    )
    // The hold is no immutability that was lost, either: the one page is the unmet rule, and says why.
    const [page] = await f.alertsAre([`firing warning non-compliant/pve1/zfs-dataset/${vm}`], 'held only')
    assert.match(page!.summary, /protected against accidents only \(zfs-hold\)/)
  })
})
