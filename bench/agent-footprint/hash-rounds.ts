import { execFile } from 'node:child_process'
import { randomFillSync } from 'node:crypto'
import { closeSync, openSync, readSync, writeSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { CLK_TCK } from './proc-stats.ts'

/** One hashing of the file: wall time and the CPU time the hashing process used. */
export interface HashRun {
  readonly hash: string
  readonly ms: number
  readonly cpuMs: number
}

const root = fileURLToPath(new URL('../..', import.meta.url))

/** `bytes` of random data (incompressible, no sparse pages), written in 8 MiB pieces. */
export function writeRandomFile(path: string, bytes: number): void {
  const chunk = Buffer.alloc(8 * 2 ** 20)
  const fd = openSync(path, 'w', 0o600)
  try {
    for (let left = bytes; left > 0; left -= chunk.length) {
      randomFillSync(chunk)
      writeSync(fd, chunk, 0, Math.min(left, chunk.length))
    }
  } finally {
    closeSync(fd)
  }
}

/** Reads the file once so every timed round hashes from the page cache, not the first one alone. */
export function warmPageCache(path: string): void {
  const buf = Buffer.alloc(8 * 2 ** 20)
  const fd = openSync(path, 'r')
  try {
    while (readSync(fd, buf) > 0) {
      // read to the end
    }
  } finally {
    closeSync(fd)
  }
}

function run(file: string, argv: readonly string[]): Promise<{ stdout: string; ms: number }> {
  const t0 = performance.now()
  return new Promise((resolve, reject) => {
    execFile(file, argv, { cwd: root, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`${file} ${argv.join(' ')}: ${err.message} ${stderr}`))
        return
      }
      resolve({ stdout, ms: performance.now() - t0 })
    })
  })
}

/**
 * coreutils sha256sum; its CPU time is read from the waiting shell's cutime+cstime (proc(5) fields 16–17), as
 * `time` would, so the peer is measured the same way whatever it links against.
 */
export async function sha256sumRun(path: string): Promise<HashRun> {
  const { stdout, ms } = await run('/bin/sh', ['-c', 'sha256sum "$1" && cat /proc/$$/stat', 'sh', path])
  const [line, stat] = stdout.split('\n')
  const fields = stat!.slice(stat!.lastIndexOf(')') + 2).split(' ')
  const cpuMs = ((Number(fields[13]) + Number(fields[14])) * 1000) / CLK_TCK
  return { hash: line!.split(' ')[0]!, ms, cpuMs }
}

/** The agent's verification hashing in its own node process (hash-child.ts). */
export async function agentHashRun(path: string): Promise<HashRun> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'bench/agent-footprint/hash-child.ts', path])
  return JSON.parse(stdout) as HashRun
}

export interface HashRound {
  readonly order: string
  readonly sha256sum: HashRun
  readonly agent: HashRun
  /** sha256sum's wall time / the agent's: >= 1 means the agent hashes at least as fast. */
  readonly ratio: number
  readonly load: number
}

/** Alternating rounds; the order flips every round so neither side always runs on the warmer machine. */
export async function hashRounds(path: string, rounds: number, load: () => number): Promise<HashRound[]> {
  const out: HashRound[] = []
  for (let i = 0; i < rounds; i++) {
    const l = load()
    let sha: HashRun
    let agent: HashRun
    if (i % 2 === 0) {
      sha = await sha256sumRun(path)
      agent = await agentHashRun(path)
    } else {
      agent = await agentHashRun(path)
      sha = await sha256sumRun(path)
    }
    if (sha.hash !== agent.hash) {
      throw new Error(`hashes differ: sha256sum ${sha.hash}, agent ${agent.hash}`)
    }
    const round = {
      order: i % 2 === 0 ? 'sha256sum first' : 'agent first',
      sha256sum: sha,
      agent,
      ratio: sha.ms / agent.ms,
      load: l,
    }
    console.log(
      `hash round ${i + 1}/${rounds} (${round.order}, load ${l.toFixed(2)}): sha256sum ${sha.ms.toFixed(0)} ms ` +
        `(cpu ${sha.cpuMs.toFixed(0)}), agent ${agent.ms.toFixed(0)} ms ` +
        `(cpu ${agent.cpuMs.toFixed(0)}), ${round.ratio.toFixed(2)}x`,
    )
    out.push(round)
  }
  return out
}
