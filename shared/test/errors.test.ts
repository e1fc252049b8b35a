import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { BackstopError, errorTable, isBackstopError } from '@backstop/shared'

// fastify's test/internals/errors.test.js: the table and docs/errors.md list exactly the same codes.
describe('error table', () => {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8')
  const documented = new Set([...doc.matchAll(/^\| `(BK_ERR_[A-Z0-9_]+)` \|/gm)].map((m) => m[1] ?? ''))
  const codes = Object.keys(errorTable)

  it('every code is documented in docs/errors.md', () => {
    assert.deepEqual(
      codes.filter((c) => !documented.has(c)),
      [],
    )
  })
  it('docs/errors.md lists no code the table lacks', () => {
    assert.deepEqual(
      [...documented].filter((c) => !(c in errorTable)),
      [],
    )
  })
  it('codes follow BK_ERR_<AREA>_<WHAT>', () => {
    for (const c of codes) {
      assert.match(c, /^BK_ERR_[A-Z0-9]+_[A-Z0-9_]+$/)
    }
  })
  it('BackstopError carries code, permanence, status and detail', () => {
    const e = new BackstopError('BK_ERR_OUTBOX_FULL', '256 MiB reached; raise outbox.maxBytes')
    assert.equal(e.code, 'BK_ERR_OUTBOX_FULL')
    assert.equal(e.permanent, false)
    assert.equal(e.http, 507)
    assert.match(e.message, /^outbox is full: 256 MiB reached/)
    assert.ok(isBackstopError(e, 'BK_ERR_OUTBOX_FULL'))
    assert.ok(!isBackstopError(new Error('x')))
  })
})
