import Type, { type Static } from 'typebox'
import { BackstopError, type MediaType, RetentionPolicyInput, type RetentionPolicy } from '@backstop/shared'
import { commonJobFields, copyClassFields, resolveCommon, type ResolvedCommonJob } from '../common-config.ts'
import { resolveCheckedPolicy } from '../retention.ts'

/**
 * `vzdump`: back up Proxmox guests with vzdump and report each archive / PBS snapshot as a copy.
 * Exactly one selection (`guests`, `all`, `pool`) and one target (`storage`, `dumpdir`).
 * Retention: vzdump always runs with `--remove 0`, so PVE's storage retention never deletes behind the agent's
 * back; with `retention:` the agent applies the calendar GFS policy to the archive files (only archives it hashed
 * count), reporting each deletion with its rule; without it the agent deletes nothing. PBS storages are pruned by
 * PBS prune jobs. The old `pruneBackups:` key is migrated by the loader (config/legacy-retention.ts).
 */
export const VzdumpJobConfig = Type.Object(
  {
    kind: Type.Literal('vzdump'),
    ...commonJobFields,
    guests: Type.Optional(
      Type.Array(Type.Integer({ minimum: 100, maximum: 999999999 }), { minItems: 1, maxItems: 1000 }),
    ),
    all: Type.Optional(Type.Boolean()),
    exclude: Type.Optional(Type.Array(Type.Integer({ minimum: 100 }), { maxItems: 1000 })),
    pool: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    mode: Type.Optional(Type.Enum(['snapshot', 'suspend', 'stop'])),
    compress: Type.Optional(Type.Enum(['zstd', 'gzip', 'lzo', '0'])),
    /** zstd threads (`--zstd`); 0 = half of the cores. */
    zstdThreads: Type.Optional(Type.Integer({ minimum: 0, maximum: 256 })),
    /** A PVE storage id (`--storage`). */
    storage: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    /** Where that storage keeps dumps (e.g. /var/lib/vz/dump), for checksums and retention; default: from the log. */
    storagePath: Type.Optional(Type.String({ minLength: 1, pattern: '^/' })),
    /** A plain directory (`--dumpdir`) instead of a storage. */
    dumpdir: Type.Optional(Type.String({ minLength: 1, pattern: '^/' })),
    /** `--notes-template`, e.g. "{{guestname}} on {{node}}"; needs `storage`. */
    notesTemplate: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
    /** `--bwlimit` in KiB/s. */
    bwlimitKiB: Type.Optional(Type.Integer({ minimum: 1 })),
    retention: Type.Optional(RetentionPolicyInput),
    /** IANA zone of the node's clock, in which vzdump names archives. Default: the system zone. */
    nodeTimezone: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    /** The PVE node name (guests on other cluster nodes are not ours). Default: the short hostname. */
    pveNode: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    ...copyClassFields,
    /** PBS storages with a verify job, or storages on immutable media. Default false. */
    immutable: Type.Optional(Type.Boolean()),
    /**
     * Report the backups Proxmox runs itself (vzdump.conf `script:` → `backstop-agent vzdump-hook`) under this
     * job's name and copy classification. At most one vzdump job per node may set it. Default false.
     */
    hookReports: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
)
export type VzdumpJobInput = Static<typeof VzdumpJobConfig>

export interface ResolvedVzdumpJob extends ResolvedCommonJob {
  readonly kind: 'vzdump'
  readonly selection:
    | { readonly vmids: readonly number[] }
    | { readonly all: true; readonly exclude: readonly number[] }
    | { readonly pool: string }
  readonly mode: 'snapshot' | 'suspend' | 'stop'
  readonly compress: 'zstd' | 'gzip' | 'lzo' | '0'
  readonly zstdThreads: number | undefined
  readonly target: { readonly storage: string; readonly path: string | null } | { readonly dumpdir: string }
  readonly notesTemplate: string | undefined
  readonly bwlimitKiB: number | undefined
  readonly retention: RetentionPolicy | null
  readonly nodeTimezone: string
  readonly pveNode: string | null
  readonly media: MediaType
  readonly offsite: boolean
  readonly offline: boolean
  readonly immutable: boolean
  readonly hookReports: boolean
}

function invalid(job: string, field: string, msg: string): never {
  throw new BackstopError('BK_ERR_CONFIG_INVALID', `job "${job}": ${field}: ${msg}`)
}

export function resolveVzdumpJob(input: VzdumpJobInput, defaultTimezone: string): ResolvedVzdumpJob {
  const n = input.name
  const selections = [input.guests !== undefined, input.all === true, input.pool !== undefined].filter(Boolean).length
  if (selections !== 1) {
    invalid(
      n,
      'guests/all/pool',
      'set exactly one of `guests: [101, …]`, `all: true` (with optional `exclude`) or `pool: <name>`',
    )
  }
  if (input.exclude !== undefined && input.all !== true) {
    invalid(n, 'exclude', 'only applies with `all: true`')
  }
  if ((input.storage === undefined) === (input.dumpdir === undefined)) {
    invalid(n, 'storage/dumpdir', 'set exactly one: `storage: <PVE storage id>` or `dumpdir: /path`')
  }
  if (input.notesTemplate !== undefined && input.storage === undefined) {
    invalid(n, 'notesTemplate', 'vzdump accepts --notes-template only together with --storage')
  }
  const retention =
    input.retention === undefined
      ? null
      : resolveCheckedPolicy(input.retention, input.nodeTimezone ?? defaultTimezone, `jobs.${n}.retention`)
  return {
    ...resolveCommon(input, defaultTimezone),
    kind: 'vzdump',
    selection:
      input.guests !== undefined
        ? { vmids: input.guests }
        : input.all === true
          ? { all: true, exclude: input.exclude ?? [] }
          : { pool: input.pool as string },
    mode: input.mode ?? 'snapshot',
    compress: input.compress ?? 'zstd',
    zstdThreads: input.zstdThreads,
    target:
      input.storage !== undefined
        ? { storage: input.storage, path: input.storagePath ?? null }
        : { dumpdir: input.dumpdir as string },
    notesTemplate: input.notesTemplate,
    bwlimitKiB: input.bwlimitKiB,
    retention,
    nodeTimezone: input.nodeTimezone ?? Intl.DateTimeFormat().resolvedOptions().timeZone,
    pveNode: input.pveNode ?? null,
    media: input.media,
    offsite: input.offsite ?? false,
    offline: input.offline ?? false,
    immutable: input.immutable ?? false,
    hookReports: input.hookReports ?? false,
  }
}
