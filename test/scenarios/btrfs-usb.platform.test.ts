import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { btrfsReady, subvolNames } from '../support/btrfs.ts'
import { requirePlatform } from '../support/platform.ts'
import { dirOn, madeInOrder, subvolume } from './support/media.ts'
import { fleet, type AssetRef, type Run, type Verdict } from './support/fleet.ts'

/**
 * btrfs subvolumes replicated to a loop "USB stick" (a btrfs image on its own tmpfs disk) that is plugged in,
 * pulled out and carried away. Real agent binary (`backstop-agent once`, as a user runs it), real collector.
 */
const needs = { root: true, commands: ['btrfs', 'mkfs.btrfs', 'losetup', 'mount', 'findmnt'], checks: [btrfsReady] }
const keep = { keep: { last: 10, hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0 } }
const keep2 = { keep: { ...keep.keep, last: 2 } }
const rules = (v: Verdict): [string, number, number][] =>
  v.reasons
    .map((r): [string, number, number] => [r.code, r.actual, r.required])
    .sort((a, b) => a[0].localeCompare(b[0]))
/** The counts that say how protected an asset is (not when, not how many replicas were verified). */
const SAME = ['copies', 'mediaTypes', 'offsite', 'offlineOrImmutable', 'verificationErrors', 'versions']
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
    const nonCompliant = `firing warning non-compliant/nas1/btrfs-subvolume/${docs}`
    await f.alertsAre([nonCompliant], 'plugged in')

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
    // A stick marked removable that is not there is no failed replication: no replication-failed, no run-failed.
    await f.alertsAre([nonCompliant], 'pulled out')

    // It is carried to the office, and the operator records that.
    await f.collector.recordRotation(stick.uuid, 'office')
    const v = await f.collector.verdict(asset)
    assert.deepEqual(
      counts(v, ['copies', 'offsite', 'offlineOrImmutable']),
      { copies: 2, offsite: 1, offlineOrImmutable: 1 },
      `detached and at the office: ${JSON.stringify(v.reasons)} ${JSON.stringify(v.raw.asset['places'] ?? null)}`,
    )
    assert.deepEqual(rules(v), [['too-few-copies', 2, 3]], JSON.stringify(v.reasons))
    // Still one page, now only about the third copy that is missing.
    const [page] = await f.alertsAre([nonCompliant], 'at the office')
    assert.match(page!.summary, /breaks 3-2-1-1-0 \(standard\): 2 copies .*need 3/)
    assert.doesNotMatch(page!.summary, /offsite copies|offline or immutable copies/, 'those rules are met now')
  })

  it('a backup disk unreachable for three daily runs, then back', async (t) => {
    if (!requirePlatform(t, needs)) {
      return
    }
    const f = await fleet(t)
    const nas = f.node('nas1')
    const fast = nas.btrfs('fast')
    const docs = subvolume(fast, 'documents')
    // A second disk that never leaves the machine (not removable, not offline): when it is gone, that is a fault.
    const backup = nas.btrfs('backup', f.disk('sdb'))
    const landing = dirOn(backup, 'backstop')
    const snapshotDir = join(fast.mnt, '.snapshots')
    const target = { name: 'backup', path: landing, media: 'hdd', fsUuid: backup.uuid, retention: keep }
    nas.job({
      kind: 'btrfs',
      name: 'docs',
      subvolumes: [docs],
      snapshotDir,
      retention: keep2,
      media: 'hdd',
      targets: [target],
    })
    const asset: AssetRef = { node: 'nas1', kind: 'btrfs-subvolume', id: docs }
    const nonCompliant = `firing warning non-compliant/nas1/btrfs-subvolume/${docs}`
    /** Every snapshot the job made, in the order it made them (each run adds one to snapshotDir). */
    const made: string[] = []
    const run = async (): Promise<Run> => {
      const r = await f.runJob('nas1', 'docs')
      const fresh = subvolNames(snapshotDir).filter((n) => !made.includes(n))
      assert.equal(fresh.length, 1, `each run takes one local snapshot: ${fresh.join(', ')}`)
      made.push(fresh[0]!)
      return r
    }

    // Day 1: the snapshot is on the backup disk.
    assert.equal((await run()).status, 'success')
    const before = await f.collector.verdict(asset)
    await f.alertsAre([nonCompliant], 'day 1')

    // Days 2–4: the backup disk is gone. Local snapshots and pruning go on; every run says the target failed.
    backup.detach()
    for (let day = 2; day <= 4; day++) {
      const r = await run()
      assert.deepEqual([r.status, r.error?.code], ['partial', 'BK_ERR_REPLICATION_FAILED'], `day ${day}`)
    }
    assert.deepEqual(
      subvolNames(snapshotDir),
      [made[0], made[2], made[3]],
      "keep last 2 pruned day 2; day 1 is kept: it is the backup disk's incremental base",
    )
    const away = await f.alertsAre([nonCompliant, 'firing warning replication-failed/nas1/docs'], 'day 4')
    assert.match(
      away.find((a) => a.kind === 'replication-failed')!.summary,
      new RegExp(`^job docs on nas1: target backup is offline: ${landing} is not on a mounted btrfs filesystem`),
    )
    const during = await f.collector.verdict(asset)
    assert.equal(during.counts['newestAt'], before.counts['newestAt'], 'the replicas stay as new as on day 1')
    assert.deepEqual(rules(during), rules(before), 'its copies are kept as last reported')

    // Day 5: it is back. Everything it missed that still exists arrives, oldest first, each on the one before.
    backup.attach()
    assert.equal((await run()).status, 'success')
    // Day 2's snapshot was pruned while the disk was away: everything else it missed is there, in the right order.
    const sent = [0, 2, 3, 4].map((day) => made[day]!)
    assert.deepEqual(madeInOrder(landing), sent, 'received oldest first')
    assert.deepEqual(subvolNames(snapshotDir), [made[3], made[4]], 'the old base is pruned once a newer one is there')
    const onTarget = (await f.collector.copies(asset))
      .map((c) => String(c['copyId']))
      .filter((id) => id.includes(landing))
      .sort()
    assert.deepEqual(
      onTarget,
      sent.map((n) => `btrfs:${join(landing, n)}`),
      'the collector lists each',
    )
    await f.alertsAre([nonCompliant, 'resolved warning replication-failed/nas1/docs'], 'day 5')
    const after = await f.collector.verdict(asset)
    assert.ok(Number(after.counts['newestAt']) > Number(before.counts['newestAt']), 'the replicas are current again')
    assert.equal(after.status, before.status)
    assert.deepEqual(rules(after), rules(before))
    assert.deepEqual(counts(after, SAME), counts(before, SAME), 'the verdict is what it was before the disk went')
  })
})
