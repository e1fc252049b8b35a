import assert from 'node:assert/strict'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import Database from 'better-sqlite3'
import pino from 'pino'
import { buildApp } from '../../src/app.ts'
import { createAuditLog } from '../../src/audit/audit-log.ts'
import { composeLedger } from '../../src/compose/ledger.ts'
import { composeUpkeep, type UpkeepDeps } from '../../src/compose/upkeep.ts'
import { resolveDatabase, resolveRetention } from '../../src/config/retention.ts'
import { createPrometheus } from '../../src/export/prometheus.ts'
import { ledgerConfig } from '../../src/ledger/config.ts'
import { createCounters } from '../../src/metrics/counters.ts'
import { openDb, type Db } from '../../src/store/db.ts'
import { createWalCheckpointer, ensureIncrementalVacuum, type DiskStats } from '../../src/store/upkeep.ts'
import { appDepsOf } from '../support/app-deps.ts'
import { fakeClock } from '../ledger/fake-clock.ts'
import { tempDir } from '../support/harness.ts'

const silent = pino({ level: 'silent' })
const T0 = Date.parse('2026-06-01T00:00:00Z')
const H = 3_600_000
const GiB = 1024 ** 3

/** The collector's storage parts on a real database file, a fake clock and a fake data-directory disk. */
function setup(t: TestContext, over: Partial<UpkeepDeps> = {}) {
  const dir = tempDir(t)
  const dbFile = join(dir, 'collector.db')
  const { db } = openDb({ file: dbFile })
  t.after(() => db.close())
  const clock = fakeClock(T0)
  const auditLog = createAuditLog(db)
  const part = composeLedger({
    db,
    clock,
    log: silent,
    config: ledgerConfig(),
    audit: auditLog,
    telemetry: undefined,
    afterCommit: () => undefined,
    fetch: globalThis.fetch,
    publish: () => undefined,
  })
  const disk = { sizeBytes: 100 * GiB, usedBytes: 50 * GiB, availableBytes: 50 * GiB }
  const upkeep = composeUpkeep({
    db,
    dbFile,
    dataDir: dir,
    retention: resolveRetention(undefined, dir),
    database: resolveDatabase(undefined),
    clock,
    log: silent,
    audit: auditLog,
    keys: { secretKey: 'unused', publicKey: 'unused' },
    alerts: part.alerts,
    node: 'collector-test',
    disk: (): DiskStats => ({ ...disk }),
    ...over,
  })
  return { dir, dbFile, db, clock, part, disk, upkeep, ledger: part.ledger, auditLog }
}

const alert = (db: Db, key: string) =>
  db.prepare('SELECT state, severity, summary FROM alerts WHERE key = ?').get(key) as
    { state: string; severity: string; summary: string } | undefined

describe('the collector host disk: fill and forecast alerts, /metrics', () => {
  it('raises collector-disk-fill above the threshold and resolves it when space comes back', (t) => {
    const s = setup(t)
    s.disk.usedBytes = 90 * GiB
    s.upkeep.tick()
    const fill = alert(s.db, 'collector-disk-fill/collector-test')
    assert.equal(fill?.state, 'firing')
    assert.equal(fill?.severity, 'warning')
    assert.match(fill?.summary ?? '', /data directory .* is 90\.0 % full \(alert above 85 %\)/)
    s.disk.usedBytes = 40 * GiB
    s.clock.set(T0 + 5 * 60_000)
    s.upkeep.tick()
    assert.equal(alert(s.db, 'collector-disk-fill/collector-test')?.state, 'resolved')
  })

  it('forecasts the day the disk fills from hourly samples and alerts below diskFullForecastDays', async (t) => {
    const s = setup(t)
    // +1 % an hour from 40 %: full in 60 hours from the last sample
    for (let h = 0; h < 8; h++) {
      s.clock.set(T0 + h * H)
      s.disk.usedBytes = (40 + h) * GiB
      s.upkeep.tick()
    }
    const samples = (s.db.prepare('SELECT count(*) AS n FROM collector_disk_samples').get() as { n: number }).n
    assert.equal(samples, 8, 'one sample an hour, however often upkeep ticks')
    const forecast = alert(s.db, 'collector-disk-forecast/collector-test')
    assert.equal(forecast?.state, 'firing')
    assert.equal(forecast?.severity, 'critical', 'full within a week')
    assert.match(forecast?.summary ?? '', /forecast to be full in 2\.[0-9] days/)
    const days = s.upkeep.storage.disk().daysUntilFull
    assert.ok(days !== null && Math.abs(days - 53 / 24) < 0.01, String(days))

    const prometheus = createPrometheus({
      db: s.db,
      assets: s.part.assets,
      alerts: s.part.alertsRepo,
      channels: s.part.channels,
      downNodes: s.ledger.downNodes,
      counters: createCounters(),
      storage: s.upkeep.storage,
    })
    const deps = appDepsOf({ db: s.db, clock: s.clock, part: s.part, ledger: s.ledger, auditLog: s.auditLog })
    const app = buildApp({ ...deps, metrics: prometheus.render })
    t.after(() => app.close())
    const m = await app.inject({ method: 'GET', url: '/metrics', headers: deps.bearer('viewer') })
    assert.equal(m.statusCode, 200)
    const value = (name: string): number => {
      const line = new RegExp(`^${name} (\\S+)$`, 'm').exec(m.body)
      assert.ok(line, `${name} in /metrics`)
      return Number(line[1])
    }
    assert.equal(value('backstop_collector_db_bytes'), statSync(s.dbFile).size)
    assert.ok(value('backstop_collector_db_pages') > 10)
    assert.ok(value('backstop_collector_db_free_pages') >= 0)
    assert.ok(value('backstop_collector_db_wal_bytes') >= 0)
    assert.equal(value('backstop_collector_data_disk_used_ratio'), 0.47)
    assert.equal(value('backstop_collector_data_disk_size_bytes'), 100 * GiB)
    assert.ok(Math.abs(value('backstop_collector_data_disk_full_forecast_days') - 53 / 24) < 0.01)
    assert.match(m.body, /backstop_alerts_firing\{kind="collector-disk-forecast",severity="critical"\} 1/)
    // every sample line is well-formed exposition text (promtool is not installed here)
    for (const l of m.body.split('\n').filter((x) => x && !x.startsWith('#'))) {
      assert.match(
        l,
        /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"]*")*\})? \S+$/,
        l,
      )
    }
  })
})

