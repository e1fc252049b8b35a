import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isBackstopError, parseTimeWindow } from '@backstop/shared'
import { RunReport } from '../../../src/jobs/snapshot-common/report.ts'
import { resolveBtrfsJob, type BtrfsJobInput } from '../../../src/jobs/btrfs/config.ts'
import { notDue, outsideWindow } from '../../../src/jobs/snapshot-common/window.ts'

test('a target outside its window is skipped with a warning naming the next opening; inside or with none, not', () => {
  const window = parseTimeWindow('01:00-05:00', 'UTC', 'jobs.x.targets[0].window')
  const report = new RunReport()
  assert.equal(outsideWindow({ name: 'offsite', window }, new Date('2026-11-10T12:00:00Z'), report), true)
  assert.deepEqual(report.warnings, [
    'target offsite: outside its window 01:00-05:00 (UTC), not attempted; the next run from ' +
      '2026-11-11T01:00:00.000Z sends everything missing',
  ])
  assert.equal(report.result().status, 'success', 'skipping by design is not a failure')
  assert.equal(outsideWindow({ name: 'offsite', window }, new Date('2026-11-10T01:00:00Z'), report), false)
  assert.equal(outsideWindow({ name: 'usb' }, new Date('2026-11-10T12:00:00Z'), report), false)
  assert.equal(report.warnings.length, 1)
})

test('a target with its own schedule is due only when a slot passed since the newest snapshot it holds', () => {
  const target = { schedule: { cron: '0 2 * * *', timezone: 'Europe/Amsterdam' } }
  const at = (iso: string): Date => new Date(iso)
  // 02:00 in Amsterdam is 01:00 UTC in November.
  assert.equal(notDue(target, at('2026-11-10T01:00:00Z'), at('2026-11-10T05:00:00Z')), true, 'fed at the slot')
  assert.equal(notDue(target, at('2026-11-10T00:30:00Z'), at('2026-11-10T05:00:00Z')), false, 'the slot came after')
  assert.equal(notDue(target, at('2026-11-08T01:00:00Z'), at('2026-11-10T00:00:00Z')), false, 'a missed day')
  assert.equal(notDue(target, null, at('2026-11-10T05:00:00Z')), false, 'holds nothing yet: due')
  assert.equal(notDue({}, at('2026-11-10T04:59:00Z'), at('2026-11-10T05:00:00Z')), false, 'no schedule: always')
})

test('a target schedule that is no cron fails the config naming the field', () => {
  const input = {
    kind: 'btrfs',
    name: 'home',
    media: 'ssd',
    subvolumes: ['/srv/home'],
    snapshotDir: '/srv/.snapshots',
    targets: [{ name: 'disk2', path: '/mnt/disk2/backstop', media: 'hdd', schedule: 'daily at two' }],
  } as BtrfsJobInput
  assert.throws(
    () => resolveBtrfsJob(input, 'UTC'),
    (e: unknown) => {
      assert.ok(isBackstopError(e))
      assert.equal(e.code, 'BK_ERR_CONFIG_INVALID')
      assert.match(e.message, /jobs\.home\.targets\[0\]\.schedule: .*"daily at two".*"0 2 \* \* \*"/)
      return true
    },
  )
})
