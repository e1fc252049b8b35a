import Type, { type Static } from 'typebox'
import { BackstopError, RetentionPolicyInput, type MediaType, type RetentionPolicy } from '@backstop/shared'
import { commonJobFields, copyClassFields, resolveCommon, type ResolvedCommonJob } from '../common-config.ts'
import {
  assertUniqueTargetNames,
  resolveTargetCommon,
  SnapshotPrefix,
  targetFields,
  type ResolvedTargetCommon,
} from '../snapshot-common/config.ts'
import { resolveCheckedPolicy } from '../retention.ts'
import { resolveSshTarget, sshTargetFields, type ResolvedSshTarget } from './ssh-config.ts'

/** `pool/fs/...` — no snapshot (`@`) or bookmark (`#`) part, no leading/trailing slash. */
export const DatasetName = Type.String({
  minLength: 1,
  maxLength: 255,
  pattern: '^[A-Za-z0-9][A-Za-z0-9_.:-]*(/[A-Za-z0-9_.:-]+)*$',
})

/**
 * `zfs`: snapshots of one or many datasets in one `zfs snapshot` call, calendar GFS retention, holds for the
 * replication base and offline copies, `zfs send | zfs receive` replication to other pools.
 */
export const ZfsJobConfig = Type.Object(
  {
    kind: Type.Literal('zfs'),
    ...commonJobFields,
    datasets: Type.Array(
      Type.Union([
        DatasetName,
        Type.Object({ name: DatasetName, recursive: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
      ]),
      { minItems: 1, maxItems: 1024 },
    ),
    /** Marks snapshots as ours: `<prefix>_<UTC timestamp>`. Anything else is never touched. Default `backstop`. */
    prefix: Type.Optional(SnapshotPrefix),
    retention: Type.Optional(RetentionPolicyInput),
    ...copyClassFields,
    targets: Type.Optional(
      Type.Array(
        Type.Object(
          {
            ...targetFields,
            /**
             * Dataset under which replicas are received: `tank/data` → `<dataset>/tank/data`. Its pool may be absent.
             * Exactly one of `dataset` (a pool on this host) and `url` (another host over ssh).
             */
            dataset: Type.Optional(DatasetName),
            ...sshTargetFields,
          },
          { additionalProperties: false },
        ),
        { maxItems: 16 },
      ),
    ),
  },
  { additionalProperties: false },
)
export type ZfsJobInput = Static<typeof ZfsJobConfig>

export interface ZfsDatasetSpec {
  readonly name: string
  readonly recursive: boolean
}

export interface ResolvedZfsTarget extends ResolvedTargetCommon, ResolvedSshTarget {
  /** The receive root on the target host. */
  readonly dataset: string
  /** Whether this job prunes the target: only on this host (a remote receiver prunes itself; its gate refuses). */
  readonly prunes: boolean
}

export interface ResolvedZfsJob extends ResolvedCommonJob {
  readonly kind: 'zfs'
  readonly datasets: readonly ZfsDatasetSpec[]
  readonly prefix: string
  readonly retention: RetentionPolicy
  readonly media: MediaType
  readonly offsite: boolean
  readonly offline: boolean
  readonly targets: readonly ResolvedZfsTarget[]
}

export function resolveZfsJob(input: ZfsJobInput, defaultTimezone: string): ResolvedZfsJob {
  const where = `jobs.${input.name}`
  const retention = resolveCheckedPolicy(input.retention, defaultTimezone, `${where}.retention`)
  const datasets = input.datasets.map((d) =>
    typeof d === 'string' ? { name: d, recursive: false } : { name: d.name, recursive: d.recursive ?? false },
  )
  const names = new Set<string>()
  for (const d of datasets) {
    if (names.has(d.name)) {
      throw new BackstopError('BK_ERR_CONFIG_INVALID', `${where}.datasets: "${d.name}" is listed twice`)
    }
    names.add(d.name)
  }
  const targets = (input.targets ?? []).map((t, i): ResolvedZfsTarget => {
    const at = `${where}.targets[${i}]`
    const remote = resolveSshTarget(t, at)
    if ((t.dataset === undefined) === (remote.ssh === undefined)) {
      throw new BackstopError(
        'BK_ERR_CONFIG_INVALID',
        `${at}: give exactly one of dataset: (a pool on this host) and url: ssh://user@host[:port]/pool/path`,
      )
    }
    const dataset = t.dataset ?? remote.dataset!
    const pool = dataset.split('/')[0]
    if (
      remote.ssh === undefined &&
      datasets.some((d) => d.name.split('/')[0] === pool && (dataset === d.name || dataset.startsWith(`${d.name}/`)))
    ) {
      throw new BackstopError(
        'BK_ERR_CONFIG_INVALID',
        `${at}.dataset: "${dataset}" lies inside a snapshotted dataset; receive into a dataset outside the ` +
          `job's datasets`,
      )
    }
    if (remote.ssh !== undefined && t.retention !== undefined) {
      throw new BackstopError(
        'BK_ERR_CONFIG_INVALID',
        `${at}.retention: a target over ssh is pruned by the receiving host with its own policy (its gate refuses ` +
          '`zfs destroy` from this node, so a compromised node cannot delete replicas) — remove retention here and ' +
          'prune there, or use a zfs-pull job on the receiver',
      )
    }
    return {
      ...resolveTargetCommon(t, retention, defaultTimezone, at),
      ...remote.resolved,
      dataset,
      prunes: remote.ssh === undefined,
    }
  })
  assertUniqueTargetNames(targets, where)
  return {
    ...resolveCommon(input, defaultTimezone),
    kind: 'zfs',
    datasets,
    prefix: input.prefix ?? 'backstop',
    retention,
    media: input.media,
    offsite: input.offsite ?? false,
    offline: input.offline ?? false,
    targets,
  }
}
