#!/usr/bin/env node
// Runs the whole suite on node:test (through tsx: Node 20 cannot strip types).
//   node scripts/run-tests.mjs            all tests: unit, integration, platform (real btrfs/zfs/REAR need root)
//   node scripts/run-tests.mjs --unit     only package unit tests (shared/, node-io/, agent/, collector/)
//   node scripts/run-tests.mjs <files…>   just those files
// Platform tests decide for themselves whether they can run; outside CI a missing tool or root is a printed
// skip with the reason, in CI (CI=true) it is a failure.
import { spawn } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const args = process.argv.slice(2)
const unitOnly = args.includes('--unit')
const explicit = args.filter((a) => !a.startsWith('--'))

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

const dirs = unitOnly
  ? ['shared/test', 'node-io/test', 'agent/test', 'collector/test']
  : ['shared/test', 'node-io/test', 'agent/test', 'collector/test', 'test']
const files =
  explicit.length > 0
    ? explicit
    : dirs
        .flatMap((d) => {
          try {
            return walk(join(root, d), [])
          } catch {
            return []
          }
        })
        .map((f) => relative(root, f))
        .sort()

if (files.length === 0) {
  console.error('run-tests: no test files found')
  process.exit(1)
}

// --test-force-exit: a file whose tests are done exits even if a leaked handle would keep it alive;
// --test-timeout: no single test may hang CI (the slowest platform/fault tests take a few minutes).
const child = spawn(
  process.execPath,
  [
    '--import',
    'tsx',
    '--test',
    '--test-concurrency=2',
    '--test-force-exit',
    '--test-timeout=900000',
    '--test-reporter=spec',
    ...files,
  ],
  {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, NODE_NO_WARNINGS: '1' },
  },
)
// Whole-suite watchdog, well inside CI's 90 minutes.
const watchdog = setTimeout(() => {
  console.error('run-tests: the suite exceeded 60 minutes; stopping it')
  child.kill('SIGTERM')
}, 60 * 60_000)
watchdog.unref()
child.on('exit', (code, signal) => process.exit(signal ? 1 : (code ?? 1)))
