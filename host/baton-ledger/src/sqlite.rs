//! The SQLite backend of the ledger: one database file in WAL mode on a local disk (the
//! default). Implements [`Store`] and [`Writes`]; every SQL statement of this backend is here
//! (and its schema in `schema.rs`).
use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use crate::{schema, Event, KvLimits, LedgerError, LogLine, Observed, Refusal, Result, Store, TaskRow, TaskState, Writes};

pub(crate) struct SqliteLedger {
    pub(crate) conn: Connection,
}

impl SqliteLedger {
    pub(crate) fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|source| LedgerError::Folder { path: dir.display().to_string(), source })?;
        }
        let open_err = |source| LedgerError::Open { path: path.display().to_string(), source };
        let conn = crate::open_wal(path, "FULL").map_err(open_err)?;
        schema::migrate(&conn).map_err(open_err)?;
        Ok(SqliteLedger { conn })
    }

    /// Runs `f` in one transaction (one fsync for the whole batch).
    pub(crate) fn batch<R>(&mut self, f: impl FnOnce(&dyn Writes) -> Result<R>) -> Result<R> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let out = f(&SqliteTx { tx: &tx })?;
        tx.commit()?;
        Ok(out)
    }
}

impl Store for SqliteLedger {
    fn task(&self, id: &str) -> Result<Option<TaskRow>> {
        task_row(&self.conn, id)
    }

    fn events(&self, id: &str) -> Result<Vec<Event>> {
        events(&self.conn, id)
    }

