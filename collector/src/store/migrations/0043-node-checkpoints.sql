-- Checkpoints (docs/reliability.md): per node, the highest seq contained in the collector's newest verified
-- backup, as last published on backstop/v1/<node>/checkpoint. A restored database carries the row of the backup
-- before it (never higher than what the restored database holds), so the agents resend the rest.
CREATE TABLE node_checkpoints (
  node TEXT PRIMARY KEY,
  covered_seq INTEGER NOT NULL,          -- highest seq of the node in the newest verified backup
  backup_taken_at TEXT NOT NULL,         -- ISO 8601 UTC, when that backup was taken
  backup_path TEXT NOT NULL,             -- where that backup was written (for the operator, not read back)
  updated_at TEXT NOT NULL               -- ISO 8601 UTC, when the collector recorded it
) STRICT;
