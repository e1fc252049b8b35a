import type { RetentionKeep } from '@backstop/shared'

/**
 * The retention keys of older configs (archive `keepLast`, rear `keepRuns`, vzdump `pruneBackups`), from before
 * every kind used the GFS `retention:` block. The loader maps each one to the `retention:` it means and warns at
 * its line (configcheck prints it, the daemon logs it), so an upgraded agent keeps its backups and pruning exactly
 * as before; a value that cannot be mapped, or an old key next to `retention:`, is refused. docs/retention.md
 * ("Old retention keys") has the table.
 */
export type LegacyReport = (key: string, message: string, fatal: boolean) => void

type KeepInput = Partial<RetentionKeep>
/** The `retention.keep` an old value means; null = no retention (the agent deletes nothing); string = refused. */
type Mapping = (value: unknown) => KeepInput | null | string

const positiveCount =
  (max: number): Mapping =>
  (v) =>
    Number.isInteger(v) && (v as number) >= 1 && (v as number) <= max
      ? { last: v as number }
      : `must be a whole number from 1 to ${max}`

/** vzdump `--prune-backups` classes (vzdump.conf(5)) → the GFS classes of the same name. */
const PVE_CLASSES = ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const

/**
 * PVE's `keep-last=3,keep-daily=7` as a GFS keep. PVE leaves an unlisted class at 0 (our defaults are not 0), so
 * every class is written out; `keep-all=1` keeps everything, which is what no `retention:` means for vzdump.
 */
export function pruneBackupsToKeep(v: unknown): KeepInput | null | string {
  const fix = 'use e.g. "keep-last=3,keep-daily=7" (vzdump.conf(5) prune-backups)'
  if (typeof v !== 'string' || v.trim() === '') {
    return `must be a string; ${fix}`
  }
  const keep: Record<string, number> = Object.fromEntries(PVE_CLASSES.map((c) => [c, 0]))
  let keepAll = false
  for (const part of v.split(',')) {
    const m = /^keep-(all|last|hourly|daily|weekly|monthly|yearly)=(\d+)$/.exec(part.trim())
    if (m === null) {
      return `"${part}" is not a prune-backups option; ${fix}`
    }
    if (m[1] === 'all') {
      keepAll = m[2] !== '0'
    } else {
      keep[m[1]!] = Number(m[2])
    }
  }
  return keepAll ? null : keep
}

const LEGACY: Readonly<Record<string, { key: string; map: Mapping }>> = {
  archive: { key: 'keepLast', map: positiveCount(10000) },
  rear: { key: 'keepRuns', map: positiveCount(100) },
  vzdump: { key: 'pruneBackups', map: pruneBackupsToKeep },
}

/** `{ keep: { last: 3, daily: 7 } }` — flow-style YAML, as it is to be written into the file. */
function yamlOf(keep: KeepInput): string {
  const counts = Object.entries(keep)
    .map(([k, n]) => `${k}: ${n}`)
    .join(', ')
  return `retention: { keep: { ${counts} } }`
}

/**
 * The job with its old retention key replaced by `retention:` (a copy; the input is left alone), or null when the
 * key is refused. Each mapping or refusal is reported at the old key's field.
 */
export function migrateLegacyRetention(
  kind: string,
  job: Record<string, unknown>,
  report: LegacyReport,
): Record<string, unknown> | null {
  const legacy = LEGACY[kind]
  if (legacy === undefined || !(legacy.key in job)) {
    return job
  }
  const { [legacy.key]: value, ...rest } = job
  const guide = 'docs/retention.md "Old retention keys"'
  if ('retention' in job) {
    report(legacy.key, `${legacy.key} and retention are both set; delete ${legacy.key} (see ${guide})`, true)
    return null
  }
  const keep = legacy.map(value)
  if (typeof keep === 'string') {
    report(legacy.key, `${keep}; better, replace ${legacy.key} with a retention: block (${guide})`, true)
    return null
  }
  if (keep === null) {
    const what = 'no retention: the agent deletes nothing, and vzdump runs with --remove 0 so PVE does not either'
    report(legacy.key, `${legacy.key} is no longer read as such; taken as ${what}. Delete the key (${guide})`, false)
    return rest
  }
  const instead = yamlOf(keep)
  report(
    legacy.key,
    `${legacy.key} is replaced by the GFS policy; read as \`${instead}\` — write that (${guide})`,
    false,
  )
  return { ...rest, retention: { keep } }
}
