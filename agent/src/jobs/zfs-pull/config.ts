import Type, { type Static } from 'typebox'
import {
  BackstopError,
  NodeId,
  RetentionPolicyInput,
  type MediaType,
  type RetentionPolicy,
  type TimeWindow,
} from '@backstop/shared'
import { commonJobFields, resolveCommon, type ResolvedCommonJob } from '../common-config.ts'
import { resolveJobWindow } from '../job-window.ts'
import { resolveCheckedPolicy } from '../retention.ts'
import { SnapshotPrefix } from '../snapshot-common/config.ts'
import { DatasetName, type ZfsDatasetSpec } from '../zfs/config.ts'
import { resolveSshTarget, sshTargetFields, type ResolvedSshTarget } from '../zfs/ssh-config.ts'

/**
 * `zfs-pull`: this host (the receiver, e.g. a NAS) pulls the snapshots another node's `zfs` job takes, over ssh,
 * and prunes its replicas with its own policy. The source node has no login here, so a compromised source cannot
 * delete or roll back what this host holds (zrepl's pull mode; zrepl#224). The source's gate lets this key run
 * only `zfs send` of the listed datasets, their listing and holds.
 */
export const ZfsPullJobConfig = Type.Object(
  {
    kind: Type.Literal('zfs-pull'),
    ...commonJobFields,
    source: Type.Object(
      {
        /** `ssh://user@host[:port]/` — the node whose datasets are pulled (the path part is ignored). */
        url: Type.String({ minLength: 8, maxLength: 512, pattern: '^ssh://' }),
        /**
         * The source's Backstop node name (its `node:`): the replicas are reported as copies of that node's
         * datasets, so they count in its 3-2-1-1-0 verdict (held by this node).
         */
        node: NodeId,
        identity: sshTargetFields.identity,
        knownHosts: sshTargetFields.knownHosts,
      },
      { additionalProperties: false },
    ),
    /** Datasets on the source, as its `zfs` job names them. */
    datasets: Type.Array(
      Type.Union([
        DatasetName,
        Type.Object({ name: DatasetName, recursive: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
      ]),
      { minItems: 1, maxItems: 1024 },
    ),
    /** Receive root on this host: source `tank/data` lands at `<dataset>/tank/data`. */
    dataset: DatasetName,
    /** The source job's snapshot prefix: only its snapshots are pulled. Default `backstop`. */
    prefix: Type.Optional(SnapshotPrefix),
    /** This host's policy for the replicas (the source's policy does not apply here). */
    retention: Type.Optional(RetentionPolicyInput),
    media: Type.Union([Type.Literal('nas'), Type.Literal('hdd'), Type.Literal('ssd'), Type.Literal('nvme')]),
    offsite: Type.Optional(Type.Boolean()),
    bandwidth: sshTargetFields.bandwidth,
    /**
     * `HH:MM-HH:MM` in the job's time zone: only runs inside it pull (a WAN link used at night). Every `schedule:` slot
     * must fall inside; a catch-up or on-demand run outside pulls nothing, prunes nothing and says when it opens.
     */
    window: Type.Optional(Type.String({ maxLength: 16 })),
    compress: sshTargetFields.compress,
    raw: sshTargetFields.raw,
  },
  { additionalProperties: false },
)
export type ZfsPullJobInput = Static<typeof ZfsPullJobConfig>

export interface ResolvedZfsPullJob extends ResolvedCommonJob, ResolvedSshTarget {
  readonly kind: 'zfs-pull'
  /** The source's node name: whose assets the replicas are. */
  readonly sourceNode: string
  readonly datasets: readonly ZfsDatasetSpec[]
  readonly dataset: string
  readonly prefix: string
  readonly retention: RetentionPolicy
  readonly media: MediaType
  readonly offsite: boolean
  /** Absent: any run may pull. */
  readonly window?: TimeWindow
}

export function resolveZfsPullJob(input: ZfsPullJobInput, defaultTimezone: string): ResolvedZfsPullJob {
  const where = `jobs.${input.name}`
  // Only user, host and port matter for a source; the URL parser wants a dataset path, so one is supplied.
  const url = `${/^ssh:\/\/[^/]+/.exec(input.source.url)?.[0] ?? input.source.url}/source`
  const remote = resolveSshTarget(
    { ...input.source, url, bandwidth: input.bandwidth, compress: input.compress, raw: input.raw },
    `${where}.source`,
  )
  const datasets = input.datasets.map((d) =>
    typeof d === 'string' ? { name: d, recursive: false } : { name: d.name, recursive: d.recursive ?? false },
  )
  if (new Set(datasets.map((d) => d.name)).size !== datasets.length) {
    throw new BackstopError('BK_ERR_CONFIG_INVALID', `${where}.datasets: a dataset is listed twice`)
  }
  const common = resolveCommon(input, defaultTimezone)
  const window = resolveJobWindow(input.window, common, input.timezone ?? defaultTimezone, where)
  return {
    ...common,
    ...remote.resolved,
    kind: 'zfs-pull',
    sourceNode: input.source.node,
    datasets,
    dataset: input.dataset,
    prefix: input.prefix ?? 'backstop',
    retention: resolveCheckedPolicy(input.retention, defaultTimezone, `${where}.retention`),
    media: input.media,
    offsite: input.offsite ?? false,
    ...(window !== undefined ? { window } : {}),
  }
}
