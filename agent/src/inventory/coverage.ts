import type { AssetKind, AssetRef } from '@backstop/shared'
import type { ResolvedJob } from '../jobs/kinds.ts'
import { coversGuest } from '../jobs/vzdump/vzdump-job.ts'

/** What the coverage rules need to know about the node beyond the asset itself. */
export interface CoverageFacts {
  /** Short hostname: the rear image's asset is `host/<rearHostname ?? host>`. */
  readonly host: string
  /** Proxmox pool of each guest asset id (`vm/101` → `prod`), for vzdump jobs that select by pool. */
  readonly guestPools: ReadonlyMap<string, string>
}

/** The bare-metal image of a node: the asset a rear job protects, listed even when no rear job exists. */
export function hostImageAsset(host: string): AssetRef {
  return { kind: 'host-image', id: `host/${host}`, name: host }
}

/**
 * Whether job `cfg` protects `asset` — the same selection the job's run uses, so the collector's coverage view
 * matches what the next run will back up. One case per job kind; a new kind does not compile until it has one.
 */
export function jobCovers(cfg: ResolvedJob, asset: AssetRef, facts: CoverageFacts): boolean {
  switch (cfg.kind) {
    case 'archive':
    case 'restic':
      return asset.kind === 'file-set' && asset.id === `fileset:${cfg.name}`
    case 'zfs':
      return (
        asset.kind === 'zfs-dataset' &&
        cfg.datasets.some((d) => asset.id === d.name || (d.recursive && asset.id.startsWith(`${d.name}/`)))
      )
    case 'btrfs':
      return asset.kind === 'btrfs-subvolume' && cfg.subvolumes.some((s) => s.path === asset.id)
    case 'zfs-pull':
    case 'zfs-replicas':
    case 'btrfs-replicas':
      // It protects (or prunes) another node's datasets: nothing on this node is covered by it.
      return false
    case 'vzdump': {
      const m = /^(?:vm|ct)\/(\d+)$/.exec(asset.id)
      if ((asset.kind !== 'vm' && asset.kind !== 'ct') || m === null) {
        return false
      }
      return coversGuest(cfg, { vmid: Number(m[1]), pool: facts.guestPools.get(asset.id) })
    }
    case 'rear':
      return asset.kind === 'host-image' && asset.id === hostImageAsset(cfg.rearHostname ?? facts.host).id
    default: {
      const never: never = cfg
      throw new Error(`no coverage rule for job kind ${JSON.stringify(never)}`)
    }
  }
}

/** The names of the jobs covering `asset`, sorted (stable for the change hash). */
export function coveringJobs(jobs: readonly ResolvedJob[], asset: AssetRef, facts: CoverageFacts): string[] {
  return jobs
    .filter((j) => jobCovers(j, asset, facts))
    .map((j) => j.name)
    .sort()
}

/** The kinds of asset a job's own inventory lists: what is unknown when that inventory fails. */
export function inventoriedKinds(cfg: ResolvedJob): AssetKind[] {
  switch (cfg.kind) {
    case 'archive':
    case 'restic':
      return ['file-set']
    case 'zfs':
      return ['zfs-dataset']
    case 'btrfs':
      return ['btrfs-subvolume']
    case 'vzdump':
      return ['vm', 'ct']
    case 'rear':
      return ['host-image']
    case 'zfs-pull':
    case 'zfs-replicas':
    case 'btrfs-replicas':
      return []
    default: {
      const never: never = cfg
      throw new Error(`no inventoried kinds for job kind ${JSON.stringify(never)}`)
    }
  }
}
