import type { AlertKind, ErrorCode, Severity } from '@backstop/shared'

/**
 * Alerts a finished run raises from its error code: each fires while the job's newest run reports the code and
 * resolves with the next run that does not. The agent reports these codes on every run until the cause is gone.
 */
export interface RunErrorAlert {
  /** The run's error code fires the alert when it is one of these. */
  readonly codes: readonly ErrorCode[]
  readonly kind: AlertKind
  readonly severity: Severity
  /** Said when the run carries no message of its own. */
  readonly firing: string
  readonly resolved: string
}

export const runErrorAlerts: readonly RunErrorAlert[] = [
  // A target proven immutable before no longer refuses deletion: critical, a deliberate change or an attacker turned
  // the protection off.
  {
    codes: ['BK_ERR_IMMUTABILITY_LOST'],
    kind: 'immutability-lost',
    severity: 'critical',
    firing: 'the target no longer refuses deletion',
    resolved: "its target's immutability holds (or was never claimed)",
  },
  // A replica that changed on its own target (or has snapshots the source lacks): the agent never rolls it back (no
  // receive -F), so it stays behind until a human looks; the local part of the run still succeeded.
  {
    codes: ['BK_ERR_REPLICATION_DIVERGED'],
    kind: 'replica-diverged',
    severity: 'warning',
    firing: 'a replica diverged from its source',
    resolved: 'its replicas follow their sources',
  },
  // A target that could not take this run's snapshots (a backup disk gone that is not marked offline, a host that
  // cannot be reached or refuses us): the run is partial, not failed — the local snapshot and pruning went ahead —
  // so run-failed stays quiet; this says that the copies on the target stopped arriving. The next run that
  // replicates sends everything missed (catch-up) and resolves it.
  {
    codes: [
      'BK_ERR_REPLICATION_FAILED',
      'BK_ERR_REPLICATION_NOT_RESUMABLE',
      'BK_ERR_SSH_UNREACHABLE',
      'BK_ERR_SSH_HOST_KEY',
      'BK_ERR_SSH_HOST_UNKNOWN',
      'BK_ERR_SSH_AUTH',
      'BK_ERR_REMOTE_GATE_REFUSED',
    ],
    kind: 'replication-failed',
    severity: 'warning',
    firing: 'a target could not take its snapshots',
    resolved: 'its targets take its snapshots again',
  },
]
