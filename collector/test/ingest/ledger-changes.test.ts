import assert from 'node:assert/strict'
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { signBatch, type DeletedCopy, type Envelope, type UnsignedBatch } from '@backstop/shared'
import { openDb, type Db } from '../../src/store/db.ts'
import { createCopiesRepo } from '../../src/store/copies-repo.ts'
import { createLedgerChangesRepo, type LedgerChange } from '../../src/store/ledger-changes-repo.ts'
import { copy, FakeAgent, ingestHarness, payload, tempDir } from '../support/harness.ts'

/** What the ledger would drain next, oldest first. */
function pending(db: Db): LedgerChange[] {
  return createLedgerChangesRepo(db)
    .take(1000)
    .map((r) => r.change)
}

function runAssets(db: Db): string[] {
  return db
    .prepare<[], { k: string }>(
      "SELECT node || ' ' || run_id || ' ' || asset_kind || ' ' || asset_id AS k FROM ledger_run_assets ORDER BY k",
    )
    .all()
    .map((r) => r.k)
}

let batchN = 0
function batchOf(agent: FakeAgent, events: Envelope[]): Buffer {
  const unsigned: UnsignedBatch = {
    v: 1,
    kind: 'batch',
    node: agent.node,
    msgId: `ledger-batch-${++batchN}`,
    ts: new Date().toISOString(),
    body: { events },
  }
  return payload(signBatch(unsigned, agent.keys.secretKey))
}

const gone = (id: string, assetId: string): DeletedCopy => ({
  copyId: id,
  asset: { kind: 'file-set', id: assetId },
  location: { kind: 'dir', target: '/srv/backup' },
  name: `${id}.tar.gz`,
  deletedAt: '2026-11-22T01:00:02.000Z',
  rule: 'keep-last(1)',
})

test('each handler tells the ledger what it changed: node, run started/finished, copies added/removed', async (t) => {
  const h = ingestHarness(t)
  const a = new FakeAgent('pve1')
  await h.send('pve1', payload(a.enroll()))
  assert.deepEqual(pending(h.db), [{ kind: 'node', node: 'pve1' }], 'enrollment marks the node online')
  h.db.exec('DELETE FROM ledger_changes')

  await h.send('pve1', payload(a.started('r1')))
  await h.send('pve1', payload(a.envelope('job.progress', { runId: 'r1', job: 'etc-archive', percent: 50 })))
  const added = copy('c2', { asset: { kind: 'file-set', id: 'fileset:home' } })
  await h.send('pve1', payload(a.finished('r1', [copy('c1'), added], { deleted: [gone('c0', 'fileset:old')] })))
  assert.deepEqual(pending(h.db), [
    { kind: 'run-started', node: 'pve1', runId: 'r1' },
    { kind: 'run-finished', node: 'pve1', runId: 'r1' },
    { kind: 'asset', node: 'pve1', assetKind: 'file-set', assetId: 'fileset:etc-archive' },
    { kind: 'asset', node: 'pve1', assetKind: 'file-set', assetId: 'fileset:home' },
    { kind: 'asset', node: 'pve1', assetKind: 'file-set', assetId: 'fileset:old' },
  ])
  assert.deepEqual(
    runAssets(h.db),
    ['pve1 r1 file-set fileset:etc-archive', 'pve1 r1 file-set fileset:home'],
    'a run is credited only with the assets it produced a live copy of',
  )

  h.db.exec('DELETE FROM ledger_changes')
  await h.send('pve1', payload(a.started('r1')))
  await h.send('pve1', payload(a.finished('r1', [])))
  assert.deepEqual(pending(h.db), [], 'a run reported again neither starts nor finishes again')
})

test('a deletion names the asset of the stored copy; a deletion of an unknown copy names its own', async (t) => {
  const h = ingestHarness(t)
  const a = new FakeAgent('pve1')
  await h.send('pve1', payload(a.enroll()))
  await h.send('pve1', payload(a.finished('r1', [copy('c1')])))
  h.db.exec('DELETE FROM ledger_changes')
  await h.send('pve1', payload(a.finished('r2', [], { deleted: [gone('c1', 'fileset:renamed'), gone('c9', 'x')] })))
  assert.deepEqual(
    pending(h.db).filter((c) => c.kind === 'asset'),
    [
      { kind: 'asset', node: 'pve1', assetKind: 'file-set', assetId: 'fileset:etc-archive' },
      { kind: 'asset', node: 'pve1', assetKind: 'file-set', assetId: 'x' },
    ],
  )
})

test('inventory marks each asset listed or no longer listed; heartbeat and status mark the node', async (t) => {
  const h = ingestHarness(t)
  const a = new FakeAgent('pve1')
  await h.send('pve1', payload(a.enroll()))
  const vm = (id: string, coveredBy: string[] = ['vzdump']) => ({ asset: { kind: 'vm' as const, id }, coveredBy })
  await h.send('pve1', payload(a.envelope('inventory', { at: '2026-11-22T01:00:00.000Z', assets: [vm('101')] })))
  h.db.exec('DELETE FROM ledger_changes')
  const inv = { at: '2026-11-22T02:00:00.000Z', assets: [vm('102', [])] }
  await h.send('pve1', payload(a.envelope('inventory', inv)))
  assert.deepEqual(pending(h.db), [
    { kind: 'inventory', node: 'pve1', assetKind: 'vm', assetId: '102' },
    { kind: 'inventory', node: 'pve1', assetKind: 'vm', assetId: '101' },
  ])

  h.db.exec('DELETE FROM ledger_changes')
  await h.send('pve1', payload(a.heartbeat()))
  assert.deepEqual(pending(h.db), [{ kind: 'node', node: 'pve1' }])
  h.db.exec('DELETE FROM ledger_changes')
  h.ingest.status('pve1', payload({ state: 'offline', ts: Date.now() }))
  assert.deepEqual(pending(h.db), [{ kind: 'node', node: 'pve1' }])
  h.db.exec('DELETE FROM ledger_changes')
  h.ingest.status('nobody', payload({ state: 'online', ts: Date.now() }))
  assert.deepEqual(pending(h.db), [], 'a status for a node that is not enrolled changes nothing')
})

