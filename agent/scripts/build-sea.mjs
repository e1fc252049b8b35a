#!/usr/bin/env node
// Builds the agent as one executable (Node 20 Single Executable Application; docs:
// nodejs.org/api/single-executable-applications.html):
//   1. esbuild bundles src/main.ts with every dependency into one CommonJS file (SEA mains must be CJS on Node 20)
//   2. node --experimental-sea-config turns it into a blob
//   3. a copy of this node binary gets the blob injected with postject
// All offline. Output: agent/dist/backstop-agent (or --out <dir>). Usage: node agent/scripts/build-sea.mjs [--out
// <dir>]
import { spawnSync } from 'node:child_process'
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { inject } from 'postject'
import { commitDefine } from '../../scripts/build-commit.mjs'

const agentDir = fileURLToPath(new URL('..', import.meta.url))
const outArg = process.argv.indexOf('--out')
const outDir = resolve(outArg > 0 && process.argv[outArg + 1] ? process.argv[outArg + 1] : join(agentDir, 'dist'))
const bundle = join(outDir, 'backstop-agent.cjs')
const blob = join(outDir, 'sea-prep.blob')
const seaConfig = join(outDir, 'sea-config.json')
const binary = join(outDir, 'backstop-agent')
// The fuse string postject flips so node knows a blob is present (fixed for Node's SEA).
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'

function step(name, fn) {
  const t0 = performance.now()
  const r = fn()
  return Promise.resolve(r).then((v) => {
    console.log(`build-sea: ${name} (${Math.round(performance.now() - t0)} ms)`)
    return v
  })
}

function run(argv) {
  const r = spawnSync(argv[0], argv.slice(1), { stdio: 'inherit' })
  if (r.status !== 0) {
    throw new Error(`\`${argv.join(' ')}\` exited ${r.status ?? r.signal}`)
  }
}

// ws (under mqtt) tries `require('bufferutil')` / `require('utf-8-validate')`, optional native accelerators, and
// falls back to JS when they throw. Bundle them as modules that throw MODULE_NOT_FOUND: the agent has no native
// addons, and the SEA's builtin-only require() would print a warning at every start.
const optionalNativeAbsent = {
  name: 'optional-native-absent',
  setup(b) {
    b.onResolve({ filter: /^(bufferutil|utf-8-validate)$/ }, (args) => ({ path: args.path, namespace: 'absent' }))
    b.onLoad({ filter: /.*/, namespace: 'absent' }, (args) => {
      const message = JSON.stringify(`${args.path} is not bundled`)
      return { contents: `throw Object.assign(new Error(${message}), { code: 'MODULE_NOT_FOUND' })`, loader: 'js' }
    })
  },
}

mkdirSync(outDir, { recursive: true })
await step('bundle', () =>
  build({
    entryPoints: [join(agentDir, 'src', 'main.ts')],
    outfile: bundle,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    plugins: [optionalNativeAbsent],
    define: commitDefine(agentDir),
    legalComments: 'none',
    logLevel: 'warning',
  }),
)
const seaSettings = { main: bundle, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true }
writeFileSync(seaConfig, `${JSON.stringify(seaSettings, null, 2)}\n`)
await step('sea blob', () => run([process.execPath, '--experimental-sea-config', seaConfig]))
await step('copy node', () => {
  rmSync(binary, { force: true })
  copyFileSync(process.execPath, binary)
  chmodSync(binary, 0o755)
})
await step('postject', () => inject(binary, 'NODE_SEA_BLOB', readFileSync(blob), { sentinelFuse: SEA_FUSE }))
rmSync(blob, { force: true })
rmSync(seaConfig, { force: true })
const check = spawnSync(binary, ['--version'], { encoding: 'utf8' })
if (check.status !== 0) {
  throw new Error(`the built binary does not run: ${check.stderr}`)
}
console.log(`build-sea: ${binary} (agent ${check.stdout.trim()})`)
