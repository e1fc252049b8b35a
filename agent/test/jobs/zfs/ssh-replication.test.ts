import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { FixtureExec } from '../../../src/exec/fixture-exec.ts'
import type { JobContext } from '../../../src/jobs/job.ts'
import { zfsVerifyCopy } from '../../../src/jobs/zfs/checks.ts'
import { resolveZfsJob, type ZfsJobInput } from '../../../src/jobs/zfs/config.ts'
import { localSide } from '../../../src/jobs/zfs/endpoint.ts'
import { parseResumeTokens, planSend, resumeCut, type ReplicationLink } from '../../../src/jobs/zfs/replicate.ts'
import { parseSshUrl } from '../../../src/jobs/zfs/ssh-config.ts'
import { sshFailureOf } from '../../../src/jobs/zfs/ssh-failure.ts'
import { RunReport } from '../../../src/jobs/snapshot-common/report.ts'
import { describeStorage } from '../../../src/jobs/job-storage.ts'
import { pullProof } from '../../../src/jobs/zfs-pull/pull-job.ts'
import { StorageProber } from '../../../src/storage/probe.ts'
import { parseZfsUsage } from '../../../src/tools/zfs.ts'
import type { ZfsSnapshotInfo } from '../../../src/tools/zfs-parse.ts'

const fx = (name: string): string => readFileSync(new URL(`../../fixtures/zfs/${name}`, import.meta.url), 'utf8')
const openzfs = parseZfsUsage(fx('zfs-usage-openzfs-2.3.txt'))
const snap = (dataset: string, name: string, guid: string, createtxg: number): ZfsSnapshotInfo => ({
  fullName: `${dataset}@${name}`,
  dataset,
  name,
  guid,
  createtxg,
  creation: null,
  userrefs: 0,
  used: null,
  referenced: null,
  tags: null,
})

test('planSend: a target snapshot after the common base is divergence, never a -F rollback', () => {
  const src = [snap('tank/a', 'a', 'g1', 10), snap('tank/a', 'b', 'g2', 20), snap('tank/a', 'c', '', 0)]
  const target = [snap('nas/tank/a', 'a', 'g1', 5), snap('nas/tank/a', 'b', 'g2', 6)]
  assert.deepEqual(planSend('tank/a', 'nas/tank/a', src, target, 'c'), {
    source: 'tank/a',
    targetDs: 'nas/tank/a',
    newest: 'c',
    base: 'b',
  })
  const operator = snap('nas/tank/a', 'operator-made', 'g9', 7)
  assert.equal(planSend('tank/a', 'nas/tank/a', src, [...target, operator], 'c'), 'diverged')
})

test('ssh URL: user, host, port, dataset; errors say what is wrong and how it should look', () => {
  assert.deepEqual(parseSshUrl('ssh://backstop@nas.example.net:2222/tank/replicas', 't'), {
    user: 'backstop',
    host: 'nas.example.net',
    port: 2222,
    path: 'tank/replicas',
  })
  assert.equal(parseSshUrl('ssh://root@[::1]/tank', 't').host, '::1')
  assert.equal(parseSshUrl('ssh://root@10.0.0.2/tank', 't').port, 22)
  for (const [url, why] of [
    ['ssh://nas/tank', /not an ssh URL with user, host and dataset/],
    ['ssh://root@nas:70000/tank', /port 70000 outside/],
    ['ssh://root@nas/tank/a b', /not a ZFS dataset name/],
    ['ssh://ro;ot@nas/tank', /invalid user/],
  ] as const) {
    assert.throws(
      () => parseSshUrl(url, 'jobs.j.targets[0]'),
      (e: Error) => why.test(e.message) && /ssh:\/\/user@host/.test(e.message),
    )
  }
})

