import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { lsblkStorageArgv, parseLsblk } from '../../src/tools/lsblk.ts'
import {
  parseBtrfsShow,
  parseFindmntTarget,
  parseLosetup,
  parsePoolGuid,
  parseZpoolUsage,
  parseZpoolVdevs,
  zpoolStatusArgv,
} from '../../src/tools/storage-parse.ts'

const fx = (name: string): string => readFileSync(new URL(`../fixtures/storage/${name}`, import.meta.url), 'utf8')

test('zfs-fuse 0.7 has no `zpool status -P/-L`; OpenZFS 2.x has both, and the argv follows', () => {
  const fuse = parseZpoolUsage(fx('zpool-usage-zfs-fuse-0.7.txt'))
  const openzfs = parseZpoolUsage(fx('openzfs-zpool-usage-status.txt'))
  assert.deepEqual(fuse, { fullPaths: false, resolveLinks: false })
  assert.deepEqual(openzfs, { fullPaths: true, resolveLinks: true })
  assert.deepEqual(zpoolStatusArgv(fuse, 'tank'), ['zpool', 'status', 'tank'])
  assert.deepEqual(zpoolStatusArgv(openzfs, 'tank'), ['zpool', 'status', '-P', '-L', 'tank'])
})

test('zpool status: the leaf vdevs of each pool, mirrors and log/cache groups skipped', () => {
  assert.deepEqual(parseZpoolVdevs(fx('zpool-status-zfs-fuse-files.txt')), [
    { pool: 'bkh7mir', leaves: ['/tmp/bk-h7-rec/a/m3.img', '/tmp/bk-h7-rec/a/m4.img'] },
    { pool: 'bkh7pa', leaves: ['/tmp/bk-h7-rec/a/p1.img'] },
  ])
  assert.deepEqual(parseZpoolVdevs(fx('openzfs-zpool-status-PL.txt')), [
    { pool: 'tank', leaves: ['/dev/sda1', '/dev/sdb1', '/dev/nvme0n1p2', '/dev/nvme0n1p3'] },
  ])
})

test('zpool status without -P names whole disks without /dev/: the parser adds it', () => {
  const text =
    '  pool: t\n state: ONLINE\nconfig:\n\n\tNAME  STATE\n\tt     ONLINE\n\t  sdc  ONLINE 0 0 0\n\n' +
    'errors: No known data errors\n'
  assert.deepEqual(parseZpoolVdevs(text), [{ pool: 't', leaves: ['/dev/sdc'] }])
})

test('pool guid from `zpool list -H -o name,guid`', () => {
  assert.equal(parsePoolGuid(fx('zpool-list-H-name-guid.txt')), '321395752465928647')
  assert.equal(parsePoolGuid(''), null)
})

test('findmnt -T: the mount holding a path with its st_dev (maj:min)', () => {
  assert.deepEqual(parseFindmntTarget(fx('findmnt-T-zfs-fuse.json')), {
    target: '/tmp/bk-h7-rec/a/m1',
    source: 'bkh7pa',
    fstype: 'fuse.zfs',
    uuid: null,
    majMin: '0:41',
  })
  const btrfs = parseFindmntTarget(fx('findmnt-T-btrfs-loop.json'))
  assert.equal(btrfs?.source, '/dev/loop0')
  assert.equal(btrfs?.uuid, '9c68dcb3-f77b-48c7-b0a3-eb1cafc9155e')
  // After umount the stick's mountpoint is just a directory on the root filesystem.
  assert.deepEqual(
    parseFindmntTarget(fx('findmnt-T-usb-unmounted.json')),
    parseFindmntTarget(fx('findmnt-T-root.json')),
  )
  assert.equal(parseFindmntTarget(fx('findmnt-T-tmpfs.json'))?.majMin, '0:47')
})

test('losetup -J: loop devices and their backing files', () => {
  const loops = parseLosetup(fx('losetup-J.json'))
  assert.deepEqual(
    loops.find((l) => l.name === '/dev/loop1'),
    { name: '/dev/loop1', backFile: '/tmp/bk-h7-rec/usbfs/usb.img' },
  )
  assert.equal(loops.length, 3)
  assert.deepEqual(parseLosetup(''), [])
})

test('btrfs filesystem show: uuid, label and member devices', () => {
  assert.deepEqual(parseBtrfsShow(fx('btrfs-filesystem-show-loop.txt')), [
    { label: 'bkh7b', uuid: '9c68dcb3-f77b-48c7-b0a3-eb1cafc9155e', devices: ['/dev/loop0'], missing: false },
  ])
})

test('lsblk storage columns: kname, wwn, rotational as booleans (util-linux 2.38)', () => {
  assert.ok(lsblkStorageArgv().at(-1)!.includes('WWN,ROTA,RM,TRAN'))
  const devs = parseLsblk(fx('lsblk-storage.json'))
  const vda = devs.find((d) => d.name === 'vda')
  assert.equal(vda?.kname, 'vda')
  assert.equal(vda?.rotational, true)
  assert.equal(vda?.wwn, null)
  assert.equal(vda?.removable, false)
  assert.equal(devs.find((d) => d.name === 'zram0')?.rotational, false)
  assert.equal(devs.find((d) => d.name === 'loop2p1')?.pkname, 'loop2')
})
