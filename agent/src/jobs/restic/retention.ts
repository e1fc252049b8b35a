import { isBackstopError } from '@backstop/shared'
import { planCopies, type CopyPlan, type OwnedCopy } from '../retention.ts'
import type { ResolvedResticJob } from './config.ts'
import { parseSnapshots, type ResticSnapshot } from './parse.ts'
import type { ResticRepo } from './restic-cli.ts'

/**
 * Retention of a restic job through OUR GFS engine (docs/retention.md), never restic's own `--keep-*` flags: the
 * engine decides per snapshot, and the decision is applied with `restic forget <ids>` then `prune`. restic before
 * 0.19 exits 0 when it could not delete a snapshot, so every forget is confirmed by listing the snapshots again:
 * a snapshot still listed was not deleted, whatever the exit code said.
 */
export interface StoredSnapshot extends OwnedCopy {
  readonly snap: ResticSnapshot
}

/** The tag that marks this job's snapshots in a repository other jobs or hosts may share. */
export function jobTag(job: string): string {
  return `backstop:${job}`
}

export async function listJobSnapshots(repo: ResticRepo, job: string, timeoutMs: number): Promise<ResticSnapshot[]> {
  // --no-lock: reading the list must work while another client holds the repository (and confirms a forget).
  const r = await repo.must(['--no-lock', 'snapshots', '--json', '--tag', jobTag(job)], 'listing snapshots', {
    timeoutMs,
  })
  return parseSnapshots(r.stdout).sort((a, b) => b.time.getTime() - a.time.getTime())
}

export function asStored(s: ResticSnapshot): StoredSnapshot {
  // A restic snapshot exists only once its backup completed: each one is a successful copy.
  return { id: s.id, name: s.shortId, createdAt: s.time, tags: undefined, held: false, successful: true, snap: s }
}

export function planSnapshots(
  cfg: ResolvedResticJob,
  snaps: readonly ResticSnapshot[],
  now: Date,
): CopyPlan<StoredSnapshot> {
  return planCopies(snaps.map(asStored), cfg.retention, now, cfg.repository.display)
}

export interface ForgetOutcome {
  /** Ids no longer listed after forget. */
  readonly gone: readonly string[]
  /** Ids still listed: not deleted (append-only, lock, a failed delete that exited 0 before 0.19). */
  readonly kept: readonly string[]
  readonly error: string | null
}

/** `forget <ids>` + `prune`, then list: only what is no longer listed counts as deleted. */
export async function forgetConfirmed(
  repo: ResticRepo,
  job: string,
  ids: readonly string[],
  timeoutMs: number,
): Promise<ForgetOutcome> {
  if (ids.length === 0) {
    return { gone: [], kept: [], error: null }
  }
  let error: string | null = null
  try {
    const f = await repo.run(['forget', ...ids], { timeoutMs })
    if (f.exitCode !== 0 || f.signal !== null) {
      error = (await repo.failure(f, 'restic forget')).message
    } else {
      const p = await repo.run(['prune'], { timeoutMs })
      if (p.exitCode !== 0 || p.signal !== null) {
        error = (await repo.failure(p, 'restic prune')).message
      }
    }
  } catch (e) {
    // A timeout (restic retries a refused delete for ~40 s) is reported like any failure; the listing decides.
    error = isBackstopError(e) ? `${e.code}: ${e.message}` : (e as Error).message
    // A killed forget/prune leaves its exclusive lock behind, and restic 0.14 refuses every later command until
    // it is removed. `unlock` removes only stale locks (a dead process of this host, or older than 30 min).
    await repo.run(['unlock'], { timeoutMs: 60_000 }).catch(() => undefined)
  }
  const listed = new Set((await listJobSnapshots(repo, job, timeoutMs)).map((s) => s.id))
  const kept = ids.filter((id) => listed.has(id))
  return { gone: ids.filter((id) => !listed.has(id)), kept, error }
}
