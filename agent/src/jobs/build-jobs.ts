import { BackstopError } from '@backstop/shared'
import { createArchiveJob } from './archive/archive-job.ts'
import { BtrfsSnapshotJob } from './btrfs/btrfs-job.ts'
import type { Job } from './job.ts'
import type { ResolvedJob } from './kinds.ts'
import { createVzdumpJob } from './vzdump/vzdump-job.ts'
import { createRearJob } from './rear/rear-job.ts'
import { ZfsSnapshotJob } from './zfs/zfs-job.ts'

/**
 * The one factory from resolved config to Job (zrepl's build_jobs.go). A plain exhaustive switch: adding a kind
 * to `jobKinds` without a case here fails to compile at the `never` default.
 */
export function buildJob(cfg: ResolvedJob): Job {
  switch (cfg.kind) {
    case 'archive':
      return createArchiveJob(cfg)
    case 'zfs':
      return new ZfsSnapshotJob(cfg)
    case 'btrfs':
      return new BtrfsSnapshotJob(cfg)
    case 'vzdump':
      return createVzdumpJob(cfg)
    case 'rear':
      return createRearJob(cfg)
    default: {
      const unhandled: never = cfg
      throw new BackstopError(
        'BK_ERR_INTERNAL_ERROR',
        `implementation error: no factory for job kind "${(unhandled as { kind: string }).kind}" in jobs/build-jobs.ts`,
      )
    }
  }
}

export function buildJobs(jobs: readonly ResolvedJob[]): Job[] {
  return jobs.map(buildJob)
}
