// restic backup of a 2 GiB tree: a whole Backstop `restic` job run vs the bare `restic backup` command, same REST
// server (Debian's `rclone serve restic` on loopback), a fresh repository per measurement, alternating order.
// Needs restic and rclone (scripts/setup.sh --test).
//   node --import tsx bench/restic-backup.ts [--gib 2] [--rounds 3] [--no-write]
// Writes its section of docs/benchmarks.md (unless --no-write).
import { spawn, spawnSync } from 'node:child_process'
import { randomFillSync } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { NodeExec } from '../agent/src/exec/node-exec.ts'
import type { JobContext } from '../agent/src/jobs/job.ts'
import type { Log } from '../agent/src/log.ts'
import { resolveResticJob } from '../agent/src/jobs/restic/config.ts'
import { createResticJob } from '../agent/src/jobs/restic/restic-job.ts'
import { noopLog as silent } from './snapshots/sh.ts'
import { machineLine, writeBenchSection } from './support/report.ts'

const { values } = parseArgs({
  options: {
    gib: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '3' },
    'no-write': { type: 'boolean', default: false },
  },
})
const GIB = Number(values.gib)
const ROUNDS = Number(values.rounds)
const TARGET = 0.05
const log = (s: string): void => console.log(`[${new Date().toISOString().slice(11, 19)}] ${s}`)
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}
const load1 = (): number => loadavg()[0]!
const noopLog = silent as unknown as Log

for (const c of ['restic', 'rclone']) {
  if (spawnSync('sh', ['-c', 'command -v "$1"', 'sh', c]).status !== 0) {
    console.error(`${c} is not installed: run scripts/setup.sh --test`)
    process.exit(2)
  }
}

const root = mkdtempSync(join(tmpdir(), 'bk-bench-restic-'))
const tree = join(root, 'tree')
const repos = join(root, 'repos')
const home = join(root, 'home')
const passwordFile = join(root, 'password')
mkdirSync(repos)
mkdirSync(home)
writeFileSync(passwordFile, 'bench-password\n', { mode: 0o600 })

/** 2 GiB of incompressible files: 64 directories × 16 files × 2 MiB (scaled by --gib). */
function makeTree(): number {
  const fileBytes = 2 * 2 ** 20
  const files = Math.round((GIB * 2 ** 30) / fileBytes)
  const buf = Buffer.alloc(fileBytes)
  for (let i = 0; i < files; i++) {
    const dir = join(tree, `d${String(i % 64).padStart(2, '0')}`)
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, `f${i}.bin`), randomFillSync(buf))
  }
  return files * fileBytes
}

async function startServer(): Promise<{ url: string; stop: () => void }> {
  const child = spawn('rclone', ['serve', 'restic', '--addr', '127.0.0.1:0', repos], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, HOME: home },
  })
  let out = ''
  child.stdout.on('data', (b: Buffer) => (out += b.toString()))
  child.stderr.on('data', (b: Buffer) => (out += b.toString()))
  for (let i = 0; i < 200; i++) {
    const m = /Serving restic REST API on (http:\/\/[0-9.:]+\/)/.exec(out)
    if (m) {
      return { url: `rest:${m[1]}`, stop: () => child.kill('SIGTERM') }
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`rclone serve restic did not start: ${out}`)
}

function restic(url: string, args: string[], cacheDir: string): void {
  const r = spawnSync('restic', ['-r', url, '--password-file', passwordFile, '--cache-dir', cacheDir, ...args], {
    encoding: 'utf8',
    env: { ...process.env, HOME: home },
    maxBuffer: 64 * 2 ** 20,
  })
  if (r.status !== 0) {
    throw new Error(`restic ${args[0]} exited ${r.status}: ${r.stderr}`)
  }
}

/** A fresh repository (init not timed) and a fresh cache for every measurement, so neither side dedups. */
function freshRepo(base: string, name: string): { url: string; cacheDir: string } {
  const url = `${base}${name}/`
  const cacheDir = join(root, `cache-${name}`)
  restic(url, ['init'], cacheDir)
  // The previous measurement's 2 GiB repository is written back and deleted now, not during this one's timing.
  spawnSync('sync')
  return { url, cacheDir }
}

function dropRepo(name: string): void {
  rmSync(join(repos, name), { recursive: true, force: true })
  rmSync(join(root, `cache-${name}`), { recursive: true, force: true })
}

