import { readFileSync, writeFileSync } from 'node:fs'
import { BackstopError } from '@backstop/shared'
import type { Exec, ExecOpts, ExecResult, PipelineResult } from './exec.ts'
import { OutputCollector } from './node-exec.ts'

/**
 * One recorded command (scrutiny's / zrepl's fixture pattern): what was run and what it printed. `error`
 * replays a failure that NodeExec throws instead of returning (binary missing, killed on timeout).
 * `repeat` lets one fixture answer the same argv any number of times (e.g. `zfs list` before and after).
 */
export interface ExecFixture {
  readonly argv: readonly string[]
  readonly exitCode?: number
  readonly signal?: string | null
  readonly stdout?: string
  readonly stderr?: string
  readonly error?: 'BK_ERR_EXEC_TIMEOUT' | 'BK_ERR_EXEC_SPAWN'
  /** The real run hit the output cap: the recorded output is already cut, so the flag is replayed as recorded. */
  readonly truncated?: boolean
  /** On the first stage of a recorded pipeline: bytes that went down the pipe (its stdout is not kept). */
  readonly bytesPiped?: number
  readonly repeat?: boolean
}

export class UnexpectedCommandError extends Error {
  constructor(argv: readonly string[], remaining: readonly ExecFixture[]) {
    const list = remaining.map((f) => `  ${JSON.stringify(f.argv)}`).join('\n') || '  (none left)'
    super(`FixtureExec: unexpected command ${JSON.stringify(argv)}; recorded commands not yet used:\n${list}`)
    this.name = 'UnexpectedCommandError'
  }
}

export interface FixtureExecOptions {
  /** Require commands in exactly the recorded order (default: any order, each fixture used once). */
  readonly ordered?: boolean
}

/**
 * Replays recorded command output for parser and job tests. An argv that no fixture matches throws
 * UnexpectedCommandError naming what was recorded, so a changed command line fails loudly instead of
 * silently returning nothing. `assertAllUsed()` catches the opposite: a recorded command the code never ran.
 */
export class FixtureExec implements Exec {
  private readonly pending: ExecFixture[]
  private readonly ordered: boolean
  /** Every argv run, in order (for assertions on exact command lines). */
  readonly calls: (readonly string[])[] = []

  constructor(fixtures: readonly ExecFixture[], opts: FixtureExecOptions = {}) {
    this.pending = [...fixtures]
    this.ordered = opts.ordered ?? false
  }

  /** Loads fixtures from JSON files, each holding one fixture or an array of them. */
  static fromFiles(files: readonly string[], opts?: FixtureExecOptions): FixtureExec {
    const all = files.flatMap((f) => {
      const data = JSON.parse(readFileSync(f, 'utf8')) as ExecFixture | ExecFixture[]
      return Array.isArray(data) ? data : [data]
    })
    return new FixtureExec(all, opts)
  }

  async run(argv: readonly string[], opts: ExecOpts = {}): Promise<ExecResult> {
    return (await this.replay(argv, opts)).result
  }

  private async replay(argv: readonly string[], opts: ExecOpts): Promise<{ result: ExecResult; fixture: ExecFixture }> {
    if (opts.signal?.aborted) {
      throw opts.signal.reason
    }
    this.calls.push([...argv])
    const f = this.take(argv)
    if (f.error === 'BK_ERR_EXEC_TIMEOUT') {
      throw new BackstopError(
        'BK_ERR_EXEC_TIMEOUT',
        `\`${argv.join(' ')}\` ran longer than ${opts.timeoutMs ?? 600000} ms and was killed (recorded)`,
      )
    }
    if (f.error === 'BK_ERR_EXEC_SPAWN') {
      throw new BackstopError('BK_ERR_EXEC_SPAWN', `"${argv[0]}" not found (recorded)`)
    }
    const max = opts.maxOutputBytes ?? 16 * 1024 * 1024
    const out = new OutputCollector(max, opts.onStdoutLine)
    const err = new OutputCollector(max, opts.onStderrLine)
    out.push(Buffer.from(f.stdout ?? ''))
    err.push(Buffer.from(f.stderr ?? ''))
    out.end()
    err.end()
    const result = {
      argv: [...argv],
      exitCode: f.exitCode ?? 0,
      signal: f.signal ?? null,
      stdout: out.text(),
      stderr: err.text(),
      durationMs: 0,
      truncated: (f.truncated ?? false) || out.truncated || err.truncated,
    }
    return { result, fixture: f }
  }

