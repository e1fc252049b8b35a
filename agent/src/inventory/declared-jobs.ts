import { createHash } from 'node:crypto'
import type { AssetRef, DeclaredJob, InventoryBody, JobsDeclaredBody } from '@backstop/shared'
import type { Clock } from '../clock.ts'
import { kindOps, type ResolvedJob } from '../jobs/kinds.ts'
import type { Log } from '../log.ts'
import { hostImageAsset } from './coverage.ts'

/**
 * The assets a job names in its config, without probing. Jobs that select by probing (vzdump by pool or `all`,
 * recursive ZFS children) get the rest from the inventory's `coveredBy`.
 */
export function configuredAssets(cfg: ResolvedJob, host: string): AssetRef[] {
  switch (cfg.kind) {
    case 'archive':
    case 'restic':
      return [{ kind: 'file-set', id: `fileset:${cfg.name}` }]
    case 'zfs':
      return cfg.datasets.map((d) => ({ kind: 'zfs-dataset', id: d.name }))
    case 'btrfs':
      return cfg.subvolumes.map((s) => ({ kind: 'btrfs-subvolume', id: s.path }))
    case 'zfs-pull':
    case 'zfs-replicas':
    case 'btrfs-replicas':
      // The source nodes' assets: declaring them here would make them this node's (ids are per node).
      return []
    case 'vzdump':
      // A guest id alone does not say VM or container: the inventory (pvesh) does.
      return []
    case 'rear':
      return [hostImageAsset(cfg.rearHostname ?? host)]
    default: {
      const never: never = cfg
      throw new Error(`no declared assets for job kind ${JSON.stringify(never)}`)
    }
  }
}

function targetsOf(cfg: ResolvedJob): string[] {
  const ops = kindOps[cfg.kind] as { targets(c: ResolvedJob): ReturnType<(typeof kindOps)['zfs']['targets']> }
  const names = ops.targets(cfg).map((t) => ('zfs' in t ? `zfs:${t.zfs}` : t.path))
  return [...new Set(names)]
}

/** The node's full job list as declared to the collector; `inventory` adds the assets found by probing. */
export function declareJobs(
  configs: readonly ResolvedJob[],
  host: string,
  inventory: InventoryBody | null,
  at: Date,
): JobsDeclaredBody {
  const jobs: DeclaredJob[] = configs
    .map((cfg) => {
      const assets = new Map<string, AssetRef>()
      for (const a of configuredAssets(cfg, host)) {
        assets.set(`${a.kind}\0${a.id}`, a)
      }
      for (const a of inventory?.assets ?? []) {
        if (a.coveredBy.includes(cfg.name) && !assets.has(`${a.asset.kind}\0${a.asset.id}`)) {
          assets.set(`${a.asset.kind}\0${a.asset.id}`, { kind: a.asset.kind, id: a.asset.id })
        }
      }
      return {
        name: cfg.name,
        kind: cfg.kind,
        ...(cfg.schedule !== null ? { schedule: cfg.schedule.cron, timezone: cfg.schedule.timezone } : {}),
        assets: [...assets.values()].sort((a, b) => a.kind.localeCompare(b.kind) || a.id.localeCompare(b.id)),
        targets: targetsOf(cfg),
      }
    })
    .sort((a, b) => a.name.localeCompare(b.name))
  return { at: at.toISOString(), hash: createHash('sha256').update(JSON.stringify(jobs)).digest('hex'), jobs }
}

export interface JobsDeclarerDeps {
  readonly configs: readonly ResolvedJob[]
  readonly host: string
  /** runtime.emit('jobs.declared', body): resolves once the event is durable. */
  readonly emit: (body: JobsDeclaredBody) => Promise<unknown>
  readonly clock: Clock
  readonly log: Log
}

/**
 * Sends the declaration on daemon start (config assets only) and again whenever an inventory changes what the
 * jobs cover. The config is read once per daemon process (no reload), so a config change arrives with the restart.
 * Never rejects: a declaration that could not be appended is retried with the next inventory.
 */
export function createJobsDeclarer(d: JobsDeclarerDeps): { declare(inventory: InventoryBody | null): Promise<void> } {
  const log = d.log.child({ component: 'jobs-declared' })
  let lastHash: string | null = null
  let withInventory = false
  let known: InventoryBody | null = null
  return {
    async declare(inventory) {
      // The start declaration must not replace one that already carries the inventory's assets.
      if (inventory === null && withInventory) {
        return
      }
      known = inventory === null ? known : withUnknownKept(known, inventory)
      const body = declareJobs(d.configs, d.host, known, d.clock.now())
      if (body.hash === lastHash) {
        return
      }
      try {
        await d.emit(body)
        lastHash = body.hash
        withInventory ||= inventory !== null
        log.info({ jobs: body.jobs.length, hash: body.hash }, 'jobs declared')
      } catch (e) {
        log.error({ err: e }, 'could not append the jobs declaration; next try with the next inventory')
      }
    },
  }
}

/**
 * `current`, plus the assets `previous` listed of the kinds `current` could not list (its `incomplete` parts): a
 * `zfs list` that failed once does not mean a job stopped selecting its recursive children, so the declaration
 * keeps them rather than flap between two lists.
 */
export function withUnknownKept(previous: InventoryBody | null, current: InventoryBody): InventoryBody {
  const unknown = new Set((current.incomplete ?? []).map((i) => i.part))
  const listed = new Set(current.assets.map((a) => `${a.asset.kind}\0${a.asset.id}`))
  const kept = (previous?.assets ?? []).filter(
    (a) => unknown.has(a.asset.kind) && !listed.has(`${a.asset.kind}\0${a.asset.id}`),
  )
  return kept.length === 0 ? current : { ...current, assets: [...current.assets, ...kept] }
}
