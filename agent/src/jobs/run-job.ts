import { randomUUID } from 'node:crypto'
import { mkdirDataSync } from '@backstop/node-io'
import { join } from 'node:path'
import { Compile } from 'typebox/compile'
import { BackstopError, Copy, DeletedCopy, JobFinishedBody, type BodyOf, type Trigger } from '@backstop/shared'
import type { Clock } from '../clock.ts'
import type { Exec } from '../exec/exec.ts'
import type { Log } from '../log.ts'
import type { JobStateStore } from '../scheduler/job-state.ts'
import { reportDetachedMedia } from './detached-media.ts'
import { describeStorage, fitStorageToWire, type JobStorageSpec } from './job-storage.ts'
import { StorageProber } from '../storage/probe.ts'
import type { Job, JobContext, JobResult } from './job.ts'
import { tagCreatedByRun } from './created-by-run.ts'

/** Where run events go: the runtime's `emit` (signed, written to the durable outbox, then published). */
export type JobEventKind = 'job.started' | 'job.progress' | 'job.finished'

export interface JobEventSink {
  emit<K extends JobEventKind>(kind: K, body: BodyOf<K>): Promise<unknown>
}

export interface RunJobDeps {
  readonly node: string
  readonly exec: Exec
  readonly clock: Clock
  readonly log: Log
  readonly events: JobEventSink
  /** Root state directory; each job gets `<stateDir>/job-data/<name>` for its own state. */
  readonly stateDir: string
  /** Records the last result for `status` and the heartbeat. */
  readonly state?: JobStateStore
  /** Minimum time between job.progress events. Default 10 s. */
  readonly progressIntervalMs?: number
  /**
   * After a timeout or abort, how long a job may take to wind down before its finish is reported anyway. Default 30 s.
   */
  readonly abortGraceMs?: number
  /** The node's `site:` for probed storage identities. Default "default". */
  readonly site?: string
}

export interface RunJobRequest {
  readonly job: Job
  readonly trigger: Trigger
  readonly scheduledFor?: Date | null
  readonly timeoutMs: number
  /** Aborts the run (agent shutdown); reported as BK_ERR_JOB_ABORTED. */
  readonly signal?: AbortSignal
  /** Where the job writes per config (site, media): every copy then carries its probed storage identity. */
  readonly storage?: JobStorageSpec
}

const checkFinished = Compile(JobFinishedBody)
const checkCopy = Compile(Copy)
const checkDeleted = Compile(DeletedCopy)

/**
 * Runs one job once: job.started → (job.progress …) → job.finished. Whatever the job does — returns, throws,
 * hangs past its timeout, produces a report that does not match the wire schema — a job.finished is emitted,
 * with a coded error when it did not succeed. The finish event is what the collector judges; losing it would
 * turn a failure into silence.
 */
