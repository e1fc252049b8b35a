-- Liveness without noise (shared/src/compliance/node-presence.ts): why a node is offline, and when it was away
-- and came back, so node-down waits nodeDownAfterS and asset alerts stay folded through the catch-up grace.
ALTER TABLE nodes ADD COLUMN status_reason TEXT;    -- offline only: 'shutdown' | 'restart' (graceful) | 'lost' (Will)
ALTER TABLE node_liveness ADD COLUMN away_since INTEGER;           -- epoch ms, NULL while present
ALTER TABLE node_liveness ADD COLUMN back_at INTEGER;              -- epoch ms of the last return
ALTER TABLE node_liveness ADD COLUMN folding INTEGER NOT NULL DEFAULT 0;
UPDATE node_liveness SET folding = down, away_since = CASE WHEN down = 1 THEN 0 END;
