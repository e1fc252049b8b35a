import { Command, CommanderError } from 'commander'
import { ConfigError, formatIssue, isBackstopError } from '@backstop/shared'
import { AGENT_VERSION_LINE } from '../version.ts'
import { DEFAULT_CONFIG, exitCodes, type SetExit } from './common.ts'
import { registerConfigcheck } from './configcheck-command.ts'
import type { CliDeps } from './deps.ts'
import { registerOnce } from './once-command.ts'
import { registerPlan } from './plan-command.ts'
import { registerRemote } from './remote-command.ts'
import { registerRemoteGate } from './remote-gate-command.ts'
import { registerRun } from './run-command.ts'
import { registerStatus } from './status-command.ts'
import { registerSystemdDropin } from './systemd-dropin-command.ts'
import { registerVzdumpHook } from './vzdump-hook-command.ts'

/** Parses argv (without node and script), runs the command, resolves its exit code. Never calls process.exit. */
export async function runCli(argv: readonly string[], deps: CliDeps): Promise<number> {
  let code: number = exitCodes.ok
  const setExit: SetExit = (c) => {
    code = c
  }
  const program = new Command()
    .name('backstop-agent')
    .description('Backstop edge agent: runs backup jobs, verifies them, reports every copy to the collector.')
    .version(AGENT_VERSION_LINE)
    .option('-c, --config <file>', 'agent config file', DEFAULT_CONFIG)
    .exitOverride()
    .configureOutput({ writeOut: (s) => deps.io.out(s), writeErr: (s) => deps.io.err(s) })
    .addHelpText(
      'after',
      '\nExit codes: 0 ok, 1 failed or invalid, 2 partial run, 3 run done but not yet acknowledged by the collector.',
    )
  registerRun(program, deps, setExit)
  registerOnce(program, deps, setExit)
  registerConfigcheck(program, deps, setExit)
  registerStatus(program, deps, setExit)
  registerPlan(program, deps, setExit)
  registerVzdumpHook(program, deps, setExit)
  registerSystemdDropin(program, deps, setExit)
  registerRemote(program, deps, setExit)
  registerRemoteGate(program, deps, setExit)
  for (const c of program.commands) {
    c.exitOverride().configureOutput({ writeOut: (s) => deps.io.out(s), writeErr: (s) => deps.io.err(s) })
  }
  try {
    await program.parseAsync([...argv], { from: 'user' })
  } catch (e) {
    if (e instanceof CommanderError) {
      return e.exitCode === 0 ? 0 : exitCodes.usage
    }
    if (e instanceof ConfigError) {
      for (const issue of e.issues) {
        deps.io.err(`${formatIssue(issue)}\n`)
      }
      return exitCodes.failed
    }
    deps.io.err(
      isBackstopError(e)
        ? `backstop-agent: ${e.code}: ${e.message}\n`
        : `backstop-agent: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
    )
    return exitCodes.failed
  }
  return code
}
