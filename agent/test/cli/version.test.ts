import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { harness } from './cli-harness.ts'

const agentPackage = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string
}

test('--version prints the package version (no commit when run from source) and exits 0', async (t) => {
  const h = harness(t)
  const r = await h.cli('--version')
  assert.equal(r.code, 0, r.err)
  assert.equal(r.out, `backstop-agent ${agentPackage.version}\n`)
  assert.equal(r.err, '')
})
