-- The dashboard's summary tables (issue 16; see `stats`): counters by status and
-- plugin that no pruning touches, per-minute and per-hour latency histograms, the
-- all-time run-time histogram for `/metrics`, and the alerts with their firings.
CREATE TABLE IF NOT EXISTS stat_counts(
   status TEXT NOT NULL,
   plugin TEXT NOT NULL,
   n INTEGER NOT NULL,
   PRIMARY KEY(status, plugin)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS stat_minutes(
   minute INTEGER NOT NULL,
   plugin TEXT NOT NULL,
   completed INTEGER NOT NULL,
   failed INTEGER NOT NULL,
   rejected INTEGER NOT NULL,
   drop_hist BLOB NOT NULL,
   drop_sum REAL NOT NULL,
   run_hist BLOB NOT NULL,
   run_sum REAL NOT NULL,
   PRIMARY KEY(minute, plugin)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS stat_hours(
   hour INTEGER NOT NULL,
   plugin TEXT NOT NULL,
   completed INTEGER NOT NULL,
   failed INTEGER NOT NULL,
   rejected INTEGER NOT NULL,
   drop_hist BLOB NOT NULL,
   drop_sum REAL NOT NULL,
   run_hist BLOB NOT NULL,
   run_sum REAL NOT NULL,
   PRIMARY KEY(hour, plugin)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS stat_duration(
   bucket INTEGER PRIMARY KEY,
   n INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS stat_totals(
   name TEXT PRIMARY KEY,
   value REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS alerts(
   id TEXT PRIMARY KEY,
   rule TEXT NOT NULL,
   labels TEXT NOT NULL,
   summary TEXT NOT NULL,
   state TEXT NOT NULL,
   firing INTEGER NOT NULL,
   started_at TEXT NOT NULL,
   last_seen_at TEXT NOT NULL,
   resolved_at TEXT,
   acked_at TEXT,
   notified_firing INTEGER NOT NULL DEFAULT 0,
   notified TEXT
);
