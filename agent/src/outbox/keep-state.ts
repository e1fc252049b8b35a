import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileDurable } from '@backstop/node-io'
import { BackstopError } from '@backstop/shared'

/** `<outbox>/keep.json`: where the outbox stands with the collector's checkpoints (docs/reliability.md). */
export const KEEP_STATE_FILE = 'keep.json'

export interface SeqRange {
  readonly fromSeq: number
  readonly toSeq: number
}

export interface KeepState {
  /** Acknowledged records with seq ≤ this are released (deleted); one acknowledged later is released at once. */
  readonly releasedThrough: number
  /** `coveredSeq` of the newest checkpoint applied: what the collector's newest verified backup holds. */
  readonly checkpointSeq: number
  /** Highest seq released that no verified backup covered (bound forced it, or lost in a restore); 0 = none. */
  readonly uncoveredThrough: number
  /** Released events a restored collector no longer has, until a newer backup covers past them. */
  readonly lost: SeqRange | null
}

export const EMPTY_KEEP_STATE: KeepState = { releasedThrough: 0, checkpointSeq: 0, uncoveredThrough: 0, lost: null }

export async function readKeepState(dir: string): Promise<KeepState> {
  const path = join(dir, KEEP_STATE_FILE)
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      return EMPTY_KEEP_STATE
    }
    throw e
  }
  let v: Partial<Record<keyof KeepState, unknown>> | undefined
  try {
    v = JSON.parse(text) as typeof v
  } catch {
    v = undefined
  }
  const seq = (x: unknown): boolean => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0
  const lost = v?.lost as SeqRange | null | undefined
  if (
    !v ||
    !seq(v.releasedThrough) ||
    !seq(v.checkpointSeq) ||
    !seq(v.uncoveredThrough) ||
    !(lost === null || (typeof lost === 'object' && seq(lost.fromSeq) && seq(lost.toSeq)))
  ) {
    throw new BackstopError(
      'BK_ERR_OUTBOX_CORRUPT',
      `${path} does not hold {"releasedThrough","checkpointSeq","uncoveredThrough","lost"} (it is written ` +
        'atomically, so something else changed it); restore it, or delete it: the outbox then keeps every ' +
        'acknowledged event until the next checkpoint',
    )
  }
  return v as unknown as KeepState
}

/** Written (fsync, rename, fsync dir) before the records it releases are dropped. */
export async function writeKeepState(dir: string, s: KeepState): Promise<void> {
  await writeFileDurable(join(dir, KEEP_STATE_FILE), `${JSON.stringify(s)}\n`)
}
