import type { Command } from 'commander'
import { startDaemon } from '../daemon.ts'
import { configPath, exitCodes, type SetExit } from './common.ts'
import type { CliDeps } from './deps.ts'
import { acquirePidLock } from './pid-lock.ts'

/**
 * `run`: the daemon (assembled by daemon.ts). Runtime (outbox + MQTT) and scheduler until SIGTERM/SIGINT; then the
 * scheduler stops, running jobs are aborted and report their (aborted) finish, and the runtime stops after those
 * events are durable.
 */
export function registerRun(program: Command, deps: CliDeps, setExit: SetExit): void {
  program
    .command('run')
    .description('run the agent: schedule jobs and report to the collector until SIGTERM/SIGINT')
    .action(async (_opts: unknown, cmd: Command) => {
      const config = deps.loadConfig(configPath(cmd))
      const log = deps.createLog(config.logLevel)
      const lock = acquirePidLock(config.stateDir)
      try {
        const daemon = await startDaemon(deps, config, log)
        await daemon.untilStopped()
        setExit(exitCodes.ok)
      } finally {
        lock.release()
      }
    })
}
