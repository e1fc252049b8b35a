import { BackstopError, type CommandOutcome } from '@backstop/shared'
import type { AgentRuntime, CliDeps } from './cli/deps.ts'
import { findJob, jobRunner } from './cli/job-runner.ts'
import { writeStatusSnapshot } from './cli/status-snapshot.ts'
import { drainHookSpool, hookReportOptionsOf } from './cli/vzdump-hook-spool.ts'
import { createCommandReceiver } from './commands/daemon-commands.ts'
import type { ResolvedAgentConfig } from './config/schema.ts'
import type { Exec } from './exec/exec.ts'
import { createHealthReporter, DISK_HEALTH_TASK, diskHealthTask } from './health/report-loop.ts'
import { librarySystemInfo } from './health/system-info.ts'
import { collectInventory } from './inventory/collect-inventory.ts'
import { createInventoryReporter, INVENTORY_TASK, inventoryTask } from './inventory/inventory-reporter.ts'
import { sshKeyPathsOf } from './inventory/ssh-logins.ts'
import { createJobsDeclarer } from './inventory/declared-jobs.ts'
import { buildJobs } from './jobs/build-jobs.ts'
import { finishedWithStorage, storageSpecOf } from './jobs/job-storage.ts'
import { runCopyCheck, type CopyCheckKind } from './jobs/copy-checks.ts'
import type { Log } from './log.ts'
import { JobStateStore } from './scheduler/job-state.ts'
import { Scheduler, type RunRequest, type ScheduledJob } from './scheduler/scheduler.ts'
import { StorageProber } from './storage/probe.ts'
import { probeLeaveReason } from './systemd/leave-reason.ts'

/**
 * The daemon's composition root (`backstop-agent run`): everything the daemon runs is built here, once, in
 * dependency order — one Exec, one job list, one state store, the runtime, the scheduler and its task table.
 * The CLI action (cli/run-command.ts) only loads the config, takes the pid lock and calls `runDaemon`.
 */
export interface Daemon {
  /** Runs until the stop signal; then no new runs, running jobs aborted, their finish made durable, runtime off. */
  untilStopped(): Promise<void>
}

/** Housekeeping tasks' scheduler names (not valid job names, so they never collide with one). */
const HOOK_DRAIN = '@vzdump-hook-spool'
const STATUS_SNAPSHOT = '@status-snapshot'

/** One line of the scheduler's task table: when it runs and what it runs. */
interface Task {
  readonly entry: ScheduledJob
  readonly run: (req: RunRequest) => Promise<unknown>
}

const every = (name: string, cron: string): ScheduledJob => ({
  name,
  schedule: { cron, timezone: 'UTC' },
  catchUp: false,
  internal: true,
})

export async function startDaemon(deps: CliDeps, config: ResolvedAgentConfig, log: Log): Promise<Daemon> {
  for (const w of config.warnings ?? []) {
    log.warn({ config: config.file }, w)
  }
  const exec = deps.createExec(log)
  const jobs = buildJobs(config.jobs)
  const state = new JobStateStore(config.stateDir)
  const stopJobs = new AbortController()
  // The runtime delivers signed commands and the commands report through the runtime: the one late binding.
  const late: { scheduler: Scheduler | null; runtime: AgentRuntime | null } = { scheduler: null, runtime: null }
  const commands = createCommandReceiver({
    config,
    clock: deps.clock,
    log,
    report: (body) => late.runtime!.emit('command.result', body),
    runJob: (job) =>
      config.jobs.some((j) => j.name === job) ? (late.scheduler?.runNow(job, 'command') ?? null) : null,
    checkCopy: (job, what, copyId) =>
      checkCopyInSlot({ deps, config, exec, log, jobs, late, stopJobs }, job, what, copyId),
  })
  const runtime = await deps.createRuntime({
    config,
    clock: deps.clock,
    log,
    jobStatus: () => late.scheduler?.status() ?? [],
    onCommand: commands?.onCommand,
  })
  late.runtime = runtime
  const snapshot = statusSnapshot(deps, config, runtime, log, () => late.scheduler?.status() ?? [])
  const drain = hookDrain(config, runtime, exec, log)
  const health = createHealthReporter({
    config,
    exec,
    si: deps.createSystemInfo?.() ?? librarySystemInfo(),
    clock: deps.clock,
    log,
    emit: (body) => runtime.emit('disk.health', body),
  })
  const declarer = createJobsDeclarer({
    configs: config.jobs,
    host: deps.hostname.split('.')[0]!,
    emit: (body) => runtime.emit('jobs.declared', body),
    clock: deps.clock,
    log,
  })
  const inventory = createInventoryReporter({
    collect: () =>
      collectInventory({
        exec,
        clock: deps.clock,
        log,
        node: config.node,
        host: deps.hostname.split('.')[0]!,
        stateDir: config.stateDir,
        role: config.role,
        configs: config.jobs,
        jobs,
        signal: stopJobs.signal,
        sshKeys: sshKeyPathsOf(config.sshKeys, config.jobs),
      }),
    // The inventory finds the assets a job selects by probing (vzdump pools, recursive datasets): declare them too.
    emit: (body) => runtime.emit('inventory', body).finally(() => declarer.declare(body)),
    clock: deps.clock,
    log,
  })
  const run = jobRunner({ config, jobs, exec, clock: deps.clock, log, events: runtime, state, signal: stopJobs.signal })
  const tasks: Task[] = [
    ...config.jobs.map((j) => ({
      entry: { name: j.name, schedule: j.schedule, catchUp: j.catchUp },
      run: (req: RunRequest) => run(req).finally(snapshot),
    })),
    ...housekeeping(config, snapshot, drain, () => health.report()),
    // Every 15 min; sent on start, on change and daily (inventory/inventory-reporter.ts).
    { entry: inventoryTask, run: () => inventory.check() },
  ]
  const byName = new Map(tasks.map((t) => [t.entry.name, t.run]))
  const scheduler = new Scheduler(
    tasks.map((t) => t.entry),
    { clock: deps.clock, log, state, run: (req) => byName.get(req.job)!(req) },
  )
  late.scheduler = scheduler
  const stopped = stopSignal(deps)
  await runtime.start()
  // The config is read once per process (no reload): the declaration on start is the one for this config.
  await declarer.declare(null)
  scheduler.start()
  // In the background, through the scheduler: no overlap with the hourly slot, and stop waits for it.
  scheduler.runNow(DISK_HEALTH_TASK, 'schedule')
  scheduler.runNow(INVENTORY_TASK, 'schedule')
  await drain?.()
  await snapshot()
  log.info({ node: config.node, jobs: jobs.length, config: config.file }, 'agent running')
  return {
    async untilStopped() {
      const sig = await stopped
      // Asked at once: systemd's restart job is only listed until the stop half of the restart is done.
      const reason = probeLeaveReason(exec, log)
      log.info({ signal: sig }, 'stopping: no new runs, aborting running jobs')
      await scheduler.stop()
      stopJobs.abort()
      await scheduler.idle()
      await snapshot()
      const leave = await reason
      log.info({ reason: leave }, 'telling the collector why this node goes offline')
      await runtime.stop(leave)
      commands?.close()
      log.info('agent stopped')
    },
  }
}

