import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { pino } from 'pino'
import { Compile } from 'typebox/compile'
import { DiskHealthBody } from '@backstop/shared'
import { FixtureExec } from '../../src/exec/fixture-exec.ts'
import { collectDiskHealth, type SystemInfo } from '../../src/health/collect.ts'
import { mountOf } from '../../src/health/filesystems.ts'
import { LSBLK_COLUMNS } from '../../src/tools/lsblk.ts'

const fx = (f: string): string => readFileSync(join(import.meta.dirname, '../fixtures/smartctl', f), 'utf8')
const log = pino({ level: 'silent' })
const check = Compile(DiskHealthBody)
const now = new Date('2026-11-22T03:00:00Z')
const lsblkArgv = ['lsblk', '-J', '-b', '-o', LSBLK_COLUMNS.join(',')]
const lsblkOut = JSON.stringify({
  blockdevices: [
    {
      name: 'sda',
      path: '/dev/sda',
      type: 'disk',
      serial: '9RK1XXXX',
      size: 14000519643136,
      rm: false,
      children: [
        {
          name: 'sda1',
          path: '/dev/sda1',
          type: 'part',
          fstype: 'ext4',
          uuid: '3f1c7d7e-0c55-4c38-9d0b-5b0f2b1f6c11',
          label: 'backup',
          mountpoint: '/srv/backup',
          size: 14000519643136,
          rm: false,
        },
      ],
    },
  ],
})
// systeminformation fsSize() rows as recorded on this machine (env-feasibility.md §7), plus the backup disk.
const si = (layout: Awaited<ReturnType<SystemInfo['diskLayout']>> = []): SystemInfo => ({
  diskLayout: async () => layout,
  fsSize: async () => [
    { fs: '/dev/vda', type: 'ext4', size: 270553174016, used: 26039996416, mount: '/' },
    { fs: '/dev/sda1', type: 'ext4', size: 14000519643136, used: 11900000000000, mount: '/srv/backup' },
    { fs: 'tmpfs', type: 'tmpfs', size: 1e9, used: 0, mount: '/run' },
  ],
})

test('smartctl present: scan + -x per device (SAT retried on unknown bridge), filesystems with identity', async () => {
  const exec = new FixtureExec([
    {
      argv: ['smartctl', '--scan', '-j'],
      stdout: JSON.stringify({
        devices: [
          { name: '/dev/sda', type: 'sat', protocol: 'ATA' },
          { name: '/dev/sdb', type: 'scsi', protocol: 'SCSI' },
          { name: '/dev/nvme0', type: 'nvme', protocol: 'NVMe' },
        ],
      }),
    },
    { argv: ['smartctl', '-j', '-x', '-d', 'sat', '/dev/sda'], stdout: fx('smart-ata.json') },
    {
      argv: ['smartctl', '-j', '-x', '-d', 'scsi', '/dev/sdb'],
      exitCode: 1,
      stdout: JSON.stringify({
        smartctl: {
          exit_status: 1,
          messages: [{ string: '/dev/sdb: Unknown USB bridge [0x152d:0x0578 (0x214)]', severity: 'error' }],
        },
      }),
    },
    { argv: ['smartctl', '-j', '-x', '-d', 'sat', '/dev/sdb'], stdout: fx('smart-sat.json') },
    { argv: ['smartctl', '-j', '-x', '-d', 'nvme', '/dev/nvme0'], stdout: fx('smart-nvme.json') },
    { argv: lsblkArgv, stdout: lsblkOut },
  ])
  const body = await collectDiskHealth({ exec, si: si(), log }, { backupTargets: ['/srv/backup/dump'] }, now)
  exec.assertAllUsed()
  assert.ok(check.Check(body), JSON.stringify([...check.Errors(body)].slice(0, 3)))
  assert.deepEqual(
    body.disks.map((d) => `${d.name}:${d.type}:${d.smart}`),
    ['/dev/sdb:sat:passed', '/dev/sdc:sat:unknown', '/dev/testfoobarpass:nvme:passed'],
  )
  assert.match(body.notes.join('\n'), /\/dev\/sdb: smartctl needed -d sat/)
  assert.deepEqual(
    body.filesystems.map((f) => [f.mount, f.backupTarget, f.fsUuid ?? null, f.diskSerials ?? null]),
    [
      ['/', false, null, null],
      ['/srv/backup', true, '3f1c7d7e-0c55-4c38-9d0b-5b0f2b1f6c11', ['9RK1XXXX']],
    ],
  )
})

