import assert from 'node:assert/strict'
import { test } from 'node:test'
import { resolveZfsJob, type ZfsJobInput } from '../../agent/src/jobs/zfs/config.ts'
import { ZfsSnapshotJob } from '../../agent/src/jobs/zfs/zfs-job.ts'
import { NodeExec } from '../../agent/src/exec/node-exec.ts'
import { requirePlatform } from '../support/platform.ts'
import { createTestPool, must, sh, snapshotNames, userrefs, zfsFuseReady } from '../support/zfs.ts'
import { DAY, jobContext, silentLog, TestClock, TriggerExec } from '../support/zfs-btrfs-context.ts'

/**
 * The `zfs` job on real zfs-fuse pools (file-backed, created and destroyed by each test): atomic snapshots,
 * calendar retention over simulated days, foreign snapshots untouched, holds and `dataset is busy`
 * protecting, bad input reported with codes instead of thrown.
 */
const needs = { root: true, commands: ['zfs', 'zpool'], checks: [zfsFuseReady] }

function job(input: Omit<ZfsJobInput, 'kind' | 'media'> & Partial<Pick<ZfsJobInput, 'media'>>): ZfsSnapshotJob {
  return new ZfsSnapshotJob(resolveZfsJob({ kind: 'zfs', media: 'ssd', ...input } as ZfsJobInput, 'UTC'))
}

test('zfs: one recursive snapshot per run, GFS pruning over days, foreign snapshots untouched', async (t) => {
  if (!requirePlatform(t, needs)) {
    return
  }
  const { pool } = createTestPool(t, 'snap')
  must(['zfs', 'create', `${pool}/data`])
  must(['zfs', 'create', `${pool}/data/a`])
  must(['zfs', 'create', `${pool}/data/b`])
  must(['zfs', 'snapshot', `${pool}/data/a@manual-keep-me`])
  const clock = new TestClock(new Date('2026-11-02T03:00:00Z'))
  const exec = new TriggerExec(
    new NodeExec({ log: silentLog }),
    () => false,
    () => {},
  )
  const ctx = jobContext(t, clock, exec)
  const j = job({
    name: 'snaps',
    datasets: [{ name: `${pool}/data`, recursive: true }],
    retention: { keep: { last: 2, daily: 3, weekly: 0, monthly: 0, yearly: 0 } },
  })

  const results = []
  for (let day = 0; day < 6; day++) {
    results.push(await j.run(ctx))
    clock.advance(DAY)
  }
  for (const r of results) {
    assert.equal(r.status, 'success', JSON.stringify(r.error))
  }
  const snapshotCalls = exec.calls.filter((a) => a[1] === 'snapshot')
  assert.equal(snapshotCalls.length, 6, 'one zfs snapshot call per run')
  assert.ok(
    snapshotCalls.every((a) => a.includes('-r')),
    'recursive root snapshotted with -r (atomic for its children)',
  )

  // keep last 2 + daily 3 → the 3 newest days survive (last 2 ⊂ daily 3), for parent and both children.
  const expected = ['backstop_20261105T030000Z_hd', 'backstop_20261106T030000Z_hd', 'backstop_20261107T030000Z_hd']
  for (const ds of [`${pool}/data`, `${pool}/data/a`, `${pool}/data/b`]) {
    const ours = snapshotNames(ds).filter((n) => n.startsWith('backstop_'))
    assert.deepEqual(ours, expected, ds)
  }
  assert.ok(snapshotNames(`${pool}/data/a`).includes('manual-keep-me'), 'a snapshot that is not ours is never touched')

  const deleted = results.flatMap((r) => r.deleted)
  assert.equal(deleted.length, 9, '3 days × 3 datasets deleted')
  assert.ok(deleted.every((d) => d.rule.length > 0 && d.asset.kind === 'zfs-dataset'))
  // Destroys of one name across the recursive tree go in one `zfs destroy -r`.
  assert.ok(
    exec.calls.some((a) => a[1] === 'destroy' && a[2] === '-r'),
    'batched recursive destroy used',
  )

  const last = results.at(-1)!
  assert.equal(last.copies.length, 9, '3 snapshots × 3 datasets reported')
  const c = last.copies.find((x) => x.name === `${pool}/data/a@backstop_20261107T030000Z_hd`)!
  assert.equal(c.asset.id, `${pool}/data/a`)
  assert.equal(c.location.kind, 'zfs-pool')
  assert.equal(c.location.target, pool)
  assert.equal(c.createdAt, '2026-11-07T03:00:00.000Z')
  assert.equal(c.media, 'ssd')
  assert.equal(c.verification.state, 'verified')
  assert.ok(
    last.copies.every((x) => !x.name.includes('manual')),
    'foreign snapshots are not reported as our copies',
  )

  // Promotion tags ride in the name: the first snapshot ever is the first of every class; a Saturday in
  // mid-month is only the first of its hour and day.
  assert.ok(results[0]!.copies.some((x) => x.name === `${pool}/data/b@backstop_20261102T030000Z_hdwmy`))
  assert.equal(
    must(['zfs', 'get', '-H', '-o', 'value', 'backstop:tags', `${pool}/data/b@backstop_20261107T030000Z_hd`]).trim(),
    '-',
    'no user property (it slows zfs-fuse listings)',
  )
})

