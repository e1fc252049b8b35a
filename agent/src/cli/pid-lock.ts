import { openSync, readFileSync, unlinkSync, writeSync, closeSync } from 'node:fs'
import { mkdirDataSync } from '@backstop/node-io'
import { join } from 'node:path'
import { BackstopError } from '@backstop/shared'

export interface PidLock {
  release(): void
}

export function pidLockPath(stateDir: string): string {
  return join(stateDir, 'agent.pid')
}

/** The pid of a live agent holding the state directory, or null. */
export function lockHolder(stateDir: string): number | null {
  let pid: number
  try {
    pid = Number(readFileSync(pidLockPath(stateDir), 'utf8').trim())
  } catch {
    return null
  }
  return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : null
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * One agent process per state directory: the outbox is a single-writer log, so `once` must not run beside the
 * daemon. The pid file is created exclusively; one left by a dead process (kill -9, power cut) is taken over.
 */
export function acquirePidLock(stateDir: string): PidLock {
  mkdirDataSync(stateDir)
  const file = pidLockPath(stateDir)
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600)
      writeSync(fd, `${process.pid}\n`)
      closeSync(fd)
      return {
        release: () => {
          try {
            if (readFileSync(file, 'utf8').trim() === String(process.pid)) {
              unlinkSync(file)
            }
          } catch {
            // Already gone.
          }
        },
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw e
      }
      const holder = lockHolder(stateDir)
      if (holder !== null && holder !== process.pid) {
        throw new BackstopError(
          'BK_ERR_AGENT_LOCKED',
          `agent pid ${holder} is running on ${stateDir} (${file}); stop it first, ` +
            'or trigger the job from the collector instead of `once`',
        )
      }
      unlinkSync(file)
    }
  }
  throw new BackstopError('BK_ERR_AGENT_LOCKED', `could not take ${file}; another agent is starting at the same time`)
}
