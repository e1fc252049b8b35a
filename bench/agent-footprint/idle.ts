import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CLK_TCK, median, rssSplit, treeCpuTicks, treeRssBytes } from './proc-stats.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))
const TOKEN = 'bench-footprint-token-7Hq2Xz9Lm4Rv8Kp3'

export interface IdleFigures {
  readonly windowS: number
  readonly rssMedianMiB: number
  readonly rssMaxMiB: number
  readonly cpuSeconds: number
  /** Percent of one core over the window. */
  readonly cpuPercent: number
  readonly samples: number
  /** The agent process's RSS at the end of the window, split by what backs it (proc-stats.ts rssSplit). */
  readonly anonMiB: number
  readonly fileMiB: number
}

interface Started {
  readonly child: ChildProcess
  readonly match: RegExpExecArray
}

/** Starts `argv`, resolves once its output matches `ready` (the child keeps running). */
function startUntil(
  cmd: string,
  argv: readonly string[],
  ready: RegExp,
  name: string,
  env: Record<string, string> = {},
): Promise<Started> {
  const child = spawn(cmd, argv, {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_NO_WARNINGS: '1', ...env },
  })
  return new Promise((resolve, reject) => {
    let seen = ''
    const timer = setTimeout(() => {
      child.kill('SIGTERM')
      reject(new Error(`${name} printed nothing matching ${ready} in 120 s:\n${seen.slice(-4000)}`))
    }, 120_000)
    const onData = (d: Buffer): void => {
      seen = (seen + d.toString()).slice(-64 * 1024)
      const match = ready.exec(seen)
      if (match) {
        clearTimeout(timer)
        resolve({ child, match })
      }
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', onData)
    child.once('exit', (code) => reject(new Error(`${name} exited ${code} before it was ready:\n${seen.slice(-4000)}`)))
    child.once('exit', () => clearTimeout(timer))
  })
}

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return
  }
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  await exited
}

/** The real collector (plain TCP on loopback: the agent's TLS cost is not what this benchmark is about). */
export async function startCollector(dir: string): Promise<{ child: ChildProcess; url: string }> {
  const cfg = join(dir, 'collector.yaml')
  writeFileSync(
    cfg,
    `dataDir: ${dir}/collector-data\nmqtt: { host: 127.0.0.1, port: 0 }\napi: { host: 127.0.0.1, port: 0 }\n` +
      `enrollment: { tokens: [${TOKEN}] }\nlog: { level: warn }\ntls: { plaintext: true }\n`,
  )
  const argv = ['collector/bin/backstop-collector.mjs', 'run', '--config', cfg]
  const { child, match } = await startUntil(process.execPath, argv, /MQTT (mqtt:\/\/\S+)/, 'collector')
  return { child, url: match[1]! }
}

/** Three archive jobs with daily schedules far from now: the agent idles with its scheduler armed for all three. */
export function writeAgentConfig(dir: string, mqttUrl: string): string {
  const src = join(dir, 'src')
  mkdirSync(src, { recursive: true })
  writeFileSync(join(src, 'a.conf'), 'x\n')
  const job = (name: string, cron: string): string =>
    `  - {kind: archive, name: ${name}, schedule: "${cron}", paths: [${src}], ` +
    `destination: ${dir}/dest-${name}, media: usb}\n`
  const file = join(dir, 'agent.yaml')
  writeFileSync(
    file,
    `node: bench-footprint\nstateDir: ${dir}/agent-state\ntimezone: UTC\n` +
      `collector: { url: "${mqttUrl}", enrollmentToken: ${TOKEN} }\nlog: { level: info }\njobs:\n` +
      job('etc-daily', '15 2 * * *') +
      job('home-daily', '45 3 * * *') +
      job('pve-weekly', '30 4 * * 0'),
  )
  return file
}

/** `nodeOptions`: NODE_OPTIONS for the agent (the SEA binary honours it like node does); '' = none. */
export async function startAgent(bin: string, config: string, nodeOptions = ''): Promise<ChildProcess> {
  // pino JSON: a first start logs the enrollment; a restart with a pinned key connects with "enrolled":true.
  const ready = /enrolled: collector key pinned|"enrolled":true[^\n]*connected to the collector/
  const env: Record<string, string> = nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}
  return (await startUntil(bin, ['run', '--config', config], ready, 'agent', env)).child
}

/** RSS sampled every second and CPU ticks at both ends of `windowS`, for the agent and any children. */
export async function measureIdle(pid: number, windowS: number): Promise<IdleFigures> {
  const rss: number[] = []
  const t0 = performance.now()
  const ticks0 = treeCpuTicks(pid)
  for (let i = 0; i < windowS; i++) {
    await new Promise((r) => setTimeout(r, 1000)) // the sampling period itself, not a synchronisation
    rss.push(treeRssBytes(pid))
  }
  const seconds = (performance.now() - t0) / 1000
  const cpuSeconds = (treeCpuTicks(pid) - ticks0) / CLK_TCK
  const mib = (b: number): number => b / 2 ** 20
  return {
    windowS: seconds,
    rssMedianMiB: mib(median(rss)),
    rssMaxMiB: mib(Math.max(...rss)),
    cpuSeconds,
    cpuPercent: (100 * cpuSeconds) / seconds,
    samples: rss.length,
    ...rssSplit(pid),
  }
}
