import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { parseAgentConfig } from '../../../src/config/load.ts'
import { FixtureExec } from '../../../src/exec/fixture-exec.ts'
import type { JobContext } from '../../../src/jobs/job.ts'
import type { Log } from '../../../src/log.ts'
import { resolveZfsJob } from '../../../src/jobs/zfs/config.ts'
import { ZfsSnapshotJob } from '../../../src/jobs/zfs/zfs-job.ts'

/**
 * The OpenZFS 2.x path, which cannot run on this machine: capabilities from its usage text, `zfs list -p`
 * instead of `zfs get`, one atomic `zfs snapshot` — replayed from the labeled fixtures (see fixtures/zfs/README.md).
 */
const fx = (name: string): string => readFileSync(new URL(`../../fixtures/zfs/${name}`, import.meta.url), 'utf8')
const noop = (): void => {}
const log = {
  trace: noop,
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  fatal: noop,
  child: () => log,
} as unknown as Log

function ctx(exec: FixtureExec, now: string): JobContext {
  return {
    node: 'n1',
    runId: 'r1',
    trigger: 'manual',
    exec,
    log,
    stateDir: '/nonexistent',
    signal: new AbortController().signal,
    progress: noop,
    clock: { now: () => new Date(now), sleepUntil: async () => {} },
  }
}

test('zfs job on OpenZFS: list -p, one recursive snapshot, recursive + single destroys, held base kept', async () => {
  const snapshotList = [
    'zfs',
    'list',
    '-H',
    '-p',
    '-t',
    'snapshot',
    '-o',
    'name,guid,createtxg,creation,userrefs,used,referenced',
    '-s',
    'createtxg',
    '-r',
    'tank/data',
  ]
  const exec = new FixtureExec([
    { argv: ['zfs'], exitCode: 2, stderr: fx('zfs-usage-openzfs-2.3.txt') },
    {
      argv: ['zfs', 'list', '-H', '-o', 'name', '-t', 'filesystem,volume', '-r', 'tank/data'],
      stdout: fx('zfs-list-datasets.stdout.txt'),
    },
    {
      argv: ['zpool', 'list', '-H', '-o', 'name,size,allocated,free,capacity,health,guid', 'tank'],
      stdout: fx('zpool-list-H-guid.txt'),
    },
    { argv: ['zpool', 'status', 'tank'], stdout: fx('zpool-status-scrubbed.txt').replaceAll('h5exp', 'tank') },
    { argv: snapshotList, stdout: fx('openzfs-list-Hp-snapshots.txt') },
    { argv: ['zfs', 'snapshot', '-r', 'tank/data@backstop_20261103T000000Z_hd'] },
    { argv: ['zfs', 'destroy', '-r', 'tank/data@backstop_20261101T000000Z_hdwmy'] },
    { argv: ['zfs', 'destroy', 'tank/data/vm@backstop_20261102T000000Z_hd'] },
  ])
  const job = new ZfsSnapshotJob(
    resolveZfsJob(
      {
        kind: 'zfs',
        name: 'nightly',
        media: 'nvme',
        datasets: [{ name: 'tank/data', recursive: true }],
        retention: { keep: { last: 1, hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0 } },
      },
      'UTC',
    ),
  )
  const r = await job.run(ctx(exec, '2026-11-03T00:00:00Z'))
  exec.assertAllUsed()
  assert.equal(r.status, 'success', JSON.stringify(r.error))
  assert.deepEqual(r.deleted.map((d) => d.name).sort(), [
    'tank/data/vm@backstop_20261101T000000Z_hdwmy',
    'tank/data/vm@backstop_20261102T000000Z_hd',
    'tank/data@backstop_20261101T000000Z_hdwmy',
  ])
  assert.ok(
    r.deleted.every((d) => /kept by no rule/.test(d.rule)),
    r.deleted.map((d) => d.rule).join('\n'),
  )
  assert.deepEqual(
    r.copies.map((c) => [c.name, c.immutable]).sort(),
    [
      ['tank/data/vm@backstop_20261103T000000Z_hd', false],
      ['tank/data@backstop_20261102T000000Z_hd', true],
      ['tank/data@backstop_20261103T000000Z_hd', false],
    ],
    'the held snapshot is kept and reported immutable; manual@ is not ours',
  )
  assert.ok(r.warnings.length === 0, r.warnings.join('\n'))
})

test('zfs job config: accepted through the agent config loader, refused when the policy keeps nothing', () => {
  const base = 'collector:\n  url: mqtt://127.0.0.1:1883\njobs:\n'
  const ok = parseAgentConfig(
    `${base}  - kind: zfs\n    name: nightly\n    media: nvme\n` +
      '    datasets: [tank/data, { name: rpool/ROOT, recursive: true }]\n' +
      '    targets:\n' +
      '      - { name: usb, dataset: usbpool/backstop, media: usb, offline: true, retention: { keep: { last: 3 } } }\n',
    '/etc/backstop/agent.yaml',
    { hostname: 'pve1' },
  )
  const job = ok.jobs[0]!
  assert.equal(job.kind, 'zfs')
  if (job.kind === 'zfs') {
    assert.deepEqual(job.datasets, [
      { name: 'tank/data', recursive: false },
      { name: 'rpool/ROOT', recursive: true },
    ])
    assert.deepEqual(
      job.retention.keep,
      { last: 1, hourly: 0, daily: 30, weekly: 12, monthly: 12, yearly: 7 },
      'seed defaults',
    )
    assert.equal(job.targets[0]!.retention.keep.last, 3)
  }
  assert.throws(
    () =>
      parseAgentConfig(
        `${base}  - kind: zfs\n    name: nightly\n    media: nvme\n    datasets: [tank/data]\n` +
          '    retention: { keep: { last: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0 } }\n',
        '/etc/backstop/agent.yaml',
        { hostname: 'pve1' },
      ),
    (e: Error & { code?: string }) =>
      e.code === 'BK_ERR_CONFIG_INVALID' && /jobs\.nightly\.retention\.keep: every keep count is 0/.test(e.message),
  )
  assert.throws(
    () =>
      parseAgentConfig(
        `${base}  - kind: zfs\n    name: n\n    media: nvme\n    datasets: [tank/data]\n` +
          '    targets: [{ name: t, dataset: tank/data/replica, media: usb }]\n',
        '/x.yaml',
        { hostname: 'h' },
      ),
    /lies inside a snapshotted dataset/,
  )
})
