import { chmodSync, chownSync, mkdirSync, statSync } from 'node:fs'
import type { FileGroup } from '@backstop/node-io'
import { BackstopError } from '@backstop/shared'

/**
 * Who besides the collector's user may read `dataDir` (the database, its WAL, the signing key, the TLS CA key).
 * `owner-only` (default): nobody; the directory is 0700 and the database files 0600. `group-read`: members of the
 * directory's group may read (0750 / 0640), e.g. a backup tool that copies the database; never anyone else. With a
 * `group:` in the config (which implies group-read), that group owns the directory and the database files.
 */
export const dataDirAccessModes = ['owner-only', 'group-read'] as const
export type DataDirAccess = (typeof dataDirAccessModes)[number]

interface AccessPolicy {
  readonly dirMode: number
  readonly fileMode: number
  /** Mode bits that must be clear on an existing directory. */
  readonly forbidden: number
  readonly chmodHint: string
}

const policies: Record<DataDirAccess, AccessPolicy> = {
  'owner-only': { dirMode: 0o700, fileMode: 0o600, forbidden: 0o077, chmodHint: '700' },
  'group-read': { dirMode: 0o750, fileMode: 0o640, forbidden: 0o027, chmodHint: '750' },
}

export function dataDirPolicy(access: DataDirAccess): AccessPolicy {
  return policies[access]
}

const octal = (mode: number): string => `0${(mode & 0o7777).toString(8)}`

/** Set-group-ID on a directory: files created in it (SQLite's -wal and -shm, the pid file) get its group. */
const SETGID = 0o2000

/**
 * Creates `dir` with the policy's mode (chmod after mkdir, so the umask cannot widen or narrow it) or, when it
 * exists, refuses to use it if group or other users can reach into it beyond the policy: a 0755 data directory
 * would expose everything a file created inside it with a wider mode than intended (and the files of older
 * versions, which were 0644). Throws BK_ERR_DATA_DIR_EXPOSED naming the path, its mode and the fix.
 * With `group`, the directory is given to that group (also an existing one: the config says so) with the
 * set-group-ID bit, so every file created in it belongs to the group too.
 */
export function prepareDataDir(dir: string, access: DataDirAccess, group?: FileGroup): void {
  const policy = policies[access]
  const created = mkdirSync(dir, { recursive: true, mode: policy.dirMode })
  if (created !== undefined) {
    // mkdir -p: only the deepest directory is ours to set; its parents keep the umask's mode, like `install -d`.
    chmodSync(dir, policy.dirMode)
    giveToGroup(dir, group)
    return
  }
  const st = statSync(dir)
  if (!st.isDirectory()) {
    throw new BackstopError(
      'BK_ERR_DATA_DIR_EXPOSED',
      `dataDir ${dir} is not a directory; point dataDir at a directory (it is created 0${policy.chmodHint} if absent)`,
    )
  }
  if ((st.mode & policy.forbidden) !== 0) {
    throw new BackstopError(
      'BK_ERR_DATA_DIR_EXPOSED',
      `dataDir ${dir} has mode ${octal(st.mode)}: ${who(st.mode & policy.forbidden)} can reach the database and ` +
        `keys in it; fix: chmod ${policy.chmodHint} ${dir}` +
        (access === 'owner-only' ? ' (or set dataDirAccess: group-read to let its group read it)' : ''),
    )
  }
  giveToGroup(dir, group)
}

function giveToGroup(dir: string, group: FileGroup | undefined): void {
  if (group === undefined) {
    return
  }
  // 0750 even if it was narrower (systemd's StateDirectoryMode=0700, an operator's chmod): the config says so.
  const mode = policies['group-read'].dirMode | SETGID
  const st = statSync(dir)
  if (st.gid === group.gid && (st.mode & 0o7777) === mode) {
    return
  }
  try {
    chownSync(dir, -1, group.gid)
    chmodSync(dir, mode)
  } catch (e) {
    throw new BackstopError(
      'BK_ERR_CONFIG_INVALID',
      `group: cannot give dataDir ${dir} to group ${group.name} (gid ${group.gid}): ${(e as Error).message}; ` +
        `the collector's user must own ${dir} and be a member of ${group.name} (usermod -aG ${group.name} <user>), ` +
        `or run once: chgrp ${group.name} ${dir} && chmod 2750 ${dir}`,
    )
  }
}

function who(bits: number): string {
  const group = (bits & 0o070) !== 0
  const other = (bits & 0o007) !== 0
  return group && other ? 'its group and other users' : group ? 'its group' : 'other users'
}

/**
 * Sets `files` that exist to `mode` (and to group `gid`, when given) and returns those that still differ afterwards
 * (none, unless the file system ignores chmod): the database files of an older version were 0644.
 */
export function restrictFiles(files: readonly string[], mode: number, gid?: number): string[] {
  const wrong: string[] = []
  for (const f of files) {
    let st
    try {
      st = statSync(f)
    } catch {
      continue
    }
    if (gid !== undefined && st.gid !== gid) {
      chownSync(f, -1, gid)
    }
    if ((st.mode & 0o777) !== mode) {
      chmodSync(f, mode)
      if ((statSync(f).mode & 0o777) !== mode) {
        wrong.push(`${f} (${octal(statSync(f).mode)})`)
      }
    }
  }
  return wrong
}
