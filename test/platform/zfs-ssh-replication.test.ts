import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test, type TestContext } from 'node:test'
import { NodeExec } from '../../agent/src/exec/node-exec.ts'
import { CuttingExec } from '../support/cutting-exec.ts'
import type { JobResult } from '../../agent/src/jobs/job.ts'
import { resolveZfsJob, type ZfsJobInput } from '../../agent/src/jobs/zfs/config.ts'
import { ZfsSnapshotJob } from '../../agent/src/jobs/zfs/zfs-job.ts'
import { resolveZfsPullJob, type ZfsPullJobInput } from '../../agent/src/jobs/zfs-pull/config.ts'
import { createZfsPullJob } from '../../agent/src/jobs/zfs-pull/pull-job.ts'
import { resolveZfsReplicasJob } from '../../agent/src/jobs/zfs-replicas/config.ts'
import { createZfsReplicasJob } from '../../agent/src/jobs/zfs-replicas/replicas-job.ts'
import { requirePlatform } from '../support/platform.ts'
import { gateCommand, startSshd, sshdReady, type TestSshd } from '../support/sshd.ts'
import { createTestPool, guidOf, must, sh, snapshotNames, userrefs, zfsFuseReady } from '../support/zfs.ts'
import { jobContext, silentLog, TestClock } from '../support/zfs-btrfs-context.ts'

/**
 * ZFS replication over a real OpenSSH server (loopback, own host key, the agent's forced-command gate in
 * authorized_keys) between two zfs-fuse pools on files: push full + incremental, pull with the puller's own
 * retention, a connection cut mid-send, a wrong host key, a full target, a diverged target, and the gate refusing
 * `zfs destroy`. Both pools live in the one zfs-fuse daemon: "remote" is another sshd login on this machine.
 */
const needs = { root: true, commands: ['zfs', 'zpool', 'pv'], checks: [zfsFuseReady, sshdReady] }
const HOUR = 3_600_000
const none = { hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0 }
const realExec = (): NodeExec => new NodeExec({ log: silentLog, killGraceMs: 500 })

interface Setup {
  src: string
  srcMnt: string
  dst: string
  sshd: TestSshd
}

async function setup(t: TestContext, role: 'receive' | 'send', dstMb = 128): Promise<Setup> {
  const src = createTestPool(t, 'src')
  const dst = createTestPool(t, 'dst', dstMb)
  must(['zfs', 'create', `${src.pool}/data`])
  writeFileSync(join(src.dir, 'mnt', 'data', 'file.bin'), randomBytes(256 * 1024))
  const rules = role === 'receive' ? ['--zfs-receive', `${dst.pool}/replicas`] : ['--zfs-send', `${src.pool}/data`]
  const sshd = await startSshd(t, gateCommand(rules))
  t.after(() => releaseAll([`${src.pool}/data`, `${dst.pool}/replicas/${src.pool}/data`, `${dst.pool}/pulled`]))
  return { src: src.pool, srcMnt: join(src.dir, 'mnt', 'data'), dst: dst.pool, sshd }
}

/** Holds would keep the pools from being destroyed on some zfs versions: release every backstop- tag left. */
function releaseAll(roots: string[]): void {
  for (const root of roots) {
    const list = sh(['zfs', 'list', '-H', '-t', 'snapshot', '-o', 'name', '-r', root])
    for (const snap of list.stdout.split('\n').filter((l) => l.includes('@'))) {
      if (userrefs(snap) > 0) {
        for (const tag of ['backstop-push-nas', 'backstop-pull-pull']) {
          sh(['zfs', 'release', tag, snap])
        }
      }
    }
  }
}

function pushJob(s: Setup, over: Partial<ZfsJobInput['targets'] extends (infer T)[] | undefined ? T : never> = {}) {
  return new ZfsSnapshotJob(
    resolveZfsJob(
      {
        kind: 'zfs',
        name: 'push',
        media: 'nvme',
        datasets: [`${s.src}/data`],
        retention: { keep: { last: 2, ...none } },
        targets: [
          {
            name: 'nas',
            url: `ssh://root@127.0.0.1:${s.sshd.port}/${s.dst}/replicas`,
            identity: s.sshd.identity,
            knownHosts: s.sshd.knownHosts,
            media: 'nas',
            site: 'office',
            ...over,
          },
        ],
      } as ZfsJobInput,
      'UTC',
    ),
  )
}

