import { assetKinds, type InventoryBody, type InventoryPart } from '@backstop/shared'
import type { Db } from './db.ts'
import { prepareAssetsOnMedium, type AssetKey } from './ledger-assets-repo.ts'

export interface InventoryTouched {
  readonly assetKind: string
  readonly assetId: string
}

export interface AssetsRepo {
  /**
   * A full inventory replaces the node's previous one: assets no longer listed stay, marked present = 0. Parts the
   * agent could not list (`incomplete`: an asset kind, or mounts / block devices / ssh keys) keep what the previous
   * inventory said. Returns every asset row it wrote (listed ones, and older ones it marked absent), for the
   * ledger's coverage check.
   */
  replaceInventory(node: string, inv: InventoryBody): InventoryTouched[]
  /**
   * Assets of any node with copies on a medium this inventory plugged in or pulled out (a filesystem UUID among its
   * block devices that the node's previous inventory did not list, or the reverse): their offline claim changes.
   * Call before replaceInventory.
   */
  assetsOnMovedMedia(node: string, inv: InventoryBody): AssetKey[]
  /**
   * When this inventory changes which ssh keys may log in to the node or which it holds: the assets whose pulled
   * replicas it holds, and its own assets (replicas of them elsewhere may gain or lose their login). Call before
   * replaceInventory.
   */
  assetsOnChangedLogins(node: string, inv: InventoryBody): AssetKey[]
}

export function createAssetsRepo(db: Db): AssetsRepo {
  // The third parameter: a JSON array of the asset kinds this inventory could not list (their rows stay as they were).
  const absent = db.prepare<[string, string, string], { asset_kind: string; asset_id: string }>(
    `UPDATE assets SET present = 0 WHERE node = ? AND reported_at < ?
      AND asset_kind NOT IN (SELECT value FROM json_each(?)) RETURNING asset_kind, asset_id`,
  )
  // UPDATE-then-INSERT: an inventory older than the stored row (reported_at) changes neither.
  const update = db.prepare(`UPDATE assets SET name = @name, covered_by = @coveredBy, present = 1, reported_at = @at
    WHERE node = @node AND asset_kind = @kind AND asset_id = @id AND reported_at <= @at`)
  const insert = db.prepare(`INSERT INTO assets (node, asset_kind, asset_id, name, covered_by, present, reported_at)
    VALUES (@node, @kind, @id, @name, @coveredBy, 1, @at) ON CONFLICT (node, asset_kind, asset_id) DO NOTHING`)
  // What the node says about itself (role, mounts, disks) beside its assets: the coverage rules read the role.
  // A fact given as NULL is one the agent could not list: the stored one stays ('[]' / '{}' before any).
  const nodeInventory = db.prepare(`INSERT INTO node_inventory (node, role, mounts, block_devices, ssh_keys,
    incomplete, reported_at) VALUES (@node, @role, coalesce(@mounts, '[]'), coalesce(@blockDevices, '[]'),
    coalesce(@sshKeys, '{}'), @incomplete, @at) ON CONFLICT (node) DO UPDATE SET role = @role,
    mounts = coalesce(@mounts, mounts), block_devices = coalesce(@blockDevices, block_devices),
    ssh_keys = coalesce(@sshKeys, ssh_keys), incomplete = @incomplete, reported_at = @at
    WHERE reported_at <= @at`)
  const previous = db.prepare<[string], { block_devices: string; ssh_keys: string; reported_at: string }>(
    'SELECT block_devices, ssh_keys, reported_at FROM node_inventory WHERE node = ?',
  )
  const heldOrOwned = db.prepare<[string, string], AssetKey>(`SELECT DISTINCT node, asset_kind AS kind,
    asset_id AS id FROM copies WHERE held_by = ? AND deleted_at IS NULL
    UNION SELECT node, asset_kind, asset_id FROM ledger_assets WHERE node = ?`)
  const onMedium = prepareAssetsOnMedium(db)
  return {
    assetsOnMovedMedia: (node, inv) => {
      const before = previous.get(node)
      if ((before !== undefined && before.reported_at > inv.at) || unknown(inv, 'blockDevices')) {
        return []
      }
      const was = mediaOf(JSON.parse(before?.block_devices ?? '[]') as InventoryBody['blockDevices'])
      const now = mediaOf(inv.blockDevices)
      const moved = [...was, ...now].filter((u) => was.has(u) !== now.has(u))
      return [...new Set(moved)].flatMap(onMedium)
    },
    assetsOnChangedLogins: (node, inv) => {
      const before = previous.get(node)
      if ((before !== undefined && before.reported_at > inv.at) || unknown(inv, 'sshKeys')) {
        return []
      }
      const same = before !== undefined && before.ssh_keys === JSON.stringify(inv.sshKeys ?? {})
      return same ? [] : heldOrOwned.all(node, node)
    },
    replaceInventory: (node, inv) => {
      const touched: InventoryTouched[] = []
      // An omitted fact the agent did not call unknown is one it does not report (an older agent): stored empty.
      const fact = (part: InventoryPart, value: unknown, none: string): string | null =>
        unknown(inv, part) ? null : value === undefined ? none : JSON.stringify(value)
      nodeInventory.run({
        node,
        role: inv.role ?? null,
        mounts: fact('mounts', inv.mounts, '[]'),
        blockDevices: fact('blockDevices', inv.blockDevices, '[]'),
        sshKeys: fact('sshKeys', inv.sshKeys, '{}'),
        incomplete: JSON.stringify(inv.incomplete ?? []),
        at: inv.at,
      })
      for (const a of inv.assets) {
        const row = {
          node,
          kind: a.asset.kind,
          id: a.asset.id,
          name: a.asset.name ?? null,
          coveredBy: JSON.stringify(a.coveredBy),
          at: inv.at,
        }
        if (update.run(row).changes === 1 || insert.run(row).changes === 1) {
          touched.push({ assetKind: row.kind, assetId: row.id })
        }
      }
      const unknownKinds = (inv.incomplete ?? []).map((i) => i.part).filter((p) => isAssetKind(p))
      for (const r of absent.all(node, inv.at, JSON.stringify(unknownKinds))) {
        touched.push({ assetKind: r.asset_kind, assetId: r.asset_id })
      }
      return touched
    },
  }
}

function unknown(inv: InventoryBody, part: InventoryPart): boolean {
  return (inv.incomplete ?? []).some((i) => i.part === part)
}

function isAssetKind(part: InventoryPart): boolean {
  return (assetKinds as readonly string[]).includes(part)
}

function mediaOf(devices: InventoryBody['blockDevices']): Set<string> {
  return new Set((devices ?? []).flatMap((d) => (d.uuid ? [d.uuid.toLowerCase()] : [])))
}
