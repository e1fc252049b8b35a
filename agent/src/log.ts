import type { Logger } from 'pino'

/** Structured logs everywhere (pino). Components receive a child logger; only main.ts creates the root. */
export type Log = Pick<Logger, 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'child'>
