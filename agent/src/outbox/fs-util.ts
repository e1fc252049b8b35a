import type { FileHandle } from 'node:fs/promises'
import { BackstopError } from '@backstop/shared'

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
