-- Core ledger: enrolled nodes, every accepted envelope, job runs, copies and their deletions.
-- Timestamps are ISO 8601 UTC strings (they sort lexically); booleans are 0/1.

CREATE TABLE nodes (
  node          TEXT PRIMARY KEY,
  public_key    TEXT NOT NULL,            -- pinned Ed25519 key (base64)
  fingerprint   TEXT NOT NULL,
  enrolled_at   TEXT NOT NULL,
  hostname      TEXT,
  agent_version TEXT,
  last_seen     TEXT,                     -- last accepted message or status change
  status        TEXT NOT NULL DEFAULT 'unknown' CHECK (status IN ('online', 'offline', 'unknown')),
  status_at     TEXT,                     -- ts of the retained status message
  heartbeat     TEXT,                     -- last heartbeat body (JSON)
  heartbeat_at  TEXT
) STRICT;

-- Every accepted durable envelope exactly once (idempotent on (node, msg_id)). `raw` is the envelope as
-- received, so the signature can be re-verified later. Enrollment envelopes are not stored here (they carry the
-- enrollment token); heartbeats are not stored either (they update nodes.heartbeat).
CREATE TABLE events (
  id          INTEGER PRIMARY KEY,
  node        TEXT NOT NULL,
  msg_id      TEXT NOT NULL,
  seq         INTEGER NOT NULL,
  kind        TEXT NOT NULL,
  ts          TEXT NOT NULL,
  received_at TEXT NOT NULL,
  raw         TEXT NOT NULL,
  UNIQUE (node, msg_id)
) STRICT;
CREATE INDEX events_node_seq ON events (node, seq);

CREATE TABLE runs (
  node             TEXT NOT NULL,
  run_id           TEXT NOT NULL,
  job              TEXT NOT NULL,
  job_kind         TEXT NOT NULL,
  trigger          TEXT,
  scheduled_for    TEXT,
  started_at       TEXT NOT NULL,
  finished_at      TEXT,
  duration_ms      INTEGER,
  status           TEXT NOT NULL CHECK (status IN ('running', 'success', 'partial', 'failed')),
  bytes            INTEGER,
  error_code       TEXT,
  error_message    TEXT,
  progress_percent REAL,
  progress_message TEXT,
  warnings         TEXT,                  -- JSON array
  copies_count     INTEGER,
  deleted_count    INTEGER,
  updated_at       TEXT NOT NULL,
  PRIMARY KEY (node, run_id)
) STRICT;
CREATE INDEX runs_started ON runs (started_at, node, run_id);
CREATE INDEX runs_node_job ON runs (node, job, started_at);

CREATE TABLE copies (
  node                TEXT NOT NULL,
  copy_id             TEXT NOT NULL,
  asset_kind          TEXT NOT NULL,
  asset_id            TEXT NOT NULL,
  asset_name          TEXT,
  location_kind       TEXT NOT NULL,
  location_target     TEXT NOT NULL,
  device              TEXT,               -- JSON {id, fsUuid, label, serial, model}
  name                TEXT NOT NULL,
  media               TEXT NOT NULL,
  offsite             INTEGER NOT NULL,
  offline             INTEGER NOT NULL,
  immutable           INTEGER NOT NULL,
  created_at          TEXT NOT NULL,
  bytes               INTEGER,
  checksum            TEXT,               -- "sha256:<hex>"
  verification_state  TEXT NOT NULL,
  verification_at     TEXT,
  verification_method TEXT,
  verification_detail TEXT,
  first_run_id        TEXT,
  last_run_id         TEXT,
  last_reported_at    TEXT NOT NULL,
  deleted_at          TEXT,
  deleted_rule        TEXT,
  PRIMARY KEY (node, copy_id)
) STRICT;
CREATE INDEX copies_asset ON copies (node, asset_kind, asset_id);

-- Audit trail: every deletion an agent reported, with the retention rule that decided it.
CREATE TABLE copy_deletions (
  id              INTEGER PRIMARY KEY,
  node            TEXT NOT NULL,
  copy_id         TEXT NOT NULL,
  run_id          TEXT NOT NULL,
  asset_kind      TEXT NOT NULL,
  asset_id        TEXT NOT NULL,
  location_target TEXT NOT NULL,
  name            TEXT NOT NULL,
  deleted_at      TEXT NOT NULL,
  rule            TEXT NOT NULL,
  UNIQUE (node, copy_id, run_id)
) STRICT;

-- What each node reports it could protect (inventory); present = 0 once a later inventory no longer lists it.
CREATE TABLE assets (
  node        TEXT NOT NULL,
  asset_kind  TEXT NOT NULL,
  asset_id    TEXT NOT NULL,
  name        TEXT,
  covered_by  TEXT NOT NULL,              -- JSON array of job names
  present     INTEGER NOT NULL,
  reported_at TEXT NOT NULL,
  PRIMARY KEY (node, asset_kind, asset_id)
) STRICT;
