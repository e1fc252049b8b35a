import Type, { type Static } from 'typebox'
import { IsoTimestamp, JobName, ShortText } from './common.ts'
import { AssetRef } from './copy.ts'

/** One job as the node's config declares it. */
export const DeclaredJob = Type.Object(
  {
    name: JobName,
    kind: ShortText,
    /** The cron expression as configured; absent for jobs run only by `once`, commands or hooks (no deadline). */
    schedule: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    /** IANA zone the schedule is evaluated in (the job's `timezone`, else the agent's). */
    timezone: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    /** Assets the job protects: named in its config, or found by the inventory and selected by the job. */
    assets: Type.Array(AssetRef, { maxItems: 10000 }),
    /** Where it writes its copies: `zfs:<pool>` or a path. */
    targets: Type.Array(Type.String({ minLength: 1, maxLength: 1024 }), { maxItems: 100 }),
  },
  { additionalProperties: false },
)

/**
 * Agent → collector: the node's full job list, sent on daemon start (and again when the inventory adds the assets
 * a job selects by probing). The collector expects a backup of every declared asset from the job's first slot, so
 * a job that never runs goes missed on time; a job no longer declared has its expectations retired (audited).
 */
export const JobsDeclaredBody = Type.Object(
  {
    at: IsoTimestamp,
    /** sha256 of the canonical JSON of `jobs`: the same list declared twice is one change. */
    hash: Type.String({ pattern: '^[0-9a-f]{64}$' }),
    jobs: Type.Array(DeclaredJob, { maxItems: 1000 }),
  },
  { additionalProperties: false },
)

export type DeclaredJob = Static<typeof DeclaredJob>
export type JobsDeclaredBody = Static<typeof JobsDeclaredBody>
