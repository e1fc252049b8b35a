import type { LedgerPartDeps } from '../../collector/src/compose/ledger.ts'

/**
 * The collector modules take a pino Logger; benchmarks measure them without logging (bench/ does not depend on pino).
 */
const noop = (): void => undefined
export const silentLog = {
  trace: noop,
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  fatal: noop,
  child: () => silentLog,
  level: 'silent',
} as unknown as LedgerPartDeps['log']
