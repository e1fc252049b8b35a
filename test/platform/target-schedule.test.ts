import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { test } from 'node:test'
import { resolveBtrfsJob, type BtrfsJobInput } from '../../agent/src/jobs/btrfs/config.ts'
import { BtrfsSnapshotJob } from '../../agent/src/jobs/btrfs/btrfs-job.ts'
import { resolveZfsJob, type ZfsJobInput } from '../../agent/src/jobs/zfs/config.ts'
import { ZfsSnapshotJob } from '../../agent/src/jobs/zfs/zfs-job.ts'
import { NodeExec } from '../../agent/src/exec/node-exec.ts'
import { requirePlatform } from '../support/platform.ts'
import { btrfsReady, createTestBtrfs, subvolNames } from '../support/btrfs.ts'
import { createTestPool, must, releaseHoldsAtEnd, snapshotNames, zfsFuseReady } from '../support/zfs.ts'
import { jobContext, silentLog, TestClock, TriggerExec } from '../support/zfs-btrfs-context.ts'

/**
 * A target with its own `schedule:` (hourly snapshots, the second disk fed daily at 02:00): runs between slots
 * snapshot locally and leave the target alone; the first run at or after a slot sends everything missing, in
 * order; a slot missed while the node was off is caught up by the next run. Real btrfs loops and zfs-fuse pools.
 */
const none = { hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0 }
const keep = { keep: { last: 30, ...none } }
const hh = (h: number): string => `T${String(h).padStart(2, '0')}0000Z`

/** Runs at the given hours of 2026-11-10 (UTC); returns the target's snapshot hours after each run. */
async function runAt(
  hours: number[],
  run: (clock: TestClock) => Promise<{ status: string; error?: unknown }>,
  onTarget: () => string[],
  clock: TestClock,
): Promise<string[][]> {
  const seen: string[][] = []
  for (const h of hours) {
    clock.set(new Date(Date.UTC(2026, 10, 10, h)))
    const r = await run(clock)
    assert.equal(r.status, 'success', JSON.stringify(r.error))
    seen.push(onTarget().map((n) => /T\d{6}Z/.exec(n)![0]))
  }
  return seen
}

// 00:00 first run: the target holds nothing, so it is due. 01:00: no slot since 00:00. 02:00: the 02:00 slot
// passed: 01 and 02 go over. 03:00, 04:00: not due. The node is off from 05:00 until 03:00 the next day, so
// the next day's 02:00 slot was missed: its 03:00 run catches up (04:00 and that run's snapshot).
const HOURS = [0, 1, 2, 3, 4, 27]
const EXPECTED = [
  [hh(0)],
  [hh(0)],
  [hh(0), hh(1), hh(2)],
  [hh(0), hh(1), hh(2)],
  [hh(0), hh(1), hh(2)],
  [hh(0), hh(1), hh(2), hh(3), hh(4), hh(3)],
]

test('btrfs: a target with its own schedule is fed at its slots only, and catches up a missed slot', async (t) => {
  if (!requirePlatform(t, { root: true, checks: [btrfsReady] })) {
    return
  }
  const src = createTestBtrfs(t, 'tssrc')
  const usb = createTestBtrfs(t, 'tsdst')
  const home = join(src.mnt, 'home')
  must(['btrfs', 'subvolume', 'create', home])
  const clock = new TestClock(new Date('2026-11-10T00:00:00Z'))
  const ctx = jobContext(
    t,
    clock,
    new TriggerExec(
      new NodeExec({ log: silentLog }),
      () => false,
      () => {},
    ),
  )
  const dest = join(usb.mnt, 'backstop')
  const job = new BtrfsSnapshotJob(
    resolveBtrfsJob(
      {
        kind: 'btrfs',
        media: 'ssd',
        name: 'daily-feed',
        subvolumes: [home],
        snapshotDir: join(src.mnt, '.snapshots'),
        retention: keep,
        targets: [
          { name: 'disk2', path: dest, fsUuid: usb.uuid, media: 'hdd', retention: keep, schedule: '0 2 * * *' },
        ],
      } as BtrfsJobInput,
      'UTC',
    ),
  )
  const seen = await runAt(
    HOURS,
    async () => {
      writeFileSync(join(home, `f${clock.now().getTime()}.bin`), randomBytes(16 * 1024))
      return job.run(ctx)
    },
    () => subvolNames(dest),
    clock,
  )
  assert.deepEqual(seen, EXPECTED)
})

test('zfs: a target with its own schedule is fed at its slots only, and catches up a missed slot', async (t) => {
  if (!requirePlatform(t, { root: true, commands: ['zfs', 'zpool'], checks: [zfsFuseReady] })) {
    return
  }
  const src = createTestPool(t, 'tssrc')
  const dst = createTestPool(t, 'tsdst')
  must(['zfs', 'create', `${src.pool}/data`])
  const tds = `${dst.pool}/backup/${src.pool}/data`
  const tag = 'backstop-daily-feed-disk2'
  releaseHoldsAtEnd(t, tag, [
    [`${src.pool}/data`, src.pool],
    [tds, dst.pool],
  ])
  const clock = new TestClock(new Date('2026-11-10T00:00:00Z'))
  const ctx = jobContext(
    t,
    clock,
    new TriggerExec(
      new NodeExec({ log: silentLog }),
      () => false,
      () => {},
    ),
  )
  const job = new ZfsSnapshotJob(
    resolveZfsJob(
      {
        kind: 'zfs',
        media: 'nvme',
        name: 'daily-feed',
        datasets: [`${src.pool}/data`],
        retention: keep,
        targets: [
          { name: 'disk2', dataset: `${dst.pool}/backup`, media: 'hdd', retention: keep, schedule: '0 2 * * *' },
        ],
      } as ZfsJobInput,
      'UTC',
    ),
  )
  const seen = await runAt(
    HOURS,
    async () => {
      writeFileSync(join(src.dir, 'mnt', 'data', `f${clock.now().getTime()}.bin`), randomBytes(16 * 1024))
      return job.run(ctx)
    },
    () => snapshotNames(tds),
    clock,
  )
  assert.deepEqual(seen, EXPECTED)
})
