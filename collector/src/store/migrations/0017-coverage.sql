-- Inventory and coverage (collector/src/ledger/coverage.ts): what each node last said about itself (role, mounts,
-- block devices), and the assets an operator marked intentionally unprotected through the API (audited).
CREATE TABLE node_inventory (
  node          TEXT PRIMARY KEY,
  role          TEXT,                           -- agent config `role:`; NULL = not configured (treated as server)
  mounts        TEXT NOT NULL DEFAULT '[]',     -- JSON InventoryBody.mounts
  block_devices TEXT NOT NULL DEFAULT '[]',     -- JSON InventoryBody.blockDevices
  reported_at   TEXT NOT NULL                   -- the inventory's own `at`: an older one changes nothing
) STRICT;

CREATE TABLE asset_exemptions (
  node       TEXT NOT NULL,
  asset_kind TEXT NOT NULL,
  asset_id   TEXT NOT NULL,
  reason     TEXT NOT NULL,
  actor      TEXT NOT NULL,
  at         INTEGER NOT NULL,                  -- epoch ms
  PRIMARY KEY (node, asset_kind, asset_id)
) STRICT, WITHOUT ROWID;
