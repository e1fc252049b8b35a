import { open, rename, writeFile, type FileHandle } from 'node:fs/promises'
import { BackstopError } from '@backstop/shared'

/** A new directory entry is durable only once its directory is fsync'd. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}

/** tmp + fsync + rename + fsync(dir): readers see the old or the new content, never a torn file. */
export async function writeFileAtomic(dir: string, path: string, data: string | Buffer, mode = 0o600): Promise<void> {
  const tmp = `${path}.tmp`
  await writeFile(tmp, data, { mode })
  const fh = await open(tmp, 'r+')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
  await rename(tmp, path)
  await fsyncDir(dir)
}

/** Writes all of `buf` at the end of an O_APPEND handle, then fdatasync. */
export async function appendDurably(fh: FileHandle, buf: Buffer): Promise<void> {
  let done = 0
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, null)
    done += bytesWritten
  }
  await fh.datasync()
}

/** ENOSPC/EDQUOT become the coded error the operator can act on; anything else keeps its cause. */
export function ioError(e: unknown, what: string, where: string): BackstopError {
  const code = (e as NodeJS.ErrnoException).code
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new BackstopError(
      'BK_ERR_OUTBOX_NO_SPACE',
      `${what}: ${code} on the file system holding ${where}; nothing was lost ` +
        '(the file was rolled back to its last complete record). Free space there or move stateDir',
      { cause: e },
    )
  }
  return new BackstopError('BK_ERR_INTERNAL_ERROR', `${what} in ${where}: ${(e as Error).message}`, { cause: e })
}
