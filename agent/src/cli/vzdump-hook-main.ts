import { runVzdumpHook } from './vzdump-hook.ts'

/**
 * Standalone entry for the hook (what the CLI's `vzdump-hook` subcommand calls, and what tests run): no config
 * parsing, no keys, no network — only the state dir (BACKSTOP_STATE_DIR, default /var/lib/backstop-agent).
 */
const code = runVzdumpHook(process.argv.slice(2), {
  stateDir: process.env['BACKSTOP_STATE_DIR'] ?? '/var/lib/backstop-agent',
  now: () => new Date(),
  env: process.env,
  warn: (m) => process.stderr.write(`${m}\n`),
})
process.exitCode = code
