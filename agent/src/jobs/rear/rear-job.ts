import { existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import type { AssetRef, Copy } from '@backstop/shared'
import { renderLocalConf } from '../../tools/rear.ts'
import type { JobContext, JobResult, KindJob, PlanLine } from '../job.ts'
import { rearRestoreTest, rearVerifyCopy } from './checks.ts'
import type { ResolvedRearJob } from './config.ts'
import { loadInventory, recordStick, saveInventory, staleSticks, type StickRun } from './inventory.ts'
import { planRunDirs } from './rear-retention.ts'
import { checkLayout, inspectStick, listOnStick, runRear, type RearPlace } from './rear-run.ts'
import { findStick, type Stick } from './stick.ts'

/**
 * One rear run onto the USB stick: find the stick by label, (checklayout), `rear mkbackup|mkrescue`, find the
 * new `rear/<host>/<YYYYMMDD.HHMM>/`, checksum it (and compare rear's .md5), prune with the GFS `retention:`
 * policy — deleting only after the new run is on the stick and verified — and report every run on the stick as a
 * copy. When the stick is not attached the run fails with BK_ERR_USB_MEDIUM_MISSING but still reports the runs it
 * knows as offline copies.
 */
export function createRearJob(job: ResolvedRearJob): KindJob {
  const host = job.rearHostname ?? hostname().split('.')[0]!
  const asset: AssetRef = { kind: 'host-image', id: `host/${host}`, name: host }
  return {
    name: job.name,
    kind: 'rear',
    run: (ctx) => runRearJob(ctx, job, host, asset),
    plan: (ctx) => planRear(ctx, job, host),
    inventory: async () => [asset],
    verifyCopy: (ctx, copyId) => rearVerifyCopy(job, host, ctx, copyId),
    restoreTest: () => rearRestoreTest(job),
  }
}

function rearCopy(
  job: ResolvedRearJob,
  host: string,
  asset: AssetRef,
  stick: { fsUuid: string | null; label: string },
  run: StickRun,
  offline: boolean,
): Copy {
  return {
    copyId: `rear:${stick.fsUuid ?? stick.label}:${run.name}`,
    asset,
    location: {
      kind: 'usb',
      target: `${stick.label}:rear/${host}`,
      device: { label: stick.label, ...(stick.fsUuid ? { fsUuid: stick.fsUuid } : {}) },
    },
    name: run.name,
    media: 'usb',
    offsite: job.offsite,
    offline,
    immutable: false,
    createdAt: run.createdAt,
    ...(run.bytes !== undefined ? { bytes: run.bytes } : {}),
    ...(run.sha256 ? { checksum: { algo: 'sha256' as const, value: run.sha256 } } : {}),
    verification:
      run.sha256 && run.verifiedAt
        ? { state: 'verified', at: run.verifiedAt, method: 'sha256-after-write' }
        : { state: 'unverified', detail: 'run found on the stick without a checksum recorded by this agent' },
  }
}

async function runRearJob(ctx: JobContext, job: ResolvedRearJob, host: string, asset: AssetRef): Promise<JobResult> {
  const warnings: string[] = []
  let inv = await loadInventory(ctx.stateDir)
  const stick = await findStick(ctx.exec, job.label)
  if (stick === null) {
    const known = Object.values(inv).filter((s) => s.label === job.label)
    warnings.push(...staleSticks(inv, ctx.clock.now(), job.staleAfterDays))
    return {
      status: 'failed',
      deleted: [],
      warnings,
      copies: known.flatMap((s) => s.runs.map((r) => rearCopy(job, host, asset, s, r, true))),
      error: {
        code: 'BK_ERR_USB_MEDIUM_MISSING',
        message:
          `no device with filesystem label "${job.label}" is attached; plug in the rescue stick ` +
          '(prepare a new one with `rear format -- -y /dev/sdX`)',
      },
    }
  }
  if (stick.fsUuid === null) {
    warnings.push(
      `${stick.device} (label ${stick.label}) has no filesystem UUID; ` +
        'the stick cannot be told apart from another with the same label',
    )
  }
  const place: RearPlace = { job, host, stick, mnt: join(ctx.stateDir, 'mnt') }
  await mkdir(place.mnt, { recursive: true })
  const before = await listOnStick(ctx, place, warnings)
  const configDir = job.configDir ?? (await writeConfig(ctx.stateDir, job, stick))
  const skipped = await checkLayout(ctx, job, configDir, warnings)
  const error = skipped ? undefined : await runRear(ctx, job, configDir, host)
  const seen = await inspectStick(ctx, place, inv, before, { error, skipped }, warnings)
  if (stick.fsUuid) {
    inv = recordStick(inv, stick.fsUuid, stick.label, seen.runs, ctx.clock.now())
    await saveInventory(ctx.stateDir, inv)
  }
  warnings.push(...staleSticks(inv, ctx.clock.now(), job.staleAfterDays))
  const result: JobResult = {
    status: seen.error ? 'failed' : 'success',
    copies: seen.runs.map((r) => {
      const c = rearCopy(job, host, asset, stick, r, false)
      return r.name === seen.fresh ? { ...c, runId: ctx.runId } : c
    }),
    deleted: seen.deleted,
    warnings,
    ...(seen.bytes !== undefined ? { bytes: seen.bytes } : {}),
  }
  return seen.error ? { ...result, error: seen.error } : result
}

/** What the retention policy would keep or delete on the attached stick (nothing is deleted). Empty when no stick. */
async function planRear(ctx: JobContext, job: ResolvedRearJob, host: string): Promise<PlanLine[]> {
  const stick = await findStick(ctx.exec, job.label)
  if (stick === null) {
    return []
  }
  const place: RearPlace = { job, host, stick, mnt: join(ctx.stateDir, 'mnt') }
  await mkdir(place.mnt, { recursive: true })
  const warnings: string[] = []
  const runs = await listOnStick(ctx, place, warnings)
  const inv = await loadInventory(ctx.stateDir)
  const known = new Map((inv[stick.fsUuid ?? '']?.runs ?? []).map((r) => [r.name, r]))
  return planRunDirs(runs, known, job.retention, ctx.clock.now(), `${stick.label}:rear/${host}`).lines
}

async function writeConfig(stateDir: string, job: ResolvedRearJob, stick: Stick): Promise<string> {
  const dir = join(stateDir, 'rear-etc')
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const byLabel = `/dev/disk/by-label/${job.label}`
  // by-label survives /dev/sdX renumbering between runs; without udev there is only the device node.
  const url = `usb://${existsSync(byLabel) ? byLabel : stick.device}`
  await writeFile(
    join(dir, 'local.conf'),
    renderLocalConf({
      backupUrl: url,
      workflow: job.workflow,
      integrityCheck: job.integrityCheck,
      extra: job.extraConfig,
    }),
  )
  return dir
}
