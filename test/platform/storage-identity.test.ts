import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test, type TestContext } from 'node:test'
import { NodeExec } from '../../agent/src/exec/node-exec.ts'
import { StorageProber } from '../../agent/src/storage/probe.ts'
import { btrfsReady, createTestBtrfs } from '../support/btrfs.ts'
import { requirePlatform } from '../support/platform.ts'
import { createTestPool, must, sh, zfsFuseReady } from '../support/zfs.ts'
import { silentLog } from '../support/zfs-btrfs-context.ts'

/**
 * The storage prober on real media, created and removed by the test: two zfs-fuse pools on files on the same
 * filesystem, a btrfs loop filesystem, and a loop "USB stick" whose image lives on a tmpfs (another disk).
 * What a user would ask: do these copies share a disk, and is the stick plugged in?
 */
const needs = {
  root: true,
  commands: ['zpool', 'mkfs.ext4', 'losetup', 'mount', 'umount', 'findmnt', 'lsblk'],
  checks: [zfsFuseReady, btrfsReady],
}

/** An ext4 "stick" on a loop device whose image is on its own tmpfs: no device in common with /tmp. */
function createLoopStick(t: TestContext): { mnt: string; unmount(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'bk-stick-'))
  const backing = join(dir, 'backing')
  const mnt = join(dir, 'mnt')
  mkdirSync(backing)
  mkdirSync(mnt)
  must(['mount', '-t', 'tmpfs', '-o', 'size=80M', 'bkstick', backing])
  const img = join(backing, 'usb.img')
  writeFileSync(img, '')
  truncateSync(img, 64 * 1024 * 1024)
  const dev = must(['losetup', '-f', '--show', img]).trim()
  let mounted = false
  t.after(() => {
    if (mounted) {
      sh(['umount', mnt])
    }
    sh(['losetup', '-d', dev])
    sh(['umount', backing])
    rmSync(dir, { recursive: true, force: true })
  })
  must(['mkfs.ext4', '-q', '-L', 'BKSTICK', dev])
  must(['mount', dev, mnt])
  mounted = true
  return {
    mnt,
    unmount: () => {
      must(['umount', mnt])
      mounted = false
    },
  }
}

test('storage identity: pools on one disk share it, a stick elsewhere shares nothing and detaches', async (t) => {
  if (!requirePlatform(t, needs)) {
    return
  }
  const exec = new NodeExec({ log: silentLog })
  const a = createTestPool(t, 'sida')
  const b = createTestPool(t, 'sidb')
  const fs = createTestBtrfs(t, 'sid')
  const stick = createLoopStick(t)
  const prober = new StorageProber(exec, 'n1', 'home')

  const poolA = (await prober.probe({ kind: 'zfs-pool', pool: a.pool }, { media: 'hdd' })).storage
  const poolB = (await prober.probe({ kind: 'zfs-pool', pool: b.pool }, { media: 'hdd' })).storage
  const ids = (s: typeof poolA): string[] => s.devices.map((d) => d.id)
  assert.ok(
    ids(poolA).some((id) => id.startsWith('file:') && id.endsWith(`:${a.file}`)),
    `pool A names its file vdev: ${ids(poolA).join(', ')}`,
  )
  const shared = ids(poolA).filter((id) => ids(poolB).includes(id))
  assert.equal(shared.length, 1, `two pools on files on one filesystem share its disk: ${ids(poolA)} / ${ids(poolB)}`)
  assert.ok(!shared[0]!.startsWith('file:'), 'what they share is the disk, not a file')
  assert.match(poolA.fsUuid ?? '', /^\d+$/, 'a pool is identified by its GUID')
  assert.equal(poolA.attached, undefined, 'a fixed pool has no attach state')

  const btrfs = (await prober.probe({ kind: 'path', path: fs.mnt })).storage
  assert.equal(btrfs.fsUuid, fs.uuid)
  assert.ok(
    ids(btrfs).some((id) => id.startsWith('loop:') && id.endsWith('/fs.img')),
    ids(btrfs).join(', '),
  )
  assert.ok(ids(btrfs).includes(shared[0]!), 'the btrfs loop file lives on the same disk as the pools')

  const usb = (await prober.probe({ kind: 'path', path: stick.mnt }, { media: 'usb', site: 'office' })).storage
  assert.equal(usb.media, 'usb')
  assert.equal(usb.site, 'office')
  assert.equal(usb.attached, true)
  assert.ok(
    ids(usb).some((id) => id.startsWith('loop:') && id.endsWith('/usb.img')),
    ids(usb).join(', '),
  )
  assert.deepEqual(
    ids(usb).filter((id) => ids(poolA).includes(id) || ids(btrfs).includes(id)),
    [],
    'the stick on another backing filesystem shares no device with the pools or the btrfs fs',
  )

  assert.match(usb.fsUuid ?? '', /^[0-9a-f-]{36}$/)
  stick.unmount()
  // A new run, a new prober: nothing cached from before the unmount.
  const later = new StorageProber(exec, 'n1', 'home')
  const after = (await later.probe({ kind: 'path', path: stick.mnt }, { media: 'usb', fsUuid: usb.fsUuid! })).storage
  assert.equal(after.attached, false)
  assert.deepEqual(after.devices, [], 'an unmounted stick is not the disk its empty mountpoint sits on')
  assert.equal(after.fsUuid, usb.fsUuid)
  // Without the stick's UUID, the directory is simply on the root disk: that is what a copy there is on.
  const unknown = await later.probe({ kind: 'path', path: stick.mnt }, { media: 'usb' })
  assert.ok(ids(unknown.storage).includes(shared[0]!), ids(unknown.storage).join(', '))
  assert.equal(unknown.storage.attached, undefined)
  assert.match(unknown.warnings.join('\n'), /config says media "usb"/)
})
