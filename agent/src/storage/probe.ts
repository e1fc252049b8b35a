import type { MediaType, StorageDevice, StorageIdentity } from '@backstop/shared'
import { succeeded, type Exec } from '../exec/exec.ts'
import { findByLabel } from '../tools/blkid.ts'
import { lsblkStorageArgv, parseLsblk, type LsblkDevice } from '../tools/lsblk.ts'
import {
  btrfsShowArgv,
  findmntTargetArgv,
  losetupArgv,
  parseBtrfsShow,
  parseFindmntTarget,
  parseLosetup,
  parsePoolGuid,
  parseZpoolUsage,
  parseZpoolVdevs,
  zpoolStatusArgv,
  type MountOfPath,
} from '../tools/storage-parse.ts'
import { isLoopbackHost } from './loopback.ts'
import { detectMedia, refineMedia, transportOf } from './media.ts'

/** What to probe: a path (dir, btrfs mount, archive destination), a ZFS pool, a stick by label, a remote store. */
export type StorageLocator =
  // `via`: the loopback host a target over ssh names (`127.0.0.1:backup`): this machine, probed as local storage.
  | { readonly kind: 'path'; readonly path: string; readonly via?: string }
  | { readonly kind: 'zfs-pool'; readonly pool: string; readonly via?: string }
  | { readonly kind: 'label'; readonly label: string }
  | { readonly kind: 'remote'; readonly host: string; readonly repository: string }

/** From config: where the target is (`site:`) and what it is (`media:`, which may only refine the probe). */
export interface StorageHints {
  readonly site?: string
  readonly media?: MediaType
  /**
   * The filesystem that belongs at a path (a removable disk's UUID, btrfs targets' `fsUuid:`). Another filesystem
   * there means the disk is detached; without it, whatever holds the path is what the copies are on.
   */
  readonly fsUuid?: string
}

export interface ProbedStorage {
  readonly storage: StorageIdentity
  readonly warnings: readonly string[]
}

const opts = { timeoutMs: 30_000 }
const maxDepth = 4
const networkFs = /^(nfs4?|cifs|smb3|fuse\.sshfs|9p|ceph|glusterfs)$/

/**
 * Finds the physical media beneath a storage location, through the Exec seam. One prober lives for one job run:
 * every command's answer is cached, so ten copies on one pool cost one `zpool status`. A loop device or a
 * file vdev is named after the filesystem holding its file (`loop:<maj:min>:<file>`, `file:<maj:min>:<file>`) and
 * that filesystem's devices are listed too, so two pools on files on one disk share that disk.
 */
export class StorageProber {
  private readonly cache = new Map<string, Promise<unknown>>()

  constructor(
    private readonly exec: Exec,
    private readonly host: string,
    private readonly defaultSite: string,
  ) {}

  async probe(at: StorageLocator, hints: StorageHints = {}): Promise<ProbedStorage> {
    if (at.kind === 'remote') {
      return this.remote(at, hints)
    }
    const where = at.kind === 'path' ? at.path : at.kind === 'zfs-pool' ? `pool ${at.pool}` : `label ${at.label}`
    const { site, warnings } = this.siteOf(where, at.kind !== 'label' ? at.via : undefined, hints)
    const found = await this.locate(at, hints.fsUuid)
    const devices = dedupe(found.devices)
    const loopBacked = devices.some((d) => d.transport === 'loop')
    const refined = refineMedia(detectMedia(devices, loopBacked), hints.media)
    const removable = refined.media === 'usb' || devices.some((d) => d.removable === true || d.transport === 'usb')
    const storage: StorageIdentity = {
      host: this.host,
      site,
      devices,
      ...(found.fsUuid ? { fsUuid: found.fsUuid } : {}),
      media: refined.media,
      ...(removable ? { attached: found.attached } : {}),
    }
    return {
      storage,
      warnings: [...warnings, ...(refined.contradiction ? [`${where}: ${refined.contradiction}`] : [])],
    }
  }

