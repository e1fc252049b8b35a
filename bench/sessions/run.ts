import { mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { FakeAgent } from '../../collector/test/support/harness.ts'
import { openDb } from '../../collector/src/store/db.ts'
import { createNodesRepo } from '../../collector/src/store/nodes-repo.ts'
import { NodeSession, percentile, pregenerateTls, rssMiB } from '../../test/support/node-session.ts'
import { collectorSetup } from '../../test/support/processes.ts'
import { machineLine, writeBenchSection } from '../support/report.ts'

/**
 * N concurrent agent sessions on one collector process (issue 12): mqtts, signed CONNECT, persistent session, a
 * heartbeat every 15 s per node (phases spread over the interval). Prints the load and every round; records
 * collector RSS and heartbeat ack latency in docs/benchmarks.md. Usage: node --import tsx bench/sessions/run.ts [N]
 * [rounds]. Target: 5,000 sessions, RSS ≤ 1 GiB, ack p95 ≤ 200 ms.
 */
const N = Number(process.argv[2] ?? 5000)
const ROUNDS = Number(process.argv[3] ?? 3)
const INTERVAL_MS = 15_000
const PER_ADDRESS = 50

const dir = mkdtempSync(join(tmpdir(), 'bk-bench-sessions-'))
const setup = await collectorSetup(dir, {
  tls: { names: ['127.0.0.1', 'localhost'] },
  log: { level: 'warn' },
})
const agents = Array.from({ length: N }, (_, i) => new FakeAgent(`bench-${i}`))
seedNodes(setup.dbFile, agents)
pregenerateTls(dirname(setup.dbFile))
const proc = await setup.start()
const pid = proc.child.pid as number
const url = setup.mqttUrl.replace('mqtt://', 'mqtts://')
const load = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')
console.log(`machine: ${machineLine()}\nload before: ${load()}; collector RSS idle ${rssMiB(pid).toFixed(0)} MiB`)

const t0 = performance.now()
const sessions = await openAll(url, agents)
const connectS = (performance.now() - t0) / 1000
console.log(`${sessions.length} sessions connected in ${connectS.toFixed(1)} s; RSS ${rssMiB(pid).toFixed(0)} MiB`)

const rounds: Array<{ acks: number; failed: number; p50: number; p95: number; max: number; rss: number }> = []
for (let r = 0; r < ROUNDS; r++) {
  let rss = rssMiB(pid)
  const sampler = setInterval(() => (rss = Math.max(rss, rssMiB(pid))), 500)
  const results = await Promise.allSettled(
    sessions.map(async (s, i) => {
      await new Promise((res) => setTimeout(res, (i / sessions.length) * INTERVAL_MS))
      return s.heartbeat(INTERVAL_MS * 2)
    }),
  )
  clearInterval(sampler)
  const ok = results.flatMap((x) => (x.status === 'fulfilled' ? [x.value] : []))
  const row = {
    acks: ok.length,
    failed: results.length - ok.length,
    p50: percentile(ok, 50),
    p95: percentile(ok, 95),
    max: Math.max(...ok),
    rss,
  }
  rounds.push(row)
  console.log(
    `round ${r + 1}: ${row.acks} acked, ${row.failed} failed; ack p50 ${row.p50.toFixed(0)} ms, p95 ` +
      `${row.p95.toFixed(0)} ms, max ${row.max.toFixed(0)} ms; ` +
      `collector RSS peak ${row.rss.toFixed(0)} MiB; load ${load()}`,
  )
}
await Promise.all(sessions.map((s) => s.close()))
await proc.stop()
rmSync(dir, { recursive: true, force: true })
report()

function seedNodes(dbFile: string, list: FakeAgent[]): void {
  const { db } = openDb({ file: dbFile })
  const nodes = createNodesRepo(db)
  const now = Date.now()
  db.transaction(() => {
    for (const a of list) {
      nodes.insert({
        node: a.node,
        publicKey: a.keys.publicKey,
        fingerprint: 'bench',
        enrolledAt: now,
        hostname: a.node,
        agentVersion: 'bench',
      })
    }
  })()
  db.close()
}

/** Opens every session, 64 handshakes at a time, each node from one of N/50 loopback addresses (per-address cap). */
async function openAll(target: string, list: FakeAgent[]): Promise<NodeSession[]> {
  const out: NodeSession[] = []
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < list.length) {
      const i = next++
      const addr = `127.0.${10 + Math.floor(i / PER_ADDRESS / 250)}.${1 + (Math.floor(i / PER_ADDRESS) % 250)}`
      out.push(await NodeSession.open(target, list[i] as FakeAgent, addr))
    }
  }
  await Promise.all(Array.from({ length: 64 }, worker))
  return out
}

function report(): void {
  const worst = rounds.reduce((a, b) => (b.p95 > a.p95 ? b : a))
  const peak = Math.max(...rounds.map((r) => r.rss))
  const md = [
    '## Concurrent agent sessions (`node --import tsx bench/sessions/run.ts`)',
    '',
    `${new Date().toISOString().slice(0, 10)}, ${machineLine()}, load at the end ${load()}.`,
    `${N} sessions (mqtts, signed CONNECT, persistent session, heartbeat every 15 s), ${ROUNDS} rounds; ` +
      `connected in ${connectS.toFixed(1)} s. Target: RSS ≤ 1 GiB, ack p95 ≤ 200 ms.`,
    '',
    '| round | acked | failed | ack p50 | ack p95 | ack max | collector RSS peak |',
    '|---|---|---|---|---|---|---|',
    ...rounds.map(
      (r, i) =>
        `| ${i + 1} | ${r.acks} | ${r.failed} | ${r.p50.toFixed(0)} ms | ${r.p95.toFixed(0)} ms | ` +
        `${r.max.toFixed(0)} ms | ${r.rss.toFixed(0)} MiB |`,
    ),
    '',
    `Worst round p95 ${worst.p95.toFixed(0)} ms, RSS peak ${peak.toFixed(0)} MiB. The clients (TLS, Ed25519 ` +
      'signing, mqtt.js) run on the same cores as the collector; no peer broker is compared yet.',
  ].join('\n')
  writeBenchSection('sessions', md)
  console.log(md)
}
