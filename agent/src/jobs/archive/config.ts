import Type, { type Static } from 'typebox'
import type { MediaType } from '@backstop/shared'
import { commonJobFields, copyClassFields, resolveCommon, type ResolvedCommonJob } from '../common-config.ts'

/**
 * `archive`: tar+gzip of configured paths (e.g. /etc/pve, /etc/network) into a destination directory, with a
 * sha256 manifest, verified after writing, keep-last-N.
 */
export const ArchiveJobConfig = Type.Object(
  {
    kind: Type.Literal('archive'),
    ...commonJobFields,
    paths: Type.Array(Type.String({ minLength: 1, pattern: '^/' }), { minItems: 1, maxItems: 256 }),
    /** Absolute directory the archives are written to; created if missing. */
    destination: Type.String({ minLength: 1, pattern: '^/' }),
    exclude: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { maxItems: 256 })),
    /** Archives kept; older ones are deleted only after a newer one verified. Default 7. */
    keepLast: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000 })),
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
  readonly keepLast: number
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
    keepLast: input.keepLast ?? 7,
    media: input.media,
    offsite: input.offsite ?? false,
    offline: input.offline ?? false,
  }
}