test('zfs job config: an ssh target needs identity and pinned known_hosts, and takes no retention', () => {
  const base: ZfsJobInput = {
    kind: 'zfs',
    name: 'j',
    media: 'nvme',
    datasets: ['tank/data'],
    targets: [
      {
        name: 'nas',
        url: 'ssh://backstop@nas:22/tank/replicas',
        identity: '/etc/backstop/ssh/id',
        knownHosts: '/etc/backstop/ssh/known_hosts',
        media: 'nas',
        bandwidth: '10M',
      },
    ],
  }
  const t = resolveZfsJob(base, 'UTC').targets[0]!
  assert.equal(t.dataset, 'tank/replicas')
  assert.equal(t.prunes, false, 'the sender never prunes a remote receiver')
  assert.equal(t.bandwidth, '10M')
  assert.deepEqual([t.ssh?.user, t.ssh?.host, t.ssh?.port], ['backstop', 'nas', 22])
  const bad = (over: object, why: RegExp): void =>
    assert.throws(
      () => resolveZfsJob({ ...base, targets: [{ ...base.targets![0]!, ...over }] } as ZfsJobInput, 'UTC'),
      (e: Error & { code?: string }) => e.code === 'BK_ERR_CONFIG_INVALID' && why.test(e.message),
    )
  bad({ identity: undefined }, /needs identity: .* and knownHosts: .*backstop-agent remote pin nas/)
  bad(
    { retention: { keep: { last: 3 } } },
    /targets\[0\]\.retention: a target over ssh is pruned by the receiving host/,
  )
  bad({ dataset: 'usb/x' }, /exactly one of dataset: .* and url:/)
})

test('ssh failures of a remote side: a changed key is fatal, a dropped link may be a cut, zfs errors are zfs’s', () => {
  const side = {
    ...localSide(new FixtureExec([]), openzfs),
    where: 'root@nas:22',
    ssh: { user: 'root', host: 'nas', port: 22, identity: '/k', knownHosts: '/kh' },
  }
  const r = (exitCode: number, stderr: string) => ({
    argv: ['zfs'],
    exitCode,
    signal: null,
    stdout: '',
    stderr,
    durationMs: 1,
    truncated: false,
  })
  const key = sshFailureOf(
    [r(255, '@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@\nHost key verification failed.\n')],
    side,
  )
  assert.equal(key?.code, 'BK_ERR_SSH_HOST_KEY')
  assert.equal(key?.fatal, true)
  assert.match(key!.message, /does not match the pinned one in \/kh .*backstop-agent remote pin nas/)
  const down = sshFailureOf([r(255, 'ssh: connect to host nas port 22: Connection refused\n')], side)
  assert.equal(down?.code, 'BK_ERR_SSH_UNREACHABLE')
  assert.equal(down?.fatal, false)
  assert.match(down!.message, /ssh to root@nas:22 failed \(ssh: ssh: connect to host nas port 22: Connection refused\)/)
  assert.equal(sshFailureOf([r(1, 'cannot open')], side), null, 'the remote zfs failed, not ssh')
})

test('resume on OpenZFS: a cut transfer finishes with send -t; a stale token is dropped with receive -A', async () => {
  assert.deepEqual(
    [...parseResumeTokens('nas/r\t-\nnas/r/tank/a\t1-e604ea4bf-e0-789c63\nnas/r/tank/b\t-\n')],
    [['nas/r/tank/a', '1-e604ea4bf-e0-789c63']],
  )
  const exec = new FixtureExec([
    { argv: ['zfs', 'send', '-t', 'tok-a'], bytesPiped: 4096 },
    { argv: ['zfs', 'receive', '-u', '-s', '-o', 'canmount=noauto', 'nas/r/tank/a'] },
    { argv: ['zfs', 'send', '-t', 'tok-b'], exitCode: 255, stderr: '' },
    {
      argv: ['zfs', 'receive', '-u', '-s', '-o', 'canmount=noauto', 'nas/r/tank/b'],
      exitCode: 1,
      stderr: 'cannot resume send: incremental source 0x1a2b3c no longer exists\n',
    },
    { argv: ['zfs', 'receive', '-A', 'nas/r/tank/b'] },
  ])
  const side = localSide(exec, openzfs)
  const link: ReplicationLink = { local: exec, source: side, target: side, name: 'nas', send: {}, throttle: null }
  const report = new RunReport()
  const limits = { timeoutMs: 60_000, signal: new AbortController().signal }
  const n = await resumeCut(
    link,
    new Map([
      ['nas/r/tank/a', 'tok-a'],
      ['nas/r/tank/b', 'tok-b'],
    ]),
    report,
    limits,
  )
  exec.assertAllUsed()
  assert.equal(n, 1)
  assert.equal(report.bytes, 4096)
  assert.deepEqual(report.errors, [])
  assert.match(report.warnings.join('\n'), /resumed the cut transfer into nas\/r\/tank\/a/)
  assert.match(report.warnings.join('\n'), /nas\/r\/tank\/b cannot resume .* partial state was dropped/)
})

