import { randomBytes } from 'node:crypto'
import { BackstopError } from '@backstop/shared'
import { describeFailure, succeeded } from '../../exec/exec.ts'
import { classifyZfsError, receiveArgv, sendArgv, type ZfsCapabilities } from '../../tools/zfs.ts'
import { parseZfsGuids } from '../../tools/zfs-parse.ts'
import type { CopyCheck, JobContext } from '../job.ts'
import { parseTaggedSnapshotName } from '../snapshot-common/retention.ts'
import type { ResolvedZfsJob } from './config.ts'
import { zfsCopyId } from './copies.ts'
import { poolOf } from './health.ts'
import { listSnapshots } from './listing.ts'

const VERIFY_METHOD = 'zfs-guid+send-stream'
const RESTORE_METHOD = 'zfs-send-receive+guid'
/** Scratch datasets of restore tests: `<pool>/backstop-restore-test-<hex>`, destroyed after each test. */
const SCRATCH = 'backstop-restore-test-'

interface Snap {
  full: string
  dataset: string
  name: string
  source: string
}

/**
 * `zfs:<pool/ds@name>` of this job: one of its datasets (or a child of a recursive one), or the replica of one
 * below a target root, with a snapshot name of the job's prefix. Anything else is not a copy of this job.
 */
function snapOf(cfg: ResolvedZfsJob, copyId: string): Snap {
  const full = copyId.startsWith('zfs:') ? copyId.slice(4) : ''
  const at = full.indexOf('@')
  const dataset = full.slice(0, at)
  const name = full.slice(at + 1)
  const isSource = (ds: string): boolean =>
    cfg.datasets.some((d) => ds === d.name || (d.recursive && ds.startsWith(`${d.name}/`)))
  // A replica on another host (ssh target) is not checked from here: its copy id names that host and fails below.
  const target = cfg.targets.find((t) => t.ssh === undefined && dataset.startsWith(`${t.dataset}/`))
  const source = target ? dataset.slice(target.dataset.length + 1) : dataset
  if (at <= 0 || !isSource(source) || parseTaggedSnapshotName(cfg.prefix, name) === null) {
    throw new BackstopError(
      'BK_ERR_COPY_NOT_FOUND',
      `copy "${copyId}" is not a snapshot of job "${cfg.name}" (its copies are zfs:<dataset>@${cfg.prefix}_… ` +
        `of ${cfg.datasets.map((d) => d.name).join(', ')} and their replicas; list them with GET /api/v1/copies)`,
    )
  }
  return { full, dataset, name, source }
}

async function guidOf(ctx: JobContext, full: string): Promise<string | null> {
  const r = await ctx.exec.run(['zfs', 'get', '-H', '-p', '-o', 'name,property,value', 'guid,createtxg', full], {
    signal: ctx.signal,
    timeoutMs: 120_000,
  })
  if (!succeeded(r)) {
    if (classifyZfsError(r.stderr) === 'missing' || classifyZfsError(r.stderr) === 'no-pool') {
      return null
    }
    throw new BackstopError('BK_ERR_EXEC_FAILED', describeFailure(r))
  }
  return parseZfsGuids(r.stdout).get(full)?.guid ?? null
}

function failed(
  copyId: string,
  method: string,
  checks: string[],
  code: string,
  message: string,
  bytes?: number,
): CopyCheck {
  return {
    result: 'failed',
    copyId,
    method,
    checks: [...checks, `FAILED: ${message}`],
    ...(bytes !== undefined ? { bytes } : {}),
    error: { code, message },
  }
}

/**
 * The snapshot exists, its guid matches the other side (source ↔ replica) where both exist, and `zfs send` of it
 * streams completely.
 */
export async function zfsVerifyCopy(cfg: ResolvedZfsJob, ctx: JobContext, copyId: string): Promise<CopyCheck> {
  const s = snapOf(cfg, copyId)
  const checks: string[] = []
  const guid = await guidOf(ctx, s.full)
  if (guid === null) {
    return failed(
      copyId,
      VERIFY_METHOD,
      checks,
      'BK_ERR_COPY_NOT_FOUND',
      `snapshot ${s.full} does not exist (destroyed, or its pool is not imported)`,
    )
  }
  checks.push(`snapshot ${s.full} exists, guid ${guid}`)
  const twins =
    s.dataset === s.source ? cfg.targets.map((t) => `${t.dataset}/${s.source}@${s.name}`) : [`${s.source}@${s.name}`]
  for (const twin of twins) {
    const g = await guidOf(ctx, twin).catch(() => null)
    if (g === null) {
      checks.push(`${twin} not present (pruned or offline): guid not compared`)
    } else if (g !== guid) {
      return failed(
        copyId,
        VERIFY_METHOD,
        checks,
        'BK_ERR_VERIFY_FAILED',
        `${twin} has guid ${g}, ${s.full} has ${guid}: they are not the same snapshot`,
      )
    } else {
      checks.push(`${twin} has the same guid`)
    }
  }
  // The whole stream is read (every block checksummed by zfs on the way) into a byte counter.
  const p = await ctx.exec.pipeline([sendArgv(s.full, null), ['wc', '-c']], {
    signal: ctx.signal,
    timeoutMs: cfg.timeoutMs,
  })
  const bad = p.stages.find((x) => !succeeded(x))
  if (bad !== undefined) {
    return failed(
      copyId,
      VERIFY_METHOD,
      checks,
      'BK_ERR_VERIFY_FAILED',
      `the send stream of ${s.full} broke: ${describeFailure(bad)}`,
      p.bytesPiped,
    )
  }
  checks.push(`zfs send ${s.full} streamed ${p.bytesPiped} bytes to the end`)
  return { result: 'ok', copyId, method: VERIFY_METHOD, checks, bytes: p.bytesPiped }
}