  /** Config's `site:`, except for storage reached at this machine's own address: that is at this node's site. */
  private siteOf(where: string, self: string | undefined, hints: StorageHints): { site: string; warnings: string[] } {
    if (self === undefined) {
      return { site: hints.site ?? this.defaultSite, warnings: [] }
    }
    const claimed = hints.site !== undefined && hints.site !== this.defaultSite
    const warning = `${where}: served from this host (${self}): its site is this node's (${this.defaultSite}), not `
    return { site: this.defaultSite, warnings: claimed ? [`${warning}${hints.site}`] : [] }
  }

  /**
   * A store the agent sees no devices of: its repository on its host. Served from this machine (a loopback address
   * or this node's name), it is this host's storage at this node's site, whatever config calls its site.
   */
  private remote(at: Extract<StorageLocator, { kind: 'remote' }>, hints: StorageHints): ProbedStorage {
    const media = hints.media ?? 'nas'
    const self = isLoopbackHost(at.host) || at.host.toLowerCase() === this.host.toLowerCase()
    const { site, warnings } = this.siteOf(at.repository, self ? at.host : undefined, hints)
    const host = self ? this.host : at.host
    return { storage: { host, site, devices: [], repository: at.repository, media }, warnings }
  }

  private async locate(at: StorageLocator, expectedFs: string | undefined): Promise<Found> {
    if (at.kind === 'zfs-pool') {
      return { devices: await this.poolDevices(at.pool, 0), fsUuid: await this.poolGuid(at.pool), attached: true }
    }
    if (at.kind === 'label') {
      const dev = (await findByLabel(this.exec, at.label))[0]
      if (!dev) {
        return { devices: [], attached: false }
      }
      return { devices: await this.blockDevices(dev.devname, 0), attached: true, fsUuid: dev.uuid ?? null }
    }
    if (at.kind === 'remote') {
      return { devices: [], attached: true }
    }
    const mount = await this.mountOf(at.path)
    if (expectedFs !== undefined && mount?.uuid !== expectedFs) {
      // Its mountpoint is an empty directory on another filesystem now: that filesystem is not the disk.
      return { devices: [], fsUuid: expectedFs, attached: false }
    }
    if (!mount) {
      return { devices: [], attached: false }
    }
    return { devices: await this.mountDevices(mount, 0), fsUuid: mount.uuid, attached: true }
  }

  private async mountDevices(m: MountOfPath, depth: number): Promise<StorageDevice[]> {
    if (depth > maxDepth) {
      return []
    }
    if (m.fstype === 'zfs' || m.fstype === 'fuse.zfs') {
      return this.poolDevices(m.source.split('/')[0] ?? m.source, depth)
    }
    if (m.fstype === 'btrfs') {
      const fs = await this.cached(`btrfs:${m.target}`, () => this.text(btrfsShowArgv(m.target)))
      const paths = parseBtrfsShow(fs)[0]?.devices ?? [m.source]
      return (await Promise.all(paths.map((p) => this.blockDevices(p, depth)))).flat()
    }
    if (m.source.startsWith('/dev/')) {
      return this.blockDevices(m.source, depth)
    }
    if (networkFs.test(m.fstype)) {
      return [{ id: `net:${m.source}`, transport: 'network' }]
    }
    // tmpfs, overlay, fuse: no block device; the filesystem itself is the failure domain on this host.
    return [{ id: `fs:${this.host}:${m.majMin}`, transport: 'unknown' }]
  }

  private async poolDevices(pool: string, depth: number): Promise<StorageDevice[]> {
    const caps = await this.cached('zpool:caps', async () => {
      const r = await this.exec.run(['zpool'], opts)
      return parseZpoolUsage(`${r.stdout}\n${r.stderr}`)
    })
    const status = await this.cached(`zpool:${pool}`, () => this.text(zpoolStatusArgv(caps, pool)))
    const leaves = parseZpoolVdevs(status).find((p) => p.pool === pool)?.leaves ?? []
    const out = await Promise.all(
      leaves.map((leaf) =>
        leaf.startsWith('/dev/') ? this.blockDevices(leaf, depth) : this.fileDevice('file', leaf, depth),
      ),
    )
    return out.flat()
  }