test('pull-replica proof: no delegation and no share proves it; a delegated permission or share does not', async () => {
  const now = new Date('2026-11-10T00:00:00Z')
  const probe = async (allow: { stdout: string; exitCode?: number }, shares: string): Promise<string | null> => {
    const exec = new FixtureExec([
      { argv: ['zfs', 'allow', 'nas/pulled'], ...allow },
      { argv: ['zfs', 'get', '-H', '-o', 'value', 'sharenfs,sharesmb', 'nas/pulled'], stdout: shares },
    ])
    const p = await pullProof(localSide(exec, openzfs), 'nas/pulled', 'root@pve1:22', now)
    return p === null ? null : `${p.kind} ${p.probedAt} ${p.detail ?? ''}`
  }
  assert.match(
    (await probe({ stdout: fx('zfs-allow-zfs-fuse.stdout.txt'), exitCode: 255 }, 'off\noff\n'))!,
    /^pull-replica 2026-11-10T00:00:00.000Z pulled by this host from root@pve1:22; .*no delegation at all/,
  )
  assert.match((await probe({ stdout: '' }, 'off\noff\n'))!, /no zfs permission delegated on nas\/pulled; not shared/)
  assert.equal(await probe({ stdout: fx('openzfs-allow-delegated.txt') }, 'off\noff\n'), null, 'delegated')
  assert.equal(await probe({ stdout: '' }, 'rw=@10.0.0.0/8\noff\n'), null, 'shared over NFS')
})

test('replica storage: a `host:pool` copy is that host at its site; immutability proved there is merged', async () => {
  const prober = new StorageProber(new FixtureExec([]), 'pve1', 'home')
  const copy = {
    copyId: 'zfs:nas:tank/replicas/tank/data@backstop_20261110T000000Z_h',
    asset: { kind: 'zfs-dataset' as const, id: 'tank/data' },
    location: { kind: 'zfs-pool' as const, target: 'nas:tank', device: { label: 'tank' } },
    name: 'tank/replicas/tank/data@backstop_20261110T000000Z_h',
    media: 'nas' as const,
    offsite: false,
    offline: false,
    immutable: true,
    createdAt: '2026-11-10T00:00:00.000Z',
    verification: { state: 'unverified' as const, method: 'zfs-guid' },
  }
  const spec = {
    targets: [{ kind: 'zfs-pool' as const, at: 'nas:tank', hints: { site: 'office', media: 'nas' as const } }],
    sourcePaths: [],
    remoteSources: true,
  }
  const immutability = { kind: 'pull-replica' as const, probedAt: '2026-11-10T00:00:00.000Z' }
  const r = await describeStorage(
    { status: 'success', copies: [copy], deleted: [], warnings: [], immutability: [{ at: 'nas:tank', immutability }] },
    spec,
    prober,
  )
  assert.deepEqual(r.copies[0]!.storage, {
    host: 'nas',
    site: 'office',
    devices: [],
    repository: 'zfs:nas:tank',
    media: 'nas',
    immutability,
    protections: ['zfs-hold'],
  })
  assert.deepEqual(r.sources, [], 'a pull job names no local source for another node’s datasets')
})

test('reverify-copy of a replica on another host: refused with a coded error, never checked on this host', async () => {
  const cfg = resolveZfsJob(
    {
      kind: 'zfs',
      name: 'j',
      media: 'nvme',
      datasets: ['tank/data'],
      targets: [{ name: 'nas', url: 'ssh://b@nas/tank/replicas', identity: '/k', knownHosts: '/kh', media: 'nas' }],
    },
    'UTC',
  )
  const exec = new FixtureExec([])
  const ctx = { exec, signal: new AbortController().signal } as unknown as JobContext
  for (const id of [
    'zfs:nas:tank/replicas/tank/data@backstop_20261110T000000Z_h',
    // The same dataset name on this host is not the remote replica either.
    'zfs:tank/replicas/tank/data@backstop_20261110T000000Z_h',
  ]) {
    await assert.rejects(
      zfsVerifyCopy(cfg, ctx, id),
      (e: Error & { code?: string }) => e.code === 'BK_ERR_COPY_NOT_FOUND',
    )
  }
  assert.deepEqual(exec.calls, [], 'no command ran')
})
