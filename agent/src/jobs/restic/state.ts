import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileDurable } from '@backstop/node-io'

/**
 * What a restic job remembers between runs, in its state directory, written durably: the next group of
 * `check --read-data-subset=n/N` (so a crash or reboot never restarts the rotation at 1 and leaves the last groups
 * unread forever), and when the repository was last proven append-only (so losing it is an error, not a shrug).
 */
export interface ResticState {
  /** 1-based group the next check reads. */
  readonly nextGroup: number
  /** The groups count the rotation was made for; a change of `checkGroups` restarts at 1. */
  readonly groups: number
  /** Last run whose probe proved the repository append-only (ISO), or null. */
  readonly provenAt: string | null
  readonly repositoryId: string | null
}

const initial: ResticState = { nextGroup: 1, groups: 0, provenAt: null, repositoryId: null }

export async function readResticState(stateDir: string): Promise<ResticState> {
  try {
    const o = JSON.parse(await readFile(join(stateDir, 'restic-state.json'), 'utf8')) as Partial<ResticState>
    return {
      nextGroup: Number.isInteger(o.nextGroup) && (o.nextGroup ?? 0) >= 1 ? o.nextGroup! : 1,
      groups: Number.isInteger(o.groups) ? o.groups! : 0,
      provenAt: typeof o.provenAt === 'string' ? o.provenAt : null,
      repositoryId: typeof o.repositoryId === 'string' ? o.repositoryId : null,
    }
  } catch {
    return initial
  }
}

export async function writeResticState(stateDir: string, s: ResticState): Promise<void> {
  await writeFileDurable(join(stateDir, 'restic-state.json'), `${JSON.stringify(s)}\n`)
}

/** The group this run checks and the state after it (1…groups, then 1 again). */
export function rotate(s: ResticState, groups: number): { group: number; next: ResticState } {
  const group = s.groups === groups && s.nextGroup <= groups ? s.nextGroup : 1
  return { group, next: { ...s, groups, nextGroup: group >= groups ? 1 : group + 1 } }
}
