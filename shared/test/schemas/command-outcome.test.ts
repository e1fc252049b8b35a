import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Compile } from 'typebox/compile'
import { CommandResultBody } from '@backstop/shared'

const check = Compile(CommandResultBody)
const at = '2026-11-22T02:00:00.000Z'
const base = { commandId: 'n0nce-0123456789abcdef', kind: 'reverify-copy', status: 'failed', at }
const outcome = {
  result: 'failed',
  job: 'cfg',
  jobKind: 'archive',
  copyId: 'archive:/b/x.tar.gz',
  method: 'sha256-manifest+tar-list',
  checks: ['read 10 bytes'],
  bytes: 10,
  durationMs: 3,
  at,
  error: { code: 'BK_ERR_VERIFY_FAILED', message: 'sha256 differs' },
}

describe('command.result outcome (reverify-copy / restore-test)', () => {
  it('results without an outcome (older agents, run-job) stay valid; with one they are valid too', () => {
    assert.ok(check.Check({ ...base, kind: 'run-job', status: 'succeeded', runId: 'r-1' }))
    assert.ok(check.Check({ ...base, outcome }))
  })

  const bad: Array<[string, unknown]> = [
    ['unknown result', { ...outcome, result: 'maybe' }],
    ['too many checks', { ...outcome, checks: Array.from({ length: 33 }, () => 'c') }],
    ['a check longer than 1 KiB', { ...outcome, checks: ['x'.repeat(1025)] }],
    ['negative bytes', { ...outcome, bytes: -1 }],
    ['extra property', { ...outcome, commandLine: 'x' }],
    ['error without code', { ...outcome, error: { message: 'm' } }],
  ]
  for (const [name, o] of bad) {
    it(`refuses an outcome with ${name}`, () => {
      assert.equal(check.Check({ ...base, outcome: o }), false)
    })
  }
})
