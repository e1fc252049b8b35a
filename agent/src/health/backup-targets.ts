import type { BackupTarget } from '../jobs/backup-target.ts'
import { targetsOf } from '../jobs/build-jobs.ts'
import type { ResolvedJob } from '../jobs/kinds.ts'
import { type SiFsSize } from './filesystems.ts'

/**
 * Where the configured jobs write, each kind's line of the kind table deciding (jobs/kinds.ts `targets`): archive
 * destinations, vzdump dumpdirs, btrfs snapshot directories and send targets, the pools of ZFS datasets. Duplicates
 * are dropped.
 */
export function backupTargetsOfJobs(jobs: readonly ResolvedJob[]): BackupTarget[] {
  const seen = new Set<string>()
  return jobs
    .flatMap((job) => targetsOf(job))
    .filter((t) => {
      const key = 'path' in t ? `p:${t.path}` : `z:${t.zfs}`
      return seen.has(key) ? false : (seen.add(key), true)
    })
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
