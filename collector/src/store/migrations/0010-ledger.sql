-- Compliance ledger (issue 4). Times here are INTEGER epoch milliseconds: they are deadline-index keys and are
-- compared on every timer tick, so no parsing. Booleans are 0/1; JSON columns say so.

-- Changes the ingest committed that the ledger has not evaluated yet: a transactional outbox filled by triggers on
-- the core tables, so a change is captured in the same transaction as the ack and survives a crash before the
-- ledger ran. The primary key coalesces repeats (5,000 copies of one asset are one row).
CREATE TABLE ledger_changes (
  kind   TEXT NOT NULL CHECK (kind IN ('asset', 'run-started', 'run-finished', 'inventory', 'node')),
  node   TEXT NOT NULL,
  a      TEXT NOT NULL DEFAULT '',          -- asset kind | run id
  b      TEXT NOT NULL DEFAULT '',          -- asset id
  seq    INTEGER NOT NULL,
  PRIMARY KEY (kind, node, a, b)
) STRICT, WITHOUT ROWID;
-- max(seq) in every trigger must not scan the table during a large batch.
CREATE INDEX ledger_changes_seq ON ledger_changes (seq);

CREATE TRIGGER ledger_copies_ins AFTER INSERT ON copies BEGIN
  INSERT OR IGNORE INTO ledger_changes (kind, node, a, b, seq) VALUES ('asset', NEW.node, NEW.asset_kind, NEW.asset_id, (SELECT coalesce(max(seq), 0) + 1 FROM ledger_changes));
END;
CREATE TRIGGER ledger_copies_upd AFTER UPDATE ON copies BEGIN
  INSERT OR IGNORE INTO ledger_changes (kind, node, a, b, seq) VALUES ('asset', NEW.node, NEW.asset_kind, NEW.asset_id, (SELECT coalesce(max(seq), 0) + 1 FROM ledger_changes));
END;
CREATE TRIGGER ledger_runs_ins AFTER INSERT ON runs BEGIN
  INSERT OR IGNORE INTO ledger_changes (kind, node, a, seq)
    VALUES (CASE NEW.status WHEN 'running' THEN 'run-started' ELSE 'run-finished' END, NEW.node, NEW.run_id, (SELECT coalesce(max(seq), 0) + 1 FROM ledger_changes));
END;
CREATE TRIGGER ledger_runs_upd AFTER UPDATE OF status ON runs WHEN OLD.status = 'running' AND NEW.status <> 'running' BEGIN
  INSERT OR IGNORE INTO ledger_changes (kind, node, a, seq) VALUES ('run-finished', NEW.node, NEW.run_id, (SELECT coalesce(max(seq), 0) + 1 FROM ledger_changes));
END;
CREATE TRIGGER ledger_assets_ins AFTER INSERT ON assets BEGIN
  INSERT OR IGNORE INTO ledger_changes (kind, node, a, b, seq) VALUES ('inventory', NEW.node, NEW.asset_kind, NEW.asset_id, (SELECT coalesce(max(seq), 0) + 1 FROM ledger_changes));
END;
CREATE TRIGGER ledger_assets_upd AFTER UPDATE ON assets BEGIN
  INSERT OR IGNORE INTO ledger_changes (kind, node, a, b, seq) VALUES ('inventory', NEW.node, NEW.asset_kind, NEW.asset_id, (SELECT coalesce(max(seq), 0) + 1 FROM ledger_changes));
END;
CREATE TRIGGER ledger_nodes_upd AFTER UPDATE OF status, heartbeat_at ON nodes BEGIN
  INSERT OR IGNORE INTO ledger_changes (kind, node, seq) VALUES ('node', NEW.node, (SELECT coalesce(max(seq), 0) + 1 FROM ledger_changes));
END;

