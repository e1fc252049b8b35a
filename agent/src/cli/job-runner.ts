import { BackstopError, type JobFinishedBody } from '@backstop/shared'
import type { Clock } from '../clock.ts'
import type { ResolvedAgentConfig } from '../config/schema.ts'
import type { Exec } from '../exec/exec.ts'
import type { Job } from '../jobs/job.ts'
import { runJob, type JobEventSink } from '../jobs/run-job.ts'
import { storageSpecOf } from '../jobs/job-storage.ts'
import type { Log } from '../log.ts'
import type { JobStateStore } from '../scheduler/job-state.ts'
import type { RunRequest } from '../scheduler/scheduler.ts'

export interface JobRunnerDeps {
  readonly config: ResolvedAgentConfig
  readonly jobs: readonly Job[]
  readonly exec: Exec
  readonly clock: Clock
  readonly log: Log
  readonly events: JobEventSink
  readonly state: JobStateStore
  /** Aborted on shutdown: running jobs stop and report BK_ERR_JOB_ABORTED. */
  readonly signal: AbortSignal
}

/** Binds runJob to this agent's jobs and config (timeouts per job); used by the scheduler and by `once`. */
export function jobRunner(d: JobRunnerDeps): (req: RunRequest) => Promise<JobFinishedBody> {
  const timeouts = new Map(d.config.jobs.map((j) => [j.name, j.timeoutMs]))
  const storage = new Map(d.config.jobs.map((j) => [j.name, storageSpecOf(j)]))
  return async (req) => {
    const job = d.jobs.find((j) => j.name === req.job)
    if (!job) {
      throw new BackstopError(
        'BK_ERR_JOB_UNKNOWN',
        `no job "${req.job}" in ${d.config.file}; jobs: ${d.jobs.map((j) => j.name).join(', ') || '(none)'}`,
      )
    }
    return runJob(
      {
        job,
        trigger: req.trigger,
        scheduledFor: req.scheduledFor,
        timeoutMs: timeouts.get(job.name) ?? 6 * 3600_000,
        signal: d.signal,
        ...(storage.has(job.name) ? { storage: storage.get(job.name)! } : {}),
      },
      {
        node: d.config.node,
        exec: d.exec,
        clock: d.clock,
        log: d.log,
        events: d.events,
        stateDir: d.config.stateDir,
        state: d.state,
        site: d.config.site ?? 'default',
      },
    )
  }
}

export function findJob(config: ResolvedAgentConfig, jobs: readonly Job[], name: string): Job {
  const job = jobs.find((j) => j.name === name)
  if (!job) {
    throw new BackstopError(
      'BK_ERR_JOB_UNKNOWN',
      `no job "${name}" in ${config.file}; jobs: ${jobs.map((j) => j.name).join(', ') || '(none)'}`,
    )
  }
  return job
}
