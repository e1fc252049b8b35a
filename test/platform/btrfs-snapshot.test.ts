import assert from 'node:assert/strict'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { test } from 'node:test'
import { BackstopError } from '@backstop/shared'
import { resolveBtrfsJob, type BtrfsJobInput } from '../../agent/src/jobs/btrfs/config.ts'
import { BtrfsSnapshotJob } from '../../agent/src/jobs/btrfs/btrfs-job.ts'
import type { Exec } from '../../agent/src/exec/exec.ts'
import { NodeExec } from '../../agent/src/exec/node-exec.ts'
import { parseSubvolumeShow } from '../../agent/src/tools/btrfs-parse.ts'
import { requirePlatform } from '../support/platform.ts'
import { btrfsReady, createTestBtrfs, subvolNames, subvolShow } from '../support/btrfs.ts'
import { must } from '../support/zfs.ts'
import { DAY, jobContext, silentLog, TestClock, TriggerExec } from '../support/zfs-btrfs-context.ts'

/**
 * The `btrfs` job on real btrfs filesystems on loop files: read-only snapshots with tags in the name,
 * calendar pruning, foreign snapshots untouched; send/receive with the parent found by received_uuid, the
 * base kept while the target is unplugged, target pruning; bad input reported with codes.
 */
const needs = { root: true, checks: [btrfsReady] }
const HOUR = 3_600_000
const none = { hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0 }

function job(input: Omit<BtrfsJobInput, 'kind' | 'media'>): BtrfsSnapshotJob {
  return new BtrfsSnapshotJob(resolveBtrfsJob({ kind: 'btrfs', media: 'ssd', ...input } as BtrfsJobInput, 'UTC'))
}

