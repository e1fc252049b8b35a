import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { BackstopError, type Copy } from '@backstop/shared'
import { FixtureExec } from '../../src/exec/fixture-exec.ts'
import type { Job, JobContext, JobResult } from '../../src/jobs/job.ts'
import { runJob, type JobEventSink, type RunJobDeps } from '../../src/jobs/run-job.ts'
import { JobStateStore } from '../../src/scheduler/job-state.ts'
import { memoryLog } from '../exec/memory-log.ts'
import { FakeClock, settle } from '../scheduler/fake-clock.ts'

interface Event {
  kind: string
  body: Record<string, unknown>
}

function setup(
  t: TestContext,
  opts: { failEmits?: string[] } = {},
): { deps: RunJobDeps; events: Event[]; clock: FakeClock; state: JobStateStore } {
  const dir = mkdtempSync(join(tmpdir(), 'bk-runjob-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const clock = new FakeClock('2026-02-01T10:00:00Z')
  const events: Event[] = []
  const fails = [...(opts.failEmits ?? [])]
  const sink = {
    emit: async (kind: string, body: unknown) => {
      const i = fails.indexOf(kind)
      if (i >= 0) {
        fails.splice(i, 1)
        throw new BackstopError('BK_ERR_OUTBOX_FULL', 'test: outbox full')
      }
      events.push({ kind, body: body as Record<string, unknown> })
    },
  } as JobEventSink
  const state = new JobStateStore(dir)
  const deps: RunJobDeps = {
    node: 'n1',
    exec: new FixtureExec([]),
    clock,
    log: memoryLog().log,
    events: sink,
    stateDir: dir,
    state,
    progressIntervalMs: 5000,
    abortGraceMs: 60_000,
  }
  return { deps, events, clock, state }
}

const ok: JobResult = { status: 'success', copies: [], deleted: [], warnings: [] }
const fakeJob = (run: (ctx: JobContext) => Promise<JobResult>): Job => ({ name: 'etc', kind: 'archive', run })

const copy: Copy = {
  copyId: 'archive:/b/etc-20260201T100000Z.tar.gz',
  asset: { kind: 'file-set', id: 'fileset:etc' },
  location: { kind: 'dir', target: '/b' },
  name: 'etc-20260201T100000Z.tar.gz',
  media: 'hdd',
  offsite: false,
  offline: false,
  immutable: false,
  createdAt: '2026-02-01T10:00:00.000Z',
  verification: { state: 'verified', method: 'sha256-manifest' },
}

describe('runJob', () => {
  const outcomes: { name: string; run: (ctx: JobContext) => Promise<JobResult>; status: string; code?: string }[] = [
    {
      name: 'success passes through with its copies',
      run: async () => ({ ...ok, copies: [copy], bytes: 123 }),
      status: 'success',
    },
    {
      name: 'a coded error keeps its code',
      run: async () => {
        throw new BackstopError('BK_ERR_SOURCE_MISSING', '/etc/pve does not exist')
      },
      status: 'failed',
      code: 'BK_ERR_SOURCE_MISSING',
    },
    {
      name: 'an uncoded exception becomes BK_ERR_JOB_FAILED',
      run: async () => {
        throw new TypeError('x is undefined')
      },
      status: 'failed',
      code: 'BK_ERR_JOB_FAILED',
    },
    {
      name: 'partial results are reported as such',
      run: async () => ({
        ...ok,
        copies: [copy],
        status: 'partial',
        warnings: ['w'],
        error: { code: 'BK_ERR_SOURCE_MISSING', message: 'm' },
      }),
      status: 'partial',
      code: 'BK_ERR_SOURCE_MISSING',
    },
    {
      name: 'an invalid copy is dropped with a warning and the run is partial',
      run: async () => ({ ...ok, copies: [copy, { ...copy, media: 'floppy' } as unknown as Copy] }),
      status: 'partial',
      code: 'BK_ERR_WIRE_SCHEMA',
    },
  ]
  for (const c of outcomes) {
    it(c.name, async (t) => {
      const { deps, events, state } = setup(t)
      const body = await runJob({ job: fakeJob(c.run), trigger: 'manual', timeoutMs: 60_000 }, deps)
      assert.deepEqual(
        events.map((e) => e.kind),
        ['job.started', 'job.finished'],
      )
      assert.equal(events[0]?.body['runId'], body.runId)
      assert.equal(events[1]?.body['status'], c.status)
      assert.equal(body.error?.code, c.code)
      assert.equal(state.read('etc').lastRun?.status, c.status)
      assert.equal(state.read('etc').lastRun?.runId, body.runId)
      if (c.status !== 'failed') {
        assert.equal(body.copies.length, 1)
        // Made in this run (its name's second is the run start's): the collector pairs it with the run by id.
        assert.equal(body.copies[0]?.runId, body.runId)
      }
    })
  }

  it('a job that ignores its timeout is reported failed with BK_ERR_JOB_TIMEOUT after the grace period', async (t) => {
    const { deps, events, clock } = setup(t)
    const p = runJob(
      {
        job: fakeJob(
          () =>
            new Promise(() => {
              /* hangs forever */
            }),
        ),
        trigger: 'schedule',
        scheduledFor: new Date('2026-02-01T10:00:00Z'),
        timeoutMs: 3600_000,
      },
      deps,
    )
    await clock.advanceTo('2026-02-01T11:00:30Z')
    assert.equal(events.length, 1, 'still within the grace period')
    await clock.advanceTo('2026-02-01T11:01:00Z')
    const body = await p
    assert.equal(body.status, 'failed')
    assert.equal(body.error?.code, 'BK_ERR_JOB_TIMEOUT')
    assert.deepEqual(
      events.map((e) => e.kind),
      ['job.started', 'job.finished'],
    )
    assert.equal(events[0]?.body['scheduledFor'], '2026-02-01T10:00:00.000Z')
  })

  it('a job that honours the abort signal finishes at once with the timeout code', async (t) => {
    const { deps, clock } = setup(t)
    const p = runJob(
      {
        job: fakeJob(
          (ctx) =>
            new Promise((_r, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('tar killed')))),
        ),
        trigger: 'schedule',
        timeoutMs: 1000,
      },
      deps,
    )
    await clock.advance(1000)
    const body = await p
    assert.equal(body.error?.code, 'BK_ERR_JOB_TIMEOUT')
  })

  it('agent shutdown aborts the run as BK_ERR_JOB_ABORTED and still reports it', async (t) => {
    const { deps, events } = setup(t)
    const ac = new AbortController()
    const p = runJob(
      {
        job: fakeJob(
          (ctx) => new Promise((_r, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))),
        ),
        trigger: 'schedule',
        timeoutMs: 60_000,
        signal: ac.signal,
      },
      deps,
    )
    await settle()
    ac.abort()
    const body = await p
    assert.equal(body.error?.code, 'BK_ERR_JOB_ABORTED')
    assert.equal(events.at(-1)?.kind, 'job.finished')
  })

  it('throttles progress to one event per interval', async (t) => {
    const { deps, events, clock } = setup(t)
    const job = fakeJob(async (ctx) => {
      for (let i = 1; i <= 12; i++) {
        ctx.progress(i * 8, `step ${i}`)
        await clock.sleepUntil(new Date(clock.now().getTime() + 1000))
      }
      return ok
    })
    const p = runJob({ job, trigger: 'manual', timeoutMs: 60_000 }, deps)
    await clock.advance(20_000)
    await p
    const progress = events.filter((e) => e.kind === 'job.progress').map((e) => e.body['percent'])
    assert.deepEqual(progress, [8, 48, 88], 'at t=0s, 5s, 10s')
  })

  it('the job gets its own state directory and the run context', async (t) => {
    const { deps } = setup(t)
    let seen: JobContext | null = null
    await runJob(
      {
        job: fakeJob(async (ctx) => {
          seen = ctx
          return ok
        }),
        trigger: 'catch-up',
        timeoutMs: 60_000,
      },
      deps,
    )
    const ctx = seen as unknown as JobContext
    assert.equal(ctx.stateDir, join(deps.stateDir, 'job-data', 'etc'))
    assert.equal(ctx.node, 'n1')
    assert.equal(ctx.trigger, 'catch-up')
  })

  it('a failing job.started does not stop the backup; a failing job.finished is retried', async (t) => {
    const { deps, events, clock } = setup(t, { failEmits: ['job.started', 'job.finished'] })
    const p = runJob({ job: fakeJob(async () => ok), trigger: 'manual', timeoutMs: 60_000 }, deps)
    await clock.advance(5000)
    const body = await p
    assert.equal(body.status, 'success')
    assert.deepEqual(
      events.map((e) => e.kind),
      ['job.finished'],
    )
  })
})
