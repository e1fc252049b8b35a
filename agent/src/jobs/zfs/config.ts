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

/** `pool/fs/...` — no snapshot (`@`) or bookmark (`#`) part, no leading/trailing slash. */
const DatasetName = Type.String({
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
             */
            dataset: DatasetName,
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

export interface ResolvedZfsTarget extends ResolvedTargetCommon {
  readonly dataset: string
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
  const targets = (input.targets ?? []).map((t, i) => {
    const pool = t.dataset.split('/')[0]
    if (
      datasets.some(
        (d) => d.name.split('/')[0] === pool && (t.dataset === d.name || t.dataset.startsWith(`${d.name}/`)),
      )
    ) {
      throw new BackstopError(
        'BK_ERR_CONFIG_INVALID',
        `${where}.targets[${i}].dataset: "${t.dataset}" lies inside a snapshotted dataset; receive into a dataset outside the job's datasets`,
      )
    }
    return { ...resolveTargetCommon(t, retention, defaultTimezone, `${where}.targets[${i}]`), dataset: t.dataset }
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
