import { dirname } from 'node:path'
import { hostname } from 'node:os'
import type { AssetRef } from '@backstop/shared'
import type { JobContext, KindJob, PlanLine } from '../job.ts'
import { guestAsset, listGuests } from '../../tools/pvesh.ts'
import type { GuestRun } from '../../tools/vzdump-log.ts'
import { listArchives, pruneArchives } from './archives.ts'
import { vzdumpRestoreTest, vzdumpVerifyCopy } from './checks.ts'
import type { ResolvedVzdumpJob } from './config.ts'
import { ChecksumStore } from './files.ts'
import { runVzdump } from './vzdump-run.ts'

/**
 * One vzdump run: the task log is streamed line by line (progress from the `NN%` lines), every guest's result
 * is parsed from it, each new archive is hashed (sha256, recorded in the job's state) and reported as a copy;
 * PBS snapshots are reported with PBS's own verification left to PBS verify jobs. Then the GFS policy prunes
 * the archive files — only after this run's archives were written and hashed.
 */
export function createVzdumpJob(job: ResolvedVzdumpJob): KindJob {
  const dumpDir = (runs: readonly GuestRun[]): string | null => {
    if ('dumpdir' in job.target) {
      return job.target.dumpdir
    }
    if (job.target.path !== null) {
      return job.target.path
    }
    const file = runs.find((g) => g.target === 'file' && g.archive)
    return file?.archive ? dirname(file.archive) : null
  }

  return {
    name: job.name,
    kind: 'vzdump',
    verifyCopy: (ctx, copyId) => vzdumpVerifyCopy(job, ctx, copyId),
    restoreTest: () => vzdumpRestoreTest(job),
    run: (ctx) => runVzdump(job, ctx, dumpDir),

    async plan(ctx: JobContext): Promise<PlanLine[]> {
      const dir = dumpDir([])
      if (dir === null || job.retention === null) {
        return []
      }
      const archives = await listArchives(dir, job.nodeTimezone)
      const sums = await ChecksumStore.open(ctx.stateDir)
      const vmids = new Set('vmids' in job.selection ? job.selection.vmids : archives.map((a) => a.vmid))
      return (await pruneArchives(job, job.retention, dir, archives, vmids, sums, ctx.clock.now(), true)).lines
    },

    async inventory(ctx: JobContext): Promise<AssetRef[]> {
      const node = job.pveNode ?? hostname().split('.')[0]!
      const guests = await listGuests(ctx.exec, node)
      return guests.filter((g) => !g.template).map((g) => guestAsset(g.type, g.vmid, g.name))
    },
  }
}

/** Which guests of an inventory this job covers (for `coveredBy`). */
export function coversGuest(job: ResolvedVzdumpJob, g: { vmid: number; pool?: string | undefined }): boolean {
  const s = job.selection
  return 'vmids' in s ? s.vmids.includes(g.vmid) : 'all' in s ? !s.exclude.includes(g.vmid) : g.pool === s.pool
}
