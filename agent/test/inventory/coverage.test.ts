import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import type { AssetRef } from '@backstop/shared'
import { parseAgentConfig } from '../../src/config/load.ts'
import { FixtureExec } from '../../src/exec/fixture-exec.ts'
import { collectInventory, ZFS_LIST_ARGV } from '../../src/inventory/collect-inventory.ts'
import { jobCovers } from '../../src/inventory/coverage.ts'
import { inventoryMounts } from '../../src/inventory/inventory-parse.ts'
import { buildJobs } from '../../src/jobs/build-jobs.ts'
import { findmntArgv } from '../../src/tools/btrfs.ts'
import { parseFindmnt } from '../../src/tools/btrfs-parse.ts'
import { lsblkArgv } from '../../src/tools/lsblk.ts'
import { PVESH_RESOURCES_ARGV } from '../../src/tools/pvesh.ts'
import { memoryLog } from '../exec/memory-log.ts'
import { FakeClock } from '../scheduler/fake-clock.ts'

const fixture = (p: string): string => readFileSync(new URL(`../fixtures/${p}`, import.meta.url), 'utf8')

const config = parseAgentConfig(
  `
node: pve1
role: hypervisor
collector: { url: mqtt://127.0.0.1:1883 }
jobs:
  - { kind: zfs, name: data, schedule: "0 * * * *", datasets: [{ name: tank/data, recursive: true }],
      retention: { keep: { last: 2 } }, media: ssd }
  - { kind: zfs, name: only-top, schedule: "0 * * * *", datasets: [tank/data],
      retention: { keep: { last: 2 } }, media: ssd }
  - { kind: archive, name: etc, paths: [/etc], destination: /backups, media: hdd, schedule: "0 3 * * *" }
  - { kind: vzdump, name: prod, schedule: "0 1 * * *", pool: prod, dumpdir: /var/lib/vz/dump, media: hdd }
  - { kind: vzdump, name: picked, schedule: "0 1 * * *", guests: [100], dumpdir: /var/lib/vz/dump, media: hdd }
  - { kind: vzdump, name: infra, schedule: "0 1 * * *", pool: infra, dumpdir: /var/lib/vz/dump, media: hdd }
`,
  'inline.yaml',
  { hostname: 'pve1' },
)
const job = (name: string) => config.jobs.find((j) => j.name === name)!
const facts = { host: 'pve1', guestPools: new Map([['vm/102', 'prod']]) }

describe('coverage rules: which job protects which asset', () => {
  const cases: [string, AssetRef, boolean][] = [
    ['data', { kind: 'zfs-dataset', id: 'tank/data' }, true],
    ['data', { kind: 'zfs-dataset', id: 'tank/data/vm' }, true],
    ['data', { kind: 'zfs-dataset', id: 'tank/database' }, false],
    ['only-top', { kind: 'zfs-dataset', id: 'tank/data/vm' }, false],
    ['only-top', { kind: 'btrfs-subvolume', id: 'tank/data' }, false],
    ['etc', { kind: 'file-set', id: 'fileset:etc' }, true],
    ['etc', { kind: 'file-set', id: 'fileset:other' }, false],
    ['prod', { kind: 'vm', id: 'vm/102' }, true],
    ['prod', { kind: 'vm', id: 'vm/100' }, false],
    ['picked', { kind: 'vm', id: 'vm/100' }, true],
    ['picked', { kind: 'ct', id: 'ct/100' }, true],
    ['picked', { kind: 'zfs-dataset', id: 'vm/100' }, false],
  ]
  for (const [name, asset, covered] of cases) {
    it(`${name} ${covered ? 'covers' : 'does not cover'} ${asset.kind} ${asset.id}`, () => {
      assert.equal(jobCovers(job(name), asset, facts), covered)
    })
  }
})

const BLKID_ALL = ['blkid', '-c', '/dev/null', '-o', 'export']

