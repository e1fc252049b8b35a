import Type, { type Static } from 'typebox'
import { RetentionPolicyInput, type RetentionPolicy } from '@backstop/shared'
import { commonJobFields, resolveCommon, type ResolvedCommonJob } from '../common-config.ts'
import { resolveCheckedPolicy } from '../retention.ts'
import { SnapshotPrefix } from '../snapshot-common/config.ts'
import { DatasetName } from '../zfs/config.ts'

/**
 * `zfs-replicas`: this host's own policy for the replicas other nodes push here. A pushing sender never prunes
 * the receiver (its gate refuses `zfs destroy`, so a compromised sender cannot delete replicas); without this
 * job the replicas under a receive root would only ever grow.
 */
export const ZfsReplicasJobConfig = Type.Object(
  {
    kind: Type.Literal('zfs-replicas'),
    ...commonJobFields,
    /** The receive root the senders' targets name (`url: ssh://…/<dataset>`), e.g. `tank/replicas`. */
    dataset: DatasetName,
    /** The sending jobs' snapshot prefix: nothing else is ever destroyed. Default `backstop`. */
    prefix: Type.Optional(SnapshotPrefix),
    /** This host's policy for every replica below `dataset`; the senders' policies do not apply here. */
    retention: Type.Optional(RetentionPolicyInput),
  },
  { additionalProperties: false },
)
export type ZfsReplicasJobInput = Static<typeof ZfsReplicasJobConfig>

export interface ResolvedZfsReplicasJob extends ResolvedCommonJob {
  readonly kind: 'zfs-replicas'
  readonly dataset: string
  readonly prefix: string
  readonly retention: RetentionPolicy
}

export function resolveZfsReplicasJob(input: ZfsReplicasJobInput, defaultTimezone: string): ResolvedZfsReplicasJob {
  return {
    ...resolveCommon(input, defaultTimezone),
    kind: 'zfs-replicas',
    dataset: input.dataset,
    prefix: input.prefix ?? 'backstop',
    retention: resolveCheckedPolicy(input.retention, defaultTimezone, `jobs.${input.name}.retention`),
  }
}
