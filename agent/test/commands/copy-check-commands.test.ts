import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { Compile } from 'typebox/compile'
import {
  CommandResultBody,
  isBackstopError,
  keyPairFromSeed,
  signCommand,
  type UnsignedCommand,
} from '@backstop/shared'
import { openNonceStore } from '../../src/commands/nonce-store.ts'
import { receiveCommand, type CommandHandlers } from '../../src/commands/receive-command.ts'
import { FixtureExec } from '../../src/exec/fixture-exec.ts'
import { runCopyCheck } from '../../src/jobs/copy-checks.ts'
import type { CopyCheck, Job } from '../../src/jobs/job.ts'
import { JobStateStore } from '../../src/scheduler/job-state.ts'
import { Scheduler } from '../../src/scheduler/scheduler.ts'
import { memoryLog } from '../exec/memory-log.ts'
import { FakeClock, settle } from '../scheduler/fake-clock.ts'

/** The command path of reverify-copy / restore-test: runner (copy-checks.ts), result body, and the scheduler slot. */
const collector = keyPairFromSeed(new Uint8Array(32).fill(31))
const checkBody = Compile(CommandResultBody)

function temp(t: TestContext): string {
  const d = mkdtempSync(join(tmpdir(), 'bk-cchk-'))
  t.after(() => rmSync(d, { recursive: true, force: true }))
  return d
}

const okCheck: CopyCheck = {
  result: 'ok',
  copyId: 'archive:/b/x.tar.gz',
  method: 'm',
  checks: ['one', 'two'],
  bytes: 10,
}
const job = (over: Partial<Job> = {}): Job => ({
  name: 'cfg',
  kind: 'archive',
  run: async () => ({ status: 'success', copies: [], deleted: [], warnings: [] }),
  ...over,
})

describe('runCopyCheck', () => {
  const deps = (t: TestContext, clock = new FakeClock('2026-11-22T02:00:00Z')) => ({
    node: 'n',
    exec: new FixtureExec([]),
    clock,
    log: memoryLog().log,
    stateDir: temp(t),
  })

  it('turns a job finding into a schema-valid outcome with job, kind and duration', async (t) => {
    const d = deps(t)
    const o = await runCopyCheck(
      {
        job: job({
          verifyCopy: async (ctx, id) => ({
            ...okCheck,
            copyId: id,
            checks: [ctx.stateDir.endsWith(join('job-data', 'cfg')) ? 'own state dir' : 'wrong dir'],
          }),
        }),
        what: 'reverify-copy',
        copyId: 'archive:/b/y.tar.gz',
        timeoutMs: 60_000,
      },
      d,
    )
    assert.deepEqual(
      { ...o, at: undefined },
      {
        result: 'ok',
        job: 'cfg',
        jobKind: 'archive',
        copyId: 'archive:/b/y.tar.gz',
        method: 'm',
        checks: ['own state dir'],
        bytes: 10,
        durationMs: 0,
        at: undefined,
      },
    )
    assert.ok(
      checkBody.Check({ commandId: 'c'.repeat(22), kind: 'reverify-copy', status: 'succeeded', outcome: o, at: o.at }),
    )
  })

  it('a kind without the method says which kind and what it supports', async (t) => {
    const j = job({ kind: 'rear', verifyCopy: async () => okCheck })
    await assert.rejects(
      runCopyCheck({ job: j, what: 'restore-test', timeoutMs: 1000 }, deps(t)),
      (e) =>
        isBackstopError(e) &&
        e.code === 'BK_ERR_CMD_UNSUPPORTED' &&
        /kind rear, which cannot run a restore test \(it supports: reverify-copy\)/.test(e.message),
    )
  })

  it('the job timeout aborts a hanging check with BK_ERR_JOB_TIMEOUT and the job sees the abort', async (t) => {
    const clock = new FakeClock('2026-11-22T02:00:00Z')
    let sawAbort = false
    const hang = job({
      restoreTest: (ctx) =>
        new Promise<CopyCheck>((_r, reject) =>
          ctx.signal.addEventListener('abort', () => {
            sawAbort = true
            reject(new Error('killed'))
          }),
        ),
    })
    const p = runCopyCheck({ job: hang, what: 'restore-test', timeoutMs: 5000 }, deps(t, clock))
    const refused = assert.rejects(p, (e) => isBackstopError(e) && e.code === 'BK_ERR_JOB_TIMEOUT')
    await settle()
    await clock.advance(5000)
    await refused
    assert.equal(sawAbort, true)
  })
})

