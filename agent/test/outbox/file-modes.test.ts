import assert from 'node:assert/strict'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { tempDir, writeEveryOutboxFile } from './support.ts'

/**
 * Issue 12 (file modes): the outbox holds signed events (job names, paths, copy names) — every file it creates is
 * 0600 and its directory 0700, whatever the process umask (0 here, the worst case), across every kind of file:
 * segments, acks.log, checkpoint.json (compaction), keep.json (a collector checkpoint), the dead-letter file.
 */
describe('outbox file modes', () => {
  it('every file the outbox writes is 0600 and its directory 0700, under umask 0', async (t) => {
    const before = process.umask(0)
    t.after(() => process.umask(before))
    const dir = join(tempDir(t), 'outbox')
    const names = await writeEveryOutboxFile(dir)
    assert.equal(statSync(dir).mode & 0o777, 0o700, 'the outbox directory')
    for (const n of names) {
      assert.equal(statSync(join(dir, n)).mode & 0o777, 0o600, n)
    }
  })
})
