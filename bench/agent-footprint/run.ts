// bench/agent-footprint — the agent as shipped (the SEA binary agent/dist/backstop-agent) idling as a daemon with
// three scheduled jobs, connected to a real collector: RSS and CPU over a measured window (targets <= 60 MiB,
// <= 0.2 % of a core); and the archive verification hashing against coreutils sha256sum on the same 1 GiB file,
// alternating rounds (target: at least 0.9x sha256sum's speed). Writes its section of docs/benchmarks.md.
//   node --import tsx bench/agent-footprint/run.ts
//   (env: BENCH_SKIP_BUILD=1 uses the existing binary, BENCH_WARMUP_S=30, BENCH_WINDOW_S=120, BENCH_HASH_MIB=1024,
//    BENCH_HASH_ROUNDS=5)
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { machineLine, writeBenchSection } from '../support/report.ts'
import { hashRounds, warmPageCache, writeRandomFile, type HashRound } from './hash-rounds.ts'
import { measureIdle, startAgent, startCollector, stopChild, writeAgentConfig, type IdleFigures } from './idle.ts'
import { median } from './proc-stats.ts'

const WARMUP_S = Number(process.env['BENCH_WARMUP_S'] ?? 30)
const WINDOW_S = Number(process.env['BENCH_WINDOW_S'] ?? 120)
const HASH_MIB = Number(process.env['BENCH_HASH_MIB'] ?? 1024)
const HASH_ROUNDS = Number(process.env['BENCH_HASH_ROUNDS'] ?? 5)
/** NODE_OPTIONS for the agent, to try V8 flags (e.g. "--max-semi-space-size=1") without rebuilding. */
const AGENT_NODE_OPTIONS = process.env['BENCH_AGENT_NODE_OPTIONS'] ?? ''
const root = fileURLToPath(new URL('../..', import.meta.url))
const bin = join(root, 'agent', 'dist', 'backstop-agent')
const load = (): number => loadavg()[0]!

function buildSea(): void {
  if (process.env['BENCH_SKIP_BUILD'] === '1' && existsSync(bin)) {
    return
  }
  const r = spawnSync('pnpm', ['--filter', '@backstop/agent', 'build'], { cwd: root, stdio: 'inherit' })
  if (r.status !== 0) {
    throw new Error(`pnpm --filter @backstop/agent build exited ${r.status}`)
  }
}

async function idle(dir: string): Promise<IdleFigures & { loadBefore: number; loadAfter: number }> {
  const { child: collector, url } = await startCollector(dir)
  try {
    const agent = await startAgent(bin, writeAgentConfig(dir, url), AGENT_NODE_OPTIONS)
    try {
      console.log(`agent pid ${agent.pid} connected and enrolled; warming up ${WARMUP_S} s`)
      await new Promise((r) => setTimeout(r, WARMUP_S * 1000)) // start-up work (inventory, first heartbeat) settles
      const loadBefore = load()
      console.log(`measuring ${WINDOW_S} s (load ${loadBefore.toFixed(2)})`)
      const f = await measureIdle(agent.pid!, WINDOW_S)
      return { ...f, loadBefore, loadAfter: load() }
    } finally {
      await stopChild(agent)
    }
  } finally {
    await stopChild(collector)
  }
}

interface Report {
  readonly idle: Awaited<ReturnType<typeof idle>>
  readonly rounds: readonly HashRound[]
}

async function hashing(dir: string): Promise<HashRound[]> {
  const file = join(dir, 'hash-1g.bin')
  console.log(`writing ${HASH_MIB} MiB of random data to ${file}`)
  writeRandomFile(file, HASH_MIB * 2 ** 20)
  warmPageCache(file)
  return hashRounds(file, HASH_ROUNDS, load)
}

function spread(xs: readonly number[]): string {
  return `${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}`
}

/** 60 MB as the issue states it, in MiB like every figure here. */
const RSS_TARGET_MIB = 60e6 / 2 ** 20

/** What the idle figures mean; the profile behind it was taken on the binary of this run's kind. */
function idleReading(i: Report['idle']): string[] {
  const over = i.rssMedianMiB - RSS_TARGET_MIB
  return [
    '',
    `**RSS: ${over > 0 ? `target missed by ${over.toFixed(1)} MiB` : 'within target'}; anonymous memory ` +
      `${i.anonMiB <= RSS_TARGET_MIB ? 'within' : 'over'} it. CPU: ${i.cpuPercent <= 0.2 ? 'within' : 'over'} ` +
      'target.** Where the RSS is (/proc/<pid>/smaps per mapping): almost two thirds are clean pages of the ' +
      "binary's own file. A SEA binary is a private copy of node (about 100 MB with full ICU), so the runtime's " +
      "code, the ICU data that luxon's Intl time-zone calls touch and the embedded bundle are file pages no other " +
      'process shares; the kernel can drop and re-read them under memory pressure, but RSS counts them. For scale, ' +
      'a bare `node` idling with nothing loaded has 39 MiB RSS on this machine, nearly all of it the same kind of ' +
      'pages. The anonymous part (V8 heap, about 25 MiB used, and malloc) is what the agent itself costs.',
    '',
    'Tried without effect: `--max-semi-space-size=1` (−1 MiB) and `MALLOC_ARENA_MAX=1` (no change), via ' +
      '`BENCH_AGENT_NODE_OPTIONS`. Not tried (larger changes outside this benchmark): loading systeminformation ' +
      '(0.7 MB of bundled source, the largest library) and the typebox compiler only when first used, or shipping ' +
      "the bundle for the system's node so its file pages are shared with other node processes. The CPU figure " +
      'covers the heartbeat and the status snapshot (each every 30 s); it is close to the target on a machine ' +
      'this loaded.',
  ]
}

