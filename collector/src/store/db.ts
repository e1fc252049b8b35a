import Database from 'better-sqlite3'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { BackstopError } from '@backstop/shared'
import { restrictFiles } from './data-dir.ts'
import { migrate, type MigrationReport } from './migrate.ts'

export type Db = Database.Database

export interface OpenDbOptions {
  /** File path, or ':memory:' for tests. */
  readonly file: string
  /** Directory of NNNN-name.sql migrations; default: ./migrations next to this file. */
  readonly migrationsDir?: string
  /** Mode of collector.db, -wal and -shm: 0o600 (default), 0o640 with `dataDirAccess: group-read`. */
  readonly fileMode?: number
  /** Group of those files (config `group:`); default: left as created. */
  readonly gid?: number | undefined
}

export interface OpenedDb {
  readonly db: Db
  readonly migrations: MigrationReport
}

/**
 * Durability decision: WAL + synchronous=FULL. In WAL mode FULL costs one fsync of the WAL per COMMIT, and the
 * ingest commits once per batch (hundreds of messages), so the fsync is amortised. NORMAL would survive a crash of
 * the collector process (kill -9) but could roll back the last committed batches on power loss — after their acks
 * went out, and the agent deletes acked events from its outbox. An ack must mean "on disk", so FULL.
 */
export function openDb(opts: OpenDbOptions): OpenedDb {
  if (opts.file !== ':memory:') {
    mkdirSync(dirname(opts.file), { recursive: true, mode: 0o700 })
  }
  const fileMode = opts.fileMode ?? 0o600
  const db = openRestricted(opts.file, fileMode, opts.gid)
  db.pragma('synchronous = FULL')
  // API reads and CLI tools may briefly contend with the ingest writer; wait instead of failing with SQLITE_BUSY.
  db.pragma('busy_timeout = 5000')
  db.pragma('foreign_keys = ON')
  // Keep the WAL from growing without bound under a sustained ingest burst.
  db.pragma('wal_autocheckpoint = 4000')
  // An INSERT that fires a trigger (the ledger's change capture on runs, copies, assets) needs a statement journal.
  // It spills to a temp FILE past 64 KiB and stays a file for the rest of the transaction, so with the default
  // temp_store every such insert in an ingest batch paid a pwrite per page touched (~8 per job.started under strace,
  // about half its time; docs/benchmarks.md, ingest). Statement journals only undo a statement inside its
  // transaction; crash recovery is the WAL's job, so keeping them (and sort scratch space) in memory costs no
  // durability.
  db.pragma('temp_store = MEMORY')
  const migrations = migrate(db, opts.migrationsDir ?? new URL('./migrations/', import.meta.url).pathname)
  return { db, migrations }
}

/**
 * SQLite creates the database with 0644 & ~umask, and its -wal and -shm with the mode of the database file
 * (unix VFS, robustOpen/findCreateFileMode). So: a umask that cannot widen `fileMode` while the files are created
 * (process.umask is process-wide, but nothing else runs during these synchronous calls), then chmod for files an
 * older version left 0644, and a check that every one of them now has `fileMode`.
 */
function openRestricted(file: string, fileMode: number, gid: number | undefined): Db {
  const previous = process.umask(0o777 & ~fileMode)
  let db: Db
  try {
    db = new Database(file)
    // Takes effect on a new file only (before its first table); an older file is switched by one VACUUM on the
    // collector's start (store/upkeep.ts ensureIncrementalVacuum).
    db.pragma('auto_vacuum = INCREMENTAL')
    db.pragma('journal_mode = WAL')
  } finally {
    process.umask(previous)
  }
  if (file !== ':memory:') {
    const wrong = restrictFiles([file, `${file}-wal`, `${file}-shm`], fileMode, gid)
    if (wrong.length > 0) {
      db.close()
      throw new BackstopError(
        'BK_ERR_DATA_DIR_EXPOSED',
        `database files keep a wider mode than 0${fileMode.toString(8)} after chmod: ${wrong.join(', ')}; ` +
          'move the data directory to a file system that honours chmod',
      )
    }
  }
  return db
}

/** Cheap liveness probe for /healthz. */
export function pingDb(db: Db): boolean {
  try {
    return db.prepare('SELECT 1 AS ok').get() !== undefined
  } catch {
    return false
  }
}
