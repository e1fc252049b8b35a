import { BackstopError, type ErrorCode } from '@backstop/shared'
import { describeFailure, succeeded, type Exec, type ExecResult } from '../../exec/exec.ts'
import { SshExec, sshFailureOf } from '../../remote/ssh.ts'
import {
  classifyZfsError,
  lightListArgv,
  listSnapshotsArgv,
  snapshotProps,
  type ZfsCapabilities,
} from '../../tools/zfs.ts'
import {
  parseZfsGetSnapshots,
  parseZfsLightList,
  parseZfsListSnapshots,
  type ZfsSnapshotInfo,
} from '../../tools/zfs-parse.ts'

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

/**
 * A failed listing on another host keeps the code of what failed there: its gate refusing the command (a dataset
 * its rules do not give this key), the host key, the login or the connection; else `code` with `message`.
 */
function listingError(exec: Exec, r: ExecResult, code: ErrorCode, message: string): BackstopError {
  const ssh = exec instanceof SshExec ? sshFailureOf(r, exec.ssh) : null
  return ssh === null ? new BackstopError(code, message) : new BackstopError(ssh.code, ssh.message)
}

/** One `zfs list` for every root. Roots that do not exist are reported, not thrown: the others still run. */
export async function listDatasets(exec: Exec, roots: readonly string[]): Promise<DatasetListing> {
  const r = await exec.run(['zfs', 'list', '-H', '-o', 'name', '-t', 'filesystem,volume', '-r', ...roots], {
    timeoutMs: 120_000,
    maxOutputBytes: 64 * 1024 * 1024,
  })
  const missing = missingNames(r.stderr)
  if (!succeeded(r) && missing.length === 0) {
    throw listingError(exec, r, 'BK_ERR_EXEC_FAILED', describeFailure(r))
  }
  return { datasets: r.stdout.split('\n').filter((l) => l !== ''), missing }
}

/**
 * Every snapshot below `roots` with its hold count, in one process; with `exact` (or on
 * a CLI with `list -p`, where it costs nothing extra) also guid/createtxg/creation/used/referenced. Throws
 * BK_ERR_SNAPSHOT_SOURCE_MISSING when a root vanished (pool exported or
 * destroyed mid-run).
 */
export async function listSnapshots(
  exec: Exec,
  caps: ZfsCapabilities,
  roots: readonly string[],
  exact = true,
): Promise<ZfsSnapshotInfo[]> {
  if (roots.length === 0) {
    return []
  }
  const light = !exact && !caps.parsableList
  const argv = light ? lightListArgv(roots) : listSnapshotsArgv(caps, roots)
  const r = await exec.run(argv, { timeoutMs: 600_000, maxOutputBytes: 1024 * 1024 * 1024 })
  if (!succeeded(r)) {
    const kind = classifyZfsError(r.stderr)
    const code = kind === 'missing' || kind === 'no-pool' ? 'BK_ERR_SNAPSHOT_SOURCE_MISSING' : 'BK_ERR_EXEC_FAILED'
    throw listingError(exec, r, code, `${describeFailure(r)} — is the pool still imported? (\`zpool list\`)`)
  }
  return light
    ? parseZfsLightList(r.stdout)
    : caps.parsableList
      ? parseZfsListSnapshots(r.stdout, snapshotProps)
      : parseZfsGetSnapshots(r.stdout)
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
export function managedDatasets(
  specs: readonly { name: string; recursive: boolean }[],
  listed: readonly string[],
): string[] {
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
