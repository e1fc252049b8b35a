import { randomBytes } from 'node:crypto'
import { mkdir, readdir, rm } from 'node:fs/promises'
import { posix } from 'node:path'
import { BackstopError } from '@backstop/shared'
import { describeFailure, succeeded } from '../../exec/exec.ts'
import { deleteArgv, receiveArgv, sendArgv } from '../../tools/btrfs.ts'
import { parseSubvolumeShow, type MountInfo } from '../../tools/btrfs-parse.ts'
import type { CopyCheck, JobContext } from '../job.ts'
import type { ResolvedBtrfsJob } from './config.ts'
import { btrfsMountOf, loadFs, loadMounts, parseBtrfsSnapshotName, type FsView } from './fs.ts'
import { btrfsCopyId, ownedIn } from './snapshots.ts'

const VERIFY_METHOD = 'btrfs-readonly+uuid+send-stream'
const RESTORE_METHOD = 'btrfs-send-receive+diff'
/** Scratch directory of a restore test, inside snapshotDir (same filesystem) and hidden from the job's listing. */
const SCRATCH = '.backstop-restore-test-'

interface Snap {
  path: string
  name: string
  subvol: string
  local: boolean
}

/**
 * `btrfs:<snapshotDir or target path>/<subvol>@<prefix>_…` of one of the job's subvolumes; anything else is not a copy
 * of this job.
 */
