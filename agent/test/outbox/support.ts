import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { pino } from 'pino'
import { keyPairFromSeed, signEnvelope, type Envelope } from '@backstop/shared'
import type { Clock } from '../../src/clock.ts'
import type { Log } from '../../src/log.ts'

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
