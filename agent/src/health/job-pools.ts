import type { PoolHealth } from '@backstop/shared'
import { describeFailure, succeeded, type Exec } from '../exec/exec.ts'
import { btrfsMountOf, loadMounts } from '../jobs/btrfs/fs.ts'
import type { ResolvedJob } from '../jobs/kinds.ts'
import { poolReport } from '../jobs/zfs/health.ts'
import { deviceStatsArgv } from '../tools/btrfs.ts'
import { deviceErrorCount, parseDeviceStatsJson } from '../tools/btrfs-parse.ts'
import { poolOf } from '../jobs/zfs/health.ts'

/**
 * `deps.pools` for `collectDiskHealth`: the pools the configured jobs use, read the way the jobs' own health
 * checks read them (zfs/health.ts `poolReport`; `btrfs device stats` per mounted filesystem). Undefined when
 * no job uses a pool, so a node without ZFS/Btrfs never runs zpool or btrfs.
 */
export function jobPools(jobs: readonly ResolvedJob[], exec: Exec): (() => Promise<PoolHealth[]>) | undefined {
  const zfsPools = [
    ...new Set(
      jobs.flatMap((j) =>
        j.kind === 'zfs'
          ? // A target over ssh is another host's pool: its health is that host's report, not ours.
            [
              ...j.datasets.map((d) => d.name),
              ...j.targets.filter((t) => t.ssh === undefined).map((t) => t.dataset),
            ].map(poolOf)
          : j.kind === 'zfs-pull' || j.kind === 'zfs-replicas'
            ? [poolOf(j.dataset)]
            : [],
      ),
    ),
  ]
  const btrfsPaths = [
    ...new Set(
      jobs.flatMap((j) =>
        j.kind === 'btrfs'
          ? // A target over ssh is a directory on another host: not read here.
            [j.snapshotDir, ...j.targets.filter((t) => t.ssh === null).map((t) => t.path)]
          : j.kind === 'btrfs-replicas'
            ? [j.path]
            : [],
      ),
    ),
  ]
  if (zfsPools.length === 0 && btrfsPaths.length === 0) {
    return undefined
  }
  return async () => [...(await zfsHealth(exec, zfsPools)), ...(await btrfsHealth(exec, btrfsPaths))].slice(0, 256)
}

async function zfsHealth(exec: Exec, pools: readonly string[]): Promise<PoolHealth[]> {
  const out: PoolHealth[] = []
  for (const pool of pools) {
    const r = await poolReport(exec, pool)
    // Scrub errors and "data errors" are what zpool counts; a pool that is not imported has no counters.
    const errors = (r.status?.scrub.errors ?? 0) + (r.status && !r.status.dataErrors.ok ? 1 : 0)
    out.push({
      kind: 'zfs',
      name: pool.slice(0, 256),
      state: r.health,
      errors,
      ...(r.problems[0] ? { detail: r.problems[0].slice(0, 256) } : {}),
    })
  }
  return out
}

async function btrfsHealth(exec: Exec, paths: readonly string[]): Promise<PoolHealth[]> {
  if (paths.length === 0) {
    return []
  }
  const mounts = await loadMounts(exec)
  const targets = [
    ...new Map(
      paths
        .map((p) => btrfsMountOf(mounts, p))
        .filter((m) => m !== null)
        .map((m) => [m.target, m]),
    ).values(),
  ]
  const out: PoolHealth[] = []
  for (const m of targets) {
    const r = await exec.run(deviceStatsArgv(m.target), { timeoutMs: 60_000 })
    const name = (m.label ?? m.target).slice(0, 256)
    if (!succeeded(r)) {
      out.push({
        kind: 'btrfs',
        name,
        state: 'UNKNOWN',
        errors: 0,
        detail: `device stats unreadable: ${describeFailure(r)}`.slice(0, 256),
      })
      continue
    }
    const errors = parseDeviceStatsJson(r.stdout).reduce((n, d) => n + deviceErrorCount(d), 0)
    out.push({
      kind: 'btrfs',
      name,
      state: 'ONLINE',
      errors,
      ...(errors > 0 ? { detail: `btrfs ${m.target}: device error counters total ${errors}` } : {}),
    })
  }
  return out
}
