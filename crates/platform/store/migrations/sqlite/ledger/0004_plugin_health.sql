-- Host bookkeeping about plugins, out of every plugin's kv namespace (issue 10): a
-- plugin named `baton.health` used to be able to rewrite the health of every other one.
-- `plugin_health` keeps each plugin's health as JSON (consecutive failures, pause);
-- `plugin_refusals` the installed files the host refused to load, and why.
CREATE TABLE IF NOT EXISTS plugin_health(
   plugin TEXT PRIMARY KEY,
   health TEXT NOT NULL
);
INSERT OR IGNORE INTO plugin_health(plugin, health) SELECT key, value FROM kv WHERE plugin = 'baton.health';
DELETE FROM kv WHERE plugin = 'baton.health';
CREATE TABLE IF NOT EXISTS plugin_refusals(
   file TEXT PRIMARY KEY,
   name TEXT NOT NULL,
   sha256 TEXT NOT NULL,
   reason TEXT NOT NULL,
   at TEXT NOT NULL
);
