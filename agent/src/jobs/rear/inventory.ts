import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileDurable } from '@backstop/node-io'

/**
 * USB stick inventory (btrbk #483: a rotated disk being absent is normal — alert on rotation overdue, not on
 * "disconnected"): which stick (fs UUID) holds which runs, and when it was last seen. Kept in the job's state
 * dir; every run updates the stick it saw and reports sticks not seen for `staleAfterDays`.
 */
export interface StickRun {
  readonly name: string
  readonly createdAt: string
  readonly sha256?: string
  readonly bytes?: number
  readonly verifiedAt?: string
}

export interface StickRecord {
  readonly fsUuid: string
  readonly label: string
  readonly lastSeen: string
  readonly runs: readonly StickRun[]
}

export type StickInventory = Record<string, StickRecord>

const FILE = 'usb-sticks.json'

export async function loadInventory(stateDir: string): Promise<StickInventory> {
  try {
    return JSON.parse(await readFile(join(stateDir, FILE), 'utf8')) as StickInventory
  } catch {
    return {}
  }
}

export async function saveInventory(stateDir: string, inv: StickInventory): Promise<void> {
  await writeFileDurable(join(stateDir, FILE), JSON.stringify(inv, null, 1))
}

/** Records what is on a stick now (its run list replaces the old one: runs deleted elsewhere disappear). */
export function recordStick(
  inv: StickInventory,
  fsUuid: string,
  label: string,
  runs: readonly StickRun[],
  now: Date,
): StickInventory {
  return { ...inv, [fsUuid]: { fsUuid, label, lastSeen: now.toISOString(), runs: [...runs] } }
}

/** Sticks last seen more than `days` ago, oldest first, as report lines. */
export function staleSticks(inv: StickInventory, now: Date, days: number): string[] {
  const limit = now.getTime() - days * 86_400_000
  return Object.values(inv)
    .filter((s) => Date.parse(s.lastSeen) < limit)
    .sort((a, b) => a.lastSeen.localeCompare(b.lastSeen))
    .map(
      (s) =>
        `USB stick ${s.label} (UUID ${s.fsUuid}) not seen for ` +
        `${Math.floor((now.getTime() - Date.parse(s.lastSeen)) / 86_400_000)} days ` +
        `(holds ${s.runs.length} run(s), newest ${s.runs.at(-1)?.name ?? 'none'}); rotate it back in`,
    )
}
