import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import Database from 'better-sqlite3'
import { parse, stringify } from 'yaml'
import {
  agentConfig,
  collectorBin,
  collectorSetup,
  getJson,
  startProc,
  tempDir,
  type CollectorSetup,
  type Proc,
} from '../support/processes.ts'
import { waitFor } from '../support/wait-for.ts'

const driver = 'test/support/ledger-agent.ts'

interface Sent {
  readonly kind: string
  readonly seq: number
  readonly msgId: string
}

/** One agent process (test/support/ledger-agent.ts) and what it says it sent. */
class LedgerAgent {
  private runs = 0
  constructor(
    readonly node: string,
    readonly proc: Proc,
  ) {}

  /** Emits `n` backup runs and waits until the collector acknowledged every event. */
  async run(n: number): Promise<void> {
    this.proc.child.stdin!.write(`run ${n}\n`)
    this.runs++
    await waitFor(() => (this.proc.output().match(/^ran \d+$/gm) ?? []).length >= this.runs, {
      what: `${this.node}: run ${n} acknowledged`,
      timeoutMs: 60_000,
    }).catch((e: Error) => {
      throw new Error(`${e.message}; the agent's output tail:\n${this.proc.output().slice(-3000)}`)
    })
  }

  sent(): Sent[] {
    return [...this.proc.output().matchAll(/^sent (\S+) (\d+) (\S+)$/gm)].map((m) => ({
      kind: m[1]!,
      seq: Number(m[2]),
      msgId: m[3]!,
    }))
  }
}

function startAgent(dir: string, c: CollectorSetup, node: string): LedgerAgent {
  const cfg = agentConfig(dir, c.mqttUrl, { node })
  const proc = startProc(['--import', 'tsx', driver, '--config', cfg], join(dir, `${node}.log`), {}, { stdin: true })
  return new LedgerAgent(node, proc)
}

/**
 * What a user sees of the agents' part of the ledger, without the instants that depend on when it was evaluated.
 * The collector's own asset (its database, node `collector-disk-loss`) is left out: its backups differ by design.
 */
async function ledgerView(c: CollectorSetup, token: string, nodes: readonly string[]): Promise<unknown> {
  type Asset = Record<string, unknown> & { reasons: { code: string }[]; places: Record<string, unknown>[] }
  type Alert = { key: string; kind: string; state: string; severity: string }
  const assets = await getJson<{ assets: Asset[] }>(`${c.apiUrl}/api/v1/assets?limit=500`, token)
  const alerts = await getJson<{ alerts: Alert[] }>(`${c.apiUrl}/api/v1/alerts?limit=500`, token)
  return {
    assets: assets.assets
      .filter((a) => nodes.includes(String(a.node)))
      .map((a) => ({
        asset: `${String(a.node)}/${String(a.kind)}/${String(a.id)}`,
        verdict: a.verdict,
        counts: a.counts,
        reasons: a.reasons.map((r) => r.code).sort(),
        lastSuccessAt: a.lastSuccessAt,
        places: a.places.map((p) => ({ key: p.locationKey, counted: p.counted, copies: p.copyIds })),
      }))
      .sort((x, y) => x.asset.localeCompare(y.asset)),
    alerts: alerts.alerts
      .filter((a) => nodes.some((n) => a.key.split('/')[1] === n))
      .map((a) => ({ key: a.key, kind: a.kind, state: a.state, severity: a.severity }))
      .sort((x, y) => x.key.localeCompare(y.key)),
  }
}

/** msgId → how many rows the collector stored for it, for one node. */
function storedIds(dbFile: string, node: string): Map<string, number> {
  const db = new Database(dbFile, { readonly: true, fileMustExist: true })
  try {
    const rows = db
      .prepare('SELECT msg_id AS msgId, count(*) AS n FROM events WHERE node = ? GROUP BY msg_id')
      .all(node) as { msgId: string; n: number }[]
    return new Map(rows.map((r) => [r.msgId, r.n]))
  } finally {
    db.close()
  }
}

interface SelfBackupRow {
  readonly path: string
  readonly status: string
  readonly highWater: Record<string, number>
}

async function verifiedBackups(c: CollectorSetup, token: string): Promise<SelfBackupRow[]> {
  const r = await getJson<{ items: SelfBackupRow[] }>(`${c.apiUrl}/api/v1/self-backup`, token)
  return r.items.filter((b) => b.status === 'verified')
}

async function keptStats(a: LedgerAgent): Promise<{ kept: number; checkpointSeq: number; releasedThrough: number }> {
  const before = (a.proc.output().match(/^stats .*$/gm) ?? []).length
  a.proc.child.stdin!.write('stats\n')
  const line = await waitFor(() => (a.proc.output().match(/^stats .*$/gm) ?? [])[before], {
    what: `${a.node}: outbox stats`,
  })
  return JSON.parse(line.slice('stats '.length)) as { kept: number; checkpointSeq: number; releasedThrough: number }
}

