import Database from 'better-sqlite3'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { migrate, type MigrationReport } from './migrate.ts'

export type Db = Database.Database

export interface OpenDbOptions {
  /** File path, or ':memory:' for tests. */
  readonly file: string
  /** Directory of NNNN-name.sql migrations; default: ./migrations next to this file. */
  readonly migrationsDir?: string
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
  const db = new Database(opts.file)
  db.pragma('journal_mode = WAL')
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

/** Cheap liveness probe for /healthz. */
export function pingDb(db: Db): boolean {
  try {
    return db.prepare('SELECT 1 AS ok').get() !== undefined
  } catch {
    return false
  }
}
