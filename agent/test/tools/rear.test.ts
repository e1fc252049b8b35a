import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { FixtureExec } from '../../src/exec/fixture-exec.ts'
import { findByLabel, parseBlkidExport } from '../../src/tools/blkid.ts'
import { diskSerialsOf, parseLsblk } from '../../src/tools/lsblk.ts'
import {
  interpretChecklayout,
  parseRunDirName,
  rearArgv,
  rearFormatArgv,
  renderLocalConf,
} from '../../src/tools/rear.ts'
import { keepLastOnly, resolveRetentionPolicy } from '@backstop/shared'
import { deleteRunDirs, planRunDirs } from '../../src/jobs/rear/rear-retention.ts'
import { checkRearMd5, listRunDirs } from '../../src/jobs/rear/stick.ts'
import { recordStick, staleSticks } from '../../src/jobs/rear/inventory.ts'

const fixture = (f: string): string => readFileSync(join(import.meta.dirname, '../fixtures/rear', f), 'utf8')

test('blkid -o export: the recorded REAR stick', () => {
  assert.deepEqual(parseBlkidExport(fixture('blkid-export-rear-stick.txt')), [
    {
      devname: '/dev/loop0p3',
      label: 'REAR-000',
      uuid: 'f851d550-f024-4d09-b67b-f18ea9219759',
      type: 'ext3',
      partuuid: '9fd57c80-448f-45e6-bf87-78d73a63fc12',
    },
  ])
  assert.deepEqual(
    parseBlkidExport('DEVNAME=/dev/sdb1\nLABEL=my\\ stick\nTYPE=vfat\n\nDEVNAME=/dev/sdc1\nTYPE=ext4\n').map(
      (d) => d.label ?? null,
    ),
    ['my stick', null],
  )
})

test('findByLabel: blkid exit 2 means no such device', async () => {
  const exec = new FixtureExec([
    { argv: ['blkid', '-c', '/dev/null', '-o', 'export', '-t', 'LABEL=REAR-000'], exitCode: 2 },
  ])
  assert.deepEqual(await findByLabel(exec, 'REAR-000'), [])
})

test('lsblk JSON: tree flattened, disk serials followed through partitions', () => {
  const devs = parseLsblk(
    JSON.stringify({
      blockdevices: [
        {
          name: 'sda',
          path: '/dev/sda',
          type: 'disk',
          serial: 'WD-1',
          size: 1000,
          rm: false,
          children: [
            {
              name: 'sda1',
              path: '/dev/sda1',
              type: 'part',
              fstype: 'ext4',
              uuid: 'U1',
              label: 'backup',
              mountpoint: '/srv/backup',
              size: 900,
              rm: '0',
            },
          ],
        },
        { name: 'sdb', path: '/dev/sdb', type: 'disk', serial: 'USB-9', tran: 'usb', size: 64, rm: '1' },
      ],
    }),
  )
  assert.deepEqual(
    devs.map((d) => `${d.name}<${d.pkname ?? '-'}>`),
    ['sda<->', 'sda1<sda>', 'sdb<->'],
  )
  assert.equal(devs[2]!.removable, true)
  assert.deepEqual(diskSerialsOf(devs, 'sda1'), ['WD-1'])
})

test('rear argv, checklayout exit codes, run dir names in local time', () => {
  assert.deepEqual(rearArgv('/var/lib/backstop/rear-etc', 'mkbackup'), [
    'rear',
    '-c',
    '/var/lib/backstop/rear-etc',
    '-v',
    'mkbackup',
  ])
  assert.deepEqual(rearFormatArgv(null, '/dev/sdb', false), ['rear', '-v', 'format', '--', '-y', '/dev/sdb'])
  assert.deepEqual([0, 1, 2].map(interpretChecklayout), ['unchanged', 'changed', 'error'])
  assert.equal(parseRunDirName('20261122.0223', 'UTC')?.toISOString(), '2026-11-22T02:23:00.000Z')
  assert.equal(parseRunDirName('20260715.0200', 'Europe/Berlin')?.toISOString(), '2026-07-15T00:00:00.000Z')
  assert.equal(parseRunDirName('20260230.0200', 'UTC'), null)
  assert.equal(parseRunDirName('weekly', 'UTC'), null)
})

test('generated local.conf: USB output, NETFS to the stick, rear retention disabled, extra lines last', () => {
  const conf = renderLocalConf({
    backupUrl: 'usb:///dev/disk/by-label/REAR-000',
    workflow: 'mkbackup',
    integrityCheck: true,
    extra: ['BOOTLOADER=GRUB2'],
  })
  assert.deepEqual(conf.trim().split('\n').slice(1), [
    'OUTPUT=USB',
    'BACKUP=NETFS',
    "BACKUP_URL='usb:///dev/disk/by-label/REAR-000'",
    "USB_DEVICE='/dev/disk/by-label/REAR-000'",
    'USB_RETAIN_BACKUP_NR=1000',
    'BACKUP_INTEGRITY_CHECK=1',
    'BOOTLOADER=GRUB2',
  ])
})

