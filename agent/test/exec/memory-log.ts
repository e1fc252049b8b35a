import { pino } from 'pino'
import type { Log } from '../../src/log.ts'

/** A real pino logger writing JSON records into an array, for asserting what was logged. */
export function memoryLog(level: 'trace' | 'debug' | 'info' = 'debug'): {
  log: Log
  records: Record<string, unknown>[]
} {
  const records: Record<string, unknown>[] = []
  const log = pino(
    { level },
    {
      write: (s: string) => {
        records.push(JSON.parse(s) as Record<string, unknown>)
      },
    },
  )
  return { log, records }
}
