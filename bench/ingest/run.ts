// bench/ingest — signed events/s through the collector's full durable path (verify → validate → batched SQLite
// commit → ack after commit) from N concurrent agent connections, against raw aedes pub→sub pass-through on the
// same machine in the same run. Writes its section of docs/benchmarks.md.
//   node --import tsx bench/ingest/run.ts
//   (env: BENCH_CLIENTS=4 BENCH_EVENTS=25000 BENCH_WINDOW=1000 BENCH_ROUNDS=5 BENCH_SINGLE_EVENTS=5000 (0 skips the
//    single-event run), BENCH_COMMIT=<ingest.batchSize> (default: the collector's), BENCH_COLLECTOR_NODE_ARGS=<node
// flags>)
// The batched and raw paths run alternately BENCH_ROUNDS times and the medians are reported: on a shared VM one
// pair swings by ±30% with the neighbours' load, and alternating keeps both paths under the same weather.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { BenchAgent, rawPassThrough, type Outgoing } from './clients.ts'
import { cpuMs } from './cpu.ts'
import { machineLine, writeBenchSection } from '../support/report.ts'

const CLIENTS = Number(process.env['BENCH_CLIENTS'] ?? 4)
const PER_CLIENT = Number(process.env['BENCH_EVENTS'] ?? 25_000)
const WINDOW = Number(process.env['BENCH_WINDOW'] ?? 1000)
/** Extra node flags for the collector process, e.g. BENCH_COLLECTOR_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof". */
const COLLECTOR_NODE_ARGS = (process.env['BENCH_COLLECTOR_NODE_ARGS'] ?? '').split(' ').filter(Boolean)
/** Events per SQLite transaction (the collector's ingest.batchSize); unset = the collector's default (1000). */
const COMMIT = process.env['BENCH_COMMIT'] ? Number(process.env['BENCH_COMMIT']) : undefined
const SINGLE = Number(process.env['BENCH_SINGLE_EVENTS'] ?? 5000)
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 5)
const TOKEN = 'bench-enrollment-token-0123456789'
const root = fileURLToPath(new URL('../..', import.meta.url))

function startChild(argv: string[], pattern: RegExp): Promise<{ child: ChildProcess; match: RegExpMatchArray }> {
  const child = spawn(process.execPath, argv, {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, NODE_NO_WARNINGS: '1' },
  })
  return new Promise((resolve, reject) => {
    let buf = ''
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString()
      const m = buf.match(pattern)
      if (m) {
        resolve({ child, match: m })
      }
    })
    child.once('exit', (code) => reject(new Error(`${argv.join(' ')} exited ${code} before it was ready`)))
  })
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) {
    return
  }
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  await exited
}

interface Run {
  readonly rate: number
  readonly seconds: number
  readonly events: number
  readonly messages: number
  /** Collector CPU (all threads) while the events were sent, ms. */
  readonly cpuMs: number
}

interface RawRun {
  readonly rate: number
  /** Raw broker CPU for the whole pass-through, ms. */
  readonly cpuMs: number
}

/**
 * `batched`: publish as the agent drains a backlog (batches); otherwise one message per event (old agents, trickles).
 */
/** `commitSize` = the collector's ingest.batchSize (events per SQLite transaction); undefined = the default (1000). */
async function benchCollector(perClient: number, batched: boolean, commitSize?: number): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'bk-bench-ingest-'))
  const cfg = join(dir, 'collector.yaml')
  writeFileSync(
    cfg,
    [
      `dataDir: ${dir}/data`,
      'mqtt: { host: 127.0.0.1, port: 0 }',
      'api: { host: 127.0.0.1, port: 0 }',
      `enrollment: { tokens: [${TOKEN}] }`,
      'log: { level: warn }',
      ...(commitSize ? [`ingest: { batchSize: ${commitSize} }`] : []),
      // Plain TCP on loopback for both paths: the peer is raw aedes without TLS, so TLS would skew the ratio.
      'tls: { plaintext: true }',
      '',
    ].join('\n'),
  )
  const { child, match } = await startChild(
    [...COLLECTOR_NODE_ARGS, 'collector/bin/backstop-collector.mjs', 'run', '--config', cfg],
    /MQTT (mqtt:\/\/\S+)/,
  )
  try {
    const agents = Array.from({ length: CLIENTS }, (_, i) => new BenchAgent(`bench-${i}`))
    for (const a of agents) {
      await a.connect(match[1]!)
      await a.enroll(TOKEN)
    }
    const messages: Outgoing[][] = agents.map((a) =>
      batched ? a.batches(perClient) : a.events(perClient).map((payload) => ({ payload, events: 1 })),
    )
    const cpu0 = cpuMs(child.pid!)
    const t0 = performance.now()
    await Promise.all(agents.map((a, i) => a.send(messages[i]!, WINDOW)))
    const seconds = (performance.now() - t0) / 1000
    const cpu = cpuMs(child.pid!) - cpu0
    await Promise.all(agents.map((a) => a.close()))
    const events = CLIENTS * perClient
    const sent = messages.reduce((n, m) => n + m.length, 0)
    return { rate: events / seconds, seconds, events, messages: sent, cpuMs: cpu }
  } finally {
    await stop(child)
    rmSync(dir, { recursive: true, force: true })
  }
}

