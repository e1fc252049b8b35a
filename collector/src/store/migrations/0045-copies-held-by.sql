-- Pulled replicas (issue 13): a node may report a copy of another node's asset (e.g. a NAS that pulls pve1's
-- datasets). Such a copy is filed under the owner's asset (column `node`), so the owner's 3-2-1-1-0 verdict counts
-- it; `held_by` names the node that holds and reports it, and its copy_id is `<held_by>:<the holder's copyId>`, so a
-- holder can never overwrite one of the owner's own copies. NULL: the asset's own node holds it.
ALTER TABLE copies ADD COLUMN held_by TEXT;
