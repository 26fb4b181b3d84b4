//! The database schema and its migrations, keyed by `PRAGMA user_version`.
use rusqlite::Connection;

pub(crate) const MIGRATIONS: &[&str] = &[
    // v1
    "CREATE TABLE IF NOT EXISTS tasks(
        id TEXT PRIMARY KEY,
        content_hash TEXT NOT NULL,
        claim TEXT NOT NULL,
        file_name TEXT NOT NULL,
        sender TEXT NOT NULL,
        reply_to TEXT NOT NULL,
        plugin TEXT,
        action TEXT,
        title TEXT NOT NULL,
        state TEXT NOT NULL,
        error_code TEXT,
        error_message TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        return_name TEXT,
        claimed_at TEXT NOT NULL,
        finished_at TEXT,
        duration_ms REAL
     );
     CREATE INDEX IF NOT EXISTS tasks_finished ON tasks(finished_at);
     CREATE TABLE IF NOT EXISTS events(
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        task_id TEXT NOT NULL,
        at TEXT NOT NULL,
        event TEXT NOT NULL,
        detail TEXT NOT NULL
     );
     CREATE INDEX IF NOT EXISTS events_task ON events(task_id, seq);
     CREATE TABLE IF NOT EXISTS logs(
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        task_id TEXT NOT NULL,
        at TEXT NOT NULL,
        level TEXT NOT NULL,
        message TEXT NOT NULL
     );
     CREATE INDEX IF NOT EXISTS logs_task ON logs(task_id, seq);
     CREATE TABLE IF NOT EXISTS observed(
        agent TEXT NOT NULL,
        file_name TEXT NOT NULL,
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        in_reply_to TEXT,
        sender TEXT NOT NULL,
        recipient TEXT,
        title TEXT NOT NULL,
        created_at TEXT NOT NULL,
        seen_at TEXT NOT NULL,
        PRIMARY KEY(agent, file_name)
     );
     CREATE INDEX IF NOT EXISTS observed_reply ON observed(in_reply_to);
     CREATE TABLE IF NOT EXISTS kv(
        plugin TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY(plugin, key)
     );",
    // v2: the poison-pill guard. A claim taken over from a dead process runs alone with
    // `solo` set; finding `solo` still set means the process died while it ran alone.
    "CREATE TABLE IF NOT EXISTS claim_runs(
        claim TEXT PRIMARY KEY,
        deaths INTEGER NOT NULL DEFAULT 0,
        solo INTEGER NOT NULL DEFAULT 0
     );",
    // v3: kv quotas and log pruning (issue 10). `kv_usage` keeps each plugin's key count and
    // bytes (keys + values) up to date through triggers, so a quota check is one row read.
    // Logs: the newest 200,000 rows are kept, pruned every 1,024 inserts; the tasks
    // and events tables (status counts, history) are never pruned.
    "CREATE TABLE IF NOT EXISTS kv_usage(
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
     END;",
    // v4: host bookkeeping about plugins, out of every plugin's kv namespace (issue 10): a
    // plugin named `baton.health` used to be able to rewrite the health of every other one.
    // `plugin_health` keeps each plugin's health as JSON (consecutive failures, pause);
    // `plugin_refusals` the installed files the host refused to load, and why.
    "CREATE TABLE IF NOT EXISTS plugin_health(
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
     );",
    // v5: the dashboard's summary tables (issue 16; see `stats`): counters by status and
    // plugin that no pruning touches, per-minute and per-hour latency histograms, the
    // all-time run-time histogram for `/metrics`, and the alerts with their firings.
    "CREATE TABLE IF NOT EXISTS stat_counts(
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
     );",
    // v6: counters with a second label (issue 33; see `stats`): failed and rejected answers by
    // error code, and retries by kind (`automatic`, `manual`). Never pruned, like stat_counts.
    "CREATE TABLE IF NOT EXISTS stat_events(
        event TEXT NOT NULL,
        plugin TEXT NOT NULL,
        detail TEXT NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY(event, plugin, detail)
     ) WITHOUT ROWID;",
    // v7: events by kind, newest first (A2A's `ListTasks` pages through `a2a_sent`).
    "CREATE INDEX IF NOT EXISTS events_event ON events(event, seq);",
];

pub fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        conn.execute_batch(&format!("BEGIN IMMEDIATE; {sql}; PRAGMA user_version = {}; COMMIT;", i + 1))?;
    }
    Ok(())
}
