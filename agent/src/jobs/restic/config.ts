import Type, { type Static } from 'typebox'
import {
  BackstopError,
  keepLastOnly,
  MediaType,
  RetentionPolicyInput,
  type MediaType as Media,
  type RetentionPolicy,
  type TimeWindow,
} from '@backstop/shared'
import { commonJobFields, resolveCommon, SiteName, type ResolvedCommonJob } from '../common-config.ts'
import type { SshEndpoint } from '../../remote/ssh.ts'
import { resolveCheckedPolicy } from '../retention.ts'
import { DatasetName } from '../zfs/config.ts'
import { resolveJobWindow } from '../job-window.ts'
import { kibPerSecond } from './bandwidth.ts'

/** Omitted keep counts: the newest 14 snapshots of this job in the repository. */
export const RESTIC_KEEP_DEFAULTS = keepLastOnly(14)

const AbsPath = Type.String({ minLength: 1, maxLength: 4096, pattern: '^/' })

/**
 * `restic`: an encrypted, deduplicated restic repository (sftp, rest, s3 or rclone backend) holding file-level
 * backups of the configured paths (archive outputs, vzdump dumps, REAR tarballs, any directory). Each restic snapshot
 * is a copy with the repository's identity; our GFS engine decides what to keep and applies it with
 * `restic forget <ids>` + `prune`, confirmed by listing; `check --read-data-subset=n/N` rotates through the data.
 */
export const ResticJobConfig = Type.Object(
  {
    kind: Type.Literal('restic'),
    ...commonJobFields,
    /** Live paths; or `source` instead (exactly one of the two). */
    paths: Type.Optional(Type.Array(AbsPath, { minItems: 1, maxItems: 256 })),
    /**
     * A ZFS dataset or a btrfs subvolume backed up from a read-only snapshot the run takes and destroys afterwards,
     * so the restic snapshot is one consistent point in time (docs/restic.md: from a snapshot).
     */
    source: Type.Optional(
      Type.Object(
        {
          zfs: Type.Optional(DatasetName),
          btrfs: Type.Optional(AbsPath),
          /** btrfs: where the temporary snapshot goes (same filesystem as the subvolume; created if missing). */
          snapshotDir: Type.Optional(AbsPath),
          /** `take` (default): a snapshot per run, removed after. `newest` (ZFS): hold and read the newest one. */
          snapshot: Type.Optional(Type.Union([Type.Literal('take'), Type.Literal('newest')])),
        },
        { additionalProperties: false },
      ),
    ),
    exclude: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { maxItems: 256 })),
    repository: Type.Object(
      {
        /**
         * `rest:http(s)://[user:pass@]host:port/path/`, `sftp:user@host:/path`, `s3:https://host/bucket`,
         * `rclone:remote:path`.
         */
        url: Type.String({ minLength: 6, maxLength: 1024, pattern: '^(rest:https?://|sftp:|s3:|rclone:)' }),
        /** Site of the repository's host (offsite when it differs from the node's). */
        site: Type.Optional(SiteName),
        /** Default: `object` for s3, `nas` otherwise. */
        media: Type.Optional(MediaType),
        /** A 0600 file of `KEY=value` lines for restic's environment (AWS_ACCESS_KEY_ID, RCLONE_CONFIG …). */
        envFile: Type.Optional(AbsPath),
        /** sftp: ssh with the host key pinned (`backstop-agent remote pin`); required for `sftp:` URLs. */
        ssh: Type.Optional(
          Type.Object(
            {
              identity: Type.String({ minLength: 2, maxLength: 1024, pattern: '^/[^\\s]*$' }),
              knownHosts: Type.String({ minLength: 2, maxLength: 1024, pattern: '^/[^\\s]*$' }),
              port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
            },
            { additionalProperties: false },
          ),
        ),
      },
      { additionalProperties: false },
    ),
    /** The repository password: a 0600 file, or a systemd credential name read from $CREDENTIALS_DIRECTORY. */
    password: Type.Union([
      Type.Object({ file: AbsPath }, { additionalProperties: false }),
      Type.Object(
        { credential: Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9_.:-]+$' }) },
        { additionalProperties: false },
      ),
    ]),
    /** GFS retention (docs/retention.md); omitted counts default to `keep: { last: 14 }`. */
    retention: Type.Optional(RetentionPolicyInput),
    /** `check --read-data-subset=n/groups` each run, n rotating; 0 = no check (copies unverified). Default 12. */
    checkGroups: Type.Optional(Type.Integer({ minimum: 0, maximum: 10000 })),
    /**
     * `HH:MM-HH:MM` in the job's time zone (may cross midnight): the repository is written only by runs inside it (an
     * offsite link used at night). Every slot of `schedule:` must fall inside; a catch-up or on-demand run outside
     * does nothing and says when the window opens.
     */
    window: Type.Optional(Type.String({ maxLength: 16 })),
    /** Upload and download limit, bytes per second with `K`/`M`/`G` (1024-based, as `pv -L` of the ssh targets). */
    bandwidth: Type.Optional(Type.String({ pattern: '^[0-9]+[KMG]?$', maxLength: 16 })),
  },
  { additionalProperties: false },
)
export type ResticJobInput = Static<typeof ResticJobConfig>

