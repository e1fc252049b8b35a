import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import { readSpool } from '../../src/cli/vzdump-hook.ts'
import { harness } from './cli-harness.ts'

test('`backstop-agent vzdump-hook` spools into the configured state dir and always exits 0', async (t) => {
  const h = harness(t)
  const start = await h.cli('--config', h.config, 'vzdump-hook', 'job-start')
  assert.equal(start.code, 0, start.err)
  // What vzdump passes for a guest phase, and an extra argument it might add one day: still 0.
  assert.equal(
    (await h.cli('--config', h.config, 'vzdump-hook', 'backup-start', 'snapshot', '101', '--future-flag')).code,
    0,
  )
  assert.equal((await h.cli('--config', h.config, 'vzdump-hook')).code, 0)
  const spooled = readSpool(join(h.dir, 'state'))
  assert.deepEqual(
    spooled.map((s) => s.record.type),
    ['job'],
  )
  // A missing config falls back to BACKSTOP_STATE_DIR (default /var/lib/backstop-agent) instead of failing.
  const previous = process.env['BACKSTOP_STATE_DIR']
  process.env['BACKSTOP_STATE_DIR'] = join(h.dir, 'fallback-state')
  t.after(() => {
    if (previous === undefined) {
      delete process.env['BACKSTOP_STATE_DIR']
    } else {
      process.env['BACKSTOP_STATE_DIR'] = previous
    }
  })
  const r = await h.cli('--config', join(h.dir, 'nope.yaml'), 'vzdump-hook', 'job-init')
  assert.equal(r.code, 0)
  assert.match(r.err, /config unreadable/)
  assert.equal(readSpool(join(h.dir, 'fallback-state')).length, 1)
})
