import type { Command } from 'commander'

export const DEFAULT_CONFIG = '/etc/backstop/agent.yaml'

/** Exit codes of every command (also in `--help`). */
export const exitCodes = { ok: 0, failed: 1, partial: 2, notAcked: 3, usage: 64 } as const

export type SetExit = (code: number) => void

/** The `--config` value, wherever on the command line it was given. */
export function configPath(cmd: Command): string {
  return (cmd.optsWithGlobals() as { config?: string }).config ?? DEFAULT_CONFIG
}