export async function runJob(req: RunJobRequest, deps: RunJobDeps): Promise<JobFinishedBody> {
  const { job, trigger } = req
  const { clock, events } = deps
  const runId = randomUUID()
  const log = deps.log.child({ job: job.name, runId })
  const startedAt = clock.now()
  await emitSafely(log, () =>
    events.emit('job.started', {
      runId,
      job: job.name,
      jobKind: job.kind,
      startedAt: startedAt.toISOString(),
      trigger,
      ...(req.scheduledFor ? { scheduledFor: req.scheduledFor.toISOString() } : {}),
    }),
  )

  const ac = new AbortController()
  const timers = new AbortController()
  const onOuterAbort = (): void =>
    ac.abort(
      new BackstopError(
        'BK_ERR_JOB_ABORTED',
        `job "${job.name}" was stopped (agent shutting down); it runs again at its next slot`,
      ),
    )
  if (req.signal?.aborted) {
    onOuterAbort()
  }
  req.signal?.addEventListener('abort', onOuterAbort, { once: true })
  clock.sleepUntil(new Date(startedAt.getTime() + req.timeoutMs), timers.signal).then(
    () => {
      ac.abort(
        new BackstopError(
          'BK_ERR_JOB_TIMEOUT',
          `job "${job.name}" ran longer than ${Math.round(req.timeoutMs / 1000)} s; ` +
            'raise its timeoutSeconds or find what hangs',
        ),
      )
    },
    () => {
      /* run finished first */
    },
  )

  let result: JobResult
  try {
    const ctx = context(job, runId, trigger, ac.signal, log, deps)
    result = await Promise.race([job.run(ctx), abandoned(ac.signal, clock, deps.abortGraceMs ?? 30_000, timers.signal)])
  } catch (e) {
    result = failure(ac.signal.aborted ? ac.signal.reason : e)
    log.error({ err: e }, 'job failed')
  } finally {
    timers.abort()
    req.signal?.removeEventListener('abort', onOuterAbort)
  }
  if (ac.signal.aborted && result.status !== 'failed') {
    // The job returned but had been told to stop: what it reports may be incomplete.
    result = { ...failure(ac.signal.reason), copies: result.copies, deleted: result.deleted, warnings: result.warnings }
  }

  let sources: JobFinishedBody['sources']
  if (req.storage) {
    // One prober per run: every command's answer is cached for the run's copies.
    const prober = new StorageProber(deps.exec, deps.node, deps.site ?? 'default')
    if (result.copies.length > 0) {
      const probed = await describeStorage(result, req.storage, prober)
      result = { ...result, copies: probed.copies, warnings: [...result.warnings, ...probed.warnings] }
      sources = probed.sources
    }
    result = await withDetachedMedia(result, req.storage, prober, join(deps.stateDir, 'job-data', job.name), log)
  }
  const body = fitStorageToWire(finishedBody(job, runId, startedAt, clock.now(), result, sources))
  await emitSafely(log, () => events.emit('job.finished', body), 3, clock)
  try {
    deps.state?.update(job.name, {
      lastRun: {
        runId,
        trigger,
        startedAt: body.startedAt,
        finishedAt: body.finishedAt,
        status: body.status,
        ...(body.error ? { error: body.error } : {}),
        copies: body.copies.length,
        deleted: body.deleted.length,
        ...(body.bytes !== undefined ? { bytes: body.bytes } : {}),
      },
    })
  } catch (e) {
    log.error({ err: e }, 'could not record the last run in the state directory')
  }
  log.info(
    { status: body.status, copies: body.copies.length, deleted: body.deleted.length, error: body.error?.code },
    'job finished',
  )
  return body
}

/** Copies on removable targets that are away now, reported as detached (jobs/detached-media.ts); never fatal. */
async function withDetachedMedia(
  result: JobResult,
  spec: JobStorageSpec,
  prober: StorageProber,
  jobStateDir: string,
  log: Log,
): Promise<JobResult> {
  try {
    const away = await reportDetachedMedia(result.copies, spec, prober, jobStateDir)
    return {
      ...result,
      copies: [...result.copies, ...away.copies],
      warnings: [...result.warnings, ...away.warnings],
    }
  } catch (e) {
    log.warn({ err: e }, 'could not check the removable targets of this job')
    return { ...result, warnings: [...result.warnings, `removable targets not checked: ${(e as Error).message}`] }
  }
}

function context(
  job: Job,
  runId: string,
  trigger: Trigger,
  signal: AbortSignal,
  log: Log,
  deps: RunJobDeps,
): JobContext {
  const stateDir = join(deps.stateDir, 'job-data', job.name)
  mkdirDataSync(stateDir)
  const interval = deps.progressIntervalMs ?? 10_000
  let last: { at: number; percent: number } | null = null
  return {
    node: deps.node,
    runId,
    trigger,
    exec: deps.exec,
    clock: deps.clock,
    log,
    signal,
    stateDir,
    progress(percent: number, message?: string): void {
      const p = Math.max(0, Math.min(100, Math.round(percent * 10) / 10))
      const now = deps.clock.now().getTime()
      if (last !== null && (now - last.at < interval || p === last.percent)) {
        return
      }
      last = { at: now, percent: p }
      void emitSafely(log, () =>
        deps.events.emit('job.progress', {
          runId,
          job: job.name,
          percent: p,
          ...(message ? { message: message.slice(0, 256) } : {}),
        }),
      )
    },
  }
}

