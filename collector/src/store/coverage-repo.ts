import type { InventoryBody } from '@backstop/shared'
import type { Db } from './db.ts'
import { createLedgerChangesRepo } from './ledger-changes-repo.ts'

export interface AssetSelector {
  readonly node: string
  readonly kind: string
  readonly id: string
}

/** An asset an operator marked intentionally unprotected: no coverage-gap alert, shown with its reason. */
export interface Exemption {
  readonly reason: string
  readonly actor: string
  readonly at: number
}

/** One asset of a node's last inventory, as the coverage view shows it. */
export interface InventoryAssetRow {
  readonly kind: string
  readonly id: string
  readonly name: string | null
  readonly coveredBy: string[]
  readonly present: boolean
  readonly exemption: Exemption | null
}

export interface NodeInventoryRow {
  readonly role: string | null
  readonly mounts: NonNullable<InventoryBody['mounts']>
  readonly blockDevices: NonNullable<InventoryBody['blockDevices']>
  /** What the last inventory could not list (its tool failed): those parts show the last known state. */
  readonly incomplete: NonNullable<InventoryBody['incomplete']>
  readonly reportedAt: string
}

export interface CoverageRepo {
  /** What the node's last inventory said about itself; undefined before its first inventory. */
  node(node: string): NodeInventoryRow | undefined
  /** Every asset the node's inventories listed (absent ones too), with coverage and exemption. */
  assets(node: string): InventoryAssetRow[]
  /** Whether any inventory listed the asset. */
  listed(a: AssetSelector): boolean
  exemption(a: AssetSelector): Exemption | undefined
  /** Marks or re-marks the asset intentionally unprotected and queues its coverage check. */
  exempt(a: AssetSelector, e: Exemption): void
  /** Removes the mark (false when there was none) and queues the coverage check. */
  unexempt(a: AssetSelector): boolean
}

type AssetDbRow = { asset_kind: string; asset_id: string; name: string | null; covered_by: string; present: number }
type ExemptionDbRow = { reason: string; actor: string; at: number }

export function createCoverageRepo(db: Db): CoverageRepo {
  const changes = createLedgerChangesRepo(db)
  const nodeRow = db.prepare<
    [string],
    { role: string | null; mounts: string; block_devices: string; incomplete: string; reported_at: string }
  >('SELECT role, mounts, block_devices, incomplete, reported_at FROM node_inventory WHERE node = ?')
  const assetRows = db.prepare<[string], AssetDbRow>(
    `SELECT asset_kind, asset_id, name, covered_by, present FROM assets WHERE node = ? ORDER BY asset_kind, asset_id`,
  )
  const listedRow = db.prepare<[string, string, string], { n: number }>(
    'SELECT 1 AS n FROM assets WHERE node = ? AND asset_kind = ? AND asset_id = ?',
  )
  const exemptionRow = db.prepare<[string, string, string], ExemptionDbRow>(
    'SELECT reason, actor, at FROM asset_exemptions WHERE node = ? AND asset_kind = ? AND asset_id = ?',
  )
  const exemptionsOf = db.prepare<[string], ExemptionDbRow & { asset_kind: string; asset_id: string }>(
    'SELECT asset_kind, asset_id, reason, actor, at FROM asset_exemptions WHERE node = ?',
  )
  const upsert = db.prepare(`INSERT INTO asset_exemptions (node, asset_kind, asset_id, reason, actor, at)
    VALUES (@node, @kind, @id, @reason, @actor, @at)
    ON CONFLICT (node, asset_kind, asset_id) DO UPDATE SET reason = @reason, actor = @actor, at = @at`)
  const remove = db.prepare('DELETE FROM asset_exemptions WHERE node = ? AND asset_kind = ? AND asset_id = ?')
  const recheck = (a: AssetSelector): void =>
    changes.mark({ kind: 'inventory', node: a.node, assetKind: a.kind, assetId: a.id })
  return {
    node(node) {
      const r = nodeRow.get(node)
      return r === undefined
        ? undefined
        : {
            role: r.role,
            mounts: JSON.parse(r.mounts) as NodeInventoryRow['mounts'],
            blockDevices: JSON.parse(r.block_devices) as NodeInventoryRow['blockDevices'],
            incomplete: JSON.parse(r.incomplete) as NodeInventoryRow['incomplete'],
            reportedAt: r.reported_at,
          }
    },
    assets(node) {
      const ex = new Map(exemptionsOf.all(node).map((e) => [`${e.asset_kind}\0${e.asset_id}`, e]))
      return assetRows.all(node).map((r) => {
        const e = ex.get(`${r.asset_kind}\0${r.asset_id}`)
        return {
          kind: r.asset_kind,
          id: r.asset_id,
          name: r.name,
          coveredBy: JSON.parse(r.covered_by) as string[],
          present: r.present === 1,
          exemption: e === undefined ? null : { reason: e.reason, actor: e.actor, at: e.at },
        }
      })
    },
    listed: (a) => listedRow.get(a.node, a.kind, a.id) !== undefined,
    exemption: (a) => exemptionRow.get(a.node, a.kind, a.id),
    exempt(a, e) {
      db.transaction(() => {
        upsert.run({ node: a.node, kind: a.kind, id: a.id, reason: e.reason, actor: e.actor, at: e.at })
        recheck(a)
      })()
    },
    unexempt(a) {
      return db.transaction(() => {
        const gone = remove.run(a.node, a.kind, a.id).changes === 1
        if (gone) {
          recheck(a)
        }
        return gone
      })()
    },
  }
}
