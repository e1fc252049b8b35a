import assert from 'node:assert/strict'
import { cpSync, mkdtempSync, rmSync } from 'node:fs'
import { deflateRawSync } from 'node:zlib'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, it, type TestContext } from 'node:test'
import { openDb, type Db } from '../../src/store/db.ts'
import { createDeclaredJobsRepo } from '../../src/store/declared-jobs-repo.ts'
import { BROTLI_MARK, decodeRaw, RAW_COMPRESS_FROM_BYTES } from '../../src/store/event-raw.ts'
import { createEventsRepo, type EventInsert } from '../../src/store/events-repo.ts'

const migrations = fileURLToPath(new URL('../../src/store/migrations/', import.meta.url))
const T0 = Date.parse('2026-01-08T01:00:00Z')

/** A job.finished the shape the agent sends: every live copy of ten datasets with its storage (~1,000 copies). */
function jobFinished(seq: number): string {
  const copies = Array.from({ length: 1000 }, (_, i) => ({
    copyId: `zfs-dataset:rpool:rpool/data/ds${i % 10}@backstop_2026010${i % 8}T${String(i % 24).padStart(2, '0')}0000Z`,
    asset: { kind: 'zfs-dataset', id: `rpool/data/ds${i % 10}` },
    location: { kind: 'zfs-pool', target: 'rpool' },
    createdAt: new Date(T0 - i * 3_600_000).toISOString(),
    bytes: 4_000_000_000 + i,
    verification: { state: 'verified', at: new Date(T0 - i * 3_600_000).toISOString(), method: 'zfs-guid' },
    storage: { host: 'pve01', site: 'dc1', devices: [{ id: 'wwn:0x5002538e40a1b2c3', transport: 'nvme' }] },
  }))
  const body = { runId: `run-${seq}`, job: 'hourly', jobKind: 'zfs', status: 'success', copies }
  return JSON.stringify({ v: 1, kind: 'job.finished', node: 'pve01', msgId: `m-${seq}`, seq, body })
}

function ev(seq: number, raw: string, kind = 'job.finished'): EventInsert {
  return { node: 'pve01', msgId: `m-${seq}`, seq, kind, ts: new Date(T0).toISOString(), receivedAt: T0 + seq, raw }
}

function openMemory(t: TestContext): Db {
  const { db } = openDb({ file: ':memory:' })
  t.after(() => db.close())
  return db
}

const stored = (db: Db, seq: number) =>
  db
    .prepare<[number], { raw: string | Buffer; type: string }>(
      'SELECT raw, typeof(raw) AS type FROM events WHERE seq = ?',
    )
    .get(seq)

