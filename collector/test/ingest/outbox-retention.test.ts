import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import type { AlertCondition, BodyOf } from '@backstop/shared'
import { applyMessage } from '../../src/ingest/index.ts'
import type { HandlerContext, IngestStore } from '../../src/ingest/types.ts'
import { createEventsRepo } from '../../src/store/events-repo.ts'
import { openDb } from '../../src/store/db.ts'
import { FakeAgent, tempDir } from '../support/harness.ts'

const body: BodyOf<'outbox.retention'> = {
  state: 'backlog',
  keptEvents: 120,
  keptBytes: 96000,
  oldestKeptAt: '2026-12-01T00:00:00.000Z',
  checkpointSeq: 10,
  uncoveredThrough: 0,
  limits: { maxBytes: 268435456, maxAgeHours: 720, alertAfterHours: 48 },
}

/** The real events repository on a real SQLite file; the alert service's `raise` captured. */
function ctx(t: TestContext, raised: Array<[AlertCondition, number]>): HandlerContext {
  const { db } = openDb({ file: join(tempDir(t), 'collector.db') })
  t.after(() => db.close())
  const store = {
    events: createEventsRepo(db),
    raiseAlert: (c: AlertCondition, at: number) => raised.push([c, at]),
  } as unknown as IngestStore
  return { store, changes: {} as never, collectorPublicKey: 'k', pinAfterCommit: () => undefined }
}

describe('ingest: outbox.retention', () => {
  it('is stored once and raises both outbox alerts of its node at the receipt time', (t) => {
    const agent = new FakeAgent('nas-1')
    const env = agent.envelope('outbox.retention', body)
    const raised: Array<[AlertCondition, number]> = []
    const c = ctx(t, raised)
    const msg = { env, raw: JSON.stringify(env), receivedAt: 1_800_000_000_000 }
    assert.equal(applyMessage(msg, c).stored, true)
    assert.deepEqual(
      raised.map(([c, at]) => [c.key, c.firing, at]),
      [
        ['outbox-backlog/nas-1', true, 1_800_000_000_000],
        ['outbox-uncovered/nas-1', false, 1_800_000_000_000],
      ],
    )
    assert.equal(applyMessage(msg, c).stored, false, 'a replay is a duplicate')
    assert.equal(raised.length, 2, 'and raises nothing again')
  })

  it('a checkpoint published by a node is refused (collector → agent only)', (t) => {
    const env = new FakeAgent('nas-1').envelope('checkpoint', { coveredSeq: 1, collectorHighWater: 1 })
    assert.throws(
      () => applyMessage({ env, raw: '', receivedAt: 0 }, ctx(t, [])),
      /"checkpoint" flows collector → agent only/,
    )
  })
})
