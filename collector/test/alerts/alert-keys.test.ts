import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { alertKey, alertKinds } from '@backstop/shared'

const root = fileURLToPath(new URL('../../..', import.meta.url))

function sources(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ts'))
    .map((name) => join(dir, name))
}

// One key scheme: every alert key is built by alertKey() (shared/src/compliance/alert-flips.ts). A literal that
// starts with "<kind>/" is a key built by hand, which drifts from the scheme the first time alertKey changes.
test('no alert key is built by hand in the collector, the agent or shared', () => {
  const handBuilt = new RegExp(`[\`'"](${alertKinds.join('|')})/`)
  const found = ['collector/src', 'agent/src', 'shared/src'].flatMap((d) =>
    sources(join(root, d)).flatMap((file) =>
      readFileSync(file, 'utf8')
        .split('\n')
        .flatMap((line, i) => (handBuilt.test(line) ? [`${relative(root, file)}:${i + 1}: ${line.trim()}`] : [])),
    ),
  )
  assert.deepEqual(found, [], 'build these keys with alertKey(kind, node, subject)')
})

test('the scan would see a hand-built key (the pattern matches what alertKey makes)', () => {
  const handBuilt = new RegExp(`[\`'"](${alertKinds.join('|')})/`)
  for (const kind of alertKinds) {
    assert.ok(handBuilt.test(`'${alertKey(kind, 'n1', 'x')}'`), kind)
  }
})
