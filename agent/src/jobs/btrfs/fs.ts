import {
  BackstopError,
  parsePromotionTags,
  parseSnapshotTimestamp,
  snapshotTimestamp,
  type Location,
  type PromotionClass,
} from '@backstop/shared'
import { describeFailure, succeeded, type Exec } from '../../exec/exec.ts'
import { deviceStatsArgv, findmntArgv, listArgv, scrubStatusArgv } from '../../tools/btrfs.ts'
import {
  deviceErrorCount,
  mountOf,
  parseDeviceStatsJson,
  parseFindmnt,
  parseScrubStatus,
  parseSubvolumeList,
  type BtrfsSubvolume,
  type MountInfo,
} from '../../tools/btrfs-parse.ts'
import { absolutePath } from '../../tools/btrfs-parse.ts'

export { absolutePath } from '../../tools/btrfs-parse.ts'

/** `<subvol name>@<prefix>_<UTC timestamp>_<tags>`, e.g. `home@backstop_20261122T014500Z_dwm`. */
export function btrfsSnapshotName(subvol: string, prefix: string, at: Date, tags: string): string {
  return `${subvol}@${prefix}_${snapshotTimestamp(at)}_${tags}`
}

export interface ParsedBtrfsName {
  readonly subvol: string
  readonly createdAt: Date
  readonly tags: PromotionClass[] | undefined
}

/** Null for any name that is not exactly ours (those are never touched). */
export function parseBtrfsSnapshotName(name: string, prefix: string): ParsedBtrfsName | null {
  const m = new RegExp(`^([A-Za-z0-9][A-Za-z0-9_.-]*)@${prefix}_(\\d{8}T\\d{6}Z)_([-a-z]+)$`).exec(name)
  if (m === null) {
    return null
  }
  const createdAt = parseSnapshotTimestamp(m[2]!)
  return createdAt === null ? null : { subvol: m[1]!, createdAt, tags: parsePromotionTags(m[3]!) }
}

/** Every mounted filesystem, one `findmnt` for the whole run. */
export async function loadMounts(exec: Exec): Promise<MountInfo[]> {
  const r = await exec.run([...findmntArgv], { timeoutMs: 30_000 })
  if (!succeeded(r)) {
    throw new BackstopError('BK_ERR_EXEC_FAILED', describeFailure(r))
  }
  return parseFindmnt(r.stdout)
}

/** One mounted btrfs filesystem and its subvolumes, addressed by absolute path. */
export interface FsView {
  readonly mount: MountInfo
  /** Absolute path → subvolume (only those visible through this mount). */
  readonly byPath: Map<string, BtrfsSubvolume>
  readonly readonlyUuids: Set<string>
}

/** Two `btrfs subvolume list` calls (all, read-only) for the filesystem holding `mount`. */
export async function loadFs(exec: Exec, mount: MountInfo): Promise<FsView> {
  const all = await exec.run(listArgv(mount.target), { timeoutMs: 300_000, maxOutputBytes: 256 * 1024 * 1024 })
  const ro = await exec.run(listArgv(mount.target, true), { timeoutMs: 300_000, maxOutputBytes: 256 * 1024 * 1024 })
  const failed = [all, ro].find((r) => !succeeded(r))
  if (failed !== undefined) {
    throw new BackstopError(
      'BK_ERR_SNAPSHOT_SOURCE_MISSING',
      `${describeFailure(failed)} — is ${mount.target} still mounted?`,
    )
  }
  const byPath = new Map<string, BtrfsSubvolume>()
  for (const sv of parseSubvolumeList(all.stdout)) {
    const abs = absolutePath(mount, sv.path)
    if (abs !== null) {
      byPath.set(abs, sv)
    }
  }
  return { mount, byPath, readonlyUuids: new Set(parseSubvolumeList(ro.stdout).map((s) => s.uuid)) }
}

/** The btrfs mount holding `path`, or null (not mounted / another filesystem type). */
export function btrfsMountOf(mounts: readonly MountInfo[], path: string): MountInfo | null {
  const m = mountOf(mounts, path)
  return m !== null && m.fstype === 'btrfs' ? m : null
}

export function fsLocation(mount: MountInfo): Location {
  return {
    kind: 'btrfs-fs',
    target: mount.target,
    device: {
      id: mount.source,
      ...(mount.uuid ? { fsUuid: mount.uuid } : {}),
      ...(mount.label ? { label: mount.label } : {}),
    },
  }
}

/** Device error counters and the last scrub of one filesystem; problems are returned as warning texts. */
export async function fsHealth(exec: Exec, mount: MountInfo): Promise<string[]> {
  const problems: string[] = []
  const stats = await exec.run(deviceStatsArgv(mount.target), { timeoutMs: 60_000 })
  if (succeeded(stats)) {
    for (const d of parseDeviceStatsJson(stats.stdout)) {
      if (deviceErrorCount(d) > 0) {
        problems.push(
          `btrfs ${mount.target}: device ${d.device} has errors (write ${d.writeIoErrs}, read ${d.readIoErrs}, ` +
            `flush ${d.flushIoErrs}, corruption ${d.corruptionErrs}, generation ${d.generationErrs})`,
        )
      }
    }
  } else {
    problems.push(`btrfs ${mount.target}: device stats unreadable: ${describeFailure(stats)}`)
  }
  const scrub = await exec.run(scrubStatusArgv(mount.target), { timeoutMs: 60_000 })
  if (succeeded(scrub)) {
    const s = parseScrubStatus(scrub.stdout)
    if (s.status === 'never') {
      problems.push(`btrfs ${mount.target} has never been scrubbed; schedule \`btrfs scrub start ${mount.target}\``)
    } else if (!s.ok) {
      problems.push(`btrfs ${mount.target}: last scrub (${s.started ?? '?'}, ${s.status}) reported: ${s.errorSummary}`)
    }
  }
  return problems
}
