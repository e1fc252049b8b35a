import { BackstopError, type AssetRef, type InventoryBody } from '@backstop/shared'
import type { Clock } from '../clock.ts'
import { describeFailure, succeeded, type Exec } from '../exec/exec.ts'
import { loadFs, loadMounts } from '../jobs/btrfs/fs.ts'
import type { KindJob } from '../jobs/job.ts'
import type { ResolvedJob } from '../jobs/kinds.ts'
import type { Log } from '../log.ts'
import { guestAsset, listGuests } from '../tools/pvesh.ts'
import { listFilesystems } from '../tools/blkid.ts'
import type { MountInfo } from '../tools/btrfs-parse.ts'
import { listBlockDevices } from '../tools/lsblk.ts'
import { coveringJobs, hostImageAsset, inventoriedKinds, type CoverageFacts } from './coverage.ts'
import { InventoryGaps } from './inventory-gaps.ts'
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
 * the jobs covering it, plus mounts, block devices and ssh keys. A tool that is not installed means the node has
 * none of that kind. A tool that fails leaves only its parts unknown (`incomplete`, inventory-gaps.ts): the
 * collector keeps what it knew of them. A stop while listing throws: nothing half-taken is sent.
 */
export async function collectInventory(d: InventoryDeps): Promise<InventoryBody> {
  const at = d.clock.now().toISOString()
  const gaps = new InventoryGaps()
  const mounts = await gaps.attempt(['mounts', 'btrfs-subvolume'], () => loadMounts(d.exec))
  const assets = new Map<string, AssetRef>()
  const add = (a: AssetRef): void => {
    if (!assets.has(`${a.kind}\0${a.id}`)) {
      assets.set(`${a.kind}\0${a.id}`, a)
    }
  }
  for (const id of (await gaps.attempt(['zfs-dataset'], () => zfsDatasets(d.exec))) ?? []) {
    add({ kind: 'zfs-dataset', id })
  }
  for (const path of await btrfsSubvolumes(d.exec, mounts ?? [], gaps)) {
    add({ kind: 'btrfs-subvolume', id: path })
  }
  const guestPools = new Map<string, string>()
  for (const g of (await gaps.attempt(['vm', 'ct'], () => proxmoxGuests(d))) ?? []) {
    const a = guestAsset(g.type, g.vmid, g.name)
    add(a)
    if (g.pool !== undefined) {
      guestPools.set(a.id, g.pool)
    }
  }
  add(hostImageAsset(d.host))
  // What each job itself says it could see (its own file set, its host image, assets of its kind).
  for (const job of d.jobs) {
    const cfg = d.configs.find((c) => c.name === job.name)
    const kinds = cfg === undefined ? [] : inventoriedKinds(cfg)
    for (const a of (await gaps.attempt(kinds, () => job.inventory(jobContext(d, job)))) ?? []) {
      add(a)
    }
  }
  const blockDevices = await gaps.attempt(['blockDevices'], () => listBlockDevicesProbed(d.exec))
  const sshKeys =
    d.sshKeys === undefined ? null : await gaps.attempt(['sshKeys'], () => sshKeyFacts(d.exec, d.sshKeys!))
  d.signal.throwIfAborted()
  const facts: CoverageFacts = { host: d.host, guestPools }
  const incomplete = gaps.list()
  return {
    at,
    ...(d.role !== undefined ? { role: d.role } : {}),
    ...(incomplete.length > 0 ? { incomplete } : {}),
    assets: [...assets.values()]
      .sort((a, b) => a.kind.localeCompare(b.kind) || a.id.localeCompare(b.id))
      .map((asset) => ({ asset, coveredBy: coveringJobs(d.configs, asset, facts) })),
    ...(mounts !== null ? { mounts: inventoryMounts(mounts) } : {}),
    ...(blockDevices !== null ? { blockDevices } : {}),
    ...(sshKeys !== null ? { sshKeys } : {}),
  }
}

/** Subvolumes that are not read-only (those are snapshots: copies, not assets) of every mounted btrfs. */
async function btrfsSubvolumes(exec: Exec, mounts: readonly MountInfo[], gaps: InventoryGaps): Promise<string[]> {
  const out: string[] = []
  for (const m of mounts.filter((x) => x.fstype === 'btrfs')) {
    const fs = await gaps.attempt(['btrfs-subvolume'], () => loadFs(exec, m))
    for (const [path, sv] of fs?.byPath ?? []) {
      if (!fs!.readonlyUuids.has(sv.uuid)) {
        out.push(path)
      }
    }
  }
  return out
}

/** Without udev lsblk knows no filesystem UUID at all: then blkid probes them (a plugged-in stick is named by it). */
async function listBlockDevicesProbed(exec: Exec): Promise<NonNullable<InventoryBody['blockDevices']>> {
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
