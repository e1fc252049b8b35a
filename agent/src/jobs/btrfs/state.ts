import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileDurable } from '@backstop/node-io'
import type { ReportedReplicas } from '../snapshot-common/reported-replicas.ts'

/**
 * What the btrfs job remembers between runs, in its stateDir (btrfs has no holds and no user properties):
 * - `snapshots`: metadata of every snapshot it took (creation instant, promotion tags, uuid) — the tags are
 *   also in the name; this is the record if a snapshot is renamed or the name is ever truncated;
 * - `bases`: per target and subvolume, the newest snapshot known to be on that target. While a target is
 *   away, that snapshot is treated as held locally, so the incremental chain survives (btrbk#377).
 */
export interface BtrfsJobState {
  version: 1
  snapshots: Record<string, { createdAt: string; tags: string; uuid: string | null }>
  bases: Record<string, Record<string, string>>
}

const empty = (): BtrfsJobState => ({ version: 1, snapshots: {}, bases: {} })

export const stateFile = (stateDir: string, job: string): string => join(stateDir, `btrfs-${job}.json`)

export async function loadState(stateDir: string, job: string): Promise<BtrfsJobState> {
  try {
    const doc = JSON.parse(await readFile(stateFile(stateDir, job), 'utf8')) as Partial<BtrfsJobState>
    return doc.version === 1 ? ({ ...empty(), ...doc } as BtrfsJobState) : empty()
  } catch {
    return empty()
  }
}

/** Durable replace, so a crash or power cut never leaves half a file (or a lost base). */
export async function saveState(stateDir: string, job: string, state: BtrfsJobState): Promise<void> {
  await mkdir(stateDir, { recursive: true })
  await writeFileDurable(stateFile(stateDir, job), JSON.stringify(state, null, 1))
}

/** What a run reads and updates across runs: the job's own state and what each target held at the last run. */
export interface BtrfsRunMemory {
  readonly state: BtrfsJobState
  readonly reported: ReportedReplicas
}

/** Snapshot names that are some target's base (held locally). */
export function heldBases(state: BtrfsJobState): Set<string> {
  return new Set(Object.values(state.bases).flatMap((m) => Object.values(m)))
}
