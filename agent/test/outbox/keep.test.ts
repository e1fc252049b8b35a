import assert from 'node:assert/strict'
import { readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { isBackstopError } from '@backstop/shared'
import type { Clock } from '../../src/clock.ts'
import { FileOutbox, outboxFiles } from '../../src/outbox/file-outbox.ts'
import { inspectOutbox } from '../../src/outbox/inspect.ts'
import { forcedReleaseThrough, isBacklog, type KeepBounds } from '../../src/outbox/keep-bounds.ts'
import { MemoryOutbox } from '../../src/outbox/memory-outbox.ts'
import type { Outbox, OutboxRecord } from '../../src/outbox/outbox.ts'
import { captureLog, event, tempDir } from './support.ts'

const HOUR = 3600_000
const EVENT_TS = Date.parse('2026-11-22T03:00:00.000Z')
const roomy: KeepBounds = { maxBytes: 64 * 1024 * 1024, maxAgeMs: 30 * 24 * HOUR, alertAfterMs: 48 * HOUR }

function movableClock(startMs = EVENT_TS): Clock & { advance(ms: number): void } {
  let now = startMs
  return {
    now: () => new Date(now),
    sleepUntil: async () => undefined,
    advance: (ms) => {
      now += ms
    },
  }
}

async function open(t: TestContext, dir: string, o: { keep?: KeepBounds; clock?: Clock } = {}) {
  const cap = captureLog()
  const ob = await FileOutbox.open({
    dir,
    maxBytes: 64 * 1024 * 1024,
    log: cap.log,
    clock: o.clock ?? movableClock(),
    segmentBytes: 2048,
    ...(o.keep ? { keep: o.keep } : {}),
  })
  t.after(() => ob.close())
  return { ob, lines: cap.lines }
}

async function fill(ob: Outbox, n: number): Promise<OutboxRecord[]> {
  const out: OutboxRecord[] = []
  for (let i = 1; i <= n; i++) {
    out.push(await ob.append(event(i)))
  }
  return out
}

const seqs = (recs: readonly { seq: number }[]): number[] => recs.map((r) => r.seq)

describe('outbox keep: acknowledged events stay until a collector checkpoint covers them', () => {
  it('an acked record is no longer sent but stays stored, across a restart', async (t) => {
    const dir = tempDir(t)
    const { ob } = await open(t, dir, { keep: roomy })
    const recs = await fill(ob, 6)
    assert.equal(await ob.ack(recs.slice(0, 4).map((r) => r.msgId)), 4)
    assert.deepEqual(seqs(await ob.readPending(0, 100)), [5, 6])
    assert.equal(ob.stats().pending, 2)
    assert.equal(ob.keptStats().kept, 4)
    assert.equal(ob.keptStats().oldestKeptAt, EVENT_TS)
    await ob.close()
    const again = (await open(t, dir, { keep: roomy })).ob
    assert.deepEqual(seqs(await again.readPending(0, 100)), [5, 6], 'kept records are not resent after a restart')
    assert.equal(again.keptStats().kept, 4)
    assert.equal(await again.ack([recs[0]?.msgId as string]), 0, 'a repeated ack of a kept record changes nothing')
  })

  it('a checkpoint releases kept records up to coveredSeq, durably, and deletes emptied segments', async (t) => {
    const dir = tempDir(t)
    const { ob } = await open(t, dir, { keep: roomy })
    const recs = await fill(ob, 30)
    await ob.ack(recs.map((r) => r.msgId))
    const before = readdirSync(dir).filter((n) => outboxFiles.segmentPattern.test(n)).length
    const r = await ob.applyCheckpoint({ coveredSeq: 20, collectorHighWater: 30 })
    assert.deepEqual(r, { released: 20, requeued: 0, lost: null })
    assert.equal(ob.keptStats().kept, 10)
    assert.equal(ob.keptStats().checkpointSeq, 20)
    assert.equal(ob.keptStats().uncoveredThrough, 0)
    assert.ok(readdirSync(dir).filter((n) => outboxFiles.segmentPattern.test(n)).length < before)
    await ob.close()
    const again = (await open(t, dir, { keep: roomy })).ob
    assert.equal(again.keptStats().kept, 10)
    assert.equal(again.keptStats().releasedThrough, 20)
    assert.deepEqual(await again.readPending(0, 100), [])
  })

  it('an ack arriving after a checkpoint covered its seq releases the record at once', async (t) => {
    const { ob } = await open(t, tempDir(t), { keep: roomy })
    const recs = await fill(ob, 5)
    await ob.ack(recs.slice(0, 2).map((r) => r.msgId))
    await ob.applyCheckpoint({ coveredSeq: 4, collectorHighWater: 5 })
    await ob.ack(recs.slice(2, 4).map((r) => r.msgId))
    assert.equal(ob.keptStats().kept, 0)
    assert.deepEqual(seqs(await ob.readPending(0, 100)), [5])
  })

  it('a collector restored from its newest backup gets every kept record after the checkpoint again', async (t) => {
    const { ob } = await open(t, tempDir(t), { keep: roomy })
    const recs = await fill(ob, 10)
    await ob.ack(recs.map((r) => r.msgId))
    await ob.applyCheckpoint({ coveredSeq: 4, collectorHighWater: 10 })
    // Restored from the backup that covered seq 4: the collector holds 4, the agent had 10 acknowledged.
    const stale = await ob.applyCheckpoint({ coveredSeq: 4, collectorHighWater: 4 })
    assert.equal(stale.requeued, 0, 'a retained checkpoint (no ackedBefore) never makes the outbox resend')
    const r = await ob.applyCheckpoint({ coveredSeq: 4, collectorHighWater: 4 }, ob.keptStats().ackedThrough)
    assert.deepEqual(r, { released: 0, requeued: 6, lost: null })
    assert.deepEqual(seqs(await ob.readPending(0, 100)), [5, 6, 7, 8, 9, 10])
    await ob.ack(recs.slice(4).map((r) => r.msgId))
    assert.equal(ob.keptStats().kept, 6, 'acked again, kept again until a backup covers them')
  })

  it('records made pending by a restore stay pending across a restart, even after later acks', async (t) => {
    const dir = tempDir(t)
    const first = await open(t, dir, { keep: roomy })
    const recs = await fill(first.ob, 8)
    await first.ob.ack(recs.slice(0, 3).map((r) => r.msgId))
    const r = await first.ob.applyCheckpoint({ coveredSeq: 0, collectorHighWater: 0 }, 3)
    assert.equal(r.requeued, 3)
    // The restored collector acknowledges later events first: its high-water mark (8) no longer shows it lacks 1-3,
    // so no later checkpoint would ask for them again; only the outbox's own record of the requeue resends them.
    await first.ob.ack(recs.slice(3).map((r) => r.msgId))
    await first.ob.close()
    assert.equal((await inspectOutbox(dir)).pending, 3, '`backstop-agent outbox` counts them pending too')
    const { ob } = await open(t, dir, { keep: roomy })
    assert.deepEqual(seqs(await ob.readPending(0, 100)), [1, 2, 3])
    const again = await ob.applyCheckpoint({ coveredSeq: 0, collectorHighWater: 8 }, ob.keptStats().ackedThrough)
    assert.deepEqual(again, { released: 0, requeued: 0, lost: null })
    assert.deepEqual(seqs(await ob.readPending(0, 100)), [1, 2, 3])
    assert.equal(ob.keptStats().kept, 5)
  })

  it('a restore to an older backup resends what is kept and names what was already released as lost', async (t) => {
    const dir = tempDir(t)
    const { ob } = await open(t, dir, { keep: roomy })
    const recs = await fill(ob, 10)
    await ob.ack(recs.map((r) => r.msgId))
    await ob.applyCheckpoint({ coveredSeq: 6, collectorHighWater: 10 })
    const r = await ob.applyCheckpoint({ coveredSeq: 2, collectorHighWater: 3 }, ob.keptStats().ackedThrough)
    assert.deepEqual(r, { released: 0, requeued: 4, lost: { fromSeq: 4, toSeq: 6 } })
    assert.deepEqual(seqs(await ob.readPending(0, 100)), [7, 8, 9, 10])
    const s = ob.keptStats()
    assert.equal(s.checkpointSeq, 2, 'a lower checkpoint is taken as it is: the collector went back')
    assert.equal(s.uncoveredThrough, 6)
    assert.deepEqual(s.lost, { fromSeq: 4, toSeq: 6 })
    await ob.close()
    const again = (await open(t, dir, { keep: roomy })).ob
    assert.deepEqual(again.keptStats().lost, { fromSeq: 4, toSeq: 6 }, 'the loss survives a restart')
    await again.ack(recs.slice(6).map((r) => r.msgId))
    await again.applyCheckpoint({ coveredSeq: 10, collectorHighWater: 10 })
    assert.equal(again.keptStats().lost, null, 'a newer backup past the loss clears it')
    assert.equal(again.keptStats().kept, 0)
  })

  it('the same checkpoint again (retained, re-delivered) changes nothing', async (t) => {
    const { ob } = await open(t, tempDir(t), { keep: roomy })
    const recs = await fill(ob, 4)
    await ob.ack(recs.map((r) => r.msgId))
    const cp = { coveredSeq: 2, collectorHighWater: 4 }
    await ob.applyCheckpoint(cp, ob.keptStats().ackedThrough)
    assert.deepEqual(await ob.applyCheckpoint(cp, ob.keptStats().ackedThrough), {
      released: 0,
      requeued: 0,
      lost: null,
    })
    assert.equal(ob.keptStats().kept, 2)
  })

  it('acks of this connection above a live checkpoint high-water mark do not look like a restore', async (t) => {
    const { ob } = await open(t, tempDir(t), { keep: roomy })
    const recs = await fill(ob, 6)
    await ob.ack(recs.slice(0, 3).map((r) => r.msgId))
    const ackedBefore = ob.keptStats().ackedThrough
    await ob.ack(recs.slice(3).map((r) => r.msgId)) // acked in this connection before the checkpoint arrived
    const r = await ob.applyCheckpoint({ coveredSeq: 1, collectorHighWater: 3 }, ackedBefore)
    assert.deepEqual(r, { released: 1, requeued: 0, lost: null })
  })

  it('the size bound releases the oldest kept records uncovered, and says so in the state', async (t) => {
    const dir = tempDir(t)
    const probe = (await open(t, tempDir(t))).ob
    const size = (await probe.append(event(1))).bytes
    const bounds = { ...roomy, maxBytes: size * 3 }
    const { ob, lines } = await open(t, dir, { keep: bounds })
    const recs = await fill(ob, 5)
    await ob.ack(recs.map((r) => r.msgId))
    const s = ob.keptStats()
    assert.equal(s.kept, 3)
    assert.equal(s.releasedThrough, 2)
    assert.equal(s.uncoveredThrough, 2)
    assert.ok(lines.some((l) => String(l.msg).includes('no collector backup covers')))
    await ob.applyCheckpoint({ coveredSeq: 5, collectorHighWater: 5 })
    assert.equal(ob.keptStats().uncoveredThrough, 2, 'kept as history; uncovered only while above checkpointSeq')
    assert.equal(ob.keptStats().checkpointSeq, 5)
  })

  it('the age bound releases kept records older than maxAge on enforceKeepBounds', async (t) => {
    const clock = movableClock()
    const bounds = { ...roomy, maxAgeMs: 24 * HOUR }
    const { ob } = await open(t, tempDir(t), { keep: bounds, clock })
    const recs = await fill(ob, 3)
    await ob.ack(recs.map((r) => r.msgId))
    clock.advance(23 * HOUR)
    assert.equal(await ob.enforceKeepBounds(), 0)
    clock.advance(2 * HOUR)
    assert.equal(await ob.enforceKeepBounds(), 3)
    assert.equal(ob.keptStats().uncoveredThrough, 3)
  })

  it('opened without keep, records kept earlier are released (nothing else would ever release them)', async (t) => {
    const dir = tempDir(t)
    const { ob } = await open(t, dir, { keep: roomy })
    const recs = await fill(ob, 3)
    await ob.ack(recs.map((r) => r.msgId))
    await ob.close()
    const plain = (await open(t, dir)).ob
    assert.equal(plain.keptStats().kept, 0)
    assert.deepEqual(await plain.readPending(0, 10), [])
  })

  it('a keep.json changed outside the agent fails the open with BK_ERR_OUTBOX_CORRUPT naming the file', async (t) => {
    const dir = tempDir(t)
    await (await open(t, dir, { keep: roomy })).ob.close()
    writeFileSync(join(dir, outboxFiles.keepState), '{"releasedThrough":"x"}')
    const cap = captureLog()
    await assert.rejects(
      FileOutbox.open({ dir, maxBytes: 1 << 20, log: cap.log, clock: movableClock(), keep: roomy }),
      (e: unknown) => isBackstopError(e) && e.code === 'BK_ERR_OUTBOX_CORRUPT' && e.message.includes('keep.json'),
    )
  })

  it('MemoryOutbox keeps and releases by the same engine', async () => {
    const ob = new MemoryOutbox({ maxBytes: 1 << 20, keep: roomy, now: () => EVENT_TS })
    const recs = await fill(ob, 4)
    await ob.ack(recs.map((r) => r.msgId))
    assert.equal(ob.keptStats().kept, 4)
    assert.deepEqual(await ob.applyCheckpoint({ coveredSeq: 1, collectorHighWater: 1 }, 4), {
      released: 1,
      requeued: 3,
      lost: null,
    })
    assert.deepEqual(seqs(await ob.readPending(0, 10)), [2, 3, 4])
  })
})

describe('keep bounds (pure)', () => {
  const b: KeepBounds = { maxBytes: 100, maxAgeMs: 10, alertAfterMs: 5 }
  const rec = (seq: number, bytes: number, at: number) => ({ seq, bytes, at })
  for (const [name, kept, now, want] of [
    ['within both bounds', [rec(1, 40, 95), rec(2, 40, 96)], 100, 0],
    ['over bytes: oldest first until it fits', [rec(1, 40, 95), rec(2, 40, 96), rec(3, 40, 97)], 100, 1],
    ['over age: every record older than maxAge', [rec(1, 1, 80), rec(2, 1, 89), rec(3, 1, 95)], 100, 2],
    ['nothing kept', [], 100, 0],
  ] as const) {
    it(`forcedReleaseThrough: ${name}`, () => {
      const bytes = kept.reduce((n, r) => n + r.bytes, 0)
      assert.equal(forcedReleaseThrough(kept, bytes, b, now), want)
    })
  }
  it('isBacklog: oldest kept older than alertAfter, or bytes over 80 % of maxBytes', () => {
    assert.equal(isBacklog(null, 0, b, 100), false)
    assert.equal(isBacklog(96, 10, b, 100), false)
    assert.equal(isBacklog(94, 10, b, 100), true)
    assert.equal(isBacklog(99, 81, b, 100), true)
  })
})
