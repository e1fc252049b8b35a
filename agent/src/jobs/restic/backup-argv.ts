import type { ResolvedResticJob } from './config.ts'
import { jobTag } from './retention.ts'
import type { ResticSnapshot } from './parse.ts'

/** Tag naming the filesystem snapshot a restic snapshot was read from (`backstop-snapshot:pool/ds@name`). */
const SNAPSHOT_TAG = 'backstop-snapshot:'

export function snapshotTag(fullName: string): string {
  return `${SNAPSHOT_TAG}${fullName}`
}

/** The filesystem snapshot a restic snapshot came from, from its tag; null for live-path backups. */
export function sourceSnapshotOf(s: ResticSnapshot): string | null {
  const tag = s.tags.find((t) => t.startsWith(SNAPSHOT_TAG))
  return tag === undefined ? null : tag.slice(SNAPSHOT_TAG.length)
}

export interface BackupInvocation {
  readonly args: readonly string[]
  /** Set for a snapshot source: restic runs there and backs up `.`. */
  readonly cwd?: string
  readonly env?: Readonly<Record<string, string>>
}

/** restic 0.14's `--time` format, read in the process's time zone: given in UTC with TZ=UTC. */
function resticTime(at: Date): string {
  return at.toISOString().slice(0, 19).replace('T', ' ')
}

/**
 * `restic backup` for one run. Live paths: `backup … -- <paths>` and restic finds its own parent (same paths).
 * A snapshot source: restic runs inside the snapshot's directory and backs up `.`, so the restic snapshot's root
 * holds the snapshot's files at the same paths every run (`/etc/…`, never `/.zfs/snapshot/<name>/etc/…`) and restores
 * land where they belong. Its recorded `paths` still name the per-run directory, so restic's own parent search
 * (same paths) finds nothing: the newest snapshot of the job is passed as `--parent`, and unchanged files are not
 * read again. `--time` is the snapshot's creation: the restic snapshot's time is the consistent point in time.
 */
export function backupInvocation(
  cfg: ResolvedResticJob,
  snapshot: { readonly fullName: string; readonly dir: string; readonly createdAt: Date } | null,
  parent: ResticSnapshot | null,
): BackupInvocation {
  const common = ['backup', '--json', '--tag', jobTag(cfg.name), ...cfg.exclude.flatMap((e) => ['--exclude', e])]
  if (snapshot === null) {
    return { args: [...common, '--', ...cfg.paths] }
  }
  return {
    args: [
      ...common,
      '--tag',
      snapshotTag(snapshot.fullName),
      '--time',
      resticTime(snapshot.createdAt),
      ...(parent === null ? [] : ['--parent', parent.id]),
      '--',
      '.',
    ],
    cwd: snapshot.dir,
    env: { TZ: 'UTC' },
  }
}

/** The parent for a snapshot source: the newest snapshot of the job read from a snapshot (listing newest first). */
export function parentOf(snaps: readonly ResticSnapshot[]): ResticSnapshot | null {
  return snaps.find((s) => sourceSnapshotOf(s) !== null) ?? null
}
