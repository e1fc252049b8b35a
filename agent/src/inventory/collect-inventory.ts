import { BackstopError, type AssetRef, type InventoryBody } from '@backstop/shared'
import type { Clock } from '../clock.ts'
import { describeFailure, succeeded, type Exec } from '../exec/exec.ts'
import { loadFs, loadMounts } from '../jobs/btrfs/fs.ts'
import type { KindJob } from '../jobs/job.ts'
import type { ResolvedJob } from '../jobs/kinds.ts'
import type { Log } from '../log.ts'
import { guestAsset, listGuests } from '../tools/pvesh.ts'
import { listFilesystems } from '../tools/blkid.ts'
import { listBlockDevices } from '../tools/lsblk.ts'
import { coveringJobs, hostImageAsset, type CoverageFacts } from './coverage.ts'
import { inventoryBlockDevices, inventoryMounts, parseZfsNames } from './inventory-parse.ts'
import { sshKeyFacts, type SshKeyPaths } from './ssh-logins.ts'

export interface InventoryDeps {
  readonly exec: Exec
  readonly clock: Clock
  readonly log: Log
  readonly node: string
  /** Short hostname (rear's and vzdump's default). */
  readonly host: string
  readonly stateDir: string
  readonly role: string | undefined
  readonly configs: readonly ResolvedJob[]
  readonly jobs: readonly KindJob[]
  readonly signal: AbortSignal
  /** Absent: no ssh key facts in the inventory. */
  readonly sshKeys?: SshKeyPaths
}

export const ZFS_LIST_ARGV = ['zfs', 'list', '-H', '-o', 'name', '-t', 'filesystem,volume'] as const

/** zfs utilities installed without a loaded module (or without /dev/zfs): no datasets, not a failure. */
const ZFS_ABSENT = /modules are not loaded|\/dev\/zfs|no datasets available/i

/**
 * One full inventory: every dataset, btrfs subvolume, Proxmox guest and the node's bare-metal image, each with
 * the jobs covering it, plus mounts and block devices. A tool that is not installed means the node has none of
 * that kind; a tool that fails throws, because a partial inventory would tell the collector assets are gone.
 */
export async function collectInventory(d: InventoryDeps): Promise<InventoryBody> {
  const at = d.clock.now().toISOString()
  const mounts = await loadMounts(d.exec)
  const assets = new Map<string, AssetRef>()
  const add = (a: AssetRef): void => {
    if (!assets.has(`${a.kind}\0${a.id}`)) {
      assets.set(`${a.kind}\0${a.id}`, a)
    }
  }
  for (const id of await zfsDatasets(d.exec)) {
    add({ kind: 'zfs-dataset', id })
  }
  for (const m of mounts.filter((x) => x.fstype === 'btrfs')) {
    const fs = await loadFs(d.exec, m)
    for (const [path, sv] of fs.byPath) {
      // Read-only subvolumes are snapshots: copies, not assets.
      if (!fs.readonlyUuids.has(sv.uuid)) {
        add({ kind: 'btrfs-subvolume', id: path })
      }
    }
  }
  const guestPools = new Map<string, string>()
  for (const g of await proxmoxGuests(d)) {
    const a = guestAsset(g.type, g.vmid, g.name)
    add(a)
    if (g.pool !== undefined) {
      guestPools.set(a.id, g.pool)
    }
  }
  add(hostImageAsset(d.host))
  // What each job itself says it could see (its own file set, its host image, assets of its kind).
  for (const job of d.jobs) {
    for (const a of await job.inventory(jobContext(d, job))) {
      add(a)
    }
  }
  const facts: CoverageFacts = { host: d.host, guestPools }
  return {
    at,
    ...(d.role !== undefined ? { role: d.role } : {}),
    assets: [...assets.values()]
      .sort((a, b) => a.kind.localeCompare(b.kind) || a.id.localeCompare(b.id))
      .map((asset) => ({ asset, coveredBy: coveringJobs(d.configs, asset, facts) })),
    mounts: inventoryMounts(mounts),
    blockDevices: await blockDevices(d.exec),
    ...(d.sshKeys !== undefined ? { sshKeys: await sshKeyFacts(d.exec, d.sshKeys) } : {}),
  }
}

/** Without udev lsblk knows no filesystem UUID at all: then blkid probes them (a plugged-in stick is named by it). */
async function blockDevices(exec: Exec): Promise<InventoryBody['blockDevices']> {
  const devices = await listBlockDevices(exec)
  // A refinement: a host without blkid still reports its disks.
  const probed =
    devices.length > 0 && devices.every((x) => x.uuid === null) ? await listFilesystems(exec).catch(() => []) : []
  return inventoryBlockDevices(devices, probed)
}

async function zfsDatasets(exec: Exec): Promise<string[]> {
  const r = await absentIfNotInstalled(() => exec.run([...ZFS_LIST_ARGV], { timeoutMs: 120_000 }))
  if (r === null || (!succeeded(r) && ZFS_ABSENT.test(r.stderr))) {
    return []
  }
  if (!succeeded(r)) {
    throw new BackstopError('BK_ERR_EXEC_FAILED', `inventory: ${describeFailure(r)}`)
  }
  return parseZfsNames(r.stdout)
}

/**
 * Guests only on Proxmox VE: without pvesh the node has none. This node's guests are those on its PVE node name
 * (the hostname, or a vzdump job's `pveNode`). Templates are not backed up (vzdump skips them).
 */
async function proxmoxGuests(d: InventoryDeps) {
  const names = new Set([d.host, ...d.configs.flatMap((j) => (j.kind === 'vzdump' && j.pveNode ? [j.pveNode] : []))])
  const guests = (await absentIfNotInstalled(() => listGuests(d.exec, null))) ?? []
  return guests.filter((g) => names.has(g.node) && !g.template)
}

async function absentIfNotInstalled<T>(run: () => Promise<T>): Promise<T | null> {
  try {
    return await run()
  } catch (e) {
    if (e instanceof BackstopError && e.code === 'BK_ERR_EXEC_SPAWN') {
      return null
    }
    throw e
  }
}

function jobContext(d: InventoryDeps, job: KindJob) {
  return {
    node: d.node,
    runId: `inventory-${job.name}`,
    trigger: 'schedule' as const,
    exec: d.exec,
    clock: d.clock,
    log: d.log.child({ job: job.name }),
    signal: d.signal,
    stateDir: d.stateDir,
    progress: () => undefined,
  }
}
