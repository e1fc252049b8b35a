import { dirname } from 'node:path'
import { hostname } from 'node:os'
import { type AssetRef, type Copy, type DeletedCopy } from '@backstop/shared'
import type { JobContext, JobResult, KindJob, PlanLine } from '../job.ts'
import { identityOfPath } from '../../tools/lsblk.ts'
import { guestAsset, listGuests } from '../../tools/pvesh.ts'
import { type GuestRun, VzdumpLogParser } from '../../tools/vzdump-log.ts'
import { parseArchiveName, parsePbsSnapshot, vzdumpArgv } from '../../tools/vzdump.ts'
import { archiveCopy, listArchives, pruneArchives } from './archives.ts'
import { vzdumpRestoreTest, vzdumpVerifyCopy } from './checks.ts'
import type { ResolvedVzdumpJob } from './config.ts'
import { ChecksumStore, sha256File } from './files.ts'

/**
 * One vzdump run: the task log is streamed line by line (progress from the `NN%` lines), every guest's result
 * is parsed from it, each new archive is hashed (sha256, recorded in the job's state) and reported as a copy;
 * PBS snapshots are reported with PBS's own verification left to PBS verify jobs. Then the GFS policy prunes
 * the archive files — only after this run's archives were written and hashed.
 */
export function createVzdumpJob(job: ResolvedVzdumpJob): KindJob {
  const expected = 'vmids' in job.selection ? job.selection.vmids.length : undefined
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

    async run(ctx: JobContext): Promise<JobResult> {
      const parser = new VzdumpLogParser(expected)
      const onLine = (line: string): void => {
        const u = parser.feed(line)
        if (u) {
          ctx.progress(u.percent, u.message)
        }
      }
      const argv = vzdumpArgv(job)
      ctx.log.info({ argv }, 'vzdump starting')
      // vzdump logs to stderr on a terminal and to stdout under the task system; read both.
      const r = await ctx.exec.run(argv, {
        timeoutMs: job.timeoutMs,
        signal: ctx.signal,
        onStdoutLine: onLine,
        onStderrLine: onLine,
        maxOutputBytes: 4 * 1024 * 1024,
      })
      const run = parser.finish(r.exitCode)
      const warnings: string[] = []
      const copies: Copy[] = []
      const sums = await ChecksumStore.open(ctx.stateDir)
      const now = ctx.clock.now()
      let newBytes = 0

      for (const g of run.guests) {
        if (g.status !== 'ok') {
          warnings.push(`${g.vmtype} ${g.vmid}${g.name ? ` (${g.name})` : ''}: ${g.error ?? 'failed'}`.slice(0, 8000))
          continue
        }
        if (g.target === 'pbs' && g.archive) {
          const snap = parsePbsSnapshot(g.archive)
          if (snap) {
            copies.push(pbsCopy(job, g, snap.createdAt, now))
          }
        } else if (g.target === 'file' && g.archive) {
          const name = g.archive.split('/').pop()!
          const parsed = parseArchiveName(name, job.nodeTimezone)
          if (!parsed) {
            warnings.push(`${g.vmtype} ${g.vmid}: archive name "${name}" is not a vzdump name; not reported`)
            continue
          }
          try {
            const sum = await sha256File(g.archive, ctx.signal)
            sums.set(g.archive, { sha256: sum.sha256, bytes: sum.bytes, at: ctx.clock.now().toISOString() })
            newBytes += sum.bytes
          } catch (e) {
            warnings.push(`${g.vmtype} ${g.vmid}: could not hash ${g.archive}: ${(e as Error).message}`)
          }
        } else {
          warnings.push(
            `${g.vmtype} ${g.vmid}: finished without a file or PBS archive line (stdout backup?); nothing to report`,
          )
        }
      }

      // Every archive of our guests in the dump dir: the new ones (hashed above) and the ones kept before.
      let deleted: DeletedCopy[] = []
      const dir = dumpDir(run.guests)
      const ourGuests = new Set(run.guests.map((g) => g.vmid))
      if ('vmids' in job.selection) {
        job.selection.vmids.forEach((v) => ourGuests.add(v))
      }
      if (dir !== null) {
        const names = new Map(run.guests.map((g) => [g.vmid, g.name]))
        let archives = (await listArchives(dir, job.nodeTimezone)).filter((a) => ourGuests.has(a.vmid))
        const anyNew = run.guests.some((g) => g.status === 'ok' && g.target === 'file')
        if (job.retention !== null && anyNew) {
          const pruned = await pruneArchives(job, job.retention, dir, archives, ourGuests, sums, now, false)
          archives = pruned.kept
          deleted = pruned.deleted
          warnings.push(...pruned.errors)
        }
        const device = await identityOfPath(ctx.exec, dir).catch(() => null)
        copies.push(...archives.map((a) => archiveCopy(job, dir, a, sums, names.get(a.vmid), device)))
      }
      await sums.save()

      const failed = run.guests.filter((g) => g.status !== 'ok')
      const ok = run.guests.length - failed.length
      const status =
        run.guests.length > 0 && failed.length === 0 && r.exitCode === 0 ? 'success' : ok > 0 ? 'partial' : 'failed'
      const result: JobResult = {
        status,
        copies: copies.slice(0, 5000),
        deleted,
        warnings: warnings.slice(0, 100),
        bytes: newBytes,
      }
      if (status === 'success') {
        return result
      }
      const message =
        failed.length > 0
          ? `${failed.length} of ${run.guests.length} guest backup(s) failed: ${failed.map((g) => `${g.vmid}: ${g.error ?? 'failed'}`).join('; ')}`
          : run.guests.length > 0
            ? `every guest was backed up, but vzdump exited ${r.exitCode}${run.jobError ? ` (${run.jobError})` : ''}; see the task log`
            : `vzdump exited ${r.exitCode}${run.jobError ? ` (${run.jobError})` : ''} without backing up any guest; check the selection and \`${argv.join(' ')}\``
      return { ...result, error: { code: 'BK_ERR_GUEST_BACKUP_FAILED', message: message.slice(0, 8000) } }
    },

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

function pbsCopy(job: ResolvedVzdumpJob, g: GuestRun, createdAt: Date, _now: Date): Copy {
  const storage = 'storage' in job.target ? job.target.storage : 'pbs'
  return {
    copyId: `pbs:${storage}:${g.archive}`,
    asset: guestAsset(g.vmtype, g.vmid, g.name),
    location: { kind: 'pbs', target: storage },
    name: g.archive!,
    media: job.media,
    offsite: job.offsite,
    offline: job.offline,
    immutable: job.immutable,
    createdAt: createdAt.toISOString(),
    ...(g.approxBytes ? { bytes: g.approxBytes } : {}),
    // PBS checks chunk digests on upload; end-to-end verification is PBS's verify job (verify_state), which
    // the agent cannot see from vzdump's output. Reported unverified until a PBS verify result is ingested.
    verification: {
      state: 'unverified',
      method: 'pbs-verify',
      detail: 'PBS verify jobs own verification of this snapshot',
    },
  }
}
