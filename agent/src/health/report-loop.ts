import { BackstopError, type DiskHealthBody } from '@backstop/shared'
import type { Clock } from '../clock.ts'
import { healthCron, resolveHealth } from '../config/load.ts'
import type { ResolvedAgentConfig } from '../config/schema.ts'
import type { Exec } from '../exec/exec.ts'
import type { Log } from '../log.ts'
import type { ScheduledJob } from '../scheduler/scheduler.ts'
import type { BackupTarget } from '../jobs/backup-target.ts'
import { backupTargetsOfJobs, targetPaths } from './backup-targets.ts'
import { collectDiskHealth, type SystemInfo } from './collect.ts'
import { jobPools } from './job-pools.ts'

export interface HealthReporterDeps {
  readonly config: ResolvedAgentConfig
  readonly exec: Exec
  readonly si: SystemInfo
  readonly clock: Clock
  readonly log: Log
  /** Appends the event (runtime.emit('disk.health', body)); resolves once it is durable. */
  readonly emit: (body: DiskHealthBody) => Promise<unknown>
}

export interface HealthReporter {
  /** One report: collect, emit. Never rejects — failures are logged and, where possible, said in the event. */
  report(): Promise<DiskHealthBody | null>
}

const NO_SMARTCTL_NOTE = /^smartctl not installed/

/** The scheduler name of the report task (not a valid job name, so it never collides with one). */
export const DISK_HEALTH_TASK = '@disk-health'

/** The report as an internal scheduler task: the scheduler owns the only timer (health.intervalMinutes → cron). */
export function diskHealthTask(config: ResolvedAgentConfig): ScheduledJob {
  const minutes = (config.health ?? resolveHealth(undefined)).intervalMinutes
  const cron = healthCron(minutes)
  if (cron === null) {
    throw new BackstopError(
      'BK_ERR_CONFIG_INVALID',
      `health.intervalMinutes ${minutes} does not divide an hour or a day evenly; configcheck reports where`,
    )
  }
  return { name: DISK_HEALTH_TASK, schedule: { cron, timezone: 'UTC' }, catchUp: false, internal: true }
}

/**
 * The daemon's periodic `disk.health` report (run-command.ts schedules `report()` as an internal scheduler
 * task and calls it once at start-up). Backup targets are the configured ones, else the jobs' destinations
 * and pools, so the collector's fill forecast covers where backups land.
 */
export function createHealthReporter(deps: HealthReporterDeps): HealthReporter {
  const health = deps.config.health ?? resolveHealth(undefined)
  const log = deps.log.child({ component: 'disk-health' })
  const targets: BackupTarget[] =
    health.backupTargets?.map((path) => ({ path })) ?? backupTargetsOfJobs(deps.config.jobs)
  // health.smartctl: false — smartctl is never started; scanSmart sees it as absent and falls back.
  const exec: Exec = health.smartctl === false ? withoutSmartctl(deps.exec) : deps.exec
  const pools = jobPools(deps.config.jobs, deps.exec)
  return {
    async report() {
      const now = deps.clock.now()
      let body: DiskHealthBody
      try {
        // fsSize once per report: it both resolves ZFS pool targets to mounts and fills `filesystems`.
        const rows = deps.si.fsSize()
        rows.catch(() => undefined)
        const si: SystemInfo = { diskLayout: () => deps.si.diskLayout(), fsSize: () => rows }
        const backupTargets = targetPaths(targets, await rows.catch(() => []))
        body = await collectDiskHealth(
          { exec, si, log, ...(pools ? { pools } : {}) },
          {
            backupTargets,
            deviceTypes: health.deviceTypes,
            skip: health.skip,
            extra: health.extra.map((d) => ({ ...d, protocol: '' })),
          },
          now,
        )
        body = { ...body, notes: smartctlNotes(body.notes, health.smartctl, log) }
      } catch (e) {
        // collectDiskHealth does not throw for a missing tool; anything else is a bug worth reporting, not a crash.
        log.error({ err: e }, 'disk health collection failed; reporting the failure')
        body = {
          at: now.toISOString(),
          disks: [],
          filesystems: [],
          pools: [],
          notes: [`collection failed: ${(e as Error).message}`.slice(0, 256)],
        }
      }
      try {
        await deps.emit(body)
        log.info(
          {
            disks: body.disks.length,
            filesystems: body.filesystems.length,
            pools: body.pools.length,
            notes: body.notes.length,
          },
          'disk health reported',
        )
        return body
      } catch (e) {
        log.error({ err: e }, `could not append the disk.health event; next try in ${health.intervalMinutes} min`)
        return null
      }
    },
  }
}

/** The "not installed" note is wrong when smartctl was switched off, and a warning when it was required. */
function smartctlNotes(notes: readonly string[], smartctl: boolean | null, log: Log): string[] {
  if (smartctl === false) {
    return notes.map((n) =>
      NO_SMARTCTL_NOTE.test(n) ? 'smartctl disabled (health.smartctl: false); SMART data from systeminformation' : n,
    )
  }
  if (smartctl === true && notes.some((n) => NO_SMARTCTL_NOTE.test(n))) {
    log.warn('health.smartctl is true but smartctl is not installed (apt install smartmontools)')
  }
  return [...notes]
}

function withoutSmartctl(exec: Exec): Exec {
  return {
    run: (argv, opts) =>
      argv[0] === 'smartctl'
        ? Promise.reject(new BackstopError('BK_ERR_EXEC_SPAWN', 'smartctl disabled by health.smartctl: false'))
        : exec.run(argv, opts),
    pipeline: (stages, opts) => exec.pipeline(stages, opts),
  }
}
