import type { Location } from '../schemas/copy.ts'
import type { DiskHealth, DiskHealthBody } from '../schemas/disk-health.ts'
import { type DiskBaseline, diskKey, preExistingDamage } from './baseline.ts'
import { grownCounters } from './rules.ts'

/**
 * "A copy stored on a failing device stops counting." The compliance verdict asks `DeviceHealthLookup(key)`
 * for a copy's `deviceKey`; this file defines that key from a copy's `location.device` and builds the
 * key → health map from the latest `disk.health` report, so both sides use the same identity:
 *   `serial:<disk serial>`  a whole disk (USB sticks, NAS disks, local disks)
 *   `fsuuid:<uuid>`         a filesystem; its health is the worst of the disks under it (FsUsage.diskSerials)
 */
/** Same values as compliance `DeviceHealth` (kept structural so neither module depends on the other). */
export type DiskDeviceHealth = 'ok' | 'degraded' | 'failed' | 'unknown'

export function deviceKeyOfLocation(loc: Location): string | undefined {
  const d = loc.device
  if (d?.serial) {
    return `serial:${d.serial}`
  }
  if (d?.fsUuid) {
    return `fsuuid:${d.fsUuid.toLowerCase()}`
  }
  return undefined
}

/** Media counters growing or found on first sight make a disk `degraded` until the operator acknowledges. */
const mediaCounters = new Set([
  'reallocatedSectors',
  'pendingSectors',
  'offlineUncorrectable',
  'reportedUncorrect',
  'mediaErrors',
  'grownDefects',
  'uncorrectedErrors',
])

export function classifyDisk(d: DiskHealth, baseline: DiskBaseline | undefined): DiskDeviceHealth {
  if (d.smart === 'failed' || d.failingAttributes.length > 0) {
    return 'failed'
  }
  // Bits 2 (reliability degraded) and 3 (read-only) mean the data is at risk; spare-below-threshold too.
  if (d.nvme && (d.nvme.criticalWarning & 0b1101) !== 0) {
    return 'failed'
  }
  // Damage seen on first sight keeps the disk degraded until the operator acknowledges it as the baseline.
  if (
    grownCounters(d, baseline).some((g) => mediaCounters.has(g.counter)) ||
    preExistingDamage(d, baseline).length > 0
  ) {
    return 'degraded'
  }
  if (d.nvme && d.nvme.availableSpareThreshold > 0 && d.nvme.availableSpare <= d.nvme.availableSpareThreshold) {
    return 'degraded'
  }
  return d.smart === 'passed' ? 'ok' : 'unknown'
}

const rank: Record<DiskDeviceHealth, number> = { unknown: 0, ok: 1, degraded: 2, failed: 3 }

function worst(a: DiskDeviceHealth, b: DiskDeviceHealth): DiskDeviceHealth {
  return rank[b] > rank[a] ? b : a
}

/**
 * key → health for every disk and filesystem in the report. Pass the result to the verdict as
 * `(key) => map.get(key) ?? 'unknown'`. Pools: a FAULTED/UNAVAIL/SUSPENDED pool marks the filesystems whose
 * `fs` is on that pool as failed, a DEGRADED one as degraded.
 */
export function deviceHealthMap(
  report: DiskHealthBody,
  baselines: ReadonlyMap<string, DiskBaseline>,
): Map<string, DiskDeviceHealth> {
  const out = new Map<string, DiskDeviceHealth>()
  for (const d of report.disks) {
    const key = diskKey(d)
    out.set(key, worst(out.get(key) ?? 'unknown', classifyDisk(d, baselines.get(key))))
  }
  const poolHealth = new Map<string, DiskDeviceHealth>()
  for (const p of report.pools) {
    const h: DiskDeviceHealth =
      p.state === 'ONLINE' ? 'ok' : p.state === 'DEGRADED' ? 'degraded' : p.state === 'UNKNOWN' ? 'unknown' : 'failed'
    poolHealth.set(p.name, h)
  }
  for (const fs of report.filesystems) {
    if (!fs.fsUuid) {
      continue
    }
    let h: DiskDeviceHealth = 'unknown'
    for (const serial of fs.diskSerials ?? []) {
      h = worst(h, out.get(`serial:${serial}`) ?? 'unknown')
    }
    const pool = poolHealth.get(fs.fs.split('/')[0] ?? '')
    if (pool !== undefined) {
      h = worst(h, pool)
    }
    out.set(`fsuuid:${fs.fsUuid.toLowerCase()}`, h)
  }
  return out
}
