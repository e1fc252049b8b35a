-- Security room: one-time enrollment tokens (stored hashed), enrollment approvals, node revocation, operator
-- MQTT credentials. The pinned key itself stays in `nodes` (core); these tables decide who may get one.

CREATE TABLE enrollment_tokens (
  id               TEXT PRIMARY KEY,            -- public id for lists and the audit log
  token_hash       TEXT NOT NULL UNIQUE,        -- sha256 hex of the secret (shown once, never stored)
  created_at       TEXT NOT NULL,
  created_by       TEXT NOT NULL,
  expires_at       TEXT NOT NULL,
  require_approval INTEGER NOT NULL DEFAULT 0,
  note             TEXT,
  used_at          TEXT,                        -- one-time: bound to the first node + key that used it
  used_by_node     TEXT,
  used_by_key      TEXT,
  revoked_at       TEXT
) STRICT;

-- Absent row = normal (enrolled nodes are active). 'reenroll' = an admin allowed the next enrollment with a
-- new key (reinstall); 'revoked' = refused at CONNECT and at enrollment until an admin re-enables it.
CREATE TABLE node_access (
  node       TEXT PRIMARY KEY,
  state      TEXT NOT NULL CHECK (state IN ('revoked', 'reenroll')),
  changed_at TEXT NOT NULL,
  changed_by TEXT NOT NULL,
  reason     TEXT
) STRICT;

CREATE TABLE enrollment_requests (
  id           INTEGER PRIMARY KEY,
  node         TEXT NOT NULL,
  public_key   TEXT NOT NULL,
  fingerprint  TEXT NOT NULL,
  token_id     TEXT,
  hostname     TEXT,
  reason       TEXT NOT NULL CHECK (reason IN ('approval-required', 'key-changed')),
  state        TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'approved', 'denied')),
  requested_at TEXT NOT NULL,
  decided_at   TEXT,
  decided_by   TEXT,
  UNIQUE (node, public_key)
) STRICT;

-- Read-only MQTT clients (dashboards, Home Assistant bridges) that may subscribe to backstop/v1/alerts/#.
CREATE TABLE mqtt_operators (
  name        TEXT PRIMARY KEY,
  secret_hash TEXT NOT NULL,
  created_at  TEXT NOT NULL,
  created_by  TEXT NOT NULL,
  revoked_at  TEXT
) STRICT;
