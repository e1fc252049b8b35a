import type { Command } from 'commander'
import { renderAgentDropIn } from '../systemd/dropin.ts'
import { configPath, exitCodes, type SetExit } from './common.ts'
import type { CliDeps } from './deps.ts'

/**
 * `systemd-dropin`: prints the drop-in that lets the sandboxed unit write where this config's jobs write
 * (systemd/dropin.ts). deploy/install.sh installs it; run it again after changing the jobs.
 */
export function registerSystemdDropin(program: Command, deps: CliDeps, setExit: SetExit): void {
  program
    .command('systemd-dropin')
    .description("print the systemd drop-in (ReadWritePaths and per-kind needs) for this config's jobs")
    .action((_opts: unknown, cmd: Command) => {
      deps.io.out(renderAgentDropIn(deps.loadConfig(configPath(cmd))))
      setExit(exitCodes.ok)
    })
}
