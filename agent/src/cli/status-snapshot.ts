import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { writeFileDurableSync } from '@backstop/node-io'
import type { JobScheduleStatus } from '../scheduler/scheduler.ts'
import type { RuntimeStatus } from './deps.ts'

/** What the daemon last knew, for `status` run from another process while the daemon owns the outbox. */
export interface StatusSnapshot {
  readonly at: string
  readonly pid: number
  readonly runtime: RuntimeStatus
  readonly jobs: readonly JobScheduleStatus[]
}

function file(stateDir: string): string {
  return join(stateDir, 'status.json')
}

export function writeStatusSnapshot(stateDir: string, s: StatusSnapshot): void {
  writeFileDurableSync(file(stateDir), `${JSON.stringify(s)}\n`)
}

export function readStatusSnapshot(stateDir: string): StatusSnapshot | null {
  try {
    return JSON.parse(readFileSync(file(stateDir), 'utf8')) as StatusSnapshot
  } catch {
    return null
  }
}