const ok = (r: JobResult): void => assert.equal(r.status, 'success', JSON.stringify([r.error, r.warnings]))

test('push over ssh: full then incremental via the gate, holds on both ends, unmounted remote replica', async (t) => {
  if (!requirePlatform(t, needs)) {
    return
  }
  const s = await setup(t, 'receive')
  const clock = new TestClock(new Date('2026-11-10T00:00:00Z'))
  const ctx = jobContext(t, clock, realExec())
  const job = pushJob(s)
  const tds = `${s.dst}/replicas/${s.src}/data`
  const r1 = await job.run(ctx)
  ok(r1)
  const s1 = 'backstop_20261110T000000Z_hdwmy'
  assert.deepEqual(snapshotNames(tds), [s1], 'full send over ssh')
  assert.equal(guidOf(`${tds}@${s1}`), guidOf(`${s.src}/data@${s1}`))
  assert.equal(must(['zfs', 'get', '-H', '-o', 'value', 'mounted', tds]).trim(), 'no', 'replica not mounted')
  clock.advance(HOUR)
  writeFileSync(join(s.srcMnt, 'more.bin'), randomBytes(128 * 1024))
  const r2 = await job.run(ctx)
  ok(r2)
  const s2 = 'backstop_20261110T010000Z_h'
  assert.deepEqual(snapshotNames(tds), [s1, s2], 'incremental: the replica keeps s1 (no pruning from the sender)')
  assert.equal(userrefs(`${s.src}/data@${s2}`), 1, 'new base held on the source')
  assert.equal(userrefs(`${tds}@${s2}`), 1, 'new base held on the receiver')
  assert.equal(userrefs(`${tds}@${s1}`), 0, 'old base released on the receiver')
  const replica = r2.copies.find((c) => c.name === `${tds}@${s2}`)!
  assert.equal(replica.copyId, `zfs:127.0.0.1:${tds}@${s2}`)
  assert.equal(replica.location.target, `127.0.0.1:${s.dst}`)
  assert.equal(replica.asset.id, `${s.src}/data`)
  assert.equal(replica.verification.state, 'verified')
  assert.ok(
    !r2.deleted.some((d) => d.name.startsWith(tds)),
    'the sender never destroys on the receiver (its gate would refuse)',
  )
  // The receiving host prunes with its own policy (keep only the newest): s1 goes, the held base s2 stays.
  const receiver = createZfsReplicasJob(
    resolveZfsReplicasJob(
      { kind: 'zfs-replicas', name: 'keep', dataset: `${s.dst}/replicas`, retention: { keep: { last: 1, ...none } } },
      'UTC',
    ),
  )
  ok(await receiver.run(jobContext(t, clock, realExec())))
  assert.deepEqual(snapshotNames(tds), [s2], 'the receiver pruned by its own policy')
  clock.advance(HOUR)
  const r3 = await job.run(ctx)
  ok(r3)
  const s3 = 'backstop_20261110T020000Z_h'
  const gone = 'pruned there by its own policy, or by hand'
  assert.deepEqual(snapshotNames(tds), [s2, s3], 'the next push still finds its base')
  assert.deepEqual(
    r3.deleted.filter((d) => d.name.startsWith(tds)).map((d) => [d.copyId, d.rule]),
    [[`zfs:127.0.0.1:${tds}@${s1}`, `no longer on target nas (root@127.0.0.1:${s.sshd.port}): ${gone}`]],
    'the sender reports the replica the receiver pruned as gone, so the collector stops counting it',
  )
  assert.ok(!r3.copies.some((c) => c.name === `${tds}@${s1}`))
})

