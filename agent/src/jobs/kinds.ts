import type { TSchema } from 'typebox'
import { ArchiveJobConfig, resolveArchiveJob, type ResolvedArchiveJob } from './archive/config.ts'
import { BtrfsJobConfig, resolveBtrfsJob, type ResolvedBtrfsJob } from './btrfs/config.ts'
import { resolveZfsJob, ZfsJobConfig, type ResolvedZfsJob } from './zfs/config.ts'
import { resolveVzdumpJob, VzdumpJobConfig, type ResolvedVzdumpJob } from './vzdump/config.ts'
import { RearJobConfig, resolveRearJob, type ResolvedRearJob } from './rear/config.ts'

/**
 * Job kinds as a tagged union on `kind` (zrepl's `type:`). Config validation picks the schema by `kind`
 * first, so an error names the field of *that* kind instead of listing every branch of a union.
 * Adding a kind: add its config here, its `Resolved…` type to `ResolvedJob`, and a case in build-jobs.ts.
 */
export const jobKinds = {
  archive: { schema: ArchiveJobConfig, resolve: resolveArchiveJob },
  zfs: { schema: ZfsJobConfig, resolve: resolveZfsJob },
  btrfs: { schema: BtrfsJobConfig, resolve: resolveBtrfsJob },
  vzdump: { schema: VzdumpJobConfig, resolve: resolveVzdumpJob },
  rear: { schema: RearJobConfig, resolve: resolveRearJob },
} as const satisfies Record<
  string,
  { schema: TSchema; resolve: (input: never, defaultTimezone: string) => { kind: string } }
>

export type JobKind = keyof typeof jobKinds
export type ResolvedJob = ResolvedArchiveJob | ResolvedZfsJob | ResolvedBtrfsJob | ResolvedVzdumpJob | ResolvedRearJob

export const jobKindNames = Object.keys(jobKinds) as JobKind[]
