import type { FsUsage } from '@backstop/shared'
import { diskSerialsOf, type LsblkDevice } from '../tools/lsblk.ts'

/** One row of systeminformation `fsSize()` (it parses `df -lkPTx squashfs`; see lib/filesystem.js). */
export interface SiFsSize {
  readonly fs: string
  readonly type: string
  readonly size: number
  readonly used: number
  readonly mount: string
}

/** Pseudo and overlay filesystems never hold backups; reporting them is noise. */
const ignoredTypes = new Set([
  'tmpfs',
  'devtmpfs',
  'overlay',
  'squashfs',
  'proc',
  'sysfs',
  'cgroup',
  'cgroup2',
  'efivarfs',
  'ramfs',
  'nsfs',
  'fuse.lxcfs',
  'fuse.gvfsd-fuse',
  'fuse.portal',
])

/** The mount holding `path`: the longest mount point that is a path prefix of it. */
export function mountOf(path: string, mounts: readonly string[]): string | undefined {
  let best: string | undefined
  for (const m of mounts) {
    const prefix = m.endsWith('/') ? m : `${m}/`
    if ((path === m || path.startsWith(prefix) || m === '/') && (best === undefined || m.length > best.length)) {
      best = m
    }
  }
  return best
}

/**
 * fsSize rows → `FsUsage`, with identity (UUID, label, disk serials) from lsblk so a copy's
 * `location.device.fsUuid` can be matched to the disks under it. Mounts that contain a backup target
 * (a job's destination directory, dumpdir, pool mountpoint) are flagged for fill forecasts.
 */
export function toFsUsage(
  rows: readonly SiFsSize[],
  devices: readonly LsblkDevice[],
  backupTargets: readonly string[],
): FsUsage[] {
  const kept = rows.filter((r) => !ignoredTypes.has(r.type) && r.size > 0)
  const targetMounts = new Set(
    backupTargets
      .map((t) =>
        mountOf(
          t,
          kept.map((r) => r.mount),
        ),
      )
      .filter((m): m is string => m !== undefined),
  )
  const byPath = new Map(devices.map((d) => [d.path, d]))
  const byMount = new Map(devices.filter((d) => d.mountpoint).map((d) => [d.mountpoint as string, d]))
  return kept.map((r) => {
    const out: FsUsage = {
      mount: r.mount,
      fs: r.fs,
      type: r.type,
      sizeBytes: Math.round(r.size),
      usedBytes: Math.round(r.used),
      backupTarget: targetMounts.has(r.mount),
    }
    const dev = byPath.get(r.fs) ?? byMount.get(r.mount)
    if (dev) {
      if (dev.uuid) {
        out.fsUuid = dev.uuid
      }
      if (dev.label) {
        out.label = dev.label
      }
      const serials = diskSerialsOf(devices, dev.name)
      if (serials.length > 0) {
        out.diskSerials = serials
      }
    }
    return out
  })
}
