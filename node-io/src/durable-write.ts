import { randomBytes } from 'node:crypto'
import * as nodeFs from 'node:fs'
import * as nodeFsp from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { dataFileGroup, dataFileMode } from './file-access.ts'

/**
 * A write that survives power loss: the data goes to a temp file in the same directory, is fsync'd, renamed over
 * the target, and the directory is fsync'd so the new name is on disk too. Readers (and a reboot) see the old
 * content or the new, never a torn or empty file. The temp name ends in `.tmp` so directory scanners that clean
 * leftovers (the outbox) recognise one a crash left behind.
 */
export interface DurableWriteOptions {
  /**
   * Permission bits, set with fchmod before any data is written so the umask cannot change them. Default: a data
   * file's (file-access.ts: 0o600, or 0o640 owned by the configured group). Secrets pass 0o600 explicitly.
   */
  readonly mode?: number
  /**
   * Create-if-absent: the temp file is linked to `path` (link(2) fails with EEXIST on an existing file) instead
   * of renamed over it, so two processes creating a key at once end up with one. Default false (replace).
   */
  readonly exclusive?: boolean
}

/** The calls {@link writeFileDurable} makes; tests pass a recording wrapper to check their order. */
export type DurableFs = Pick<typeof nodeFsp, 'open' | 'rename' | 'link' | 'unlink'>

/** The calls {@link writeFileDurableSync} makes. */
export type DurableFsSync = Pick<
  typeof nodeFs,
  'openSync' | 'fchmodSync' | 'writeFileSync' | 'fsyncSync' | 'closeSync' | 'renameSync' | 'linkSync' | 'unlinkSync'
> &
  Partial<Pick<typeof nodeFs, 'fchownSync'>>

/** The group a file written with the default mode is given; none for an explicit mode (a secret's 0o600). */
const groupFor = (opts: DurableWriteOptions): number | undefined =>
  opts.mode === undefined ? dataFileGroup()?.gid : undefined

const TEMP_NAME = /^\.(.+)\.[0-9a-f]{12}\.tmp$/

function tempPathFor(path: string): string {
  // Random, so two writers of the same file never share (and truncate) one temp file.
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
}

/**
 * The name of the file that a temp file left by a crashed durable write was to replace (`.<name>.<hex>.tmp` →
 * `<name>`), or undefined for any other name: lets directory cleaners remove only their own leftovers.
 */
export function durableTempTarget(name: string): string | undefined {
  return TEMP_NAME.exec(name)?.[1]
}

/** A new or renamed directory entry is durable only once its directory is fsync'd. */
export async function fsyncDir(dir: string, fs: Pick<DurableFs, 'open'> = nodeFsp): Promise<void> {
  const fh = await fs.open(dir, 'r')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}

export function fsyncDirSync(
  dir: string,
  fs: Pick<DurableFsSync, 'openSync' | 'fsyncSync' | 'closeSync'> = nodeFs,
): void {
  const fd = fs.openSync(dir, 'r')
  try {
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
}

/** Durable replace of `path` (see {@link DurableWriteOptions}); for the daemon's event loop. */
export async function writeFileDurable(
  path: string,
  data: string | Uint8Array,
  opts: DurableWriteOptions & { readonly fs?: DurableFs } = {},
): Promise<void> {
  const fs = opts.fs ?? nodeFsp
  const mode = opts.mode ?? dataFileMode()
  const gid = groupFor(opts)
  const tmp = tempPathFor(path)
  try {
    const fh = await fs.open(tmp, 'wx', mode)
    try {
      await fh.chmod(mode)
      if (gid !== undefined) {
        await fh.chown(-1, gid)
      }
      await fh.writeFile(data)
      await fh.sync()
    } finally {
      await fh.close()
    }
    if (opts.exclusive) {
      await fs.link(tmp, path)
      await fs.unlink(tmp)
    } else {
      await fs.rename(tmp, path)
    }
  } catch (e) {
    await fs.unlink(tmp).catch(() => undefined)
    throw e
  }
  await fsyncDir(dirname(path), fs)
}

/** Synchronous twin of {@link writeFileDurable}, for code paths that are synchronous already (CLI hooks, stores). */
export function writeFileDurableSync(
  path: string,
  data: string | Uint8Array,
  opts: DurableWriteOptions & { readonly fs?: DurableFsSync } = {},
): void {
  const fs = opts.fs ?? nodeFs
  const mode = opts.mode ?? dataFileMode()
  const gid = groupFor(opts)
  const tmp = tempPathFor(path)
  try {
    const fd = fs.openSync(tmp, 'wx', mode)
    try {
      fs.fchmodSync(fd, mode)
      if (gid !== undefined) {
        ;(fs.fchownSync ?? nodeFs.fchownSync)(fd, -1, gid)
      }
      fs.writeFileSync(fd, data)
      fs.fsyncSync(fd)
    } finally {
      fs.closeSync(fd)
    }
    if (opts.exclusive) {
      fs.linkSync(tmp, path)
      fs.unlinkSync(tmp)
    } else {
      fs.renameSync(tmp, path)
    }
  } catch (e) {
    try {
      fs.unlinkSync(tmp)
    } catch {
      // The temp file was never created, or is gone already: the original error is the one to report.
    }
    throw e
  }
  fsyncDirSync(dirname(path), fs)
}
