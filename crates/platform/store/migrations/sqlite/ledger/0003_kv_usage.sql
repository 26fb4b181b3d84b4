-- Kv quotas and log pruning (issue 10). `kv_usage` keeps each plugin's key count and
-- bytes (keys + values) up to date through triggers, so a quota check is one row read.
-- Logs: the newest 200,000 rows are kept, pruned every 1,024 inserts; the tasks
-- and events tables (status counts, history) are never pruned.
CREATE TABLE IF NOT EXISTS kv_usage(
   plugin TEXT PRIMARY KEY,
   keys INTEGER NOT NULL,
   bytes INTEGER NOT NULL
);
INSERT OR REPLACE INTO kv_usage(plugin, keys, bytes)
   SELECT plugin, COUNT(*), SUM(length(CAST(key AS BLOB)) + length(CAST(value AS BLOB))) FROM kv GROUP BY plugin;
CREATE TRIGGER IF NOT EXISTS kv_usage_insert AFTER INSERT ON kv BEGIN
   INSERT INTO kv_usage(plugin, keys, bytes)
       VALUES (new.plugin, 1, length(CAST(new.key AS BLOB)) + length(CAST(new.value AS BLOB)))
       ON CONFLICT(plugin) DO UPDATE SET keys = keys + 1, bytes = bytes + excluded.bytes;
END;
CREATE TRIGGER IF NOT EXISTS kv_usage_update AFTER UPDATE ON kv BEGIN
   UPDATE kv_usage SET bytes = bytes - length(CAST(old.value AS BLOB)) + length(CAST(new.value AS BLOB))
       WHERE plugin = new.plugin;
END;
CREATE TRIGGER IF NOT EXISTS kv_usage_delete AFTER DELETE ON kv BEGIN
   UPDATE kv_usage SET keys = keys - 1, bytes = bytes - length(CAST(old.key AS BLOB)) - length(CAST(old.value AS BLOB))
       WHERE plugin = old.plugin;
END;
CREATE TRIGGER IF NOT EXISTS logs_prune AFTER INSERT ON logs WHEN new.seq % 1024 = 0 BEGIN
   DELETE FROM logs WHERE seq <= new.seq - 200000;
END;
