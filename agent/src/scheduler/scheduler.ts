import { missedSlot, nextRunAfter, type Schedule, type Trigger } from '@backstop/shared'
import type { Clock } from '../clock.ts'
import type { Log } from '../log.ts'
import type { JobStateStore } from './job-state.ts'

export interface ScheduledJob {
  readonly name: string
  /** null: run only on demand (`once`, commands, hooks); never scheduled. */
  readonly schedule: Schedule | null
  readonly catchUp: boolean
  /**
   * Agent housekeeping on the same timer (e.g. draining the vzdump hook spool): no state on disk, no catch-up,
   * not listed in status() (heartbeats list only configured jobs).
   */
  readonly internal?: boolean
}

export interface RunRequest {
  readonly job: string
  readonly trigger: Trigger
  /** The slot this run serves (for catch-up: the slot that was missed); null for on-demand runs. */
  readonly scheduledFor: Date | null
}

export interface SchedulerDeps {
  readonly clock: Clock
  readonly log: Log
  readonly state: JobStateStore
  /** Runs one job to completion (run-job.ts). Its promise settling is what frees the job for its next slot. */
  readonly run: (req: RunRequest) => Promise<unknown>
}

export interface JobScheduleStatus {
  readonly job: string
  readonly nextRunAt: string | null
  readonly running: boolean
  /** Slots skipped because the previous run was still going (zrepl cron.go's wakeupWhileRunningCount). */
  readonly skippedOverlaps: number
}

interface Entry {
  readonly job: ScheduledJob
  next: Date | null
  running: Promise<unknown> | null
  skippedOverlaps: number
}

/**
 * The agent's only timer. One loop sleeps (through the injected Clock) until the earliest next slot of any job,
 * starts what is due, and sleeps again. A job never overlaps itself: a slot that comes while the previous run
 * is still going is skipped and counted. On start, a job whose newest slot passed while the agent was down runs
 * once with trigger `catch-up` (once, however many slots were missed).
 */
export class Scheduler {
  private readonly entries = new Map<string, Entry>()
  private readonly deps: SchedulerDeps
  private abort: AbortController | null = null
  private loop: Promise<void> | null = null

  constructor(jobs: readonly ScheduledJob[], deps: SchedulerDeps) {
    this.deps = deps
    for (const job of jobs) {
      this.entries.set(job.name, { job, next: null, running: null, skippedOverlaps: 0 })
    }
  }

  start(): void {
    if (this.loop) {
      return
    }
    const now = this.deps.clock.now()
    for (const e of this.entries.values()) {
      if (e.job.schedule === null) {
        continue
      }
      if (!e.job.internal) {
        this.catchUp(e, now)
      }
      e.next = nextRunAfter(e.job.schedule, now)
    }
    this.abort = new AbortController()
    this.loop = this.tick(this.abort.signal)
  }

  /** Stops the timer loop. Runs in flight keep going; await `idle()` (after aborting them) to wait for them. */
  async stop(): Promise<void> {
    this.abort?.abort(new Error('scheduler stopped'))
    await this.loop
    this.loop = null
  }

  /** Resolves when no run started by this scheduler is in flight. */
  async idle(): Promise<void> {
    await Promise.all([...this.entries.values()].map((e) => e.running))
  }

  /**
   * Runs a job now (a command or hook). Returns null without running when the job is already running: the
   * same no-overlap rule as scheduled slots, counted the same way.
   */
  runNow(job: string, trigger: Trigger): Promise<unknown> | null {
    const e = this.entries.get(job)
    if (!e) {
      return null
    }
    return this.fire(e, null, trigger)
  }

  /**
   * Runs `task` in the job's slot (commands reverify-copy / restore-test): null without running when the job is
   * running, and while `task` runs the job's own slots are skipped and counted like any overlap.
   */
  runExclusive<T>(job: string, task: () => Promise<T>): Promise<T> | null {
    const e = this.entries.get(job)
    if (!e || e.running !== null) {
      return null
    }
    const p = Promise.resolve().then(task)
    e.running = p
      .finally(() => {
        e.running = null
      })
      .catch(() => {
        /* the caller gets the error from `p` */
      })
    return p
  }

