import { chmodSync, chownSync, fchmodSync, fchownSync, mkdirSync, openSync, closeSync } from 'node:fs'
import { chmod, chown, mkdir, open, type FileHandle } from 'node:fs/promises'
import type { FileGroup } from './file-group.ts'

/**
 * Who may read the data files this process creates — copies, manifests, state, the outbox: its user only (0600,
 * directories 0700; the default), or also one group from the config (`group:`: 0640 / 0750, owned by that group),
 * e.g. a backup-reader or monitoring user. Process-wide like the umask, and set once, by the composition root from
 * the config it loaded (`setDataFileGroup`); every file-creating helper here and `writeFileDurable` without an
 * explicit `mode` follow it. Secrets (private keys, the CA pin store) pass an explicit 0o600 and never follow it.
 */
let group: FileGroup | undefined

export function setDataFileGroup(g: FileGroup | undefined): void {
  group = g
}

export function dataFileGroup(): FileGroup | undefined {
  return group
}

/** 0o600, or 0o640 with a group. */
export function dataFileMode(): number {
  return group === undefined ? 0o600 : 0o640
}

/** 0o700, or 0o750 with a group. */
export function dataDirMode(): number {
  return group === undefined ? 0o700 : 0o750
}

/**
 * Opens a data file (`flags` as for fs.open; 'a', 'a+', 'wx' … create it if absent) and sets its mode — and group —
 * on the descriptor, so neither the umask nor the directory's defaults decide, and a file an older version left
 * wider is narrowed.
 */
export async function openDataFile(path: string, flags: string): Promise<FileHandle> {
  const mode = dataFileMode()
  const fh = await open(path, flags, mode)
  try {
    await fh.chmod(mode)
    if (group !== undefined) {
      await fh.chown(-1, group.gid)
    }
  } catch (e) {
    await fh.close()
    throw e
  }
  return fh
}

/** Synchronous {@link openDataFile}; returns the descriptor. */
export function openDataFileSync(path: string, flags: string): number {
  const mode = dataFileMode()
  const fd = openSync(path, flags, mode)
  try {
    fchmodSync(fd, mode)
    if (group !== undefined) {
      fchownSync(fd, -1, group.gid)
    }
  } catch (e) {
    closeSync(fd)
    throw e
  }
  return fd
}

/**
 * `mkdir -p` of a data directory: the deepest one, when this call creates it, gets {@link dataDirMode} (chmod after
 * mkdir, so the umask cannot change it) and, with a group, that group; its parents keep the umask's mode, like
 * `install -d`. An existing directory is left as it is: it may be the operator's (a copy destination), so turning
 * `group:` on later needs a `chgrp <group> <dir> && chmod 750 <dir>` of the directories created before.
 */
export async function mkdirData(dir: string): Promise<void> {
  if ((await mkdir(dir, { recursive: true, mode: dataDirMode() })) === undefined) {
    return
  }
  await chmod(dir, dataDirMode())
  if (group !== undefined) {
    await chown(dir, -1, group.gid)
  }
}

/** Synchronous {@link mkdirData}. */
export function mkdirDataSync(dir: string): void {
  if (mkdirSync(dir, { recursive: true, mode: dataDirMode() }) === undefined) {
    return
  }
  chmodSync(dir, dataDirMode())
  if (group !== undefined) {
    chownSync(dir, -1, group.gid)
  }
}
