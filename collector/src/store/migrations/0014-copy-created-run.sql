-- The run that created a copy (Copy.runId on the wire), as opposed to first_run_id/last_run_id (the runs that
-- reported it). The ledger pairs a run with the copies it made by this id: a snapshot's time comes from its name in
-- whole seconds while the run's start keeps milliseconds, so comparing clocks called a fresh snapshot "older than the
-- run" and paged missed-backup for runs that had succeeded. NULL for copies from agents that do not send runId.
ALTER TABLE copies ADD COLUMN created_run_id TEXT;
CREATE INDEX copies_created_run ON copies (node, created_run_id) WHERE created_run_id IS NOT NULL;

-- The jobs each node declares (jobs.declared): the ledger expects a backup of every declared asset from the job's
-- first slot, and retires the expectations of a job a newer declaration no longer lists. One row per node for the
-- declaration itself, so a node that declared no jobs is told apart from one that never declared.
CREATE TABLE job_declarations (
  node        TEXT PRIMARY KEY,
  hash        TEXT NOT NULL,
  declared_at TEXT NOT NULL,
  received_at TEXT NOT NULL
) STRICT;
CREATE TABLE declared_jobs (
  node      TEXT NOT NULL,
  job       TEXT NOT NULL,
  job_kind  TEXT NOT NULL,
  schedule  TEXT,
  timezone  TEXT,
  assets    TEXT NOT NULL,  -- JSON array of AssetRef
  targets   TEXT NOT NULL,  -- JSON array of strings
  PRIMARY KEY (node, job)
) STRICT;
