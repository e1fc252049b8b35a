import type { InventoryBody } from '@backstop/shared'
import type { Db } from './db.ts'

export interface AssetsRepo {
  /** A full inventory replaces the node's previous one: assets no longer listed stay, marked present = 0. */
  replaceInventory(node: string, inv: InventoryBody): void
}

export function createAssetsRepo(db: Db): AssetsRepo {
  const absent = db.prepare('UPDATE assets SET present = 0 WHERE node = ? AND reported_at < ?')
  const upsert = db.prepare(`INSERT INTO assets (node, asset_kind, asset_id, name, covered_by, present, reported_at)
    VALUES (@node, @kind, @id, @name, @coveredBy, 1, @at)
    ON CONFLICT (node, asset_kind, asset_id) DO UPDATE SET name = excluded.name, covered_by = excluded.covered_by,
      present = 1, reported_at = excluded.reported_at
    WHERE excluded.reported_at >= assets.reported_at`)
  return {
    replaceInventory: (node, inv) => {
      for (const a of inv.assets) {
        upsert.run({ node, kind: a.asset.kind, id: a.asset.id, name: a.asset.name ?? null, coveredBy: JSON.stringify(a.coveredBy), at: inv.at })
      }
      absent.run(node, inv.at)
    },
  }
}
