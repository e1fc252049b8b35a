import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'
import { writeFileDurableSync } from '@backstop/node-io'
import { COMMAND_CLOCK_SKEW_MS } from '@backstop/shared'

/**
 * Every command nonce this agent has accepted, until the command could no longer be valid anyway
 * (`expiresAt` + clock skew). Persisted (append + fsync) before the command runs, so neither a restart nor a
 * crash in the middle of a command lets the same signed command run twice.
 */
export interface NonceStore {
  has(id: string): boolean
  /** Durable on return. */
  add(id: string, expiresAt: string): void
  readonly size: number
  close(): void
}

/** More than this many live nonces means something is flooding us; refusing is safer than growing without bound. */
export const MAX_LIVE_NONCES = 100_000

export function openNonceStore(file: string, now: () => Date): NonceStore {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
  const live = new Map<string, number>()
  let lines = 0
  try {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (!line) {
        continue
      }
      lines++
      try {
        const v = JSON.parse(line) as { id?: unknown; exp?: unknown }
        if (typeof v.id === 'string' && typeof v.exp === 'number') {
          live.set(v.id, v.exp)
        }
      } catch {
        // A torn last line from a crash mid-append: that command never ran (we fsync before running).
      }
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw e
    }
  }
  const prune = (): void => {
    const cutoff = now().getTime() - COMMAND_CLOCK_SKEW_MS
    for (const [id, exp] of live) {
      if (exp < cutoff) {
        live.delete(id)
      }
    }
  }
  prune()
  if (lines > live.size * 2 + 100) {
    // Compact durably, so a crash or power cut leaves either the old or the new file.
    writeFileDurableSync(file, [...live].map(([id, exp]) => `${JSON.stringify({ id, exp })}\n`).join(''))
  }
  const fd = openSync(file, 'a', 0o600)
  return {
    has: (id) => live.has(id),
    add: (id, expiresAt) => {
      if (live.size >= MAX_LIVE_NONCES) {
        prune()
      }
      const exp = Date.parse(expiresAt)
      writeSync(fd, `${JSON.stringify({ id, exp })}\n`)
      fsyncSync(fd)
      live.set(id, exp)
    },
    get size() {
      return live.size
    },
    close: () => closeSync(fd),
  }
}