async function bare(base: string, round: number): Promise<number> {
  const { url, cacheDir } = freshRepo(base, `bare${round}`)
  const t0 = performance.now()
  restic(url, ['backup', '-q', tree], cacheDir)
  const ms = performance.now() - t0
  dropRepo(`bare${round}`)
  return ms
}

async function backstop(base: string, round: number): Promise<number> {
  const name = `bk${round}`
  const { url } = freshRepo(base, name)
  const stateDir = join(root, `state-${name}`)
  const cfg = resolveResticJob(
    {
      kind: 'restic',
      name: 'bench',
      paths: [tree],
      repository: { url },
      password: { file: passwordFile },
      retention: { keep: { last: 100 } },
      checkGroups: 0,
    },
    'UTC',
  )
  const ctx: JobContext = {
    node: 'bench',
    runId: `bench-${round}`,
    trigger: 'manual',
    exec: new NodeExec({ log: noopLog }),
    clock: { now: () => new Date(), sleepUntil: async () => {} },
    log: noopLog,
    signal: new AbortController().signal,
    stateDir,
    progress: () => {},
  }
  const t0 = performance.now()
  const r = await createResticJob(cfg).run(ctx)
  const ms = performance.now() - t0
  if (r.status !== 'success' || r.copies.length !== 1) {
    throw new Error(`Backstop run ${r.status}: ${JSON.stringify(r.error)}`)
  }
  dropRepo(name)
  rmSync(stateDir, { recursive: true, force: true })
  return ms
}

async function main(): Promise<void> {
  log(`writing a ${GIB} GiB tree`)
  const bytes = makeTree()
  const server = await startServer()
  const rows: { round: number; bare: number; backstop: number; load: number }[] = []
  try {
    // Warm the page cache once so the first measured side is not the one that reads from disk.
    spawnSync('tar', ['-cf', '/dev/null', tree])
    for (let i = 1; i <= ROUNDS; i++) {
      const l = load1()
      let b: number
      let k: number
      if (i % 2 === 1) {
        b = await bare(server.url, i)
        k = await backstop(server.url, i)
      } else {
        k = await backstop(server.url, i)
        b = await bare(server.url, i)
      }
      rows.push({ round: i, bare: b, backstop: k, load: (l + load1()) / 2 })
      log(
        `round ${i}: bare ${(b / 1000).toFixed(2)} s, Backstop ${(k / 1000).toFixed(2)} s, load ${load1().toFixed(2)}`,
      )
    }
  } finally {
    server.stop()
    rmSync(root, { recursive: true, force: true })
  }
  const mb = median(rows.map((r) => r.bare))
  const mk = median(rows.map((r) => r.backstop))
  const ratios = rows.map((r) => r.backstop / r.bare - 1)
  const overhead = mk / mb - 1
  const pct = (x: number): string => `${(x * 100).toFixed(1)} %`
  const verdict = overhead <= TARGET ? 'meets' : 'misses'
  const md = [
    `## restic backup of a ${GIB} GiB tree: a Backstop \`restic\` job run vs bare \`restic backup\``,
    '',
    `${new Date().toISOString().slice(0, 10)}, ${machineLine()}, restic 0.14 (Debian), \`rclone serve restic\` on`,
    'loopback, a fresh repository and cache per measurement (init not timed), alternating which side goes first.',
    `Command: \`node --import tsx bench/restic-backup.ts --gib ${GIB} --rounds ${ROUNDS}\`. The Backstop side is the`,
    'whole job run: `restic version`, `cat config`, `backup --json` (progress parsed), the append-only probe, the',
    'snapshot listing and retention plan (nothing to forget), `checkGroups: 0` (the check is its own cost).',
    '',
    '| round | bare restic backup | Backstop job run | overhead | load (1 min) |',
    '|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.round} | ${(r.bare / 1000).toFixed(2)} s | ${(r.backstop / 1000).toFixed(2)} s | ` +
        `${pct(r.backstop / r.bare - 1)} | ${r.load.toFixed(2)} |`,
    ),
    '',
    `Median: bare ${(mb / 1000).toFixed(2)} s (${((bytes / 2 ** 20 / mb) * 1000).toFixed(0)} MiB/s), Backstop ` +
      `${(mk / 1000).toFixed(2)} s: overhead **${pct(overhead)}** (per-round spread ${pct(Math.min(...ratios))} … ` +
      `${pct(Math.max(...ratios))}); target ≤ ${pct(TARGET)}: ${verdict} it.`,
  ].join('\n')
  console.log(md)
  if (!values['no-write']) {
    writeBenchSection('restic-backup', md)
  }
}

await main()
