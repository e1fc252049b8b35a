import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { majMinOf, mountHolding, parseMountinfo } from '../../src/self-backup/mountinfo.ts'
import { probeDirectory, type ProbeIo } from '../../src/self-backup/storage-probe.ts'

const fx = (name: string): string => readFileSync(new URL(`../fixtures/self-backup/${name}`, import.meta.url), 'utf8')

interface Recorded {
  statDev: Record<string, number | null>
  realpath: Record<string, string | null>
  read: Record<string, string | null>
  readdir: Record<string, string[]>
}

/** Replays the recorded machine; a question it was never asked fails the test (the probe changed its reads). */
function replay(rec: Recorded, mountinfo: string): ProbeIo {
  const get = <T>(table: Record<string, T | null>, key: string): T | undefined => {
    assert.ok(key in table, `not recorded: ${key}`)
    return table[key] ?? undefined
  }
  return {
    statDev: (p) => get(rec.statDev, p),
    realpath: (p) => get(rec.realpath, p),
    read: (p) => (p === '/proc/self/mountinfo' ? mountinfo : get(rec.read, p)),
    readdir: (p) => get(rec.readdir, p) ?? [],
  }
}

describe('mountinfo (recorded on the CI VM)', () => {
  const mounts = parseMountinfo(fx('mountinfo-vm.txt'))

  it('parses every line: device, mount point, type and source', () => {
    assert.equal(mounts.length, 48)
    assert.deepEqual(
      mounts.find((m) => m.mountPoint === '/'),
      {
        majMin: '254:0',
        mountPoint: '/',
        fstype: 'ext4',
        source: '/dev/vda',
      },
    )
    assert.equal(mounts.find((m) => m.majMin === '0:43')?.fstype, 'fuse.zfs')
  })

  it('finds the mount holding a path by its st_dev, the longest mount point winning', () => {
    assert.equal(mountHolding(mounts, '/work/main', '254:0')?.mountPoint, '/')
    assert.equal(mountHolding(mounts, '/dev/shm/x', '0:27')?.mountPoint, '/dev/shm')
    assert.equal(mountHolding(mounts, '/sys/fs/cgroup/cpu/a', '0:29')?.fstype, 'cgroup')
  })

  it('splits st_dev like glibc (65024 = 254:0)', () => {
    assert.equal(majMinOf(65024), '254:0')
    assert.equal(majMinOf(27), '0:27')
    assert.equal(majMinOf(66305), '259:1') // an NVMe partition
    assert.equal(majMinOf(1050668), '8:300') // minor above 255: its high bits sit above the major
  })
})

describe('probeDirectory over the recorded VM', () => {
  const io = replay(JSON.parse(fx('sysfs-vm.json')) as Recorded, fx('mountinfo-vm.txt'))
  const probe = (p: string) => probeDirectory(p, { site: 'home' }, io, 'vm1')

  it('a directory on the virtio disk: that disk by serial, rotational, not removable → hdd', () => {
    assert.deepEqual(probe('/work/main'), {
      host: 'vm1',
      site: 'home',
      devices: [{ id: 'serial:156664402099619', transport: 'virtio', rotational: true, removable: false }],
      media: 'hdd',
    })
  })

  it('a target not created yet is placed on the filesystem of its nearest existing parent', () => {
    assert.deepEqual(probe('/tmp/bk-probe-rec/not-yet/deeper').devices, probe('/work/main').devices)
  })

  it('tmpfs is its own failure domain on this host; a zfs dataset is its pool', () => {
    assert.deepEqual(probe('/dev/shm').devices, [{ id: 'fs:vm1:0:27', transport: 'unknown' }])
    assert.deepEqual(probe('/tmp/bk-bench-zfs-ssh-jmHphR/mnt-bs893a28a/bs').devices, [
      { id: 'zpool:vm1:bs893a28a', transport: 'unknown' },
    ])
  })

  it('config refines what the probe cannot see, never what it saw', () => {
    assert.equal(probeDirectory('/dev/shm', { site: 'home', media: 'ssd' }, io, 'vm1').media, 'ssd')
    assert.equal(probeDirectory('/work/main', { site: 'x', media: 'ssd' }, io, 'vm1').media, 'hdd')
  })
})
