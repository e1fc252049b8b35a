import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { BodyOf } from '@backstop/shared'
import type { KeepBounds } from '../../src/outbox/keep-bounds.ts'
import { EMPTY_KEEP_STATE } from '../../src/outbox/keep-state.ts'
import type { KeptStats } from '../../src/outbox/outbox.ts'
import { createRetentionReporter, retentionReport } from '../../src/outbox/retention-report.ts'

const HOUR = 3600_000
const bounds: KeepBounds = { maxBytes: 1000, maxAgeMs: 720 * HOUR, alertAfterMs: 48 * HOUR }
const now = Date.parse('2026-12-05T09:00:00.000Z')
const stats = (over: Partial<KeptStats> = {}): KeptStats => ({
  ...EMPTY_KEEP_STATE,
  kept: 3,
  keptBytes: 300,
  oldestKeptAt: now - HOUR,
  ackedThrough: 3,
  ...over,
})

describe('outbox.retention reports', () => {
  it('the body: kept, oldest, checkpoint, uncovered, limits in hours', () => {
    assert.deepEqual(retentionReport(stats({ checkpointSeq: 2, uncoveredThrough: 1 }), bounds, now), {
      state: 'ok',
      keptEvents: 3,
      keptBytes: 300,
      oldestKeptAt: '2026-12-05T08:00:00.000Z',
      checkpointSeq: 2,
      uncoveredThrough: 1,
      limits: { maxBytes: 1000, maxAgeHours: 720, alertAfterHours: 48 },
    })
    assert.equal(retentionReport(stats({ oldestKeptAt: now - 49 * HOUR }), bounds, now).state, 'backlog')
    assert.equal(retentionReport(stats({ keptBytes: 900 }), bounds, now).state, 'backlog')
  })

  it('sends the first report, then only when what the alerts depend on changes', async () => {
    let s = stats()
    const sent: BodyOf<'outbox.retention'>[] = []
    const r = createRetentionReporter({
      bounds,
      stats: () => s,
      now: () => now,
      emit: async (b) => void sent.push(b),
      log: { error: () => undefined },
    })
    r.changed()
    s = stats({ kept: 4, keptBytes: 400 })
    r.changed()
    assert.equal(sent.length, 1, 'more kept events alone do not report')
    s = stats({ oldestKeptAt: now - 50 * HOUR })
    r.changed()
    s = stats({ oldestKeptAt: now - 50 * HOUR, uncoveredThrough: 9 })
    r.changed()
    s = stats({ lost: { fromSeq: 4, toSeq: 9 }, uncoveredThrough: 9 })
    r.changed()
    assert.deepEqual(
      sent.map((b) => [b.state, b.uncoveredThrough, b.lost ?? null]),
      [
        ['ok', 0, null],
        ['backlog', 0, null],
        ['backlog', 9, null],
        ['ok', 9, { fromSeq: 4, toSeq: 9 }],
      ],
    )
  })
})