test('pull: the receiver pulls through the source gate, prunes by its own policy, proves pull-replica', async (t) => {
  if (!requirePlatform(t, needs)) {
    return
  }
  const s = await setup(t, 'send')
  const clock = new TestClock(new Date('2026-11-10T00:00:00Z'))
  const ctx = jobContext(t, clock, realExec())
  // The source node's own snapshot job (local, no targets) takes the snapshots the puller brings over.
  const source = new ZfsSnapshotJob(
    resolveZfsJob(
      {
        kind: 'zfs',
        name: 'snap',
        media: 'nvme',
        datasets: [`${s.src}/data`],
        retention: { keep: { last: 5, ...none } },
      },
      'UTC',
    ),
  )
  const pull = createZfsPullJob(
    resolveZfsPullJob(
      {
        kind: 'zfs-pull',
        name: 'pull',
        source: {
          url: `ssh://root@127.0.0.1:${s.sshd.port}`,
          identity: s.sshd.identity,
          knownHosts: s.sshd.knownHosts,
          node: 'pve1',
        },
        datasets: [`${s.src}/data`],
        dataset: `${s.dst}/pulled`,
        retention: { keep: { last: 2, ...none } },
        media: 'hdd',
      } as ZfsPullJobInput,
      'UTC',
    ),
  )
  const tds = `${s.dst}/pulled/${s.src}/data`
  const names: string[] = []
  for (let i = 0; i < 3; i++) {
    ok(await source.run(ctx))
    names.push(snapshotNames(`${s.src}/data`).at(-1)!)
    const r = await pull.run(ctx)
    ok(r)
    if (i === 2) {
      assert.deepEqual(snapshotNames(tds), names.slice(1), 'the puller keeps last 2 by its own policy')
      assert.deepEqual(
        r.deleted.map((d) => d.name),
        [`${tds}@${names[0]}`],
      )
      assert.equal(userrefs(`${tds}@${names[2]}`), 1, 'base held on the receiver')
      assert.equal(userrefs(`${s.src}/data@${names[2]}`), 1, 'base held on the source (through its gate)')
      const proof = r.immutability?.[0]
      assert.equal(proof?.at, s.dst)
      assert.equal(proof?.immutability.kind, 'pull-replica', 'no delegation, no share: proven')
      const copy = r.copies.find((c) => c.name === `${tds}@${names[2]}`)!
      assert.equal(copy.asset.name, `127.0.0.1:${s.src}/data`, 'named as the source node’s dataset')
      assert.equal(copy.asset.node, 'pve1', 'reported as a copy of the source node’s asset')
      assert.deepEqual(
        r.deleted.map((d) => d.asset.node),
        ['pve1'],
        'its deletions too',
      )
    }
    clock.advance(HOUR)
  }
})

test('a connection cut mid-send: zfs-fuse cannot resume (coded), the next run sends again and completes', async (t) => {
  if (!requirePlatform(t, needs)) {
    return
  }
  const s = await setup(t, 'receive')
  const clock = new TestClock(new Date('2026-11-10T00:00:00Z'))
  ok(await pushJob(s).run(jobContext(t, clock, realExec())))
  clock.advance(HOUR)
  writeFileSync(join(s.srcMnt, 'big.bin'), randomBytes(4 * 1024 * 1024))
  // 4 MiB at 256 KiB/s takes ~16 s: the cut at 2 s lands mid-stream.
  const slow = pushJob(s, { bandwidth: '256K' })
  const cutting = new CuttingExec(realExec(), s.sshd.pid, 2000)
  const r = await slow.run(jobContext(t, clock, cutting))
  assert.equal(r.status, 'partial', 'the local snapshot was taken; only the target failed')
  assert.equal(r.error?.code, 'BK_ERR_REPLICATION_NOT_RESUMABLE', JSON.stringify(r.error))
  assert.match(r.error!.message, /was cut .*cannot resume.*next run sends it again/)
  const tds = `${s.dst}/replicas/${s.src}/data`
  assert.deepEqual(snapshotNames(tds), ['backstop_20261110T000000Z_hdwmy'], 'nothing half-received is kept')
  clock.advance(HOUR)
  ok(await pushJob(s).run(jobContext(t, clock, realExec())))
  assert.deepEqual(
    snapshotNames(tds),
    ['backstop_20261110T000000Z_hdwmy', 'backstop_20261110T010000Z_h', 'backstop_20261110T020000Z_h'],
    'the next run brings everything over (-I carries the snapshot of the cut run too)',
  )
})

