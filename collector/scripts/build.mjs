#!/usr/bin/env node
// Builds the collector for production: plain JavaScript that `node` runs without tsx.
//   dist/backstop-collector.mjs   src/main.ts bundled (it runs main() when it is the process entry)
//   dist/verify-worker-boot.mjs   the verify worker thread (ingest/verifier.ts loads it beside its own module)
//   dist/inspect-worker-boot.mjs  the self-backup check (self-backup/backup-file.ts loads it beside its module)
//   dist/migrations/*.sql         store/db.ts reads them beside its own module
// The collector's own dependencies (package.json "dependencies") stay external: Node resolves them from the production
// node_modules that deploy/install.sh installs beside dist/ (`pnpm deploy --prod`). better-sqlite3 is native and
// @fastify/swagger-ui serves files relative to its own __dirname, so they could not be bundled anyway. Everything
// else is bundled: src/, the workspace packages (TypeScript) and their dependencies, which deploy does not hoist.
// Usage: node collector/scripts/build.mjs [--out <dir>]
import { cpSync, mkdirSync, readFileSync, rmSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { commitDefine } from '../../scripts/build-commit.mjs'

const collectorDir = fileURLToPath(new URL('..', import.meta.url))
const outArg = process.argv.indexOf('--out')
const outDir = resolve(outArg > 0 && process.argv[outArg + 1] ? process.argv[outArg + 1] : join(collectorDir, 'dist'))

const ownDependencies = Object.keys(JSON.parse(readFileSync(join(collectorDir, 'package.json'), 'utf8')).dependencies)
const external = ownDependencies.filter((d) => !d.startsWith('@backstop/')).flatMap((d) => [d, `${d}/*`])

const t0 = performance.now()
rmSync(outDir, { recursive: true, force: true })
mkdirSync(outDir, { recursive: true })
await build({
  entryPoints: [
    { in: join(collectorDir, 'src/main.ts'), out: 'backstop-collector' },
    { in: join(collectorDir, 'src/ingest/verify-worker.ts'), out: 'verify-worker-boot' },
    { in: join(collectorDir, 'src/self-backup/inspect-worker.ts'), out: 'inspect-worker-boot' },
  ],
  outdir: outDir,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  external,
  // Bundled CommonJS (tweetnacl, …) calls require() for Node builtins; an ES module has none unless given one.
  banner: {
    js: [
      "import { createRequire as __bkCreateRequire } from 'node:module';",
      'const require = __bkCreateRequire(import.meta.url);',
    ].join(' '),
  },
  define: commitDefine(collectorDir),
  sourcemap: 'linked',
  legalComments: 'none',
  logLevel: 'warning',
})
cpSync(join(collectorDir, 'src/store/migrations'), join(outDir, 'migrations'), { recursive: true })
console.log(`build: ${join(outDir, 'backstop-collector.mjs')} (${Math.round(performance.now() - t0)} ms)`)
