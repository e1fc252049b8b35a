// Fleet compliance at scale: 50k assets / 5M copies (BENCH_ASSETS, BENCH_COPIES_PER_ASSET).
//   node --import tsx bench/compliance/run.ts
// Compares the materialised design (verdict stored per asset, summary = GROUP BY over 50k rows) with the peer
// design that evaluates from the copies table on every request (one GROUP BY over all live copies).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { silentLog } from './silent-log.ts'
import { createAuditLog } from '../../collector/src/audit/audit-log.ts'
import { composeLedger } from '../../collector/src/compose/ledger.ts'
import { ledgerConfig } from '../../collector/src/ledger/config.ts'
import { fleetSummary } from '../../collector/src/api/routes/compliance.ts'
import { openDb } from '../../collector/src/store/db.ts'
import { machineLine, writeBenchSection } from '../support/report.ts'

const ASSETS = Number(process.env['BENCH_ASSETS'] ?? 50_000)
const PER = Number(process.env['BENCH_COPIES_PER_ASSET'] ?? 100)
const NODES = 50
const NOW = Date.parse('2026-11-22T00:00:00Z')
const H = 3_600_000

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!
}
const ms = (x: number): string => x.toFixed(x < 10 ? 2 : 1)

const dir = mkdtempSync(join(tmpdir(), 'bk-bench-compliance-'))
try {
  const { db } = openDb({ file: join(dir, 'c.db') })
  db.pragma('synchronous = OFF') // loading only; the measured reads do not write
  const part = composeLedger({
    db,
    log: silentLog,
    publish: () => undefined,
    clock: { now: () => NOW, setTimer: () => 0, clearTimer: () => undefined },
    config: ledgerConfig(),
    audit: createAuditLog(db),
    telemetry: undefined,
    afterCommit: () => undefined,
    fetch: globalThis.fetch,
  })

  // --- load: ASSETS × PER copies spread over 4 locations per asset (local pool, NAS, offsite, USB) ---
  const t0 = performance.now()
  const ins = db.prepare(
    'INSERT INTO copies (node, copy_id, asset_kind, asset_id, location_kind, location_target, name, media, ' +
      'offsite,\n    offline, immutable, created_at, verification_state, last_reported_at) ' +
      "VALUES (?, ?, 'zfs-dataset', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
  )
  const locs = [
    ['zfs-pool', 'tank', 'hdd', 0, 0, 0],
    ['nas', 'nas1:/b', 'nas', 0, 0, 0],
    ['object', 's3://b', 'object', 1, 0, 1],
    ['usb', 'USB-1', 'usb', 0, 1, 0],
  ] as const
  const BATCH = 1000
  for (let a0 = 0; a0 < ASSETS; a0 += BATCH) {
    db.transaction(() => {
      for (let a = a0; a < Math.min(ASSETS, a0 + BATCH); a++) {
        const node = `n${a % NODES}`
        for (let c = 0; c < PER; c++) {
          const l = locs[c % 4]!
          // Every 10th asset lets its offsite copies age past the RPO: a realistic mix of verdicts.
          const age = (c >> 2) * H + (a % 10 === 0 && l[3] === 1 ? 30 * 24 * H : 0)
          ins.run(
            node,
            `${a}-${c}`,
            `tank/ds${a}`,
            l[0],
            l[1],
            `s${c}`,
            l[2],
            l[3],
            l[4],
            l[5],
            new Date(NOW - age).toISOString(),
            c % 50 === 7 && a % 100 === 0 ? 'failed' : 'verified',
            '',
          )
        }
      }
    })()
  }
  const loadS = (performance.now() - t0) / 1000
  db.exec('DELETE FROM ledger_changes') // the bench evaluates explicitly below

  // --- initial evaluation of every asset (what a collector does once after a bulk import) ---
  const t1 = performance.now()
  const keys = db.prepare('SELECT DISTINCT node, asset_id FROM copies').all() as { node: string; asset_id: string }[]
  for (let i = 0; i < keys.length; i += 1000) {
    db.transaction(() => {
      for (const k of keys.slice(i, i + 1000)) {
        part.assets.ensure({ node: k.node, kind: 'zfs-dataset', id: k.asset_id }, null, 'standard', NOW)
      }
    })()
  }
  const evalOne = (k: { node: string; asset_id: string }) => part.ledger.refreshAsset(k.node, 'zfs-dataset', k.asset_id)
  for (const k of keys) {
    evalOne(k)
  }
  const evalAllS = (performance.now() - t1) / 1000

  // --- measured: summary (materialised) vs peer (scan copies), and one asset's verdict ---
  const compliance = { assets: part.assets, alertsRepo: part.alertsRepo, ledger: part.ledger }
  const runs = Number(process.env['BENCH_RUNS'] ?? 200)
  const summary: number[] = []
  let result = fleetSummary(compliance)
  for (let i = 0; i < runs; i++) {
    const s = performance.now()
    result = fleetSummary(compliance)
    summary.push(performance.now() - s)
  }
  const peerStmt = db.prepare(`SELECT asset_id, count(DISTINCT location_target) AS locs, max(offsite) AS offsite,
    max(offline OR immutable) AS offline, sum(verification_state = 'failed') AS errors, max(created_at) AS newest
    FROM copies WHERE deleted_at IS NULL GROUP BY node, asset_id`)
  const peer: number[] = []
  const peerRuns = Math.max(3, Math.floor(runs / 40))
  for (let i = 0; i < peerRuns; i++) {
    const s = performance.now()
    peerStmt.all()
    peer.push(performance.now() - s)
  }
  const one: number[] = []
  for (let i = 0; i < runs; i++) {
    const k = keys[(i * 7919) % keys.length]!
    const s = performance.now()
    evalOne(k)
    part.assets.get({ node: k.node, kind: 'zfs-dataset', id: k.asset_id })
    one.push(performance.now() - s)
  }
  const rows = [
    ['fleet summary (materialised verdicts, GROUP BY ledger_assets)', summary],
    ['one asset: re-evaluate from its copies + read verdict', one],
    ['peer: fleet summary by scanning all live copies', peer],
  ] as const
  const table = rows
    .map(([name, xs]) => `| ${name} | ${xs.length} | ${ms(pct(xs, 50))} | ${ms(pct(xs, 95))} |`)
    .join('\n')
  const md =
    `## Compliance: fleet summary and per-asset verdict at ${ASSETS.toLocaleString('en')} assets / ` +
    `${(ASSETS * PER).toLocaleString('en')} copies

- Date: ${new Date().toISOString()}
- Machine: ${machineLine()}
- Command: \`node --import tsx bench/compliance/run.ts\` ` +
    `(BENCH_ASSETS=${ASSETS}, BENCH_COPIES_PER_ASSET=${PER}, BENCH_RUNS=${runs})
- Data: SQLite file in a temp dir, ${NODES} nodes, each asset with copies on 4 locations (local pool, NAS, immutable
  offsite object store, offline USB); every 10th asset has a stale offsite copy, every 100th a failed verification.
  Load ${loadS.toFixed(0)} s (copies insert with the ledger triggers on); ` +
    `first full evaluation of all assets ${evalAllS.toFixed(0)} s
  (${ms((evalAllS * 1000) / ASSETS)} ms/asset). ` +
    `Result: ${result.compliant} compliant, ${result.nonCompliant} non-compliant.

| operation | runs | p50 ms | p95 ms |
|---|---:|---:|---:|
${table}

Target p95 ≤ 100 ms for the summary and for one asset: ` +
    `**summary ${pct(summary, 95) <= 100 ? 'met' : 'NOT met'}, one asset ${pct(one, 95) <= 100 ? 'met' : 'NOT met'}**.
The peer row is what a collector without materialised verdicts pays per dashboard load.`
  writeBenchSection('compliance', md)
  console.log(md)
  db.close()
} finally {
  rmSync(dir, { recursive: true, force: true })
}