function runCli(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [collectorBin, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` })
    })
  })
}

describe('losing the collector disk loses nothing (issue 14)', { timeout: 6 * 60_000 }, () => {
  it('data directory destroyed after a self-backup: restored, the agents resend what the backup lacks', async (t) => {
    const dir = tempDir(t, 'bk-disk-loss-')
    const backups = join(dir, 'second-disk')
    const c = await collectorSetup(dir, { ingest: { batchIntervalMs: 5 } })
    const dataDir = join(dir, 'collector-data')
    let collector = await c.start()
    t.after(() => collector.kill9())
    const nodes = ['dl-a', 'dl-b']
    const agents = nodes.map((n) => startAgent(dir, c, n))
    t.after(() => Promise.all(agents.map((a) => a.proc.kill9())))
    const token = await c.apiToken('viewer')

    // 1. The fleet reports; nothing covers it yet: every acknowledged event stays in the agents' outboxes.
    await Promise.all(agents.map((a) => a.run(3)))
    for (const a of agents) {
      const s = await keptStats(a)
      assert.ok(s.kept >= 6, `${a.node} keeps its ${s.kept} acknowledged events: no backup covers them`)
    }

    // 2. The operator turns the self-backup on (schedule yearly: the only backup is the catch-up at start, taken
    //    with the fleet's first events in it); the keys are kept elsewhere too (docs/reliability.md).
    assert.equal(await collector.stop(), 0)
    const cfg = parse(readFileSync(c.config, 'utf8')) as Record<string, unknown>
    cfg.selfBackup = { node: 'collector-disk-loss', schedule: '0 0 1 1 *', targets: [{ dir: backups, name: 'disk2' }] }
    writeFileSync(c.config, stringify(cfg))
    collector = await c.start()
    const [backup] = await waitFor(
      async () => {
        const v = await verifiedBackups(c, token)
        return v.length > 0 && v
      },
      { what: 'the verified catch-up self-backup', timeoutMs: 60_000 },
    )
    const safe = join(dir, 'kept-elsewhere')
    cpSync(join(dataDir, 'keys'), join(safe, 'keys'), { recursive: true })
    for (const a of agents) {
      const covered = backup!.highWater[a.node]!
      assert.ok(covered >= 6, `the backup holds ${a.node}'s events up to seq ${covered}`)
      const s = await waitFor(
        async () => {
          const k = await keptStats(a)
          return k.checkpointSeq === covered && k.releasedThrough >= covered && k
        },
        { what: `${a.node} applied the checkpoint of the backup (seq ${covered})`, timeoutMs: 30_000 },
      )
      assert.ok(s.kept < 6, `${a.node} released what the backup covers (kept ${s.kept})`)
    }

    // 3. More events, committed and acknowledged after the backup: only the agents' outboxes have them elsewhere.
    await Promise.all(agents.map((a) => a.run(4)))
    const reference = await waitFor(
      async () => {
        const a = await ledgerView(c, token, nodes)
        await new Promise((r) => setTimeout(r, 500))
        const b = await ledgerView(c, token, nodes)
        return JSON.stringify(a) === JSON.stringify(b) && (a as { assets: unknown[] }).assets.length === 2 && a
      },
      { what: 'the ledger of the collector that never failed settles', timeoutMs: 60_000, intervalMs: 200 },
    )

    for (const a of agents) {
      // The restart in step 2 lost nothing: its live checkpoint's high-water mark made no agent resend.
      assert.doesNotMatch(a.proc.output(), /resending kept events/, `${a.node} resent nothing before the loss`)
    }

    // 4. The collector host loses its disk: process stopped, data directory (database, WAL, keys) gone.
    assert.equal(await collector.stop(), 0)
    rmSync(dataDir, { recursive: true, force: true })
    assert.equal(existsSync(c.dbFile), false)

    // 5. Recovery (docs/reliability.md): restore the newest verified backup, keys back, start the collector.
    const t0 = Date.now()
    const restored = await runCli(['restore', '--from', backup!.path, '--config', c.config])
    assert.equal(restored.code, 0, restored.out)
    cpSync(join(safe, 'keys'), join(dataDir, 'keys'), { recursive: true })
    const t1 = Date.now()
    collector = await c.start()
    const t2 = Date.now()
    for (const a of agents) {
      const sent = a.sent()
      assert.ok(sent.length >= 14, `${a.node} sent ${sent.length} events`)
      await waitFor(
        () => {
          const have = storedIds(c.dbFile, a.node)
          return sent.every((s) => have.has(s.msgId))
        },
        { what: `every event ${a.node} ever sent is back in the collector`, timeoutMs: 90_000, intervalMs: 200 },
      )
    }
    const recovered = await waitFor(
      async () => {
        const v = await ledgerView(c, token, nodes)
        return JSON.stringify(v) === JSON.stringify(reference) && v
      },
      { what: 'verdicts and alert states equal those of the collector that never failed', timeoutMs: 60_000 },
    ).catch(async () => ledgerView(c, token, nodes))
    const recoveryMs = Date.now() - t0
    assert.deepEqual(recovered, reference)
    t.diagnostic(
      `recovery took ${recoveryMs} ms: restore command ${t1 - t0} ms, collector start ${t2 - t1} ms, ` +
        `agents' replay and ledger settled ${Date.now() - t2} ms`,
    )

    // Every event exactly once: the replay was dropped as duplicates where the restored database had them.
    for (const a of agents) {
      const have = storedIds(c.dbFile, a.node)
      const twice = [...have].filter(([, n]) => n > 1)
      assert.deepEqual(twice, [], `${a.node}: no event stored twice`)
      assert.deepEqual(
        a.sent().filter((s) => !have.has(s.msgId)),
        [],
        `${a.node}: no event lost`,
      )
      assert.match(a.proc.output(), /resending kept events/, `${a.node} resent its kept events on reconnect`)
      assert.doesNotMatch(a.proc.output(), /they are lost/, `${a.node} lost nothing it had released`)
    }
    const audit = await runCli(['audit', 'verify', '--config', c.config])
    assert.equal(audit.code, 0, audit.out)
    assert.match(audit.out, /audit log OK/)
  })
})
