-- Pulled replicas and logins (issue 11): each node's inventory says which ssh keys may log in to it and which keys
-- it holds, as SHA-256 fingerprints: {"authorized": [...], "own": [...]}. A replica a node pulled counts as
-- immutable only while no key the source node holds is authorized on that node. '{}': not reported (older agents).
ALTER TABLE node_inventory ADD COLUMN ssh_keys TEXT NOT NULL DEFAULT '{}';
