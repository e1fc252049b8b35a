import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { fileURLToPath } from 'node:url'
import { stringify } from 'yaml'

/** Real processes for integration tests: the collector and agent launchers exactly as users run them. */
export const repoRoot = fileURLToPath(new URL('../..', import.meta.url))
export const collectorBin = join(repoRoot, 'collector/bin/backstop-collector.mjs')
export const agentBin = join(repoRoot, 'agent/bin/backstop-agent.mjs')
export const TOKEN = 'integration-enrollment-token-0123456789'

export function tempDir(t: TestContext, prefix = 'bk-it-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** A port that was free a moment ago (fixed ports survive a collector restart; agents keep their URL). */
export async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', () => resolve()))
  const port = (s.address() as AddressInfo).port
  await new Promise<void>((resolve) => s.close(() => resolve()))
  return port
}

export interface Proc {
  readonly child: ChildProcess
  /** Everything the process wrote (stdout + stderr), also in `<logFile>`. */
  output(): string
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>
  exited(): Promise<number | null>
  kill9(): Promise<void>
  stop(): Promise<number | null>
}

/** `opts.stdin`: keep the child's stdin open as a pipe (`child.stdin`) for drivers that take commands there. */
export function startProc(
  argv: string[],
  logFile: string,
  env: Record<string, string> = {},
  opts: { readonly stdin?: boolean } = {},
): Proc {
  const child = spawn(process.execPath, argv, {
    cwd: repoRoot,
    stdio: [opts.stdin === true ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_NO_WARNINGS: '1', ...env },
  })
  const log = createWriteStream(logFile, { flags: 'a' })
  let out = ''
  const waiters = new Set<() => void>()
  const onData = (d: Buffer): void => {
    out += d.toString()
    log.write(d)
    for (const w of waiters) {
      w()
    }
  }
  child.stdout!.on('data', onData)
  child.stderr!.on('data', onData)
  const exit = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      log.end()
      resolve(code)
    }),
  )
  return {
    child,
    output: () => out,
    waitFor(pattern, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const m = out.match(pattern)
          if (m) {
            cleanup()
            resolve(m)
          }
        }
        const timer = setTimeout(() => {
          cleanup()
          reject(
            new Error(
              `timed out after ${timeoutMs} ms waiting for ${pattern} from ${argv.join(' ')}; ` +
                `output tail:\n${out.slice(-3000)}`,
            ),
          )
        }, timeoutMs)
        const onExit = (): void => {
          cleanup()
          reject(
            new Error(
              `${argv.join(' ')} exited (${child.exitCode}) while waiting for ${pattern}; ` +
                `output tail:\n${out.slice(-3000)}`,
            ),
          )
        }
        const cleanup = (): void => {
          clearTimeout(timer)
          waiters.delete(check)
          child.off('exit', onExit)
        }
        waiters.add(check)
        child.once('exit', onExit)
        check()
      })
    },
    exited: () => exit,
    async kill9() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL')
      }
      await exit
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM')
      }
      return exit
    },
  }
}

export interface CollectorSetup {
  readonly dir: string
  readonly config: string
  readonly dbFile: string
  readonly mqttUrl: string
  readonly apiUrl: string
  start(): Promise<Proc>
  /**
   * A bearer token of `role`, created the way an operator bootstraps the API: `backstop-collector apitoken create`
   * on the collector host (the API itself never hands out a first token).
   */
  apiToken(role?: 'viewer' | 'operator' | 'admin'): Promise<string>
}

/** Writes a collector config with fixed loopback ports; `start()` may be called again after a kill -9. */
export async function collectorSetup(dir: string, extra: Record<string, unknown> = {}): Promise<CollectorSetup> {
  const mqttPort = await freePort()
  const apiPort = await freePort()
  const dataDir = join(dir, 'collector-data')
  const config = join(dir, 'collector.yaml')
  writeFileSync(
    config,
    stringify({
      dataDir,
      mqtt: { host: '127.0.0.1', port: mqttPort },
      api: { host: '127.0.0.1', port: apiPort },
      enrollment: { tokens: [TOKEN] },
      // Loopback development path (docs/security.md): TLS is on by default and must be switched off explicitly.
      tls: { plaintext: true },
      log: { level: 'info' },
      ...extra,
    }),
  )
  return {
    dir,
    config,
    dbFile: join(dataDir, 'collector.db'),
    mqttUrl: `mqtt://127.0.0.1:${mqttPort}`,
    apiUrl: `http://127.0.0.1:${apiPort}`,
    async start() {
      const p = startProc([collectorBin, 'run', '--config', config], join(dir, 'collector.log'))
      try {
        await p.waitFor(/backstop-collector: API/)
      } catch (e) {
        await p.kill9()
        throw e
      }
      return p
    },
    apiToken: (role = 'admin') => createApiToken(config, role),
  }
}

/** Runs `backstop-collector apitoken create` against `config`; resolves to the printed token. */
export function createApiToken(config: string, role: 'viewer' | 'operator' | 'admin' = 'admin'): Promise<string> {
  const argv = [collectorBin, 'apitoken', 'create', '--name', `it-${role}`, '--role', role, '--config', config]
  return new Promise((resolve, reject) => {
    execFile(process.execPath, argv, { timeout: 30_000 }, (err, stdout, stderr) => {
      const token = stdout.trim()
      if (err !== null || !/^bkt_/.test(token)) {
        reject(new Error(`apitoken create failed: ${err?.message ?? ''} ${stderr.trim()}`))
        return
      }
      resolve(token)
    })
  })
}

/** Writes an agent config pointing at `mqttUrl`; jobs are passed through as YAML. */
export function agentConfig(
  dir: string,
  mqttUrl: string,
  opts: { node?: string; jobs?: unknown[]; extra?: Record<string, unknown> } = {},
): string {
  const stateDir = join(dir, `agent-state-${opts.node ?? 'it-node'}`)
  mkdirSync(stateDir, { recursive: true, mode: 0o700 })
  const file = join(dir, `agent-${opts.node ?? 'it-node'}.yaml`)
  writeFileSync(
    file,
    stringify({
      node: opts.node ?? 'it-node',
      stateDir,
      timezone: 'UTC',
      collector: { url: mqttUrl, enrollmentToken: TOKEN },
      heartbeatSeconds: 2,
      log: { level: 'info' },
      jobs: opts.jobs ?? [],
      ...opts.extra,
    }),
  )
  return file
}

/** GET with a bearer token (the API has no anonymous access: collectorSetup().apiToken() makes one). */
export async function getJson<T>(url: string, token: string): Promise<T> {
  const res = await fetch(url, { headers: { accept: 'application/json', authorization: `Bearer ${token}` } })
  if (!res.ok) {
    throw new Error(`GET ${url}: ${res.status} ${await res.text()}`)
  }
  return (await res.json()) as T
}

/** Polls `probe` until it returns a value (not undefined), or fails with the last state after `timeoutMs`. */
export async function eventually<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  what: string,
  timeoutMs = 30_000,
): Promise<T> {
  const until = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await probe()
      if (v !== undefined) {
        return v
      }
    } catch (e) {
      last = e
    }
    if (Date.now() > until) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`)
    }
    await new Promise((r) => setTimeout(r, 100))
  }
}
