-- Truthful 3-2-1-1-0 (issue 11): copies are counted by failure domain from the storage the agent probed.
ALTER TABLE copies ADD COLUMN storage TEXT;        -- JSON StorageIdentity of the copy's location; NULL from old agents
ALTER TABLE ledger_assets ADD COLUMN places TEXT;  -- JSON PlaceJudgement[] of the last verdict (copy/version, why)

-- Where each asset's live data is (job.finished `sources`): copies on these devices are versions, and its site is
-- the production site offsite is measured against. The latest report wins.
CREATE TABLE asset_sources (
  node        TEXT NOT NULL,
  asset_kind  TEXT NOT NULL,
  asset_id    TEXT NOT NULL,
  storage     TEXT NOT NULL,
  reported_at INTEGER NOT NULL,
  PRIMARY KEY (node, asset_kind, asset_id)
) WITHOUT ROWID;

-- Rotation: an operator recorded (audited) that the medium with this filesystem UUID is now at this site.
CREATE TABLE medium_sites (
  fs_uuid     TEXT PRIMARY KEY,  -- lower case
  site        TEXT NOT NULL,
  recorded_at INTEGER NOT NULL,
  recorded_by TEXT
) WITHOUT ROWID;