/** The agent's own scheduled work beside the jobs: hook spool drain, status snapshot, disk-health report. */
function housekeeping(
  config: ResolvedAgentConfig,
  snapshot: () => Promise<void>,
  drain: (() => Promise<void>) | null,
  report: () => Promise<unknown>,
): Task[] {
  return [
    ...(drain ? [{ entry: every(HOOK_DRAIN, '*/15 * * * * *'), run: drain }] : []),
    // Keeps `status` (another process) within 30 s of the truth about the outbox backlog.
    { entry: every(STATUS_SNAPSHOT, '*/30 * * * * *'), run: snapshot },
    { entry: diskHealthTask(config), run: report },
  ]
}

interface CheckCopyDeps {
  readonly deps: CliDeps
  readonly config: ResolvedAgentConfig
  readonly exec: Exec
  readonly log: Log
  readonly jobs: ReturnType<typeof buildJobs>
  readonly late: { readonly scheduler: Scheduler | null }
  readonly stopJobs: AbortController
}

/** A re-verify or restore test, in the job's scheduler slot: it never runs while the job itself runs. */
function checkCopyInSlot(
  d: CheckCopyDeps,
  job: string,
  what: CopyCheckKind,
  copyId: string | undefined,
): Promise<CommandOutcome> {
  const j = findJob(d.config, d.jobs, job)
  const timeoutMs = d.config.jobs.find((c) => c.name === job)?.timeoutMs ?? 6 * 3600_000
  const p = d.late.scheduler?.runExclusive(job, () =>
    runCopyCheck(
      { job: j, what, ...(copyId !== undefined ? { copyId } : {}), timeoutMs, signal: d.stopJobs.signal },
      { node: d.config.node, exec: d.exec, clock: d.deps.clock, log: d.log, stateDir: d.config.stateDir },
    ),
  )
  return (
    p ??
    Promise.reject(
      new BackstopError('BK_ERR_JOB_BUSY', `job "${job}" is running right now; ask for ${what} again when it finished`),
    )
  )
}

/** status.json for `backstop-agent status` (another process); a failed write is logged, never fatal. */
function statusSnapshot(
  deps: CliDeps,
  config: ResolvedAgentConfig,
  runtime: AgentRuntime,
  log: Log,
  jobStatus: () => ReturnType<Scheduler['status']>,
): () => Promise<void> {
  return async () => {
    try {
      writeStatusSnapshot(config.stateDir, {
        at: deps.clock.now().toISOString(),
        pid: process.pid,
        runtime: runtime.status(),
        jobs: jobStatus(),
      })
    } catch (e) {
      log.warn({ err: e }, 'could not write status.json')
    }
  }
}

/** Backups Proxmox itself ran (vzdump hook mode) are spooled by `vzdump-hook` and turned into events here. */
function hookDrain(
  config: ResolvedAgentConfig,
  runtime: AgentRuntime,
  exec: Exec,
  log: Log,
): (() => Promise<void>) | null {
  const hook = hookReportOptionsOf(config.jobs)
  if (hook === null) {
    return null
  }
  const specs = new Map(config.jobs.map((j) => [j.name, storageSpecOf(j)]))
  return async () => {
    // One prober per drain: the copies of the drained runs share a few dump directories.
    const prober = new StorageProber(exec, config.node, config.site ?? 'default')
    try {
      await drainHookSpool(config.stateDir, hook, {
        started: async (b) => {
          await runtime.emit('job.started', b)
        },
        finished: async (b) => {
          const spec = specs.get(b.job)
          await runtime.emit('job.finished', spec ? await finishedWithStorage(b, spec, prober) : b)
        },
      })
    } catch (e) {
      log.error({ err: e }, 'could not drain the vzdump hook spool; retrying in 15 s')
    }
  }
}

/** Resolves with the first SIGTERM/SIGINT (then unsubscribes). */
function stopSignal(deps: CliDeps): Promise<string> {
  return new Promise<string>((resolve) => {
    const off = deps.onStopSignal((sig) => {
      off()
      resolve(sig)
    })
  })
}
