import { BackstopError, type AssetRef } from '@backstop/shared'
import type { JobContext, JobResult, KindJob } from '../job.ts'
import { RunReport } from './report.ts'

/**
 * One pass over another node's copies held here: fills the report; `dryRun` only plans. It may return what the
 * run proved beyond the report (a pull replica's immutability).
 */
export type HolderPass = (
  ctx: JobContext,
  report: RunReport,
  dryRun: boolean,
) => Promise<Pick<JobResult, 'immutability'> | null>

/**
 * The shell of a kind that holds other nodes' copies (zfs-pull, zfs-replicas, btrfs-replicas): `run` and `plan` are
 * the same pass with and without changes; it lists none of this node's assets (the copies are the source nodes'),
 * and copy checks go to the node whose copies they are.
 */
export function holderJob(kind: string, name: string, pass: HolderPass): KindJob {
  const unsupported = (what: string): Promise<never> =>
    Promise.reject(
      new BackstopError(
        'BK_ERR_CMD_UNSUPPORTED',
        `${what} is not available for ${kind} jobs (${name}): the copies are another node's; ask that node`,
      ),
    )
  return {
    kind,
    name,
    run: async (ctx) => {
      const report = new RunReport()
      const extra = await pass(ctx, report, false)
      return { ...report.result(), ...extra }
    },
    plan: async (ctx) => {
      const report = new RunReport()
      await pass(ctx, report, true)
      return report.lines
    },
    inventory: (): Promise<AssetRef[]> => Promise.resolve([]),
    verifyCopy: () => unsupported('reverify-copy'),
    restoreTest: () => unsupported('restore-test'),
  }
}
