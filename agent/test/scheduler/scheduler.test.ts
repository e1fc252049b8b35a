import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import type { Trigger } from '@backstop/shared'
import { JobStateStore } from '../../src/scheduler/job-state.ts'
import { Scheduler, type RunRequest, type ScheduledJob } from '../../src/scheduler/scheduler.ts'
import { memoryLog } from '../exec/memory-log.ts'
import { FakeClock } from './fake-clock.ts'

interface Harness {
  readonly clock: FakeClock
  readonly state: JobStateStore
  readonly runs: { job: string; trigger: Trigger; scheduledFor: string | null; at: string }[]
  readonly scheduler: Scheduler
}

function tempState(t: TestContext): JobStateStore {
  const dir = mkdtempSync(join(tmpdir(), 'bk-sched-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return new JobStateStore(dir)
}

/** Each run lasts `runMs` of fake time (0: finishes at once). */
function harness(
  t: TestContext,
  jobs: ScheduledJob[],
  start: string,
  opts: { runMs?: number; state?: JobStateStore } = {},
): Harness {
  const clock = new FakeClock(start)
  const state = opts.state ?? tempState(t)
  const runs: Harness['runs'] = []
  const run = async (req: RunRequest): Promise<void> => {
    runs.push({
      job: req.job,
      trigger: req.trigger,
      scheduledFor: req.scheduledFor?.toISOString() ?? null,
      at: clock.now().toISOString(),
    })
    if (opts.runMs) {
      await clock.sleepUntil(new Date(clock.now().getTime() + opts.runMs))
    }
  }
  const scheduler = new Scheduler(jobs, { clock, log: memoryLog().log, state, run })
  t.after(() => scheduler.stop())
  return { clock, state, runs, scheduler }
}

const job = (cron: string, timezone = 'UTC', catchUp = true): ScheduledJob => ({
  name: 'j',
  schedule: { cron, timezone },
  catchUp,
})

describe('Scheduler: fires each slot once, in its time zone', () => {
  const table: { name: string; job: ScheduledJob; from: string; to: string; expect: string[] }[] = [
    {
      name: 'every 15 minutes, UTC',
      job: job('*/15 * * * *'),
      from: '2026-01-05T00:00:00Z',
      to: '2026-01-05T01:00:00Z',
      expect: [
        '2026-01-05T00:15:00.000Z',
        '2026-01-05T00:30:00.000Z',
        '2026-01-05T00:45:00.000Z',
        '2026-01-05T01:00:00.000Z',
      ],
    },
    {
      name: 'DST fall-back (Europe/Amsterdam): 02:30 happens twice on the wall clock, the job runs once',
      job: job('30 2 * * *', 'Europe/Amsterdam'),
      from: '2026-10-24T12:00:00Z',
      to: '2026-10-26T12:00:00Z',
      expect: ['2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z'],
    },
    {
      name: 'DST spring-forward (Europe/Amsterdam): 02:30 does not exist, the job still runs that day (03:00 CEST)',
      job: job('30 2 * * *', 'Europe/Amsterdam'),
      from: '2026-03-28T12:00:00Z',
      to: '2026-03-30T12:00:00Z',
      expect: ['2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z'],
    },
    {
      name: 'hourly across fall-back: the repeated local hour is a real hour and runs',
      job: job('0 * * * *', 'Europe/Amsterdam'),
      from: '2026-10-24T22:30:00Z',
      to: '2026-10-25T03:30:00Z',
      expect: [
        '2026-10-24T23:00:00.000Z',
        '2026-10-25T00:00:00.000Z',
        '2026-10-25T01:00:00.000Z',
        '2026-10-25T02:00:00.000Z',
        '2026-10-25T03:00:00.000Z',
      ],
    },
    {
      name: 'weekdays 09:00 New York across the US spring-forward weekend',
      job: job('0 9 * * 1-5', 'America/New_York'),
      from: '2026-03-06T00:00:00Z',
      to: '2026-03-10T00:00:00Z',
      expect: ['2026-03-06T14:00:00.000Z', '2026-03-09T13:00:00.000Z'],
    },
  ]
  for (const c of table) {
    it(c.name, async (t) => {
      const h = harness(t, [c.job], c.from)
      h.scheduler.start()
      await h.clock.advanceTo(c.to)
      assert.deepEqual(
        h.runs.map((r) => r.at),
        c.expect,
      )
      assert.deepEqual(
        h.runs.map((r) => r.scheduledFor),
        c.expect,
      )
      assert.ok(h.runs.every((r) => r.trigger === 'schedule'))
    })
  }
})

describe('Scheduler: no overlapping runs of one job', () => {
  it('skips and counts slots that come while the previous run is still going', async (t) => {
    const h = harness(t, [job('*/15 * * * *')], '2026-01-05T00:00:00Z', { runMs: 40 * 60_000 })
    h.scheduler.start()
    await h.clock.advanceTo('2026-01-05T01:30:00Z')
    // 00:15 runs until 00:55 (00:30, 00:45 skipped); 01:00 runs until 01:40 (01:15, 01:30 skipped).
    assert.deepEqual(
      h.runs.map((r) => r.at),
      ['2026-01-05T00:15:00.000Z', '2026-01-05T01:00:00.000Z'],
    )
    const s = h.scheduler.status()[0]
    assert.equal(s?.skippedOverlaps, 4)
    assert.equal(s?.running, true)
    assert.equal(h.scheduler.runNow('j', 'manual'), null, 'a manual run is refused while one is going')
    assert.equal(h.scheduler.status()[0]?.skippedOverlaps, 5)
  })

  it('different jobs do run at the same time', async (t) => {
    const jobs = [
      { ...job('0 * * * *'), name: 'a' },
      { ...job('0 * * * *'), name: 'b' },
    ]
    const h = harness(t, jobs, '2026-01-05T00:30:00Z', { runMs: 90 * 60_000 })
    h.scheduler.start()
    await h.clock.advanceTo('2026-01-05T01:00:00Z')
    assert.deepEqual(h.runs.map((r) => r.job).sort(), ['a', 'b'])
    assert.ok(h.scheduler.status().every((s) => s.running))
  })
})

describe('Scheduler: catch-up after downtime', () => {
  it('runs once for the newest missed slot, not once per missed slot, then resumes the schedule', async (t) => {
    const state = tempState(t)
    state.update('j', { lastSlotAt: '2026-01-05T00:00:00.000Z' })
    const h = harness(t, [job('0 * * * *')], '2026-01-05T05:30:00Z', { state })
    h.scheduler.start()
    await h.clock.advanceTo('2026-01-05T06:30:00Z')
    assert.deepEqual(h.runs, [
      { job: 'j', trigger: 'catch-up', scheduledFor: '2026-01-05T05:00:00.000Z', at: '2026-01-05T05:30:00.000Z' },
      { job: 'j', trigger: 'schedule', scheduledFor: '2026-01-05T06:00:00.000Z', at: '2026-01-05T06:00:00.000Z' },
    ])
  })

  it('a second restart before the next slot does not catch up again', async (t) => {
    const state = tempState(t)
    state.update('j', { lastSlotAt: '2026-01-05T00:00:00.000Z' })
    const first = harness(t, [job('0 * * * *')], '2026-01-05T05:30:00Z', { state })
    first.scheduler.start()
    await first.clock.advance(1000)
    await first.scheduler.stop()
    const second = harness(t, [job('0 * * * *')], '2026-01-05T05:40:00Z', { state })
    second.scheduler.start()
    await second.clock.advance(1000)
    assert.equal(first.runs.length, 1)
    assert.equal(second.runs.length, 0)
  })

  it('first start ever: nothing to catch up, but the baseline makes a later outage count', async (t) => {
    const state = tempState(t)
    const first = harness(t, [job('0 3 * * *')], '2026-01-05T01:00:00Z', { state })
    first.scheduler.start()
    await first.clock.advance(1000)
    assert.equal(first.runs.length, 0)
    await first.scheduler.stop()
    assert.equal(state.read('j').lastSlotAt, '2026-01-05T01:00:00.000Z')
    // Down from 01:00 to 04:00: the 03:00 slot was missed.
    const second = harness(t, [job('0 3 * * *')], '2026-01-05T04:00:00Z', { state })
    second.scheduler.start()
    await second.clock.advance(1000)
    assert.deepEqual(
      second.runs.map((r) => [r.trigger, r.scheduledFor]),
      [['catch-up', '2026-01-05T03:00:00.000Z']],
    )
  })

  it('a run aborted by shutdown is caught up at the next start', async (t) => {
    const state = tempState(t)
    state.update('j', { lastSlotAt: '2026-01-05T02:00:00.000Z' })
    const clock = new FakeClock('2026-01-05T02:30:00Z')
    const aborted = new Scheduler([job('0 * * * *')], {
      clock,
      log: memoryLog().log,
      state,
      run: async () => ({ status: 'failed', error: { code: 'BK_ERR_JOB_ABORTED', message: 'agent stopping' } }),
    })
    aborted.start()
    await clock.advanceTo('2026-01-05T03:00:00Z')
    await aborted.stop()
    await aborted.idle()
    assert.equal(state.read('j').lastSlotAt, '2026-01-05T02:00:00.000Z', 'the 03:00 slot is not counted as served')
    const next = harness(t, [job('0 * * * *')], '2026-01-05T03:01:00Z', { state })
    next.scheduler.start()
    await next.clock.advance(1000)
    assert.deepEqual(
      next.runs.map((r) => [r.trigger, r.scheduledFor]),
      [['catch-up', '2026-01-05T03:00:00.000Z']],
    )
  })

  it('catchUp: false skips the missed slot and records it', async (t) => {
    const state = tempState(t)
    state.update('j', { lastSlotAt: '2026-01-05T00:00:00.000Z' })
    const h = harness(t, [job('0 * * * *', 'UTC', false)], '2026-01-05T05:30:00Z', { state })
    h.scheduler.start()
    await h.clock.advance(1000)
    assert.equal(h.runs.length, 0)
    assert.equal(state.read('j').lastSlotAt, '2026-01-05T05:00:00.000Z')
  })
})

describe('Scheduler: lifecycle', () => {
  it('internal tasks run on the timer but keep no state and stay out of status()', async (t) => {
    const state = tempState(t)
    const h = harness(
      t,
      [
        job('0 * * * *'),
        {
          name: '@housekeeping',
          schedule: { cron: '*/15 * * * * *', timezone: 'UTC' },
          catchUp: false,
          internal: true,
        },
      ],
      '2026-01-05T00:59:50Z',
      { state },
    )
    h.scheduler.start()
    await h.clock.advanceTo('2026-01-05T01:00:30Z')
    assert.deepEqual(
      h.runs.map((r) => [r.job, r.at]),
      [
        ['j', '2026-01-05T01:00:00.000Z'],
        ['@housekeeping', '2026-01-05T01:00:00.000Z'],
        ['@housekeeping', '2026-01-05T01:00:15.000Z'],
        ['@housekeeping', '2026-01-05T01:00:30.000Z'],
      ],
    )
    assert.deepEqual(
      h.scheduler.status().map((s) => s.job),
      ['j'],
    )
    assert.deepEqual(Object.keys(state.all()), ['j'])
  })

  it('a job without a schedule is never scheduled but can run on demand', async (t) => {
    const h = harness(t, [{ name: 'manual-only', schedule: null, catchUp: true }], '2026-01-05T00:00:00Z')
    h.scheduler.start()
    await h.clock.advanceTo('2026-01-10T00:00:00Z')
    assert.equal(h.runs.length, 0)
    assert.equal(h.scheduler.status()[0]?.nextRunAt, null)
    await h.scheduler.runNow('manual-only', 'manual')
    assert.deepEqual(
      h.runs.map((r) => [r.job, r.trigger, r.scheduledFor]),
      [['manual-only', 'manual', null]],
    )
    assert.equal(h.scheduler.runNow('no-such-job', 'manual'), null)
  })

  it('stop() ends the loop: no sleeper left, no run after it', async (t) => {
    const h = harness(t, [job('*/5 * * * *')], '2026-01-05T00:00:00Z')
    h.scheduler.start()
    await h.clock.advanceTo('2026-01-05T00:05:00Z')
    assert.equal(h.scheduler.status()[0]?.nextRunAt, '2026-01-05T00:10:00.000Z')
    await h.scheduler.stop()
    assert.equal(h.clock.pending(), 0)
    await h.clock.advanceTo('2026-01-05T01:00:00Z')
    assert.equal(h.runs.length, 1)
    await h.scheduler.idle()
  })
})
