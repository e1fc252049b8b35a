import assert from 'node:assert/strict'
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { FileOutbox } from '../../src/outbox/file-outbox.ts'
import { captureLog, event, fixedClock, tempDir } from './support.ts'

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
    const keep = { maxBytes: 1 << 30, maxAgeMs: 1e12, alertAfterMs: 1e12 }
    const opts = { dir, maxBytes: 1 << 20, log: captureLog().log, clock: fixedClock, segmentBytes: 600, keep }
    const ob = await FileOutbox.open({ ...opts, ackLogCompactBytes: 80 })
    const recs = []
    for (let i = 1; i <= 12; i++) {
      recs.push(await ob.append(event(i)))
    }
    for (const r of recs.slice(0, 8)) {
      await ob.ack([r.msgId]) // one ack-log record each: past ackLogCompactBytes, so acks.log is compacted
    }
    await ob.applyCheckpoint({ coveredSeq: 4, collectorHighWater: 8 })
    await ob.deadLetter([{ msgId: recs[9]!.msgId, code: 'BK_ERR_WIRE_SCHEMA', reason: 'refused by the collector' }])
    await ob.close()
    const names = readdirSync(dir).sort()
    for (const want of ['acks.log', 'checkpoint.json', 'keep.json']) {
      assert.ok(names.includes(want), `${want} was written (files: ${names.join(', ')})`)
    }
    assert.ok(
      names.some((n) => /dead/i.test(n)),
      `a dead-letter file was written (files: ${names.join(', ')})`,
    )
    assert.ok(names.filter((n) => n.startsWith('seg-')).length > 1, `several segments (files: ${names.join(', ')})`)
    assert.equal(statSync(dir).mode & 0o777, 0o700, 'the outbox directory')
    for (const n of names) {
      assert.equal(statSync(join(dir, n)).mode & 0o777, 0o600, n)
    }
  })
})