-- One row per protected asset: policy (tier, lifecycle) and the materialised verdict, so the fleet summary is an
-- aggregate over this table and never touches copies.
CREATE TABLE ledger_assets (
  node               TEXT NOT NULL,
  asset_kind         TEXT NOT NULL,
  asset_id           TEXT NOT NULL,
  name               TEXT,
  tier               TEXT NOT NULL DEFAULT 'standard' CHECK (tier IN ('critical', 'standard', 'low')),
  lifecycle          TEXT NOT NULL DEFAULT 'active' CHECK (lifecycle IN ('active', 'archived', 'decommissioned')),
  production_media   TEXT,
  production_location TEXT,
  first_seen         INTEGER NOT NULL,
  verdict            TEXT NOT NULL DEFAULT 'non-compliant' CHECK (verdict IN ('compliant', 'non-compliant', 'exempt')),
  reasons            TEXT NOT NULL DEFAULT '[]',   -- JSON VerdictReason[]
  counts             TEXT NOT NULL DEFAULT '{}',   -- JSON VerdictCounts
  evaluated_at       INTEGER NOT NULL DEFAULT 0,
  expires_at         INTEGER,                      -- re-evaluate then (a fresh copy turns stale)
  last_success_at    INTEGER,                      -- newest counted copy, for /metrics
  PRIMARY KEY (node, asset_kind, asset_id)
) STRICT;
CREATE INDEX ledger_assets_expires ON ledger_assets (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX ledger_assets_verdict ON ledger_assets (verdict, tier);

-- Missed-backup expectations: one per (node, job, asset). alert_after is the single-timer index key.
CREATE TABLE expectations (
  id              INTEGER PRIMARY KEY,
  node            TEXT NOT NULL,
  job             TEXT NOT NULL,
  asset_kind      TEXT NOT NULL,
  asset_id        TEXT NOT NULL,
  schedule_kind   TEXT NOT NULL CHECK (schedule_kind IN ('period', 'cron')),
  period_s        INTEGER,
  cron            TEXT,
  timezone        TEXT,
  grace_s         INTEGER NOT NULL,
  status          TEXT NOT NULL CHECK (status IN ('new', 'up', 'down', 'paused')),
  created_at      INTEGER NOT NULL,
  last_finish_at  INTEGER,
  running_since   INTEGER,
  running_run_id  TEXT,
  alert_after     INTEGER,
  last_flip_at    INTEGER,
  source          TEXT NOT NULL DEFAULT 'auto' CHECK (source IN ('auto', 'api')),
  UNIQUE (node, job, asset_kind, asset_id)
) STRICT;
CREATE INDEX expectations_alert_after ON expectations (alert_after) WHERE alert_after IS NOT NULL;
CREATE INDEX expectations_asset ON expectations (node, asset_kind, asset_id);

-- Node liveness deadline (heartbeat + timeout), in the same single-timer index family.
CREATE TABLE node_liveness (
  node        TEXT PRIMARY KEY,
  down        INTEGER NOT NULL DEFAULT 0,
  reason      TEXT,
  deadline_at INTEGER
) STRICT;
CREATE INDEX node_liveness_deadline ON node_liveness (deadline_at) WHERE deadline_at IS NOT NULL;

CREATE TABLE alerts (
  key             TEXT PRIMARY KEY,
  kind            TEXT NOT NULL,
  node            TEXT,
  state           TEXT NOT NULL CHECK (state IN ('firing', 'resolved')),
  severity        TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
  summary         TEXT NOT NULL,
  since           INTEGER NOT NULL,
  acked_at        INTEGER,
  acked_by        TEXT,
  silenced_until  INTEGER,
  suppressed_by   TEXT,                            -- key of the node-down alert that folds this one
  updated_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX alerts_state ON alerts (state, severity);
CREATE INDEX alerts_node ON alerts (node, kind);

CREATE TABLE alert_flips (
  id         INTEGER PRIMARY KEY,
  key        TEXT NOT NULL,
  kind       TEXT NOT NULL,
  node       TEXT,
  from_state TEXT NOT NULL,
  to_state   TEXT NOT NULL,
  severity   TEXT NOT NULL,
  summary    TEXT NOT NULL,
  at         INTEGER NOT NULL,
  decision   TEXT NOT NULL,                       -- notify | acked | silenced | maintenance | below-threshold | suppressed
  published  INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX alert_flips_key ON alert_flips (key, at);
CREATE INDEX alert_flips_unpublished ON alert_flips (published) WHERE published = 0;

CREATE TABLE maintenance_windows (
  id         INTEGER PRIMARY KEY,
  start_at   INTEGER NOT NULL,
  end_at     INTEGER NOT NULL,
  node       TEXT,
  key_prefix TEXT,
  reason     TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX maintenance_windows_end ON maintenance_windows (end_at);


-- Which assets each run reported copies for (filled by trigger, consumed with the run-finished change): the
-- expectation of (node, job, asset) is met by that run only if it produced a copy of that asset.
CREATE TABLE ledger_run_assets (
  node       TEXT NOT NULL,
  run_id     TEXT NOT NULL,
  asset_kind TEXT NOT NULL,
  asset_id   TEXT NOT NULL,
  PRIMARY KEY (node, run_id, asset_kind, asset_id)
) STRICT, WITHOUT ROWID;
CREATE TRIGGER ledger_copies_run_ins AFTER INSERT ON copies WHEN NEW.deleted_at IS NULL AND NEW.last_run_id IS NOT NULL BEGIN
  INSERT OR IGNORE INTO ledger_run_assets (node, run_id, asset_kind, asset_id) VALUES (NEW.node, NEW.last_run_id, NEW.asset_kind, NEW.asset_id);
END;
CREATE TRIGGER ledger_copies_run_upd AFTER UPDATE ON copies WHEN NEW.deleted_at IS NULL AND NEW.last_run_id IS NOT NULL BEGIN
  INSERT OR IGNORE INTO ledger_run_assets (node, run_id, asset_kind, asset_id) VALUES (NEW.node, NEW.last_run_id, NEW.asset_kind, NEW.asset_id);
END;