    fn logs(&self, id: &str) -> Result<Vec<LogLine>> {
        let mut st = self.conn.prepare_cached("SELECT at, level, message FROM logs WHERE task_id = ?1 ORDER BY seq")?;
        let rows = st.query_map([id], |r| Ok(LogLine { at: r.get(0)?, level: r.get(1)?, message: r.get(2)? }))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn recent(&self, limit: usize) -> Result<Vec<TaskRow>> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {TASK_COLUMNS} FROM tasks ORDER BY COALESCE(finished_at, claimed_at) DESC LIMIT ?1"
        ))?;
        let rows = st.query_map([limit as i64], from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn counts(&self) -> Result<Vec<(String, u64)>> {
        let mut st = self.conn.prepare_cached("SELECT state, COUNT(*) FROM tasks GROUP BY state ORDER BY state")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn open_handoffs(&self) -> Result<Vec<Observed>> {
        let mut st = self.conn.prepare_cached(
            "SELECT agent, file_name, kind, id, in_reply_to, sender, recipient, title, created_at
             FROM observed o WHERE kind = 'task'
               AND NOT EXISTS (SELECT 1 FROM observed r WHERE r.kind = 'return' AND r.in_reply_to = o.id)
             ORDER BY created_at",
        )?;
        let rows = st.query_map([], observed_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn is_observed(&self, agent: &str, file_name: &str) -> Result<bool> {
        let mut st = self.conn.prepare_cached("SELECT 1 FROM observed WHERE agent = ?1 AND file_name = ?2")?;
        Ok(st.exists(params![agent, file_name])?)
    }

    fn kv_get(&self, plugin: &str, key: &str) -> Result<Option<String>> {
        let mut st = self.conn.prepare_cached("SELECT value FROM kv WHERE plugin = ?1 AND key = ?2")?;
        Ok(st.query_row(params![plugin, key], |r| r.get(0)).optional()?)
    }

    fn kv_set(&self, plugin: &str, key: &str, value: &str) -> Result<()> {
        kv_set(&self.conn, plugin, key, value)
    }

    fn kv_set_within(&mut self, plugin: &str, key: &str, value: &str, limits: KvLimits) -> Result<()> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let (keys, bytes): (i64, i64) = tx
            .prepare_cached("SELECT keys, bytes FROM kv_usage WHERE plugin = ?1")?
            .query_row([plugin], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?
            .unwrap_or((0, 0));
        let old: Option<i64> = tx
            .prepare_cached("SELECT length(CAST(value AS BLOB)) FROM kv WHERE plugin = ?1 AND key = ?2")?
            .query_row(params![plugin, key], |r| r.get(0))
            .optional()?;
        crate::check_kv_quota(keys, bytes, old, key, value, limits)?;
        kv_set(&tx, plugin, key, value)?;
        tx.commit()?;
        Ok(())
    }

    fn health_get(&self, plugin: &str) -> Result<Option<String>> {
        let mut st = self.conn.prepare_cached("SELECT health FROM plugin_health WHERE plugin = ?1")?;
        Ok(st.query_row([plugin], |r| r.get(0)).optional()?)
    }

    fn refusal_set(&self, file: &str, name: &str, sha256: &str, reason: &str, at: &str) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO plugin_refusals(file, name, sha256, reason, at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(file) DO UPDATE SET name = excluded.name, sha256 = excluded.sha256,
                    reason = excluded.reason, at = excluded.at",
            )?
            .execute(params![file, name, sha256, reason, at])?;
        Ok(())
    }

    fn refusal_clear(&self, file: &str) -> Result<()> {
        self.conn.prepare_cached("DELETE FROM plugin_refusals WHERE file = ?1")?.execute([file])?;
        Ok(())
    }

    fn refusals(&self) -> Result<Vec<Refusal>> {
        let mut st = self.conn.prepare_cached("SELECT file, name, sha256, reason, at FROM plugin_refusals ORDER BY file")?;
        let rows = st.query_map([], |r| {
            Ok(Refusal { file: r.get(0)?, name: r.get(1)?, sha256: r.get(2)?, reason: r.get(3)?, at: r.get(4)? })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn kv_usage(&self, plugin: &str) -> Result<(u64, u64)> {
        let mut st = self.conn.prepare_cached("SELECT keys, bytes FROM kv_usage WHERE plugin = ?1")?;
        let row: Option<(i64, i64)> = st.query_row([plugin], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
        Ok(row.map(|(k, b)| (k as u64, b as u64)).unwrap_or((0, 0)))
    }

    fn kv_delete(&self, plugin: &str, key: &str) -> Result<()> {
        self.conn.prepare_cached("DELETE FROM kv WHERE plugin = ?1 AND key = ?2")?.execute(params![plugin, key])?;
        Ok(())
    }

    fn request_retry(&self, id: &str) -> Result<()> {
        self.conn.execute("UPDATE tasks SET state = 'retry_requested' WHERE id = ?1", [id])?;
        self.conn.execute(
            "INSERT INTO events(task_id, at, event, detail) VALUES (?1, strftime('%Y-%m-%dT%H:%M:%fZ','now'), 'retry_requested', '{}')",
            [id],
        )?;
        Ok(())
    }

    fn deaths(&self, claim: &str) -> Result<u32> {
        let mut st = self.conn.prepare_cached("SELECT deaths + solo FROM claim_runs WHERE claim = ?1")?;
        Ok(st.query_row([claim], |r| r.get(0)).optional()?.unwrap_or(0))
    }
}

/// The writes of one pipeline batch, inside one SQLite transaction.
struct SqliteTx<'a> {
    tx: &'a Transaction<'a>,
}

impl Writes for SqliteTx<'_> {
    fn task(&self, id: &str) -> Result<Option<TaskRow>> {
        task_row(self.tx, id)
    }

    fn insert_task(&self, row: &TaskRow) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO tasks(id, content_hash, claim, file_name, sender, reply_to, plugin, action, title,
                                   state, attempts, claimed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?
            .execute(params![
                row.id, row.content_hash, row.claim, row.file_name, row.sender, row.reply_to,
                row.plugin, row.action, row.title, row.state, row.attempts, row.claimed_at
            ])?;
        Ok(())
    }

    fn reclaim(&self, id: &str, claim: &str) -> Result<()> {
        self.tx
            .prepare_cached("UPDATE tasks SET claim = ?2, state = 'claimed', attempts = 0 WHERE id = ?1")?
            .execute(params![id, claim])?;
        Ok(())
    }

    fn start_attempt(&self, id: &str, attempt: u32) -> Result<()> {
        self.tx
            .prepare_cached("UPDATE tasks SET state = 'running', attempts = ?2 WHERE id = ?1")?
            .execute(params![id, attempt])?;
        Ok(())
    }

    fn finish(
        &self,
        id: &str,
        state: TaskState,
        error: Option<(&str, &str)>,
        return_name: Option<&str>,
        finished_at: &str,
        duration_ms: f64,
    ) -> Result<()> {
        self.tx
            .prepare_cached(
                "UPDATE tasks SET state = ?2, error_code = ?3, error_message = ?4,
                        return_name = COALESCE(?5, return_name), finished_at = ?6, duration_ms = ?7
                 WHERE id = ?1",
            )?
            .execute(params![id, state, error.map(|e| e.0), error.map(|e| e.1), return_name, finished_at, duration_ms])?;
        Ok(())
    }

    fn events(&self, id: &str) -> Result<Vec<Event>> {
        events(self.tx, id)
    }

    fn solo_begin(&self, claim: &str) -> Result<u32> {
        self.tx
            .prepare_cached(
                "INSERT INTO claim_runs(claim, deaths, solo) VALUES (?1, 0, 1)
                 ON CONFLICT(claim) DO UPDATE SET deaths = deaths + solo, solo = 1",
            )?
            .execute([claim])?;
        Ok(self.tx.prepare_cached("SELECT deaths FROM claim_runs WHERE claim = ?1")?.query_row([claim], |r| r.get(0))?)
    }

    fn solo_abandon(&self, claim: &str) -> Result<()> {
        self.tx.prepare_cached("UPDATE claim_runs SET solo = 0 WHERE claim = ?1")?.execute([claim])?;
        Ok(())
    }

    fn solo_end(&self, claim: &str) -> Result<()> {
        self.tx.prepare_cached("DELETE FROM claim_runs WHERE claim = ?1")?.execute([claim])?;
        Ok(())
    }

    fn log(&self, task_id: &str, at: &str, level: &str, message: &str) -> Result<()> {
        self.tx
            .prepare_cached("INSERT INTO logs(task_id, at, level, message) VALUES (?1, ?2, ?3, ?4)")?
            .execute(params![task_id, at, level, message])?;
        Ok(())
    }

    fn kv_set(&self, plugin: &str, key: &str, value: &str) -> Result<()> {
        kv_set(self.tx, plugin, key, value)
    }

    fn health_get(&self, plugin: &str) -> Result<Option<String>> {
        let mut st = self.tx.prepare_cached("SELECT health FROM plugin_health WHERE plugin = ?1")?;
        Ok(st.query_row([plugin], |r| r.get(0)).optional()?)
    }

    fn health_set(&self, plugin: &str, health: &str) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO plugin_health(plugin, health) VALUES (?1, ?2)
                 ON CONFLICT(plugin) DO UPDATE SET health = excluded.health",
            )?
            .execute(params![plugin, health])?;
        Ok(())
    }

    fn event(&self, task_id: &str, at: &str, event: &str, detail: &serde_json::Value) -> Result<()> {
        self.tx
            .prepare_cached("INSERT INTO events(task_id, at, event, detail) VALUES (?1, ?2, ?3, ?4)")?
            .execute(params![task_id, at, event, detail.to_string()])?;
        Ok(())
    }

    fn observe(&self, o: &Observed, seen_at: &str) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT OR IGNORE INTO observed(agent, file_name, kind, id, in_reply_to, sender, recipient, title, created_at, seen_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                o.agent, o.file_name, o.kind, o.id, o.in_reply_to, o.sender, o.recipient, o.title, o.created_at, seen_at
            ])?;
        Ok(())
    }
    fn record_stats(&self, batch: &crate::stats::StatsBatch) -> Result<()> {
        batch.write(self.tx)
    }
}

