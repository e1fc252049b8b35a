-- Signed collector → agent commands and their reported outcome. `id` is the command's nonce.
CREATE TABLE commands (
  id           TEXT PRIMARY KEY,
  node         TEXT NOT NULL,
  kind         TEXT NOT NULL,
  args         TEXT NOT NULL,                 -- JSON
  requested_by TEXT NOT NULL,
  issued_at    TEXT NOT NULL,
  expires_at   TEXT NOT NULL,
  signed       TEXT NOT NULL,                 -- the exact signed JSON published
  status       TEXT NOT NULL DEFAULT 'sent' CHECK (status IN ('sent', 'accepted', 'rejected', 'succeeded', 'failed')),
  result_code  TEXT,
  result_msg   TEXT,
  run_id       TEXT,
  updated_at   TEXT NOT NULL
) STRICT;
CREATE INDEX commands_node ON commands (node, issued_at);
