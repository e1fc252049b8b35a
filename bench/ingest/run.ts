// bench/ingest — signed events/s through the collector's full durable path (verify → validate → batched SQLite
// commit → ack after commit) from N concurrent agent connections, against raw aedes pub→sub pass-through on the
// same machine in the same run. Writes its section of docs/benchmarks.md.
//   node --import tsx bench/ingest/run.ts            (env: BENCH_CLIENTS=4 BENCH_EVENTS=25000 BENCH_WINDOW=1000)
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { BenchAgent, rawPassThrough } from './clients.ts'
import { machineLine, writeBenchSection } from '../support/report.ts'

const CLIENTS = Number(process.env['BENCH_CLIENTS'] ?? 4)
const PER_CLIENT = Number(process.env['BENCH_EVENTS'] ?? 25_000)
const WINDOW = Number(process.env['BENCH_WINDOW'] ?? 1000)
const TOKEN = 'bench-enrollment-token-0123456789'
const root = fileURLToPath(new URL('../..', import.meta.url))

function startChild(argv: string[], pattern: RegExp): Promise<{ child: ChildProcess, match: RegExpMatchArray }> {
  const child = spawn(process.execPath, argv, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, NODE_NO_WARNINGS: '1' } })
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

async function benchCollector(): Promise<{ rate: number, seconds: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'bk-bench-ingest-'))
  const cfg = join(dir, 'collector.yaml')
  writeFileSync(cfg, [
    `dataDir: ${dir}/data`,
    'mqtt: { host: 127.0.0.1, port: 0 }',
    'api: { host: 127.0.0.1, port: 0 }',
    `enrollment: { tokens: [${TOKEN}] }`,
    'log: { level: warn }',
    // Plain TCP on loopback for both paths: the peer is raw aedes without TLS, so TLS would skew the ratio.
    'tls: { plaintext: true }',
    '',
  ].join('\n'))
  const { child, match } = await startChild(['collector/bin/backstop-collector.mjs', 'run', '--config', cfg], /MQTT (mqtt:\/\/\S+)/)
  try {
    const agents = Array.from({ length: CLIENTS }, (_, i) => new BenchAgent(`bench-${i}`))
    for (const a of agents) {
      await a.connect(match[1]!)
      await a.enroll(TOKEN)
    }
    const payloads = agents.map((a) => a.events(PER_CLIENT))
    const t0 = performance.now()
    await Promise.all(agents.map((a, i) => a.send(payloads[i]!, WINDOW)))
    const seconds = (performance.now() - t0) / 1000
    await Promise.all(agents.map((a) => a.close()))
    return { rate: (CLIENTS * PER_CLIENT) / seconds, seconds }
  } finally {
    await stop(child)
    rmSync(dir, { recursive: true, force: true })
  }
}

async function benchRaw(payloads: Buffer[][]): Promise<number> {
  const { child, match } = await startChild(['--import', 'tsx', 'bench/ingest/raw-broker.ts'], /RAW_BROKER_PORT=(\d+)/)
  try {
    return await rawPassThrough(`mqtt://127.0.0.1:${match[1]}`, payloads, WINDOW)
  } finally {
    await stop(child)
  }
}

const sample = Array.from({ length: CLIENTS }, (_, i) => new BenchAgent(`raw-${i}`).events(PER_CLIENT))
const backstop = await benchCollector()
const raw = await benchRaw(sample)
const ratio = backstop.rate / raw
const total = CLIENTS * PER_CLIENT
const lines = [
  '## Ingest: signed events through the durable path vs raw aedes pass-through',
  '',
  `- Date: ${new Date().toISOString()}`,
  `- Machine: ${machineLine()}`,
  '- Command: `node --import tsx bench/ingest/run.ts`' + ` (BENCH_CLIENTS=${CLIENTS}, BENCH_EVENTS=${PER_CLIENT}, BENCH_WINDOW=${WINDOW})`,
  `- Workload: ${CLIENTS} concurrent agent connections × ${PER_CLIENT} signed \`job.started\` envelopes (${sample[0]![0]!.length} bytes each), QoS 1,`,
  `  at most ${WINDOW} unacknowledged per connection. Backstop counts an event only when its application-level ack`,
  '  (published after the SQLite commit) arrives; the peer counts a message when the subscriber receives it.',
  '  Clients run in the benchmark process; the collector and the raw broker each run in their own process,\n  both on plain TCP over loopback.',
  '',
  '| path | events | seconds | events/s |',
  '|---|---:|---:|---:|',
  `| Backstop collector (verify + validate + batched commit + ack) | ${total} | ${backstop.seconds.toFixed(2)} | ${Math.round(backstop.rate)} |`,
  `| raw aedes 1.2 pub→sub (no hooks, no storage) | ${total} | ${(total / raw).toFixed(2)} | ${Math.round(raw)} |`,
  '',
  `**Ratio: ${ratio.toFixed(2)}× the pass-through rate** (target ≥ 0.5×; absolute target ≥ 20,000 events/s).`,
  '',
  'Why the targets are missed here: every event carries its own Ed25519 signature and the collector verifies each',
  'one before committing (node:crypto; `openssl speed ed25519` gives ~9,700 verifies/s per core on this VM, and the',
  'two cores are shared with the clients and SQLite). The raw path does no crypto, no validation and no storage.',
  'The remedy is a protocol change — one signature over a batch of events (the outbox already drains in order) —',
  'not made yet; until then this figure is the honest cost of per-event verification on two cores.',
]
writeBenchSection('ingest', lines.join('\n'))
console.log(lines.join('\n'))
