import type { BackupTarget } from './backup-target.ts'
import type { KindJob } from './job.ts'
import { kindOps, type JobKind, type KindOps, type ResolvedJob, type ResolvedOf } from './kinds.ts'

/**
 * The one factory from resolved config to Job (zrepl's build_jobs.go), derived from the kind table in kinds.ts:
 * a kind without a factory there does not compile, so there is no switch here to forget a case in.
 */
function opsOf<K extends JobKind>(cfg: ResolvedOf<K>): KindOps[K] {
  return kindOps[cfg.kind as K]
}

export function buildJob<K extends JobKind>(cfg: ResolvedOf<K>): KindJob {
  return opsOf<K>(cfg).create(cfg)
}

export function buildJobs(jobs: readonly ResolvedJob[]): KindJob[] {
  return jobs.map((j) => buildJob(j))
}

/** Where the job writes, for fill forecasts (health/backup-targets.ts). */
export function targetsOf<K extends JobKind>(cfg: ResolvedOf<K>): BackupTarget[] {
  return opsOf<K>(cfg).targets(cfg)
}