function markdown({ idle: i, rounds }: Report): string {
  const ratios = rounds.map((r) => r.ratio)
  const mibs = (ms: number): string => ((HASH_MIB * 1000) / ms).toFixed(0)
  const shaMs = median(rounds.map((r) => r.sha256sum.ms))
  const agentMs = median(rounds.map((r) => r.agent.ms))
  const rows = rounds.map(
    (r, n) =>
      `| ${n + 1} | ${r.order} | ${r.load.toFixed(2)} | ` +
      `${r.sha256sum.ms.toFixed(0)} (${r.sha256sum.cpuMs.toFixed(0)}) | ` +
      `${r.agent.ms.toFixed(0)} (${r.agent.cpuMs.toFixed(0)}) | ${r.ratio.toFixed(2)}x |`,
  )
  return [
    '## Agent footprint: the SEA binary idling with three scheduled jobs; verification hashing vs sha256sum',
    '',
    `Command: \`node --import tsx bench/agent-footprint/run.ts\` (builds \`agent/dist/backstop-agent\` first). ` +
      `Machine: ${machineLine()}. Run ${new Date().toISOString().slice(0, 16)}Z.`,
    '',
    '**The machine was shared with other engineers running builds and tests during this run** (2 cores; the load ' +
      "average is printed with each figure). CPU time is the kernel's account of the measured process alone, so " +
      'it is less affected by neighbours than wall time.',
    '',
    '### Idle daemon',
    '',
    'The binary runs `backstop-agent run` against a real collector (its own process, plain MQTT on loopback; ' +
      'static enrollment token), with three `archive` jobs on daily/weekly schedules far from the window: scheduler ' +
      `armed, heartbeats (default interval), nothing running. Warm-up ${WARMUP_S} s after enrollment, then ` +
      `${i.windowS.toFixed(0)} s measured: RSS of the process tree sampled every second from /proc/<pid>/status, CPU ` +
      'ticks of the tree from /proc/<pid>/stat at both ends.',
    '',
    '| figure | measured | target |',
    '|---|---|---|',
    `| RSS, median of ${i.samples} samples (max) | ` +
      `${i.rssMedianMiB.toFixed(1)} MiB (${i.rssMaxMiB.toFixed(1)}) | <= 60 MB |`,
    `| of which anonymous (V8 heap, malloc) / clean file pages of the binary | ${i.anonMiB.toFixed(1)} / ` +
      `${i.fileMiB.toFixed(1)} MiB | |`,
    `| CPU over the window | ${i.cpuSeconds.toFixed(2)} s = ${i.cpuPercent.toFixed(3)} % of a core | <= 0.2 % |`,
    `| load average (1 min) before / after | ${i.loadBefore.toFixed(2)} / ${i.loadAfter.toFixed(2)} | |`,
    '',
    ...idleReading(i),
    '',
    '### Verification hashing, same file, alternating rounds',
    '',
    `A ${HASH_MIB} MiB file of random data, read once before the rounds so every round hashes from the page cache. ` +
      'Agent: `sha256File` of the archive job (the function verify-copy and each archive run use), in its own node ' +
      'process, timed inside it. Peer: coreutils `sha256sum`, wall time of the process; its CPU time from the ' +
      "waiting shell's cutime+cstime. The order flips every round. Ratio = sha256sum time / agent time " +
      '(>= 1: the agent is faster).',
    '',
    '| round | order | load | sha256sum ms (cpu ms) | agent ms (cpu ms) | ratio |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
    `Median: sha256sum ${shaMs.toFixed(0)} ms (${mibs(shaMs)} MiB/s), agent ${agentMs.toFixed(0)} ms ` +
      `(${mibs(agentMs)} MiB/s); ratio median ${median(ratios).toFixed(2)}x, spread ${spread(ratios)}x ` +
      '(target >= 0.9x).',
    '',
    "Why the agent is faster: node hashes with OpenSSL, which uses the CPU's SHA extensions (`sha_ni` here); this " +
      'coreutils `sha256sum` is its portable C code (it links no libcrypto). The archive hashing used the stream ' +
      'default of 64 KiB reads until this benchmark; 1 MiB reads (as vzdump and rear already did) cut its CPU ' +
      'per GiB from about 1.6 s to 1.0 s when measured in one process, three rounds each, on this machine.',
  ].join('\n')
}

async function main(): Promise<void> {
  buildSea()
  const dir = mkdtempSync(join(tmpdir(), 'bk-bench-footprint-'))
  try {
    const idleFigures = await idle(dir)
    console.log(
      `idle: RSS median ${idleFigures.rssMedianMiB.toFixed(1)} MiB (max ${idleFigures.rssMaxMiB.toFixed(1)}), ` +
        `CPU ${idleFigures.cpuSeconds.toFixed(2)} s in ${idleFigures.windowS.toFixed(0)} s = ` +
        `${idleFigures.cpuPercent.toFixed(3)} % of a core; anonymous ${idleFigures.anonMiB.toFixed(1)} MiB, file ` +
        `${idleFigures.fileMiB.toFixed(1)} MiB (load ${idleFigures.loadBefore.toFixed(2)} → ` +
        `${idleFigures.loadAfter.toFixed(2)})`,
    )
    const rounds = await hashing(dir)
    const md = markdown({ idle: idleFigures, rounds })
    writeBenchSection('agent-footprint', md)
    console.log(`\n${md}\n\ndocs/benchmarks.md: section agent-footprint written`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

await main()