impl rusqlite::types::ToSql for TaskState {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl rusqlite::types::FromSql for TaskState {
    fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        let s = v.as_str()?;
        TaskState::parse(s).ok_or_else(|| rusqlite::types::FromSqlError::Other(format!("unknown task state {s:?}").into()))
    }
}

fn kv_set(conn: &Connection, plugin: &str, key: &str, value: &str) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO kv(plugin, key, value) VALUES (?1, ?2, ?3)
         ON CONFLICT(plugin, key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![plugin, key, value])?;
    Ok(())
}

fn events(conn: &Connection, id: &str) -> Result<Vec<Event>> {
    let mut st = conn.prepare_cached("SELECT at, event, detail FROM events WHERE task_id = ?1 ORDER BY seq")?;
    let rows = st.query_map([id], |r| {
        let detail: String = r.get(2)?;
        Ok(Event { at: r.get(0)?, event: r.get(1)?, detail: crate::parse_detail(detail) })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

const TASK_COLUMNS: &str = crate::TASK_COLUMNS;

fn task_row(conn: &Connection, id: &str) -> Result<Option<TaskRow>> {
    let mut st = conn.prepare_cached(&format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?1"))?;
    Ok(st.query_row([id], from_row).optional()?)
}

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TaskRow> {
    Ok(TaskRow {
        id: r.get(0)?,
        content_hash: r.get(1)?,
        claim: r.get(2)?,
        file_name: r.get(3)?,
        sender: r.get(4)?,
        reply_to: r.get(5)?,
        plugin: r.get(6)?,
        action: r.get(7)?,
        title: r.get(8)?,
        state: r.get(9)?,
        error_code: r.get(10)?,
        error_message: r.get(11)?,
        attempts: r.get(12)?,
        return_name: r.get(13)?,
        claimed_at: r.get(14)?,
        finished_at: r.get(15)?,
        duration_ms: r.get(16)?,
    })
}

fn observed_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Observed> {
    Ok(Observed {
        agent: r.get(0)?,
        file_name: r.get(1)?,
        kind: r.get(2)?,
        id: r.get(3)?,
        in_reply_to: r.get(4)?,
        sender: r.get(5)?,
        recipient: r.get(6)?,
        title: r.get(7)?,
        created_at: r.get(8)?,
    })
}
