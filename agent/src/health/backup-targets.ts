import type { ResolvedJob } from '../jobs/kinds.ts'
import { type SiFsSize } from './filesystems.ts'

/**
 * Where the configured jobs write, for fill forecasts: a directory, or a ZFS dataset whose mountpoint is looked
 * up in the same `fsSize()` rows the report uses (df lists a ZFS filesystem under its dataset name).
 */
export type BackupTarget = { readonly path: string } | { readonly zfs: string }

/**
 * Archive destinations, vzdump dumpdirs (or a storage's path when given), btrfs snapshot directories and
 * send targets, the pools of ZFS source and target datasets. REAR sticks are left out: they are mounted only
 * while a run writes to them, so there is no fill level to sample between runs.
 */
export function backupTargetsOfJobs(jobs: readonly ResolvedJob[]): BackupTarget[] {
  const out: BackupTarget[] = []
  for (const job of jobs) {
    switch (job.kind) {
      case 'archive':
        out.push({ path: job.destination })
        break
      case 'vzdump':
        if ('dumpdir' in job.target) {
          out.push({ path: job.target.dumpdir })
        } else if (job.target.path !== null) {
          out.push({ path: job.target.path })
        }
        break
      case 'btrfs':
        out.push({ path: job.snapshotDir }, ...job.targets.map((t) => ({ path: t.path })))
        break
      case 'zfs':
        out.push(
          ...[...job.datasets.map((d) => d.name), ...job.targets.map((t) => t.dataset)].map((d) => ({
            zfs: poolOf(d),
          })),
        )
        break
      case 'rear':
        break
    }
  }
  const seen = new Set<string>()
  return out.filter((t) => {
    const key = 'path' in t ? `p:${t.path}` : `z:${t.zfs}`
    return seen.has(key) ? false : (seen.add(key), true)
  })
}

/** `tank/backup/vm` → `tank`. A pool's fill is what runs out, whichever dataset the job names. */
export function poolOf(dataset: string): string {
  return dataset.split('/')[0] ?? dataset
}

/**
 * Targets → directories. A ZFS pool maps to the mount of its root dataset; when that is not mounted (canmount=off,
 * mountpoint=none), to the mount of its first mounted child — same pool, same free space.
 */
export function targetPaths(targets: readonly BackupTarget[], rows: readonly SiFsSize[]): string[] {
  const paths: string[] = []
  for (const t of targets) {
    if ('path' in t) {
      paths.push(t.path)
      continue
    }
    const row = rows.find((r) => r.fs === t.zfs) ?? rows.find((r) => r.fs.startsWith(`${t.zfs}/`))
    if (row) {
      paths.push(row.mount)
    }
  }
  return [...new Set(paths)]
}
