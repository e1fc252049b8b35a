import { open, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { BackstopError } from '@backstop/shared'
import type { Log } from '../log.ts'
import { scanFrames, type ScanResult } from './frame.ts'

export const CHECKPOINT_FILE = 'checkpoint.json'

/** The low-water mark: every seq at or below it is acknowledged. 0 when there is no checkpoint yet. */
export async function readCheckpoint(dir: string): Promise<number> {
  const path = join(dir, CHECKPOINT_FILE)
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      return 0
    }
    throw e
  }
  let v: unknown
  try {
    v = (JSON.parse(text) as { lowWater?: unknown }).lowWater
  } catch {
    v = undefined
  }
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new BackstopError('BK_ERR_OUTBOX_CORRUPT', `${path} does not hold {"lowWater": <seq>} (it is written atomically, so something `
      + 'else changed it); restore it, or remove the outbox directory and accept that unsent events are lost')
  }
  return v
}

/**
 * Scans a framed file. A torn or corrupt tail (interrupted write on power loss) is logged and truncated so
 * appends continue right after the last good record; every record before it is kept.
 */
export async function scanAndRepair(path: string, accept: (p: Buffer) => string | null, expectedTail: boolean, log: Log): Promise<ScanResult> {
  let buf: Buffer
  try {
    buf = await readFile(path)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      return { frames: [], goodEnd: 0 }
    }
    throw e
  }
  const scan = scanFrames(buf, accept)
  if (scan.goodEnd < buf.length) {
    const fields = { file: path, offset: scan.goodEnd, droppedBytes: buf.length - scan.goodEnd, reason: scan.problem }
    if (expectedTail) {
      log.warn(fields, 'outbox: torn record at the end of the file (interrupted write); truncated it, earlier records are intact')
    } else {
      log.error(fields, 'outbox: corrupt record inside an older segment; kept the records before it, dropped the rest of that segment')
    }
    const fh = await open(path, 'r+')
    try {
      await fh.truncate(scan.goodEnd)
      await fh.sync()
    } finally {
      await fh.close()
    }
  }
  return scan
}
