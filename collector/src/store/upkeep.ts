import { statfsSync, statSync } from 'node:fs'
import type { Logger } from 'pino'
import type { Db } from './db.ts'

/**
 * SQLite upkeep (docs/reliability.md "Database upkeep"). Incremental auto-vacuum: pages freed by retention go back
 * to the file system in small steps (`PRAGMA incremental_vacuum`), never by a full VACUUM while the collector runs.
 */

/** Page counts and file sizes of the database, read at scrape time. */
export interface DbStats {
  readonly dbBytes: number
  readonly walBytes: number
  readonly pageSize: number
  readonly pages: number
  readonly freePages: number
  readonly autoVacuum: 'none' | 'full' | 'incremental'
}

/** The file system holding dataDir. */
export interface DiskStats {
  readonly sizeBytes: number
  readonly usedBytes: number
  readonly availableBytes: number
}

const AUTO_VACUUM = ['none', 'full', 'incremental'] as const

export function dbStats(db: Db, file: string): DbStats {
  const num = (pragma: string): number => Number(db.pragma(pragma, { simple: true }))
  return {
    dbBytes: fileSize(file),
    walBytes: fileSize(`${file}-wal`),
    pageSize: num('page_size'),
    pages: num('page_count'),
    freePages: num('freelist_count'),
    autoVacuum: AUTO_VACUUM[num('auto_vacuum')] ?? 'none',
  }
}

export function diskStats(dir: string): DiskStats {
  const s = statfsSync(dir)
  const sizeBytes = s.blocks * s.bsize
  // used as df counts it: what is neither free nor reserved for root is not "available"; used = size − free.
  return { sizeBytes, usedBytes: sizeBytes - s.bfree * s.bsize, availableBytes: s.bavail * s.bsize }
}

function fileSize(file: string): number {
  try {
    return statSync(file).size
  } catch {
    return 0
  }
}

/**
 * Switches a database created without auto-vacuum to incremental: the mode of an existing file only changes with a
 * VACUUM, which rewrites the whole file (and needs about its size free again). Done once, on start, before anything
 * else opens the database; skipped with a warning when the disk lacks the room, and retried on the next start.
 */
export function ensureIncrementalVacuum(db: Db, file: string, dataDir: string, log: Logger): boolean {
  if (AUTO_VACUUM[Number(db.pragma('auto_vacuum', { simple: true }))] === 'incremental') {
    return true
  }
  db.pragma('auto_vacuum = INCREMENTAL')
  if (file === ':memory:') {
    db.exec('VACUUM')
    return true
  }
  const before = dbStats(db, file)
  const need = (before.pages - before.freePages) * before.pageSize * 2 + before.walBytes
  const free = diskStats(dataDir).availableBytes
  if (free < need) {
    log.warn(
      { db: file, needBytes: need, availableBytes: free },
      'auto-vacuum stays off: switching to incremental needs a one-time VACUUM and the disk lacks the room; ' +
        'free some space, the collector retries on its next start',
    )
    return false
  }
  const started = Date.now()
  log.info({ db: file, bytes: before.dbBytes }, 'switching the database to incremental auto-vacuum (one-time VACUUM)')
  db.exec('VACUUM')
  db.pragma('wal_checkpoint(TRUNCATE)')
  log.info(
    { db: file, bytesBefore: before.dbBytes, bytesAfter: fileSize(file), ms: Date.now() - started },
    'database now uses incremental auto-vacuum',
  )
  return true
}

/** Gives back up to `pages` free pages per call (one short write transaction each). Returns pages freed. */
export function incrementalVacuum(db: Db, pages: number): number {
  const before = Number(db.pragma('freelist_count', { simple: true }))
  db.pragma(`incremental_vacuum(${Math.max(1, Math.floor(pages))})`)
  return before - Number(db.pragma('freelist_count', { simple: true }))
}

export interface WalPolicy {
  readonly truncateBytes: number
  readonly idleMs: number
}

/**
 * The WAL checkpoint policy, called on every upkeep tick: TRUNCATE once the WAL passed `truncateBytes`, or when it
 * has not changed size for `idleMs` (no writes) and is not empty. SQLite's own autocheckpoint (PASSIVE, db.ts) keeps
 * reusing the WAL under load but never shrinks the file; TRUNCATE does, when no reader holds an old snapshot.
 */
export function createWalCheckpointer(db: Db, file: string, policy: WalPolicy, log: Logger) {
  let lastSize = -1
  let sameSince = 0
  return (now: number): 'truncated' | 'busy' | 'idle' => {
    const size = fileSize(`${file}-wal`)
    if (size !== lastSize) {
      lastSize = size
      sameSince = now
    }
    const due = size > policy.truncateBytes || (size > 0 && now - sameSince >= policy.idleMs)
    if (!due) {
      return 'idle'
    }
    const r = db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number; log: number; checkpointed: number }[]
    if (r[0]?.busy) {
      log.debug({ walBytes: size }, 'WAL checkpoint (TRUNCATE) deferred: a reader holds an older snapshot')
      return 'busy'
    }
    lastSize = fileSize(`${file}-wal`)
    sameSince = now
    if (size > policy.truncateBytes) {
      log.info({ walBytes: size, limitBytes: policy.truncateBytes }, 'WAL over its size bound: checkpointed (TRUNCATE)')
    }
    return 'truncated'
  }
}
