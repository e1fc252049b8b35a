import { Command } from 'commander'
import { isBackstopError } from '@backstop/shared'
import { loadCollectorConfig } from './config/load.ts'
import type { ResolvedCollectorConfig } from './config/schema.ts'
import { registerAuditCommands } from './cli/audit.ts'
import { registerNodeCommands } from './cli/node.ts'
import { registerTokenCommands } from './cli/token.ts'
import { registerApiTokenCommands } from './cli/apitoken.ts'
import { registerMediaCommands } from './cli/media.ts'
import { registerDiskCommands } from './cli/disk.ts'
import { registerRestoreCommand } from './cli/restore.ts'
import { COLLECTOR_VERSION_LINE } from './version.ts'

export interface CliDeps {
  /** Starts the daemon and resolves once it is listening (main.ts's startCollector). */
  readonly start: (config: ResolvedCollectorConfig) => Promise<unknown>
  readonly out: (line: string) => void
  readonly err: (line: string) => void
}

const DEFAULT_CONFIG = '/etc/backstop/collector.yaml'

/**
 * `backstop-collector run --config <file>` and `configcheck`. Further commands are files under cli/, registered
 * here with one line each.
 */
export function buildCli(deps: CliDeps): Command {
  const program = new Command('backstop-collector')
    .description('Backstop collector: embedded MQTT broker, SQLite ledger, ops API')
    .version(COLLECTOR_VERSION_LINE)
    .showHelpAfterError()
    .exitOverride()
  program
    .command('run')
    .description('run the collector (MQTT broker + ingest + HTTP API) until SIGTERM/SIGINT')
    .option('-c, --config <file>', 'collector YAML config', DEFAULT_CONFIG)
    .action(async (opts: { config: string }) => {
      await deps.start(loadCollectorConfig(opts.config))
    })
  program
    .command('configcheck')
    .description('validate the config file and print the resolved configuration (tokens redacted)')
    .option('-c, --config <file>', 'collector YAML config', DEFAULT_CONFIG)
    .action((opts: { config: string }) => {
      const cfg = loadCollectorConfig(opts.config)
      deps.out(
        JSON.stringify(
          {
            ...cfg,
            enrollment: {
              tokens: cfg.enrollment.tokens.map((t) => ({
                token: '<redacted>',
                expiresAt: t.expiresAt === null ? null : new Date(t.expiresAt).toISOString(),
              })),
            },
          },
          null,
          2,
        ),
      )
      for (const w of cfg.warnings) {
        deps.err(`warning: ${w}`)
      }
      deps.out(`${opts.config}: OK`)
    })
  registerTokenCommands(program, deps)
  registerNodeCommands(program, deps)
  registerAuditCommands(program, deps)
  registerApiTokenCommands(program, deps)
  registerMediaCommands(program, deps)
  registerDiskCommands(program, deps)
  registerRestoreCommand(program, deps)
  return program
}

/** Runs the CLI; returns the process exit code for failures (a running daemon keeps the process alive). */
export async function runCli(argv: readonly string[], deps: CliDeps): Promise<number> {
  try {
    await buildCli(deps).parseAsync([...argv])
    return 0
  } catch (e) {
    const code = (e as { code?: string }).code
    if (code === 'commander.helpDisplayed' || code === 'commander.version') {
      return 0
    }
    if (typeof code === 'string' && code.startsWith('commander.')) {
      return 2
    }
    deps.err(isBackstopError(e) ? `${e.code}: ${e.message}` : `error: ${(e as Error).stack ?? String(e)}`)
    return 1
  }
}
