import type { Exec } from '../exec/exec.ts'
import { describeFailure, succeeded } from '../exec/exec.ts'
import type { Log } from '../log.ts'
import type { LeaveReason } from '../transport/wire.ts'

/** The unit deploy/systemd/backstop-agent.service installs (the drop-in in dropin.ts names it too). */
export const AGENT_UNIT = 'backstop-agent.service'

/** Why a graceful stop happens, as the agent tells the collector in its retained `offline` status. */
export type GracefulLeave = Exclude<LeaveReason, 'lost'>

/** One row of `systemctl list-jobs --no-legend`: the job systemd is running or has queued for a unit. */
export interface SystemdJob {
  readonly id: number
  readonly unit: string
  /** After systemd's merging: start, stop, restart, reload, verify-active, … (`try-restart` becomes `restart`). */
  readonly type: string
  readonly state: string
}

/**
 * `systemctl list-jobs --no-legend` rows: "JOB UNIT TYPE STATE" separated by padding (systemd's table printer);
 * unit names hold no blanks. Nothing listed prints nothing. Lines that are not rows (none are expected without
 * --after/--before) are skipped.
 */
export function parseListJobs(stdout: string): SystemdJob[] {
  return stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length === 4 && /^\d+$/.test(f[0]!))
    .map(([id, unit, type, state]) => ({ id: Number(id), unit: unit!, type: type!, state: state! }))
}

/**
 * The truthful reason for a SIGTERM: systemd stops a unit for a restart job (`systemctl restart`, a package
 * upgrade's try-restart) with the job typed `restart` until the stop half is done; a `systemctl stop`, a reboot
 * or a poweroff run a `stop` job. So `restart` only when systemd says the unit is being restarted; anything else
 * — a stop job, no job (SIGTERM from kill, a container runtime, Ctrl-C in a terminal) — is `shutdown`, which
 * claims only that the agent was stopped on purpose, never that it is coming back.
 */
export function leaveReasonOf(jobs: readonly SystemdJob[], unit: string = AGENT_UNIT): GracefulLeave {
  return jobs.some((j) => j.unit === unit && (j.type === 'restart' || j.type === 'try-restart'))
    ? 'restart'
    : 'shutdown'
}

/** Short: the stop budget (TimeoutStopSec=120s) belongs to the running jobs, and PID 1 answers at once. */
export const LIST_JOBS_TIMEOUT_MS = 3000

/**
 * Asks systemd why this agent is being stopped (call it on the stop signal, while the job is still running).
 * Without systemd (no systemctl, not PID 1, a timeout) the answer is `shutdown`, logged at debug with the cause.
 */
export async function probeLeaveReason(exec: Exec, log: Log, unit: string = AGENT_UNIT): Promise<GracefulLeave> {
  try {
    const r = await exec.run(['systemctl', 'list-jobs', '--no-legend', '--no-pager', '--full', unit], {
      timeoutMs: LIST_JOBS_TIMEOUT_MS,
    })
    if (!succeeded(r)) {
      log.debug({ cause: describeFailure(r) }, 'no systemd job to tell restart from shutdown: reporting shutdown')
      return 'shutdown'
    }
    return leaveReasonOf(parseListJobs(r.stdout), unit)
  } catch (e) {
    log.debug({ err: e }, 'systemctl did not answer: reporting shutdown')
    return 'shutdown'
  }
}
