import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { isBackstopError } from '@backstop/shared'
import { resolveBtrfsJob, type BtrfsJobInput } from '../../agent/src/jobs/btrfs/config.ts'
import { BtrfsSnapshotJob } from '../../agent/src/jobs/btrfs/btrfs-job.ts'
import { requirePlatform } from '../support/platform.ts'
import { btrfsReady, createTestBtrfs } from '../support/btrfs.ts'
import { must } from '../support/zfs.ts'
import { jobContext, TestClock } from '../support/zfs-btrfs-context.ts'

/** reverify-copy and restore-test of the btrfs kind on real loop-file filesystems. */
const needs = { root: true, checks: [btrfsReady] }
const none = { hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0 }

// Re-verify checks that the snapshot is read-only, the replica's uuid link and the whole send stream.
test('btrfs: re-verify a snapshot and its replica; restore-test receives, diffs and cleans up', async (t) => {
  if (!requirePlatform(t, needs)) {
    return
  }
  const src = createTestBtrfs(t, 'chks')
  const usb = createTestBtrfs(t, 'chku')
  const home = join(src.mnt, 'home')
  must(['btrfs', 'subvolume', 'create', home])
  writeFileSync(join(home, 'a.bin'), randomBytes(300 * 1024))
  mkdirSync(join(home, 'dir'))
  writeFileSync(join(home, 'dir', 'b.txt'), 'hello\n')
  const snaps = join(src.mnt, '.snapshots')
  const dest = join(usb.mnt, 'backstop')
  const ctx = jobContext(t, new TestClock(new Date('2026-11-10T00:00:00Z')))
  const j = new BtrfsSnapshotJob(
    resolveBtrfsJob(
      {
        kind: 'btrfs',
        media: 'ssd',
        name: 'chk',
        subvolumes: [home],
        snapshotDir: snaps,
        retention: { keep: { last: 2, ...none } },
        targets: [{ name: 'usb', path: dest, media: 'usb', retention: { keep: { last: 2, ...none } } }],
      } as BtrfsJobInput,
      'UTC',
    ),
  )
  const r = await j.run(ctx)
  assert.equal(r.status, 'success', JSON.stringify(r.error))
  const name = 'home@backstop_20261110T000000Z_hdwmy'

  const local = await j.verifyCopy(ctx, `btrfs:${join(snaps, name)}`)
  assert.equal(local.result, 'ok', JSON.stringify(local))
  assert.ok(
    local.checks.some((c) => c.includes("replica's received_uuid is this snapshot's uuid")),
    local.checks.join('\n'),
  )
  assert.ok((local.bytes ?? 0) > 300 * 1024, `the whole stream was read: ${local.bytes}`)
  const replica = await j.verifyCopy(ctx, `btrfs:${join(dest, name)}`)
  assert.equal(replica.result, 'ok', JSON.stringify(replica))

  const restored = await j.restoreTest(ctx, undefined)
  assert.equal(restored.result, 'ok', JSON.stringify(restored))
  assert.equal(restored.copyId, `btrfs:${join(snaps, name)}`)
  assert.ok(
    restored.checks.some((c) => c.startsWith('diff -r')),
    restored.checks.join('\n'),
  )
  assert.deepEqual(
    readdirSync(snaps).filter((n) => n.startsWith('.backstop-restore-test-')),
    [],
    'scratch removed',
  )
  const fromReplica = await j.restoreTest(ctx, `btrfs:${join(dest, name)}`)
  assert.equal(fromReplica.result, 'ok', JSON.stringify(fromReplica))

  // A writable snapshot is not trustworthy; a deleted one is gone; a foreign id is refused.
  must(['btrfs', 'property', 'set', '-f', '-ts', join(dest, name), 'ro', 'false'])
  const writable = await j.verifyCopy(ctx, `btrfs:${join(dest, name)}`)
  assert.equal(writable.result, 'failed')
  assert.equal(writable.error?.code, 'BK_ERR_VERIFY_FAILED')
  must(['btrfs', 'subvolume', 'delete', join(dest, name)])
  const gone = await j.verifyCopy(ctx, `btrfs:${join(dest, name)}`)
  assert.equal(gone.error?.code, 'BK_ERR_COPY_NOT_FOUND')
  await assert.rejects(
    j.verifyCopy(ctx, `btrfs:${join(src.mnt, 'home')}`),
    (e) => isBackstopError(e) && e.code === 'BK_ERR_COPY_NOT_FOUND',
  )
})
