import type { Copy, DeletedCopy } from '@backstop/shared'
import type { ExecResult } from '../../exec/exec.ts'
import { identityOfPath } from '../../tools/lsblk.ts'
import { guestAsset } from '../../tools/pvesh.ts'
import { type GuestRun, type VzdumpRun, VzdumpLogParser } from '../../tools/vzdump-log.ts'
import { parseArchiveName, parsePbsSnapshot, vzdumpArgv } from '../../tools/vzdump.ts'
import type { JobContext, JobResult } from '../job.ts'
import { archiveCopy, listArchives, pruneArchives } from './archives.ts'
import type { ResolvedVzdumpJob } from './config.ts'
import { ChecksumStore, sha256File } from './files.ts'

/**
 * The steps of one vzdump run (vzdump-job.ts): run vzdump with its task log streamed, hash each new archive,
 * prune the dump dir with the GFS policy and report every archive there, then judge the run as a whole.
 */
export async function runVzdump(
  job: ResolvedVzdumpJob,
  ctx: JobContext,
  dumpDir: (runs: readonly GuestRun[]) => string | null,
): Promise<JobResult> {
  const { r, run, argv } = await runTool(job, ctx)
  const warnings: string[] = []
  const sums = await ChecksumStore.open(ctx.stateDir)
  const now = ctx.clock.now()
  const { copies, newBytes } = await recordGuests(job, ctx, run.guests, sums, warnings, now)
  const dir = dumpDir(run.guests)
  const inDir = dir === null ? { copies: [], deleted: [] } : await archivesIn(job, ctx, dir, run, sums, warnings, now)
  await sums.save()
  const result: JobResult = {
    status: statusOf(run, r),
    copies: [...copies, ...inDir.copies].slice(0, 5000),
    deleted: inDir.deleted,
    warnings: warnings.slice(0, 100),
    bytes: newBytes,
  }
  if (result.status === 'success') {
    return result
  }
  return { ...result, error: { code: 'BK_ERR_GUEST_BACKUP_FAILED', message: failureMessage(run, r, argv) } }
}

async function runTool(
  job: ResolvedVzdumpJob,
  ctx: JobContext,
): Promise<{ r: ExecResult; run: VzdumpRun; argv: string[] }> {
  const expected = 'vmids' in job.selection ? job.selection.vmids.length : undefined
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
  return { r, run: parser.finish(r.exitCode), argv }
}

/** PBS snapshots become copies; new archive files are hashed (recorded in `sums`), reported with the dump dir. */
async function recordGuests(
  job: ResolvedVzdumpJob,
  ctx: JobContext,
  guests: readonly GuestRun[],
  sums: ChecksumStore,
  warnings: string[],
  now: Date,
): Promise<{ copies: Copy[]; newBytes: number }> {
  const copies: Copy[] = []
  let newBytes = 0
  for (const g of guests) {
    if (g.status !== 'ok') {
      warnings.push(`${g.vmtype} ${g.vmid}${g.name ? ` (${g.name})` : ''}: ${g.error ?? 'failed'}`.slice(0, 8000))
    } else if (g.target === 'pbs' && g.archive) {
      const snap = parsePbsSnapshot(g.archive)
      if (snap) {
        copies.push(pbsCopy(job, g, snap.createdAt, now))
      }
    } else if (g.target === 'file' && g.archive) {
      newBytes += await hashArchive(job, ctx, g, g.archive, sums, warnings)
    } else {
      warnings.push(
        `${g.vmtype} ${g.vmid}: finished without a file or PBS archive line (stdout backup?); nothing to report`,
      )
    }
  }
  return { copies, newBytes }
}

async function hashArchive(
  job: ResolvedVzdumpJob,
  ctx: JobContext,
  g: GuestRun,
  archive: string,
  sums: ChecksumStore,
  warnings: string[],
): Promise<number> {
  const name = archive.split('/').pop()!
  if (!parseArchiveName(name, job.nodeTimezone)) {
    warnings.push(`${g.vmtype} ${g.vmid}: archive name "${name}" is not a vzdump name; not reported`)
    return 0
  }
  try {
    const sum = await sha256File(archive, ctx.signal)
    sums.set(archive, { sha256: sum.sha256, bytes: sum.bytes, at: ctx.clock.now().toISOString() })
    return sum.bytes
  } catch (e) {
    warnings.push(`${g.vmtype} ${g.vmid}: could not hash ${archive}: ${(e as Error).message}`)
    return 0
  }
}

/** Every archive of our guests in the dump dir (new and kept), after GFS pruning when this run wrote any. */
async function archivesIn(
  job: ResolvedVzdumpJob,
  ctx: JobContext,
  dir: string,
  run: VzdumpRun,
  sums: ChecksumStore,
  warnings: string[],
  now: Date,
): Promise<{ copies: Copy[]; deleted: DeletedCopy[] }> {
  const ourGuests = new Set(run.guests.map((g) => g.vmid))
  if ('vmids' in job.selection) {
    job.selection.vmids.forEach((v) => ourGuests.add(v))
  }
  const names = new Map(run.guests.map((g) => [g.vmid, g.name]))
  let archives = (await listArchives(dir, job.nodeTimezone)).filter((a) => ourGuests.has(a.vmid))
  let deleted: DeletedCopy[] = []
  const anyNew = run.guests.some((g) => g.status === 'ok' && g.target === 'file')
  if (job.retention !== null && anyNew) {
    const pruned = await pruneArchives(job, job.retention, dir, archives, ourGuests, sums, now, false)
    archives = pruned.kept
    deleted = pruned.deleted
    warnings.push(...pruned.errors)
  }
  const device = await identityOfPath(ctx.exec, dir).catch(() => null)
  return { copies: archives.map((a) => archiveCopy(job, dir, a, sums, names.get(a.vmid), device)), deleted }
}

function statusOf(run: VzdumpRun, r: ExecResult): JobResult['status'] {
  const failed = run.guests.filter((g) => g.status !== 'ok').length
  if (run.guests.length > 0 && failed === 0 && r.exitCode === 0) {
    return 'success'
  }
  return run.guests.length - failed > 0 ? 'partial' : 'failed'
}

function failureMessage(run: VzdumpRun, r: ExecResult, argv: readonly string[]): string {
  const failed = run.guests.filter((g) => g.status !== 'ok')
  const why = run.jobError ? ` (${run.jobError})` : ''
  const message =
    failed.length > 0
      ? `${failed.length} of ${run.guests.length} guest backup(s) failed: ` +
        `${failed.map((g) => `${g.vmid}: ${g.error ?? 'failed'}`).join('; ')}`
      : run.guests.length > 0
        ? `every guest was backed up, but vzdump exited ${r.exitCode}${why}; see the task log`
        : `vzdump exited ${r.exitCode}${why} without backing up any guest; ` +
          `check the selection and \`${argv.join(' ')}\``
  return message.slice(0, 8000)
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
