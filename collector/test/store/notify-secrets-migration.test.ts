import assert from 'node:assert/strict'
import { cpSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { it } from 'node:test'
import { openDb } from '../../src/store/db.ts'
import { createNotifyRepo } from '../../src/store/notify-repo.ts'

const migrations = fileURLToPath(new URL('../../src/store/migrations/', import.meta.url))

it('migration 0024 keeps channels, queued deliveries, health; a user:pass@ ntfy URL moves to notify_secrets', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bk-notify-mig-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const before = join(dir, 'before')
  cpSync(migrations, before, { recursive: true, filter: (f) => !f.endsWith('0024-notify-secrets.sql') })
  const file = join(dir, 'c.db')
  {
    const { db } = openDb({ file, migrationsDir: before })
    db.prepare(
      `INSERT INTO notify_channels (id, name, kind, url, min_severity, created_at, last_error, failed_total)
       VALUES (3, 'phone', 'ntfy', 'https://phil:s%3Acret@ntfy.example/backups', 'info', 1000, 'fetch failed', 5),
              (7, 'hook', 'webhook', 'https://hooks.example/in', 'warning', 2000, NULL, 0)`,
    ).run()
    db.prepare(
      `INSERT INTO notify_queue (channel_id, flip_id, payload, next_attempt_at, created_at, attempts)
       VALUES (3, 11, '{"key":"k"}', 5000, 4000, 5), (7, 11, '{"key":"k"}', 5000, 4000, 0)`,
    ).run()
    db.close()
  }
  const { db, migrations: report } = openDb({ file, migrationsDir: migrations })
  t.after(() => db.close())
  assert.ok(report.applied.includes('0024-notify-secrets'), report.applied.join(', '))
  const repo = createNotifyRepo(db)
  const ch = repo.channels()
  assert.deepEqual(
    ch.map((c) => [c.id, c.name, c.url, c.health.pending, c.health.failedTotal, c.credentials]),
    [
      [3, 'phone', 'https://ntfy.example/backups', 1, 5, { type: 'basic', username: 'phil', password: '********' }],
      [7, 'hook', 'https://hooks.example/in', 1, 0, null],
    ],
  )
  assert.deepEqual(repo.channel(3)?.credentials, { type: 'basic', username: 'phil', password: 's:cret' })
  assert.equal(
    (db.prepare('SELECT attempts FROM notify_queue WHERE channel_id = 3').get() as { attempts: number }).attempts,
    5,
  )
  // the queue still cascades from its channel, and gotify is a kind now
  assert.equal(repo.removeChannel(3), true)
  const count = (sql: string): number => (db.prepare(sql).get() as { n: number }).n
  assert.equal(count('SELECT count(*) AS n FROM notify_queue WHERE channel_id = 3'), 0)
  assert.equal(count('SELECT count(*) AS n FROM notify_secrets'), 0)
  repo.addChannel({ name: 'g', kind: 'gotify', url: 'https://gotify.example', minSeverity: 'info' }, 3000)
  assert.deepEqual(db.pragma('foreign_key_check'), [])
})
