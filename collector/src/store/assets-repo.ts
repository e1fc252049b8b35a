import type { InventoryBody } from '@backstop/shared'
import type { Db } from './db.ts'

export interface AssetsRepo {
  /** A full inventory replaces the node's previous one: assets no longer listed stay, marked present = 0. */
  replaceInventory(node: string, inv: InventoryBody): void
}

export function createAssetsRepo(db: Db): AssetsRepo {
  const absent = db.prepare('UPDATE assets SET present = 0 WHERE node = ? AND reported_at < ?')
  // UPDATE-then-INSERT, not UPSERT (see copies-repo.ts: other rooms' triggers on this table use INSERT OR IGNORE).
  const update = db.prepare(`UPDATE assets SET name = @name, covered_by = @coveredBy, present = 1, reported_at = @at
    WHERE node = @node AND asset_kind = @kind AND asset_id = @id AND reported_at <= @at`)
  const insert = db.prepare(`INSERT INTO assets (node, asset_kind, asset_id, name, covered_by, present, reported_at)
    VALUES (@node, @kind, @id, @name, @coveredBy, 1, @at) ON CONFLICT (node, asset_kind, asset_id) DO NOTHING`)
  return {
    replaceInventory: (node, inv) => {
      for (const a of inv.assets) {
        const row = {
          node,
          kind: a.asset.kind,
          id: a.asset.id,
          name: a.asset.name ?? null,
          coveredBy: JSON.stringify(a.coveredBy),
          at: inv.at,
        }
        if (update.run(row).changes === 0) {
          insert.run(row)
        }
      }
      absent.run(node, inv.at)
    },
  }
}
