import { readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { writeFileDurableSync } from '@backstop/node-io'

/**
 * `<dataDir>/collector.pid`: which process runs a collector on this data directory. Written on start, removed on a
 * graceful stop; a crash leaves it behind, which is harmless because a reader also checks that the process lives.
 * `restore` refuses to replace the database of a running collector by it.
 */
export function pidFileOf(dataDir: string): string {
  return join(dataDir, 'collector.pid')
}

/** Records this process; returns the release (removes the file only while it still names this process). */
export function claimPidFile(dataDir: string, mode: number): () => void {
  const file = pidFileOf(dataDir)
  writeFileDurableSync(file, `${process.pid}\n`, { mode })
  return () => {
    if (readPid(file) === process.pid) {
      rmSync(file, { force: true })
    }
  }
}

/** The pid of a live collector on `dataDir`, or undefined (no file, or its process is gone). */
export function runningCollectorPid(dataDir: string): number | undefined {
  const pid = readPid(pidFileOf(dataDir))
  if (pid === undefined) {
    return undefined
  }
  try {
    process.kill(pid, 0)
    return pid
  } catch (e) {
    // EPERM: it lives, under another user.
    return (e as NodeJS.ErrnoException).code === 'EPERM' ? pid : undefined
  }
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(file, 'utf8').trim(), 10)
    return Number.isInteger(pid) && pid > 0 ? pid : undefined
  } catch {
    return undefined
  }
}
