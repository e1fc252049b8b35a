-- Outbound notification channels, their durable delivery queue, the telemetry export queue and API tokens.

CREATE TABLE notify_channels (
  id                   INTEGER PRIMARY KEY,
  name                 TEXT NOT NULL UNIQUE,
  kind                 TEXT NOT NULL CHECK (kind IN ('webhook', 'ntfy')),
  url                  TEXT NOT NULL,
  min_severity         TEXT NOT NULL DEFAULT 'warning' CHECK (min_severity IN ('info', 'warning', 'critical')),
  enabled              INTEGER NOT NULL DEFAULT 1,
  created_at           INTEGER NOT NULL,
  last_ok_at           INTEGER,
  last_error_at        INTEGER,
  last_error           TEXT,
  consecutive_failures INTEGER NOT NULL DEFAULT 0,
  delivered_total      INTEGER NOT NULL DEFAULT 0,
  failed_total         INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE notify_queue (
  id              INTEGER PRIMARY KEY,
  channel_id      INTEGER NOT NULL REFERENCES notify_channels (id) ON DELETE CASCADE,
  flip_id         INTEGER NOT NULL,
  payload         TEXT NOT NULL,                 -- JSON AlertFlip
  state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'dead')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  last_error      TEXT,
  created_at      INTEGER NOT NULL,
  done_at         INTEGER,
  UNIQUE (channel_id, flip_id)
) STRICT;
CREATE INDEX notify_queue_due ON notify_queue (next_attempt_at) WHERE state = 'pending';

-- Influx line-protocol lines not yet accepted by the TSDB. Deleted only after a 2xx.
CREATE TABLE export_queue (
  id         INTEGER PRIMARY KEY,
  line       TEXT NOT NULL,
  created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE api_tokens (
  id           TEXT PRIMARY KEY,                 -- public part, shown in lists and logs
  name         TEXT NOT NULL,
  role         TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
  secret_hash  TEXT NOT NULL,                    -- sha256 hex of the 256-bit secret part
  created_at   INTEGER NOT NULL,
  last_used_at INTEGER,
  revoked_at   INTEGER
) STRICT;
