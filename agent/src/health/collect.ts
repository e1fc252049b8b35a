import type { DiskHealth, DiskHealthBody, PoolHealth } from '@backstop/shared'
import type { Exec } from '../exec/exec.ts'
import type { Log } from '../log.ts'
import { listBlockDevices } from '../tools/lsblk.ts'
import { diskFromLayout, type SiDiskLayout } from './fallback.ts'
import { type SiFsSize, toFsUsage } from './filesystems.ts'
import { scanSmart, type SmartScanOptions } from './smart-scan.ts'

/** The two systeminformation calls used, as a seam (tests pass recorded values; main passes the library). */
export interface SystemInfo {
  diskLayout(): Promise<SiDiskLayout[]>
  fsSize(): Promise<SiFsSize[]>
}

export interface DiskHealthDeps {
  readonly exec: Exec
  readonly si: SystemInfo
  readonly log: Log
  /** zpool/btrfs device health from the snapshot jobs' health checks; none when the node has no pools. */
  readonly pools?: () => Promise<PoolHealth[]>
}

export interface DiskHealthOptions extends SmartScanOptions {
  /** Directories backups are written to (job destinations, vzdump dumpdirs, REAR mount): fill forecasts. */
  readonly backupTargets: readonly string[]
}

/**
 * One `disk.health` body: SMART per disk (smartctl, else systeminformation), capacity per mounted filesystem,
 * pool states. Never throws for a missing tool — what could not be read is said in `notes`, because a
 * report that says "no SMART here" is more useful to the collector than no report.
 */
export async function collectDiskHealth(
  deps: DiskHealthDeps,
  opts: DiskHealthOptions,
  now: Date,
): Promise<DiskHealthBody> {
  const notes: string[] = []
  let disks: DiskHealth[] = []
  const smart = await scanSmart(deps.exec, opts).catch((e: unknown) => {
    notes.push(`smartctl failed: ${(e as Error).message}`.slice(0, 256))
    return { disks: [], notes: [], available: false }
  })
  notes.push(...smart.notes)
  disks = smart.disks
  if (!smart.available || disks.length === 0) {
    const layout = await deps.si.diskLayout().catch((e: unknown) => {
      notes.push(`systeminformation diskLayout failed: ${(e as Error).message}`.slice(0, 256))
      return []
    })
    const seen = new Set(disks.map((d) => d.name))
    disks.push(...layout.map(diskFromLayout).filter((d) => !seen.has(d.name)))
  }
  const [rows, devices, pools] = await Promise.all([
    deps.si.fsSize().catch((e: unknown) => {
      notes.push(`systeminformation fsSize failed: ${(e as Error).message}`.slice(0, 256))
      return []
    }),
    listBlockDevices(deps.exec).catch(() => []),
    deps.pools
      ? deps.pools().catch((e: unknown) => {
          notes.push(`pool health failed: ${(e as Error).message}`.slice(0, 256))
          return []
        })
      : Promise.resolve([]),
  ])
  deps.log.debug({ disks: disks.length, filesystems: rows.length, pools: pools.length }, 'disk health collected')
  return {
    at: now.toISOString(),
    disks: disks.slice(0, 256),
    filesystems: toFsUsage(rows, devices, opts.backupTargets).slice(0, 1024),
    pools: pools.slice(0, 256),
    notes: notes.map((n) => n.slice(0, 256)).slice(0, 32),
  }
}
