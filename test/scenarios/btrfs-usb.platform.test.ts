import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { btrfsReady, subvolNames } from '../support/btrfs.ts'
import { requirePlatform } from '../support/platform.ts'
import { dirOn, subvolume } from './support/media.ts'
import { fleet, type AssetRef, type Verdict } from './support/fleet.ts'

/**
 * btrfs subvolumes replicated to a loop "USB stick" (a btrfs image on its own tmpfs disk) that is plugged in,
 * pulled out and carried away. Real agent binary (`backstop-agent once`, as a user runs it), real collector.
 */
const needs = { root: true, commands: ['btrfs', 'mkfs.btrfs', 'losetup', 'mount', 'findmnt'], checks: [btrfsReady] }
const keep = { keep: { last: 10, hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0 } }
const rules = (v: Verdict): [string, number, number][] =>
  v.reasons
    .map((r): [string, number, number] => [r.code, r.actual, r.required])
    .sort((a, b) => a[0].localeCompare(b[0]))
const counts = (v: Verdict, keys: readonly string[]): Record<string, number | null | undefined> =>
  Object.fromEntries(keys.map((k) => [k, v.counts[k]]))

describe('scenarios: btrfs and USB sticks', { timeout: 240_000 }, () => {
  it('a USB stick rotated offsite counts as offsite and offline', async (t) => {
    if (!requirePlatform(t, needs)) {
      return
    }
    const f = await fleet(t)
    const nas = f.node('nas1', { site: 'home' })
    const fast = nas.btrfs('fast')
    const docs = subvolume(fast, 'documents')
    const stick = nas.usbStick('stick')
    const target = { name: 'stick', path: dirOn(stick, 'backstop'), media: 'usb', offline: true, fsUuid: stick.uuid }
    nas.job({
      kind: 'btrfs',
      name: 'docs',
      subvolumes: [docs],
      snapshotDir: join(fast.mnt, '.snapshots'),
      retention: keep,
      media: 'hdd',
      targets: [target],
    })
    const asset: AssetRef = { node: 'nas1', kind: 'btrfs-subvolume', id: docs }
    assert.equal((await f.runJob('nas1', 'docs')).status, 'success')
    const plugged = await f.collector.verdict(asset)
    assert.deepEqual(
      counts(plugged, ['copies', 'offsite', 'offlineOrImmutable']),
      { copies: 2, offsite: 0, offlineOrImmutable: 0 },
      'a stick that is plugged in is online, and at home',
    )

    // Friday: the stick is pulled out; the next run cannot see it and says so: its copies are detached now.
    stick.detach()
    assert.equal((await f.runJob('nas1', 'docs')).status, 'success')
    const pulled = await f.collector.verdict(asset)
    const onStick = pulled.raw.copies.filter((c) => String(JSON.stringify(c['storage'])).includes(stick.uuid))
    assert.ok(onStick.length > 0, 'the copies on the stick are still listed')
    assert.deepEqual(
      onStick.map((c) => (c['storage'] as { attached?: boolean }).attached),
      onStick.map(() => false),
      'an unplugged stick is not left "attached" by its last report',
    )
    assert.deepEqual(
      counts(pulled, ['copies', 'offsite', 'offlineOrImmutable']),
      { copies: 2, offsite: 0, offlineOrImmutable: 1 },
      `detached, still at home: offline but not offsite: ${JSON.stringify(pulled.reasons)}`,
    )
    assert.deepEqual(
      rules(pulled).map(([code]) => code),
      ['no-offsite', 'too-few-copies'],
    )

    // It is carried to the office, and the operator records that.
    await f.collector.recordRotation(stick.uuid, 'office')
    const v = await f.collector.verdict(asset)
    assert.deepEqual(
      counts(v, ['copies', 'offsite', 'offlineOrImmutable']),
      { copies: 2, offsite: 1, offlineOrImmutable: 1 },
      `detached and at the office: ${JSON.stringify(v.reasons)} ${JSON.stringify(v.raw.asset['places'] ?? null)}`,
    )
    assert.deepEqual(rules(v), [['too-few-copies', 2, 3]], JSON.stringify(v.reasons))
  })

  it('an unreachable target for three runs, then back: every missing snapshot arrives', async (t) => {
    if (!requirePlatform(t, needs)) {
      return
    }
    const f = await fleet(t)
    const nas = f.node('nas1')
    const fast = nas.btrfs('fast')
    const docs = subvolume(fast, 'documents')
    const backup = nas.usbStick('backup')
    const landing = dirOn(backup, 'backstop')
    const target = { name: 'backup', path: landing, media: 'usb', offline: true, fsUuid: backup.uuid }
    const snapshotDir = join(fast.mnt, '.snapshots')
    nas.job({
      kind: 'btrfs',
      name: 'docs',
      subvolumes: [docs],
      snapshotDir,
      retention: keep,
      media: 'hdd',
      targets: [target],
    })
    assert.equal((await f.runJob('nas1', 'docs')).status, 'success')
    backup.detach()
    for (let i = 0; i < 3; i++) {
      assert.equal((await f.runJob('nas1', 'docs')).status, 'success', 'an absent offline target is not a failure')
    }
    backup.attach()
    assert.equal((await f.runJob('nas1', 'docs')).status, 'success')

    const local = subvolNames(snapshotDir)
    assert.equal(local.length, 5, local.join('\n'))
    assert.deepEqual(subvolNames(landing), local, 'the three missed snapshots and the new one, all on the target')
    const onTarget = (await f.collector.copies({ node: 'nas1', kind: 'btrfs-subvolume', id: docs }))
      .filter(
        (c) => JSON.stringify(c['location']).includes(landing) || JSON.stringify(c['location']).includes('backup'),
      )
      .map((c) => String(c['name']))
      .sort()
    assert.equal(onTarget.length, 5, `the collector lists every snapshot on the target: ${onTarget.join(', ')}`)
  })
})
