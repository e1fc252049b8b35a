/**
 * The btrfs-progs command lines Backstop runs (argv arrays for the Exec seam). Formats: snapshot-anchors.md
 * §6, env-feasibility.md §5. Only `device stats` has JSON output in btrfs-progs 6.2; the rest is text.
 */

/** Read-only snapshot (required for `btrfs send`). */
export function snapshotArgv(source: string, dest: string): string[] {
  return ['btrfs', 'subvolume', 'snapshot', '-r', source, dest]
}

/** Every subvolume of the filesystem holding `path`, with uuid / parent_uuid / received_uuid. */
export function listArgv(path: string, readonlyOnly = false): string[] {
  return ['btrfs', 'subvolume', 'list', ...(readonlyOnly ? ['-r'] : []), '-u', '-q', '-R', path]
}

/** One process deletes many subvolumes; `--commit-after` makes the space reclaim durable before we report it. */
export function deleteArgv(paths: readonly string[]): string[] {
  return ['btrfs', 'subvolume', 'delete', '--commit-after', ...paths]
}

export function sendArgv(snapshot: string, parent: string | null): string[] {
  return parent === null ? ['btrfs', 'send', '-q', snapshot] : ['btrfs', 'send', '-q', '-p', parent, snapshot]
}

export function receiveArgv(targetDir: string): string[] {
  return ['btrfs', 'receive', targetDir]
}

export function deviceStatsArgv(path: string): string[] {
  return ['btrfs', '--format', 'json', 'device', 'stats', path]
}

export function scrubStatusArgv(path: string): string[] {
  return ['btrfs', 'scrub', 'status', path]
}

export const findmntArgv = ['findmnt', '-J', '-l', '-o', 'TARGET,SOURCE,FSTYPE,UUID,LABEL,FSROOT'] as const

export type BtrfsFailure = 'missing' | 'no-space' | 'exists' | 'not-btrfs' | 'other'

export function classifyBtrfsError(stderr: string): BtrfsFailure {
  const s = stderr.toLowerCase()
  if (s.includes('no space left')) {
    return 'no-space'
  }
  if (s.includes('no such file or directory') || s.includes('cannot find real path')) {
    return 'missing'
  }
  if (s.includes('file exists') || s.includes('already exists')) {
    return 'exists'
  }
  // btrfs-progs 6.2 on a plain directory: "ERROR: Not a Btrfs subvolume: Invalid argument".
  if (s.includes('not a btrfs filesystem') || s.includes('not a subvolume') || s.includes('not a btrfs subvolume')) {
    return 'not-btrfs'
  }
  return 'other'
}
