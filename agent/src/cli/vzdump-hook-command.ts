import type { Command } from 'commander'
import { configPath, type SetExit } from './common.ts'
import type { CliDeps } from './deps.ts'
import { runVzdumpHook } from './vzdump-hook.ts'

/** Where the spool goes when the config cannot be read (BACKSTOP_STATE_DIR, as the standalone hook entry). */
const fallbackStateDir = (): string => process.env['BACKSTOP_STATE_DIR'] ?? '/var/lib/backstop-agent'

/**
 * `backstop-agent vzdump-hook <phase> [<mode> <vmid>]`, for `script:` in /etc/vzdump.conf. Every argument is
 * optional and extra ones are accepted, and the exit code is always 0: a usage error here would fail the
 * guest's backup (vzdump runs the hook with run_command and dies on a non-zero exit). An unreadable config
 * falls back to the default state dir; the spool is drained by the running agent.
 */
export function registerVzdumpHook(program: Command, deps: CliDeps, setExit: SetExit): void {
  program
    .command('vzdump-hook')
    .description(
      'vzdump hook script (/etc/vzdump.conf `script:`): records each guest backup for the agent to report; ' +
        'never fails a backup',
    )
    .argument('[args...]', '<phase> [<mode> <vmid>] as vzdump passes them')
    .allowUnknownOption()
    .action((args: string[], _opts: unknown, cmd: Command) => {
      let stateDir = fallbackStateDir()
      try {
        stateDir = deps.loadConfig(configPath(cmd)).stateDir
      } catch (e) {
        deps.io.err(
          `backstop vzdump-hook: config unreadable (${(e as Error).message.split('\n')[0]}); using ${stateDir}\n`,
        )
      }
      runVzdumpHook(args, {
        stateDir,
        now: () => deps.clock.now(),
        env: process.env,
        warn: (m) => deps.io.err(`${m}\n`),
      })
      setExit(0)
    })
}