/** Rejects once the run was aborted and the job still has not returned after the grace period. */
function abandoned(signal: AbortSignal, clock: Clock, graceMs: number, done: AbortSignal): Promise<never> {
  return new Promise<never>((_resolve, reject) => {
    const onAbort = (): void => {
      clock.sleepUntil(new Date(clock.now().getTime() + graceMs), done).then(
        () => reject(signal.reason),
        () => {
          /* finished */
        },
      )
    }
    if (signal.aborted) {
      onAbort()
    } else {
      signal.addEventListener('abort', onAbort, { once: true })
    }
  })
}

function failure(e: unknown): JobResult {
  const error =
    e instanceof BackstopError
      ? { code: e.code, message: e.message }
      : { code: 'BK_ERR_JOB_FAILED', message: e instanceof Error ? e.message : String(e) }
  return {
    status: 'failed',
    copies: [],
    deleted: [],
    warnings: [],
    error: { code: error.code, message: error.message.slice(0, 8192) },
  }
}

/** Builds job.finished; a copy or deletion that does not match the wire schema is dropped with a warning. */
function finishedBody(
  job: Job,
  runId: string,
  startedAt: Date,
  finishedAt: Date,
  r: JobResult,
  sources: JobFinishedBody['sources'],
): JobFinishedBody {
  const warnings = [...r.warnings]
  const copies = r.copies.filter(
    (c) =>
      checkCopy.Check(c) ||
      (warnings.push(`dropped an invalid copy report ${JSON.stringify(c).slice(0, 300)}: ${firstError(checkCopy, c)}`),
      false),
  )
  const deleted = r.deleted.filter(
    (d) =>
      checkDeleted.Check(d) ||
      (warnings.push(
        `dropped an invalid deletion report ${JSON.stringify(d).slice(0, 300)}: ${firstError(checkDeleted, d)}`,
      ),
      false),
  )
  let status = r.status
  let error = r.error
  if (copies.length < r.copies.length || deleted.length < r.deleted.length) {
    status = status === 'success' ? 'partial' : status
    error ??= {
      code: 'BK_ERR_WIRE_SCHEMA',
      message: 'the job reported copies that do not match the wire schema (see warnings); this is an agent bug',
    }
  }
  const body: JobFinishedBody = {
    runId,
    job: job.name,
    jobKind: job.kind,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    status,
    copies: tagCreatedByRun(copies.slice(0, 5000), runId, startedAt),
    deleted: deleted.slice(0, 5000),
    warnings: warnings.slice(0, 100).map((w) => w.slice(0, 8192)),
    ...(error ? { error: { code: error.code.slice(0, 256), message: error.message.slice(0, 8192) } } : {}),
    ...(r.bytes !== undefined && Number.isInteger(r.bytes) && r.bytes >= 0 ? { bytes: r.bytes } : {}),
    ...(sources && sources.length > 0 ? { sources: sources.slice(0, 1000) } : {}),
  }
  // Check on `unknown`: the type guard would narrow `body` to never in the failing branch.
  if (!checkFinished.Check(body as unknown)) {
    return {
      ...body,
      status: 'failed',
      copies: [],
      deleted: [],
      warnings: [],
      error: {
        code: 'BK_ERR_WIRE_SCHEMA',
        message: `job.finished did not match its schema: ${firstError(checkFinished, body)}`,
      },
    }
  }
  return body
}

function firstError(
  check: { Errors(v: unknown): Iterable<{ instancePath: string; message: string }> },
  value: unknown,
): string {
  for (const e of check.Errors(value)) {
    return `${e.instancePath || '(root)'} ${e.message}`
  }
  return 'invalid'
}

async function emitSafely(log: Log, send: () => Promise<unknown>, attempts = 1, clock?: Clock): Promise<void> {
  for (let i = 1; i <= attempts; i++) {
    try {
      await send()
      return
    } catch (e) {
      log.error({ err: e, attempt: i }, 'could not queue a job event')
      if (i < attempts && clock) {
        await clock.sleepUntil(new Date(clock.now().getTime() + 2000 * i))
      }
    }
  }
}
