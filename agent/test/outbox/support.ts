import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { pino } from 'pino'
import { keyPairFromSeed, signEnvelope, type Envelope } from '@backstop/shared'
import type { Clock } from '../../src/clock.ts'
import type { Log } from '../../src/log.ts'
import { FileOutbox } from '../../src/outbox/file-outbox.ts'

export const testKeys = keyPairFromSeed(new Uint8Array(32).fill(7))

/** A real pino logger whose lines the test can inspect. */
export function captureLog(): { log: Log; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = []
  const log = pino(
    { level: 'trace' },
    { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) },
  )
  return { log, lines }
}

export const fixedClock: Clock = {
  now: () => new Date('2026-11-22T03:00:00.000Z'),
  sleepUntil: async () => undefined,
}

/** A signed job.progress envelope for `seq` (the outbox's build callback). */
export function event(n: number, node = 'node-a'): (seq: number) => Envelope {
  return (seq) =>
    signEnvelope(
      {
        v: 1,
        kind: 'job.progress',
        node,
        msgId: `m-${n}-${randomUUID()}`,
        seq,
        ts: '2026-11-22T03:00:00.000Z',
        body: { runId: `run-${n}`, job: 'etc', percent: n % 101 },
      },
      testKeys.secretKey,
    )
}

export function tempDir(t: TestContext, prefix = 'backstop-outbox-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/**
 * Makes the outbox at `dir` write every kind of file it has — several segments, acks.log (compacted), checkpoint.json,
 * keep.json, the dead-letter file —, checks that each is there and returns their names, sorted (file-mode tests).
 */
export async function writeEveryOutboxFile(dir: string): Promise<string[]> {
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
  return names
}
