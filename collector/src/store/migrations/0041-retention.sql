-- Retention (docs/reliability.md "Retention"), migration 0041.

-- A re-enrollment with a new key starts a new agent epoch (seqs from 1 again): events with id < epoch_from_id
-- belong to an older epoch, and pruning them must not move the new epoch's forgotten_through.
ALTER TABLE node_high_water ADD COLUMN epoch_from_id INTEGER NOT NULL DEFAULT 0;

-- Tombstones are found by age without scanning the live copies, and "has the asset a live copy?" is one lookup,
-- not a walk over its tombstones (quadratic: 20000 tombstones of one asset took 15 s to prune without it).
CREATE INDEX copies_deleted_at ON copies (deleted_at) WHERE deleted_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS copies_live ON copies (node, asset_kind, asset_id) WHERE deleted_at IS NULL;
-- Alert flips are pruned by age.
CREATE INDEX alert_flips_at ON alert_flips (at);

-- Sealed audit segments: entries from_seq..to_seq were exported to `file` (signed: the entries and the chain head)
-- and then removed from audit_log; the chain in the database continues from head_hash. Never deleted.
CREATE TABLE audit_segments (
  from_seq   INTEGER PRIMARY KEY,
  to_seq     INTEGER NOT NULL,
  prev_hash  TEXT NOT NULL,              -- hash of entry from_seq - 1 (the genesis hash for the first segment)
  head_hash  TEXT NOT NULL,              -- hash of entry to_seq
  file       TEXT NOT NULL,              -- where the segment was written
  sha256     TEXT NOT NULL,              -- of the file's bytes
  sealed_at  TEXT NOT NULL               -- ISO 8601 UTC
) STRICT;

-- The collector host's own disk (the file system of dataDir), sampled hourly for the fill forecast (store/upkeep.ts);
-- pruned with retention.diskSamplesDays.
CREATE TABLE collector_disk_samples (
  at          TEXT PRIMARY KEY,          -- ISO 8601 UTC
  used_bytes  INTEGER NOT NULL,
  size_bytes  INTEGER NOT NULL
) STRICT;

-- audit_log stays append-only, except for entries a recorded segment holds (sealed, exported, signed first).
DROP TRIGGER audit_log_no_delete;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
WHEN NOT EXISTS (SELECT 1 FROM audit_segments s WHERE OLD.seq BETWEEN s.from_seq AND s.to_seq)
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: only entries of a recorded sealed segment may be removed'); END;
CREATE TRIGGER audit_segments_no_update BEFORE UPDATE ON audit_segments
BEGIN SELECT RAISE(ABORT, 'audit_segments is append-only'); END;
CREATE TRIGGER audit_segments_no_delete BEFORE DELETE ON audit_segments
BEGIN SELECT RAISE(ABORT, 'audit_segments is append-only'); END;
