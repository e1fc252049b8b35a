import Type, { type Static } from 'typebox'
import { keepLastOnly, RetentionPolicyInput, type MediaType, type RetentionPolicy } from '@backstop/shared'
import { commonJobFields, copyClassFields, resolveCommon, type ResolvedCommonJob } from '../common-config.ts'
import { resolveCheckedPolicy } from '../retention.ts'

/** Omitted keep counts: the newest 7 verified archives, no calendar classes (what `keepLast` defaulted to). */
export const ARCHIVE_KEEP_DEFAULTS = keepLastOnly(7)

/**
 * `archive`: tar+gzip of configured paths (e.g. /etc/pve, /etc/network) into a destination directory, with a
 * sha256 manifest, verified after writing, pruned by the GFS `retention:` policy (only verified archives count).
 */
export const ArchiveJobConfig = Type.Object(
  {
    kind: Type.Literal('archive'),
    ...commonJobFields,
    paths: Type.Array(Type.String({ minLength: 1, pattern: '^/' }), { minItems: 1, maxItems: 256 }),
    /** Absolute directory the archives are written to; created if missing. */
    destination: Type.String({ minLength: 1, pattern: '^/' }),
    exclude: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { maxItems: 256 })),
    /** GFS retention (docs/retention.md); omitted counts default to `keep: { last: 7 }`, calendar classes 0. */
    retention: Type.Optional(RetentionPolicyInput),
    ...copyClassFields,
  },
  { additionalProperties: false },
)
export type ArchiveJobInput = Static<typeof ArchiveJobConfig>

export interface ResolvedArchiveJob extends ResolvedCommonJob {
  readonly kind: 'archive'
  readonly paths: readonly string[]
  readonly destination: string
  readonly exclude: readonly string[]
  readonly retention: RetentionPolicy
  readonly media: MediaType
  readonly offsite: boolean
  readonly offline: boolean
}

export function resolveArchiveJob(input: ArchiveJobInput, defaultTimezone: string): ResolvedArchiveJob {
  return {
    ...resolveCommon(input, defaultTimezone),
    kind: 'archive',
    paths: input.paths,
    destination: input.destination,
    exclude: input.exclude ?? [],
    retention: resolveCheckedPolicy(
      input.retention,
      defaultTimezone,
      `jobs.${input.name}.retention`,
      ARCHIVE_KEEP_DEFAULTS,
    ),
    media: input.media,
    offsite: input.offsite ?? false,
    offline: input.offline ?? false,
  }
}
