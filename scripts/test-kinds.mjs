// Which kind a test file is, from its path alone (docs/contributing.md, "Tests"):
//   platform     test/platform/** or *.platform.test.ts: needs root or a system tool (btrfs, zfs, REAR, mosquitto …)
//   integration  the rest of test/** or *.int.test.ts: opens sockets, starts processes or builds binaries
//   unit         every other *.test.ts under shared/test, node-io/test, agent/test, collector/test
// scripts/unit-test-guard.mjs enforces the unit rule while the tests run; test/support/platform.ts the platform one.
import { readdirSync, statSync } from 'node:fs'
import { join, relative, sep } from 'node:path'

export const TEST_KINDS = ['unit', 'integration', 'platform']
export const TEST_ROOTS = ['shared/test', 'node-io/test', 'agent/test', 'collector/test', 'test']

/** `path` is relative to the repository root. */
export function testKind(path) {
  const p = path.split(sep).join('/')
  if (p.startsWith('test/platform/') || p.endsWith('.platform.test.ts')) {
    return 'platform'
  }
  if (p.startsWith('test/') || p.endsWith('.int.test.ts')) {
    return 'integration'
  }
  return 'unit'
}

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'fixtures' || name.startsWith('.')) {
      continue
    }
    const p = join(dir, name)
    if (statSync(p).isDirectory()) {
      walk(p, out)
    } else if (name.endsWith('.test.ts')) {
      out.push(p)
    }
  }
  return out
}

/** Every test file of the given kinds, relative to `root`, sorted. */
export function findTests(root, kinds) {
  return TEST_ROOTS.flatMap((d) => {
    try {
      return walk(join(root, d), [])
    } catch {
      return []
    }
  })
    .map((f) => relative(root, f))
    .filter((f) => kinds.includes(testKind(f)))
    .sort()
}
