-- Disk health (issue 5): the latest disk.health report per node, acknowledgeable counter baselines per disk,
-- filesystem usage samples for fill forecasts, and which disk alerts are firing (to resolve the ones that stop).

CREATE TABLE disk_reports (
  node        TEXT PRIMARY KEY,
  at          TEXT NOT NULL,             -- report time (agent clock, ISO UTC)
  body        TEXT NOT NULL              -- the disk.health body (JSON)
) STRICT;

-- `counters` is JSON (DiskCounters). The first report of a disk sets it: old damage is not news.
CREATE TABLE disk_baselines (
  node            TEXT NOT NULL,
  disk_key        TEXT NOT NULL,         -- serial:<serial> | name:<dev>
  counters        TEXT NOT NULL,
  first_seen_at   TEXT NOT NULL,
  acknowledged_at TEXT,
  acknowledged_by TEXT,
  PRIMARY KEY (node, disk_key)
) STRICT;

-- One sample per report per mount; the forecast reads the last 31 days (PBS uses a month of RRD data).
CREATE TABLE fs_usage_samples (
  node        TEXT NOT NULL,
  mount       TEXT NOT NULL,
  at          TEXT NOT NULL,
  used_bytes  INTEGER NOT NULL,
  size_bytes  INTEGER NOT NULL,
  PRIMARY KEY (node, mount, at)
) STRICT, WITHOUT ROWID;

CREATE TABLE disk_alerts_firing (
  node        TEXT NOT NULL,
  alert_key   TEXT NOT NULL,
  PRIMARY KEY (node, alert_key)
) STRICT, WITHOUT ROWID;
