-- Leaner tombstones (issue 14, bench/collector-growth.ts): copy_deletions repeated for every deleted copy what its
-- tombstone in `copies` already holds — node, copy, asset, place, name, when (deleted_at), by which rule
-- (deleted_rule) and, as last_run_id, the run that deleted it — and with its index was ~20 % of the file for an
-- hourly-snapshot fleet. The tombstone is the record; it and the raw job.finished that reported the deletion are
-- kept for the same default window (tombstoneDays = eventsDays = 90). What only this table kept: an earlier deletion
-- of a copy that was reported live again and deleted once more (the raw events still hold it within their window).
DROP TABLE copy_deletions;
