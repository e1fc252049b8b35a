-- Notifier secrets kept apart from the channel URL (write-only in the API: masked on read), and Gotify as a kind.
--
-- SQLite cannot change a CHECK constraint in place, so notify_channels is rebuilt. notify_queue references it
-- ON DELETE CASCADE and is rebuilt with it: dropping the old channels table while the old queue still referenced it
-- would delete every queued delivery. RENAME rewrites the new queue's reference to the final table name.

CREATE TABLE notify_channels_new (
  id                   INTEGER PRIMARY KEY,
  name                 TEXT NOT NULL UNIQUE,
  kind                 TEXT NOT NULL CHECK (kind IN ('webhook', 'ntfy', 'gotify')),
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
INSERT INTO notify_channels_new (id, name, kind, url, min_severity, enabled, created_at, last_ok_at, last_error_at,
  last_error, consecutive_failures, delivered_total, failed_total)
SELECT id, name, kind, url, min_severity, enabled, created_at, last_ok_at, last_error_at,
  last_error, consecutive_failures, delivered_total, failed_total FROM notify_channels;

CREATE TABLE notify_queue_new (
  id              INTEGER PRIMARY KEY,
  channel_id      INTEGER NOT NULL REFERENCES notify_channels_new (id) ON DELETE CASCADE,
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
INSERT INTO notify_queue_new (id, channel_id, flip_id, payload, state, attempts, next_attempt_at, last_error,
  created_at, done_at)
SELECT id, channel_id, flip_id, payload, state, attempts, next_attempt_at, last_error, created_at, done_at
FROM notify_queue;

DROP TABLE notify_queue;
DROP TABLE notify_channels;
ALTER TABLE notify_channels_new RENAME TO notify_channels;
ALTER TABLE notify_queue_new RENAME TO notify_queue;
CREATE INDEX notify_queue_due ON notify_queue (next_attempt_at) WHERE state = 'pending';

-- One credential per channel: ntfy access token or user + password, Gotify application token, webhook signing
-- secret. Never part of the URL, never returned by the API.
CREATE TABLE notify_secrets (
  channel_id INTEGER PRIMARY KEY REFERENCES notify_channels (id) ON DELETE CASCADE,
  type       TEXT NOT NULL CHECK (type IN ('token', 'basic', 'hmac')),
  username   TEXT,
  secret     TEXT NOT NULL,
  set_at     INTEGER NOT NULL,
  CHECK ((type = 'basic') = (username IS NOT NULL))
) STRICT;
