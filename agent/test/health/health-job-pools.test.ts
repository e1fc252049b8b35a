import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { parseAgentConfig } from '../../src/config/load.ts'
import { FixtureExec } from '../../src/exec/fixture-exec.ts'
import { jobPools } from '../../src/health/job-pools.ts'
import { deviceStatsArgv, findmntArgv } from '../../src/tools/btrfs.ts'

const fx = (tool: string, f: string): string =>
  readFileSync(new URL(`../fixtures/${tool}/${f}`, import.meta.url), 'utf8')
const jobsOf = (yaml: string): ReturnType<typeof parseAgentConfig>['jobs'] =>
  parseAgentConfig(`collector: { url: "mqtt://127.0.0.1:1883" }\njobs:\n${yaml}`, 'agent.yaml', { hostname: 'n' }).jobs

test('no zfs or btrfs job: no pool reader, so zpool/btrfs never run on such a node', () => {
  assert.equal(
    jobPools(
      jobsOf('  - { kind: archive, name: etc, paths: [/etc], destination: /srv/b, keepLast: 1, media: hdd }'),
      new FixtureExec([]),
    ),
    undefined,
  )
})

test('pools of the zfs and btrfs jobs, read as the jobs read them (recorded zpool / btrfs output)', async () => {
  const exec = new FixtureExec([
    {
      argv: ['zpool', 'list', '-H', '-o', 'name,size,allocated,free,capacity,health,guid', 'tank'],
      stdout: fx('zfs', 'zpool-list-H-guid.txt'),
    },
    { argv: ['zpool', 'status', 'tank'], stdout: fx('zfs', 'zpool-status-scrubbed.txt').replaceAll('h5exp', 'tank') },
    {
      argv: ['zpool', 'list', '-H', '-o', 'name,size,allocated,free,capacity,health,guid', 'usbpool'],
      exitCode: 1,
      stderr: "cannot open 'usbpool': no such pool\n",
    },
    { argv: [...findmntArgv], stdout: fx('btrfs', 'findmnt-json.txt') },
    {
      argv: deviceStatsArgv('/tmp/h5exp/m1'),
      stdout: fx('btrfs', 'device-stats.json').replace('"corruption_errs": "0"', '"corruption_errs": "3"'),
    },
  ])
  const read = jobPools(
    jobsOf(
      '  - { kind: zfs, name: z, datasets: [tank/data], media: hdd,' +
        ' targets: [{ name: usb, dataset: usbpool/copy, media: usb }] }\n' +
        '  - { kind: btrfs, name: b, subvolumes: [/tmp/h5exp/m1/home],' +
        ' snapshotDir: /tmp/h5exp/m1/.snapshots, media: ssd }\n',
    ),
    exec,
  )
  assert.ok(read)
  const pools = await read()
  exec.assertAllUsed()
  assert.deepEqual(
    pools.map((p) => [p.kind, p.name, p.state, p.errors]),
    [
      ['zfs', 'tank', 'ONLINE', 0],
      ['zfs', 'usbpool', 'UNAVAIL', 0],
      ['btrfs', 'h5b1', 'ONLINE', 3],
    ],
  )
  assert.match(pools[1]!.detail ?? '', /not imported/)
  assert.match(pools[2]!.detail ?? '', /error counters total 3/)
})

test('a zfs target over ssh is another host’s pool, not read here; a zfs-pull job’s receive pool is read', async () => {
  const list = (pool: string): string[] => [
    'zpool',
    'list',
    '-H',
    '-o',
    'name,size,allocated,free,capacity,health,guid',
    pool,
  ]
  const missing = (pool: string) => ({ argv: list(pool), exitCode: 1, stderr: `cannot open '${pool}': no such pool\n` })
  const exec = new FixtureExec([missing('tank'), missing('backup')])
  const read = jobPools(
    jobsOf(`  - kind: zfs
    name: z
    datasets: [tank/data]
    media: hdd
    targets: [{ name: nas, url: "ssh://b@nas/nas/replicas", identity: /k, knownHosts: /kh, media: nas }]
  - kind: zfs-pull
    name: p
    source: { url: "ssh://b@pve1", identity: /k, knownHosts: /kh, node: pve1 }
    datasets: [tank/data]
    dataset: backup/pve1
    media: hdd
`),
    exec,
  )
  const pools = await read!()
  exec.assertAllUsed()
  assert.deepEqual(
    pools.map((p) => p.name),
    ['tank', 'backup'],
  )
})
