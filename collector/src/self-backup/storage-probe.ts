import * as fs from 'node:fs'
import { hostname } from 'node:os'
import { basename, dirname } from 'node:path'
import type { MediaType, StorageDevice, StorageIdentity } from '@backstop/shared'
import { majMinOf, mountHolding, parseMountinfo } from './mountinfo.ts'

/**
 * The collector's own storage prober: what a directory is stored on (its devices, filesystem UUID, media), the
 * failure domain the ledger compares. It follows the agent's rules (agent/src/storage/probe.ts: a disk by WWN,
 * else serial, else its kernel name on this host; a loop device by the file behind it and that file's disk; a
 * filesystem without a block device as itself; network filesystems as `net:<source>`) but reads /proc and /sys
 * through `ProbeIo` instead of running commands, so the collector needs no Exec seam and tests replay recorded
 * files. Never throws: what it cannot read it leaves out, and a directory it cannot place at all is its own domain.
 */
export interface ProbeIo {
  /** st_dev of a path that exists; undefined when it does not. */
  statDev(path: string): number | undefined
  realpath(path: string): string | undefined
  read(path: string): string | undefined
  readdir(path: string): string[]
}

export const nodeProbeIo: ProbeIo = {
  statDev: (p) => attempt(() => fs.statSync(p).dev),
  realpath: (p) => attempt(() => fs.realpathSync(p)),
  read: (p) => attempt(() => fs.readFileSync(p, 'utf8').trim()),
  readdir: (p) => attempt(() => fs.readdirSync(p)) ?? [],
}

function attempt<T>(fn: () => T): T | undefined {
  try {
    return fn()
  } catch {
    return undefined
  }
}

const networkFs = /^(nfs4?|cifs|smb3|fuse\.sshfs|9p|ceph|glusterfs)$/
const maxDepth = 4

export interface ProbeHints {
  readonly site: string
  readonly media?: MediaType | undefined
}

export function probeDirectory(
  dir: string,
  hints: ProbeHints,
  io: ProbeIo = nodeProbeIo,
  host = hostname(),
): StorageIdentity {
  const found = locate(dir, io, host, 0)
  const detected = detectMedia(found.devices)
  return {
    host,
    site: hints.site,
    devices: dedupe(found.devices),
    ...(found.fsUuid ? { fsUuid: found.fsUuid } : {}),
    media: refine(detected, hints.media),
  }
}

interface Found {
  readonly devices: StorageDevice[]
  readonly fsUuid?: string | undefined
}

function locate(path: string, io: ProbeIo, host: string, depth: number): Found {
  // A target directory not created yet lives on the filesystem of its nearest existing parent.
  let at = path
  let dev = io.statDev(at)
  while (dev === undefined && at !== '/') {
    at = dirname(at)
    dev = io.statDev(at)
  }
  if (dev === undefined) {
    return { devices: [{ id: `path:${host}:${path}`, transport: 'unknown' }] }
  }
  const majMin = majMinOf(dev)
  const mount = mountHolding(parseMountinfo(io.read('/proc/self/mountinfo') ?? ''), io.realpath(at) ?? at, majMin)
  if (mount && networkFs.test(mount.fstype)) {
    return { devices: [{ id: `net:${mount.source}`, transport: 'network' }] }
  }
  if (mount && (mount.fstype === 'zfs' || mount.fstype === 'fuse.zfs')) {
    // Every dataset has its own st_dev; the pool is what fails. (Its disks need zpool status: not probed here.)
    return { devices: [{ id: `zpool:${host}:${mount.source.split('/')[0] ?? mount.source}`, transport: 'unknown' }] }
  }
  // btrfs subvolumes report an anonymous st_dev (0:N): their mount's source names the block device.
  const sys =
    io.realpath(`/sys/dev/block/${majMin}`) ??
    (mount?.source.startsWith('/dev/')
      ? io.realpath(`/sys/class/block/${basename(io.realpath(mount.source) ?? mount.source)}`)
      : undefined)
  if (sys === undefined || depth > maxDepth) {
    // tmpfs, overlay, fuse, zfs datasets: no block device; the filesystem itself is the domain on this host.
    return { devices: [{ id: `fs:${host}:${majMin}`, transport: 'unknown' }] }
  }
  return { devices: blockDevices(sys, io, host, depth), fsUuid: uuidOf(basename(sys), io) }
}

