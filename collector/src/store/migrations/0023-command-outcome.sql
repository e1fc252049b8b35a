-- What a reverify-copy / restore-test found (CommandOutcome JSON) on the command, and the newest restore test of a
-- copy on the copy itself, so `GET /api/v1/copies` shows when a copy was last proven restorable.
ALTER TABLE commands ADD COLUMN outcome TEXT;          -- JSON CommandOutcome, NULL for run-job / older agents
ALTER TABLE copies ADD COLUMN restore_test TEXT;        -- JSON {result, at, commandId, method, code}, NULL = never tested
