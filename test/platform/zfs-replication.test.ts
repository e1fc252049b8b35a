import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { test } from 'node:test'
import { BackstopError } from '@backstop/shared'
import { resolveZfsJob, type ZfsJobInput } from '../../agent/src/jobs/zfs/config.ts'
import { ZfsSnapshotJob } from '../../agent/src/jobs/zfs/zfs-job.ts'
import type { Exec } from '../../agent/src/exec/exec.ts'
import { NodeExec } from '../../agent/src/exec/node-exec.ts'
import { requirePlatform } from '../support/platform.ts'
import {
  createTestPool,
  guidOf,
  must,
  snapshotNames,
  userrefs,
  zfsFuseReady,
  releaseHoldsAtEnd,
} from '../support/zfs.ts'
import { jobContext, silentLog, TestClock, TriggerExec } from '../support/zfs-btrfs-context.ts'

/**
 * Replication on real zfs-fuse pools: full then incremental `zfs send | zfs receive` matched by guid, the base
 * held on both sides and moved after each success, the target pruned with its own policy, an unplugged
 * (exported) target reported offline without blocking local pruning, and a full target disk reported.
 */
const needs = { root: true, commands: ['zfs', 'zpool'], checks: [zfsFuseReady] }
const HOUR = 3_600_000
const none = { hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0 }

function job(input: Omit<ZfsJobInput, 'kind' | 'media'>): ZfsSnapshotJob {
  return new ZfsSnapshotJob(resolveZfsJob({ kind: 'zfs', media: 'nvme', ...input } as ZfsJobInput, 'UTC'))
}

test('zfs replication: full then incremental by guid, holds moved, own target pruning, offline target', async (t) => {
  if (!requirePlatform(t, needs)) {
    return
  }
  const src = createTestPool(t, 'src')
  const dst = createTestPool(t, 'usb')
  must(['zfs', 'create', `${src.pool}/data`])
  writeFileSync(join(src.dir, 'mnt', 'data', 'file.bin'), randomBytes(256 * 1024))
  const clock = new TestClock(new Date('2026-11-10T00:00:00Z'))
  const exec = new TriggerExec(
    new NodeExec({ log: silentLog }),
    () => false,
    () => {},
  )
  const ctx = jobContext(t, clock, exec)
  const j = job({
    name: 'repl',
    datasets: [`${src.pool}/data`],
    retention: { keep: { last: 2, ...none } },
    targets: [
      {
        name: 'usb',
        dataset: `${dst.pool}/backup`,
        media: 'usb',
        offline: true,
        retention: { keep: { last: 3, ...none } },
      },
    ],
  })
  const tds = `${dst.pool}/backup/${src.pool}/data`
  const tag = 'backstop-repl-usb'
  releaseHoldsAtEnd(t, tag, [
    [`${src.pool}/data`, src.pool],
    [tds, dst.pool],
  ])

  const r1 = await j.run(ctx)
  assert.equal(r1.status, 'success', JSON.stringify(r1.error))
  const s1 = 'backstop_20261110T000000Z_hdwmy'
  assert.deepEqual(snapshotNames(tds), [s1], 'first run: full send')
  assert.equal(guidOf(`${tds}@${s1}`), guidOf(`${src.pool}/data@${s1}`), 'same guid on both sides')
  assert.equal(userrefs(`${src.pool}/data@${s1}`), 1, 'base held on the source')
  assert.equal(userrefs(`${tds}@${s1}`), 1, 'base held on the target')
  assert.ok((r1.bytes ?? 0) > 200 * 1024, 'send stream size reported')
  const replica = r1.copies.find((c) => c.name === `${tds}@${s1}`)!
  assert.equal(replica.asset.id, `${src.pool}/data`, 'a replica protects the source dataset')
  assert.deepEqual(
    [replica.media, replica.offline, replica.immutable, replica.location.target],
    ['usb', true, true, dst.pool],
  )
  assert.equal(replica.verification.state, 'verified')
  assert.equal(replica.verification.method, 'zfs-guid')

  clock.advance(HOUR)
  const r2 = await j.run(ctx)
  assert.equal(r2.status, 'success', JSON.stringify(r2.error))
  const s2 = 'backstop_20261110T010000Z_h'
  const send = exec.calls.filter((a) => a[1] === 'send').at(-1)!
  assert.deepEqual(
    send,
    ['zfs', 'send', '-I', `${src.pool}/data@${s1}`, `${src.pool}/data@${s2}`],
    'incremental from the guid-matched base',
  )
  assert.equal(userrefs(`${src.pool}/data@${s1}`), 0, 'old base released on the source')
  assert.equal(userrefs(`${tds}@${s1}`), 0, 'old base released on the target')
  assert.equal(userrefs(`${src.pool}/data@${s2}`), 1)
  assert.equal(userrefs(`${tds}@${s2}`), 1)
  assert.ok(snapshotNames(tds).includes(s2), 'the replica keeps the name, and with it the promotion tags')

  // The USB disk is unplugged: the pool is exported. Local pruning must go on; the base stays held.
  must(['zpool', 'export', dst.pool])
  const offlineRuns = []
  for (let i = 0; i < 3; i++) {
    clock.advance(HOUR)
    offlineRuns.push(await j.run(ctx))
  }
  for (const r of offlineRuns) {
    assert.equal(r.status, 'success', 'a target marked offline: true that is absent is not a failure')
    assert.ok(
      r.warnings.some((w) => /target usb .* is offline/.test(w)),
      r.warnings.join('\n'),
    )
  }
  const local = snapshotNames(`${src.pool}/data`)
  assert.deepEqual(
    local,
    [s2, 'backstop_20261110T030000Z_h', 'backstop_20261110T040000Z_h'],
    'local pruning ran (keep last 2) and kept the held replication base for the absent target',
  )
  assert.ok(offlineRuns.some((r) => r.deleted.length > 0))

  // Plugged back in: the next run sends incrementally from the held base, carrying the missed snapshots.
  must(['zpool', 'import', '-d', dst.dir, dst.pool])
  clock.advance(HOUR)
  const r6 = await j.run(ctx)
  assert.equal(r6.status, 'success', JSON.stringify(r6.error))
  assert.deepEqual(
    snapshotNames(tds),
    ['backstop_20261110T030000Z_h', 'backstop_20261110T040000Z_h', 'backstop_20261110T050000Z_h'],
    'target got the missed snapshots (-I) and pruned to its own keep last 3',
  )
  assert.equal(userrefs(`${tds}@backstop_20261110T050000Z_h`), 1, 'new base held on the target')
  assert.deepEqual(
    snapshotNames(`${src.pool}/data`),
    ['backstop_20261110T040000Z_h', 'backstop_20261110T050000Z_h'],
    'old base released after the catch-up, and then pruned locally',
  )
  assert.ok(
    r6.deleted.some((d) => d.location.target === dst.pool),
    'target deletions are reported with their location',
  )
})

