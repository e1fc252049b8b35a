import assert from 'node:assert/strict'
import { existsSync, readdirSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { test } from 'node:test'
import { resolveBtrfsJob, type BtrfsJobInput } from '../../agent/src/jobs/btrfs/config.ts'
import { BtrfsSnapshotJob } from '../../agent/src/jobs/btrfs/btrfs-job.ts'
import { NodeExec } from '../../agent/src/exec/node-exec.ts'
import { parseSubvolumeShow } from '../../agent/src/tools/btrfs-parse.ts'
import { requirePlatform } from '../support/platform.ts'
import { btrfsReady, createTestBtrfs, subvolNames, subvolShow } from '../support/btrfs.ts'
import { must } from '../support/zfs.ts'
import { jobContext, silentLog, TestClock, TriggerExec } from '../support/zfs-btrfs-context.ts'

/**
 * Btrfs catch-up on real btrfs loop filesystems: a USB target unplugged (unmounted) for three runs, then plugged
 * back, receives every snapshot it missed, oldest first, each sent incrementally on the one before — as ZFS
 * `send -I` would — and each replica is reported as a verified copy.
 */
const needs = { root: true, checks: [btrfsReady] }
const HOUR = 3_600_000
const none = { hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0 }
const name = (hour: number, tags = 'h'): string =>
  `home@backstop_20261110T${String(hour).padStart(2, '0')}0000Z_${tags}`

test('btrfs catch-up: a target away three runs gets all three missed snapshots, in order, verified', async (t) => {
  if (!requirePlatform(t, needs)) {
    return
  }
  const src = createTestBtrfs(t, 'cusrc')
  const usb = createTestBtrfs(t, 'cuusb')
  const home = join(src.mnt, 'home')
  const snapshots = join(src.mnt, '.snapshots')
  must(['btrfs', 'subvolume', 'create', home])
  const clock = new TestClock(new Date('2026-11-10T00:00:00Z'))
  const exec = new TriggerExec(
    new NodeExec({ log: silentLog }),
    () => false,
    () => {},
  )
  const ctx = jobContext(t, clock, exec)
  const dest = join(usb.mnt, 'backstop')
  const job = new BtrfsSnapshotJob(
    resolveBtrfsJob(
      {
        kind: 'btrfs',
        media: 'ssd',
        name: 'catchup',
        subvolumes: [home],
        snapshotDir: snapshots,
        retention: { keep: { last: 10, ...none } },
        targets: [
          {
            name: 'usb',
            path: dest,
            fsUuid: usb.uuid,
            media: 'usb',
            offline: true,
            retention: { keep: { last: 10, ...none } },
          },
        ],
      } as BtrfsJobInput,
      'UTC',
    ),
  )
  // Each run's snapshot holds one more file, so each replica can be told apart by its content.
  const runWith = async (hour: number) => {
    writeFileSync(join(home, `f${hour}.bin`), randomBytes(64 * 1024))
    const r = await job.run(ctx)
    clock.advance(HOUR)
    return r
  }

  const first = await runWith(0)
  assert.equal(first.status, 'success', JSON.stringify(first.error))
  assert.deepEqual(subvolNames(dest), [name(0, 'hdwmy')])

  usb.unmount()
  for (const hour of [1, 2, 3]) {
    const away = await runWith(hour)
    assert.equal(away.status, 'success', JSON.stringify(away.error))
    assert.ok(
      away.warnings.some((w) => w.startsWith('target usb is offline:')),
      away.warnings.join('\n'),
    )
  }
  assert.equal(existsSync(dest), false, 'nothing was written to the empty mountpoint while the disk was away')

  usb.mount()
  const sendsBefore = exec.calls.filter((a) => a[1] === 'send').length
  const back = await runWith(4)
  assert.equal(back.status, 'success', JSON.stringify(back.error))
  assert.deepEqual(
    back.warnings.filter((w) => !w.includes('never been scrubbed')),
    [],
    'back: no offline warning, no replication error',
  )
  // Oldest first, each on the one before it: the chain ZFS `send -I 00 04` would carry.
  const sends = exec.calls.filter((a) => a[1] === 'send').slice(sendsBefore)
  assert.deepEqual(
    sends.map((a) => a.slice(3)),
    [
      ['-p', join(snapshots, name(0, 'hdwmy')), join(snapshots, name(1))],
      ['-p', join(snapshots, name(1)), join(snapshots, name(2))],
      ['-p', join(snapshots, name(2)), join(snapshots, name(3))],
      ['-p', join(snapshots, name(3)), join(snapshots, name(4))],
    ],
  )
  const all = [name(0, 'hdwmy'), name(1), name(2), name(3), name(4)]
  assert.deepEqual(subvolNames(dest), all)
  for (const [i, n] of all.entries()) {
    const local = parseSubvolumeShow(subvolShow(join(snapshots, n)))
    const replica = parseSubvolumeShow(subvolShow(join(dest, n)))
    assert.equal(replica.receivedUuid, local.uuid, `${n}: received from our snapshot`)
    assert.equal(replica.readonly, true, n)
    const files = readdirSync(join(dest, n)).sort()
    assert.deepEqual(
      files,
      Array.from({ length: i + 1 }, (_, k) => `f${k}.bin`),
      `${n} holds what home held when it was taken`,
    )
  }
  // Every replica is reported as a copy on the USB disk, verified by received_uuid.
  const replicas = back.copies.filter((c) => c.location.device?.fsUuid === usb.uuid)
  assert.deepEqual(
    replicas.map((c) => [c.name, c.asset.id, c.verification.state, c.verification.method]),
    all.map((n) => [join(dest, n), home, 'verified', 'btrfs-received-uuid']),
  )
  assert.deepEqual(
    replicas.map((c) => c.createdAt),
    [0, 1, 2, 3, 4].map((h) => new Date(Date.UTC(2026, 10, 10, h)).toISOString()),
  )

  // Caught up: the next run sends only its own snapshot.
  const sendsNow = exec.calls.filter((a) => a[1] === 'send').length
  assert.equal((await runWith(5)).status, 'success')
  assert.deepEqual(
    exec.calls
      .filter((a) => a[1] === 'send')
      .slice(sendsNow)
      .map((a) => a.slice(3)),
    [['-p', join(snapshots, name(4)), join(snapshots, name(5))]],
  )
})
