import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test, type TestContext } from 'node:test'
import { NodeExec } from '../../agent/src/exec/node-exec.ts'
import { BtrfsSnapshotJob } from '../../agent/src/jobs/btrfs/btrfs-job.ts'
import { resolveBtrfsJob, type BtrfsJobInput } from '../../agent/src/jobs/btrfs/config.ts'
import { resolveBtrfsReplicasJob } from '../../agent/src/jobs/btrfs-replicas/config.ts'
import { createBtrfsReplicasJob } from '../../agent/src/jobs/btrfs-replicas/replicas-job.ts'
import type { JobContext } from '../../agent/src/jobs/job.ts'
import { parseSubvolumeShow } from '../../agent/src/tools/btrfs-parse.ts'
import { btrfsReady, createTestBtrfs, subvolNames, subvolShow, type TestBtrfs } from '../support/btrfs.ts'
import { requirePlatform } from '../support/platform.ts'
import { agentBin, freePort, tempDir } from '../support/processes.ts'
import { gateCommand, sshdReady, startSshd, type TestSshd } from '../support/sshd.ts'
import { waitFor } from '../support/wait-for.ts'
import { must, sh } from '../support/zfs.ts'
import { jobContext, silentLog, TestClock } from '../support/zfs-btrfs-context.ts'

/**
 * Btrfs replication over a real OpenSSH server (loopback, a free port, its own host key) whose authorized_keys
 * runs the agent's forced-command gate (`remote-gate --btrfs-receive <prefix>`), between two btrfs loop
 * filesystems: pinning, full then incremental, a target unreachable for runs then back, a connection cut
 * mid-send, a wrong host key, and the gate refusing delete and paths outside its prefix.
 */
const needs = { root: true, commands: ['pv', 'ssh-keyscan'], checks: [btrfsReady, sshdReady] }
const none = { hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0 }
const name = (hour: number, tags = 'h'): string =>
  `home@backstop_20261110T${String(hour).padStart(2, '0')}0000Z_${tags}`

interface Setup {
  readonly src: TestBtrfs
  readonly dst: TestBtrfs
  readonly home: string
  readonly prefix: string
  /** Where the sender receives: below the gate's prefix. */
  readonly dest: string
  readonly sshd: TestSshd
  readonly gateLog: string
  readonly clock: TestClock
  readonly ctx: JobContext
}

async function setup(t: TestContext): Promise<Setup> {
  const src = createTestBtrfs(t, 'sshsrc')
  const dst = createTestBtrfs(t, 'sshdst')
  const home = join(src.mnt, 'home')
  must(['btrfs', 'subvolume', 'create', home])
  const prefix = join(dst.mnt, 'replicas')
  must(['mkdir', '-p', prefix])
  const gateLog = join(tempDir(t, 'bk-gate-'), 'gate.log')
  const sshd = await startSshd(t, gateCommand(['--btrfs-receive', prefix, '--log', gateLog]))
  const clock = new TestClock(new Date('2026-11-10T00:00:00Z'))
  const ctx = jobContext(t, clock, new NodeExec({ log: silentLog, killGraceMs: 500 }))
  return { src, dst, home, prefix, dest: join(prefix, 'node1'), sshd, gateLog, clock, ctx }
}

function job(s: Setup, over: Record<string, unknown> = {}): BtrfsSnapshotJob {
  return new BtrfsSnapshotJob(
    resolveBtrfsJob(
      {
        kind: 'btrfs',
        media: 'ssd',
        name: 'offsite',
        subvolumes: [s.home],
        snapshotDir: join(s.src.mnt, '.snapshots'),
        retention: { keep: { last: 2, ...none } },
        targets: [
          {
            name: 'nas',
            url: `ssh://root@127.0.0.1:${s.sshd.port}${s.dest}`,
            identity: s.sshd.identity,
            knownHosts: s.sshd.knownHosts,
            media: 'nas',
            site: 'office',
            ...over,
          },
        ],
      } as BtrfsJobInput,
      'UTC',
    ),
  )
}