test('one batch of many runs of one asset leaves one asset change, not one per event', async (t) => {
  const h = ingestHarness(t, { batchSize: 1000 })
  const a = new FakeAgent('pve1')
  await h.send('pve1', payload(a.enroll()))
  h.db.exec('DELETE FROM ledger_changes')
  const events = Array.from({ length: 50 }, (_, i) => a.finished(`r${i}`, [copy(`c${i}`)]))
  await h.send('pve1', batchOf(a, events))
  const changes = pending(h.db)
  assert.equal(changes.filter((c) => c.kind === 'asset').length, 1)
  assert.equal(changes.filter((c) => c.kind === 'run-finished').length, 50)
  assert.equal(runAssets(h.db).length, 50, 'each run still meets the expectation of the asset it copied')
})

test('onCommitted fires after the commit, with the changes visible to another connection', async (t) => {
  const h = ingestHarness(t)
  const a = new FakeAgent('pve1')
  const reader = openDb({ file: h.db.name }).db
  t.after(() => reader.close())
  const seen: { inTransaction: boolean; changes: number }[] = []
  h.ingest.onCommitted(() => seen.push({ inTransaction: h.db.inTransaction, changes: pending(reader).length }))
  await h.send('pve1', payload(a.enroll()))
  await h.send('pve1', payload(a.started('r1')))
  assert.deepEqual(seen, [
    { inTransaction: false, changes: 1 },
    { inTransaction: false, changes: 2 },
  ])
  h.ingest.status('pve1', payload({ state: 'offline', ts: Date.now() }))
  assert.equal(seen.length, 3, 'a status change is a commit too')
})

test('a message rolled back to its savepoint takes back the changes it marked', () => {
  const { db } = openDb({ file: ':memory:' })
  const repo = createLedgerChangesRepo(db)
  const buffer = repo.buffer()
  buffer.mark({ kind: 'run-started', node: 'n', runId: 'r1' })
  const before = buffer.checkpoint()
  buffer.mark({ kind: 'run-finished', node: 'n', runId: 'r1' })
  buffer.runProduced('n', 'r1', 'vm', '101')
  buffer.mark({ kind: 'run-started', node: 'n', runId: 'r1' })
  buffer.rollbackTo(before)
  buffer.mark({ kind: 'node', node: 'n' })
  assert.equal(db.transaction(() => buffer.write())(), 2)
  assert.deepEqual(pending(db), [
    { kind: 'run-started', node: 'n', runId: 'r1' },
    { kind: 'node', node: 'n' },
  ])
  assert.deepEqual(runAssets(db), [])
})

test('upgrade: changes the old triggers captured survive the migration that drops them', (t) => {
  const dir = tempDir(t)
  const all = new URL('../../src/store/migrations/', import.meta.url).pathname
  const old = join(dir, 'migrations-before')
  mkdirSync(old)
  for (const f of readdirSync(all).filter((f) => f < '0013')) {
    copyFileSync(join(all, f), join(old, f))
  }
  const file = join(dir, 'collector.db')
  const before = openDb({ file, migrationsDir: old }).db
  // Written as a 0012-era collector did (today's repository writes columns that later migrations add).
  before
    .prepare(
      `INSERT INTO copies (node, copy_id, asset_kind, asset_id, location_kind, location_target, name, media, offsite,
        offline, immutable, created_at, verification_state, first_run_id, last_run_id, last_reported_at)
      VALUES ('pve1', 'c1', 'file-set', 'fileset:etc-archive', 'dir', '/srv/backup', 'c1', 'hdd', 0, 0, 0,
        '2026-11-22T01:00:00.000Z', 'verified', 'r1', 'r1', '2026-11-22T01:00:03.000Z')`,
    )
    .run()
  before.close()

  const { db, migrations } = openDb({ file })
  t.after(() => db.close())
  assert.ok(migrations.applied.includes('0013-ledger-changes-explicit'))
  assert.deepEqual(pending(db), [
    { kind: 'asset', node: 'pve1', assetKind: 'file-set', assetId: 'fileset:etc-archive' },
  ])
  assert.deepEqual(runAssets(db), ['pve1 r1 file-set fileset:etc-archive'])
  const triggers = db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND sql LIKE '%ledger\\_%' ESCAPE '\\'")
    .all()
  assert.deepEqual(triggers, [], 'no trigger writes ledger changes any more')
  createCopiesRepo(db).upsert('pve1', copy('c2'), 'r2', Date.parse('2026-11-22T02:00:03.000Z'))
  assert.equal(pending(db).length, 1, 'a repository write alone marks nothing: the handler does')
})
