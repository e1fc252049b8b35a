-- A partial inventory (InventoryBody.incomplete): the parts the agent could not list because their tool failed,
-- [{"part": "zfs-dataset", "reason": "..."}]. Those parts keep what the previous inventory said; the coverage view
-- shows them as unknown. '[]': the last inventory was complete (or came from an agent before this field).
ALTER TABLE node_inventory ADD COLUMN incomplete TEXT NOT NULL DEFAULT '[]';
