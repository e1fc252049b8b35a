import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { isBackstopError } from '@backstop/shared'
import { NodeExec } from '../../agent/src/exec/node-exec.ts'
import { resolveZfsJob, type ZfsJobInput } from '../../agent/src/jobs/zfs/config.ts'
import { ZfsSnapshotJob } from '../../agent/src/jobs/zfs/zfs-job.ts'
import { requirePlatform } from '../support/platform.ts'
import { createTestPool, guidOf, must, releaseHoldsAtEnd, zfsFuseReady } from '../support/zfs.ts'
import { jobContext, silentLog, TestClock, TriggerExec } from '../support/zfs-btrfs-context.ts'

/**
 * reverify-copy and restore-test of the zfs kind on real zfs-fuse pools: guid checks, full send streams, scratch
 * receive.
 */
const needs = { root: true, commands: ['zfs', 'zpool'], checks: [zfsFuseReady] }
const none = { hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0 }

test('zfs: re-verify a snapshot and its replica; restore-test into a scratch dataset, destroyed after', async (t) => {
  if (!requirePlatform(t, needs)) {
    return
  }
  const src = createTestPool(t, 'chks')
  const dst = createTestPool(t, 'chkd')
  must(['zfs', 'create', `${src.pool}/data`])
  writeFileSync(join(src.dir, 'mnt', 'data', 'file.bin'), randomBytes(256 * 1024))
  const clock = new TestClock(new Date('2026-11-10T00:00:00Z'))
  const exec = new TriggerExec(
    new NodeExec({ log: silentLog }),
    () => false,
    () => {},
  )
  const ctx = jobContext(t, clock, exec)
  const j = new ZfsSnapshotJob(
    resolveZfsJob(
      {
        kind: 'zfs',
        media: 'ssd',
        name: 'chk',
        datasets: [`${src.pool}/data`],
        retention: { keep: { last: 2, ...none } },
        targets: [
          { name: 'usb', dataset: `${dst.pool}/backup`, media: 'usb', retention: { keep: { last: 2, ...none } } },
        ],
      } as ZfsJobInput,
      'UTC',
    ),
  )
  const tds = `${dst.pool}/backup/${src.pool}/data`
  releaseHoldsAtEnd(t, 'backstop-chk-usb', [
    [`${src.pool}/data`, src.pool],
    [tds, dst.pool],
  ])
  const r = await j.run(ctx)
  assert.equal(r.status, 'success', JSON.stringify(r.error))
  const snap = `${src.pool}/data@backstop_20261110T000000Z_hdwmy`
  assert.equal(guidOf(snap), guidOf(`${tds}@backstop_20261110T000000Z_hdwmy`))

  const local = await j.verifyCopy(ctx, `zfs:${snap}`)
  assert.equal(local.result, 'ok', JSON.stringify(local))
  assert.ok(
    local.checks.some((c) => c.includes('has the same guid')),
    local.checks.join('\n'),
  )
  assert.ok((local.bytes ?? 0) > 256 * 1024, `the full stream was read: ${local.bytes}`)
  const replica = await j.verifyCopy(ctx, `zfs:${tds}@backstop_20261110T000000Z_hdwmy`)
  assert.equal(replica.result, 'ok', JSON.stringify(replica))

  const restored = await j.restoreTest(ctx, undefined)
  assert.equal(restored.result, 'ok', JSON.stringify(restored))
  assert.equal(restored.copyId, `zfs:${snap}`)
  assert.ok(
    restored.checks.some((c) => c.includes(`has the copy's guid ${guidOf(snap)}`)),
    restored.checks.join('\n'),
  )
  const left = must(['zfs', 'list', '-H', '-o', 'name', '-r', src.pool])
    .split('\n')
    .filter((n) => n.includes('backstop-restore-test-'))
  assert.deepEqual(left, [], 'scratch dataset destroyed')

  // Gone from disk → failed finding; a name that is not the job's → refused.
  must(['zfs', 'release', 'backstop-chk-usb', snap])
  must(['zfs', 'destroy', snap])
  const gone = await j.verifyCopy(ctx, `zfs:${snap}`)
  assert.equal(gone.result, 'failed')
  assert.equal(gone.error?.code, 'BK_ERR_COPY_NOT_FOUND')
  await assert.rejects(
    j.verifyCopy(ctx, `zfs:${src.pool}/other@backstop_20261110T000000Z_hdwmy`),
    (e) => isBackstopError(e) && e.code === 'BK_ERR_COPY_NOT_FOUND',
  )
})