async function benchRaw(payloads: Buffer[][]): Promise<RawRun> {
  const { child, match } = await startChild(['--import', 'tsx', 'bench/ingest/raw-broker.ts'], /RAW_BROKER_PORT=(\d+)/)
  try {
    const cpu0 = cpuMs(child.pid!)
    const rate = await rawPassThrough(`mqtt://127.0.0.1:${match[1]}`, payloads, WINDOW)
    return { rate, cpuMs: cpuMs(child.pid!) - cpu0 }
  } finally {
    await stop(child)
  }
}

function row(what: string, r: Run): string {
  return (
    `| ${what} | ${r.events} | ${r.messages} | ${r.seconds.toFixed(2)} | ` +
    `${Math.round(r.rate)} | ${Math.round(r.messages / r.seconds)} |`
  )
}

const LOAD = loadavg()
  .map((x) => x.toFixed(2))
  .join(', ')
const sample = Array.from({ length: CLIENTS }, (_, i) => new BenchAgent(`raw-${i}`).events(PER_CLIENT))
const median = <T>(xs: T[], key: (x: T) => number): T =>
  [...xs].sort((a, b) => key(a) - key(b))[Math.floor((xs.length - 1) / 2)]!
const loadNow = (): string => loadavg()[0]!.toFixed(2)
const rounds: Array<{ backstop: Run; raw: RawRun; load: string }> = []
/** CPU ms per 1,000 events (Backstop) or messages (raw): the figure that the neighbours' load moves least. */
const perK = (cpu: number, n: number): number => (cpu * 1000) / n
const total = CLIENTS * PER_CLIENT
const describe = (r: (typeof rounds)[number]): string =>
  `${Math.round(r.backstop.rate)} / ${Math.round(r.raw.rate)} = ${(r.backstop.rate / r.raw.rate).toFixed(2)}×, ` +
  `CPU ${perK(r.backstop.cpuMs, r.backstop.events).toFixed(0)} / ${perK(r.raw.cpuMs, total).toFixed(0)} ms per 1k ` +
  `(load ${r.load})`
