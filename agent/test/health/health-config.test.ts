import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { ConfigError, formatIssue } from '@backstop/shared'
import { healthCron, loadAgentConfig, parseAgentConfig } from '../../src/config/load.ts'
import { backupTargetsOfJobs, targetPaths } from '../../src/health/backup-targets.ts'

const parse = (yaml: string): ReturnType<typeof parseAgentConfig> =>
  parseAgentConfig(`collector: { url: "mqtt://127.0.0.1:1883" }\n${yaml}`, 'agent.yaml', { hostname: 'pve1' })

function issuesOf(yaml: string): string[] {
  try {
    parse(yaml)
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e))
    return e.issues.map(formatIssue)
  }
  return assert.fail('accepted')
}

describe('health: config section', () => {
  it('defaults: hourly, smartctl auto-detected, targets from the jobs, no overrides', () => {
    assert.deepEqual(parse('jobs: []').health, {
      intervalMinutes: 60,
      smartctl: null,
      backupTargets: null,
      deviceTypes: {},
      skip: [],
      extra: [],
    })
  })

  it('overrides are kept as written', () => {
    const h = parse(`health:
  intervalMinutes: 15
  smartctl: false
  backupTargets: [/srv/backup, /mnt/usb]
  deviceTypes: { /dev/sdb: "sat,12", /dev/sdc: "usbjmicron,x" }
  skip: [/dev/sdd]
  extra: [{ name: /dev/sda, type: "megaraid,0" }]
jobs: []`).health
    assert.deepEqual(h, {
      intervalMinutes: 15,
      smartctl: false,
      backupTargets: ['/srv/backup', '/mnt/usb'],
      deviceTypes: { '/dev/sdb': 'sat,12', '/dev/sdc': 'usbjmicron,x' },
      skip: ['/dev/sdd'],
      extra: [{ name: '/dev/sda', type: 'megaraid,0' }],
    })
  })

  const bad: { yaml: string; want: RegExp }[] = [
    {
      yaml: 'health:\n  intervalMinutes: 45\njobs: []',
      want: /^agent\.yaml:3:20: health\.intervalMinutes: 45 does not divide an hour or a day evenly/,
    },
    { yaml: 'health:\n  intervalMinutes: 0\njobs: []', want: /^agent\.yaml:3:\d+: health\.intervalMinutes: .*>= 1/ },
    { yaml: 'health:\n  smartctl: maybe\njobs: []', want: /^agent\.yaml:3:\d+: health\.smartctl: .*boolean/ },
    {
      yaml: 'health:\n  backupTargets: [relative/dir]\njobs: []',
      want: /^agent\.yaml:3:\d+: health\.backupTargets\[0\]: must match pattern/,
    },
    { yaml: 'health:\n  skip: [sdb]\njobs: []', want: /^agent\.yaml:3:\d+: health\.skip\[0\]: must match pattern/ },
    {
      yaml: 'health:\n  extra: [{ name: /dev/sda }]\njobs: []',
      want: /^agent\.yaml:3:\d+: health\.extra\[0\]: missing required field\(s\) "type"/,
    },
    {
      yaml: 'health:\n  devicetypes: {}\njobs: []',
      want: /^agent\.yaml:3:\d+: health: unknown field\(s\) "devicetypes"/,
    },
  ]
  for (const { yaml, want } of bad) {
    it(`rejects ${yaml.split('\n')[1]!.trim()} with file:line:field`, () => {
      const issues = issuesOf(yaml)
      assert.ok(
        issues.some((i) => want.test(i)),
        issues.join('\n'),
      )
    })
  }

  it('interval → cron: minutes dividing an hour, hours dividing a day, nothing else', () => {
    const table: [number, string | null][] = [
      [1, '*/1 * * * *'],
      [15, '*/15 * * * *'],
      [60, '0 * * * *'],
      [120, '0 */2 * * *'],
      [360, '0 */6 * * *'],
      [1440, '0 0 * * *'],
      [45, null],
      [90, null],
      [420, null],
    ]
    assert.deepEqual(
      table.map(([m]) => [m, healthCron(m)]),
      table,
    )
  })
})

describe('backup targets from the jobs', () => {
  it('archive destination, vzdump dumpdir, btrfs snapshotDir + targets, zfs source and target pools; not rear', () => {
    const cfg = parse(
      'jobs:\n' +
        '  - { kind: archive, name: etc, paths: [/etc], destination: /srv/backup/etc, keepLast: 2, media: hdd }\n' +
        '  - { kind: vzdump, name: vms, all: true, dumpdir: /srv/dump, media: hdd }\n' +
        '  - { kind: zfs, name: tank, datasets: [tank/vm, { name: rpool/data, recursive: true }], media: hdd,' +
        ' targets: [{ name: usb, dataset: usbpool/copy, media: usb }] }\n' +
        '  - { kind: btrfs, name: home, subvolumes: [/mnt/btr/home], snapshotDir: /mnt/btr/.snapshots,' +
        ' media: ssd, targets: [{ name: nas, path: /mnt/backup/home, media: hdd }] }\n' +
        '  - { kind: rear, name: rescue }\n',
    )
    assert.deepEqual(backupTargetsOfJobs(cfg.jobs), [
      { path: '/srv/backup/etc' },
      { path: '/srv/dump' },
      { zfs: 'tank' },
      { zfs: 'rpool' },
      { zfs: 'usbpool' },
      { path: '/mnt/btr/.snapshots' },
      { path: '/mnt/backup/home' },
    ])
  })

  it("a zfs pool maps to its root dataset's mount, else a mounted child's; unmounted pools are left out", () => {
    const rows = [
      { fs: '/dev/vda', type: 'ext4', size: 1, used: 0, mount: '/' },
      { fs: 'tank', type: 'zfs', size: 1, used: 0, mount: '/tank' },
      { fs: 'usbpool/copy', type: 'zfs', size: 1, used: 0, mount: '/mnt/copy' },
    ]
    assert.deepEqual(
      targetPaths(
        [{ path: '/srv/dump' }, { zfs: 'tank' }, { zfs: 'usbpool' }, { zfs: 'gone' }, { path: '/srv/dump' }],
        rows,
      ),
      ['/srv/dump', '/tank', '/mnt/copy'],
    )
  })
})

describe('deploy/config/agent.example.yaml documents health', () => {
  it('parses with the documented health values and names every key', () => {
    const file = fileURLToPath(new URL('../../../deploy/config/agent.example.yaml', import.meta.url))
    const cfg = loadAgentConfig(file, { hostname: 'sample-host' })
    assert.equal(cfg.health?.intervalMinutes, 60)
    assert.deepEqual(cfg.health?.deviceTypes, { '/dev/sdb': 'sat' })
    const text = readFileSync(file, 'utf8')
    for (const key of ['intervalMinutes', 'smartctl', 'backupTargets', 'deviceTypes', 'skip', 'extra']) {
      assert.match(text, new RegExp(`^\\s*#? ?${key}:`, 'm'), `health.${key} is not shown`)
    }
  })
})
