import Database from 'better-sqlite3'
import { randomBytes } from 'node:crypto'
import { chmodSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { fsyncDirSync } from '@backstop/node-io'
import { BackstopError, parseSnapshotTimestamp, snapshotTimestamp } from '@backstop/shared'
import { createAuditLog } from '../audit/audit-log.ts'
import type { Db } from '../store/db.ts'

/**
 * One backup file of the collector's database: taken online with SQLite's backup API (never a file copy of a live
 * WAL database, which can tear between the database and its WAL), made durable, then inspected read-only.
 */
const PREFIX = 'backstop-collector-'
const NAME = /^backstop-collector-(\d{8}T\d{6}Z)\.db$/

/** `backstop-collector-20261205T083000Z.db`: names sort by the instant the backup started (UTC, to the second). */
export function backupFileName(takenAt: Date): string {
  return `${PREFIX}${snapshotTimestamp(takenAt)}.db`
}

/** The instant in a backup file name; null for any other file (never touched by retention). */
export function backupTakenAt(file: string): Date | null {
  const m = NAME.exec(file)
  return m ? parseSnapshotTimestamp(m[1] as string) : null
}

/**
 * `db.backup` into a temp name in `dir`, the copy switched to a rollback journal (so it opens read-only without a
 * -wal or -shm file beside it), fsync'd, renamed to `file` and the directory fsync'd: after a crash the name
 * exists only for a complete copy. Refuses to replace an existing file. Returns the path and size.
 */
export async function writeBackup(
  db: Db,
  dir: string,
  file: string,
  fileMode: number,
): Promise<{ path: string; bytes: number }> {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const path = join(dir, file)
  if (existsSync(path)) {
    throw new BackstopError(
      'BK_ERR_SELF_BACKUP_FAILED',
      `${path} exists already (two backups in one second?); the next slot writes a new name`,
    )
  }
  const tmp = join(dir, `.${file}.${randomBytes(6).toString('hex')}.tmp`)
  try {
    await db.backup(tmp)
    const copy = new Database(tmp)
    try {
      copy.pragma('journal_mode = DELETE')
    } finally {
      copy.close()
    }
    syncFile(tmp, fileMode)
    renameSync(tmp, path)
    fsyncDirSync(dir)
  } catch (e) {
    removeQuietly(tmp)
    throw e
  }
  return { path, bytes: statSync(path).size }
}

/** Gives a file written under a temp name its mode and puts its data on disk, before a rename gives it its name. */
export function syncFile(path: string, mode: number): void {
  chmodSync(path, mode)
  const fd = openSync(path, 'r+')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

/** A temp file of ours that never got its name (and its journal files): nothing else refers to them. */
function removeQuietly(path: string): void {
  for (const f of [path, `${path}-journal`, `${path}-wal`, `${path}-shm`]) {
    rmSync(f, { force: true })
  }
}

/** What a backup file holds, read without changing it. */
export interface BackupInspection {
  /** `ok`, or the first problems of PRAGMA integrity_check (or why the file cannot be opened as a database). */
  readonly integrity: string
  /** The audit chain in the file verifies end to end. */
  readonly auditOk: boolean
  readonly auditProblem: string | null
  readonly auditHead: { readonly seq: number; readonly hash: string } | null
  /** Per node, the highest seq the file holds: node_high_water (migration 0040) and events, whichever is higher. */
  readonly highWater: ReadonlyMap<string, number>
  /** Ids of the migrations applied to the file (schema_migrations). */
  readonly migrations: readonly string[]
}

/** {@link inspectBackup} on a worker thread (inspect-worker.ts), so the event loop goes on meanwhile. */
export function inspectOffThread(path: string): Promise<BackupInspection> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./inspect-worker-boot.mjs', import.meta.url), { workerData: { path } })
    worker.once('message', (m: BackupInspection) => resolve(m))
    worker.once('error', reject)
    worker.once('exit', (code) => {
      reject(
        new BackstopError('BK_ERR_SELF_BACKUP_FAILED', `the check of ${path} ended (exit ${code}) without a result`),
      )
    })
  })
}

/** Opens the file read-only; a file that is not a SQLite database reports that as its integrity. */
export function inspectBackup(path: string): BackupInspection {
  let copy: Db
  try {
    copy = new Database(path, { readonly: true, fileMustExist: true })
  } catch (e) {
    return unreadable(`cannot open: ${(e as Error).message}`)
  }
  try {
    let rows: { integrity_check: string }[]
    try {
      rows = copy.pragma('integrity_check(20)') as { integrity_check: string }[]
    } catch (e) {
      return unreadable((e as Error).message)
    }
    const integrity = rows.map((r) => r.integrity_check).join('; ')
    if (integrity !== 'ok') {
      return { ...unreadable(integrity), migrations: migrationsOf(copy) }
    }
    const audit = createAuditLog(copy)
    const verdict = audit.verify()
    const head = audit.head()
    return {
      integrity,
      auditOk: verdict.ok,
      auditProblem: verdict.ok ? null : `${verdict.problem} at seq ${verdict.atSeq}: ${verdict.detail}`,
      auditHead: head ? { seq: head.seq, hash: head.hash } : null,
      highWater: highWaterOf(copy),
      migrations: migrationsOf(copy),
    }
  } finally {
    copy.close()
  }
}

function unreadable(why: string): BackupInspection {
  return {
    integrity: why,
    auditOk: false,
    auditProblem: 'not read (the file failed its integrity check)',
    auditHead: null,
    highWater: new Map(),
    migrations: [],
  }
}

const hasTable = (db: Db, name: string): boolean =>
  db
    .prepare<[string], { n: number }>("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = ?")
    .get(name)?.n === 1

function highWaterOf(db: Db): Map<string, number> {
  const high = new Map<string, number>()
  const add = (rows: { node: string; seq: number }[]): void => {
    for (const r of rows) {
      high.set(r.node, Math.max(high.get(r.node) ?? 0, r.seq))
    }
  }
  add(db.prepare<[], { node: string; seq: number }>('SELECT node, max(seq) AS seq FROM events GROUP BY node').all())
  if (hasTable(db, 'node_high_water')) {
    add(db.prepare<[], { node: string; seq: number }>('SELECT node, seq FROM node_high_water').all())
  }
  return high
}

function migrationsOf(db: Db): string[] {
  try {
    return db
      .prepare<[], { id: string }>('SELECT id FROM schema_migrations ORDER BY id')
      .all()
      .map((r) => r.id)
  } catch {
    return []
  }
}
