import type { AssetRef } from '@backstop/shared'
import type { Exec } from '../exec/exec.ts'
import { describeFailure, succeeded } from '../exec/exec.ts'
import { BackstopError } from '@backstop/shared'

/**
 * Guest inventory: `pvesh get /cluster/resources --type vm --output-format json` (pvesh(1); API schema
 * pve-manager PVE/API2/Cluster.pm `resources`): one object per guest with `id` ("qemu/100" | "lxc/200"),
 * `type` ("qemu" | "lxc"), `vmid`, `name`, `node`, `status`, `template` (0/1), optional `pool` and `tags`.
 */
export interface ClusterGuest {
  readonly vmid: number
  readonly type: 'qemu' | 'lxc'
  readonly name: string
  readonly node: string
  readonly status: string
  readonly template: boolean
  readonly pool?: string
  readonly tags: readonly string[]
}

export const PVESH_RESOURCES_ARGV = [
  'pvesh',
  'get',
  '/cluster/resources',
  '--type',
  'vm',
  '--output-format',
  'json',
] as const

export function parseClusterResources(json: string): ClusterGuest[] {
  const rows = JSON.parse(json) as unknown
  if (!Array.isArray(rows)) {
    throw new BackstopError(
      'BK_ERR_EXEC_FAILED',
      `pvesh /cluster/resources did not return a JSON array (got ${typeof rows})`,
    )
  }
  return rows.flatMap((r: Record<string, unknown>) => {
    const type = r['type']
    const vmid = Number(r['vmid'])
    if ((type !== 'qemu' && type !== 'lxc') || !Number.isInteger(vmid)) {
      return []
    }
    const g: ClusterGuest = {
      vmid,
      type,
      name: typeof r['name'] === 'string' ? r['name'] : `${type}-${vmid}`,
      node: String(r['node'] ?? ''),
      status: String(r['status'] ?? 'unknown'),
      template: r['template'] === 1 || r['template'] === true,
      // PVE separates tags with ';' (also accepts ',' and spaces on input).
      tags: typeof r['tags'] === 'string' ? r['tags'].split(/[;, ]+/).filter(Boolean) : [],
      ...(typeof r['pool'] === 'string' ? { pool: r['pool'] } : {}),
    }
    return [g]
  })
}

/** `vm/101` for qemu, `ct/200` for lxc: the asset id used by vzdump copies, hooks and inventory alike. */
export function guestAsset(type: 'qemu' | 'lxc', vmid: number, name?: string): AssetRef {
  return {
    kind: type === 'qemu' ? 'vm' : 'ct',
    id: `${type === 'qemu' ? 'vm' : 'ct'}/${vmid}`,
    ...(name ? { name } : {}),
  }
}

/** Guests on `node` (templates excluded: vzdump skips them unless named). */
export async function listGuests(exec: Exec, node: string | null): Promise<ClusterGuest[]> {
  const r = await exec.run(PVESH_RESOURCES_ARGV, { timeoutMs: 60_000 })
  if (!succeeded(r)) {
    throw new BackstopError(
      'BK_ERR_EXEC_FAILED',
      `${describeFailure(r)}; is this a Proxmox VE node (pve-manager installed)?`,
    )
  }
  return parseClusterResources(r.stdout).filter((g) => node === null || g.node === node)
}
