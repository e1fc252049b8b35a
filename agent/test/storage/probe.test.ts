import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Copy } from '@backstop/shared'
import { describeStorage, ruleFor, type JobStorageSpec } from '../../src/jobs/job-storage.ts'
import { detectMedia, refineMedia } from '../../src/storage/media.ts'
import { StorageProber } from '../../src/storage/probe.ts'
import { R, recorded } from './recorded.ts'

test('two pools on files on the same filesystem share the disk holding the files', async () => {
  const prober = new StorageProber(recorded(), 'h1', 'home')
  const a = await prober.probe({ kind: 'zfs-pool', pool: 'bkh7pa' }, { media: 'hdd' })
  const b = await prober.probe({ kind: 'zfs-pool', pool: 'bkh7pb' }, { media: 'hdd' })
  assert.deepEqual(a.storage, {
    host: 'h1',
    site: 'home',
    devices: [
      { id: `file:254:0:${R}/a/p1.img`, transport: 'loop' },
      { id: 'dev:h1:vda', transport: 'virtio', rotational: true, removable: false },
    ],
    fsUuid: '321395752465928647',
    media: 'hdd',
  })
  assert.deepEqual(
    b.storage.devices.map((d) => d.id),
    [`file:254:0:${R}/a/p2.img`, 'dev:h1:vda'],
  )
  assert.deepEqual(a.warnings, [])
})

test('a btrfs filesystem on a loop device: the loop file and the disk holding it', async () => {
  const p = await new StorageProber(recorded(), 'h1', 'home').probe({ kind: 'path', path: `${R}/bm/data` })
  assert.deepEqual(
    p.storage.devices.map((d) => d.id),
    [`loop:254:0:${R}/b.img`, 'dev:h1:vda'],
  )
  assert.equal(p.storage.fsUuid, '9c68dcb3-f77b-48c7-b0a3-eb1cafc9155e')
  assert.equal(p.storage.attached, undefined, 'a fixed disk has no attach state')
})

test('a loop "USB stick" on another filesystem shares nothing with the pools; attached while mounted', async () => {
  const usb = await new StorageProber(recorded(), 'h1', 'home').probe(
    { kind: 'path', path: `${R}/um` },
    { media: 'usb', site: 'office' },
  )
  assert.deepEqual(usb.storage, {
    host: 'h1',
    site: 'office',
    devices: [
      { id: `loop:0:47:${R}/usbfs/usb.img`, transport: 'loop' },
      { id: 'fs:h1:0:47', transport: 'unknown' },
    ],
    fsUuid: '5af1ef6e-d5a8-4a6a-b4ab-b4363e6ccea4',
    media: 'usb',
    attached: true,
  })
  const uuid = '5af1ef6e-d5a8-4a6a-b4ab-b4363e6ccea4'
  const gone = await new StorageProber(recorded(false), 'h1', 'home').probe(
    { kind: 'path', path: `${R}/um` },
    { media: 'usb', fsUuid: uuid },
  )
  assert.deepEqual(gone.storage, { host: 'h1', site: 'home', devices: [], fsUuid: uuid, media: 'usb', attached: false })
})

test('a "usb" directory that holds no stick is on the root disk: reported as that disk, with a warning', async () => {
  const p = await new StorageProber(recorded(false), 'h1', 'home').probe(
    { kind: 'path', path: `${R}/um` },
    { media: 'usb' },
  )
  assert.deepEqual(p.storage, {
    host: 'h1',
    site: 'home',
    devices: [{ id: 'dev:h1:vda', transport: 'virtio', rotational: true, removable: false }],
    media: 'hdd',
  })
  assert.deepEqual(p.warnings, [
    `${R}/um: config says media "usb" but the device beneath it is "hdd"; "hdd" is reported`,
  ])
})

test('a REAR stick found by its label: its loop device and backing disk, attached; unplugged: detached', async () => {
  const present = await new StorageProber(recorded(), 'h1', 'home').probe(
    { kind: 'label', label: 'BKH7USB' },
    { media: 'usb' },
  )
  assert.deepEqual(
    present.storage.devices.map((d) => d.id),
    [`loop:0:47:${R}/usbfs/usb.img`, 'fs:h1:0:47'],
  )
  assert.equal(present.storage.fsUuid, '5af1ef6e-d5a8-4a6a-b4ab-b4363e6ccea4')
  assert.equal(present.storage.attached, true)
  const unplugged = await new StorageProber(recorded(false), 'h1', 'home').probe(
    { kind: 'label', label: 'BKH7USB' },
    { media: 'usb' },
  )
  assert.deepEqual(unplugged.storage, { host: 'h1', site: 'home', devices: [], media: 'usb', attached: false })
})

