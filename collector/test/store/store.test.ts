import assert from 'node:assert/strict'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import type { StorageIdentity } from '@backstop/shared'
import { listMigrations, migrate } from '../../src/store/migrate.ts'
import { createCopiesRepo } from '../../src/store/copies-repo.ts'
import { openDb } from '../../src/store/db.ts'
import { copy, FakeAgent, ingestHarness, payload, tempDir } from '../support/harness.ts'

test('migrations: every file applies once, in order, and a re-open applies nothing', (t) => {
  const dir = tempDir(t)
  const file = join(dir, 'c.db')
  const first = openDb({ file })
  assert.ok(first.migrations.applied.includes('0001-core'))
  assert.equal(first.migrations.applied.length, first.migrations.total)
  assert.deepEqual(first.migrations.applied, [...first.migrations.applied].sort())
  assert.equal(first.db.pragma('journal_mode', { simple: true }), 'wal')
  assert.equal(first.db.pragma('synchronous', { simple: true }), 2, 'FULL: an ack means the batch is on disk')
  assert.equal(
    first.db.pragma('temp_store', { simple: true }),
    2,
    'MEMORY: statement journals of trigger-firing inserts never spill to temp files',
  )
  first.db.close()
  const again = openDb({ file })
  t.after(() => again.db.close())
  assert.deepEqual(again.migrations.applied, [])
})

test('migrations: a failing file rolls back entirely and names itself; later numbers land in any order', (t) => {
  const dir = tempDir(t)
  const mig = join(dir, 'm')
  mkdirSync(mig)
  writeFileSync(join(mig, '0001-a.sql'), 'CREATE TABLE a (x INTEGER);')
  writeFileSync(join(mig, '0003-c.sql'), 'CREATE TABLE c (x INTEGER);')
  const { db } = openDb({ file: join(dir, 'c.db'), migrationsDir: mig })
  t.after(() => db.close())
  // a lower number arriving later (another room's branch) still runs
  writeFileSync(join(mig, '0002-b.sql'), 'CREATE TABLE b (x INTEGER); CREATE TABLE broken (;')
  assert.throws(() => migrate(db, mig), /0002-b\.sql failed and was rolled back/)
  const tables = (): string[] =>
    (
      db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('a', 'b', 'c')").all() as {
        name: string
      }[]
    )
      .map((r) => r.name)
      .sort()
  assert.deepEqual(tables(), ['a', 'c'], 'the half-applied 0002 left nothing behind')
  writeFileSync(join(mig, '0002-b.sql'), 'CREATE TABLE b (x INTEGER);')
  assert.deepEqual(migrate(db, mig).applied, ['0002-b'])
  assert.deepEqual(tables(), ['a', 'b', 'c'])
  writeFileSync(join(mig, '0002-dup.sql'), '')
  assert.throws(() => listMigrations(mig), /share number 0002/)
})

test('later runs re-report a copy, delete it, repeat inventories: one row each, no constraint errors', async (t) => {
  // Runs against every migration in the folder, including other rooms' triggers on copies/runs/assets.
  const h = ingestHarness(t)
  const a = new FakeAgent('pve1')
  await h.send('pve1', payload(a.enroll()))
  for (let i = 0; i < 3; i++) {
    await h.send('pve1', payload(a.started(`r${i}`)))
    await h.send(
      'pve1',
      payload(
        a.finished(`r${i}`, [
          copy('c1', { verification: { state: i === 2 ? 'failed' : 'verified' } }),
          copy(`c-new-${i}`),
        ]),
      ),
    )
  }
  await h.send(
    'pve1',
    payload(
      a.finished('r3', [], {
        deleted: [
          {
            copyId: 'c1',
            asset: { kind: 'file-set', id: 'fileset:etc-archive' },
            location: { kind: 'dir', target: '/srv/backup' },
            name: 'c1.tar.gz',
            deletedAt: '2026-11-22T02:00:00.000Z',
            rule: 'keep-last(3)',
          },
        ],
      }),
    ),
  )
  for (let i = 0; i < 2; i++) {
    await h.send(
      'pve1',
      payload(
        a.envelope('inventory', {
          at: `2026-11-22T0${i}:00:00.000Z`,
          assets: [{ asset: { kind: 'vm', id: 'vm/101' }, coveredBy: i ? ['vms'] : [] }],
        }),
      ),
    )
  }
  assert.deepEqual(
    h.acks.flatMap((x) => x.body.rejected),
    [],
  )
  const c1 = h.store.copies
    .query({ node: 'pve1', includeDeleted: true, limit: 100, offset: 0 })
    .filter((c) => c.copyId === 'c1')
  assert.equal(c1.length, 1)
  assert.equal(c1[0]!.verification.state, 'failed')
  assert.equal(c1[0]!.firstRunId, 'r0')
  assert.deepEqual(c1[0]!.deleted, { at: '2026-11-22T02:00:00.000Z', rule: 'keep-last(3)' })
  assert.equal(h.store.runs.query({ node: 'pve1', limit: 10, offset: 0 }).length, 4)
  const assets = h.db.prepare('SELECT covered_by, present FROM assets WHERE node = ?').all('pve1')
  assert.deepEqual(assets, [{ covered_by: '["vms"]', present: 1 }])
})

