/**
 * The one seam every external command goes through (zrepl's zfscmd, scrutiny's shell.Interface).
 * argv arrays only — there is no way to hand it a shell string. Implementations never throw on a non-zero exit:
 * the caller decides what an exit code means (e.g. `zfs destroy` → "dataset is busy" is "protected").
 * They do throw BackstopError for BK_ERR_EXEC_SPAWN (binary missing) and BK_ERR_EXEC_TIMEOUT.
 */
export interface ExecOpts {
  /** Milliseconds before SIGTERM (then SIGKILL 5 s later). Default 10 minutes. */
  readonly timeoutMs?: number
  /** Bytes kept per stream; beyond it output is dropped and `truncated` is set. Default 16 MiB. */
  readonly maxOutputBytes?: number
  readonly cwd?: string
  /** Added to a minimal environment (PATH, LANG=C so tool output is parseable). */
  readonly env?: Readonly<Record<string, string>>
  readonly stdin?: string | Uint8Array
  readonly signal?: AbortSignal
  /** Called for each complete stdout line as it arrives (progress parsing, e.g. vzdump `status: NN%`). */
  readonly onStdoutLine?: (line: string) => void
  readonly onStderrLine?: (line: string) => void
}

export interface ExecResult {
  readonly argv: readonly string[]
  readonly exitCode: number
  /** Set when the process was killed by a signal (exitCode is then 128 + signal number). */
  readonly signal: string | null
  readonly stdout: string
  readonly stderr: string
  readonly durationMs: number
  readonly truncated: boolean
}

export interface PipelineResult {
  /** One result per stage, in order. The pipeline succeeded only if every stage exited 0. */
  readonly stages: readonly ExecResult[]
  readonly durationMs: number
  /** Bytes that flowed from the first stage into the second (e.g. the size of a zfs/btrfs send stream). */
  readonly bytesPiped: number
}

export interface Exec {
  run(argv: readonly string[], opts?: ExecOpts): Promise<ExecResult>
  /**
   * `a | b` without a shell: stdout of stage i is piped into stdin of stage i+1 (zfs send | zfs recv,
   * btrfs send | btrfs receive). If any stage fails the others are killed.
   */
  pipeline(stages: readonly (readonly string[])[], opts?: ExecOpts): Promise<PipelineResult>
}

export function succeeded(r: ExecResult): boolean {
  return r.exitCode === 0 && r.signal === null
}

/** A one-line description of a failed command for errors and logs: argv, exit, last stderr line. */
export function describeFailure(r: ExecResult): string {
  const lastErr = r.stderr.trim().split('\n').pop() ?? ''
  return `\`${r.argv.join(' ')}\` exited ${r.signal ?? r.exitCode}${lastErr ? `: ${lastErr}` : ''}`
}