  async pipeline(stages: readonly (readonly string[])[], opts: ExecOpts = {}): Promise<PipelineResult> {
    const results: ExecResult[] = []
    let bytesPiped = 0
    for (const [i, argv] of stages.entries()) {
      const last = i === stages.length - 1
      const { result, fixture } = await this.replay(argv, last ? opts : { ...opts, onStdoutLine: undefined })
      results.push(result)
      if (i === 0 && stages.length > 1) {
        bytesPiped = fixture.bytesPiped ?? Buffer.byteLength(result.stdout)
      }
    }
    // NodeExec captures only the last stage's stdout (the rest went down the pipe); so does the replay.
    const shaped = results.map((r, i) => (i === results.length - 1 ? r : { ...r, stdout: '' }))
    return { stages: shaped, durationMs: 0, bytesPiped }
  }

  /** Throws when recorded commands were never run (the code under test skipped a step). */
  assertAllUsed(): void {
    const unused = this.pending.filter((f) => !f.repeat)
    if (unused.length > 0) {
      throw new Error(
        `FixtureExec: recorded commands never run:\n${unused.map((f) => `  ${JSON.stringify(f.argv)}`).join('\n')}`,
      )
    }
  }

  private take(argv: readonly string[]): ExecFixture {
    const idx = this.ordered
      ? this.pending[0] && sameArgv(this.pending[0].argv, argv)
        ? 0
        : -1
      : this.pending.findIndex((f) => sameArgv(f.argv, argv))
    const f = this.pending[idx]
    if (f === undefined) {
      throw new UnexpectedCommandError(argv, this.pending)
    }
    if (!f.repeat) {
      this.pending.splice(idx, 1)
    }
    return f
  }
}

function fixtureOf(r: ExecResult): ExecFixture {
  return {
    argv: [...r.argv],
    exitCode: r.exitCode,
    signal: r.signal,
    stdout: r.stdout,
    stderr: r.stderr,
    ...(r.truncated ? { truncated: true } : {}),
  }
}

function sameArgv(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

/**
 * Wraps a real Exec and keeps what each command printed, in FixtureExec's format: run the code once against the
 * real tool, `save()` the fixtures, replay them in unit tests. Pipelines are recorded stage by stage.
 */
export class RecordingExec implements Exec {
  readonly recorded: ExecFixture[] = []

  constructor(private readonly inner: Exec) {}

  async run(argv: readonly string[], opts?: ExecOpts): Promise<ExecResult> {
    try {
      const r = await this.inner.run(argv, opts)
      this.recorded.push(fixtureOf(r))
      return r
    } catch (e) {
      this.recordError([argv], e)
      throw e
    }
  }

  async pipeline(stages: readonly (readonly string[])[], opts?: ExecOpts): Promise<PipelineResult> {
    try {
      const r = await this.inner.pipeline(stages, opts)
      r.stages.forEach((s, i) => {
        this.recorded.push(
          i === 0 && r.stages.length > 1 ? { ...fixtureOf(s), bytesPiped: r.bytesPiped } : fixtureOf(s),
        )
      })
      return r
    } catch (e) {
      this.recordError(stages, e)
      throw e
    }
  }

  save(file: string): void {
    writeFileSync(file, `${JSON.stringify(this.recorded, null, 2)}\n`)
  }

  private recordError(stages: readonly (readonly string[])[], e: unknown): void {
    if (e instanceof BackstopError && (e.code === 'BK_ERR_EXEC_TIMEOUT' || e.code === 'BK_ERR_EXEC_SPAWN')) {
      for (const argv of stages) {
        this.recorded.push({ argv: [...argv], error: e.code })
      }
    }
  }
}