test('zfs replication: a full target disk is reported and local pruning still happens', async (t) => {
  if (!requirePlatform(t, needs)) {
    return
  }
  const src = createTestPool(t, 'big', 256)
  const dst = createTestPool(t, 'tiny', 64)
  must(['zfs', 'create', `${src.pool}/data`])
  const mnt = join(src.dir, 'mnt', 'data')
  for (let i = 0; i < 10; i++) {
    writeFileSync(join(mnt, `f${i}.bin`), randomBytes(10 * 1024 * 1024))
  }
  // Two old snapshots of ours that the policy (keep last 1) expires in this very run.
  must(['zfs', 'snapshot', `${src.pool}/data@backstop_20261101T000000Z_hdwmy`])
  must(['zfs', 'snapshot', `${src.pool}/data@backstop_20261102T000000Z_hd`])
  const clock = new TestClock(new Date('2026-11-10T00:00:00Z'))
  const r = await job({
    name: 'full',
    datasets: [`${src.pool}/data`],
    retention: { keep: { last: 1, ...none } },
    targets: [{ name: 'tiny', dataset: `${dst.pool}/backup`, media: 'hdd' }],
  }).run(jobContext(t, clock))
  assert.equal(r.status, 'partial')
  assert.equal(r.error?.code, 'BK_ERR_REPLICATION_FAILED')
  assert.match(r.error!.message, /space|full/i)
  assert.deepEqual(snapshotNames(`${src.pool}/data`), ['backstop_20261110T000000Z_hdw'], 'local pruning went ahead')
  assert.equal(r.deleted.length, 2)
})

test('zfs replication honours the job: the send runs within its timeout and dies with its signal', async (t) => {
  if (!requirePlatform(t, needs)) {
    return
  }
  const src = createTestPool(t, 'src')
  const dst = createTestPool(t, 'usb')
  must(['zfs', 'create', `${src.pool}/data`])
  writeFileSync(join(src.dir, 'mnt', 'data', 'file.bin'), randomBytes(4 * 1024 * 1024))
  const stop = new AbortController()
  const reason = new BackstopError('BK_ERR_JOB_TIMEOUT', 'job "repl" ran longer than its timeout')
  const seen: { timeoutMs?: number | undefined; signal?: AbortSignal | undefined }[] = []
  const inner = new NodeExec({ log: silentLog })
  // The job is stopped (run-job aborts ctx.signal on timeout or shutdown) while its send is running.
  const exec: Exec = {
    run: (argv, opts) => inner.run(argv, opts),
    pipeline: (stages, opts) => {
      seen.push({ timeoutMs: opts?.timeoutMs, signal: opts?.signal })
      const p = inner.pipeline(stages, opts)
      setImmediate(() => stop.abort(reason))
      return p
    },
  }
  const ctx = { ...jobContext(t, new TestClock(new Date('2026-11-10T00:00:00Z')), exec), signal: stop.signal }
  const r = await job({
    name: 'repl',
    datasets: [`${src.pool}/data`],
    timeoutSeconds: 1234,
    targets: [{ name: 'usb', dataset: `${dst.pool}/backup`, media: 'usb' }],
  }).run(ctx)
  assert.deepEqual(seen, [{ timeoutMs: 1_234_000, signal: stop.signal }])
  // The running send was killed (NodeExec rethrows the signal's reason), so the replication did not complete.
  assert.equal(r.status, 'partial')
  assert.deepEqual(r.error, { code: 'BK_ERR_JOB_TIMEOUT', message: `job exceeded its timeout: ${reason.detail}` })
})