export type ResticBackend = 'rest' | 'sftp' | 's3' | 'rclone'

/** What a snapshot-sourced job backs up: a dataset, or a subvolume with the directory its snapshot goes to. */
export type ResticSource =
  | { readonly kind: 'zfs'; readonly dataset: string; readonly reuseNewest: boolean }
  | { readonly kind: 'btrfs'; readonly subvolume: string; readonly snapshotDir: string }

export interface ResolvedResticJob extends ResolvedCommonJob {
  readonly kind: 'restic'
  /** Live paths; empty when `source` is set. */
  readonly paths: readonly string[]
  readonly source: ResticSource | null
  readonly exclude: readonly string[]
  readonly repository: {
    /** As restic takes it (may hold REST credentials: never logged or reported). */
    readonly url: string
    /** Without credentials: the copies' location target and every message. */
    readonly display: string
    readonly backend: ResticBackend
    readonly site?: string
    readonly media: Media
    readonly envFile?: string
    /** sftp only: the pinned ssh endpoint restic's sftp.command uses. */
    readonly ssh?: SshEndpoint
  }
  readonly password: { readonly file: string } | { readonly credential: string }
  readonly retention: RetentionPolicy
  readonly checkGroups: number
  /** Absent: any run may write the repository. */
  readonly window?: TimeWindow
  /** restic's `--limit-upload` / `--limit-download` (KiB/s); null: unlimited. */
  readonly limitKiBps: number | null
}

/** The URL without `user:password@` (REST basic auth). */
export function displayUrl(url: string): string {
  return url.replace(/^(rest:https?:\/\/)[^/@]*@/, '$1')
}

export function resolveResticJob(input: ResticJobInput, defaultTimezone: string): ResolvedResticJob {
  const where = `jobs.${input.name}`
  const backend = input.repository.url.slice(0, input.repository.url.indexOf(':')) as ResticBackend
  const paths = input.paths ?? []
  if (new Set(paths).size !== paths.length) {
    throw new BackstopError('BK_ERR_CONFIG_INVALID', `${where}.paths: a path is listed twice`)
  }
  const source = resolveSource(input, where)
  const site = input.repository.site ?? input.site
  const common = resolveCommon({ ...input, ...(site !== undefined ? { site } : {}) }, defaultTimezone)
  const window = resolveJobWindow(input.window, common, input.timezone ?? defaultTimezone, where)
  return {
    ...common,
    kind: 'restic',
    paths,
    source,
    exclude: input.exclude ?? [],
    repository: {
      url: input.repository.url,
      display: displayUrl(input.repository.url),
      backend,
      ...(site !== undefined ? { site } : {}),
      media: input.repository.media ?? (backend === 's3' ? 'object' : 'nas'),
      ...(input.repository.envFile !== undefined ? { envFile: input.repository.envFile } : {}),
      ...(backend === 'sftp' ? { ssh: sftpEndpoint(input, where) } : {}),
    },
    password: input.password,
    retention: resolveCheckedPolicy(input.retention, defaultTimezone, `${where}.retention`, RESTIC_KEEP_DEFAULTS),
    checkGroups: input.checkGroups ?? 12,
    ...(window !== undefined ? { window } : {}),
    limitKiBps: input.bandwidth === undefined ? null : kibPerSecond(input.bandwidth),
  }
}

