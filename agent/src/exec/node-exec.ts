import { spawn, type ChildProcess } from 'node:child_process'
import { constants as osConstants } from 'node:os'
import type { Readable } from 'node:stream'
import { BackstopError } from '@backstop/shared'
import type { Log } from '../log.ts'
import type { Exec, ExecOpts, ExecResult, PipelineResult } from './exec.ts'

const DEFAULT_TIMEOUT_MS = 10 * 60 * 1000
const DEFAULT_MAX_OUTPUT = 16 * 1024 * 1024
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

export interface NodeExecOptions {
  readonly log: Log
  /** Grace between SIGTERM and SIGKILL on timeout/abort/pipeline failure. Default 5 s (tests shorten it). */
  readonly killGraceMs?: number
  /** PATH handed to children; default the agent's own PATH (systemd gives a sane one) or the Debian default. */
  readonly path?: string
}

interface Started {
  readonly child: ChildProcess
  readonly argv: readonly string[]
  readonly stdout: OutputCollector
  readonly stderr: OutputCollector
  /** Resolves when the process has exited and its streams are closed; rejects only on spawn failure. */
  readonly done: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/**
 * The real Exec: child_process.spawn with an argv array (never a shell), a minimal environment, a per-stream
 * output cap and a timeout. Each child gets its own process group so a timeout also stops what it started
 * (tar → gzip, zfs send's helpers); SIGTERM first, SIGKILL after the grace period.
 */
export class NodeExec implements Exec {
  private readonly log: Log
  private readonly killGraceMs: number
  private readonly path: string

  constructor(opts: NodeExecOptions) {
    this.log = opts.log
    this.killGraceMs = opts.killGraceMs ?? 5000
    this.path = opts.path ?? process.env['PATH'] ?? DEFAULT_PATH
  }

  async run(argv: readonly string[], opts: ExecOpts = {}): Promise<ExecResult> {
    const { stages } = await this.execute([argv], opts)
    const r = stages[0]
    if (r === undefined) {
      throw new BackstopError('BK_ERR_INTERNAL_ERROR', 'NodeExec.run produced no result')
    }
    return r
  }

  async pipeline(stages: readonly (readonly string[])[], opts: ExecOpts = {}): Promise<PipelineResult> {
    if (stages.length === 0) {
      throw new BackstopError('BK_ERR_INTERNAL_ERROR', 'Exec.pipeline needs at least one stage')
    }
    return this.execute(stages, opts)
  }

  private async execute(stages: readonly (readonly string[])[], opts: ExecOpts): Promise<PipelineResult> {
    for (const argv of stages) {
      if (argv.length === 0 || argv[0] === '') {
        throw new BackstopError('BK_ERR_INTERNAL_ERROR', 'Exec called with an empty argv')
      }
    }
    if (opts.signal?.aborted) {
      throw opts.signal.reason
    }
    const t0 = performance.now()
    const maxBytes = opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT
    const env = { PATH: this.path, LANG: 'C', LC_ALL: 'C', ...opts.env }
    const started: Started[] = []
    let bytesPiped = 0
    let spawnError: BackstopError | null = null
    let stopReason: 'timeout' | 'abort' | 'failed' | null = null
    const timers: NodeJS.Timeout[] = []

    const killAll = (why: 'timeout' | 'abort' | 'failed'): void => {
      stopReason ??= why
      for (const s of started) {
        this.signalGroup(s.child, 'SIGTERM')
      }
      timers.push(
        setTimeout(() => {
          for (const s of started) {
            this.signalGroup(s.child, 'SIGKILL')
          }
        }, this.killGraceMs),
      )
    }

    for (const [i, argv] of stages.entries()) {
      const last = i === stages.length - 1
      const prev = started[i - 1]
      const s = this.start(argv, {
        cwd: opts.cwd,
        env,
        stdinFrom: prev ? 'pipe' : opts.stdin === undefined ? 'ignore' : 'pipe',
        captureStdout: last,
        maxBytes,
        onStdoutLine: last ? opts.onStdoutLine : undefined,
        onStderrLine: opts.onStderrLine,
      })
      started.push(s)
      s.done.catch((e: unknown) => {
        spawnError ??= e instanceof BackstopError ? e : new BackstopError('BK_ERR_EXEC_SPAWN', String(e))
        killAll('failed')
      })
      if (prev) {
        this.connect(
          prev.child.stdout as Readable,
          s.child,
          i === 1
            ? (n) => {
                bytesPiped += n
              }
            : undefined,
        )
      } else if (opts.stdin !== undefined && s.child.stdin) {
        s.child.stdin.on('error', () => {
          /* the child closed stdin early; its exit code tells the story */
        })
        s.child.stdin.end(opts.stdin)
      }
    }

    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS
    timers.push(setTimeout(() => killAll('timeout'), timeoutMs))
    const onAbort = (): void => killAll('abort')
    opts.signal?.addEventListener('abort', onAbort, { once: true })

    // A failing stage stops the pipeline (zfs recv rejecting a stream must not leave zfs send blocked forever).
    const exits = await Promise.all(
      started.map((s) =>
        s.done.then(
          (x) => {
            if (stages.length > 1 && (x.code !== 0 || x.signal !== null)) {
              killAll('failed')
            }
            return x
          },
          () => ({ code: null, signal: null }),
        ),
      ),
    )
    for (const t of timers) {
      clearTimeout(t)
    }
    opts.signal?.removeEventListener('abort', onAbort)

    const durationMs = Math.round(performance.now() - t0)
    const results: ExecResult[] = started.map((s, i) => {
      const x = exits[i] ?? { code: null, signal: null }
      return {
        argv: s.argv,
        exitCode: x.signal ? 128 + (osConstants.signals[x.signal] ?? 0) : (x.code ?? 127),
        signal: x.signal,
        stdout: s.stdout.text(),
        stderr: s.stderr.text(),
        durationMs,
        truncated: s.stdout.truncated || s.stderr.truncated,
      }
    })
    for (const r of results) {
      this.log.debug(
        {
          argv: r.argv,
          exitCode: r.exitCode,
          signal: r.signal,
          durationMs,
          stdoutBytes: r.stdout.length,
          stderrBytes: r.stderr.length,
          bytesPiped: stages.length > 1 ? bytesPiped : undefined,
        },
        'exec',
      )
    }
    if (spawnError) {
      throw spawnError
    }
    if (stopReason === 'timeout') {
      throw new BackstopError(
        'BK_ERR_EXEC_TIMEOUT',
        `\`${stages.map((a) => a.join(' ')).join(' | ')}\` ran longer than ${timeoutMs} ms and was killed; ` +
          `raise the job's timeoutSeconds or check why it hangs`,
      )
    }
    if (stopReason === 'abort') {
      throw opts.signal?.reason ?? new BackstopError('BK_ERR_JOB_ABORTED', 'command aborted')
    }
    return { stages: results, durationMs, bytesPiped }
  }