test('run dirs on a stick: listing, rear md5 check, keep N (the new run always survives)', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'bk-rear-'))
  t.after(() => rmSync(root, { recursive: true, force: true }))
  const mk = (name: string, backup: boolean): void => {
    const d = join(root, 'rear', 'vm', name)
    mkdirSync(d, { recursive: true })
    writeFileSync(join(d, 'initrd.cgz'), 'i')
    if (backup) {
      writeFileSync(join(d, 'backup.tar.gz'), `tar ${name}`)
      writeFileSync(
        join(d, 'backup.tar.gz.md5'),
        `${createHash('md5').update(`tar ${name}`).digest('hex')}  backup.tar.gz\n`,
      )
    }
  }
  for (const [n, b] of [
    ['20261101.0200', true],
    ['20261108.0200', true],
    ['20261110.0200', false],
    ['20261115.0200', true],
    ['20261122.0200', true],
  ] as const) {
    mk(n, b)
  }
  mkdirSync(join(root, 'rear', 'vm', 'fixed-suffix'))
  const runs = await listRunDirs(root, 'vm', 'UTC')
  assert.deepEqual(
    runs.map((r) => `${r.name.split('/')[2]}:${r.hasBackup ? 'b' : 'r'}`),
    ['20261101.0200:b', '20261108.0200:b', '20261110.0200:r', '20261115.0200:b', '20261122.0200:b'],
  )
  const newest = runs.at(-1)!
  const archive = join(newest.path, 'backup.tar.gz')
  assert.deepEqual(await checkRearMd5(archive, createHash('md5').update('tar 20261122.0200').digest('hex')), {
    expected: createHash('md5').update('tar 20261122.0200').digest('hex'),
    ok: true,
  })
  assert.equal((await checkRearMd5(archive, '0'.repeat(32)))?.ok, false)
  assert.equal(await checkRearMd5(join(root, 'nope.tar.gz'), 'x'), null)
  // GFS keep.last 2 per kind over verified runs only: the unverified 1101 cannot fill a slot, 1108 is third.
  const verified = new Map(
    ['20261108.0200', '20261110.0200', '20261115.0200', '20261122.0200'].map((n) => [
      `rear/vm/${n}`,
      { name: `rear/vm/${n}`, createdAt: '', verifiedAt: '2026-11-22T03:00:00.000Z' },
    ]),
  )
  const plan = planRunDirs(
    runs,
    verified,
    resolveRetentionPolicy({ keep: { last: 2 } }, 'UTC', keepLastOnly(2)),
    new Date('2026-11-22T03:00:00Z'),
    'REAR-000:rear/vm',
  )
  const { removed, errors } = await deleteRunDirs(plan)
  assert.deepEqual(errors, [])
  // Backups: keep the 2 newest verified (1122, 1115); rescue-only runs are planned separately (1110 stays).
  assert.deepEqual(
    removed.map((r) => [r.run.name.split('/')[2], r.rule.split(';')[0]]),
    [
      ['20261101.0200', 'failed copy'],
      ['20261108.0200', 'kept by no rule'],
    ],
  )
  assert.deepEqual(
    (await listRunDirs(root, 'vm', 'UTC')).map((r) => r.name.split('/')[2]),
    ['20261110.0200', '20261115.0200', '20261122.0200'],
  )
})

test('stick inventory: last seen, stale sticks reported for rotation', () => {
  let inv = recordStick(
    {},
    'uuid-a',
    'REAR-000',
    [{ name: 'rear/vm/20261101.0200', createdAt: '2026-11-01T02:00:00.000Z' }],
    new Date('2026-11-01T03:00:00Z'),
  )
  inv = recordStick(inv, 'uuid-b', 'REAR-000', [], new Date('2026-11-20T03:00:00Z'))
  assert.deepEqual(staleSticks(inv, new Date('2026-11-22T03:00:00Z'), 14), [
    'USB stick REAR-000 (UUID uuid-a) not seen for 21 days (holds 1 run(s), newest rear/vm/20261101.0200); ' +
      'rotate it back in',
  ])
})

test('identityOfPath: findmnt source → lsblk uuid/label/serial; non-block sources and unknowns give null', async () => {
  const { identityOfPath, LSBLK_COLUMNS } = await import('../../src/tools/lsblk.ts')
  const lsblk = ['lsblk', '-J', '-b', '-o', LSBLK_COLUMNS.join(',')]
  const tree = JSON.stringify({
    blockdevices: [
      {
        name: 'sdb',
        path: '/dev/sdb',
        type: 'disk',
        serial: 'WD-X',
        size: 1,
        children: [{ name: 'sdb1', path: '/dev/sdb1', type: 'part', uuid: 'U-1', label: 'dump', size: 1 }],
      },
    ],
  })
  const exec = new FixtureExec([
    { argv: ['findmnt', '-n', '-o', 'SOURCE', '-T', '/srv/dump'], stdout: '/dev/sdb1\n' },
    { argv: lsblk, stdout: tree },
    { argv: ['findmnt', '-n', '-o', 'SOURCE', '-T', '/tank/dump'], stdout: 'tank/dump\n' },
    { argv: ['findmnt', '-n', '-o', 'SOURCE', '-T', '/home/x'], stdout: '/dev/sdb1[/@home]\n' },
    { argv: lsblk, stdout: tree },
  ])
  assert.deepEqual(await identityOfPath(exec, '/srv/dump'), { fsUuid: 'U-1', label: 'dump', serial: 'WD-X' })
  assert.equal(await identityOfPath(exec, '/tank/dump'), null)
  assert.deepEqual(await identityOfPath(exec, '/home/x'), { fsUuid: 'U-1', label: 'dump', serial: 'WD-X' })
  exec.assertAllUsed()
})