/**
 * `zfs send | zfs receive` of the snapshot into a scratch dataset on the same pool, then the received snapshot's
 * guid must equal the original's (zfs keeps it only for a complete, checksum-verified receive). The scratch
 * dataset is destroyed afterwards whatever happened; leftovers of a crashed test on that pool first.
 */
export async function zfsRestoreTest(
  cfg: ResolvedZfsJob,
  caps: ZfsCapabilities,
  ctx: JobContext,
  copyId: string | undefined,
): Promise<CopyCheck> {
  const s = copyId !== undefined ? snapOf(cfg, copyId) : await newest(cfg, caps, ctx)
  const id = zfsCopyId(s.full)
  const checks: string[] = []
  const guid = await guidOf(ctx, s.full)
  if (guid === null) {
    return failed(
      id,
      RESTORE_METHOD,
      checks,
      'BK_ERR_COPY_NOT_FOUND',
      `snapshot ${s.full} does not exist (destroyed, or its pool is not imported)`,
    )
  }
  const pool = poolOf(s.dataset)
  await destroyStale(ctx, pool)
  const scratch = `${pool}/${SCRATCH}${randomBytes(4).toString('hex')}`
  try {
    const p = await ctx.exec.pipeline([sendArgv(s.full, null), receiveArgv(scratch)], {
      signal: ctx.signal,
      timeoutMs: cfg.timeoutMs,
    })
    const bad = p.stages.find((x) => !succeeded(x))
    if (bad !== undefined) {
      return failed(
        id,
        RESTORE_METHOD,
        checks,
        'BK_ERR_RESTORE_TEST_FAILED',
        `zfs send | zfs receive into ${scratch}: ${describeFailure(bad)}`,
        p.bytesPiped,
      )
    }
    checks.push(`zfs send ${s.full} | zfs receive ${scratch}: ${p.bytesPiped} bytes`)
    const got = await guidOf(ctx, `${scratch}@${s.name}`)
    if (got !== guid) {
      return failed(
        id,
        RESTORE_METHOD,
        checks,
        'BK_ERR_RESTORE_TEST_FAILED',
        `the received snapshot has guid ${got ?? '(none)'}, the copy has ${guid}`,
        p.bytesPiped,
      )
    }
    checks.push(`received ${scratch}@${s.name} has the copy's guid ${guid}`)
    return { result: 'ok', copyId: id, method: RESTORE_METHOD, checks, bytes: p.bytesPiped }
  } finally {
    await destroy(ctx, scratch)
  }
}

/** The newest snapshot of the job (by createtxg) on its configured datasets. */
async function newest(cfg: ResolvedZfsJob, caps: ZfsCapabilities, ctx: JobContext): Promise<Snap> {
  const names = new Set(cfg.datasets.map((d) => d.name))
  const all = (await listSnapshots(ctx.exec, caps, [...names])).filter(
    (x) => names.has(x.dataset) && parseTaggedSnapshotName(cfg.prefix, x.name) !== null,
  )
  const pick = [...all]
    .sort((a, b) => a.createtxg - b.createtxg || (a.creation?.getTime() ?? 0) - (b.creation?.getTime() ?? 0))
    .at(-1)
  if (pick === undefined) {
    throw new BackstopError(
      'BK_ERR_COPY_NOT_FOUND',
      `job "${cfg.name}" has no snapshot on ${[...names].join(', ')}; run the job, or name a copy with copyId`,
    )
  }
  return { full: pick.fullName, dataset: pick.dataset, name: pick.name, source: pick.dataset }
}

async function destroy(ctx: JobContext, dataset: string): Promise<void> {
  // Not bound to ctx.signal: cleanup must also run after an abort. A freshly received dataset is mounted (zfs-fuse's
  // receive has no -u) and can be "busy" for a moment: unmount first, and retry a few times.
  for (let attempt = 1; ; attempt++) {
    await ctx.exec.run(['zfs', 'unmount', '-f', dataset], { timeoutMs: 120_000 })
    const r = await ctx.exec.run(['zfs', 'destroy', '-r', dataset], { timeoutMs: 300_000 })
    const why = succeeded(r) ? null : classifyZfsError(r.stderr)
    if (why === null || why === 'missing') {
      return
    }
    if (why !== 'busy' || attempt >= 5) {
      ctx.log.error(
        { dataset, err: describeFailure(r) },
        'could not destroy a restore-test scratch dataset; it is retried before the next restore test',
      )
      return
    }
    await ctx.clock.sleepUntil(new Date(ctx.clock.now().getTime() + 500 * attempt))
  }
}

async function destroyStale(ctx: JobContext, pool: string): Promise<void> {
  const r = await ctx.exec.run(['zfs', 'list', '-H', '-o', 'name', '-d', '1', pool], {
    signal: ctx.signal,
    timeoutMs: 120_000,
  })
  for (const ds of succeeded(r) ? r.stdout.split('\n') : []) {
    if (ds.startsWith(`${pool}/${SCRATCH}`)) {
      await destroy(ctx, ds)
    }
  }
}
