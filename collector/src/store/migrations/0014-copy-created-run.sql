-- The run that created a copy (Copy.runId on the wire), as opposed to first_run_id/last_run_id (the runs that
-- reported it). The ledger pairs a run with the copies it made by this id: a snapshot's time comes from its name in
-- whole seconds while the run's start keeps milliseconds, so comparing clocks called a fresh snapshot "older than the
-- run" and paged missed-backup for runs that had succeeded. NULL for copies from agents that do not send runId.
ALTER TABLE copies ADD COLUMN created_run_id TEXT;
CREATE INDEX copies_created_run ON copies (node, created_run_id) WHERE created_run_id IS NOT NULL;
