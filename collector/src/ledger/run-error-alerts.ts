import type { AlertKind, ErrorCode, Severity } from '@backstop/shared'

/**
 * Alerts a finished run raises from its error code: each fires while the job's newest run reports the code and
 * resolves with the next run that does not. The agent reports these codes on every run until the cause is gone.
 */
export interface RunErrorAlert {
  readonly code: ErrorCode
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
    code: 'BK_ERR_IMMUTABILITY_LOST',
    kind: 'immutability-lost',
    severity: 'critical',
    firing: 'the target no longer refuses deletion',
    resolved: "its target's immutability holds (or was never claimed)",
  },
  // A replica that changed on its own target (or has snapshots the source lacks): the agent never rolls it back (no
  // receive -F), so it stays behind until a human looks; the local part of the run still succeeded.
  {
    code: 'BK_ERR_REPLICATION_DIVERGED',
    kind: 'replica-diverged',
    severity: 'warning',
    firing: 'a replica diverged from its source',
    resolved: 'its replicas follow their sources',
  },
]
