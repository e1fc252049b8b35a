import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import type { Clock } from '../../agent/src/clock.ts'
import type { Exec } from '../../agent/src/exec/exec.ts'
import { NodeExec } from '../../agent/src/exec/node-exec.ts'
import type { JobContext } from '../../agent/src/jobs/job.ts'
import type { Log } from '../../agent/src/log.ts'

/** A logger that drops everything (the job's log lines are not what these tests assert). */
export const silentLog: Log = (() => {
  const noop = (): void => {}
  const log = { trace: noop, debug: noop, info: noop, warn: noop, error: noop, fatal: noop, child: () => log }
  return log as unknown as Log
})()

/** A clock the test moves: snapshot names and retention are computed from it, not from the wall clock. */
export class TestClock implements Clock {
  constructor(private t: Date) {}
  now(): Date {
    return new Date(this.t)
  }
  set(t: Date | string): void {
    this.t = new Date(t)
  }
  advance(ms: number): void {
    this.t = new Date(this.t.getTime() + ms)
  }
  async sleepUntil(): Promise<void> {}
}

export const DAY = 86_400_000

/** A JobContext on the real NodeExec, with a state dir removed in t.after. */
export function jobContext(
  t: TestContext,
  clock: TestClock,
  exec: Exec = new NodeExec({ log: silentLog, killGraceMs: 500 }),
): JobContext {
  const stateDir = mkdtempSync(join(tmpdir(), 'bk-state-'))
  t.after(() => rmSync(stateDir, { recursive: true, force: true }))
  return {
    node: 'test-node',
    runId: `run-${Date.now()}`,
    trigger: 'manual',
    exec,
    clock,
    log: silentLog,
    signal: new AbortController().signal,
    stateDir,
    progress: () => {},
  }
}

/**
 * An Exec that runs `after(argv)` right after a command whose argv matches — to make the world change
 * mid-run (a pool exported after the snapshot, a disk pulled before the send) at an exact point.
 */
export class TriggerExec implements Exec {
  readonly calls: (readonly string[])[] = []
  constructor(
    private readonly inner: Exec,
    private readonly when: (argv: readonly string[]) => boolean,
    private readonly after: () => void,
  ) {}
  async run(argv: readonly string[], opts?: Parameters<Exec['run']>[1]): ReturnType<Exec['run']> {
    this.calls.push(argv)
    const r = await this.inner.run(argv, opts)
    if (this.when(argv)) {
      this.after()
    }
    return r
  }
  async pipeline(
    stages: readonly (readonly string[])[],
    opts?: Parameters<Exec['pipeline']>[1],
  ): ReturnType<Exec['pipeline']> {
    stages.forEach((s) => this.calls.push(s))
    return this.inner.pipeline(stages, opts)
  }
}
