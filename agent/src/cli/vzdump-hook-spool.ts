import { existsSync, rmSync } from 'node:fs'
import { basename, dirname } from 'node:path'
import { BackstopError, type Copy, type JobFinishedBody, type JobStartedBody, type MediaType } from '@backstop/shared'
import type { ResolvedVzdumpJob } from '../jobs/vzdump/config.ts'
import { sha256File } from '../jobs/vzdump/files.ts'
import { guestAsset } from '../tools/pvesh.ts'
import { parseArchiveName, parsePbsSnapshot } from '../tools/vzdump.ts'
import { type HookRecord, readSpool } from './vzdump-hook.ts'

/**
 * The agent side of hook mode: drains what `vzdump-hook` spooled into job events (one run per guest, trigger
 * `hook`), hashing file archives here — in the daemon, after the backup — so the hook itself stays fast.
 * A spool file is removed only after its events were appended to the outbox (at-least-once; the runId is
 * stable, so a repeat is the same run).
 */
export interface HookReportOptions {
  /** Job name the runs are reported under (e.g. `pve-scheduled`). */
  readonly job: string
  readonly media: MediaType
  readonly offsite: boolean
  readonly offline: boolean
  readonly immutable: boolean
  /** The node's zone, in which vzdump names archives. */
  readonly nodeTimezone: string
}

/** The hook-report options from the (single) vzdump job with `hookReports: true`, or null. */
export function hookReportOptionsOf(jobs: readonly { kind: string }[]): HookReportOptions | null {
  const owners = jobs.filter((j): j is ResolvedVzdumpJob => j.kind === 'vzdump' && (j as ResolvedVzdumpJob).hookReports)
  if (owners.length > 1) {
    throw new BackstopError(
      'BK_ERR_CONFIG_INVALID',
      `jobs ${owners.map((j) => `"${j.name}"`).join(', ')} all set hookReports: true; ` +
        'hook runs can be reported under one job only',
    )
  }
  const j = owners[0]
  return j
    ? {
        job: j.name,
        media: j.media,
        offsite: j.offsite,
        offline: j.offline,
        immutable: j.immutable,
        nodeTimezone: j.nodeTimezone,
      }
    : null
}

export interface HookSink {
  started(body: JobStartedBody): Promise<void>
  finished(body: JobFinishedBody): Promise<void>
}

export async function drainHookSpool(
  stateDir: string,
  opts: HookReportOptions,
  sink: HookSink,
  now: () => Date = () => new Date(),
): Promise<number> {
  let drained = 0
  for (const { file, record } of readSpool(stateDir)) {
    if (record.type === 'guest') {
      const { started, finished } = await guestRunEvents(record, opts, now)
      await sink.started(started)
      await sink.finished(finished)
    }
    rmSync(file, { force: true })
    drained++
  }
  return drained
}

export async function guestRunEvents(
  r: Extract<HookRecord, { type: 'guest' }>,
  opts: HookReportOptions,
  now: () => Date = () => new Date(),
): Promise<{ started: JobStartedBody; finished: JobFinishedBody }> {
  const runId = `hook-${r.jobId}-${r.vmid}`.slice(0, 64)
  const started: JobStartedBody = { runId, job: opts.job, jobKind: 'vzdump', startedAt: r.startedAt, trigger: 'hook' }
  const copies: Copy[] = []
  const warnings: string[] = []
  const asset = guestAsset(r.vmtype, r.vmid, r.name)
  const cls = { media: opts.media, offsite: opts.offsite, offline: opts.offline, immutable: opts.immutable }
  let bytes: number | undefined
  if (r.status === 'ok' && r.target) {
    const pbs = parsePbsSnapshot(r.target)
    if (pbs) {
      copies.push({
        copyId: `pbs:${r.storeid ?? 'pbs'}:${r.target}`,
        asset,
        location: { kind: 'pbs', target: r.storeid ?? 'pbs' },
        name: r.target,
        ...cls,
        createdAt: pbs.createdAt.toISOString(),
        verification: {
          state: 'unverified',
          method: 'pbs-verify',
          detail: 'PBS verify jobs own verification of this snapshot',
        },
      })
    } else {
      const name = basename(r.target)
      const parsed = parseArchiveName(name, opts.nodeTimezone)
      const dir = r.dumpdir ?? dirname(r.target)
      if (parsed === null) {
        warnings.push(`TARGET ${r.target} is not a vzdump archive name; not reported as a copy`)
      } else if (!existsSync(r.target)) {
        warnings.push(`TARGET ${r.target} no longer exists; not reported as a copy`)
      } else {
        const sum = await sha256File(r.target)
        bytes = sum.bytes
        copies.push({
          copyId: `vzdump:${dir}/${name}`,
          asset,
          location: { kind: 'dir', target: dir },
          name,
          ...cls,
          createdAt: parsed.createdAt.toISOString(),
          bytes: sum.bytes,
          checksum: { algo: 'sha256', value: sum.sha256 },
          verification: { state: 'verified', at: now().toISOString(), method: 'sha256-after-write' },
        })
      }
    }
  } else if (r.status === 'ok') {
    warnings.push('backup-end without TARGET (stdout backup?); nothing to report as a copy')
  }
  const finished: JobFinishedBody = {
    runId,
    job: opts.job,
    jobKind: 'vzdump',
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    status: r.status === 'ok' ? 'success' : 'failed',
    copies,
    deleted: [],
    warnings,
    ...(bytes !== undefined ? { bytes } : {}),
    ...(r.status === 'failed'
      ? {
          error: {
            code: 'BK_ERR_GUEST_BACKUP_FAILED',
            message: `${r.vmtype} ${r.vmid}${r.name ? ` (${r.name})` : ''}: ${r.error ?? 'backup aborted'}`,
          },
        }
      : {}),
  }
  return { started, finished }
}
