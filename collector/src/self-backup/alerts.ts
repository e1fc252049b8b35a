import { alertKey, type AlertCondition } from '@backstop/shared'
import type { SelfBackupTarget } from '../config/self-backup-input.ts'

/** The two self-backup alerts of one target, in the one alert-key scheme (docs/reliability.md). */
export function failedCondition(node: string, t: SelfBackupTarget, error: string | null): AlertCondition {
  return {
    key: alertKey('self-backup-failed', node, t.name),
    kind: 'self-backup-failed',
    severity: 'critical',
    node,
    firing: error !== null,
    summary:
      error !== null
        ? `the collector's backup to ${t.name} (${t.dir}) failed: ${error}`
        : `the collector's backup to ${t.name} (${t.dir}) passed its check`,
  }
}

export function overdueCondition(
  node: string,
  t: SelfBackupTarget,
  o: { firing: boolean; lastVerifiedAt: number | null; schedule: string; graceMs: number },
): AlertCondition {
  const since = o.lastVerifiedAt === null ? 'it was configured' : new Date(o.lastVerifiedAt).toISOString()
  return {
    key: alertKey('self-backup-overdue', node, t.name),
    kind: 'self-backup-overdue',
    severity: 'warning',
    node,
    firing: o.firing,
    summary: o.firing
      ? `no verified backup of the collector's database on ${t.name} (${t.dir}) since ${since}; a slot of ` +
        `"${o.schedule}" passed over ${o.graceMs / 60_000} min ago`
      : `the collector's database has a current verified backup on ${t.name}`,
  }
}