/** One run an hour; each snapshot holds one more file so the replicas differ. */
async function runAt(s: Setup, j: BtrfsSnapshotJob, hour: number, bytes = 64 * 1024) {
  s.clock.set(new Date(Date.UTC(2026, 10, 10, hour)))
  writeFileSync(join(s.home, `f${hour}.bin`), randomBytes(bytes))
  return j.run(s.ctx)
}

/** Every replica is read-only and carries the uuid of the local snapshot of the same name as received_uuid. */
function assertFaithful(s: Setup, names: string[]): void {
  assert.deepEqual(subvolNames(s.dest), names)
  for (const n of names) {
    const replica = parseSubvolumeShow(subvolShow(join(s.dest, n)))
    assert.ok(replica.readonly, `${n} is read-only on the target`)
    const localPath = join(s.src.mnt, '.snapshots', n)
    if (existsSync(localPath)) {
      assert.equal(replica.receivedUuid, parseSubvolumeShow(subvolShow(localPath)).uuid, `${n} came from the local one`)
    } else {
      // Pruned locally since (the target's base moved on): the replica still says where it came from.
      assert.notEqual(replica.receivedUuid, null, `${n} has a received_uuid`)
    }
  }
}

test('pin: ssh-keyscan via the agent CLI prints the fingerprint as ssh-keygen does, writes known_hosts', async (t) => {
  if (!requirePlatform(t, needs)) {
    return
  }
  const sshd = await startSshd(t, null)
  const file = join(tempDir(t, 'bk-pin-'), 'ssh', 'known_hosts')
  const r = spawnSync(
    process.execPath,
    [agentBin, 'remote', 'pin', '127.0.0.1', '--port', String(sshd.port), '--known-hosts', file],
    { encoding: 'utf8' },
  )
  assert.equal(r.status, 0, r.stderr)
  const expected = must(['ssh-keygen', '-lf', join(sshd.dir, 'hostkey.pub')]).split(' ')[1]!
  assert.match(
    r.stdout,
    new RegExp(`\\[127\\.0\\.0\\.1\\]:${sshd.port} ssh-ed25519 ${expected.replace(/[+/]/g, '\\$&')}`),
  )
  assert.equal(readFileSync(file, 'utf8'), readFileSync(sshd.knownHosts, 'utf8'), 'the same line the test pins')
  const wrong = spawnSync(
    process.execPath,
    [
      agentBin,
      'remote',
      'pin',
      '127.0.0.1',
      '-p',
      String(sshd.port),
      '--known-hosts',
      file,
      '--fingerprint',
      'SHA256:x',
    ],
    { encoding: 'utf8' },
  )
  assert.equal(wrong.status, 1)
  assert.match(wrong.stderr, /BK_ERR_SSH_HOST_KEY: .*not the expected SHA256:x; nothing was pinned/)
})

