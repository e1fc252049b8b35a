import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { mkdirDataSync, writeFileDurableSync } from '@backstop/node-io'
import type { RunStatus, Trigger } from '@backstop/shared'

/** The outcome of a job's last run, kept on disk for `status` and the heartbeat. */
export interface LastRun {
  readonly runId: string
  readonly trigger: Trigger
  readonly startedAt: string
  readonly finishedAt: string
  readonly status: RunStatus
  readonly error?: { readonly code: string; readonly message: string }
  readonly copies: number
  readonly deleted: number
  readonly bytes?: number
}

export interface JobState {
  /**
   * The newest schedule slot that was handled (run, skipped as an overlap, or the baseline written the first
   * time the job was seen). Catch-up looks for a slot after this one.
   */
  readonly lastSlotAt?: string
  readonly lastRun?: LastRun
}

/**
 * Per-job state in `<stateDir>/jobs/<name>.json`, one small file per job so a `once` run and the daemon never
 * rewrite each other's jobs. Writes are atomic (temp file, fsync, rename): after a power cut a job has either
 * its old or its new state, never a torn file.
 */
export class JobStateStore {
  private readonly dir: string

  constructor(stateDir: string) {
    this.dir = join(stateDir, 'jobs')
  }

  read(job: string): JobState {
    try {
      return JSON.parse(readFileSync(this.file(job), 'utf8')) as JobState
    } catch {
      return {}
    }
  }

  /** Every job with state on disk (also jobs since removed from the config). */
  all(): Record<string, JobState> {
    let names: string[]
    try {
      names = readdirSync(this.dir)
        .filter((n) => n.endsWith('.json'))
        .map((n) => n.slice(0, -5))
    } catch {
      return {}
    }
    return Object.fromEntries(names.map((n) => [n, this.read(n)]))
  }

  update(job: string, patch: Partial<JobState>): JobState {
    const next = { ...this.read(job), ...patch }
    mkdirDataSync(this.dir)
    writeFileDurableSync(this.file(job), `${JSON.stringify(next)}\n`)
    return next
  }

  private file(job: string): string {
    // Job names are [A-Za-z0-9][A-Za-z0-9_.-]* (shared JobName), so they are safe file names.
    return join(this.dir, `${job}.json`)
  }
}