/** A block device resolved to whole disks: partition → its disk, dm/md → its members, loop → its file's disk. */
function blockDevices(sysPath: string, io: ProbeIo, host: string, depth: number): StorageDevice[] {
  const sys = io.read(`${sysPath}/partition`) !== undefined ? dirname(sysPath) : sysPath
  const name = basename(sys)
  const backing = io.read(`${sys}/loop/backing_file`)
  if (backing !== undefined) {
    const holder = io.statDev(backing)
    const self: StorageDevice = {
      id: `loop:${holder !== undefined ? majMinOf(holder) : '?'}:${backing}`,
      transport: 'loop',
    }
    return [self, ...locate(backing, io, host, depth + 1).devices]
  }
  const slaves = io.readdir(`${sys}/slaves`)
  if (slaves.length > 0 && depth <= maxDepth) {
    return slaves.flatMap((s) => {
      const real = io.realpath(`/sys/class/block/${s}`)
      return real ? blockDevices(real, io, host, depth + 1) : []
    })
  }
  const wwid = io.read(`${sys}/device/wwid`) ?? io.read(`${sys}/wwid`)
  const serial = io.read(`${sys}/serial`) ?? io.read(`${sys}/device/serial`)
  const transport = transportOf(sys, name)
  return [
    {
      id: wwid ? `wwn:${wwid}` : serial ? `serial:${serial}` : `dev:${host}:${name}`,
      transport,
      rotational: io.read(`${sys}/queue/rotational`) === '1',
      removable: io.read(`${sys}/removable`) === '1' || transport === 'usb',
    },
  ]
}

function transportOf(sys: string, name: string): StorageDevice['transport'] {
  if (sys.includes('/usb')) {
    return 'usb'
  }
  if (name.startsWith('nvme')) {
    return 'nvme'
  }
  if (/^vd[a-z]/.test(name) || sys.includes('/virtio')) {
    return 'virtio'
  }
  return sys.includes('/ata') ? 'sata' : 'unknown'
}

/** /dev/disk/by-uuid/<uuid> → ../../<kernel name>; absent in containers without udev. */
function uuidOf(kname: string, io: ProbeIo): string | undefined {
  for (const uuid of io.readdir('/dev/disk/by-uuid')) {
    if (basename(io.realpath(`/dev/disk/by-uuid/${uuid}`) ?? '') === kname) {
      return uuid
    }
  }
  return undefined
}

/** As the agent's detectMedia: null when nothing physical was seen (only config can say what it stands for). */
function detectMedia(devices: readonly StorageDevice[]): MediaType | null {
  if (devices.some((d) => d.transport === 'network')) {
    return 'nas'
  }
  if (devices.some((d) => d.transport === 'loop')) {
    return null
  }
  const physical = devices.filter(
    (d) => d.transport !== 'unknown' || d.id.startsWith('wwn:') || d.id.startsWith('serial:'),
  )
  if (physical.some((d) => d.transport === 'usb' || d.removable === true)) {
    return 'usb'
  }
  if (physical.some((d) => d.transport === 'nvme')) {
    return 'nvme'
  }
  if (physical.some((d) => d.rotational === true)) {
    return 'hdd'
  }
  return physical.length > 0 ? 'ssd' : null
}

/** Config may say what the probe cannot see, or which kind of network store it is; never contradict a disk. */
function refine(detected: MediaType | null, configured: MediaType | undefined): MediaType {
  if (detected === null) {
    return configured ?? 'hdd'
  }
  if (detected === 'nas' && configured !== undefined && ['object', 'tape', 'optical'].includes(configured)) {
    return configured
  }
  return detected
}

function dedupe(devices: readonly StorageDevice[]): StorageDevice[] {
  const byId = new Map<string, StorageDevice>()
  for (const d of devices) {
    byId.set(d.id, byId.get(d.id) ?? d)
  }
  return [...byId.values()]
}
