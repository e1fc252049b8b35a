-- Collector self-backup (docs/reliability.md "Collector self-backup"): every online backup of this database the
-- collector took, per target directory, with the result of checking the copy. Times are epoch milliseconds.
CREATE TABLE self_backups (
  id           INTEGER PRIMARY KEY,
  target       TEXT NOT NULL,              -- target name from selfBackup.targets
  dir          TEXT NOT NULL,              -- the target directory at the time
  file         TEXT NOT NULL,              -- file name in dir: backstop-collector-<YYYYMMDDTHHMMSSZ>.db
  taken_at     INTEGER NOT NULL,           -- when the backup started (also in the file name, to the second)
  finished_at  INTEGER NOT NULL,           -- when the check finished
  bytes        INTEGER,
  status       TEXT NOT NULL CHECK (status IN ('verified', 'failed')),
  integrity    TEXT,                       -- PRAGMA integrity_check of the copy: 'ok' or its first problems
  audit_seq    INTEGER,                    -- audit chain head of the copy (NULL: empty chain or not read)
  audit_hash   TEXT,
  high_water   TEXT,                       -- JSON {node: highest seq} read from the copy
  error        TEXT,                       -- why it failed: BK_ERR_* code and message
  deleted_at   INTEGER,                    -- removed by the GFS keep (or found missing)
  deleted_rule TEXT,
  UNIQUE (target, file)
) STRICT;
CREATE INDEX self_backups_target ON self_backups (target, taken_at);
