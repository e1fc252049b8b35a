import { mkdir, readdir } from 'node:fs/promises'
import { join, posix } from 'node:path'
import { BackstopError, snapshotTimestamp, type AssetRef } from '@backstop/shared'
import { describeFailure, succeeded, type Exec } from '../../exec/exec.ts'
import { classifyBtrfsError, deleteArgv, snapshotArgv } from '../../tools/btrfs.ts'
import { parseSubvolumeShow } from '../../tools/btrfs-parse.ts'
import {
  classifyZfsError,
  destroyArgvs,
  holdArgv,
  lightListArgv,
  listSnapshotsArgv,
  releaseArgv,
  minimalZfsCapabilities,
  runZfs,
  snapshotArgvs,
} from '../../tools/zfs.ts'
import { parseZfsGetSnapshots, parseZfsLightList, type ZfsSnapshotInfo } from '../../tools/zfs-parse.ts'
import type { Clock } from '../../clock.ts'
import type { ResticSource } from './config.ts'

/** Every temporary snapshot a restic job takes is named `backstop-restic-<job>_<UTC timestamp>`. */
export const RESTIC_SNAPSHOT_PREFIX = 'backstop-restic'

/**
 * A job never runs twice at once (BK_ERR_JOB_BUSY), so at the start of a run a snapshot or clone named for this job
 * is a leftover of a run that died before its cleanup (agent killed, power cut): removed then, and only those.
 */
const ownSnapshot = (job: string): RegExp =>
  new RegExp(`^${RESTIC_SNAPSHOT_PREFIX}-${job.replace(/\./g, '\\.')}_\\d{8}T\\d{6}Z$`)

/** A read-only snapshot the run took (or holds, `snapshot: newest`), what restic reads, and how to give it back. */
export interface SourceSnapshot {
  /** `pool/ds@backstop-restic-<job>_…` (or the reused snapshot) or the btrfs snapshot path: named on the copy. */
  readonly fullName: string
  /** The directory restic backs up (its root becomes the restic snapshot's root). */
  readonly dir: string
  /** The snapshot's own creation time, as the filesystem recorded it (the consistent point in time). */
  readonly createdAt: Date
  /**
   * Destroys what the run created (clone, then its snapshot; a reused snapshot only loses the run's hold); returns
   * what could not be removed, as texts.
   */
  release(): Promise<string[]>
  /** Leftovers of an earlier run that died: removed (or not) before this snapshot was taken. */
  readonly warnings: readonly string[]
}

export function sourceAsset(source: ResticSource): AssetRef {
  return source.kind === 'zfs'
    ? { kind: 'zfs-dataset', id: source.dataset }
    : { kind: 'btrfs-subvolume', id: source.subvolume }
}

/** Takes (or holds) the snapshot. Anything that fails after that gives it back before throwing. */
export function takeSourceSnapshot(
  ctx: { readonly exec: Exec; readonly clock: Clock; readonly stateDir: string },
  source: ResticSource,
  job: string,
): Promise<SourceSnapshot> {
  const name = `${RESTIC_SNAPSHOT_PREFIX}-${job}_${snapshotTimestamp(ctx.clock.now())}`
  return source.kind === 'zfs'
    ? zfsSnapshot(ctx, source.dataset, source.reuseNewest ? null : name, job)
    : btrfsSnapshot(ctx.exec, source.subvolume, source.snapshotDir, name, job)
}

