import type { Command } from 'commander'
import type { JobFinishedBody } from '@backstop/shared'
import { buildJobs } from '../jobs/build-jobs.ts'
import { JobStateStore } from '../scheduler/job-state.ts'
import { configPath, exitCodes, type SetExit } from './common.ts'
import type { CliDeps } from './deps.ts'
import { findJob, jobRunner } from './job-runner.ts'
import { acquirePidLock } from './pid-lock.ts'

/**
 * `once <job>`: run one job now (trigger `manual`), then wait until the collector has acknowledged its events.
 * Exit code: 0 success and acknowledged, 1 failed, 2 partial, 3 succeeded but not acknowledged in time (the
 * events stay in the outbox and the daemon sends them when it runs).
 */
export function registerOnce(program: Command, deps: CliDeps, setExit: SetExit): void {
  program
    .command('once')
    .argument('<job>', 'job name from the config')
    .description('run one job now and wait until the collector acknowledged its events')
    .option('--ack-timeout <seconds>', 'how long to wait for the acknowledgement', '30')
    .option('--json', 'print the job.finished event as JSON')
    .action(async (name: string, opts: { ackTimeout: string; json?: boolean }, cmd: Command) => {
      const config = deps.loadConfig(configPath(cmd))
      const log = deps.createLog(config.logLevel)
      const jobs = buildJobs(config.jobs)
      findJob(config, jobs, name)
      const ackTimeoutMs = Math.max(0, Number(opts.ackTimeout) * 1000 || 0)
      const lock = acquirePidLock(config.stateDir)
      const stopJob = new AbortController()
      const off = deps.onStopSignal(() => stopJob.abort())
      try {
        // A one-shot run does not speak for the node's presence: the daemon's status (or its absence) stays as is.
        const runtime = await deps.createRuntime({
          config,
          clock: deps.clock,
          log,
          jobStatus: () => [],
          presence: false,
        })
        await runtime.start()
        let body: JobFinishedBody
        let acked: boolean
        try {
          const run = jobRunner({
            config,
            jobs,
            exec: deps.createExec(log),
            clock: deps.clock,
            log,
            events: runtime,
            state: new JobStateStore(config.stateDir),
            signal: stopJob.signal,
          })
          body = await run({ job: name, trigger: 'manual', scheduledFor: null })
          acked = await runtime.flush(ackTimeoutMs)
        } finally {
          await runtime.stop()
        }
        deps.io.out(opts.json ? `${JSON.stringify(body, null, 2)}\n` : summary(body))
        if (!acked) {
          deps.io.err(
            `warning: the collector has not acknowledged the events within ${opts.ackTimeout} s; ` +
              'they stay in the outbox and are sent when the agent runs\n',
          )
        }
        setExit(
          body.status === 'failed'
            ? exitCodes.failed
            : body.status === 'partial'
              ? exitCodes.partial
              : acked
                ? exitCodes.ok
                : exitCodes.notAcked,
        )
      } finally {
        off()
        lock.release()
      }
    })
}

export function summary(b: JobFinishedBody): string {
  const copies = `${b.copies.length} cop${b.copies.length === 1 ? 'y' : 'ies'}`
  const bytes = b.bytes !== undefined ? `, ${b.bytes} bytes` : ''
  const lines = [`${b.job}: ${b.status} — ${copies}, ${b.deleted.length} deleted${bytes} (run ${b.runId})`]
  if (b.error) {
    lines.push(`  error ${b.error.code}: ${b.error.message}`)
  }
  for (const c of b.copies) {
    lines.push(`  copy    ${c.location.target}/${c.name} [${c.verification.state}]`)
  }
  for (const d of b.deleted) {
    lines.push(`  deleted ${d.location.target}/${d.name} (${d.rule})`)
  }
  for (const w of b.warnings) {
    lines.push(`  warning ${w}`)
  }
  return `${lines.join('\n')}\n`
}
