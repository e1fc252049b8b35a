import { describeFailure, succeeded, type Exec } from '../../exec/exec.ts'
import { parseRcloneConfigDump, rclonePlace, type RclonePlace } from '../../tools/rclone-parse.ts'
import type { JobPlace } from '../job.ts'
import type { ResolvedResticJob } from './config.ts'

/**
 * Where an `rclone:` repository's bytes are, read with `rclone config dump` in restic's own environment (the
 * job's envFile, e.g. RCLONE_CONFIG), so the agent follows the same remotes restic's rclone does. The remote's name
 * says nothing: `rclone:offsite:restic` may be an alias of a directory on this host's own disk. What cannot be told
 * (rclone unreadable, a union of upstreams) is placed on this host — not counted as another domain — with a
 * warning saying why; a repository is never counted as elsewhere on the strength of its name.
 */
export async function placeRcloneRepository(
  exec: Exec,
  repository: ResolvedResticJob['repository'],
  env: Readonly<Record<string, string>>,
  warnings: string[],
): Promise<{ at: string; place: JobPlace }> {
  const r = await exec.run(['rclone', 'config', 'dump'], { timeoutMs: 30_000, env, maxOutputBytes: 8 * 1024 * 1024 })
  let place: RclonePlace
  try {
    place = succeeded(r)
      ? rclonePlace(parseRcloneConfigDump(r.stdout), repository.url.slice('rclone:'.length))
      : { kind: 'unknown', why: `rclone config dump failed: ${describeFailure(r)}` }
  } catch (e) {
    place = { kind: 'unknown', why: `rclone config dump: ${(e as Error).message}` }
  }
  const at = repository.display
  if (place.kind === 'unknown') {
    warnings.push(
      `${at}: cannot tell where rclone stores it (${place.why}); counted as this host's storage until it can`,
    )
    return { at, place: { kind: 'host', host: 'localhost' } }
  }
  return { at, place: place.kind === 'local' ? { kind: 'path', path: place.path } : place }
}
