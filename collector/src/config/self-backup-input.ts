import { hostname } from 'node:os'
import Type, { type Static } from 'typebox'
import {
  mediaTypes,
  resolveRetentionPolicy,
  retentionPolicyIssues,
  RetentionPolicyInput,
  validateSchedule,
  isBackstopError,
  type MediaType,
  type RetentionKeep,
  type RetentionPolicy,
} from '@backstop/shared'

const SiteName = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9 _.:-]*$' })
const TargetName = Type.String({ minLength: 1, maxLength: 63, pattern: '^[a-z0-9][a-z0-9_.-]*$' })

/** `selfBackup:` of the collector YAML (docs/reliability.md "Collector self-backup"); absent = no self-backup. */
export const SelfBackupInput = Type.Object(
  {
    /** Cron in `timezone`: 5 fields, or 6 with seconds first. Default "7 * * * *" (hourly, at minute 7). */
    schedule: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    /** IANA zone of `schedule` and of the GFS calendar. Default UTC. */
    timezone: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    /** Where the collector host is: targets at another site are offsite. Default "default" (as agents). */
    site: Type.Optional(SiteName),
    /** The collector's node id in its own ledger. Default "collector-<hostname>". */
    node: Type.Optional(Type.String({ minLength: 1, maxLength: 63, pattern: '^[a-z0-9][a-z0-9_.-]*$' })),
    /** Directories the backups are written to, each checked and pruned on its own. */
    targets: Type.Array(
      Type.Object(
        {
          dir: Type.String({ minLength: 2, maxLength: 1024, pattern: '^/' }),
          /** In alert keys and the API. Default "target-<n>" (1-based position). */
          name: Type.Optional(TargetName),
          /** The site of this directory (a mount of a disk kept elsewhere). Default: `selfBackup.site`. */
          site: Type.Optional(SiteName),
          /** Refines the probed media (e.g. "object" for an NFS mount of an object gateway). */
          media: Type.Optional(Type.Union(mediaTypes.map((m) => Type.Literal(m)))),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 16 },
    ),
    /** GFS keep of backup files per target (the agents' retention engine). */
    retention: Type.Optional(RetentionPolicyInput),
    /** A target without a verified backup for this long past a missed slot raises self-backup-overdue. Default 60. */
    overdueGraceMinutes: Type.Optional(Type.Integer({ minimum: 1, maximum: 7 * 24 * 60 })),
  },
  { additionalProperties: false },
)
export type SelfBackupInput = Static<typeof SelfBackupInput>

export interface SelfBackupTarget {
  readonly name: string
  readonly dir: string
  readonly site: string
  readonly media: MediaType | undefined
}

export interface ResolvedSelfBackup {
  readonly schedule: string
  readonly timezone: string
  readonly site: string
  readonly node: string
  readonly targets: readonly SelfBackupTarget[]
  readonly retention: RetentionPolicy
  readonly overdueGraceMs: number
}

/** Hourly backups for a day, then dailies, weeklies and monthlies: a year back at ~50 files per target. */
export const SELF_BACKUP_KEEP: RetentionKeep = { last: 24, hourly: 0, daily: 14, weekly: 8, monthly: 12, yearly: 0 }

/** Node ids are lower case `[a-z0-9_.-]`; a host name may hold anything else. */
export function defaultCollectorNode(host = hostname()): string {
  const cleaned = host
    .toLowerCase()
    .replace(/[^a-z0-9_.-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
  return `collector-${cleaned || 'host'}`.slice(0, 63)
}

/**
 * Defaults resolved once; `report(path, message)` collects what the schema cannot say (cron, zone, keep counts,
 * duplicate names or directories), so configcheck lists every problem with its line.
 */
export function resolveSelfBackup(
  input: SelfBackupInput | undefined,
  dataDir: string,
  report: (path: (string | number)[], message: string) => void,
): ResolvedSelfBackup | undefined {
  if (input === undefined) {
    return undefined
  }
  const timezone = input.timezone ?? 'UTC'
  const schedule = input.schedule ?? '7 * * * *'
  try {
    validateSchedule({ cron: schedule, timezone })
  } catch (e) {
    report(
      ['selfBackup', input.schedule !== undefined ? 'schedule' : 'timezone'],
      isBackstopError(e) ? (e.detail ?? e.message) : String(e),
    )
  }
  const retention = resolveRetentionPolicy(input.retention, timezone, SELF_BACKUP_KEEP)
  for (const i of retentionPolicyIssues(retention)) {
    report(['selfBackup', 'retention', ...i.path], i.message)
  }
  const site = input.site ?? 'default'
  const names = new Set<string>()
  const dirs = new Set<string>()
  const targets = input.targets.map((t, n) => {
    const name = t.name ?? `target-${n + 1}`
    const dir = t.dir.replace(/\/+$/, '') || '/'
    if (names.has(name)) {
      report(['selfBackup', 'targets', n, 'name'], `"${name}" names two targets; give each target its own name`)
    }
    if (dirs.has(dir)) {
      report(['selfBackup', 'targets', n, 'dir'], `${dir} is listed twice; each target needs its own directory`)
    }
    if (dir === dataDir || dir.startsWith(`${dataDir}/`)) {
      report(
        ['selfBackup', 'targets', n, 'dir'],
        `${dir} is inside dataDir ${dataDir}: losing that disk would lose the backups too; use a directory on ` +
          'another disk (a mount of a second disk, a NAS share)',
      )
    }
    names.add(name)
    dirs.add(dir)
    return { name, dir, site: t.site ?? site, media: t.media }
  })
  return {
    schedule,
    timezone,
    site,
    node: input.node ?? defaultCollectorNode(),
    targets,
    retention,
    overdueGraceMs: (input.overdueGraceMinutes ?? 60) * 60_000,
  }
}