test('btrfs: read-only snapshots tagged in the name, GFS pruning over days, foreign snapshots untouched', async (t) => {
  if (!requirePlatform(t, needs)) {
    return
  }
  const fs = createTestBtrfs(t, 'snap')
  must(['btrfs', 'subvolume', 'create', join(fs.mnt, 'home')])
  must(['btrfs', 'subvolume', 'create', join(fs.mnt, 'srv')])
  must(['mkdir', join(fs.mnt, '.snapshots')])
  must(['btrfs', 'subvolume', 'snapshot', '-r', join(fs.mnt, 'home'), join(fs.mnt, '.snapshots', 'home@manual')])
  const clock = new TestClock(new Date('2026-11-02T03:00:00Z'))
  const ctx = jobContext(t, clock)
  const j = job({
    name: 'snaps',
    subvolumes: [join(fs.mnt, 'home'), join(fs.mnt, 'srv')],
    snapshotDir: join(fs.mnt, '.snapshots'),
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
  const first = 'home@backstop_20261102T030000Z_hdwmy'
  assert.ok(
    results[0]!.copies.some((c) => c.name.endsWith(first)),
    'first snapshot ever carries every promotion class',
  )
  assert.deepEqual(
    subvolNames(join(fs.mnt, '.snapshots')).filter((n) => n.startsWith('home')),
    ['home@backstop_20261105T030000Z_hd', 'home@backstop_20261106T030000Z_hd', 'home@backstop_20261107T030000Z_hd'],
  )
  assert.ok(existsSync(join(fs.mnt, '.snapshots', 'home@manual')), 'a snapshot that is not ours is never touched')
  const last = results.at(-1)!
  assert.equal(last.copies.length, 6)
  const c = last.copies[0]!
  assert.deepEqual(
    [c.asset.kind, c.location.kind, c.location.device?.fsUuid, c.immutable, c.verification.state],
    ['btrfs-subvolume', 'btrfs-fs', fs.uuid, true, 'verified'],
  )
  assert.equal(results.flatMap((r) => r.deleted).length, 6, '3 days × 2 subvolumes deleted')
  assert.equal(
    parseSubvolumeShow(subvolShow(join(fs.mnt, '.snapshots', 'srv@backstop_20261107T030000Z_hd'))).readonly,
    true,
  )
  const state = JSON.parse(readFileSync(join(ctx.stateDir, 'btrfs-snaps.json'), 'utf8')) as {
    snapshots: Record<string, { tags: string }>
  }
  assert.equal(state.snapshots['srv@backstop_20261107T030000Z_hd']?.tags, 'hd', 'metadata file records the tags')
  assert.equal(state.snapshots['srv@backstop_20261102T030000Z_hdwmy'], undefined, 'pruned snapshots leave the metadata')
  const plan = await j.plan(ctx)
  assert.equal(plan.length, 6, 'plan lists every snapshot of ours (and no foreign one)')
  assert.ok(
    plan.every((l) => l.action === 'keep' && l.reasons.length > 0),
    'pruning again would delete nothing (idempotent), each kept for a reason',
  )
})

test('btrfs replication: full, incremental by received_uuid, base kept while unplugged, target pruned', async (t) => {
  if (!requirePlatform(t, needs)) {
    return
  }
  const src = createTestBtrfs(t, 'src')
  const usb = createTestBtrfs(t, 'usb')
  const home = join(src.mnt, 'home')
  must(['btrfs', 'subvolume', 'create', home])
  writeFileSync(join(home, 'a.bin'), randomBytes(512 * 1024))
  const clock = new TestClock(new Date('2026-11-10T00:00:00Z'))
  const exec = new TriggerExec(
    new NodeExec({ log: silentLog }),
    () => false,
    () => {},
  )
  const ctx = jobContext(t, clock, exec)
  const dest = join(usb.mnt, 'backstop')
  const j = job({
    name: 'repl',
    subvolumes: [home],
    snapshotDir: join(src.mnt, '.snapshots'),
    retention: { keep: { last: 2, ...none } },
    targets: [
      {
        name: 'usb',
        path: dest,
        fsUuid: usb.uuid,
        media: 'usb',
        offline: true,
        retention: { keep: { last: 3, ...none } },
      },
    ],
  })

  const r1 = await j.run(ctx)
  assert.equal(r1.status, 'success', JSON.stringify(r1.error))
  const s1 = 'home@backstop_20261110T000000Z_hdwmy'
  const local1 = parseSubvolumeShow(subvolShow(join(src.mnt, '.snapshots', s1)))
  const remote1 = parseSubvolumeShow(subvolShow(join(dest, s1)))
  assert.equal(remote1.receivedUuid, local1.uuid, 'received_uuid of the replica is the local uuid')
  assert.equal(remote1.readonly, true)
  assert.ok((r1.bytes ?? 0) > 500 * 1024)
  const rep = r1.copies.find((c) => c.name === join(dest, s1))!
  assert.deepEqual(
    [rep.asset.id, rep.media, rep.offline, rep.verification.state, rep.location.device?.fsUuid],
    [home, 'usb', true, 'verified', usb.uuid],
  )

  clock.advance(HOUR)
  writeFileSync(join(home, 'b.bin'), randomBytes(64 * 1024))
  assert.equal((await j.run(ctx)).status, 'success')
  const send = exec.calls.filter((a) => a[1] === 'send').at(-1)!
  assert.deepEqual(
    send.slice(0, 5),
    ['btrfs', 'send', '-q', '-p', join(src.mnt, '.snapshots', s1)],
    'incremental with the received_uuid-matched parent',
  )

  usb.unmount()
  const offline = []
  for (let i = 0; i < 3; i++) {
    clock.advance(HOUR)
    offline.push(await j.run(ctx))
  }
  for (const r of offline) {
    assert.equal(r.status, 'success')
    assert.ok(
      r.warnings.some((w) => /target usb is offline/.test(w)),
      r.warnings.join('\n'),
    )
  }
  const s2 = 'home@backstop_20261110T010000Z_h'
  assert.deepEqual(
    subvolNames(join(src.mnt, '.snapshots')),
    [s2, 'home@backstop_20261110T030000Z_h', 'home@backstop_20261110T040000Z_h'],
    'local pruning ran and kept the base of the absent target',
  )
  assert.ok(!existsSync(join(dest, s1)), 'nothing was written to the empty mountpoint')

  usb.mount()
  clock.advance(HOUR)
  const sendsBefore = exec.calls.filter((a) => a[1] === 'send').length
  const back = await j.run(ctx)
  assert.equal(back.status, 'success', JSON.stringify(back.error))
  const snap = (hour: number): string => join(src.mnt, '.snapshots', `home@backstop_20261110T0${hour}0000Z_h`)
  assert.deepEqual(
    exec.calls
      .filter((a) => a[1] === 'send')
      .slice(sendsBefore)
      .map((a) => a.slice(4)),
    [
      [snap(1), snap(3)],
      [snap(3), snap(4)],
      [snap(4), snap(5)],
    ],
    'catch-up from the kept base after reconnect: every snapshot still held locally, oldest first, each on the last',
  )
  assert.deepEqual(
    subvolNames(dest),
    ['home@backstop_20261110T030000Z_h', 'home@backstop_20261110T040000Z_h', 'home@backstop_20261110T050000Z_h'],
    'the target keeps its last 3',
  )
  assert.deepEqual(
    subvolNames(join(src.mnt, '.snapshots')),
    ['home@backstop_20261110T040000Z_h', 'home@backstop_20261110T050000Z_h'],
    'old base released and pruned',
  )
})

test('btrfs: missing subvolume, snapshotDir not on btrfs, and a full target are coded errors', async (t) => {
  if (!requirePlatform(t, needs)) {
    return
  }
  const src = createTestBtrfs(t, 'bad', 400)
  const tiny = createTestBtrfs(t, 'tiny', 120)
  const clock = new TestClock(new Date('2026-11-10T00:00:00Z'))
  const missing = await job({
    name: 'm',
    subvolumes: [join(src.mnt, 'nope')],
    snapshotDir: join(src.mnt, '.snapshots'),
  }).run(jobContext(t, clock))
  assert.equal(missing.status, 'failed')
  assert.equal(missing.error?.code, 'BK_ERR_SNAPSHOT_SOURCE_MISSING')
  const notBtrfs = await job({
    name: 'n',
    subvolumes: [join(src.mnt, 'x')],
    snapshotDir: '/tmp/definitely-not-btrfs',
  }).run(jobContext(t, clock))
  assert.equal(notBtrfs.error?.code, 'BK_ERR_SNAPSHOT_SOURCE_MISSING')

  const data = join(src.mnt, 'data')
  must(['btrfs', 'subvolume', 'create', data])
  for (let i = 0; i < 15; i++) {
    writeFileSync(join(data, `f${i}.bin`), randomBytes(10 * 1024 * 1024))
  }
  must(['mkdir', join(src.mnt, '.snapshots')])
  must([
    'btrfs',
    'subvolume',
    'snapshot',
    '-r',
    data,
    join(src.mnt, '.snapshots', 'data@backstop_20261101T000000Z_hdwmy'),
  ])
  const r = await job({
    name: 'full',
    subvolumes: [data],
    snapshotDir: join(src.mnt, '.snapshots'),
    retention: { keep: { last: 1, ...none } },
    targets: [{ name: 'tiny', path: join(tiny.mnt, 'in'), media: 'hdd' }],
  }).run(jobContext(t, clock))
  assert.equal(r.status, 'partial', JSON.stringify(r))
  assert.equal(r.error?.code, 'BK_ERR_REPLICATION_FAILED')
  assert.match(r.error!.message, /space|full/i)
  assert.deepEqual(
    subvolNames(join(src.mnt, '.snapshots')),
    ['data@backstop_20261110T000000Z_hdw'],
    'local pruning still happened',
  )
  assert.deepEqual(subvolNames(join(tiny.mnt, 'in')), [], 'the partial receive was cleaned up')
})

test('btrfs replication honours the job: the send runs within its timeout and dies with its signal', async (t) => {
  if (!requirePlatform(t, needs)) {
    return
  }
  const src = createTestBtrfs(t, 'src')
  const usb = createTestBtrfs(t, 'usb')
  const home = join(src.mnt, 'home')
  must(['btrfs', 'subvolume', 'create', home])
  writeFileSync(join(home, 'a.bin'), randomBytes(4 * 1024 * 1024))
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
  const j = job({
    name: 'repl',
    subvolumes: [home],
    snapshotDir: join(src.mnt, '.snapshots'),
    timeoutSeconds: 1234,
    targets: [{ name: 'usb', path: join(usb.mnt, 'backstop'), fsUuid: usb.uuid, media: 'usb' }],
  })
  const r = await j.run(ctx)
  assert.deepEqual(seen, [{ timeoutMs: 1_234_000, signal: stop.signal }])
  // The running send was killed (NodeExec rethrows the signal's reason), so the replication did not complete.
  assert.equal(r.status, 'partial')
  assert.deepEqual(r.error, { code: 'BK_ERR_JOB_TIMEOUT', message: `job exceeded its timeout: ${reason.detail}` })
})
