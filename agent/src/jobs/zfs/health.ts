import type { Location } from '@backstop/shared'
import { succeeded, type Exec } from '../../exec/exec.ts'
import { parseZpoolList, parseZpoolStatus, type PoolHealth, type ZpoolStatus } from '../../tools/zfs-parse.ts'

/** Capacity above which a pool is reported (ZFS slows down sharply when nearly full; sanoid warns at 80). */
export const CAPACITY_WARN_PERCENT = 80

export interface PoolReport {
  readonly pool: string
  /** False when `zpool` does not know the pool (exported, USB disk unplugged, never imported). */
  readonly present: boolean
  readonly health: PoolHealth
  readonly capacityPercent: number | null
  readonly guid: string | null
  readonly status: ZpoolStatus | null
  /** Human-readable problems: degraded state, scrub errors, data errors, capacity. Empty when healthy. */
  readonly problems: readonly string[]
}

/**
 * Health of one pool with every run: state and data errors from `zpool status` (what `-x` flags), the last
 * scrub's state and error count, and capacity from `zpool list`. Two short processes per pool.
 */
export async function poolReport(exec: Exec, pool: string): Promise<PoolReport> {
  const list = await exec.run(['zpool', 'list', '-H', '-o', 'name,size,allocated,free,capacity,health,guid', pool], {
    timeoutMs: 60_000,
  })
  if (!succeeded(list)) {
    return {
      pool,
      present: false,
      health: 'UNAVAIL',
      capacityPercent: null,
      guid: null,
      status: null,
      problems: [`pool ${pool} is not imported: ${list.stderr.trim()}`],
    }
  }
  const row = parseZpoolList(list.stdout)[0]
  const st = await exec.run(['zpool', 'status', pool], { timeoutMs: 60_000 })
  const status = succeeded(st) ? (parseZpoolStatus(st.stdout)[0] ?? null) : null
  const problems: string[] = []
  const health = row?.health ?? 'UNKNOWN'
  if (health !== 'ONLINE') {
    problems.push(`pool ${pool} is ${health}${status?.status ? `: ${status.status}` : ''}`)
  }
  if (status !== null && !status.dataErrors.ok) {
    problems.push(`pool ${pool} reports data errors: ${status.dataErrors.text}`)
  }
  if (status !== null && (status.scrub.errors ?? 0) > 0) {
    problems.push(`pool ${pool}: last scrub found errors (${status.scrub.text})`)
  }
  if (status !== null && status.scrub.state === 'none') {
    problems.push(`pool ${pool} has never been scrubbed; schedule \`zpool scrub ${pool}\``)
  }
  const cap = row?.capacityPercent ?? null
  if (cap !== null && cap >= CAPACITY_WARN_PERCENT) {
    problems.push(`pool ${pool} is ${cap}% full (warning at ${CAPACITY_WARN_PERCENT}%)`)
  }
  return { pool, present: true, health, capacityPercent: cap, guid: row?.guid ?? null, status, problems }
}

/** Where a copy on `pool` lives, down to the vdevs when known (for "copy on a failing disk"). */
export function poolLocation(report: PoolReport | undefined, pool: string): Location {
  const devices = report?.status?.devices ?? []
  const device: NonNullable<Location['device']> = {
    label: pool,
    ...(report?.guid ? { fsUuid: report.guid } : {}),
    ...(devices.length > 0 ? { id: devices.join(',').slice(0, 256) } : {}),
  }
  return { kind: 'zfs-pool', target: pool, device }
}

export const poolOf = (dataset: string): string => dataset.split('/')[0] ?? dataset
