import type { Command } from 'commander'
import { BackstopError } from '@backstop/shared'
import { createHealthReporter, DISK_HEALTH_TASK, diskHealthTask } from '../health/report-loop.ts'
import { librarySystemInfo } from '../health/system-info.ts'
import { buildJobs } from '../jobs/build-jobs.ts'
import { runCopyCheck } from '../jobs/copy-checks.ts'
import { createCommandReceiver } from '../commands/daemon-commands.ts'
import { JobStateStore } from '../scheduler/job-state.ts'
import { Scheduler } from '../scheduler/scheduler.ts'
import { configPath, exitCodes, type SetExit } from './common.ts'
import type { CliDeps } from './deps.ts'
import { findJob, jobRunner } from './job-runner.ts'
import { acquirePidLock } from './pid-lock.ts'
import { writeStatusSnapshot } from './status-snapshot.ts'
import { drainHookSpool, hookReportOptionsOf } from './vzdump-hook-spool.ts'

/** Scheduler names of housekeeping tasks (not valid job names, so they never collide with one). */
const HOOK_DRAIN = '@vzdump-hook-spool'
const STATUS_SNAPSHOT = '@status-snapshot'

/**
 * `run`: the daemon. Runtime (outbox + MQTT) and scheduler until SIGTERM/SIGINT; then the scheduler stops, running
 * jobs are aborted and report their (aborted) finish, and the runtime stops after those events are durable.
 */
export function registerRun(program: Command, deps: CliDeps, setExit: SetExit): void {
  program
    .command('run')
    .description('run the agent: schedule jobs and report to the collector until SIGTERM/SIGINT')
    .action(async (_opts: unknown, cmd: Command) => {
      const config = deps.loadConfig(configPath(cmd))
      const log = deps.createLog(config.logLevel)
      const lock = acquirePidLock(config.stateDir)
      try {
        const jobs = buildJobs(config.jobs)
        const state = new JobStateStore(config.stateDir)
        const stopJobs = new AbortController()
        let scheduler: Scheduler | null = null
        // Signed commands (docs/security.md): only when commands.allow lists kinds; run-job goes through the scheduler.
        const commands = createCommandReceiver({
          config,
          clock: deps.clock,
          log,
          report: (body) => runtime.emit('command.result', body),
          runJob: (job) =>
            config.jobs.some((j) => j.name === job) ? (scheduler?.runNow(job, 'command') ?? null) : null,
          // In the job's scheduler slot: a re-verify or restore test never runs while the job itself runs.
          checkCopy: (job, what, copyId) => {
            const j = findJob(config, jobs, job)
            const p = scheduler?.runExclusive(job, () =>
              runCopyCheck(
                {
                  job: j,
                  what,
                  ...(copyId !== undefined ? { copyId } : {}),
                  timeoutMs: config.jobs.find((c) => c.name === job)?.timeoutMs ?? 6 * 3600_000,
                  signal: stopJobs.signal,
                },
                { node: config.node, exec: deps.createExec(log), clock: deps.clock, log, stateDir: config.stateDir },
              ),
            )
            return (
              p ??
              Promise.reject(
                new BackstopError(
                  'BK_ERR_JOB_BUSY',
                  `job "${job}" is running right now; ask for ${what} again when it finished`,
                ),
              )
            )
          },
        })
        const runtime = await deps.createRuntime({
          config,
          clock: deps.clock,
          log,
          jobStatus: () => scheduler?.status() ?? [],
          onCommand: commands?.onCommand,
        })
        const snapshot = async (): Promise<void> => {
          try {
            writeStatusSnapshot(config.stateDir, {
              at: deps.clock.now().toISOString(),
              pid: process.pid,
              runtime: runtime.status(),
              jobs: scheduler?.status() ?? [],
            })
          } catch (e) {
            log.warn({ err: e }, 'could not write status.json')
          }
        }
        const run = jobRunner({
          config,
          jobs,
          exec: deps.createExec(log),
          clock: deps.clock,
          log,
          events: runtime,
          state,
          signal: stopJobs.signal,
        })
        // Backups Proxmox itself ran (vzdump hook mode) are spooled by `vzdump-hook` and turned into events here.
        const hook = hookReportOptionsOf(config.jobs)
        const drain = async (): Promise<void> => {
          if (hook) {
            try {
              await drainHookSpool(config.stateDir, hook, {
                started: async (b) => {
                  await runtime.emit('job.started', b)
                },
                finished: async (b) => {
                  await runtime.emit('job.finished', b)
                },
              })
            } catch (e) {
              log.error({ err: e }, 'could not drain the vzdump hook spool; retrying in 15 s')
            }
          }
        }
        // disk.health every health.intervalMinutes and once at start-up; a failed collection is logged and reported.
        const health = createHealthReporter({
          config,
          exec: deps.createExec(log),
          si: deps.createSystemInfo?.() ?? librarySystemInfo(),
          clock: deps.clock,
          log,
          emit: (body) => runtime.emit('disk.health', body),
        })
        scheduler = new Scheduler(
          [
            ...config.jobs.map((j) => ({ name: j.name, schedule: j.schedule, catchUp: j.catchUp })),
            ...(hook
              ? [
                  {
                    name: HOOK_DRAIN,
                    schedule: { cron: '*/15 * * * * *', timezone: 'UTC' },
                    catchUp: false,
                    internal: true,
                  },
                ]
              : []),
            // Keeps `status` (another process) within 30 s of the truth about the outbox backlog.
            {
              name: STATUS_SNAPSHOT,
              schedule: { cron: '*/30 * * * * *', timezone: 'UTC' },
              catchUp: false,
              internal: true,
            },
            diskHealthTask(config),
          ],
          {
            clock: deps.clock,
            log,
            state,
            run: (req) =>
              req.job === HOOK_DRAIN
                ? drain()
                : req.job === STATUS_SNAPSHOT
                  ? snapshot()
                  : req.job === DISK_HEALTH_TASK
                    ? health.report()
                    : run(req).finally(snapshot),
          },
        )
        const stopped = new Promise<string>((resolve) => {
          const off = deps.onStopSignal((sig) => {
            off()
            resolve(sig)
          })
        })
        await runtime.start()
        scheduler.start()
        // In the background, through the scheduler: no overlap with the hourly slot, and stop waits for it.
        scheduler.runNow(DISK_HEALTH_TASK, 'schedule')
        await drain()
        await snapshot()
        log.info({ node: config.node, jobs: jobs.length, config: config.file }, 'agent running')
        const sig = await stopped
        log.info({ signal: sig }, 'stopping: no new runs, aborting running jobs')
        await scheduler.stop()
        stopJobs.abort()
        await scheduler.idle()
        await snapshot()
        await runtime.stop()
        commands?.close()
        log.info('agent stopped')
        setExit(exitCodes.ok)
      } finally {
        lock.release()
      }
    })
}