test('copies on one storage share one identity row; a tombstone keeps where it was', async (t) => {
  const h = ingestHarness(t)
  const a = new FakeAgent('pve1')
  const storage: StorageIdentity = {
    host: 'pve1',
    site: 'home',
    devices: [{ id: 'wwn:disk0', transport: 'sata' }],
    media: 'hdd',
  }
  const usb: StorageIdentity = { ...storage, devices: [{ id: 'usb:stick1', transport: 'usb' }], media: 'usb' }
  await h.send('pve1', payload(a.enroll()))
  const copies = [copy('c1', { storage }), copy('c2', { storage }), copy('c3', { storage: usb }), copy('c4')]
  await h.send('pve1', payload(a.finished('r1', copies)))
  const gone = {
    copyId: 'c1',
    asset: { kind: 'file-set' as const, id: 'fileset:etc-archive' },
    location: { kind: 'dir' as const, target: '/srv/backup' },
    name: 'c1.tar.gz',
    deletedAt: '2026-11-22T02:00:00.000Z',
    rule: 'kept by no rule',
  }
  await h.send('pve1', payload(a.finished('r2', copies.slice(1), { deleted: [gone] })))
  assert.deepEqual(
    h.acks.flatMap((x) => x.body.rejected),
    [],
  )
  assert.deepEqual(h.db.prepare('SELECT count(*) AS n FROM storage_identities').get(), { n: 2 })
  const rows = h.store.copies.query({ node: 'pve1', includeDeleted: true, limit: 10, offset: 0 })
  const byId = new Map(rows.map((c) => [c.copyId, c]))
  assert.deepEqual(byId.get('c2')!.storage, storage)
  assert.deepEqual(byId.get('c3')!.storage, usb)
  assert.equal(byId.get('c4')!.storage, null, 'an agent that does not probe')
  const tomb = byId.get('c1')!
  assert.deepEqual(tomb.storage, storage)
  assert.deepEqual(tomb.deleted, { at: '2026-11-22T02:00:00.000Z', rule: 'kept by no rule' })
  assert.equal(tomb.lastRunId, 'r2', 'the run that deleted it')
})

test('migration 0047 moves the storage identities of existing copies into one row each', (t) => {
  const dir = tempDir(t)
  const before = join(dir, 'before')
  mkdirSync(before)
  const src = new URL('../../src/store/migrations/', import.meta.url).pathname
  for (const m of listMigrations(src).filter((m) => m.id < '0047')) {
    writeFileSync(join(before, `${m.id}.sql`), readFileSync(m.file))
  }
  const file = join(dir, 'c.db')
  const old = openDb({ file, migrationsDir: before })
  const disk = '{"host":"n1","site":"s","devices":[],"media":"hdd"}'
  const insert = old.db.prepare(`INSERT INTO copies (node, copy_id, asset_kind, asset_id, location_kind,
    location_target, name, media, offsite, offline, immutable, created_at, verification_state, last_reported_at,
    deleted_at, storage) VALUES ('n1', ?, 'file-set', 'f', 'dir', '/b', ?, 'hdd', 0, 0, 0, '2026-01-01T00:00:00.000Z',
    'verified', '2026-01-01T00:00:00.000Z', ?, ?)`)
  insert.run('live', 'live.tar', null, disk)
  insert.run('gone', 'gone.tar', '2026-01-02T00:00:00.000Z', disk)
  insert.run('bare', 'bare.tar', null, null)
  old.db.close()
  const now = openDb({ file })
  t.after(() => now.db.close())
  // 0047 first, then whatever came after it.
  assert.equal(now.migrations.applied[0], '0047-storage-identities')
  assert.deepEqual(now.db.prepare('SELECT json FROM storage_identities').all(), [{ json: disk }])
  const rows = createCopiesRepo(now.db).query({ node: 'n1', includeDeleted: true, limit: 10, offset: 0 })
  assert.deepEqual(rows.map((c) => [c.copyId, c.storage?.host ?? null]).sort(), [
    ['bare', null],
    ['gone', 'n1'],
    ['live', 'n1'],
  ])
})
