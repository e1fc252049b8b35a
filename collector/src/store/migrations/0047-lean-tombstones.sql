-- Leaner tombstones (issue 14, bench/collector-growth.ts): a deleted copy no longer keeps the storage identity and
-- verification detail of the live copy it was (copies-repo.ts markGone). Existing tombstones are thinned the same
-- way; the pages this frees are reclaimed by the incremental auto-vacuum of the scheduled upkeep.
UPDATE copies SET storage = NULL, verification_detail = NULL
  WHERE deleted_at IS NOT NULL AND (storage IS NOT NULL OR verification_detail IS NOT NULL);