test('a wrong host key is a coded error, nothing is sent, the local snapshot is still taken', async (t) => {
  if (!requirePlatform(t, needs)) {
    return
  }
  const s = await setup(t, 'receive')
  const clock = new TestClock(new Date('2026-11-10T00:00:00Z'))
  const r = await pushJob(s, { knownHosts: s.sshd.wrongKnownHosts }).run(jobContext(t, clock, realExec()))
  assert.equal(r.status, 'partial')
  assert.equal(r.error?.code, 'BK_ERR_SSH_HOST_KEY', JSON.stringify(r.error))
  assert.match(r.error!.message, /host key of root@127\.0\.0\.1:\d+ does not match the pinned one/)
  assert.match(r.error!.message, /backstop-agent remote pin/)
  assert.equal(snapshotNames(`${s.src}/data`).length, 1, 'local snapshot taken')
  assert.equal(sh(['zfs', 'list', `${s.dst}/replicas`]).status, 1, 'nothing created on the target')
})

test('full target: send fails with the pool-full hint; a diverged target is refused, nothing destroyed', async (t) => {
  if (!requirePlatform(t, needs)) {
    return
  }
  const s = await setup(t, 'receive', 64)
  const clock = new TestClock(new Date('2026-11-10T00:00:00Z'))
  ok(await pushJob(s).run(jobContext(t, clock, realExec())))
  const tds = `${s.dst}/replicas/${s.src}/data`
  // Diverged: someone took a snapshot on the replica. Backstop must not roll it back.
  must(['zfs', 'snapshot', `${tds}@operator-made`])
  clock.advance(HOUR)
  const r = await pushJob(s).run(jobContext(t, clock, realExec()))
  assert.equal(r.error?.code, 'BK_ERR_REPLICATION_DIVERGED', JSON.stringify(r.error))
  assert.match(r.error!.message, /Nothing was received or destroyed/)
  assert.ok(snapshotNames(tds).includes('operator-made'), 'the target-only snapshot survives')
  must(['zfs', 'destroy', `${tds}@operator-made`])
  // Full: fill the target pool with a reservation, then a send needs room it does not have.
  const avail = Number(must(['zfs', 'get', '-H', '-p', '-o', 'value', 'available', s.dst]).trim())
  must(['zfs', 'create', '-o', `reservation=${avail - 64 * 1024}`, `${s.dst}/filler`])
  writeFileSync(join(s.srcMnt, 'big.bin'), randomBytes(2 * 1024 * 1024))
  clock.advance(HOUR)
  const full = await pushJob(s).run(jobContext(t, clock, realExec()))
  assert.equal(full.error?.code, 'BK_ERR_REPLICATION_FAILED', JSON.stringify(full.error))
  assert.match(full.error!.message, /target pool is full/)
  assert.equal(
    snapshotNames(`${s.src}/data`).length,
    3,
    'local snapshots go on: last 2 kept, plus the held base of the target that could not take the new ones',
  )
})

test('the gate refuses zfs destroy and -F from the sender’s key; the replica stays', async (t) => {
  if (!requirePlatform(t, needs)) {
    return
  }
  const s = await setup(t, 'receive')
  const clock = new TestClock(new Date('2026-11-10T00:00:00Z'))
  ok(await pushJob(s).run(jobContext(t, clock, realExec())))
  const tds = `${s.dst}/replicas/${s.src}/data`
  const ssh = (cmd: string[]): ReturnType<typeof sh> =>
    sh([
      'ssh',
      ...['-i', s.sshd.identity, '-p', String(s.sshd.port), '-o', `UserKnownHostsFile=${s.sshd.knownHosts}`],
      ...['-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', 'root@127.0.0.1', ...cmd],
    ])
  for (const cmd of [
    ['zfs', 'destroy', '-r', tds],
    ['zfs', 'destroy', `${tds}@backstop_20261110T000000Z_hdwmy`],
    ['zfs', 'rollback', `${tds}@backstop_20261110T000000Z_hdwmy`],
    ['zfs', 'receive', '-F', tds],
  ]) {
    const r = ssh(cmd)
    assert.notEqual(r.status, 0, `${cmd.join(' ')} must be refused`)
  }
  assert.deepEqual(snapshotNames(tds), ['backstop_20261110T000000Z_hdwmy'], 'the replica is untouched')
})
