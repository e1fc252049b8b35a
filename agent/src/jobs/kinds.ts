import type { Static, TSchema } from 'typebox'
import type { BackupTarget } from './backup-target.ts'
import { createArchiveJob } from './archive/archive-job.ts'
import { ArchiveJobConfig, resolveArchiveJob } from './archive/config.ts'
import { BtrfsSnapshotJob } from './btrfs/btrfs-job.ts'
import { BtrfsJobConfig, resolveBtrfsJob } from './btrfs/config.ts'
import { BtrfsReplicasJobConfig, resolveBtrfsReplicasJob } from './btrfs-replicas/config.ts'
import { createBtrfsReplicasJob } from './btrfs-replicas/replicas-job.ts'
import type { ResolvedCommonJob } from './common-config.ts'
import type { KindJob } from './job.ts'
import { RearJobConfig, resolveRearJob } from './rear/config.ts'
import { resolveResticJob, ResticJobConfig } from './restic/config.ts'
import { createResticJob } from './restic/restic-job.ts'
import { createRearJob } from './rear/rear-job.ts'
import { resolveVzdumpJob, VzdumpJobConfig } from './vzdump/config.ts'
import { createVzdumpJob } from './vzdump/vzdump-job.ts'
import { resolveZfsJob, ZfsJobConfig } from './zfs/config.ts'
import { poolOf } from './zfs/health.ts'
import { ZfsSnapshotJob } from './zfs/zfs-job.ts'
import { resolveZfsPullJob, ZfsPullJobConfig } from './zfs-pull/config.ts'
import { createZfsPullJob } from './zfs-pull/pull-job.ts'
import { resolveZfsReplicasJob, ZfsReplicasJobConfig } from './zfs-replicas/config.ts'
import { createZfsReplicasJob } from './zfs-replicas/replicas-job.ts'

/**
 * The job-kind table: one line per kind (zrepl's `type:` + build_jobs.go). Config validation picks the schema by
 * `kind` first, so an error names the field of *that* kind instead of listing every branch of a union.
 * `ResolvedJob`, the factory (`buildJob`) and the fill-forecast targets are all derived from this table, so a kind
 * missing its schema, resolver, factory, plan/inventory/copy checks or targets does not compile.
 */
export interface JobKindSpec<S extends TSchema, R extends ResolvedCommonJob & { readonly kind: string }> {
  readonly schema: S
  /** Defaults and semantic checks; throws BK_ERR_CONFIG_INVALID naming the field (the loader adds file:line). */
  readonly resolve: (input: Static<S>, defaultTimezone: string) => R
  readonly create: (cfg: R) => KindJob
  /** Where the kind writes, for fill forecasts (health/backup-targets.ts); [] when there is nothing to sample. */
  readonly targets: (cfg: R) => BackupTarget[]
}

const spec = <S extends TSchema, R extends ResolvedCommonJob & { readonly kind: string }>(
  s: JobKindSpec<S, R>,
): JobKindSpec<S, R> => s

export const jobKinds = {
  archive: spec({
    schema: ArchiveJobConfig,
    resolve: resolveArchiveJob,
    create: createArchiveJob,
    targets: (c) => [{ path: c.destination }],
  }),
  zfs: spec({
    schema: ZfsJobConfig,
    resolve: resolveZfsJob,
    create: (c) => new ZfsSnapshotJob(c),
    // A pool's fill is what runs out, whichever dataset the job names.
    // Remote targets are another host's pools: nothing to sample here.
    targets: (c) =>
      [...c.datasets, ...c.targets.filter((t) => t.ssh === undefined).map((t) => ({ name: t.dataset }))].map((d) => ({
        zfs: poolOf(d.name),
      })),
  }),
  'zfs-pull': spec({
    schema: ZfsPullJobConfig,
    resolve: resolveZfsPullJob,
    create: createZfsPullJob,
    targets: (c) => [{ zfs: poolOf(c.dataset) }],
  }),
  'zfs-replicas': spec({
    schema: ZfsReplicasJobConfig,
    resolve: resolveZfsReplicasJob,
    create: createZfsReplicasJob,
    // The pool the senders fill: what runs out first on a receiving host.
    targets: (c) => [{ zfs: poolOf(c.dataset) }],
  }),
  btrfs: spec({
    schema: BtrfsJobConfig,
    resolve: resolveBtrfsJob,
    create: (c) => new BtrfsSnapshotJob(c),
    // A target over ssh is a path on another host: nothing to forecast here.
    targets: (c) => [
      { path: c.snapshotDir },
      ...c.targets.filter((t) => t.ssh === null).map((t) => ({ path: t.path })),
    ],
  }),
  'btrfs-replicas': spec({
    schema: BtrfsReplicasJobConfig,
    resolve: resolveBtrfsReplicasJob,
    create: createBtrfsReplicasJob,
    // The filesystem the senders fill.
    targets: (c) => [{ path: c.path }],
  }),
  vzdump: spec({
    schema: VzdumpJobConfig,
    resolve: resolveVzdumpJob,
    create: createVzdumpJob,
    targets: (c) =>
      'dumpdir' in c.target ? [{ path: c.target.dumpdir }] : c.target.path !== null ? [{ path: c.target.path }] : [],
  }),
  rear: spec({
    schema: RearJobConfig,
    resolve: resolveRearJob,
    create: createRearJob,
    // The stick is mounted only while a run writes to it: there is no fill level to sample between runs.
    targets: () => [],
  }),
  restic: spec({
    schema: ResticJobConfig,
    resolve: resolveResticJob,
    create: (c) => createResticJob(c),
    // The repository is another host's storage (or an object store): nothing to sample here.
    targets: () => [],
  }),
}

export type JobKind = keyof typeof jobKinds
export type ResolvedOf<K extends JobKind> = ReturnType<(typeof jobKinds)[K]['resolve']>
export type ResolvedJob = { [K in JobKind]: ResolvedOf<K> }[JobKind]

export const jobKindNames = Object.keys(jobKinds) as JobKind[]

// Compile-time check: each table key is the `kind` its resolver returns (`kindOps` relies on it).
type Mismatched = { [K in JobKind]: ResolvedOf<K>['kind'] extends K ? never : K }[JobKind]
const keysMatchKinds: [Mismatched] extends [never] ? true : Mismatched = true

/**
 * The table seen per kind with that kind's own config type, so a factory is called with its own config without a
 * cast on the config (TypeScript's correlated-union pattern, microsoft/TypeScript#47109). Used by build-jobs.ts and
 * health/backup-targets.ts.
 */
export type KindOps = {
  [K in JobKind]: { create(cfg: ResolvedOf<K>): KindJob; targets(cfg: ResolvedOf<K>): BackupTarget[] }
}
export const kindOps: KindOps = keysMatchKinds && jobKinds
