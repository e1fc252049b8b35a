import type { Exec } from '../exec/exec.ts'

/**
 * `lsblk -J -b -o …` (util-linux ≥ 2.33 JSON; `-b` sizes in bytes). Fields come from the udev database; on a
 * host without udev, FSTYPE/UUID/LABEL are null and callers fall back to blkid probing.
 */
export const LSBLK_COLUMNS = [
  'NAME',
  'PATH',
  'TYPE',
  'FSTYPE',
  'UUID',
  'LABEL',
  'SERIAL',
  'MODEL',
  'MOUNTPOINT',
  'PKNAME',
  'SIZE',
  'TRAN',
  'RM',
] as const

export interface LsblkDevice {
  readonly name: string
  readonly path: string
  readonly type: string
  readonly fstype: string | null
  readonly uuid: string | null
  readonly label: string | null
  readonly serial: string | null
  readonly model: string | null
  readonly mountpoint: string | null
  /** Parent kernel name (`sda` for `sda1`). */
  readonly pkname: string | null
  readonly size: number
  /** `usb`, `sata`, `nvme` … */
  readonly tran: string | null
  readonly removable: boolean
  /** Kernel name (`sda1`, `dm-0`); present with the storage columns. */
  readonly kname?: string
  /** World Wide Name of the disk (`0x5000c500a1b2c3d4`): the most stable identity, when the device has one. */
  readonly wwn?: string | null
  /** ROTA: spinning media. Loop devices report true (the kernel default), so loops are judged by their file. */
  readonly rotational?: boolean | null
}

export function lsblkArgv(): string[] {
  return ['lsblk', '-J', '-b', '-o', LSBLK_COLUMNS.join(',')]
}

/** The columns the storage prober needs to name a physical medium (agent/src/storage/probe.ts). */
export const LSBLK_STORAGE_COLUMNS = [
  'NAME',
  'PATH',
  'KNAME',
  'PKNAME',
  'SERIAL',
  'WWN',
  'ROTA',
  'RM',
  'TRAN',
  'TYPE',
  'MODEL',
  'FSTYPE',
  'UUID',
  'MOUNTPOINT',
] as const

export function lsblkStorageArgv(): string[] {
  return ['lsblk', '-J', '-b', '-o', LSBLK_STORAGE_COLUMNS.join(',')]
}

/** Flattens the tree (`children`) into a list; parents come before their children. */
export function parseLsblk(json: string): LsblkDevice[] {
  const doc = JSON.parse(json) as { blockdevices?: unknown[] }
  const out: LsblkDevice[] = []
  const walk = (nodes: unknown[], parent: string | null): void => {
    for (const n of nodes) {
      const o = n as Record<string, unknown>
      const name = String(o['name'] ?? '')
      out.push({
        name,
        path: s(o['path']) ?? `/dev/${name}`,
        type: s(o['type']) ?? 'unknown',
        fstype: s(o['fstype']),
        uuid: s(o['uuid']),
        label: s(o['label']),
        serial: s(o['serial']),
        model: s(o['model']),
        mountpoint: s(o['mountpoint']),
        pkname: s(o['pkname']) ?? parent,
        size: typeof o['size'] === 'number' ? o['size'] : Number(o['size'] ?? 0),
        tran: s(o['tran']),
        removable: flag(o['rm']) ?? false,
        ...('kname' in o ? { kname: s(o['kname']) ?? name } : {}),
        ...('wwn' in o ? { wwn: s(o['wwn']) } : {}),
        ...('rota' in o ? { rotational: flag(o['rota']) } : {}),
      })
      if (Array.isArray(o['children'])) {
        walk(o['children'], name)
      }
    }
  }
  walk(doc.blockdevices ?? [], null)
  return out
}

/** util-linux < 2.37 prints flags (RM, ROTA) as "0"/"1", later versions as JSON booleans. */
function flag(v: unknown): boolean | null {
  if (v === true || v === '1' || v === 1) {
    return true
  }
  return v === false || v === '0' || v === 0 ? false : null
}

function s(v: unknown): string | null {
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : null
}

/** Serials of the whole disks under a device, following PKNAME up the tree (partition → disk, dm → parts). */
export function diskSerialsOf(devices: readonly LsblkDevice[], name: string): string[] {
  const byName = new Map(devices.map((d) => [d.name, d]))
  const seen = new Set<string>()
  const out = new Set<string>()
  const up = (n: string): void => {
    if (seen.has(n)) {
      return
    }
    seen.add(n)
    const d = byName.get(n)
    if (!d) {
      return
    }
    if (d.serial && d.type === 'disk') {
      out.add(d.serial)
    }
    if (d.pkname) {
      up(d.pkname)
    }
  }
  up(name)
  return [...out]
}

export async function listBlockDevices(exec: Exec): Promise<LsblkDevice[]> {
  const r = await exec.run(lsblkArgv(), { timeoutMs: 30_000 })
  return r.exitCode === 0 ? parseLsblk(r.stdout) : []
}

/**
 * What a copy's `location.device` says about where a path lives: fs UUID/label, and the disk serial when it is one
 * disk.
 */
export interface PathIdentity {
  readonly fsUuid?: string
  readonly label?: string
  readonly serial?: string
}

/**
 * The filesystem holding `path` (`findmnt -n -o SOURCE -T <path>`, util-linux) and its identity from lsblk.
 * Null for sources that are not block devices (zfs datasets, NFS, tmpfs) or when nothing is known — then the
 * copy simply carries no device and is never excluded for device health.
 */
export async function identityOfPath(exec: Exec, path: string): Promise<PathIdentity | null> {
  const r = await exec.run(['findmnt', '-n', '-o', 'SOURCE', '-T', path], { timeoutMs: 30_000 })
  if (r.exitCode !== 0) {
    return null
  }
  // btrfs subvolume mounts print `/dev/sda2[/@home]`.
  const source = r.stdout.trim().replace(/\[.*\]$/, '')
  if (!source.startsWith('/dev/')) {
    return null
  }
  const devices = await listBlockDevices(exec)
  const dev = devices.find((d) => d.path === source)
  if (!dev) {
    return null
  }
  const serials = diskSerialsOf(devices, dev.name)
  const id: { -readonly [K in keyof PathIdentity]: PathIdentity[K] } = {}
  if (dev.uuid) {
    id.fsUuid = dev.uuid
  }
  if (dev.label) {
    id.label = dev.label
  }
  if (serials.length === 1) {
    id.serial = serials[0]!
  }
  return Object.keys(id).length > 0 ? id : null
}
