import { spawn } from 'node:child_process'
import { BackstopError } from '@backstop/shared'

/**
 * The Exec seam's variant for a process that must own this process's stdin and stdout: the ssh forced-command
 * gate runs `btrfs receive` / `zfs receive` on the stream ssh hands it, or `zfs send` into it. argv array (never a
 * shell), timeout (SIGTERM, then SIGKILL), its own process group so a timeout also stops what it started.
 * Nothing is captured: the bytes belong to the peer.
 */
export interface PassthroughExec {
  run(argv: readonly string[], opts: { readonly timeoutMs: number }): Promise<PassthroughResult>
}

export interface PassthroughResult {
  readonly exitCode: number
  readonly signal: string | null
  readonly durationMs: number
}

export class NodePassthroughExec implements PassthroughExec {
  constructor(private readonly killGraceMs = 5000) {}

  run(argv: readonly string[], opts: { readonly timeoutMs: number }): Promise<PassthroughResult> {
    const t0 = performance.now()
    return new Promise((resolve, reject) => {
      const child = spawn(argv[0]!, argv.slice(1), { stdio: 'inherit', detached: true })
      const kill = (sig: NodeJS.Signals): void => {
        try {
          process.kill(-child.pid!, sig)
        } catch {
          // Already gone.
        }
      }
      const timer = setTimeout(() => {
        kill('SIGTERM')
        setTimeout(() => kill('SIGKILL'), this.killGraceMs).unref()
      }, opts.timeoutMs)
      child.on('error', (e) => {
        clearTimeout(timer)
        reject(new BackstopError('BK_ERR_EXEC_SPAWN', `${argv[0]}: ${e.message} — is it installed and on PATH?`))
      })
      child.on('exit', (code, signal) => {
        clearTimeout(timer)
        resolve({
          exitCode: code ?? 128,
          signal,
          durationMs: Math.round(performance.now() - t0),
        })
      })
    })
  }
}
