#!/usr/bin/env node
// Regenerates the table in docs/errors.md from shared/src/errors.ts, keeping the prose above the marker.
import { readFileSync, writeFileSync } from 'node:fs'
import { register } from 'tsx/esm/api'

register()
const { errorTable } = await import('../shared/src/errors.ts')
const path = new URL('../docs/errors.md', import.meta.url)
const marker = '<!-- generated: node scripts/gen-errors-doc.mjs -->'
let head =
  '# Error codes\n\n' +
  'Every error Backstop reports (on the wire, in the API, in the CLI) carries one of these codes\n' +
  '(`shared/src/errors.ts`). *Permanent* errors are never retried; *transient* ones are. `HTTP` is the status\n' +
  'the ops API answers with. A test fails when this table and the code disagree.\n\n'
try {
  const cur = readFileSync(path, 'utf8')
  if (cur.includes(marker)) {
    head = cur.slice(0, cur.indexOf(marker))
  }
} catch {
  // first run: no docs/errors.md yet
}
const rows = Object.entries(errorTable).map(
  ([code, s]) => `| \`${code}\` | ${s.message} | ${s.permanent ? 'permanent' : 'transient'} | ${s.http} |`,
)
writeFileSync(path, `${head}${marker}\n| code | meaning | retry | HTTP |\n|---|---|---|---|\n${rows.join('\n')}\n`)
console.log(`docs/errors.md: ${rows.length} codes`)
