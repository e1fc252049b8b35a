-- Ledger changes are written by the ingest handlers in the batch transaction (collector/src/store/
-- ledger-changes-repo.ts), not by triggers: the nine capture triggers go. The kinds are a TypeScript union checked
-- by the compiler where they are read, so the table keeps no CHECK list of its own. Pending rows are copied over, so
-- an upgrade evaluates what the old version captured and had not drained yet.
DROP TRIGGER ledger_copies_ins;
DROP TRIGGER ledger_copies_upd;
DROP TRIGGER ledger_runs_ins;
DROP TRIGGER ledger_runs_upd;
DROP TRIGGER ledger_assets_ins;
DROP TRIGGER ledger_assets_upd;
DROP TRIGGER ledger_nodes_upd;
DROP TRIGGER ledger_copies_run_ins;
DROP TRIGGER ledger_copies_run_upd;

CREATE TABLE ledger_changes_next (
  kind   TEXT NOT NULL,
  node   TEXT NOT NULL,
  a      TEXT NOT NULL DEFAULT '',          -- asset kind | run id
  b      TEXT NOT NULL DEFAULT '',          -- asset id
  seq    INTEGER NOT NULL,
  PRIMARY KEY (kind, node, a, b)
) STRICT, WITHOUT ROWID;
INSERT INTO ledger_changes_next (kind, node, a, b, seq) SELECT kind, node, a, b, seq FROM ledger_changes;
DROP TABLE ledger_changes;
ALTER TABLE ledger_changes_next RENAME TO ledger_changes;
-- The drain reads in seq order and each batch asks max(seq) once.
CREATE INDEX ledger_changes_seq ON ledger_changes (seq);
