import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test, type TestContext } from 'node:test'
import { NodeExec } from '../../agent/src/exec/node-exec.ts'
import { CuttingExec } from '../support/cutting-exec.ts'
import type { JobResult } from '../../agent/src/jobs/job.ts'
import { resolveZfsJob } from '../../agent/src/jobs/zfs/config.ts'
import { ZfsSnapshotJob } from '../../agent/src/jobs/zfs/zfs-job.ts'
import { resolveZfsPullJob, type ZfsPullJobInput } from '../../agent/src/jobs/zfs-pull/config.ts'
import type { KindJob } from '../../agent/src/jobs/job.ts'
import { createZfsPullJob } from '../../agent/src/jobs/zfs-pull/pull-job.ts'
import { requirePlatform } from '../support/platform.ts'
import { gateCommand, startSshd, sshdReady, type TestSshd } from '../support/sshd.ts'
import { createTestPool, guidOf, must, sh, snapshotNames, userrefs, zfsFuseReady } from '../support/zfs.ts'
import { jobContext, silentLog, TestClock } from '../support/zfs-btrfs-context.ts'

/**
 * Faults of a zfs-pull (the receiver pulls from the source through the source's gate, `--zfs-send`) over a real
 * OpenSSH server on loopback, between two zfs-fuse pools: the connection cut mid-send, a wrong host key, the
 * receiving pool full, the gate refusing a dataset it was not given. Each is a coded error; the puller's earlier
 * replicas and the source's snapshots stay, and the next good run catches up.
 */
const needs = { root: true, commands: ['zfs', 'zpool', 'pv'], checks: [zfsFuseReady, sshdReady] }
const HOUR = 3_600_000
const none = { hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0 }
const realExec = (): NodeExec => new NodeExec({ log: silentLog, killGraceMs: 500 })
const ok = (r: JobResult): void => assert.equal(r.status, 'success', JSON.stringify([r.error, r.warnings]))

interface Setup {
  src: string
  srcMnt: string
  dst: string
  sshd: TestSshd
  /** The source node's own snapshot job (local, no targets). */
  snap: ZfsSnapshotJob
  /** Where `${src}/data` lands on the puller. */
  tds: string
}

async function setup(t: TestContext, dstMb = 128): Promise<Setup> {
  const src = createTestPool(t, 'src')
  const dst = createTestPool(t, 'dst', dstMb)
  must(['zfs', 'create', `${src.pool}/data`])
  must(['zfs', 'create', `${src.pool}/other`])
  writeFileSync(join(src.dir, 'mnt', 'data', 'file.bin'), randomBytes(256 * 1024))
  // The source's gate lets the puller's key send ${src}/data only (what `remote authorized-key` prints).
  const sshd = await startSshd(t, gateCommand(['--zfs-send', `${src.pool}/data`]))
  const tds = `${dst.pool}/pulled/${src.pool}/data`
  t.after(() => releaseAll([`${src.pool}/data`, tds]))
  const snap = new ZfsSnapshotJob(
    resolveZfsJob(
      {
        kind: 'zfs',
        name: 'snap',
        media: 'nvme',
        datasets: [`${src.pool}/data`],
        retention: { keep: { last: 10, ...none } },
      },
      'UTC',
    ),
  )
  return { src: src.pool, srcMnt: join(src.dir, 'mnt', 'data'), dst: dst.pool, sshd, snap, tds }
}

/** Holds would keep the pools from being destroyed on some zfs versions: release the puller's tag. */
function releaseAll(roots: string[]): void {
  for (const root of roots) {
    const list = sh(['zfs', 'list', '-H', '-t', 'snapshot', '-o', 'name', '-r', root])
    for (const snap of list.stdout.split('\n').filter((l) => l.includes('@'))) {
      if (userrefs(snap) > 0) {
        sh(['zfs', 'release', 'backstop-pull-pull', snap])
      }
    }
  }
}