  private async poolGuid(pool: string): Promise<string | null> {
    return parsePoolGuid(await this.text(['zpool', 'list', '-H', '-o', 'name,guid', pool]))
  }

  /** A file standing in for a disk (file vdev, loop device): the file, and the devices of the fs holding it. */
  private async fileDevice(kind: 'file' | 'loop', file: string, depth: number): Promise<StorageDevice[]> {
    const holder = await this.mountOf(file)
    const self: StorageDevice = { id: `${kind}:${holder?.majMin ?? '?'}:${file}`, transport: 'loop' }
    return holder ? [self, ...(await this.mountDevices(holder, depth + 1))] : [self]
  }

  /** A block device resolved up to its whole disks (partition → disk, dm → its members, loop → its file). */
  private async blockDevices(path: string, depth: number): Promise<StorageDevice[]> {
    const all = await this.cached('lsblk', async () => parseLsblk((await this.text(lsblkStorageArgv())) || '{}'))
    const base = path.slice(path.lastIndexOf('/') + 1)
    const start = all.filter((d) => d.path === path || d.name === base || d.kname === base)
    const out: StorageDevice[] = []
    const seen = new Set<string>()
    const up = async (d: LsblkDevice): Promise<void> => {
      if (seen.has(`${d.name}<${d.pkname ?? ''}`)) {
        return
      }
      seen.add(`${d.name}<${d.pkname ?? ''}`)
      if (d.type === 'loop') {
        const loops = await this.cached('losetup', async () => parseLosetup(await this.text([...losetupArgv])))
        const file = loops.find((l) => l.name === d.path)?.backFile
        out.push(
          ...(file
            ? await this.fileDevice('loop', file, depth)
            : [{ id: `loop:?:${d.path}`, transport: 'loop' as const }]),
        )
      } else if (d.pkname) {
        for (const parent of all.filter((p) => p.name === d.pkname)) {
          await up(parent)
        }
      } else {
        out.push(diskDevice(d, this.host))
      }
    }
    for (const d of start) {
      await up(d)
    }
    return out
  }

  /** The mount holding `path`; for a path not created yet (findmnt -T fails), the one its parent is on. */
  private mountOf(path: string): Promise<MountOfPath | null> {
    return this.cached(`findmnt:${path}`, async () => {
      const out = await this.text(findmntTargetArgv(path))
      if (out) {
        return parseFindmntTarget(out)
      }
      const parent = path.slice(0, path.lastIndexOf('/')) || '/'
      return parent !== path && path.startsWith('/') ? this.mountOf(parent) : null
    })
  }

  private async text(argv: readonly string[]): Promise<string> {
    const r = await this.exec.run(argv, opts)
    return succeeded(r) ? r.stdout : ''
  }

  private cached<T>(key: string, make: () => Promise<T>): Promise<T> {
    let p = this.cache.get(key) as Promise<T> | undefined
    if (!p) {
      p = make()
      this.cache.set(key, p)
    }
    return p
  }
}

interface Found {
  readonly devices: StorageDevice[]
  readonly fsUuid?: string | null
  /** Reported for removable media only: the disk (its label or expected fs UUID) is on this node right now. */
  readonly attached: boolean
}

/** A whole disk: its WWN, else serial, else (no identity in hardware, e.g. virtio) its kernel name on this host. */
function diskDevice(d: LsblkDevice, host: string): StorageDevice {
  const id = d.wwn ? `wwn:${d.wwn}` : d.serial ? `serial:${d.serial}` : `dev:${host}:${d.kname ?? d.name}`
  const transport = transportOf(d.tran, d.kname ?? d.name)
  return {
    id,
    transport,
    ...(d.rotational !== undefined && d.rotational !== null ? { rotational: d.rotational } : {}),
    removable: d.removable || transport === 'usb',
    ...(d.model ? { model: d.model.slice(0, 256) } : {}),
  }
}

function dedupe(devices: readonly StorageDevice[]): StorageDevice[] {
  const byId = new Map<string, StorageDevice>()
  for (const d of devices) {
    byId.set(d.id, byId.get(d.id) ?? d)
  }
  return [...byId.values()]
}
