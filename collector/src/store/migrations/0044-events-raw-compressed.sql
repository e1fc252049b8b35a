-- Raw envelopes of 4 KiB and more are stored deflated (store/event-raw.ts): an hourly job.finished lists every live
-- copy with its storage, ~400 KB of JSON that deflates ~40x, and `events` was ~90% of the file (bench/growth).
-- `raw` becomes ANY: TEXT = the envelope as received, BLOB = its raw DEFLATE (RFC 1951). STRICT cannot change a
-- column's type in place, so the table is rebuilt with the same ids (node_high_water.epoch_from_id refers to them).
CREATE TABLE events_v2 (
  id          INTEGER PRIMARY KEY,
  node        TEXT NOT NULL,
  msg_id      TEXT NOT NULL,
  seq         INTEGER NOT NULL,
  kind        TEXT NOT NULL,
  ts          TEXT NOT NULL,
  received_at TEXT NOT NULL,
  raw         ANY NOT NULL,
  UNIQUE (node, msg_id)
) STRICT;
INSERT INTO events_v2 (id, node, msg_id, seq, kind, ts, received_at, raw)
  SELECT id, node, msg_id, seq, kind, ts, received_at, raw FROM events ORDER BY id;
DROP TABLE events;
ALTER TABLE events_v2 RENAME TO events;
CREATE INDEX events_node_seq ON events (node, seq);
