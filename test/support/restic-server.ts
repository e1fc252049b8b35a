import { spawn, spawnSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import type { SecondHost } from './netns.ts'
import { hasCommand } from './platform.ts'
import { tempDir } from './processes.ts'
import { waitFor } from './wait-for.ts'

/**
 * A real restic REST server for one test: Debian's `rclone serve restic` on loopback (or on a second host's
 * address, run in its network namespace), port 0 (rclone prints the
 * address it got), serving a directory of the test's own, `--append-only` or not (env-feasibility-wave2.md §3).
 * Killed in t.after, also on failure. A test that restarts it in another mode passes the same dir, password and
 * port. `init` creates the repository with the test's 0600 password file.
 */
export interface TestResticServer {
  /** `rest:http://127.0.0.1:<port>/` (the second host's address when `on` is given) */
  readonly url: string
  readonly dir: string
  readonly passwordFile: string
  readonly pid: number
  stop(): void
}

export function resticReady(): string | null {
  for (const c of ['restic', 'rclone']) {
    if (!hasCommand(c)) {
      return `${c} is not installed (scripts/setup.sh --test installs restic and rclone)`
    }
  }
  return null
}

export async function startResticServer(
  t: TestContext,
  opts: { appendOnly: boolean; dir?: string; passwordFile?: string; port?: number; on?: SecondHost },
): Promise<TestResticServer> {
  const root = tempDir(t, 'bk-restic-')
  const dir = opts.dir ?? join(root, 'repo')
  mkdirSync(dir, { recursive: true })
  const passwordFile = opts.passwordFile ?? join(root, 'password')
  if (opts.passwordFile === undefined) {
    writeFileSync(passwordFile, `pw-${Math.random().toString(36).slice(2)}\n`, { mode: 0o600 })
  }
  let log = ''
  const args = [
    'serve',
    'restic',
    ...(opts.appendOnly ? ['--append-only'] : []),
    '--addr',
    `${opts.on?.address ?? '127.0.0.1'}:${opts.port ?? 0}`,
    dir,
  ]
  const [cmd, ...argv] = opts.on ? opts.on.argv(['rclone', ...args]) : ['rclone', ...args]
  const child = spawn(cmd!, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HOME: root } })
  child.stdout.on('data', (b: Buffer) => (log += b.toString()))
  child.stderr.on('data', (b: Buffer) => (log += b.toString()))
  let stopped = false
  const stop = (): void => {
    if (!stopped) {
      stopped = true
      child.kill('SIGTERM')
    }
  }
  t.after(stop)
  const http = await waitFor(() => /Serving restic REST API on (http:\/\/[0-9.:]+\/)/.exec(log)?.[1], {
    what: 'rclone serve restic to print the address it listens on',
    timeoutMs: 20_000,
  })
  return { url: `rest:${http}`, dir, passwordFile, pid: child.pid!, stop }
}

/** `restic init` (or any restic command) against the server with its password; throws with stderr on failure. */
export function resticCli(
  server: { url: string; passwordFile: string },
  args: readonly string[],
  home: string,
): string {
  const r = spawnSync('restic', ['-r', server.url, '--password-file', server.passwordFile, ...args], {
    encoding: 'utf8',
    env: { ...process.env, HOME: home, RESTIC_CACHE_DIR: join(home, 'cache') },
    timeout: 120_000,
  })
  if (r.status !== 0) {
    throw new Error(`restic ${args.join(' ')} exited ${r.status}: ${r.stderr}`)
  }
  return r.stdout
}
