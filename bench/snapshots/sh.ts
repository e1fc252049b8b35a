import { spawnSync } from 'node:child_process'
import { performance } from 'node:perf_hooks'

/** Runs a setup command (argv, no shell) and throws with its stderr on failure. */
export function must(argv: readonly string[], env?: NodeJS.ProcessEnv): string {
  const r = spawnSync(argv[0]!, argv.slice(1), {
    encoding: 'utf8',
    maxBuffer: 1024 * 1024 * 1024,
    env: env ?? process.env,
  })
  if (r.status !== 0) {
    throw new Error(
      `\`${argv.join(' ')}\` exited ${r.status}: ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}`,
    )
  }
  return r.stdout
}

export function attempt(argv: readonly string[]): number {
  return spawnSync(argv[0]!, argv.slice(1), { stdio: 'ignore' }).status ?? -1
}

/** Wall time of a peer tool run as one process (what an operator's cron would pay). */
export function timed(argv: readonly string[], env?: NodeJS.ProcessEnv): { ms: number; stdout: string } {
  const t0 = performance.now()
  const out = must(argv, env)
  return { ms: performance.now() - t0, stdout: out }
}

export async function timedAsync<T>(f: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now()
  const value = await f()
  return { ms: performance.now() - t0, value }
}

export const pad = (n: number, w = 3): string => String(n).padStart(w, '0')

/** `Date` at the start of the current UTC hour, minus `hours`. */
export function hoursBefore(base: Date, hours: number): Date {
  return new Date(base.getTime() - hours * 3_600_000)
}

export function floorHour(d: Date): Date {
  return new Date(Math.floor(d.getTime() / 3_600_000) * 3_600_000)
}

/** sanoid's name stamp (local time = UTC here, TZ=UTC): `2026-11-22_02:00:00`. */
export function sanoidStamp(d: Date): string {
  return d.toISOString().slice(0, 19).replace('T', '_')
}

export const noopLog = (() => {
  const noop = (): void => {}
  const log = { trace: noop, debug: noop, info: noop, warn: noop, error: noop, fatal: noop, child: () => log }
  return log
})()
