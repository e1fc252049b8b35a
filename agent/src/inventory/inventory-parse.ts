import type { InventoryBody } from '@backstop/shared'
import type { MountInfo } from '../tools/btrfs-parse.ts'
import type { BlkidDevice } from '../tools/blkid.ts'
import type { LsblkDevice } from '../tools/lsblk.ts'

type Mount = NonNullable<InventoryBody['mounts']>[number]
type BlockDevice = NonNullable<InventoryBody['blockDevices']>[number]

/**
 * Kernel and runtime filesystems say nothing about what needs a backup: only mounts of a device, a dataset or a
 * network share are listed (the rest changes on every container start and would defeat the change hash).
 */
const PSEUDO_FS = new Set([
  'proc',
  'sysfs',
  'devtmpfs',
  'devpts',
  'tmpfs',
  'cgroup',
  'cgroup2',
  'securityfs',
  'pstore',
  'bpf',
  'debugfs',
  'tracefs',
  'configfs',
  'fusectl',
  'mqueue',
  'hugetlbfs',
  'autofs',
  'binfmt_misc',
  'efivarfs',
  'rpc_pipefs',
  'nsfs',
  'overlay',
  'squashfs',
  'ramfs',
])

/** `zfs list -H -o name -t filesystem,volume`: one dataset per line. */
export function parseZfsNames(stdout: string): string[] {
  return stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
}

/** The mounts worth showing beside the assets, sorted by target so the hash does not depend on mount order. */
export function inventoryMounts(mounts: readonly MountInfo[]): Mount[] {
  const seen = new Set<string>()
  return mounts
    .filter((m) => !PSEUDO_FS.has(m.fstype) && !m.target.startsWith('/proc/') && !m.target.startsWith('/sys/'))
    .map((m) => ({ target: m.target, source: m.source, fstype: m.fstype }))
    .filter((m) => !seen.has(m.target) && seen.add(m.target))
    .sort((a, b) => a.target.localeCompare(b.target))
}

/**
 * Disks, partitions, RAID and LVM volumes from lsblk; loop devices without a filesystem are image files. A
 * filesystem's type and UUID come from lsblk, else from blkid's probe of that device (hosts without udev).
 */
export function inventoryBlockDevices(
  devices: readonly LsblkDevice[],
  probed: readonly BlkidDevice[] = [],
): BlockDevice[] {
  const byPath = new Map(probed.map((b) => [b.devname, b]))
  return devices
    .map((d) => {
      const b = byPath.get(d.path)
      return { ...d, fstype: d.fstype ?? b?.type ?? null, uuid: d.uuid ?? b?.uuid ?? null }
    })
    .filter((d) => d.type !== 'rom' && !(d.type === 'loop' && d.fstype === null && d.mountpoint === null))
    .map((d) => ({
      name: d.name,
      type: d.type,
      size: Math.max(0, Math.trunc(d.size)),
      removable: d.removable,
      ...(d.model ? { model: d.model } : {}),
      ...(d.serial ? { serial: d.serial } : {}),
      ...(d.tran ? { tran: d.tran } : {}),
      ...(d.fstype ? { fstype: d.fstype } : {}),
      ...(d.uuid ? { uuid: d.uuid } : {}),
      ...(d.mountpoint ? { mountpoint: d.mountpoint } : {}),
    }))
    .sort((a, b) => a.name.localeCompare(b.name))
}