test('btrfs via the ssh gate: full then incremental, read-only replicas, copies name the remote host', async (t) => {
  if (!requirePlatform(t, needs)) {
    return
  }
  const s = await setup(t)
  const first = await runAt(s, job(s), 0)
  assert.equal(first.status, 'success', JSON.stringify(first.error))
  const second = await runAt(s, job(s), 1)
  assert.equal(second.status, 'success', JSON.stringify(second.error))
  assertFaithful(s, [name(0, 'hdwmy'), name(1)])
  const remote = second.copies.filter((c) => c.copyId.startsWith('btrfs:127.0.0.1:'))
  assert.deepEqual(
    remote.map((c) => [c.name, c.location.target, c.verification?.state, c.offsite]),
    [
      [join(s.dest, name(0, 'hdwmy')), `127.0.0.1:${s.dst.mnt}`, 'verified', false],
      [join(s.dest, name(1)), `127.0.0.1:${s.dst.mnt}`, 'verified', false],
    ],
  )
  assert.equal(remote[0]!.location.device?.fsUuid, s.dst.uuid, 'the remote filesystem identity')
  const log = readFileSync(s.gateLog, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { decision: string })
  assert.ok(log.length > 0 && log.every((e) => e.decision === 'allowed'), 'every command of the sender was allowed')
  assert.equal(statSync(s.gateLog).mode & 0o777, 0o600, 'the gate log is readable by its owner only')
  // The receiving host prunes with its own policy (keep only the newest): hour 0 goes, the sender's parent stays.
  const receiver = createBtrfsReplicasJob(
    resolveBtrfsReplicasJob(
      { kind: 'btrfs-replicas', name: 'keep', path: s.dest, retention: { keep: { last: 1, ...none } } },
      'UTC',
    ),
  )
  const pruned = await receiver.run(s.ctx)
  assert.equal(pruned.status, 'success', JSON.stringify([pruned.error, pruned.warnings]))
  assert.deepEqual(subvolNames(s.dest), [name(1)], 'the receiver pruned by its own policy')
  const third = await runAt(s, job(s), 2)
  assert.equal(third.status, 'success', JSON.stringify(third.error))
  assertFaithful(s, [name(1), name(2)])
  assert.deepEqual(
    third.deleted.filter((d) => d.copyId.startsWith('btrfs:127.0.0.1:')).map((d) => [d.name, d.rule]),
    [
      [
        join(s.dest, name(0, 'hdwmy')),
        `no longer on target nas (root@127.0.0.1:${s.sshd.port}): pruned there by its own policy, or by hand`,
      ],
    ],
    'the sender reports the replica the receiver pruned as gone, so the collector stops counting it',
  )
})

test('unreachable for 3 runs: snapshots go on, a coded error each; back, all missing arrive in order', async (t) => {
  if (!requirePlatform(t, needs)) {
    return
  }
  const s = await setup(t)
  assert.equal((await runAt(s, job(s), 0)).status, 'success')
  const closed = await freePort()
  for (const hour of [1, 2, 3]) {
    const r = await runAt(s, job(s, { url: `ssh://root@127.0.0.1:${closed}${s.dest}` }), hour)
    assert.equal(r.status, 'partial', `hour ${hour}`)
    assert.equal(r.error?.code, 'BK_ERR_SSH_UNREACHABLE', JSON.stringify(r.error))
    assert.match(r.error!.message, /local snapshots and pruning went ahead/)
  }
  // Local retention (last 2) went on; the target's base (hour 0) is held back from pruning.
  assert.ok(subvolNames(join(s.src.mnt, '.snapshots')).includes(name(3)))
  const back = await runAt(s, job(s), 4)
  assert.equal(back.status, 'success', JSON.stringify(back.error))
  const arrived = subvolNames(s.dest)
  assert.deepEqual(arrived.slice(0, 1), [name(0, 'hdwmy')])
  assert.ok(arrived.includes(name(4)), 'the newest arrived')
  // Received in order: each one's generation on the target is above the one before.
  const gens = arrived.map((n) => Number(/Gen at creation:\s+(\d+)/.exec(subvolShow(join(s.dest, n)))![1]))
  assert.deepEqual(
    [...gens].sort((a, b) => a - b),
    gens,
    `received oldest first: ${arrived.join(', ')}`,
  )
  assertFaithful(s, arrived)
})

test('cut mid-send: the target partial is removed, the run says it restarts, the next run completes', async (t) => {
  if (!requirePlatform(t, needs)) {
    return
  }
  const s = await setup(t)
  assert.equal((await runAt(s, job(s), 0)).status, 'success')
  const slow = job(s, { bandwidth: '512K' })
  const running = runAt(s, slow, 1, 16 * 1024 * 1024)
  await waitFor(() => readdirSync(s.dest).includes(name(1)), { what: 'the receive to start', timeoutMs: 120_000 })
  // Cut the connection: kill the sshd session processes (children of the test's own sshd).
  for (const pid of sh(['pgrep', '-P', String(s.sshd.pid)])
    .stdout.split('\n')
    .filter(Boolean)) {
    sh(['kill', '-KILL', pid])
  }
  const cut = await running
  assert.equal(cut.status, 'partial')
  assert.ok(cut.error !== undefined, 'the cut is an error of the run')
  assert.ok(
    cut.warnings.some((w) =>
      /btrfs sends cannot resume; the receiving host removed the partial .*next run sends it again/.test(w),
    ),
    cut.warnings.join('\n'),
  )
  const next = await runAt(s, job(s), 2)
  assert.equal(next.status, 'success', JSON.stringify(next.error))
  assertFaithful(s, [name(0, 'hdwmy'), name(1), name(2)])
  assert.match(readFileSync(s.gateLog, 'utf8'), /"decision":"cleaned"/, 'the gate removed the partial receive')
})

