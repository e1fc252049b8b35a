import { encodePromotionTags, parsePromotionTags, type PromotionClass } from '@backstop/shared'
import { succeeded, type Exec } from '../../exec/exec.ts'
import { classifyZfsError, listSnapshotsArgv, snapshotProps, type ZfsCapabilities } from '../../tools/zfs.ts'
import { parseZfsGetSnapshots, parseZfsListSnapshots, type ZfsSnapshotInfo } from '../../tools/zfs-parse.ts'
import { describeFailure } from '../../exec/exec.ts'
import { BackstopError } from '@backstop/shared'

/** The user property our promotion tags live in (sent along by `zfs send -p`; read back on targets). */
export const TAG_PROPERTY = 'backstop:tags'

/** `zfs` prints `-` for an unset property, so "tagged with nothing" is stored as `none`. */
export function encodeZfsTags(tags: readonly PromotionClass[]): string {
  const s = encodePromotionTags(tags)
  return s === '-' ? 'none' : s
}

export function decodeZfsTags(value: string | null): PromotionClass[] | undefined {
  if (value === null) {
    return undefined
  }
  return value === 'none' ? [] : parsePromotionTags(value)
}

const missingRe = /cannot open '([^']+)': (dataset does not exist|no such pool)/g

/** Names the CLI reported as absent (`cannot open 'x': dataset does not exist`). */
export function missingNames(stderr: string): string[] {
  return [...stderr.matchAll(missingRe)].map((m) => m[1]!)
}

export interface DatasetListing {
  /** Every filesystem/volume at or below the roots, as `zfs list` printed them. */
  readonly datasets: readonly string[]
  /** Roots that do not exist (unknown dataset, or a pool that is gone). */
  readonly missing: readonly string[]
}

/** One `zfs list` for every root. Roots that do not exist are reported, not thrown: the others still run. */
export async function listDatasets(exec: Exec, roots: readonly string[]): Promise<DatasetListing> {
  const r = await exec.run(['zfs', 'list', '-H', '-o', 'name', '-t', 'filesystem,volume', '-r', ...roots], { timeoutMs: 120_000, maxOutputBytes: 64 * 1024 * 1024 })
  const missing = missingNames(r.stderr)
  if (!succeeded(r) && missing.length === 0) {
    throw new BackstopError('BK_ERR_EXEC_FAILED', describeFailure(r))
  }
  return { datasets: r.stdout.split('\n').filter((l) => l !== ''), missing }
}

/**
 * Every snapshot below `roots` with exact guid/createtxg/creation/userrefs/used/referenced and our tag
 * property, in one process. Throws BK_ERR_SNAPSHOT_SOURCE_MISSING when a root vanished (pool exported or
 * destroyed mid-run).
 */
export async function listSnapshots(exec: Exec, caps: ZfsCapabilities, roots: readonly string[]): Promise<ZfsSnapshotInfo[]> {
  if (roots.length === 0) {
    return []
  }
  const r = await exec.run(listSnapshotsArgv(caps, roots, TAG_PROPERTY), { timeoutMs: 300_000, maxOutputBytes: 1024 * 1024 * 1024 })
  if (!succeeded(r)) {
    const kind = classifyZfsError(r.stderr)
    const code = kind === 'missing' || kind === 'no-pool' ? 'BK_ERR_SNAPSHOT_SOURCE_MISSING' : 'BK_ERR_EXEC_FAILED'
    throw new BackstopError(code, `${describeFailure(r)} — is the pool still imported? (\`zpool list\`)`)
  }
  return caps.parsableList ? parseZfsListSnapshots(r.stdout, snapshotProps, TAG_PROPERTY) : parseZfsGetSnapshots(r.stdout, TAG_PROPERTY)
}

/** Snapshots grouped by dataset (each group oldest first, as listed). */
export function byDataset(snaps: readonly ZfsSnapshotInfo[]): Map<string, ZfsSnapshotInfo[]> {
  const m = new Map<string, ZfsSnapshotInfo[]>()
  for (const s of snaps) {
    const list = m.get(s.dataset)
    if (list === undefined) {
      m.set(s.dataset, [s])
    } else {
      list.push(s)
    }
  }
  return m
}

/** The datasets a job manages: each root, plus its descendants when recursive. */
export function managedDatasets(specs: readonly { name: string, recursive: boolean }[], listed: readonly string[]): string[] {
  const out = new Set<string>()
  for (const spec of specs) {
    for (const ds of listed) {
      if (ds === spec.name || (spec.recursive && ds.startsWith(`${spec.name}/`))) {
        out.add(ds)
      }
    }
  }
  return [...out]
}