async function zfsSnapshot(
  ctx: { readonly exec: Exec; readonly clock: Clock; readonly stateDir: string },
  dataset: string,
  /** The snapshot to take, or null to hold and read the dataset's newest existing one. */
  take: string | null,
  job: string,
): Promise<SourceSnapshot> {
  const { exec, clock, stateDir } = ctx
  const info = await runZfs(exec, ['zfs', 'list', '-H', '-o', 'type,mountpoint,mounted', dataset], undefined, 60_000)
  const [type, mountpoint, mounted] = info.stdout.trim().split('\t')
  if (type !== 'filesystem') {
    throw new BackstopError(
      'BK_ERR_CONFIG_INVALID',
      `source.zfs: ${dataset} is a ${type ?? 'dataset of unknown type'}, not a filesystem — restic backs up files; ` +
        'a volume is copied by a zfs job (replication)',
    )
  }
  const ownName = `${RESTIC_SNAPSHOT_PREFIX}-${job}`
  const clone = `${dataset.split('/')[0]!}/${ownName}`
  const warnings = await zfsLeftovers(exec, clock, dataset, clone, job)
  const newest = take === null ? await holdNewest(exec, dataset, ownName) : null
  const name = take ?? newest!.name
  const fullName = `${dataset}@${name}`
  if (take !== null) {
    await runZfs(
      exec,
      snapshotArgvs(minimalZfsCapabilities, [{ dataset, recursive: false }], take, {})[0]!,
      'BK_ERR_SNAPSHOT_FAILED',
      120_000,
    )
  }
  let cloned = false
  const release = async (): Promise<string[]> => {
    const left: string[] = []
    if (cloned && !(await destroyZfs(exec, clock, ['zfs', 'destroy', clone]))) {
      left.push(`the temporary clone ${clone} (remove it with \`zfs destroy ${clone}\`)`)
    }
    if (take === null) {
      // Not ours: only the hold goes, the snapshot stays for the job that made it.
      const r = await exec.run(releaseArgv(ownName, [fullName]), { timeoutMs: 60_000 })
      if (!succeeded(r)) {
        left.push(`the hold ${ownName} on ${fullName} (remove it with \`zfs release ${ownName} ${fullName}\`)`)
      }
    } else if (!(await destroyZfs(exec, clock, destroyArgvs(minimalZfsCapabilities, dataset, [take])[0]!))) {
      // A snapshot with a clone left cannot be destroyed; say so once, naming both.
      left.push(`the temporary snapshot ${fullName} (remove it with \`zfs destroy ${fullName}\`)`)
    }
    return left
  }
  try {
    const createdAt = newest?.creation ?? (await creationOf(exec, fullName))
    // OpenZFS shows every snapshot under <mountpoint>/.zfs/snapshot (mounted on first access, even with
    // snapdir=hidden); zfs-fuse has no .zfs directory: there a temporary clone is mounted instead.
    const snapdir = mounted === 'yes' && mountpoint?.startsWith('/') ? join(mountpoint, '.zfs', 'snapshot', name) : null
    if (snapdir !== null && (await isReadableDir(snapdir))) {
      return { fullName, dir: snapdir, createdAt, release, warnings }
    }
    const dir = join(stateDir, 'zfs-clone')
    await mkdir(dir, { recursive: true, mode: 0o700 })
    await runZfs(
      exec,
      ['zfs', 'clone', '-o', `mountpoint=${dir}`, '-o', 'readonly=on', fullName, clone],
      'BK_ERR_SNAPSHOT_FAILED',
      120_000,
    )
    cloned = true
    return { fullName, dir, createdAt, release, warnings }
  } catch (e) {
    await release()
    throw e
  }
}

async function creationOf(exec: Exec, fullName: string): Promise<Date> {
  const creation = await runZfs(exec, ['zfs', 'get', '-H', '-p', '-o', 'value', 'creation', fullName])
  const createdAt = new Date(Number(creation.stdout.trim()) * 1000)
  if (Number.isNaN(createdAt.getTime())) {
    throw new BackstopError('BK_ERR_EXEC_FAILED', `zfs get creation ${fullName} printed "${creation.stdout}"`)
  }
  return createdAt
}

/**
 * `snapshot: newest`: the dataset's newest snapshot (by createtxg; never one of ours), held for the run so its own
 * job's pruning cannot destroy it mid-backup. A hold with our tag already there was left by a dead run: it is ours.
 */
async function holdNewest(exec: Exec, dataset: string, tag: string): Promise<ZfsSnapshotInfo> {
  const listed = await runZfs(exec, listSnapshotsArgv(minimalZfsCapabilities, [dataset], undefined, true))
  const all = parseZfsGetSnapshots(listed.stdout).filter(
    (x) => x.dataset === dataset && !x.name.startsWith(`${RESTIC_SNAPSHOT_PREFIX}-`),
  )
  const newest = all.at(-1)
  if (newest === undefined || newest.creation === null) {
    throw new BackstopError(
      'BK_ERR_SNAPSHOT_SOURCE_MISSING',
      `source.zfs: ${dataset} has no snapshot to reuse (snapshot: newest) — schedule its zfs job before this one, ` +
        'or use snapshot: take',
    )
  }
  const h = await exec.run(holdArgv(tag, [newest.fullName]), { timeoutMs: 60_000 })
  if (!succeeded(h) && classifyZfsError(h.stderr) !== 'exists') {
    throw new BackstopError('BK_ERR_SNAPSHOT_FAILED', `holding ${newest.fullName}: ${describeFailure(h)}`)
  }
  return newest
}

