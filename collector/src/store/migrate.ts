import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { BackstopError } from '@backstop/shared'
import type Database from 'better-sqlite3'

/**
 * Ordered SQL migrations: `NNNN-name.sql` in one folder. Files were numbered by area (0001–0009 core,
 * 0010–0019 compliance, 0020–0029 security, 0030–0039 disk health), so they can land out of numeric order
 * across branches; that is why applied migrations are recorded by id in `schema_migrations` (not a single
 * user_version high-water mark) and every unapplied file runs, in order, each in its own transaction.
 */
export interface MigrationReport {
  readonly applied: readonly string[]
  readonly total: number
}

const FILE_RE = /^(\d{4})-[a-z0-9-]+\.sql$/

export function listMigrations(dir: string): { id: string; file: string }[] {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort()
  const seen = new Map<string, string>()
  return files.map((f) => {
    const m = FILE_RE.exec(f)
    if (!m) {
      throw new BackstopError(
        'BK_ERR_INTERNAL_ERROR',
        `migration file ${join(dir, f)} must be named NNNN-lowercase-name.sql`,
      )
    }
    const num = m[1] as string
    if (seen.has(num)) {
      throw new BackstopError(
        'BK_ERR_INTERNAL_ERROR',
        `migrations ${seen.get(num)} and ${f} share number ${num}; renumber one`,
      )
    }
    seen.set(num, f)
    return { id: f.slice(0, -4), file: join(dir, f) }
  })
}

export function migrate(db: Database.Database, dir: string): MigrationReport {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT PRIMARY KEY, applied_at TEXT NOT NULL) STRICT')
  const done = new Set((db.prepare('SELECT id FROM schema_migrations').all() as { id: string }[]).map((r) => r.id))
  const record = db.prepare('INSERT INTO schema_migrations (id, applied_at) VALUES (?, ?)')
  const all = listMigrations(dir)
  const applied: string[] = []
  for (const m of all) {
    if (done.has(m.id)) {
      continue
    }
    const sql = readFileSync(m.file, 'utf8')
    try {
      db.transaction(() => {
        db.exec(sql)
        record.run(m.id, new Date().toISOString())
      })()
    } catch (e) {
      throw new BackstopError(
        'BK_ERR_INTERNAL_ERROR',
        `migration ${m.file} failed and was rolled back: ${(e as Error).message}`,
        { cause: e },
      )
    }
    applied.push(m.id)
  }
  return { applied, total: all.length }
}