test('a wrong host key: BK_ERR_SSH_HOST_KEY, nothing sent, the local snapshot still taken', async (t) => {
  if (!requirePlatform(t, needs)) {
    return
  }
  const s = await setup(t)
  const r = await runAt(s, job(s, { knownHosts: s.sshd.wrongKnownHosts }), 0)
  assert.equal(r.status, 'partial')
  assert.equal(r.error?.code, 'BK_ERR_SSH_HOST_KEY')
  assert.match(r.error!.message, /does not match the pinned one .*backstop-agent remote pin 127\.0\.0\.1 --port/)
  assert.deepEqual(subvolNames(join(s.src.mnt, '.snapshots')), [name(0, 'hdwmy')])
  assert.deepEqual(readdirSync(s.prefix), [], 'nothing arrived')
})

test('the gate refuses subvolume delete and paths outside its prefix; the replica stays', async (t) => {
  if (!requirePlatform(t, needs)) {
    return
  }
  const s = await setup(t)
  assert.equal((await runAt(s, job(s), 0)).status, 'success')
  const ssh = (cmd: string[]) =>
    sh([
      'ssh',
      ...['-i', s.sshd.identity, '-p', String(s.sshd.port), '-o', `UserKnownHostsFile=${s.sshd.knownHosts}`],
      ...['-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', 'root@127.0.0.1', ...cmd],
    ])
  const replica = join(s.dest, name(0, 'hdwmy'))
  for (const cmd of [
    ['btrfs', 'subvolume', 'delete', replica],
    ['btrfs', 'property', 'set', replica, 'ro', 'false'],
    ['btrfs', 'receive', join(s.dst.mnt, 'elsewhere')],
    ['btrfs', 'subvolume', 'list', '/'],
    [`btrfs receive ${s.dest}; touch /tmp/bk-gate-pwned`],
  ]) {
    const r = ssh(cmd)
    assert.equal(r.status, 126, `${cmd.join(' ')} must be refused: ${r.stderr}`)
    assert.match(r.stderr, /backstop-gate: refused:/)
  }
  assertFaithful(s, [name(0, 'hdwmy')])
})

test('time window: runs outside only snapshot locally; the first run inside sends all that is missing', async (t) => {
  if (!requirePlatform(t, needs)) {
    return
  }
  const s = await setup(t)
  const night = job(s, { window: '01:00-05:00' })
  const outside = async (hour: number): Promise<void> => {
    const r = await runAt(s, night, hour)
    assert.equal(r.status, 'success', JSON.stringify(r.error))
    assert.ok(
      r.warnings.some((w) => /target nas: outside its window 01:00-05:00 \(UTC\), not attempted/.test(w)),
      r.warnings.join('\n'),
    )
  }
  await outside(0)
  assert.deepEqual(readdirSync(s.prefix), [], 'no ssh connection, nothing sent')
  assert.equal((await runAt(s, night, 1)).status, 'success')
  assertFaithful(s, [name(1)])
  await outside(5)
  await outside(6)
  assertFaithful(s, [name(1)])
  // The next night: hours 5 and 6 and the new one arrive, oldest first, each incremental on the one before.
  assert.equal((await runAt(s, night, 25)).status, 'success')
  const arrived = subvolNames(s.dest)
  assert.deepEqual(
    arrived.map((n) => n.slice(0, 30)),
    [
      'home@backstop_20261110T010000Z',
      'home@backstop_20261110T050000Z',
      'home@backstop_20261110T060000Z',
      'home@backstop_20261111T010000Z',
    ],
  )
  assertFaithful(s, arrived)
})
