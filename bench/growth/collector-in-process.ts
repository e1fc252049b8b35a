import { statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadCollectorConfig } from '../../collector/src/config/load.ts'
import type { ResolvedCollectorConfig } from '../../collector/src/config/schema.ts'
import { startCollector, type RunningCollector } from '../../collector/src/main.ts'
import { silentLog } from '../compliance/silent-log.ts'
import type { VirtualClock } from './virtual-clock.ts'

export const TOKEN = 'bench-growth-enrollment-token-0123456789'

/**
 * The collector as `backstop-collector run` builds it (main.ts startCollector: the same ingest the broker calls,
 * ledger, every scheduled part) on the benchmark's clock, from a config that sets only what a test install must:
 * where the data goes, loopback listeners on free ports, plain TCP, an enrollment token, signatures checked inline
 * (verifyWorkers: 0). Everything else —
 * ingest batching, ledger policies, retention when it exists — is the collector's own default.
 */
export async function startInProcess(
  dir: string,
  clock: VirtualClock,
): Promise<{
  collector: RunningCollector
  config: ResolvedCollectorConfig
}> {
  const file = join(dir, 'collector.yaml')
  writeFileSync(
    file,
    [
      `dataDir: ${join(dir, 'data')}`,
      'mqtt: { host: 127.0.0.1, port: 0 }',
      'api: { host: 127.0.0.1, port: 0 }',
      `enrollment: { tokens: [{ token: ${TOKEN}, expiresAt: 2099-01-01 }] }`,
      'tls: { plaintext: true }',
      'log: { level: warn }',
      // Signatures are checked on the main thread (the same checkMessage the worker pool runs): on a loaded
      // 2-core machine a thread hop per simulated step was most of the wall time, and it changes nothing stored.
      'ingest: { verifyWorkers: 0 }',
      '',
    ].join('\n'),
  )
  const config = loadCollectorConfig(file)
  const collector = await startCollector(config, { clock, log: silentLog })
  return { collector, config }
}

/** Each simulated node's one MQTT connection (the ingest tells connections apart by object identity). */
const connections = new Map<string, object>()
const connectionOf = (node: string): object => {
  let c = connections.get(node)
  if (c === undefined) {
    c = {}
    connections.set(node, c)
  }
  return c
}

/** Hands one MQTT payload to the ingest exactly as the broker does; resolves once it is committed and acked. */
export function submit(c: RunningCollector, node: string, payload: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    c.ingest.submit(node, payload, (err) => (err ? reject(err) : resolve()), connectionOf(node))
  })
}

/** The database file and its WAL, in bytes, and what SQLite says is in use. */
export function dbSize(c: RunningCollector, file: string) {
  const size = (f: string): number => {
    try {
      return statSync(f).size
    } catch {
      return 0
    }
  }
  const pages = c.db.pragma('page_count', { simple: true }) as number
  const free = c.db.pragma('freelist_count', { simple: true }) as number
  const pageSize = c.db.pragma('page_size', { simple: true }) as number
  return { db: size(file), wal: size(`${file}-wal`), usedBytes: (pages - free) * pageSize, freeBytes: free * pageSize }
}

/** Row counts of the tables that grow with history (absent tables are skipped). */
export function rowCounts(c: RunningCollector): Record<string, number> {
  const tables = [
    'events',
    'runs',
    'copies',
    'alert_flips',
    'disk_reports',
    'fs_usage_samples',
    'audit_log',
    'ledger_run_assets',
  ]
  const out: Record<string, number> = {}
  for (const t of tables) {
    try {
      out[t] = (c.db.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n
    } catch {
      // a table this schema does not have
    }
  }
  return out
}

/** Age in days of the oldest raw event still stored (retention of `events` keeps it within its window). */
export function oldestEventDays(c: RunningCollector, now: number): number | null {
  const r = c.db.prepare('SELECT min(received_at) AS t FROM events').get() as { t: string | number | null }
  if (r.t === null) {
    return null
  }
  const at = typeof r.t === 'number' ? r.t : Date.parse(r.t)
  return Math.floor((now - at) / 86_400_000)
}

/** Bytes per table and index (SQLite's dbstat), largest first; empty when this SQLite build lacks dbstat. */
export function largestTables(c: RunningCollector, most = 6): [string, number][] {
  try {
    const rows = c.db
      .prepare('SELECT name, sum(pgsize) AS bytes FROM dbstat GROUP BY name ORDER BY bytes DESC LIMIT ?')
      .all(most) as { name: string; bytes: number }[]
    return rows.map((r) => [r.name, r.bytes])
  } catch {
    return []
  }
}