describe('receiveCommand with an outcome', () => {
  const run = async (t: TestContext, handlers: Partial<CommandHandlers>, cmd: Partial<UnsignedCommand>) => {
    const reports: CommandResultBody[] = []
    const now = () => new Date('2026-11-22T02:00:00.000Z')
    const nonces = openNonceStore(join(temp(t), 'n.jsonl'), now)
    t.after(() => nonces.close())
    const base = { 'run-job': async () => ({}), 'reverify-copy': async () => ({}), 'restore-test': async () => ({}) }
    const c = signCommand(
      {
        v: 1,
        type: 'command',
        id: 'nonce-0000000000000001',
        node: 'pve1',
        kind: 'reverify-copy',
        args: { job: 'cfg', copyId: 'archive:/b/x.tar.gz' },
        issuedAt: '2026-11-22T01:59:00.000Z',
        expiresAt: '2026-11-22T02:05:00.000Z',
        requestedBy: 'api:ops',
        ...cmd,
      } as UnsignedCommand,
      collector.secretKey,
    )
    const r = await receiveCommand(JSON.stringify(c), {
      node: 'pve1',
      collectorPublicKey: () => collector.publicKey,
      allow: ['reverify-copy', 'restore-test'],
      nonces,
      now,
      handlers: { ...base, ...handlers },
      report: (b) => {
        reports.push(b)
      },
      log: { warn: () => {}, info: () => {} },
    })
    reports.forEach((b) => assert.ok(checkBody.Check(b), JSON.stringify(b)))
    return { r, reports }
  }
  const outcome = {
    job: 'cfg',
    jobKind: 'archive',
    copyId: 'archive:/b/x.tar.gz',
    method: 'm',
    checks: ['c'],
    durationMs: 5,
    at: '2026-11-22T02:00:00.000Z',
  }

  it("a failed finding is reported as failed with the outcome's code and the outcome", async (t) => {
    const { r, reports } = await run(
      t,
      {
        'reverify-copy': async () => ({
          outcome: {
            ...outcome,
            result: 'failed' as const,
            error: { code: 'BK_ERR_VERIFY_FAILED', message: 'sha256 differs' },
          },
        }),
      },
      {},
    )
    assert.deepEqual(r, { status: 'failed', code: 'BK_ERR_VERIFY_FAILED' })
    const last = reports.at(-1)!
    assert.deepEqual(
      [last.status, last.code, last.message, last.outcome?.result],
      ['failed', 'BK_ERR_VERIFY_FAILED', 'sha256 differs', 'failed'],
    )
  })

  it('a passed one is succeeded with the outcome', async (t) => {
    const { r, reports } = await run(
      t,
      { 'restore-test': async () => ({ outcome: { ...outcome, result: 'ok' as const } }) },
      { kind: 'restore-test', args: { job: 'cfg' } } as Partial<UnsignedCommand>,
    )
    assert.deepEqual(r, { status: 'succeeded' })
    assert.deepEqual(
      reports.map((b) => [b.status, b.outcome?.result ?? null]),
      [
        ['accepted', null],
        ['succeeded', 'ok'],
      ],
    )
  })
})

describe('Scheduler.runExclusive', () => {
  it("a check takes the job's slot: refused while the job runs; the job skips its slot during the check", async (t) => {
    const clock = new FakeClock('2026-11-22T02:00:00Z')
    let release: () => void = () => {}
    const runs: string[] = []
    const s = new Scheduler([{ name: 'cfg', schedule: null, catchUp: false }], {
      clock,
      log: memoryLog().log,
      state: new JobStateStore(temp(t)),
      run: async (req) => {
        runs.push(req.job)
        await new Promise<void>((r) => {
          release = r
        })
      },
    })
    const running = s.runNow('cfg', 'command')
    assert.ok(running)
    assert.equal(
      s.runExclusive('cfg', async () => 'x'),
      null,
      'refused while the job runs',
    )
    await settle()
    release()
    await running
    let finish: (v: string) => void = () => {}
    const check = s.runExclusive(
      'cfg',
      () =>
        new Promise<string>((r) => {
          finish = r
        }),
    )
    assert.ok(check)
    await settle()
    assert.equal(s.runNow('cfg', 'command'), null, 'the job waits for the check')
    assert.equal(s.status()[0]!.running, true)
    finish('done')
    assert.equal(await check, 'done')
    await settle()
    assert.equal(s.status()[0]!.running, false)
    assert.equal(
      s.runExclusive('nope', async () => 1),
      null,
    )
    const failing = s.runExclusive('cfg', async () => {
      throw new Error('boom')
    })
    await assert.rejects(failing!, /boom/)
    await settle()
    assert.equal(s.status()[0]!.running, false, 'a failing check frees the slot')
    assert.deepEqual(runs, ['cfg'])
  })
})
