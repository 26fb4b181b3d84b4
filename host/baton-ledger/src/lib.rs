//! baton's state: one SQLite database in WAL mode, on a local disk (never a synced folder).
//!
//! The file system is the truth about where a handoff is; the ledger is the truth about what
//! happened to it: claims, attempts and their errors, results, what other agents sent each
//! other, plugin logs and key-value data. Writes are batched by the caller into one
//! transaction per pipeline batch, so a handoff costs a fraction of an fsync here.

mod schema;
pub mod stats;

use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde::Serialize;

pub use rusqlite;

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("state database {path}: {source}")]
    Open { path: String, source: rusqlite::Error },
    #[error("creating the state folder {path}: {source}")]
    Folder { path: String, source: std::io::Error },
    #[error("state database: {0}")]
    Sql(#[from] rusqlite::Error),
    /// A kv write refused: it would take the plugin over its quota (the message says which).
    #[error("{0}")]
    KvQuota(String),
}

/// An installed component the host refused to load (identity mismatch, reserved name…).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    pub file: String,
    /// The plugin name the file stands for (its file name).
    pub name: String,
    pub sha256: String,
    pub reason: String,
    pub at: String,
}

/// A plugin's kv quota, as the ledger enforces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvLimits {
    pub keys: u64,
    /// Keys plus values, in bytes.
    pub bytes: u64,
}

pub type Result<T, E = LedgerError> = std::result::Result<T, E>;

impl LedgerError {
    /// A condition that may pass (disk full, I/O error, a lock held too long): back off and
    /// try again rather than stop. Anything else (a corrupt file, a schema mismatch) is not.
    pub fn is_transient(&self) -> bool {
        use rusqlite::ErrorCode as C;
        let sql = match self {
            LedgerError::Folder { source, .. } => return matches!(source.raw_os_error(), Some(28 | 5)),
            LedgerError::Open { source, .. } | LedgerError::Sql(source) => source,
            // A quota is the plugin's limit, not the disk's: retrying cannot help.
            LedgerError::KvQuota(_) => return false,
        };
        match sql {
            rusqlite::Error::SqliteFailure(e, _) => matches!(
                e.code,
                C::DiskFull | C::SystemIoFailure | C::DatabaseBusy | C::DatabaseLocked | C::OutOfMemory
            ),
            _ => false,
        }
    }
}

/// Where a task is in its life. Stored as its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    Claimed,
    Running,
    Retrying,
    Completed,
    Failed,
    Rejected,
    /// `baton retry` asked for another run; the next claim of the same content runs it.
    RetryRequested,
}

impl TaskState {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Claimed => "claimed",
            TaskState::Running => "running",
            TaskState::Retrying => "retrying",
            TaskState::Completed => "completed",
            TaskState::Failed => "failed",
            TaskState::Rejected => "rejected",
            TaskState::RetryRequested => "retry_requested",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            TaskState::Claimed,
            TaskState::Running,
            TaskState::Retrying,
            TaskState::Completed,
            TaskState::Failed,
            TaskState::Rejected,
            TaskState::RetryRequested,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }

    /// Completed, failed or rejected: answered, nothing left to run.
    pub fn is_terminal(self) -> bool {
        matches!(self, TaskState::Completed | TaskState::Failed | TaskState::Rejected)
    }
}

impl std::fmt::Display for TaskState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
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

/// An open state database.
pub struct Ledger {
    conn: Connection,
}

/// What the ledger knows about one task id.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TaskRow {
    pub id: String,
    pub content_hash: String,
    pub claim: String,
    pub file_name: String,
    pub sender: String,
    pub reply_to: String,
    pub plugin: Option<String>,
    pub action: Option<String>,
    pub title: String,
    pub state: TaskState,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub attempts: u32,
    pub return_name: Option<String>,
    pub claimed_at: String,
    pub finished_at: Option<String>,
    pub duration_ms: Option<f64>,
}

/// One line of a task's history.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Event {
    pub at: String,
    pub event: String,
    pub detail: serde_json::Value,
}

/// A plugin log line kept with its task.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LogLine {
    pub at: String,
    pub level: String,
    pub message: String,
}