function pullJob(s: Setup, over: Partial<ZfsPullJobInput> & { knownHosts?: string } = {}): KindJob {
  const { knownHosts, ...rest } = over
  return createZfsPullJob(
    resolveZfsPullJob(
      {
        kind: 'zfs-pull',
        name: 'pull',
        source: {
          url: `ssh://root@127.0.0.1:${s.sshd.port}`,
          identity: s.sshd.identity,
          knownHosts: knownHosts ?? s.sshd.knownHosts,
          node: 'pve1',
        },
        datasets: [`${s.src}/data`],
        dataset: `${s.dst}/pulled`,
        retention: { keep: { last: 10, ...none } },
        media: 'hdd',
        ...rest,
      } as ZfsPullJobInput,
      'UTC',
    ),
  )
}

/** One good pull of a first snapshot: the replica the faults must not lose. */
async function firstReplica(t: TestContext, s: Setup, clock: TestClock): Promise<string> {
  const ctx = jobContext(t, clock, realExec())
  ok(await s.snap.run(ctx))
  ok(await pullJob(s).run(ctx))
  const first = snapshotNames(`${s.src}/data`)
  assert.deepEqual(snapshotNames(s.tds), first, 'the first pull brought the snapshot over')
  return first[0]!
}

test('pull cut mid-send: coded, no partial replica, source snapshots kept, the next run catches up', async (t) => {
  if (!requirePlatform(t, needs)) {
    return
  }
  const s = await setup(t)
  const clock = new TestClock(new Date('2026-11-10T00:00:00Z'))
  const s1 = await firstReplica(t, s, clock)
  clock.advance(HOUR)
  writeFileSync(join(s.srcMnt, 'big.bin'), randomBytes(4 * 1024 * 1024))
  ok(await s.snap.run(jobContext(t, clock, realExec())))
  const onSource = snapshotNames(`${s.src}/data`)
  // 4 MiB at 256 KiB/s takes ~16 s: the cut at 2 s lands mid-stream.
  const cutting = new CuttingExec(realExec(), s.sshd.pid, 2000)
  const r = await pullJob(s, { bandwidth: '256K' }).run(jobContext(t, clock, cutting))
  assert.ok(cutting.cut, 'the stream was started and cut')
  assert.notEqual(r.status, 'success')
  assert.equal(r.error?.code, 'BK_ERR_REPLICATION_NOT_RESUMABLE', JSON.stringify(r.error))
  assert.match(r.error!.message, /was cut .*cannot resume.*next run sends it again/)
  assert.deepEqual(snapshotNames(s.tds), [s1], 'nothing half-received is visible as a replica')
  // A pull never receives with -s (the source gate refuses `send -t`): no saved state, on a zfs that has tokens.
  const token = sh(['zfs', 'get', '-H', '-o', 'value', 'receive_resume_token', s.tds])
  if (token.status === 0) {
    assert.equal(token.stdout.trim(), '-', 'no saved receive state is left behind')
  } else {
    assert.match(token.stderr, /bad property list|invalid property/, 'zfs-fuse has no resume tokens at all')
  }
  assert.deepEqual(snapshotNames(`${s.src}/data`), onSource, 'the source keeps every snapshot')
  assert.equal(userrefs(`${s.tds}@${s1}`), 1, 'the base stays held on the puller')
  clock.advance(HOUR)
  ok(await s.snap.run(jobContext(t, clock, realExec())))
  ok(await pullJob(s).run(jobContext(t, clock, realExec())))
  const all = snapshotNames(`${s.src}/data`)
  assert.equal(all.length, 3)
  assert.deepEqual(snapshotNames(s.tds), all, 'the next run brings the cut snapshot and the new one')
  assert.equal(guidOf(`${s.tds}@${all[2]}`), guidOf(`${s.src}/data@${all[2]}`))
})