/**
 * Exactly one of `paths` (live files) and `source` (one snapshot): a restic snapshot mixing both would claim a
 * consistent point in time that only part of it has — back the live paths up in a second job.
 */
function resolveSource(input: ResticJobInput, where: string): ResticSource | null {
  const src = input.source
  const invalid = (field: string, why: string): BackstopError =>
    new BackstopError('BK_ERR_CONFIG_INVALID', `${where}.${field}: ${why}`)
  if (src === undefined) {
    if (input.paths === undefined) {
      throw invalid(
        'paths',
        'set `paths:` (live paths) or `source: { zfs: <dataset> }` / `source: { btrfs: <subvolume> }`',
      )
    }
    return null
  }
  if (input.paths !== undefined) {
    throw invalid(
      'source',
      'set either `paths:` or `source:`, not both — a snapshot-sourced backup is one point in time, live paths are ' +
        'not; back them up in a second restic job',
    )
  }
  if ((src.zfs === undefined) === (src.btrfs === undefined)) {
    throw invalid('source', 'name exactly one of `zfs: <dataset>` or `btrfs: <subvolume path>`')
  }
  if (src.zfs !== undefined) {
    if (src.snapshotDir !== undefined) {
      throw invalid('source.snapshotDir', 'only for btrfs: a ZFS snapshot lives in its dataset (remove this key)')
    }
    return { kind: 'zfs', dataset: src.zfs, reuseNewest: src.snapshot === 'newest' }
  }
  if (src.snapshot === 'newest') {
    throw invalid('source.snapshot', '`newest` is implemented for ZFS only: use `take` (the default) for btrfs')
  }
  const subvolume = src.btrfs!.replace(/\/+$/, '')
  if (src.snapshotDir === undefined) {
    throw invalid(
      'source.snapshotDir',
      `btrfs needs a directory for the temporary snapshot on the same filesystem as ${subvolume} ` +
        "(e.g. the btrfs job's snapshotDir)",
    )
  }
  const snapshotDir = src.snapshotDir.replace(/\/+$/, '')
  if (`${subvolume}${snapshotDir}`.includes(',')) {
    // The snapshot's path becomes a restic tag, and restic splits tags at commas.
    throw invalid('source', 'a comma in btrfs or snapshotDir cannot be a restic tag: rename or use another path')
  }
  if (snapshotDir === subvolume || snapshotDir.startsWith(`${subvolume}/`)) {
    throw invalid('source.snapshotDir', `${snapshotDir} is inside ${subvolume}: put it beside the subvolume`)
  }
  return { kind: 'btrfs', subvolume, snapshotDir }
}

/** `sftp:user@host:/path` + `repository.ssh` → the pinned endpoint; without `ssh:` a config error saying so. */
function sftpEndpoint(input: ResticJobInput, where: string): SshEndpoint {
  const url = input.repository.url
  const m = /^sftp:([a-z_][a-z0-9_.-]*)@(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*):\/./.exec(url)
  if (m === null) {
    throw new BackstopError(
      'BK_ERR_CONFIG_INVALID',
      `${where}.repository.url: "${url}" is not sftp:user@host:/absolute/path (set the port in repository.ssh.port)`,
    )
  }
  const ssh = input.repository.ssh
  if (ssh === undefined) {
    throw new BackstopError(
      'BK_ERR_CONFIG_INVALID',
      `${where}.repository.ssh: an sftp repository needs ssh: { identity, knownHosts } — the private key and the ` +
        `host key pinned with \`backstop-agent remote pin ${m[2]}\``,
    )
  }
  return {
    user: m[1]!,
    host: m[2]!.replace(/^\[|\]$/g, ''),
    port: ssh.port ?? 22,
    identity: ssh.identity,
    knownHosts: ssh.knownHosts,
  }
}
