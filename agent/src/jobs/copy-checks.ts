import { randomUUID } from 'node:crypto'
import { mkdirDataSync } from '@backstop/node-io'
import { join } from 'node:path'
import { BackstopError, type CommandOutcome } from '@backstop/shared'
import type { Clock } from '../clock.ts'
import type { Exec } from '../exec/exec.ts'
import type { Log } from '../log.ts'
import type { CopyCheck, Job, JobContext } from './job.ts'

export type CopyCheckKind = 'reverify-copy' | 'restore-test'

export interface CopyCheckRequest {
  readonly job: Job
  readonly what: CopyCheckKind
  /** Required for reverify-copy; restore-test picks the newest copy that verifies when absent. */
  readonly copyId?: string
  /** The job's own timeout bounds the check too (a restore of a copy takes about as long as writing it). */
  readonly timeoutMs: number
  /** Agent shutdown. */
  readonly signal?: AbortSignal
}

export interface CopyCheckDeps {
  readonly node: string
  readonly exec: Exec
  readonly clock: Clock
  readonly log: Log
  /** Root state directory; the job's `<stateDir>/job-data/<name>` is its scratch and state space. */
  readonly stateDir: string
}

const supportOf = (job: Job): string =>
  [job.verifyCopy ? 'reverify-copy' : null, job.restoreTest ? 'restore-test' : null]
    .filter((x) => x !== null)
    .join(', ') || 'neither'

/**
 * Runs a job's verifyCopy / restoreTest once (commands reverify-copy and restore-test) and turns what it found
 * into the `outcome` of the command result. A finding about the copy (hash mismatch…) is an outcome with
 * result `failed`; a request the job cannot serve (unknown copy, kind cannot do it, timeout) throws coded.
 */
export async function runCopyCheck(req: CopyCheckRequest, deps: CopyCheckDeps): Promise<CommandOutcome> {
  const { job, what } = req
  const started = deps.clock.now()
  const log = deps.log.child({ job: job.name, command: what })
  const ac = new AbortController()
  const timer = new AbortController()
  const onOuter = (): void =>
    ac.abort(new BackstopError('BK_ERR_JOB_ABORTED', `${what} of job "${job.name}" was stopped (agent shutting down)`))
  if (req.signal?.aborted) {
    onOuter()
  }
  req.signal?.addEventListener('abort', onOuter, { once: true })
  const timedOut = deps.clock.sleepUntil(new Date(started.getTime() + req.timeoutMs), timer.signal).then(
    () => {
      const e = new BackstopError(
        'BK_ERR_JOB_TIMEOUT',
        `${what} of job "${job.name}" ran longer than the job's timeout (${Math.round(req.timeoutMs / 1000)} s)`,
      )
      ac.abort(e)
      throw e
    },
    () =>
      new Promise<never>(() => {
        /* finished first: never settles */
      }),
  )
  try {
    const ctx = context(job, ac.signal, log, deps)
    let check: CopyCheck
    if (what === 'reverify-copy') {
      if (!job.verifyCopy) {
        throw new BackstopError(
          'BK_ERR_CMD_UNSUPPORTED',
          `job "${job.name}" is of kind ${job.kind}, which cannot re-verify a copy (it supports: ${supportOf(job)})`,
        )
      }
      if (req.copyId === undefined) {
        throw new BackstopError('BK_ERR_COPY_NOT_FOUND', 'reverify-copy needs a copyId')
      }
      check = await Promise.race([job.verifyCopy(ctx, req.copyId), timedOut])
    } else {
      if (!job.restoreTest) {
        throw new BackstopError(
          'BK_ERR_CMD_UNSUPPORTED',
          `job "${job.name}" is of kind ${job.kind}, which cannot run a restore test (it supports: ${supportOf(job)})`,
        )
      }
      check = await Promise.race([job.restoreTest(ctx, req.copyId), timedOut])
    }
    const outcome: CommandOutcome = {
      result: check.result,
      job: job.name,
      jobKind: job.kind,
      copyId: check.copyId.slice(0, 1024),
      method: check.method.slice(0, 256),
      checks: check.checks.slice(0, 32).map((c) => c.slice(0, 1024)),
      ...(check.bytes !== undefined && Number.isInteger(check.bytes) && check.bytes >= 0 ? { bytes: check.bytes } : {}),
      durationMs: Math.max(0, deps.clock.now().getTime() - started.getTime()),
      at: deps.clock.now().toISOString(),
      ...(check.error
        ? { error: { code: check.error.code.slice(0, 256), message: check.error.message.slice(0, 8192) } }
        : {}),
    }
    log.info({ result: outcome.result, copyId: outcome.copyId, code: outcome.error?.code }, `${what} finished`)
    return outcome
  } catch (e) {
    // A job that fails because it was aborted failed for the abort's reason (timeout or shutdown), coded.
    throw ac.signal.aborted ? ac.signal.reason : e
  } finally {
    timer.abort()
    req.signal?.removeEventListener('abort', onOuter)
  }
}

function context(job: Job, signal: AbortSignal, log: Log, deps: CopyCheckDeps): JobContext {
  const stateDir = join(deps.stateDir, 'job-data', job.name)
  mkdirDataSync(stateDir)
  return {
    node: deps.node,
    runId: randomUUID(),
    trigger: 'command',
    exec: deps.exec,
    clock: deps.clock,
    log,
    signal,
    stateDir,
    progress: () => {
      /* checks report once, in the command result */
    },
  }
}