test('device type override from config is used as given', async () => {
  const exec = new FixtureExec([
    {
      argv: ['smartctl', '--scan', '-j'],
      stdout: JSON.stringify({
        devices: [
          { name: '/dev/sdb', type: 'scsi', protocol: 'SCSI' },
          { name: '/dev/sdc', type: 'scsi', protocol: 'SCSI' },
        ],
      }),
    },
    { argv: ['smartctl', '-j', '-x', '-d', 'usbjmicron,x', '/dev/sdb'], stdout: fx('smart-sat.json') },
    { argv: lsblkArgv, stdout: '{"blockdevices":[]}' },
  ])
  const body = await collectDiskHealth(
    { exec, si: si(), log },
    { backupTargets: [], deviceTypes: { '/dev/sdb': 'usbjmicron,x' }, skip: ['/dev/sdc'] },
    now,
  )
  exec.assertAllUsed()
  assert.equal(body.disks.length, 1)
})

test('no smartctl (VM, container): systeminformation diskLayout fallback, said in notes', async () => {
  const exec = new FixtureExec([
    { argv: ['smartctl', '--scan', '-j'], error: 'BK_ERR_EXEC_SPAWN' },
    { argv: lsblkArgv, stdout: lsblkOut },
  ])
  const body = await collectDiskHealth(
    {
      exec,
      si: si([
        {
          device: '/dev/sda',
          type: 'HD',
          name: 'WDC WD140EDFZ',
          vendor: 'Western Digital',
          size: 14000519643136,
          firmwareRevision: '81.00A81',
          serialNum: '9RK1XXXX',
          interfaceType: 'SATA',
          smartStatus: 'Predicted Failure',
          temperature: null,
        },
      ]),
      log,
      pools: async () => [{ kind: 'zfs', name: 'tank', state: 'DEGRADED', errors: 2 }],
    },
    { backupTargets: ['/srv/backup'] },
    now,
  )
  assert.ok(check.Check(body))
  assert.match(body.notes[0]!, /smartctl not installed/)
  assert.deepEqual(
    body.disks.map((d) => [d.source, d.serial, d.smart, d.protocol]),
    [['systeminformation', '9RK1XXXX', 'failed', 'ATA']],
  )
  assert.deepEqual(body.pools, [{ kind: 'zfs', name: 'tank', state: 'DEGRADED', errors: 2 }])
})

test('smartctl --scan empty (this CI VM): no SMART disks, diskLayout also empty, still a valid report', async () => {
  const exec = new FixtureExec([
    {
      argv: ['smartctl', '--scan', '-j'],
      stdout: '{"json_format_version":[1,0],"smartctl":{"version":[7,3],"exit_status":0},"devices":[]}',
    },
    { argv: lsblkArgv, stdout: '{"blockdevices":[]}' },
  ])
  const body = await collectDiskHealth({ exec, si: si(), log }, { backupTargets: [] }, now)
  assert.deepEqual(body.disks, [])
  assert.match(body.notes.join('\n'), /found no devices/)
  assert.ok(check.Check(body))
})

test('mountOf picks the longest mount prefix, not a string prefix', () => {
  assert.equal(mountOf('/srv/backup/dump', ['/', '/srv', '/srv/backup']), '/srv/backup')
  assert.equal(mountOf('/srv/backup2/x', ['/', '/srv/backup']), '/')
})