/// A handoff seen in some agent's inbox (baton never moves those).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Observed {
    pub agent: String,
    pub file_name: String,
    pub kind: String,
    pub id: String,
    pub in_reply_to: Option<String>,
    pub sender: String,
    pub recipient: Option<String>,
    pub title: String,
    pub created_at: String,
}

impl Ledger {
    /// Opens (creating if needed) the state database at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|source| LedgerError::Folder { path: dir.display().to_string(), source })?;
        }
        let open_err = |source| LedgerError::Open { path: path.display().to_string(), source };
        let conn = open_wal(path, "FULL").map_err(open_err)?;
        schema::migrate(&conn).map_err(open_err)?;
        Ok(Ledger { conn })
    }

    /// Runs `f` in one transaction (one fsync for the whole batch).
    pub fn batch<R>(&mut self, f: impl FnOnce(&Batch<'_>) -> Result<R>) -> Result<R> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let out = f(&Batch { tx: &tx })?;
        tx.commit()?;
        Ok(out)
    }

    pub fn task(&self, id: &str) -> Result<Option<TaskRow>> {
        task_row(&self.conn, id)
    }

    pub fn events(&self, id: &str) -> Result<Vec<Event>> {
        events(&self.conn, id)
    }

    pub fn logs(&self, id: &str) -> Result<Vec<LogLine>> {
        let mut st = self.conn.prepare_cached(
            "SELECT at, level, message FROM logs WHERE task_id = ?1 ORDER BY seq",
        )?;
        let rows = st.query_map([id], |r| Ok(LogLine { at: r.get(0)?, level: r.get(1)?, message: r.get(2)? }))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The most recently finished tasks, newest first.
    pub fn recent(&self, limit: usize) -> Result<Vec<TaskRow>> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {TASK_COLUMNS} FROM tasks ORDER BY COALESCE(finished_at, claimed_at) DESC LIMIT ?1"
        ))?;
        let rows = st.query_map([limit as i64], from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Counts of tasks by state.
    pub fn counts(&self) -> Result<Vec<(String, u64)>> {
        let mut st = self.conn.prepare_cached("SELECT state, COUNT(*) FROM tasks GROUP BY state ORDER BY state")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// TASKs seen between agents that have no RETURN yet, oldest first. A TASK that baton routed
    /// into another agent's inbox stays open until that agent answers: baton's own "routed"
    /// RETURN is not an answer (and baton never reads its own RETURNs back).
    pub fn open_handoffs(&self) -> Result<Vec<Observed>> {
        let mut st = self.conn.prepare_cached(
            "SELECT agent, file_name, kind, id, in_reply_to, sender, recipient, title, created_at
             FROM observed o WHERE kind = 'task'
               AND NOT EXISTS (SELECT 1 FROM observed r WHERE r.kind = 'return' AND r.in_reply_to = o.id)
             ORDER BY created_at",
        )?;
        let rows = st.query_map([], observed_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Whether an agent's inbox file was already recorded (so it is parsed only once).
    pub fn is_observed(&self, agent: &str, file_name: &str) -> Result<bool> {
        let mut st = self.conn.prepare_cached("SELECT 1 FROM observed WHERE agent = ?1 AND file_name = ?2")?;
        Ok(st.exists(params![agent, file_name])?)
    }

    pub fn kv_get(&self, plugin: &str, key: &str) -> Result<Option<String>> {
        let mut st = self.conn.prepare_cached("SELECT value FROM kv WHERE plugin = ?1 AND key = ?2")?;
        Ok(st.query_row(params![plugin, key], |r| r.get(0)).optional()?)
    }

    pub fn kv_set(&self, plugin: &str, key: &str, value: &str) -> Result<()> {
        kv_set(&self.conn, plugin, key, value)
    }

    /// Writes a plugin's kv entry unless that takes the plugin over `limits`; the check and
    /// the write are one transaction, so two processes cannot both squeeze under the quota.
    pub fn kv_set_within(&mut self, plugin: &str, key: &str, value: &str, limits: KvLimits) -> Result<()> {
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
        let (keys_after, bytes_after) = match old {
            Some(old) => (keys, bytes - old + value.len() as i64),
            None => (keys + 1, bytes + (key.len() + value.len()) as i64),
        };
        if keys_after as u64 > limits.keys {
            return Err(LedgerError::KvQuota(format!("more than {} keys", limits.keys)));
        }
        if old.is_none_or(|old| (value.len() as i64) > old) && bytes_after as u64 > limits.bytes {
            return Err(LedgerError::KvQuota(format!("more than {} bytes of keys and values", limits.bytes)));
        }
        kv_set(&tx, plugin, key, value)?;
        tx.commit()?;
        Ok(())
    }

    /// A plugin's saved health (JSON), kept apart from every plugin's kv namespace.
    pub fn health_get(&self, plugin: &str) -> Result<Option<String>> {
        let mut st = self.conn.prepare_cached("SELECT health FROM plugin_health WHERE plugin = ?1")?;
        Ok(st.query_row([plugin], |r| r.get(0)).optional()?)
    }

    /// Records that the installed component `file` was refused (replacing an older refusal).
    pub fn refusal_set(&self, file: &str, name: &str, sha256: &str, reason: &str, at: &str) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO plugin_refusals(file, name, sha256, reason, at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(file) DO UPDATE SET name = excluded.name, sha256 = excluded.sha256,
                    reason = excluded.reason, at = excluded.at",
            )?
            .execute(params![file, name, sha256, reason, at])?;
        Ok(())
    }

    /// `file` loaded (or is gone): it is no longer refused.
    pub fn refusal_clear(&self, file: &str) -> Result<()> {
        self.conn.prepare_cached("DELETE FROM plugin_refusals WHERE file = ?1")?.execute([file])?;
        Ok(())
    }

    /// Every recorded refusal, by file.
    pub fn refusals(&self) -> Result<Vec<Refusal>> {
        let mut st = self.conn.prepare_cached("SELECT file, name, sha256, reason, at FROM plugin_refusals ORDER BY file")?;
        let rows = st.query_map([], |r| {
            Ok(Refusal { file: r.get(0)?, name: r.get(1)?, sha256: r.get(2)?, reason: r.get(3)?, at: r.get(4)? })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// A plugin's kv usage: (keys, bytes of keys and values).
    pub fn kv_usage(&self, plugin: &str) -> Result<(u64, u64)> {
        let mut st = self.conn.prepare_cached("SELECT keys, bytes FROM kv_usage WHERE plugin = ?1")?;
        let row: Option<(i64, i64)> = st.query_row([plugin], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
        Ok(row.map(|(k, b)| (k as u64, b as u64)).unwrap_or((0, 0)))
    }

    pub fn kv_delete(&self, plugin: &str, key: &str) -> Result<()> {
        self.conn.prepare_cached("DELETE FROM kv WHERE plugin = ?1 AND key = ?2")?.execute(params![plugin, key])?;
        Ok(())
    }


    /// Marks a failed task so that its next claim runs again instead of counting as a duplicate.
    pub fn request_retry(&self, id: &str) -> Result<()> {
        self.conn.execute("UPDATE tasks SET state = 'retry_requested' WHERE id = ?1", [id])?;
        self.conn.execute(
            "INSERT INTO events(task_id, at, event, detail) VALUES (?1, strftime('%Y-%m-%dT%H:%M:%fZ','now'), 'retry_requested', '{}')",
            [id],
        )?;
        Ok(())
    }

    /// Deaths counted against a claim so far (see [`Batch::solo_begin`]), counting a `solo`
    /// still set as one more.
    pub fn deaths(&self, claim: &str) -> Result<u32> {
        let mut st = self.conn.prepare_cached("SELECT deaths + solo FROM claim_runs WHERE claim = ?1")?;
        Ok(st.query_row([claim], |r| r.get(0)).optional()?.unwrap_or(0))
    }

    /// Direct access for crates that keep their own tables in the same file.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

/// Opens a SQLite database in WAL mode with a 30 s busy timeout and the given `synchronous`
/// level, for every crate that keeps tables in the state file.
///
/// Why the retry: when two processes open a *new* database at the same moment, switching it
/// to WAL can fail with "database is locked" at once, without waiting on the busy handler.
/// The setup is retried for up to the busy timeout instead.
pub fn open_wal(path: &Path, synchronous: &str) -> rusqlite::Result<Connection> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let attempt = Connection::open(path).and_then(|conn| {
            conn.busy_timeout(Duration::from_secs(30))?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", synchronous)?;
            Ok(conn)
        });
        match attempt {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(e.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// The writes of one pipeline batch, inside one transaction.
pub struct Batch<'a> {
    tx: &'a Transaction<'a>,
}

impl Batch<'_> {
    pub fn task(&self, id: &str) -> Result<Option<TaskRow>> {
        task_row(self.tx, id)
    }

    /// Records a new claim of a task (state `claimed`).
    pub fn insert_task(&self, row: &TaskRow) -> Result<()> {
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

    /// Points a task at a new claim (after `baton retry`) and resets its attempts.
    pub fn reclaim(&self, id: &str, claim: &str) -> Result<()> {
        self.tx
            .prepare_cached("UPDATE tasks SET claim = ?2, state = 'claimed', attempts = 0 WHERE id = ?1")?
            .execute(params![id, claim])?;
        Ok(())
    }

    /// Records an attempt starting.
    pub fn start_attempt(&self, id: &str, attempt: u32) -> Result<()> {
        self.tx
            .prepare_cached("UPDATE tasks SET state = 'running', attempts = ?2 WHERE id = ?1")?
            .execute(params![id, attempt])?;
        Ok(())
    }

    /// Records a task reaching a terminal state (or `retrying`).
    #[allow(clippy::too_many_arguments)]
    pub fn finish(
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

    pub fn events(&self, id: &str) -> Result<Vec<Event>> {
        events(self.tx, id)
    }

    /// Adds a group's answers to the summary tables (counters and histograms, see [`stats`]),
    /// in this batch's transaction.
    pub fn record_stats(&self, batch: &stats::StatsBatch) -> Result<()> {
        batch.write(self.tx)
    }

    /// The poison-pill guard, before a claim taken over from a dead process runs alone:
    /// if it was already running alone when a process died (`solo` still set), that counts
    /// one death. Sets `solo` and returns the deaths so far.
    pub fn solo_begin(&self, claim: &str) -> Result<u32> {
        self.tx
            .prepare_cached(
                "INSERT INTO claim_runs(claim, deaths, solo) VALUES (?1, 0, 1)
                 ON CONFLICT(claim) DO UPDATE SET deaths = deaths + solo, solo = 1",
            )?
            .execute([claim])?;
        Ok(self.tx.prepare_cached("SELECT deaths FROM claim_runs WHERE claim = ?1")?.query_row([claim], |r| r.get(0))?)
    }

    /// The process is stopping by request while the claim runs alone: no death to count.
    pub fn solo_abandon(&self, claim: &str) -> Result<()> {
        self.tx.prepare_cached("UPDATE claim_runs SET solo = 0 WHERE claim = ?1")?.execute([claim])?;
        Ok(())
    }

    /// The claim finished in this process (whatever its outcome): forget its guard row.
    pub fn solo_end(&self, claim: &str) -> Result<()> {
        self.tx.prepare_cached("DELETE FROM claim_runs WHERE claim = ?1")?.execute([claim])?;
        Ok(())
    }

    /// A plugin log line, kept with its task.
    pub fn log(&self, task_id: &str, at: &str, level: &str, message: &str) -> Result<()> {
        self.tx
            .prepare_cached("INSERT INTO logs(task_id, at, level, message) VALUES (?1, ?2, ?3, ?4)")?
            .execute(params![task_id, at, level, message])?;
        Ok(())
    }

    pub fn kv_set(&self, plugin: &str, key: &str, value: &str) -> Result<()> {
        kv_set(self.tx, plugin, key, value)
    }

    /// A plugin's saved health (JSON), read inside the batch.
    pub fn health_get(&self, plugin: &str) -> Result<Option<String>> {
        let mut st = self.tx.prepare_cached("SELECT health FROM plugin_health WHERE plugin = ?1")?;
        Ok(st.query_row([plugin], |r| r.get(0)).optional()?)
    }

    /// Saves a plugin's health (JSON) in its own table, never in a plugin's kv namespace.
    pub fn health_set(&self, plugin: &str, health: &str) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO plugin_health(plugin, health) VALUES (?1, ?2)
                 ON CONFLICT(plugin) DO UPDATE SET health = excluded.health",
            )?
            .execute(params![plugin, health])?;
        Ok(())
    }

    /// Appends to a task's (or a rejected file's) history.
    pub fn event(&self, task_id: &str, at: &str, event: &str, detail: &serde_json::Value) -> Result<()> {
        self.tx
            .prepare_cached("INSERT INTO events(task_id, at, event, detail) VALUES (?1, ?2, ?3, ?4)")?
            .execute(params![task_id, at, event, detail.to_string()])?;
        Ok(())
    }

    pub fn observe(&self, o: &Observed, seen_at: &str) -> Result<()> {
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
    {
        let rows = st.query_map([id], |r| {
            let detail: String = r.get(2)?;
            Ok(Event {
                at: r.get(0)?,
                event: r.get(1)?,
                detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::String(detail)),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

const TASK_COLUMNS: &str = "id, content_hash, claim, file_name, sender, reply_to, plugin, action, title, state,
    error_code, error_message, attempts, return_name, claimed_at, finished_at, duration_ms";

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

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str) -> TaskRow {
        TaskRow {
            id: id.into(), content_hash: "h".into(), claim: "c1".into(), file_name: "f.json".into(),
            sender: "a".into(), reply_to: "a".into(), plugin: Some("echo".into()), action: Some("echo".into()),
            title: "t".into(), state: TaskState::Claimed, error_code: None, error_message: None, attempts: 0,
            return_name: None, claimed_at: "2026-01-01T00:00:00Z".into(), finished_at: None, duration_ms: None,
        }
    }

    #[test]
    fn records_survive_reopen_and_events_keep_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/baton.sqlite");
        {
            let mut l = Ledger::open(&path).unwrap();
            l.batch(|b| {
                b.insert_task(&row("t1"))?;
                b.start_attempt("t1", 1)?;
                b.event("t1", "x", "claimed", &serde_json::json!({"n": 1}))?;
                b.event("t1", "y", "completed", &serde_json::json!({}))?;
                b.finish("t1", TaskState::Completed, None, Some("r.json"), "z", 1.5)
            })
            .unwrap();
            // A duplicate insert fails inside its batch and rolls back only that batch.
            assert!(l.batch(|b| b.insert_task(&row("t1"))).is_err());
        }
        let l = Ledger::open(&path).unwrap();
        let t = l.task("t1").unwrap().unwrap();
        assert_eq!((t.state.as_str(), t.attempts, t.return_name.as_deref()), ("completed", 1, Some("r.json")));
        let ev: Vec<_> = l.events("t1").unwrap().into_iter().map(|e| e.event).collect();
        assert_eq!(ev, ["claimed", "completed"]);
        l.kv_set("p", "k", "v").unwrap();
        assert_eq!(l.kv_get("p", "k").unwrap().as_deref(), Some("v"));
        assert_eq!(l.kv_get("other", "k").unwrap(), None);
    }

    #[test]
    fn a_death_counts_only_when_a_solo_run_was_still_marked() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(&dir.path().join("s.sqlite")).unwrap();
        assert_eq!(l.batch(|b| b.solo_begin("c")).unwrap(), 0, "first solo run: no death yet");
        assert_eq!(l.deaths("c").unwrap(), 1, "still marked: the process died during it");
        assert_eq!(l.batch(|b| b.solo_begin("c")).unwrap(), 1);
        assert_eq!(l.batch(|b| b.solo_begin("c")).unwrap(), 2);
        l.batch(|b| b.solo_end("c")).unwrap();
        assert_eq!(l.deaths("c").unwrap(), 0);
        assert_eq!(l.batch(|b| b.solo_begin("c")).unwrap(), 0, "a finished run forgets its deaths");
    }

    #[test]
    fn kv_quota_counts_keys_and_bytes_and_frees_them_on_delete() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(&dir.path().join("s.sqlite")).unwrap();
        let q = KvLimits { keys: 3, bytes: 100 };
        for k in ["a", "b", "c"] {
            l.kv_set_within("p", k, "0123456789", q).unwrap();
        }
        assert!(matches!(l.kv_set_within("p", "d", "x", q), Err(LedgerError::KvQuota(m)) if m.contains("3 keys")));
        // Overwriting an existing key is not a new key; growing past the bytes is refused.
        l.kv_set_within("p", "a", "short", q).unwrap();
        assert!(matches!(l.kv_set_within("p", "b", &"x".repeat(90), q), Err(LedgerError::KvQuota(m)) if m.contains("100 bytes")));
        assert_eq!(l.kv_get("p", "b").unwrap().as_deref(), Some("0123456789"), "the refused write left the old value");
        assert_eq!(l.kv_usage("p").unwrap(), (3, 3 + 5 + 10 + 10));
        l.kv_delete("p", "c").unwrap();
        assert_eq!(l.kv_usage("p").unwrap(), (2, 2 + 5 + 10));
        l.kv_set_within("p", "d", "x", q).unwrap();
        // Other plugins have their own quota; the host's own writes are not limited.
        l.kv_set_within("other", "a", "0123456789", q).unwrap();
        l.kv_set("p", "e", "host bookkeeping").unwrap();
        assert_eq!(l.kv_usage("other").unwrap(), (1, 11));
    }

    #[test]
    fn plugin_health_moves_out_of_the_kv_namespace_and_refusals_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        {
            // A v3 database with health where any plugin named `baton.health` could reach it.
            let conn = Connection::open(&path).unwrap();
            for (i, sql) in schema::MIGRATIONS.iter().take(3).enumerate() {
                conn.execute_batch(&format!("{sql}; PRAGMA user_version = {};", i + 1)).unwrap();
            }
            conn.execute("INSERT INTO kv(plugin, key, value) VALUES ('baton.health', 'echo', '{\"consecutive_failures\":2}')", []).unwrap();
        }
        let mut l = Ledger::open(&path).unwrap();
        assert_eq!(l.health_get("echo").unwrap().as_deref(), Some("{\"consecutive_failures\":2}"));
        assert_eq!(l.kv_get("baton.health", "echo").unwrap(), None, "nothing left in the plugin namespace");
        l.batch(|b| b.health_set("echo", "{}")).unwrap();
        assert_eq!(l.health_get("echo").unwrap().as_deref(), Some("{}"));
        l.kv_set("baton.health", "echo", "forged").unwrap();
        assert_eq!(l.health_get("echo").unwrap().as_deref(), Some("{}"), "a kv write cannot reach it");

        l.refusal_set("/p/x.wasm", "x", "ab", "first", "t1").unwrap();
        l.refusal_set("/p/x.wasm", "x", "cd", "second", "t2").unwrap();
        let r = l.refusals().unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].sha256.as_str(), r[0].reason.as_str()), ("cd", "second"));
        l.refusal_clear("/p/x.wasm").unwrap();
        assert!(l.refusals().unwrap().is_empty());
    }

    #[test]
    fn old_logs_are_pruned_but_tasks_and_events_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(&dir.path().join("s.sqlite")).unwrap();
        l.batch(|b| {
            b.insert_task(&row("t1"))?;
            b.event("t1", "x", "claimed", &serde_json::json!({}))?;
            for i in 0..210_000 {
                b.log(if i < 5_000 { "t1" } else { "t2" }, "at", "info", "m")?;
            }
            Ok(())
        })
        .unwrap();
        let kept: i64 = l.connection().query_row("SELECT COUNT(*) FROM logs", [], |r| r.get(0)).unwrap();
        assert!((200_000..201_024).contains(&kept), "{kept}");
        assert!(l.logs("t1").unwrap().is_empty(), "the oldest execution's logs went first");
        assert_eq!(l.counts().unwrap(), vec![("claimed".to_string(), 1)]);
        assert_eq!(l.events("t1").unwrap().len(), 1);
    }

    #[test]
    fn open_handoffs_close_when_a_return_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(&dir.path().join("s.sqlite")).unwrap();
        let task = Observed {
            agent: "cursor".into(), file_name: "t.json".into(), kind: "task".into(), id: "T1".into(),
            in_reply_to: None, sender: "claude".into(), recipient: Some("cursor".into()), title: "Review".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
        };
        l.batch(|b| b.observe(&task, "now")).unwrap();
        assert!(l.is_observed("cursor", "t.json").unwrap());
        assert_eq!(l.open_handoffs().unwrap().len(), 1);
        let ret = Observed { kind: "return".into(), id: "R1".into(), in_reply_to: Some("T1".into()), file_name: "r.json".into(), agent: "claude".into(), ..task };
        l.batch(|b| b.observe(&ret, "now")).unwrap();
        assert!(l.open_handoffs().unwrap().is_empty());
    }
}
