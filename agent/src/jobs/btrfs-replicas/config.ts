import Type, { type Static } from 'typebox'
import { RetentionPolicyInput, type RetentionPolicy } from '@backstop/shared'
import { commonJobFields, resolveCommon, type ResolvedCommonJob } from '../common-config.ts'
import { AbsPath } from '../btrfs/config.ts'
import { resolveCheckedPolicy } from '../retention.ts'
import { SnapshotPrefix } from '../snapshot-common/config.ts'

/**
 * `btrfs-replicas`: this host's own policy for the read-only snapshots other nodes push into a directory here
 * (`btrfs receive`). The senders never delete here (their gate refuses it); without this job the directory only
 * grows.
 */
export const BtrfsReplicasJobConfig = Type.Object(
  {
    kind: Type.Literal('btrfs-replicas'),
    ...commonJobFields,
    /** The receiving directory the senders' targets name (`url: ssh://…/<dir>`), on a mounted btrfs. */
    path: AbsPath,
    /** The sending jobs' snapshot prefix: nothing else is ever deleted. Default `backstop`. */
    prefix: Type.Optional(SnapshotPrefix),
    /** This host's policy for every replica in `path`; the senders' policies do not apply here. */
    retention: Type.Optional(RetentionPolicyInput),
  },
  { additionalProperties: false },
)
export type BtrfsReplicasJobInput = Static<typeof BtrfsReplicasJobConfig>

export interface ResolvedBtrfsReplicasJob extends ResolvedCommonJob {
  readonly kind: 'btrfs-replicas'
  readonly path: string
  readonly prefix: string
  readonly retention: RetentionPolicy
}

export function resolveBtrfsReplicasJob(
  input: BtrfsReplicasJobInput,
  defaultTimezone: string,
): ResolvedBtrfsReplicasJob {
  return {
    ...resolveCommon(input, defaultTimezone),
    kind: 'btrfs-replicas',
    path: input.path,
    prefix: input.prefix ?? 'backstop',
    retention: resolveCheckedPolicy(input.retention, defaultTimezone, `jobs.${input.name}.retention`),
  }
}
