#!/usr/bin/env node
// Runs the suite on node:test (through tsx: Node 20 cannot strip types).
//   node scripts/run-tests.mjs                 all tests: unit, integration, platform (btrfs/zfs/REAR need root)
//   node scripts/run-tests.mjs --unit          unit tests only (no sockets, no processes: enforced while they run)
//   node scripts/run-tests.mjs --integration   integration tests only (sockets, processes, built binaries)
//   node scripts/run-tests.mjs --platform      platform tests only (root, real pools, system tools)
//   node scripts/run-tests.mjs <files…>        just those files
// The switches combine (--unit --integration). Kinds come from the file path: scripts/test-kinds.mjs.
// Platform tests decide for themselves whether they can run; outside CI a missing tool or root is a printed
// skip with the reason, in CI (CI=true) it is a failure.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { TEST_KINDS, findTests } from './test-kinds.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))
const args = process.argv.slice(2)
const switches = args.filter((a) => a.startsWith('--'))
const unknown = switches.filter((s) => !TEST_KINDS.includes(s.slice(2)))
if (unknown.length > 0) {
  console.error(`run-tests: unknown switch ${unknown.join(' ')}; use --unit, --integration, --platform or file paths`)
  process.exit(2)
}
const kinds = switches.length > 0 ? switches.map((s) => s.slice(2)) : TEST_KINDS
const explicit = args.filter((a) => !a.startsWith('--'))
const files = explicit.length > 0 ? explicit : findTests(root, kinds)

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
    '--import',
    './scripts/unit-test-guard.mjs',
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