describe('SQLite upkeep', () => {
  it('a new database is incremental from the start; an old one is switched by one VACUUM, data intact', (t) => {
    const dir = tempDir(t)
    const fresh = openDb({ file: join(dir, 'new.db') }).db
    assert.equal(fresh.pragma('auto_vacuum', { simple: true }), 2)
    fresh.close()
    const file = join(dir, 'old.db')
    const legacy = new Database(file)
    legacy.pragma('journal_mode = WAL')
    legacy.exec('CREATE TABLE t (x TEXT)')
    legacy.prepare('INSERT INTO t VALUES (?)').run('kept')
    legacy.close()
    const { db } = openDb({ file })
    t.after(() => db.close())
    assert.equal(db.pragma('auto_vacuum', { simple: true }), 0, 'the pragma alone does not convert a file')
    assert.equal(ensureIncrementalVacuum(db, file, dir, silent), true)
    assert.equal(db.pragma('auto_vacuum', { simple: true }), 2)
    assert.deepEqual(db.prepare('SELECT x FROM t').all(), [{ x: 'kept' }])
  })

  it('checkpoints the WAL (TRUNCATE) past its size bound and when writes stopped for the idle time', (t) => {
    const dir = tempDir(t)
    const file = join(dir, 'c.db')
    const { db } = openDb({ file })
    t.after(() => db.close())
    db.exec('CREATE TABLE t (x BLOB)')
    const wal = (): number => statSync(`${file}-wal`).size
    const byIdle = createWalCheckpointer(db, file, { truncateBytes: 1024 ** 3, idleMs: 60_000 }, silent)
    db.prepare('INSERT INTO t VALUES (randomblob(100000))').run()
    assert.ok(wal() > 0)
    assert.equal(byIdle(T0), 'idle', 'just written')
    assert.equal(byIdle(T0 + 30_000), 'idle')
    assert.equal(byIdle(T0 + 60_000), 'truncated')
    assert.equal(wal(), 0)
    const bySize = createWalCheckpointer(db, file, { truncateBytes: 50_000, idleMs: 3_600_000 }, silent)
    db.prepare('INSERT INTO t VALUES (randomblob(100000))').run()
    assert.equal(bySize(T0), 'truncated', 'over the bound at once')
    assert.equal(wal(), 0)
  })

  it('a retention pass gives the freed pages back to the file system', async (t) => {
    const s = setup(t)
    const ins = s.db.prepare(`INSERT INTO events (node, msg_id, seq, kind, ts, received_at, raw)
      VALUES ('pve1', ?, ?, 'job.started', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00.000Z', ?)`)
    s.db.transaction(() => {
      for (let i = 1; i <= 2000; i++) {
        ins.run(`m${i}`, i, 'x'.repeat(2000))
      }
    })()
    const pagesBefore = s.upkeep.storage.db().pages
    const r = await s.upkeep.retention.runOnce()
    assert.equal(r.deleted['events'], 2000)
    assert.ok(r.freedPages > 900, String(r.freedPages))
    assert.equal(s.upkeep.storage.db().freePages, 0)
    assert.ok(s.upkeep.storage.db().pages < pagesBefore / 2)
    assert.deepEqual(
      s.db.prepare('SELECT seq, forgotten_through FROM node_high_water').all(),
      [{ seq: 2000, forgotten_through: 2000 }],
      'pruning without a mark creates one: nothing is forgotten silently',
    )
  })
})
