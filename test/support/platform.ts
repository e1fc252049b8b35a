import { spawnSync } from 'node:child_process'
import type { TestContext } from 'node:test'

/**
 * Prerequisites for platform tests (real btrfs, zfs-fuse, REAR, mosquitto, VictoriaMetrics …).
 * Outside CI a missing prerequisite skips the test and says why. Under CI=true it fails: CI installs
 * everything (.ci/run), so a missing piece there is a broken CI, never a silent skip.
 */
export interface Prerequisites {
  readonly root?: boolean
  /** Executables that must be on PATH. */
  readonly commands?: readonly string[]
  /** Extra checks: return a reason string when unmet. */
  readonly checks?: ReadonlyArray<() => string | null>
}

export const inCI = process.env['CI'] === 'true'

export function unmetPrerequisites(p: Prerequisites): string[] {
  const missing: string[] = []
  if (p.root && process.getuid?.() !== 0) {
    missing.push('needs root (loop devices, mounts, pools)')
  }
  for (const c of p.commands ?? []) {
    if (!hasCommand(c)) {
      missing.push(`command not found: ${c} (.ci/run installs it)`)
    }
  }
  for (const check of p.checks ?? []) {
    const reason = check()
    if (reason) {
      missing.push(reason)
    }
  }
  return missing
}

/**
 * Call at the top of a test (or in `before`). Returns true when the test may proceed; otherwise it has
 * already skipped (printing the reason) or, in CI, thrown.
 */
export function requirePlatform(t: TestContext, p: Prerequisites): boolean {
  refuseOutsidePlatformTests()
  const missing = unmetPrerequisites(p)
  if (missing.length === 0) {
    return true
  }
  const reason = missing.join('; ')
  if (inCI) {
    throw new Error(`platform prerequisites missing in CI: ${reason}`)
  }
  console.log(`# SKIP ${t.name}: ${reason}`)
  t.skip(reason)
  return false
}

/**
 * scripts/unit-test-guard.mjs sets BACKSTOP_TEST_KIND from the file name: a test that needs root or a system tool
 * must be named as a platform test, so `run-tests.mjs --unit` and `--integration` never depend on the host.
 */
function refuseOutsidePlatformTests(): void {
  const kind = process.env['BACKSTOP_TEST_KIND']
  if (kind !== undefined && kind !== 'platform') {
    throw new Error(
      `requirePlatform in the ${kind} test ${process.argv[1]}: tests that need root or a system tool are ` +
        'platform tests; rename the file to *.platform.test.ts or move it to test/platform/',
    )
  }
}

export function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', 'command -v "$1"', 'sh', name], { stdio: 'ignore' }).status === 0
}