function snapOf(cfg: ResolvedBtrfsJob, copyId: string): Snap {
  const path = copyId.startsWith('btrfs:') ? copyId.slice(6) : ''
  const dir = posix.dirname(path)
  const name = posix.basename(path)
  const parsed = parseBtrfsSnapshotName(name, cfg.prefix)
  const local = dir === cfg.snapshotDir
  const remote = cfg.targets.find((t) => t.ssh !== null && dir === `${t.ssh.host}:${t.path}`)
  if (remote !== undefined) {
    throw new BackstopError(
      'BK_ERR_COPY_NOT_FOUND',
      `copy "${copyId}" is a replica on ${remote.ssh!.host} (target ${remote.name}): each run re-checks it over ssh ` +
        '(read-only, received_uuid = the local snapshot’s uuid); an on-demand verify of remote replicas is not ' +
        'supported yet — verify the local snapshot it came from instead',
    )
  }
  if (
    parsed === null ||
    !(local || cfg.targets.some((t) => t.ssh === null && t.path === dir)) ||
    !cfg.subvolumes.some((s) => s.name === parsed.subvol)
  ) {
    throw new BackstopError(
      'BK_ERR_COPY_NOT_FOUND',
      `copy "${copyId}" is not a snapshot of job "${cfg.name}" (its copies are ` +
        `btrfs:${cfg.snapshotDir}/<subvolume>@${cfg.prefix}_… and their replicas on the targets; ` +
        'list them with GET /api/v1/copies)',
    )
  }
  return { path, name, subvol: parsed.subvol, local }
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

async function fsOf(ctx: JobContext, mounts: readonly MountInfo[], path: string): Promise<FsView | null> {
  const m = btrfsMountOf(mounts, path)
  return m === null ? null : loadFs(ctx.exec, m).catch(() => null)
}

/**
 * The subvolume exists and is read-only, its uuid ↔ received_uuid link to the other side (snapshot ↔ replica)
 * holds where both are mounted, and `btrfs send` of it streams completely into `btrfs receive --dump`, which
 * parses every command of the stream without writing anything.
 */
export async function btrfsVerifyCopy(cfg: ResolvedBtrfsJob, ctx: JobContext, copyId: string): Promise<CopyCheck> {
  const s = snapOf(cfg, copyId)
  const checks: string[] = []
  const mounts = await loadMounts(ctx.exec)
  const fs = await fsOf(ctx, mounts, posix.dirname(s.path))
  const sv = fs?.byPath.get(s.path)
  if (fs === null || sv === undefined) {
    return failed(
      copyId,
      VERIFY_METHOD,
      checks,
      'BK_ERR_COPY_NOT_FOUND',
      `${s.path} is not a subvolume of a mounted btrfs filesystem (deleted, or its disk is not mounted)`,
    )
  }
  if (!fs.readonlyUuids.has(sv.uuid)) {
    return failed(
      copyId,
      VERIFY_METHOD,
      checks,
      'BK_ERR_VERIFY_FAILED',
      `${s.path} is writable: it can have been changed since it was taken`,
    )
  }
  checks.push(`${s.path} exists and is read-only (uuid ${sv.uuid})`)
  if (s.local) {
    for (const t of cfg.targets) {
      if (t.ssh !== null) {
        // Its path is on another host: a local mount at the same path would say nothing about it.
        checks.push(`target ${t.name}: on ${t.ssh.host}, checked over ssh by each run`)
        continue
      }
      const replica = (await fsOf(ctx, mounts, t.path))?.byPath.get(posix.join(t.path, s.name))
      if (replica === undefined) {
        checks.push(`target ${t.name}: no replica mounted, uuid link not checked`)
      } else if (replica.receivedUuid !== sv.uuid) {
        return failed(
          copyId,
          VERIFY_METHOD,
          checks,
          'BK_ERR_VERIFY_FAILED',
          `replica ${posix.join(t.path, s.name)} has received_uuid ${replica.receivedUuid ?? '-'}, not this ` +
            `snapshot's uuid ${sv.uuid}`,
        )
      } else {
        checks.push(`target ${t.name}: replica's received_uuid is this snapshot's uuid`)
      }
    }
  } else {
    const origin = (await fsOf(ctx, mounts, cfg.snapshotDir))?.byPath.get(posix.join(cfg.snapshotDir, s.name))
    if (sv.receivedUuid === null) {
      return failed(
        copyId,
        VERIFY_METHOD,
        checks,
        'BK_ERR_VERIFY_FAILED',
        `${s.path} has no received_uuid: it is not a received replica`,
      )
    }
    if (origin !== undefined && origin.uuid !== sv.receivedUuid) {
      return failed(
        copyId,
        VERIFY_METHOD,
        checks,
        'BK_ERR_VERIFY_FAILED',
        `${s.path} has received_uuid ${sv.receivedUuid}, the local snapshot's uuid is ${origin.uuid}`,
      )
    }
    checks.push(
      origin === undefined
        ? `received_uuid ${sv.receivedUuid} (local snapshot pruned, not compared)`
        : "received_uuid is the local snapshot's uuid",
    )
  }
  const p = await ctx.exec.pipeline([sendArgv(s.path, null), ['btrfs', 'receive', '--dump']], {
    signal: ctx.signal,
    timeoutMs: cfg.timeoutMs,
    maxOutputBytes: 64 * 1024,
  })
  const bad = p.stages.find((x) => !succeeded(x))
  if (bad !== undefined) {
    return failed(
      copyId,
      VERIFY_METHOD,
      checks,
      'BK_ERR_VERIFY_FAILED',
      `the send stream of ${s.path} broke: ${describeFailure(bad)}`,
      p.bytesPiped,
    )
  }
  checks.push(`btrfs send streamed ${p.bytesPiped} bytes; btrfs receive --dump parsed it to the end`)
  return { result: 'ok', copyId, method: VERIFY_METHOD, checks, bytes: p.bytesPiped }
}

/**
 * `btrfs send | btrfs receive` of the snapshot into a scratch directory on the same filesystem, then the received
 * subvolume must carry the snapshot's uuid as received_uuid and `diff -r` must find no difference in content.
 * The received subvolume and the scratch directory are deleted afterwards whatever happened.
 */
export async function btrfsRestoreTest(
  cfg: ResolvedBtrfsJob,
  ctx: JobContext,
  copyId: string | undefined,
): Promise<CopyCheck> {
  const mounts = await loadMounts(ctx.exec)
  const s = copyId !== undefined ? snapOf(cfg, copyId) : await newest(cfg, ctx, mounts)
  const id = btrfsCopyId(s.path)
  const checks: string[] = []
  const sv = (await fsOf(ctx, mounts, posix.dirname(s.path)))?.byPath.get(s.path)
  if (sv === undefined) {
    return failed(
      id,
      RESTORE_METHOD,
      checks,
      'BK_ERR_COPY_NOT_FOUND',
      `${s.path} is not a subvolume of a mounted btrfs filesystem`,
    )
  }
  await removeStale(ctx, cfg.snapshotDir)
  const scratch = posix.join(cfg.snapshotDir, `${SCRATCH}${randomBytes(4).toString('hex')}`)
  const received = posix.join(scratch, s.name)
  await mkdir(scratch, { mode: 0o700 })
  try {
    const p = await ctx.exec.pipeline([sendArgv(s.path, null), receiveArgv(scratch)], {
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
        `btrfs send | btrfs receive into ${scratch}: ${describeFailure(bad)}`,
        p.bytesPiped,
      )
    }
    checks.push(`btrfs send ${s.path} | btrfs receive ${scratch}: ${p.bytesPiped} bytes`)
    const show = await ctx.exec.run(['btrfs', 'subvolume', 'show', received], { signal: ctx.signal, timeoutMs: 60_000 })
    const got = succeeded(show) ? parseSubvolumeShow(show.stdout).receivedUuid : null
    // A replica's own received_uuid is passed on by send; a local snapshot's uuid becomes the received_uuid.
    const want = sv.receivedUuid ?? sv.uuid
    if (got !== want) {
      return failed(
        id,
        RESTORE_METHOD,
        checks,
        'BK_ERR_RESTORE_TEST_FAILED',
        `the received subvolume has received_uuid ${got ?? '-'}, expected ${want}`,
        p.bytesPiped,
      )
    }
    checks.push(`received subvolume carries received_uuid ${want}`)
    const d = await ctx.exec.run(['diff', '-r', '-q', '--no-dereference', s.path, received], {
      signal: ctx.signal,
      timeoutMs: cfg.timeoutMs,
      maxOutputBytes: 64 * 1024,
    })
    if (!succeeded(d)) {
      const lines = `${d.stdout}\n${d.stderr}`
        .trim()
        .split('\n')
        .filter((l) => l !== '')
        .slice(0, 5)
        .join('; ')
      return failed(
        id,
        RESTORE_METHOD,
        checks,
        'BK_ERR_RESTORE_TEST_FAILED',
        `restored content differs from the snapshot: ${lines || describeFailure(d)}`,
        p.bytesPiped,
      )
    }
    checks.push('diff -r: restored files are identical to the snapshot')
    return { result: 'ok', copyId: id, method: RESTORE_METHOD, checks, bytes: p.bytesPiped }
  } finally {
    await removeScratch(ctx, scratch)
  }
}

/** The newest read-only local snapshot of any of the job's subvolumes. */
async function newest(cfg: ResolvedBtrfsJob, ctx: JobContext, mounts: readonly MountInfo[]): Promise<Snap> {
  const fs = await fsOf(ctx, mounts, cfg.snapshotDir)
  const all =
    fs === null
      ? []
      : cfg.subvolumes.flatMap((sub) => ownedIn(fs, cfg.snapshotDir, cfg.prefix, sub.name)).filter((o) => o.readonly)
  const pick = all.sort((a, b) => a.parsed.createdAt.getTime() - b.parsed.createdAt.getTime()).at(-1)
  if (pick === undefined) {
    throw new BackstopError(
      'BK_ERR_COPY_NOT_FOUND',
      `job "${cfg.name}" has no read-only snapshot in ${cfg.snapshotDir}; run the job, or name a copy with copyId`,
    )
  }
  return { path: pick.path, name: pick.name, subvol: pick.parsed.subvol, local: true }
}

async function removeScratch(ctx: JobContext, scratch: string): Promise<void> {
  // Not bound to ctx.signal: cleanup must also run after an abort. Subvolumes first (rm cannot remove them).
  let entries: string[] = []
  try {
    entries = await readdir(scratch)
  } catch {
    return
  }
  if (entries.length > 0) {
    const r = await ctx.exec.run(deleteArgv(entries.map((e) => posix.join(scratch, e))), { timeoutMs: 300_000 })
    if (!succeeded(r)) {
      ctx.log.warn(
        { scratch, err: describeFailure(r) },
        'restore-test scratch: subvolume delete failed; removing the files instead',
      )
    }
  }
  await rm(scratch, { recursive: true, force: true }).catch((e: unknown) =>
    ctx.log.error(
      { scratch, err: e },
      'could not remove a restore-test scratch directory; it is retried before the next restore test',
    ),
  )
}

async function removeStale(ctx: JobContext, dir: string): Promise<void> {
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (name.startsWith(SCRATCH)) {
      await removeScratch(ctx, posix.join(dir, name))
    }
  }
}
