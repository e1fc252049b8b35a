import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { TestContext } from 'node:test'
import { hasCommand } from './platform.ts'

/**
 * zfs-fuse for platform tests. Only one daemon runs per machine, and a fresh CI machine has none:
 * scripts/zfs-fuse-up.sh starts it once under a lock (parallel test files), clearing a pidfile or socket left by
 * a daemon that no longer runs, and waits until `zpool` answers. Pools are file-backed (absolute paths —
 * zfs-fuse needs them), uniquely named, and destroyed with their files in t.after, also when the test fails.
 */
const UP_SCRIPT = fileURLToPath(new URL('../../scripts/zfs-fuse-up.sh', import.meta.url))

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}

/** A `checks` entry for requirePlatform: null when zfs-fuse answers (starting it if needed), else why not. */
export function zfsFuseReady(): string | null {
  if (!hasCommand('zfs-fuse') || !hasCommand('zpool') || !hasCommand('zfs')) {
    return 'zfs-fuse is not installed (scripts/setup.sh --test installs it)'
  }
  if (process.getuid?.() !== 0) {
    return 'zfs-fuse needs root'
  }
  const up = spawnSync('bash', [UP_SCRIPT, '30'], { encoding: 'utf8', timeout: 180_000 })
  return up.status === 0 ? null : up.stderr.trim() || `${UP_SCRIPT} exited ${String(up.status ?? up.signal)}`
}

export function sh(argv: readonly string[], input?: string): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 120_000, input })
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' }
}

/** Runs and throws with stderr on failure (test setup must not fail silently). */
export function must(argv: readonly string[]): string {
  const r = sh(argv)
  if (r.status !== 0) {
    throw new Error(`\`${argv.join(' ')}\` exited ${r.status}: ${r.stderr.trim()}`)
  }
  return r.stdout
}

export interface TestPool {
  readonly pool: string
  readonly dir: string
  readonly file: string
  /** Exports/destroys the pool now (e.g. to simulate an unplugged disk); t.after tolerates it. */
  destroy(): void
}

let counter = 0

/** A file-backed pool `bk<pid><n><tag>` of `sizeMb` MiB, removed (pool, file, dir) in t.after. */
export function createTestPool(t: TestContext, tag: string, sizeMb = 128): TestPool {
  const pool = `bk${process.pid}${++counter}${tag}`
  const dir = mkdtempSync(join(tmpdir(), `bk-${tag}-`))
  const file = join(dir, 'vdev.img')
  writeFileSync(file, '')
  truncateSync(file, sizeMb * 1024 * 1024)
  must(['zpool', 'create', '-f', '-m', join(dir, 'mnt'), pool, file])
  let gone = false
  const destroy = (): void => {
    if (!gone) {
      gone = true
      // zfs-fuse sometimes reports a just-created dataset busy for a moment; -f and a retry cover it.
      for (let i = 0; i < 5 && sh(['zpool', 'destroy', '-f', pool]).status !== 0; i++) {
        if (!sh(['zpool', 'list', '-H', '-o', 'name', pool]).stdout.trim()) {
          break
        }
        sleepMs(200)
      }
    }
  }
  t.after(() => {
    destroy()
    rmSync(dir, { recursive: true, force: true })
  })
  return { pool, dir, file, destroy }
}

/** Short names of `ds`'s snapshots, oldest first. */
export function snapshotNames(ds: string): string[] {
  return must(['zfs', 'list', '-H', '-t', 'snapshot', '-o', 'name', '-s', 'createtxg', '-r', ds])
    .split('\n')
    .filter((l) => l.startsWith(`${ds}@`))
    .map((l) => l.slice(ds.length + 1))
}

export function userrefs(snapshot: string): number {
  return Number(must(['zfs', 'get', '-H', '-p', '-o', 'value', 'userrefs', snapshot]).trim())
}

export function guidOf(snapshot: string): string {
  return must(['zfs', 'get', '-H', '-p', '-o', 'value', 'guid', snapshot]).trim()
}

/**
 * At teardown, releases the job's hold `tag` on every snapshot of these datasets whose pool still exists: holds
 * would keep `zpool destroy` from working on some zfs versions.
 */
export function releaseHoldsAtEnd(t: TestContext, tag: string, datasets: readonly (readonly [string, string])[]): void {
  t.after(() => {
    for (const [ds, pool] of datasets) {
      if (must(['zpool', 'list', '-H', '-o', 'name']).includes(pool)) {
        for (const n of snapshotNames(ds)) {
          if (userrefs(`${ds}@${n}`) > 0) {
            must(['zfs', 'release', tag, `${ds}@${n}`])
          }
        }
      }
    }
  })
}