describe('events.raw: text, Brotli, and DEFLATE written before it', () => {
  it('keeps an hourly job.finished in Brotli, smaller than DEFLATE could, and gives back the exact envelope', (t) => {
    const db = openMemory(t)
    const raw = jobFinished(1)
    assert.ok(raw.length > 200_000, `the fixture is as big as the agent's (${raw.length} bytes)`)
    assert.equal(createEventsRepo(db).record(ev(1, raw)), 'stored')
    const row = stored(db, 1)
    assert.equal(row?.type, 'blob')
    assert.ok(Buffer.isBuffer(row?.raw))
    assert.equal(row.raw[0], BROTLI_MARK)
    const deflated = deflateRawSync(Buffer.from(raw)).length
    assert.ok(row.raw.length < deflated / 2, `stored ${row.raw.length} bytes, DEFLATE would take ${deflated}`)
    assert.equal(decodeRaw(row.raw), raw)
    assert.equal(createEventsRepo(db).record(ev(1, raw)), 'replay', 'a replay of the compressed event is still known')
  })

  it('compresses a disk report of a few KB too', (t) => {
    const db = openMemory(t)
    const disks = Array.from({ length: 4 }, (_, i) => ({
      id: `wwn:0x5000c500a1b2c3d${i}`,
      model: 'ST4000VN008-2DR166',
      serial: `ZDH1${i}ABC`,
      smart: { passed: true, temperatureC: 30 + i, powerOnHours: 21_000 + i * 17, reallocatedSectors: 0 },
      attributes: [5, 187, 188, 197, 198, 199].map((id) => ({ id, raw: i, worst: 100, threshold: 10 })),
    }))
    const raw = JSON.stringify({ kind: 'disk.health', node: 'pve01', body: { disks } })
    assert.ok(raw.length >= RAW_COMPRESS_FROM_BYTES && raw.length < 4096, `${raw.length} bytes`)
    createEventsRepo(db).record(ev(7, raw, 'disk.health'))
    const row = stored(db, 7)
    assert.equal(row?.type, 'blob')
    assert.ok(Buffer.isBuffer(row?.raw) && row.raw.length < raw.length / 2, `stored ${String(row?.raw.length)} bytes`)
    assert.equal(decodeRaw(row.raw), raw)
  })

  it('still reads a BLOB of raw DEFLATE, as migration 0044 and the code after it wrote them', (t) => {
    const db = openMemory(t)
    const raw = jobFinished(8)
    db.prepare(
      `INSERT INTO events (node, msg_id, seq, kind, ts, received_at, raw)
      VALUES ('pve01', 'm-8', 8, 'job.finished', '2026-01-08T01:00:00.000Z', '2026-01-08T01:00:00.000Z', ?)`,
    ).run(deflateRawSync(Buffer.from(raw)))
    const row = stored(db, 8)
    assert.ok(Buffer.isBuffer(row?.raw) && row.raw[0] !== BROTLI_MARK)
    assert.equal(decodeRaw(row.raw), raw)
    assert.equal(createEventsRepo(db).record(ev(8, raw)), 'replay')
  })

  it('keeps a small envelope as the text received, readable with json_extract', (t) => {
    const db = openMemory(t)
    const raw = JSON.stringify({ kind: 'job.started', body: { runId: 'r-2' } })
    assert.ok(raw.length < RAW_COMPRESS_FROM_BYTES)
    createEventsRepo(db).record(ev(2, raw, 'job.started'))
    assert.equal(stored(db, 2)?.type, 'text')
    const runId = db.prepare("SELECT json_extract(raw, '$.body.runId') AS r FROM events WHERE seq = 2").get()
    assert.deepEqual(runId, { r: 'r-2' })
  })

  it('reads back a large jobs.declared body for the ledger', (t) => {
    const db = openMemory(t)
    const jobs = Array.from({ length: 200 }, (_, i) => ({ name: `job-${i}`, kind: 'zfs', schedule: '0 * * * *' }))
    const body = { jobs, hash: 'h' }
    const raw = JSON.stringify({ kind: 'jobs.declared', body })
    assert.ok(raw.length >= RAW_COMPRESS_FROM_BYTES)
    createEventsRepo(db).record(ev(3, raw, 'jobs.declared'))
    assert.deepEqual(createDeclaredJobsRepo(db).bodyOf('pve01', 'm-3'), body)
  })

  it('an upgraded database keeps every event, its id, its text and the idempotency of its msgIds', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'bk-event-raw-'))
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    const before = join(dir, 'before')
    cpSync(migrations, before, { recursive: true, filter: (f) => !/\/0044-[^/]*\.sql$/.test(f) })
    const file = join(dir, 'c.db')
    const big = jobFinished(5)
    {
      const { db } = openDb({ file, migrationsDir: before })
      const repo = createEventsRepo(db)
      // written the way the code before 0044 did: the text as received, whatever its size
      const ins = db.prepare(`INSERT INTO events (id, node, msg_id, seq, kind, ts, received_at, raw)
        VALUES (?, 'pve01', ?, ?, 'job.finished', '2026-01-08T01:00:00.000Z', '2026-01-08T01:00:00.000Z', ?)`)
      ins.run(40, 'm-4', 4, '{"small":true}')
      ins.run(41, 'm-5', 5, big)
      assert.equal(repo.highWater('pve01'), undefined)
      db.close()
    }
    const { db, migrations: report } = openDb({ file, migrationsDir: migrations })
    t.after(() => db.close())
    assert.deepEqual(report.applied, ['0044-events-raw-compressed'])
    const rows = db.prepare('SELECT id, seq, typeof(raw) AS type FROM events ORDER BY id').all()
    assert.deepEqual(rows, [
      { id: 40, seq: 4, type: 'text' },
      { id: 41, seq: 5, type: 'text' },
    ])
    assert.equal(decodeRaw(stored(db, 5)?.raw ?? ''), big)
    const repo = createEventsRepo(db)
    assert.equal(repo.record(ev(5, big)), 'replay', 'an old event replayed after the upgrade is not applied again')
    assert.equal(repo.record(ev(6, jobFinished(6))), 'stored')
    assert.equal(stored(db, 6)?.type, 'blob')
    const idx = db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events'").all()
    assert.ok(
      idx.some((i) => (i as { name: string }).name === 'events_node_seq'),
      JSON.stringify(idx),
    )
  })
})
