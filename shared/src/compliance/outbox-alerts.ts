import type { Static } from 'typebox'
import type { OutboxRetentionBody } from '../schemas/checkpoint.ts'
import { alertKey, type AlertCondition } from './alert-flips.ts'

type Retention = Static<typeof OutboxRetentionBody>

/**
 * The two per-node alerts of an agent's `outbox.retention` report (docs/reliability.md "Outbox retention"):
 * `outbox-backlog` while the outbox keeps more than its threshold because no collector backup covers its events,
 * `outbox-uncovered` while events were released that no verified backup holds (critical when they are known lost).
 * Both conditions are always returned, so a report that clears one resolves it.
 */
export function outboxRetentionConditions(node: string, r: Retention): AlertCondition[] {
  const kept = `${r.keptEvents} acknowledged event(s), ${r.keptBytes} bytes`
  const since = r.oldestKeptAt ? `, oldest from ${r.oldestKeptAt}` : ''
  const uncovered = r.uncoveredThrough > r.checkpointSeq
  const lost = r.lost
  return [
    {
      key: alertKey('outbox-backlog', node),
      kind: 'outbox-backlog',
      severity: 'warning',
      node,
      firing: r.state === 'backlog',
      summary:
        `the outbox of ${node} keeps ${kept}${since} because no verified collector backup covers them past seq ` +
        `${r.checkpointSeq} (alert after ${r.limits.alertAfterHours} h; released anyway after ` +
        `${r.limits.maxAgeHours} h or ${r.limits.maxBytes} bytes): check the collector's self-backup`,
    },
    {
      key: alertKey('outbox-uncovered', node),
      kind: 'outbox-uncovered',
      severity: lost ? 'critical' : 'warning',
      node,
      firing: uncovered || lost !== undefined,
      summary: lost
        ? `events seq ${lost.fromSeq}..${lost.toSeq} of ${node} were released from its outbox, but the collector ` +
          'came back from a backup that does not hold them: they are lost from the collector'
        : `events up to seq ${r.uncoveredThrough} of ${node} were released from its outbox before a verified ` +
          `collector backup covered them (newest covers seq ${r.checkpointSeq}); losing the collector's disk now ` +
          'would lose them',
    },
  ]
}