  private start(
    argv: readonly string[],
    o: {
      cwd: string | undefined
      env: Record<string, string>
      stdinFrom: 'pipe' | 'ignore'
      captureStdout: boolean
      maxBytes: number
      onStdoutLine: ((line: string) => void) | undefined
      onStderrLine: ((line: string) => void) | undefined
    },
  ): Started {
    const [bin, ...args] = argv as [string, ...string[]]
    const child = spawn(bin, args, { cwd: o.cwd, env: o.env, stdio: [o.stdinFrom, 'pipe', 'pipe'], detached: true })
    const stdout = new OutputCollector(o.captureStdout ? o.maxBytes : 0, o.onStdoutLine)
    const stderr = new OutputCollector(o.maxBytes, o.onStderrLine)
    if (o.captureStdout) {
      child.stdout?.on('data', (b: Buffer) => stdout.push(b))
    }
    child.stderr?.on('data', (b: Buffer) => stderr.push(b))
    const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      child.once('error', (e: NodeJS.ErrnoException) => {
        const how =
          e.code === 'ENOENT'
            ? `"${bin}" not found (PATH=${o.env['PATH']}); install it or use an absolute path`
            : `"${bin}": ${e.message}`
        reject(new BackstopError('BK_ERR_EXEC_SPAWN', how, { cause: e }))
      })
      child.once('close', (code, signal) => {
        stdout.end()
        stderr.end()
        resolve({ code, signal })
      })
    })
    return { child, argv: [...argv], stdout, stderr, done }
  }

  /** Pipes `from` into `to`'s stdin (with backpressure), counting bytes when asked. */
  private connect(from: Readable, to: ChildProcess, count?: (n: number) => void): void {
    if (!to.stdin) {
      from.resume()
      return
    }
    const stdin = to.stdin
    // When the reader is gone (exited, EPIPE, never spawned) the writer's stdout must keep flowing to nowhere:
    // a paused pipe never sees EOF, so the writer's 'close' would never come.
    const drain = (): void => {
      from.unpipe(stdin)
      from.resume()
    }
    stdin.on('error', drain)
    stdin.once('close', drain)
    if (count) {
      from.on('data', (b: Buffer) => count(b.length))
    }
    from.pipe(stdin)
    if (stdin.destroyed) {
      drain()
    }
  }

  /** Signals the child's whole process group: the leader may be gone while its children still hold our pipes. */
  private signalGroup(child: ChildProcess, sig: NodeJS.Signals): void {
    if (child.pid === undefined) {
      return
    }
    try {
      process.kill(-child.pid, sig)
    } catch {
      // ESRCH: the group is gone, or the child has not reached setsid() yet (killed right after spawn).
      child.kill(sig)
    }
  }
}

/**
 * Keeps at most `maxBytes` of a stream (the rest is dropped and `truncated` set) and hands every complete line
 * to `onLine`, also past the cap, so progress parsing keeps working on chatty tools. Shared with FixtureExec so
 * both apply the same cap and line rules.
 */
export class OutputCollector {
  private readonly chunks: Buffer[] = []
  private kept = 0
  private partial = ''
  private readonly decoder = new TextDecoder('utf-8')
  truncated = false

  constructor(
    private readonly maxBytes: number,
    private readonly onLine?: (line: string) => void,
  ) {}

  push(b: Buffer): void {
    const room = this.maxBytes - this.kept
    if (room > 0) {
      const keep = b.length <= room ? b : b.subarray(0, room)
      this.chunks.push(keep)
      this.kept += keep.length
    }
    if (b.length > Math.max(room, 0)) {
      this.truncated = true
    }
    if (this.onLine) {
      this.partial += this.decoder.decode(b, { stream: true })
      const lines = this.partial.split('\n')
      this.partial = lines.pop() ?? ''
      // A line without a newline for 64 KiB is not a progress line; flush it instead of buffering forever.
      if (this.partial.length > 65536) {
        lines.push(this.partial)
        this.partial = ''
      }
      for (const l of lines) {
        this.emit(l)
      }
    }
  }

  end(): void {
    if (this.onLine) {
      this.partial += this.decoder.decode()
      if (this.partial !== '') {
        this.emit(this.partial)
      }
      this.partial = ''
    }
  }

  text(): string {
    return Buffer.concat(this.chunks).toString('utf8')
  }

  private emit(line: string): void {
    try {
      this.onLine?.(line.endsWith('\r') ? line.slice(0, -1) : line)
    } catch {
      // A throwing progress parser must not kill the command it observes.
    }
  }
}