describe('collectInventory over recorded tool output', () => {
  it('lists datasets, guests, the host image and the job assets, each with its covering jobs', async () => {
    const exec = new FixtureExec([
      { argv: [...findmntArgv], stdout: fixture('inventory/findmnt-J-l.json'), repeat: true },
      { argv: [...ZFS_LIST_ARGV], stdout: fixture('zfs/zfs-list-datasets.stdout.txt'), repeat: true },
      { argv: [...PVESH_RESOURCES_ARGV], stdout: fixture('pvesh/cluster-resources-vm.json'), repeat: true },
      { argv: lsblkArgv(), stdout: fixture('inventory/lsblk-J-b.json') },
      // lsblk without udev has no UUIDs: blkid probes (recorded elsewhere: none of these devices has one).
      { argv: BLKID_ALL, stdout: fixture('inventory/blkid-export.txt') },
    ])
    const body = await collectInventory({
      exec,
      clock: new FakeClock('2026-03-01T12:00:00Z'),
      log: memoryLog('info').log,
      node: 'pve1',
      host: 'pve1',
      stateDir: '/nonexistent',
      role: config.role,
      configs: config.jobs,
      jobs: buildJobs(config.jobs),
      signal: new AbortController().signal,
    })
    assert.equal(body.at, '2026-03-01T12:00:00.000Z')
    assert.equal(body.role, 'hypervisor')
    const covered = Object.fromEntries(body.assets.map((a) => [`${a.asset.kind} ${a.asset.id}`, a.coveredBy]))
    assert.deepEqual(covered['zfs-dataset tank/data'], ['data', 'only-top'])
    assert.deepEqual(covered['zfs-dataset tank/data/vm'], ['data'])
    assert.deepEqual(covered['file-set fileset:etc'], ['etc'])
    assert.deepEqual(covered['host-image host/pve1'], [], 'no rear job: the bare-metal image is a gap')
    assert.deepEqual(covered['vm vm/100'], ['picked'])
    assert.deepEqual(covered['ct ct/200'], ['infra'], 'selected by its Proxmox pool')
    assert.equal(covered['ct ct/201'], undefined, "a guest on another cluster node is that node's asset")
    assert.ok(
      body.assets.every((a) => a.asset.kind !== 'vm' || a.asset.id !== 'vm/9000'),
      'templates are not assets',
    )
    assert.deepEqual(
      body.mounts?.map((m) => `${m.target} ${m.fstype}`),
      ['/ ext4', '/zfs-kstat fuse'],
    )
    assert.deepEqual(
      body.blockDevices?.filter((d) => d.mountpoint !== undefined).map((d) => [d.name, d.type, d.mountpoint]),
      [['vda', 'disk', '/']],
    )
  })

  it('a node without zfs or Proxmox has none of those; a failing tool leaves only its parts unknown', async () => {
    const base = (zfs: object, more: { findmnt?: object; lsblk?: object } = {}) =>
      new FixtureExec([
        { argv: [...findmntArgv], ...(more.findmnt ?? { stdout: fixture('inventory/findmnt-J-l.json') }) },
        { argv: [...ZFS_LIST_ARGV], ...zfs },
        { argv: [...PVESH_RESOURCES_ARGV], error: 'BK_ERR_EXEC_SPAWN' },
        { argv: lsblkArgv(), ...(more.lsblk ?? { stdout: fixture('inventory/lsblk-J-b.json') }) },
        { argv: BLKID_ALL, exitCode: 2, stdout: '' },
      ])
    const deps = {
      clock: new FakeClock('2026-03-01T12:00:00Z'),
      log: memoryLog('info').log,
      node: 'nas1',
      host: 'nas1',
      stateDir: '/nonexistent',
      role: undefined,
      configs: [],
      jobs: [],
      signal: new AbortController().signal,
    }
    const hostImage = [{ asset: { kind: 'host-image', id: 'host/nas1', name: 'nas1' }, coveredBy: [] }]
    const body = await collectInventory({ ...deps, exec: base({ error: 'BK_ERR_EXEC_SPAWN' }) })
    assert.deepEqual(body.assets, hostImage)
    assert.equal(body.role, undefined)
    assert.equal(body.incomplete, undefined, 'a tool not installed is none of that kind, not unknown')
    const noModule = await collectInventory({
      ...deps,
      exec: base({
        exitCode: 1,
        stderr: "The ZFS modules are not loaded.\nTry running '/sbin/modprobe zfs' as root to load them.\n",
      }),
    })
    assert.equal(noModule.assets.length, 1)
    assert.equal(noModule.incomplete, undefined)

    // zfs-fuse installed, its daemon not running (recorded on this machine): datasets unknown, not none — and the
    // rest (the host image's gap, the block devices that say which media are plugged in) is still reported.
    const stopped = await collectInventory({
      ...deps,
      exec: base({ exitCode: 1, stderr: 'internal error: failed to initialize ZFS library\n' }),
    })
    assert.deepEqual(stopped.assets, hostImage)
    assert.deepEqual(stopped.incomplete, [
      {
        part: 'zfs-dataset',
        reason:
          'BK_ERR_EXEC_FAILED: command exited with an error: inventory: `zfs list -H -o name -t filesystem,volume` ' +
          'exited 1: internal error: failed to initialize ZFS library',
      },
    ])
    assert.equal(stopped.blockDevices?.length, body.blockDevices?.length)
    assert.ok((stopped.blockDevices?.length ?? 0) > 0)
    assert.deepEqual(stopped.mounts, body.mounts)

    const noTools = await collectInventory({
      ...deps,
      exec: base(
        { exitCode: 1, stderr: 'cannot iterate filesystems: I/O error\n' },
        {
          findmnt: { exitCode: 1, stderr: 'findmnt: can not open /proc/self/mountinfo\n' },
          lsblk: { error: 'BK_ERR_EXEC_TIMEOUT' },
        },
      ),
    })
    assert.deepEqual(
      noTools.incomplete?.map((i) => i.part),
      ['blockDevices', 'btrfs-subvolume', 'mounts', 'zfs-dataset'],
    )
    assert.match(noTools.incomplete?.find((i) => i.part === 'mounts')?.reason ?? '', /mountinfo/)
    assert.equal(noTools.mounts, undefined, 'unknown facts are left out, never sent empty')
    assert.equal(noTools.blockDevices, undefined)
    assert.deepEqual(noTools.assets, hostImage)

    const stop = new AbortController()
    stop.abort()
    await assert.rejects(
      collectInventory({ ...deps, signal: stop.signal, exec: base({ error: 'BK_ERR_EXEC_SPAWN' }) }),
      /abort/i,
    )
  })

  it('mounts leave out kernel filesystems and come sorted by target', () => {
    const mounts = inventoryMounts(parseFindmnt(fixture('inventory/findmnt-J-l.json')))
    assert.ok(mounts.every((m) => !['proc', 'sysfs', 'tmpfs', 'cgroup', 'cgroup2', 'devpts'].includes(m.fstype)))
    assert.deepEqual(
      mounts.map((m) => m.target),
      [...mounts.map((m) => m.target)].sort(),
    )
  })
})