test('zfs: a dataset that joins later gets its own promotion tags (its snapshot is renamed)', async (t) => {
  if (!requirePlatform(t, needs)) {
    return
  }
  const { pool } = createTestPool(t, 'join')
  must(['zfs', 'create', `${pool}/data`])
  const clock = new TestClock(new Date('2026-11-10T00:00:00Z'))
  const ctx = jobContext(t, clock)
  const j = job({ name: 'join', datasets: [{ name: `${pool}/data`, recursive: true }] })
  assert.equal((await j.run(ctx)).status, 'success')
  must(['zfs', 'create', `${pool}/data/new`])
  clock.advance(3_600_000)
  const r = await j.run(ctx)
  assert.equal(r.status, 'success', JSON.stringify(r.error))
  assert.deepEqual(snapshotNames(`${pool}/data`), ['backstop_20261110T000000Z_hdwmy', 'backstop_20261110T010000Z_h'])
  assert.deepEqual(
    snapshotNames(`${pool}/data/new`),
    ['backstop_20261110T010000Z_hdwmy'],
    'first snapshot of the new dataset is the first of every class',
  )
})

test('zfs: a held snapshot survives pruning; "dataset is busy" on destroy is protected, not an error', async (t) => {
  if (!requirePlatform(t, needs)) {
    return
  }
  const { pool } = createTestPool(t, 'hold')
  must(['zfs', 'create', `${pool}/vm`])
  const clock = new TestClock(new Date('2026-11-10T12:00:00Z'))
  const j = job({
    name: 'held',
    datasets: [`${pool}/vm`],
    retention: { keep: { last: 1, daily: 0, weekly: 0, monthly: 0, yearly: 0, hourly: 0 } },
  })
  const plain = jobContext(t, clock)
  assert.equal((await j.run(plain)).status, 'success')
  must(['zfs', 'hold', 'operator', `${pool}/vm@backstop_20261110T120000Z_hdwmy`])
  clock.advance(3_600_000)
  assert.equal((await j.run(plain)).status, 'success')
  clock.advance(3_600_000)
  // Between listing and destroying, someone holds the next expired snapshot: destroy fails busy.
  const lateHold = new TriggerExec(
    new NodeExec({ log: silentLog }),
    (a) => a[1] === 'snapshot',
    () => must(['zfs', 'hold', 'late', `${pool}/vm@backstop_20261110T130000Z_h`]),
  )
  const r = await j.run(jobContext(t, clock, lateHold))
  t.after(() => {
    sh(['zfs', 'release', 'operator', `${pool}/vm@backstop_20261110T120000Z_hdwmy`])
    sh(['zfs', 'release', 'late', `${pool}/vm@backstop_20261110T130000Z_h`])
  })
  assert.equal(r.status, 'success', JSON.stringify(r.error))
  assert.deepEqual(snapshotNames(`${pool}/vm`), [
    'backstop_20261110T120000Z_hdwmy',
    'backstop_20261110T130000Z_h',
    'backstop_20261110T140000Z_h',
  ])
  assert.equal(r.deleted.length, 0, 'nothing deletable: one held by plan, one busy at destroy time')
  const held = r.copies.find((c) => c.name.endsWith('@backstop_20261110T120000Z_hdwmy'))!
  assert.equal(held.immutable, true, 'a held snapshot is reported immutable')
  assert.equal(userrefs(`${pool}/vm@backstop_20261110T120000Z_hdwmy`), 1)
  const plan = await j.plan(jobContext(t, clock))
  const line = plan.find((l) => l.name.endsWith('@backstop_20261110T120000Z_hdwmy'))!
  assert.equal(line.action, 'keep')
  assert.ok(line.reasons.includes('held'), line.reasons.join(','))
})

test('zfs: unknown dataset and a pool that disappears mid-run are coded errors, not crashes', async (t) => {
  if (!requirePlatform(t, needs)) {
    return
  }
  const { pool, destroy } = createTestPool(t, 'gone')
  must(['zfs', 'create', `${pool}/ok`])
  const clock = new TestClock(new Date('2026-11-10T12:00:00Z'))
  const unknown = await job({ name: 'unknown', datasets: [`${pool}/nope`] }).run(jobContext(t, clock))
  assert.equal(unknown.status, 'failed')
  assert.equal(unknown.error?.code, 'BK_ERR_SNAPSHOT_SOURCE_MISSING')
  assert.match(unknown.error!.message, /nope/)

  const mixed = await job({ name: 'mixed', datasets: [`${pool}/ok`, `${pool}/nope`] }).run(jobContext(t, clock))
  assert.equal(mixed.status, 'partial', 'the existing dataset is still snapshotted')
  assert.deepEqual(snapshotNames(`${pool}/ok`), ['backstop_20261110T120000Z_hdwmy'])

  clock.advance(60_000)
  // The pool goes away right after the snapshot listing (USB pool pulled, pool exported by an operator).
  const pulled = new TriggerExec(
    new NodeExec({ log: silentLog }),
    (a) => a[1] === 'get' || (a[1] === 'list' && a.includes('snapshot')),
    destroy,
  )
  const r = await job({ name: 'vanish', datasets: [`${pool}/ok`] }).run(jobContext(t, clock, pulled))
  assert.equal(r.status, 'failed')
  assert.equal(r.error?.code, 'BK_ERR_SNAPSHOT_SOURCE_MISSING', JSON.stringify(r.error))
})

test('zfs: a policy that would delete everything is rejected at config time', () => {
  assert.throws(
    () =>
      resolveZfsJob(
        {
          kind: 'zfs',
          name: 'x',
          media: 'ssd',
          datasets: ['tank/a'],
          retention: { keep: { last: 0, hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0 } },
        },
        'UTC',
      ),
    (e: Error & { code?: string }) => e.code === 'BK_ERR_CONFIG_INVALID' && /every keep count is 0/.test(e.message),
  )
})