test('pull with a wrong host key: BK_ERR_SSH_HOST_KEY, nothing received, the replicas stay', async (t) => {
  if (!requirePlatform(t, needs)) {
    return
  }
  const s = await setup(t)
  const clock = new TestClock(new Date('2026-11-10T00:00:00Z'))
  const s1 = await firstReplica(t, s, clock)
  clock.advance(HOUR)
  ok(await s.snap.run(jobContext(t, clock, realExec())))
  const r = await pullJob(s, { knownHosts: s.sshd.wrongKnownHosts }).run(jobContext(t, clock, realExec()))
  assert.equal(r.status, 'failed')
  assert.equal(r.error?.code, 'BK_ERR_SSH_HOST_KEY', JSON.stringify(r.error))
  assert.match(r.error!.message, /host key of root@127\.0\.0\.1:\d+ does not match the pinned one/)
  assert.match(r.error!.message, /Nothing was sent.*backstop-agent remote pin/)
  assert.deepEqual(r.copies, [], 'no copy reported')
  assert.deepEqual(snapshotNames(s.tds), [s1], 'nothing received, the replica stays')
  assert.equal(snapshotNames(`${s.src}/data`).length, 2, 'the source keeps its snapshots')
  clock.advance(HOUR)
  ok(await pullJob(s).run(jobContext(t, clock, realExec())))
  assert.deepEqual(snapshotNames(s.tds), snapshotNames(`${s.src}/data`), 'pinned right again, it catches up')
})

test('pull into a full pool: coded, names the pool, earlier replicas intact, catches up once freed', async (t) => {
  if (!requirePlatform(t, needs)) {
    return
  }
  const s = await setup(t, 64)
  const clock = new TestClock(new Date('2026-11-10T00:00:00Z'))
  const s1 = await firstReplica(t, s, clock)
  // Fill the receiving pool with a reservation: the next receive needs room it does not have.
  const avail = Number(must(['zfs', 'get', '-H', '-p', '-o', 'value', 'available', s.dst]).trim())
  must(['zfs', 'create', '-o', `reservation=${avail - 64 * 1024}`, `${s.dst}/filler`])
  writeFileSync(join(s.srcMnt, 'big.bin'), randomBytes(2 * 1024 * 1024))
  clock.advance(HOUR)
  ok(await s.snap.run(jobContext(t, clock, realExec())))
  const r = await pullJob(s).run(jobContext(t, clock, realExec()))
  assert.notEqual(r.status, 'success')
  assert.equal(r.error?.code, 'BK_ERR_REPLICATION_FAILED', JSON.stringify(r.error))
  assert.ok(
    r.error!.message.includes(`the target pool is full (${s.dst} on local): free space there`),
    `the message names the full pool: ${r.error!.message}`,
  )
  assert.match(r.error!.message, /out of space/, 'and quotes what zfs receive said')
  assert.deepEqual(snapshotNames(s.tds), [s1], 'the earlier replica is intact')
  assert.equal(userrefs(`${s.tds}@${s1}`), 1, 'and still held as the base')
  assert.equal(snapshotNames(`${s.src}/data`).length, 2, 'the source keeps its snapshots')
  must(['zfs', 'set', 'reservation=none', `${s.dst}/filler`])
  clock.advance(HOUR)
  ok(await pullJob(s).run(jobContext(t, clock, realExec())))
  assert.deepEqual(snapshotNames(s.tds), snapshotNames(`${s.src}/data`), 'room again, it catches up')
})

test('the source gate refuses a dataset it was not given: BK_ERR_REMOTE_GATE_REFUSED, nothing received', async (t) => {
  if (!requirePlatform(t, needs)) {
    return
  }
  const s = await setup(t)
  const clock = new TestClock(new Date('2026-11-10T00:00:00Z'))
  const s1 = await firstReplica(t, s, clock)
  must(['zfs', 'snapshot', `${s.src}/other@backstop_20261110T000000Z_hdwmy`])
  const r = await pullJob(s, { datasets: [`${s.src}/other`] }).run(jobContext(t, clock, realExec()))
  assert.equal(r.status, 'failed')
  assert.equal(r.error?.code, 'BK_ERR_REMOTE_GATE_REFUSED', JSON.stringify(r.error))
  assert.match(r.error!.message, /the gate on root@127\.0\.0\.1:\d+ refused .*is outside/)
  assert.ok(r.error!.message.includes(`${s.src}/other`), 'the message names the refused dataset')
  assert.match(r.error!.message, /backstop-agent remote authorized-key/)
  assert.equal(sh(['zfs', 'list', `${s.dst}/pulled/${s.src}/other`]).status, 1, 'nothing received')
  assert.deepEqual(snapshotNames(s.tds), [s1], 'the replica of the allowed dataset stays')
})