  status(): JobScheduleStatus[] {
    return [...this.entries.values()]
      .filter((e) => !e.job.internal)
      .map((e) => ({
        job: e.job.name,
        nextRunAt: e.next?.toISOString() ?? null,
        running: e.running !== null,
        skippedOverlaps: e.skippedOverlaps,
      }))
  }

  private catchUp(e: Entry, now: Date): void {
    const schedule = e.job.schedule
    if (schedule === null) {
      return
    }
    const last = this.deps.state.read(e.job.name).lastSlotAt
    if (last === undefined) {
      // First time this job is seen: nothing was missed yet, but a slot missed from now on must be noticed.
      this.saveSlot(e.job.name, now)
      return
    }
    const missed = missedSlot(schedule, new Date(last), now)
    if (missed === null) {
      return
    }
    if (!e.job.catchUp) {
      this.deps.log.info(
        { job: e.job.name, missed: missed.toISOString() },
        'slot missed while the agent was down; catchUp is off',
      )
      this.saveSlot(e.job.name, missed)
      return
    }
    this.deps.log.info(
      { job: e.job.name, missed: missed.toISOString() },
      'catching up a slot missed while the agent was down',
    )
    this.fire(e, missed, 'catch-up')
  }

  private async tick(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const now = this.deps.clock.now()
      for (const e of this.entries.values()) {
        if (e.next !== null && e.job.schedule !== null && e.next <= now) {
          this.fire(e, e.next, 'schedule')
          // From `now`, not from the slot: after a stall (suspend, long GC) the slots in between are not replayed.
          e.next = nextRunAfter(e.job.schedule, now)
        }
      }
      const wake = this.earliest()
      try {
        if (wake === null) {
          await new Promise<void>((_resolve, reject) =>
            signal.addEventListener('abort', () => reject(signal.reason), { once: true }),
          )
        } else {
          await this.deps.clock.sleepUntil(wake, signal)
        }
      } catch {
        return
      }
    }
  }

  private earliest(): Date | null {
    let min: Date | null = null
    for (const e of this.entries.values()) {
      if (e.next !== null && (min === null || e.next < min)) {
        min = e.next
      }
    }
    return min
  }

  private fire(e: Entry, slot: Date | null, trigger: Trigger): Promise<unknown> | null {
    const name = e.job.name
    const before = e.job.internal ? undefined : this.deps.state.read(name).lastSlotAt
    if (slot !== null && !e.job.internal) {
      this.saveSlot(name, slot)
    }
    if (e.running !== null) {
      e.skippedOverlaps++
      this.deps.log.warn(
        { job: name, slot: slot?.toISOString(), trigger, skippedOverlaps: e.skippedOverlaps },
        'previous run still going; skipping this one',
      )
      return null
    }
    this.deps.log.info({ job: name, trigger, slot: slot?.toISOString() }, 'starting job')
    const p = Promise.resolve()
      .then(() => this.deps.run({ job: name, trigger, scheduledFor: slot }))
      .then((result) => {
        // A run cut short by shutdown did not serve its slot: un-record it so the next start catches it up.
        if (slot !== null && before !== undefined && errorCode(result) === 'BK_ERR_JOB_ABORTED') {
          this.deps.log.info(
            { job: name, slot: slot.toISOString() },
            'run was aborted by shutdown; it is caught up at the next start',
          )
          this.saveSlot(name, new Date(before))
        }
      })
      .catch((err: unknown) => {
        this.deps.log.error({ job: name, err }, 'job run threw past run-job; this is a bug')
      })
      .finally(() => {
        e.running = null
      })
    e.running = p
    return p
  }

  private saveSlot(job: string, slot: Date): void {
    try {
      this.deps.state.update(job, { lastSlotAt: slot.toISOString() })
    } catch (err) {
      this.deps.log.error(
        { job, err },
        'could not persist the last schedule slot; a restart may catch this slot up again',
      )
    }
  }
}

/** The coded error of a run result (run-job's JobFinishedBody), if any. */
function errorCode(result: unknown): string | undefined {
  const error = (result as { error?: { code?: unknown } } | null | undefined)?.error
  return typeof error?.code === 'string' ? error.code : undefined
}
