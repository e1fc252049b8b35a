import { open, readFile, unlink } from 'node:fs/promises'
import { openDataFile } from '@backstop/node-io'
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
    throw new BackstopError(
      'BK_ERR_OUTBOX_CORRUPT',
      `${path} does not hold {"lowWater": <seq>} (it is written atomically, so something ` +
        'else changed it); restore it, or remove the outbox directory and accept that unsent events are lost',
    )
  }
  return v
}

/**
 * Scans a framed file. A torn or corrupt tail (interrupted write on power loss) is logged and truncated so
 * appends continue right after the last good record; every record before it is kept.
 */
export async function scanAndRepair(
  path: string,
  accept: (p: Buffer) => string | null,
  expectedTail: boolean,
  log: Log,
): Promise<ScanResult> {
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
      log.warn(
        fields,
        'outbox: torn record at the end of the file (interrupted write); truncated it, earlier records are intact',
      )
    } else {
      log.error(
        fields,
        'outbox: corrupt record inside an older segment; kept the records before it, dropped the rest of that segment',
      )
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

export const LOCK_FILE = 'outbox.lock'
const heldHere = new Set<string>()

/**
 * One process per outbox: a second writer would interleave records and "repair" the first one's in-flight
 * write as a torn tail. The lock file holds the owner's pid; a lock whose process is gone (kill -9, power
 * loss) is taken over.
 */
export async function acquireLock(dir: string, log: Log): Promise<() => Promise<void>> {
  const path = join(dir, LOCK_FILE)
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await openDataFile(path, 'wx')
      await fh.writeFile(`${process.pid}\n`)
      await fh.close()
      heldHere.add(path)
      return async () => {
        heldHere.delete(path)
        await unlink(path).catch(() => undefined)
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw e
      }
    }
    const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim())
    // Our own pid in a lock this process did not take is a leftover from before a reboot (pids get reused).
    const live = pid === process.pid ? heldHere.has(path) : Number.isInteger(pid) && pid > 0 && isAlive(pid)
    if (live) {
      throw new BackstopError(
        'BK_ERR_OUTBOX_LOCKED',
        `${dir} is in use by process ${pid} (${path}); stop that agent first, ` +
          'or read the numbers without opening it (inspectOutbox / `backstop-agent status`)',
      )
    }
    log.warn({ file: path, pid }, 'outbox: taking over the lock of a process that is gone')
    await unlink(path).catch(() => undefined)
  }
  throw new BackstopError('BK_ERR_OUTBOX_LOCKED', `could not take ${path}; another process keeps creating it`)
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}