test('config rules: a btrfs copy on the root mount or a target disk finds its job or target rule', () => {
  const spec: JobStorageSpec = {
    targets: [
      { kind: 'btrfs-fs', at: '/data/.snapshots', hints: {} },
      { kind: 'btrfs-fs', at: '/mnt/usb/backstop', hints: { media: 'usb', site: 'shed', fsUuid: 'u-1' } },
    ],
    sourcePaths: [],
  }
  assert.equal(ruleFor(spec, { kind: 'btrfs-fs', target: '/' }), spec.targets[0])
  assert.equal(ruleFor(spec, { kind: 'btrfs-fs', target: '/mnt/usb' }), spec.targets[1])
  assert.equal(ruleFor(spec, { kind: 'dir', target: '/mnt/usb' }), undefined)
  assert.equal(
    ruleFor(
      { targets: [{ kind: 'usb', at: 'REAR', hints: {} }], sourcePaths: ['/'] },
      { kind: 'usb', target: 'REAR:rear/h1' },
    )?.at,
    'REAR',
  )
})

test('media: detected from the devices; config may refine a network store but not contradict a disk', () => {
  assert.equal(detectMedia([{ id: 'serial:S1', transport: 'nvme' }], false), 'nvme')
  assert.equal(detectMedia([{ id: 'serial:S2', transport: 'sata', rotational: true }], false), 'hdd')
  assert.equal(detectMedia([{ id: 'serial:S3', transport: 'sata', rotational: false }], false), 'ssd')
  assert.equal(detectMedia([{ id: 'serial:S4', transport: 'usb', rotational: true }], false), 'usb')
  assert.equal(detectMedia([{ id: `loop:254:0:/x`, transport: 'loop' }], true), null)
  assert.deepEqual(refineMedia('ssd', 'ssd'), { media: 'ssd' })
  assert.deepEqual(refineMedia('nas', 'object'), { media: 'object' })
  assert.deepEqual(refineMedia(null, 'usb'), { media: 'usb' })
  const ssdAsNvme = refineMedia('ssd', 'nvme')
  assert.equal(ssdAsNvme.media, 'ssd')
  assert.match(ssdAsNvme.contradiction ?? '', /config says media "nvme" but the device beneath it is "ssd"/)
  assert.equal(refineMedia('usb', 'hdd').media, 'usb', 'usb stays usb')
})

test('copies get their storage and accident protections; sources name the live data; never immutability', async () => {
  const spec: JobStorageSpec = {
    targets: [
      { kind: 'zfs-pool', at: 'bkh7pa', hints: { media: 'hdd' } },
      { kind: 'zfs-pool', at: 'bkh7pb', hints: { media: 'hdd', site: 'shed' } },
    ],
    sourcePaths: [],
  }
  const copy = (pool: string, held: boolean): Copy => ({
    copyId: `zfs:${pool}/data@s1`,
    asset: { kind: 'zfs-dataset', id: 'bkh7pa/data' },
    location: { kind: 'zfs-pool', target: pool },
    name: `${pool}/data@s1`,
    media: 'hdd',
    offsite: false,
    offline: false,
    immutable: held,
    createdAt: '2026-12-05T05:00:00.000Z',
    verification: { state: 'verified' },
  })
  assert.equal(ruleFor(spec, { kind: 'zfs-pool', target: 'bkh7pb' })?.hints.site, 'shed')
  const r = await describeStorage(
    { status: 'success', copies: [copy('bkh7pa', false), copy('bkh7pb', true)], deleted: [], warnings: [] },
    spec,
    new StorageProber(recorded(), 'h1', 'home'),
  )
  assert.equal(r.copies[0]!.storage?.protections, undefined)
  assert.deepEqual(r.copies[1]!.storage?.protections, ['zfs-hold'])
  assert.equal(r.copies[1]!.storage?.site, 'shed')
  assert.ok(r.copies.every((c) => c.storage?.immutability === undefined))
  assert.deepEqual(
    r.sources.map((s) => [s.asset.id, s.storage.site, s.storage.devices.map((d) => d.id)]),
    [['bkh7pa/data', 'home', [`file:254:0:${R}/a/p1.img`, 'dev:h1:vda']]],
  )
  assert.deepEqual(r.warnings, [])
})
