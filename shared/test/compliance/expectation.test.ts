import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  alertAfter,
  goingDownAfter,
  onDeadline,
  onRunFinished,
  onRunStarted,
  pause,
  resume,
  statusAt,
  validateExpectation,
  BackstopError,
  type ExpectationState,
} from '@backstop/shared'

const T0 = Date.parse('2026-11-20T00:00:00Z')
const M = 60_000
const H = 60 * M
const daily: ExpectationState = {
  schedule: { kind: 'period', periodS: 86400 },
  graceS: 3600,
  status: 'new',
  createdAt: T0,
}

describe('expectation: Healthchecks semantics', () => {
  it('new → up on success, alertAfter = last finish + period + grace', () => {
    const t = onRunFinished(daily, { runId: 'r1', at: T0 + H, ok: true })
    assert.equal(t.state.status, 'up')
    assert.deepEqual(
      t.flips.map((f) => [f.from, f.to, f.reason]),
      [['new', 'up', 'success']],
    )
    assert.equal(t.alertAfter, T0 + H + 24 * H + H)
  })

  it('status over time: up, grace after the period, down after grace', () => {
    const s = onRunFinished(daily, { runId: 'r1', at: T0, ok: true }).state
    const cases: Array<[number, string]> = [
      [T0 + 23 * H, 'up'],
      [T0 + 24 * H, 'grace'],
      [T0 + 25 * H - 1, 'grace'],
      [T0 + 25 * H, 'down'],
    ]
    for (const [at, status] of cases) {
      assert.equal(statusAt(s, at), status, new Date(at).toISOString())
    }
  })

  it('the timeout flip is dated at the true deadline, not when the timer noticed it', () => {
    const s = onRunFinished(daily, { runId: 'r1', at: T0, ok: true }).state
    const late = T0 + 25 * H + 37 * M
    const t = onDeadline(s, late)
    assert.equal(t.state.status, 'down')
    assert.deepEqual(t.flips, [{ from: 'up', to: 'down', at: T0 + 25 * H, reason: 'timeout' }])
    assert.equal(t.alertAfter, null, 'a down expectation needs no timer')
  })

  it('a stale index entry (run arrived meanwhile) flips nothing', () => {
    const s = onRunFinished(daily, { runId: 'r2', at: T0 + 20 * H, ok: true }).state
    const t = onDeadline(s, T0 + 25 * H)
    assert.deepEqual(t.flips, [])
    assert.equal(t.alertAfter, T0 + 45 * H)
  })

  it('a failed run goes down at once; the next success comes back up', () => {
    const down = onRunFinished(daily, { runId: 'r1', at: T0, ok: false })
    assert.deepEqual(
      down.flips.map((f) => [f.to, f.reason]),
      [['down', 'fail']],
    )
    const up = onRunFinished(down.state, { runId: 'r2', at: T0 + H, ok: true })
    assert.deepEqual(
      up.flips.map((f) => [f.from, f.to]),
      [['down', 'up']],
    )
  })

  it('a started run that exceeds grace goes down (overrun), dated start + grace', () => {
    const s = onRunFinished(daily, { runId: 'r1', at: T0, ok: true }).state
    const started = onRunStarted(s, 'r2', T0 + 2 * H)
    assert.equal(started.alertAfter, T0 + 3 * H)
    const t = onDeadline(started.state, T0 + 3 * H + 5)
    assert.deepEqual(t.flips, [{ from: 'up', to: 'down', at: T0 + 3 * H, reason: 'overrun' }])
  })

  it('a run finishing after an unprocessed deadline records the down flip first', () => {
    const s = onRunFinished(daily, { runId: 'r1', at: T0, ok: true }).state
    const t = onRunFinished(s, { runId: 'r2', at: T0 + 30 * H, ok: true })
    assert.deepEqual(
      t.flips.map((f) => [f.from, f.to, f.at, f.reason]),
      [
        ['up', 'down', T0 + 25 * H, 'timeout'],
        ['down', 'up', T0 + 30 * H, 'success'],
      ],
    )
  })

  it('finishing a different run id keeps the pending start', () => {
    const s = onRunStarted(onRunFinished(daily, { runId: 'r1', at: T0, ok: true }).state, 'r2', T0 + H).state
    const t = onRunFinished(s, { runId: 'other', at: T0 + 2 * H, ok: true })
    assert.equal(t.state.runningRunId, 'r2')
    assert.equal(t.alertAfter, T0 + 2 * H)
  })

  it('a new expectation that never reports goes down counted from its creation', () => {
    assert.equal(alertAfter(daily), T0 + 25 * H)
    assert.deepEqual(
      onDeadline(daily, T0 + 26 * H).flips.map((f) => [f.from, f.to]),
      [['new', 'down']],
    )
  })

  it('cron + tz: due at the next slot in the zone, across a DST change', () => {
    // 02:30 Europe/Amsterdam daily; 2026-10-25 is the autumn change (UTC+2 → UTC+1).
    const s: ExpectationState = {
      schedule: { kind: 'cron', cron: '30 2 * * *', timezone: 'Europe/Amsterdam' },
      graceS: 1800,
      status: 'up',
      createdAt: 0,
      lastFinishAt: Date.parse('2026-10-24T00:40:00Z'),
    }
    // 02:30 happens twice that night; the first one (CEST, 00:30Z) is the slot, plus 30 min grace.
    assert.equal(new Date(goingDownAfter(s)).toISOString(), '2026-10-25T01:00:00.000Z')
    // The day after, 02:30 CET is 01:30Z: the offset moved with the zone.
    assert.equal(
      new Date(goingDownAfter({ ...s, lastFinishAt: Date.parse('2026-10-25T12:00:00Z') })).toISOString(),
      '2026-10-26T02:00:00.000Z',
    )
  })

  it('paused expectations never go down and resume with a fresh period', () => {
    const s = onRunFinished(daily, { runId: 'r1', at: T0, ok: true }).state
    const p = pause(s, T0 + H)
    assert.equal(p.alertAfter, null)
    assert.deepEqual(onDeadline(p.state, T0 + 100 * H).flips, [])
    assert.equal(onRunFinished(p.state, { runId: 'r2', at: T0 + 2 * H, ok: false }).state.status, 'paused')
    const r = resume(p.state, T0 + 50 * H)
    assert.equal(r.state.status, 'new')
    assert.equal(r.alertAfter, T0 + 75 * H)
  })

  it('rejects nonsense schedules with a coded error', () => {
    const bad: Array<[string, () => void]> = [
      ['period too short', () => validateExpectation({ kind: 'period', periodS: 5 }, 3600)],
      ['grace too long', () => validateExpectation({ kind: 'period', periodS: 3600 }, 400 * 86400)],
      ['bad cron', () => validateExpectation({ kind: 'cron', cron: 'not a cron', timezone: 'UTC' }, 3600)],
      ['bad zone', () => validateExpectation({ kind: 'cron', cron: '0 1 * * *', timezone: 'Mars/Base' }, 3600)],
    ]
    for (const [name, f] of bad) {
      assert.throws(f, (e: unknown) => e instanceof BackstopError && e.code === 'BK_ERR_SCHEDULE_INVALID', name)
    }
  })
})

describe('expectation: properties', () => {
  it('the down flip is never dated after it is noticed, and onDeadline is idempotent', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 60, max: 7 * 86400 }),
        fc.integer({ min: 60, max: 86400 }),
        fc.integer({ min: 0, max: 30 * 86400_000 }),
        (periodS, graceS, delay) => {
          const s: ExpectationState = {
            schedule: { kind: 'period', periodS },
            graceS,
            status: 'up',
            createdAt: T0,
            lastFinishAt: T0,
          }
          const now = T0 + delay
          const t = onDeadline(s, now)
          for (const f of t.flips) {
            assert.ok(f.at <= now)
            assert.equal(f.at, T0 + (periodS + graceS) * 1000)
          }
          assert.equal(t.flips.length, now >= goingDownAfter(s) ? 1 : 0)
          assert.deepEqual(onDeadline(t.state, now).flips, [])
        },
      ),
      { numRuns: 300 },
    )
  })
})
