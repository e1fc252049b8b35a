-- Idempotency without keeping every raw event (docs/reliability.md "Duplicates"): per node, the highest committed
-- seq and its msgId, updated by the ingest in the transaction that applies the event. A message is a duplicate when
-- its msgId is still in `events` (the msgId window), or when its seq is at or below `forgotten_through`: the events
-- of those seqs were pruned by retention, so their msgIds can no longer be compared. The checkpoints read `seq` as
-- "per node, highest committed seq" (also in a backup copy of the database).
CREATE TABLE node_high_water (
  node              TEXT PRIMARY KEY,
  seq               INTEGER NOT NULL,    -- highest seq of the node ever committed (durable kinds; seq >= 1)
  msg_id            TEXT NOT NULL,       -- the msgId of that seq
  updated_at        TEXT NOT NULL,       -- ISO 8601 UTC, receipt time of that event
  forgotten_through INTEGER NOT NULL DEFAULT 0 -- retention pruned the events of this node with seq <= this
) STRICT;

-- SQLite takes the bare columns msg_id and received_at from the row holding max(seq).
INSERT INTO node_high_water (node, seq, msg_id, updated_at)
SELECT node, max(seq), msg_id, received_at FROM events WHERE seq > 0 GROUP BY node;
