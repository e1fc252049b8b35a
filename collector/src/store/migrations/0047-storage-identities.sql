-- Storage identities stored once (issue 14, bench/collector-growth.ts): every copy on a pool or disk carried the same
-- StorageIdentity JSON (~185 bytes), a third of a `copies` row, and an hourly-snapshot fleet writes ~470 rows a node
-- a day that the tombstone window keeps for 90 days. Copies now point at one row per distinct identity. The rows are
-- never pruned: there are a few per storage location, a new one only when what the agent probes changes.
CREATE TABLE storage_identities (
  id    INTEGER PRIMARY KEY,
  json  TEXT NOT NULL UNIQUE   -- JSON StorageIdentity as the agent reported it
) STRICT;
INSERT OR IGNORE INTO storage_identities (json) SELECT DISTINCT storage FROM copies WHERE storage IS NOT NULL;
ALTER TABLE copies ADD COLUMN storage_id INTEGER;  -- storage_identities.id; NULL from agents that do not probe
UPDATE copies SET storage_id = (SELECT s.id FROM storage_identities s WHERE s.json = copies.storage)
  WHERE storage IS NOT NULL;
ALTER TABLE copies DROP COLUMN storage;
