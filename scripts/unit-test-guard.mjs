// Preloaded by scripts/run-tests.mjs (--import) into every test file's process. In a unit test file (see
// scripts/test-kinds.mjs) opening a socket or starting a process throws, and the file fails even when the code under
// test swallows that error: the unit/integration split is enforced by running the tests, not by review.
import childProcess from 'node:child_process'
import { syncBuiltinESMExports } from 'node:module'
import net from 'node:net'
import { relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { testKind } from './test-kinds.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))
// node --test runs each file in a child with NODE_TEST_CONTEXT set and the file as argv[1]. The runner itself and
// processes a test starts (which inherit the environment, and the --import when given process.execArgv) are free.
const entry = process.argv[1]
const file = process.env.NODE_TEST_CONTEXT && entry?.endsWith('.test.ts') ? relative(root, entry) : undefined

if (file !== undefined) {
  const kind = testKind(file)
  // test/support/platform.ts reads this to refuse platform prerequisites in a file not named as a platform test.
  process.env.BACKSTOP_TEST_KIND = kind
  if (kind === 'unit') {
    guardUnitTest(file)
  }
}

function guardUnitTest(file) {
  const violations = []
  const refuse = (what) => {
    const message =
      `unit test ${file} ${what}: unit tests may not open sockets or start processes. ` +
      'Rename the file to *.int.test.ts (or *.platform.test.ts if it needs root or a system tool), ' +
      'or replace the process/socket with a fake (FixtureExec, app.inject()); see docs/contributing.md, "Tests".'
    violations.push(message)
    return new Error(message)
  }
  const wrap = (owner, name, describe) => {
    const original = owner[name]
    owner[name] = function guarded(...args) {
      const what = describe(...args)
      if (what) {
        throw refuse(what)
      }
      return original.apply(this, args)
    }
  }
  wrap(net.Server.prototype, 'listen', () => 'listened on a socket')
  wrap(net.Socket.prototype, 'connect', () => 'connected a socket')
  // tsx's esbuild service is the only process a unit test file may have (it compiles the test itself).
  wrap(childProcess.ChildProcess.prototype, 'spawn', (o) =>
    o?.args?.some((a) => String(a).startsWith('--service=')) ? undefined : `started ${o?.file}`,
  )
  for (const name of ['spawnSync', 'execSync', 'execFileSync']) {
    wrap(childProcess, name, (cmd) => `started ${cmd} (${name})`)
  }
  syncBuiltinESMExports()
  process.on('exit', () => {
    if (violations.length > 0) {
      process.stderr.write(`${violations[0]}\n`)
      process.exitCode = 1
    }
  })
}