for (let r = 0; r < ROUNDS; r++) {
  const load = loadNow()
  const round = { backstop: await benchCollector(PER_CLIENT, true, COMMIT), raw: await benchRaw(sample), load }
  rounds.push(round)
  console.log(`round ${r + 1}/${ROUNDS}: ${describe(round)}`)
}
const single = SINGLE > 0 ? await benchCollector(SINGLE, false, COMMIT) : undefined
const backstop = median(
  rounds.map((r) => r.backstop),
  (b) => b.rate,
)
const raw = median(
  rounds.map((r) => r.raw.rate),
  (x) => x,
)
const ratio = backstop.rate / raw
const cpuBackstop = median(
  rounds.map((r) => perK(r.backstop.cpuMs, r.backstop.events)),
  (x) => x,
)
const cpuRaw = median(
  rounds.map((r) => perK(r.raw.cpuMs, total)),
  (x) => x,
)
const perRound = rounds.map(describe).join('; ')
const batchSize = backstop.events / backstop.messages
const lines = [
  '## Ingest: signed events through the durable path vs raw aedes pass-through',
  '',
  `- Date: ${new Date().toISOString()}`,
  `- Machine: ${machineLine()}`,
  '- Command: `node --import tsx bench/ingest/run.ts`' +
    ` (BENCH_CLIENTS=${CLIENTS}, BENCH_EVENTS=${PER_CLIENT}, BENCH_WINDOW=${WINDOW}, BENCH_ROUNDS=${ROUNDS}, ` +
    `BENCH_SINGLE_EVENTS=${SINGLE}${COMMIT ? `, BENCH_COMMIT=${COMMIT}` : ''})`,
  `- Load average when the run started: ${LOAD}`,
  `- Workload: ${CLIENTS} concurrent agent connections × ${PER_CLIENT} signed \`job.started\` envelopes ` +
    `(${sample[0]![0]!.length} bytes each), QoS 1,`,
  `  at most ${WINDOW} unacknowledged events per connection. Each connection drains its backlog the way the agent does`,
  '  (agent/src/transport/batch-pack.ts): runs of outbox envelopes go as one signed batch of up to 256 events',
  '  (docs/protocol.md "Batches"). Backstop counts an event only when its application-level ack (published after the',
  '  SQLite commit) arrives; the peer counts a message when the subscriber receives it. Clients run in the benchmark',
  '  process; the collector and the raw broker each run in their own process, both on plain TCP over loopback.',
  `- Rounds: the batched and raw paths ran alternately ${ROUNDS} times; the table shows the median of each (the`,
  '  single-event row is one run). Per round: Backstop events/s / raw msgs/s, then CPU ms per 1,000 events of the',
  "  collector process / of the raw broker process (1-minute load average at the round's start):",
  `  ${perRound}.`,
  '',
  '| path | events | MQTT messages | seconds | events/s | messages/s |',
  '|---|---:|---:|---:|---:|---:|',
  row('Backstop collector, batched (one verify per batch + validate + batched commit + ack)', backstop),
  ...(single ? [row('Backstop collector, one event per message (one verify per event)', single)] : []),
  `| raw aedes 1.2 pub→sub (no hooks, no storage), one event per message | ${total} | ${total} | ` +
    `${(total / raw).toFixed(2)} | ${Math.round(raw)} | ${Math.round(raw)} |`,
  '',
  `Batches: ${backstop.messages} of ${batchSize.toFixed(1)} events on average, ` +
    `${Math.round(backstop.messages / backstop.seconds)} batches/s.`,
  '',
  `CPU per 1,000 events (median): collector ${cpuBackstop.toFixed(0)} ms (all threads: verification worker,`,
  `SQLite, ledger), raw broker ${cpuRaw.toFixed(0)} ms per 1,000 messages: ` +
    `${(cpuRaw / cpuBackstop).toFixed(2)}× if both were CPU-bound.`,
  '',
  `**Ratio: ${ratio.toFixed(2)}× the pass-through rate** ` +
    '(median Backstop events/s ÷ median raw messages/s; target ≥ 0.5×; absolute target',
  `≥ 20,000 events/s: ${backstop.rate >= 20_000 ? 'met' : 'missed'}).` +
    (single ? ` One event per message: ${Math.round(single.rate)} events/s, ${(single.rate / raw).toFixed(2)}×.` : ''),
  '',
  'Read the ratio for what it is: the raw path carries one event per MQTT message, the Backstop path carries batches —',
  'that is the point of the design. Every event is still signed by the agent at emit time and keeps its signature in',
  'the stored row, but the collector verifies one Ed25519 signature per batch instead of one per event',
  '(node:crypto manages ~9,700 verifies/s per core on this VM; the single-event row is bound by that). The raw path',
  'still does no crypto, no validation and no storage.',
  '',
  'Where the time goes (CPU profile of the collector, `BENCH_COLLECTOR_NODE_ARGS="--cpu-prof --cpu-prof-dir=…"`,',
  '100,000 `job.started` on 2026-12-04 at load ~20): the main thread was busy ~22 s — COMMIT (WAL page writes and',
  'fsync) 3.2 s, the `runs` insert 2.4 s, the ledger evaluating each run-started 1.9 s, `ledger_changes` (marked once',
  'per batch, drained, removed) 1.6 s, the `events` row 1.3 s, verifier results 0.7 s, garbage collection 1.7 s.',
  'Since migration 0013 the ingest handlers mark ledger changes themselves, coalesced per batch',
  '(collector/src/store/ledger-changes-repo.ts), instead of nine triggers; the before/after follows this section.',
  'Earlier, `temp_store = MEMORY` (collector/src/store/db.ts) moved statement journals into RAM (strace of 100,000',
  'trigger-firing inserts: 882,217 pwrites before, 35,383 after; 13.5k → 20.3k events/s on 2026-12-03). The CPU per',
  "1,000 events moves far less with the neighbours' load than events/s do: on this shared VM raw aedes measured",
  '1.7k–64k msgs/s across sessions, which is why both paths alternate within one run and the medians are compared.',
]
writeBenchSection('ingest', lines.join('\n'))
console.log(lines.join('\n'))