/** This job's clone and snapshots left by a run that died, destroyed; what could not be is returned as warnings. */
async function zfsLeftovers(exec: Exec, clock: Clock, dataset: string, clone: string, job: string): Promise<string[]> {
  const warnings: string[] = []
  if (!(await destroyZfs(exec, clock, ['zfs', 'destroy', clone]))) {
    warnings.push(`a clone ${clone} left by an earlier run could not be destroyed: run \`zfs destroy ${clone}\``)
  }
  const listed = await runZfs(exec, lightListArgv([dataset]), undefined, 120_000)
  const stale = parseZfsLightList(listed.stdout).filter((x) => x.dataset === dataset && ownSnapshot(job).test(x.name))
  for (const x of stale) {
    const gone = await destroyZfs(exec, clock, destroyArgvs(minimalZfsCapabilities, dataset, [x.name])[0]!)
    warnings.push(
      gone
        ? `removed ${x.fullName}, left by an earlier run of this job that did not finish`
        : `${x.fullName} was left by an earlier run and could not be destroyed: run \`zfs destroy ${x.fullName}\``,
    )
  }
  return warnings
}

/** zfs-fuse reports a just-unmounted dataset busy for a moment: a few tries before giving up. */
async function destroyZfs(exec: Exec, clock: Clock, argv: readonly string[]): Promise<boolean> {
  for (let i = 0; i < 5; i++) {
    const r = await exec.run(argv, { timeoutMs: 120_000 })
    if (succeeded(r) || classifyZfsError(r.stderr) === 'missing') {
      return true
    }
    if (classifyZfsError(r.stderr) !== 'busy') {
      return false
    }
    await clock.sleepUntil(new Date(clock.now().getTime() + 300 * (i + 1)))
  }
  return false
}

async function isReadableDir(dir: string): Promise<boolean> {
  try {
    await readdir(dir)
    return true
  } catch {
    return false
  }
}

async function btrfsSnapshot(
  exec: Exec,
  subvolume: string,
  snapshotDir: string,
  name: string,
  job: string,
): Promise<SourceSnapshot> {
  await mkdir(snapshotDir, { recursive: true, mode: 0o700 })
  const base = posix.basename(subvolume) || 'root'
  const path = posix.join(snapshotDir, `${base}@${name}`)
  const warnings: string[] = []
  for (const entry of await readdir(snapshotDir)) {
    const at = entry.indexOf('@')
    if (at > 0 && entry.slice(0, at) === base && ownSnapshot(job).test(entry.slice(at + 1))) {
      const stale = posix.join(snapshotDir, entry)
      const d = await exec.run(deleteArgv([stale]), { timeoutMs: 600_000 })
      warnings.push(
        succeeded(d)
          ? `removed ${stale}, left by an earlier run of this job that did not finish`
          : `${stale} was left by an earlier run and could not be deleted: ${describeFailure(d)}`,
      )
    }
  }
  const r = await exec.run(snapshotArgv(subvolume, path), { timeoutMs: 120_000 })
  if (!succeeded(r)) {
    const kind = classifyBtrfsError(r.stderr)
    throw new BackstopError(
      kind === 'missing' || kind === 'not-btrfs' ? 'BK_ERR_SNAPSHOT_SOURCE_MISSING' : 'BK_ERR_SNAPSHOT_FAILED',
      `source.btrfs: ${describeFailure(r)}${
        kind === 'not-btrfs' || kind === 'missing'
          ? ` — ${subvolume} must be a btrfs subvolume and ${snapshotDir} on the same filesystem`
          : ''
      }`,
    )
  }
  const release = async (): Promise<string[]> => {
    const d = await exec.run(deleteArgv([path]), { timeoutMs: 600_000 })
    return succeeded(d) || classifyBtrfsError(d.stderr) === 'missing'
      ? []
      : [`the temporary snapshot ${path} (remove it with \`btrfs subvolume delete ${path}\`): ${describeFailure(d)}`]
  }
  try {
    const show = await exec.run(['btrfs', 'subvolume', 'show', path], { timeoutMs: 60_000 })
    const created = succeeded(show) ? parseSubvolumeShow(show.stdout).creationTime : null
    const createdAt =
      created === null ? new Date(NaN) : new Date(created.replace(' ', 'T').replace(/ ([+-]\d\d)(\d\d)$/, '$1:$2'))
    if (Number.isNaN(createdAt.getTime())) {
      throw new BackstopError(
        'BK_ERR_EXEC_FAILED',
        `btrfs subvolume show ${path}: no creation time (${describeFailure(show)})`,
      )
    }
    return { fullName: path, dir: path, createdAt, release, warnings }
  } catch (e) {
    await release()
    throw e
  }
}
