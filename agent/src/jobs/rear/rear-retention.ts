import { rm } from 'node:fs/promises'
import type { RetentionPolicy } from '@backstop/shared'
import type { PlanLine } from '../job.ts'
import { planCopies, type OwnedCopy } from '../retention.ts'
import type { StickRun } from './inventory.ts'
import type { RunDir } from './stick.ts'

/**
 * Retention of rear runs on one stick through the shared GFS engine. Runs with a backup and rescue-only runs are
 * planned separately (as rear's USB_RETAIN_BACKUP_NR counts them). A run is successful only when this agent
 * checksummed and verified it (the stick inventory has `verifiedAt`): a run rear left incomplete, or one found on
 * the stick without a recorded check, never fills a keep slot.
 */
interface OwnedRun extends OwnedCopy {
  readonly run: RunDir
}

export interface RunPlan {
  readonly lines: PlanLine[]
  readonly destroy: { readonly run: RunDir; readonly rule: string }[]
}

export function planRunDirs(
  runs: readonly RunDir[],
  known: ReadonlyMap<string, StickRun>,
  policy: RetentionPolicy,
  now: Date,
  location: string,
): RunPlan {
  const out: RunPlan = { lines: [], destroy: [] }
  for (const hasBackup of [true, false]) {
    const owned: OwnedRun[] = runs
      .filter((r) => r.hasBackup === hasBackup)
      .map((run) => ({
        id: run.name,
        name: run.name,
        createdAt: run.createdAt,
        tags: undefined,
        held: false,
        successful: known.get(run.name)?.verifiedAt !== undefined,
        run,
      }))
    const plan = planCopies(owned, policy, now, location)
    out.lines.push(...plan.lines)
    out.destroy.push(...plan.destroy.map((d) => ({ run: d.snap.run, rule: d.rule })))
  }
  out.lines.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.name.localeCompare(b.name))
  return out
}

/** Removes the planned run directories; a failure is reported, never thrown (the run is then still on the stick). */
export async function deleteRunDirs(plan: RunPlan): Promise<{ removed: RunPlan['destroy']; errors: string[] }> {
  const removed: RunPlan['destroy'] = []
  const errors: string[] = []
  for (const d of plan.destroy) {
    try {
      await rm(d.run.path, { recursive: true })
      removed.push(d)
    } catch (e) {
      errors.push(`could not delete ${d.run.name}: ${(e as Error).message}`)
    }
  }
  return { removed, errors }
}
