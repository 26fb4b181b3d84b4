//! The SQLite backend of the ledger: one database file in WAL mode on a local disk (the
//! default). Implements [`Store`] and [`Writes`]; every SQL statement of this backend is here
//! (its schema is `baton_store::LEDGER`'s SQLite migrations).
use std::path::Path;

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::read::{AlertRow, AlertTx, Alerts, ObservedItem, StatRow, StatTable, StatsStore, TaskFilter, TaskList};
use crate::search::{COUNT_CAP, FILTERED_WINDOW, INDEX_BATCH, Query, fts_string, fts_word, index_words};
use crate::{Event, KvLimits, LedgerError, LogLine, Observed, Refusal, Result, Store, TaskRow, TaskState, Writes};

pub(crate) struct SqliteLedger {
    /// Declared first, so dropped first: the thread stops before `conn` closes.
    checkpointer: Option<crate::checkpoint::Checkpointer>,
    pub(crate) conn: Connection,
    path: std::path::PathBuf,
    /// Why the file was opened read-only, when it was: every write then says so, once.
    read_only: Option<String>,
}

impl SqliteLedger {
    pub(crate) fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            baton_fs::ensure_dir(dir)
                .map_err(|source| LedgerError::Folder { path: dir.display().to_string(), source })?;
        }
        let shown = path.display().to_string();
        let (conn, read_only) = match baton_store::sqlite::open_wal(path, "FULL") {
            Ok(conn) if !conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(false) => (conn, None),
            opened => match unwritable(path) {
                Some(why) => (
                    open_read_only(path)
                        .map_err(|_| LedgerError::ReadOnly { path: shown.clone(), why: why.clone() })?,
                    Some(why),
                ),
                None => (opened.map_err(|source| LedgerError::Open { path: shown.clone(), source })?, None),
            },
        };
        baton_store::sqlite::migrate(&conn, &baton_store::LEDGER).map_err(|e| LedgerError::from_store(&shown, e))?;
        Ok(SqliteLedger { checkpointer: None, conn, path: path.to_path_buf(), read_only })
    }

    /// See [`crate::Ledger::checkpoint_in_background`].
    pub(crate) fn checkpoint_in_background(&mut self) {
        if self.checkpointer.is_none() {
            self.checkpointer = crate::checkpoint::Checkpointer::start(&self.path, &self.conn);
        }
    }

    /// Runs `f` in one transaction (one fsync for the whole batch).
    pub(crate) fn batch<R>(&mut self, f: impl FnOnce(&dyn Writes) -> Result<R>) -> Result<R> {
        if let Some(why) = &self.read_only {
            return Err(LedgerError::ReadOnly { path: self.path.display().to_string(), why: why.clone() });
        }
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let out = f(&SqliteTx { tx: &tx })?;
        tx.commit()?;
        Ok(out)
    }

    /// See [`crate::Ledger::batch_unsynced`]: the batch at `synchronous = NORMAL`, which in WAL
    /// mode writes the commit to the WAL without waiting for its sync. The next synced commit
    /// of any connection (the same file), or the checkpoint, makes it durable with its own.
    pub(crate) fn batch_unsynced<R>(&mut self, f: impl FnOnce(&dyn Writes) -> Result<R>) -> Result<R> {
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        let out = self.batch(f);
        // A flag on the connection (no lock, no I/O): set back whether or not the batch failed,
        // and its error, which no known cause gives, is the caller's too.
        let restored = self.conn.pragma_update(None, "synchronous", "FULL");
        let out = out?;
        restored?;
        Ok(out)
    }
}

/// Why the state file at `path` cannot be written by this process (its folder or the file on a
/// read-only file system, or not this user's to write), or `None` when that is not why.
fn unwritable(path: &Path) -> Option<String> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    baton_fs::present(path).ok()??;
    // The file first, then its folder: the one named is the one that refused.
    let (which, e) = [path, dir].into_iter().find_map(|p| baton_fs::cannot_write(p).map(|e| (p, e)))?;
    Some(match e.kind() {
        std::io::ErrorKind::ReadOnlyFilesystem => "read-only file system".to_string(),
        _ => format!("{}: permission denied", which.display()),
    })
}

/// The state file opened for reading only, so that `status`, `show` and the other commands
/// that only read work on a home nobody may write. A file in WAL mode whose `-shm` cannot be
/// made (nothing may be created beside it) is opened `immutable`: nothing can write it there
/// while this process reads.
fn open_read_only(path: &Path) -> rusqlite::Result<Connection> {
    use rusqlite::OpenFlags;
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let uri = |query: &str| format!("file:{}?{query}", uri_path(path));
    let usable = |conn: Connection| conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(())).map(|()| conn);
    Connection::open_with_flags(uri("mode=ro"), flags)
        .and_then(usable)
        .or_else(|_| Connection::open_with_flags(uri("mode=ro&immutable=1"), flags).and_then(usable))
}

/// `path` as the path of a `file:` URI (RFC 3986: `%`, `?` and `#` escaped, and every byte that
/// is not printable ASCII).
fn uri_path(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut out = String::new();
    for &b in path.as_os_str().as_bytes() {
        match b {
            b'%' | b'?' | b'#' => out.push_str(&format!("%{b:02X}")),
            0x21..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

impl Store for SqliteLedger {
    fn task(&self, id: &str) -> Result<Option<TaskRow>> {
        task_row(&self.conn, id)
    }

    fn events(&self, id: &str) -> Result<Vec<Event>> {
        events(&self.conn, id)
    }

    fn tasks_by_id(&self, key: Option<&str>, after: &str, limit: usize) -> Result<Vec<(Option<i64>, TaskRow)>> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {TASK_COLUMNS}, rowid FROM tasks WHERE (?1 IS NULL OR id = ?1) AND id > ?2 ORDER BY id LIMIT ?3"
        ))?;
        let n = TASK_COLUMNS.split(',').count();
        let rows =
            st.query_map(params![key, after, limit as i64], |r| Ok((r.get::<_, Option<i64>>(n)?, from_row(r)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn task_count(&self) -> Result<u64> {
        Ok(self.conn.query_row("SELECT count(*) FROM tasks", [], |r| r.get::<_, i64>(0))?.max(0) as u64)
    }

    fn events_named(&self, event: &str, before: Option<i64>, limit: usize) -> Result<Vec<(i64, String, Event)>> {
        let mut st = self.conn.prepare_cached(
            "SELECT seq, task_id, at, event, detail FROM events WHERE event = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3",
        )?;
        let rows = st.query_map(params![event, before.unwrap_or(i64::MAX), limit as i64], |r| {
            let detail: String = r.get(4)?;
            Ok((r.get(0)?, r.get(1)?, Event { at: r.get(2)?, event: r.get(3)?, detail: crate::parse_detail(detail) }))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn logs(&self, id: &str) -> Result<Vec<LogLine>> {
        let mut st = self.conn.prepare_cached("SELECT at, level, message FROM logs WHERE task_id = ?1 ORDER BY seq")?;
        let rows = st.query_map([id], |r| Ok(LogLine { at: r.get(0)?, level: r.get(1)?, message: r.get(2)? }))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn recent(&self, limit: usize) -> Result<Vec<TaskRow>> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {TASK_COLUMNS} FROM tasks ORDER BY julianday(COALESCE(finished_at, claimed_at)) DESC LIMIT ?1"
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
        let mut st =
            self.conn.prepare_cached("SELECT file, name, sha256, reason, at FROM plugin_refusals ORDER BY file")?;
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

    fn request_retry(&self, id: &str, content_hash: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE tasks SET state = 'retry_requested', content_hash = ?2 WHERE id = ?1",
            params![id, content_hash],
        )?;
        self.conn.execute(
            "INSERT INTO events(task_id, at, event, detail) VALUES (?1, strftime('%Y-%m-%dT%H:%M:%fZ','now'), 'retry_requested', '{}')",
            [id],
        )?;
        // Counted under the task's plugin (`stat_events`; see `stats`).
        self.conn.execute(
            "INSERT INTO stat_events(event, plugin, detail, n)
             SELECT 'retry', coalesce(plugin, 'unknown'), 'manual', 1 FROM tasks WHERE id = ?1
             ON CONFLICT(event, plugin, detail) DO UPDATE SET n = n + 1",
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
                row.id,
                row.content_hash,
                row.claim,
                row.file_name,
                row.sender,
                row.reply_to,
                row.plugin,
                row.action,
                row.title,
                row.state,
                row.attempts,
                row.claimed_at
            ])?;
        Ok(())
    }

    fn reclaim(&self, row: &TaskRow) -> Result<()> {
        self.tx
            .prepare_cached(
                "UPDATE tasks SET claim = ?2, file_name = ?3, content_hash = ?4, sender = ?5, reply_to = ?6, plugin = ?7,
                        action = ?8, title = ?9, state = 'claimed', error_code = NULL, error_message = NULL,
                        finished_at = NULL, claimed_at = ?10
                 WHERE id = ?1",
            )?
            .execute(params![
                row.id, row.claim, row.file_name, row.content_hash, row.sender, row.reply_to, row.plugin, row.action,
                row.title, row.claimed_at
            ])?;
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
            .execute(params![
                id,
                state,
                error.map(|e| e.0),
                error.map(|e| e.1),
                return_name,
                finished_at,
                duration_ms
            ])?;
        Ok(())
    }

    fn events(&self, id: &str) -> Result<Vec<Event>> {
        events(self.tx, id)
    }

    /// The task's row is there from its first claim (a trigger on `tasks`), so this only
    /// updates it and stamps it above the index's mark: the index itself is not touched here
    /// (that is the indexer's work, off the pipeline's transaction). An unchanged body (a retry
    /// that failed the same way) changes nothing. No row of `task_text` is ever without its task.
    fn search_text(&self, id: &str, document: &str) -> Result<()> {
        self.tx
            .prepare_cached(
                "UPDATE task_text SET body = ?2, stamp = (SELECT coalesce(max(stamp), 0) + 1 FROM task_text)
                 WHERE id = ?1 AND body IS NOT ?2",
            )?
            .execute(params![id, document])?;
        Ok(())
    }

    fn solo_begin(&self, claim: &str) -> Result<u32> {
        self.tx
            .prepare_cached(
                "INSERT INTO claim_runs(claim, deaths, solo) VALUES (?1, 0, 1)
                 ON CONFLICT(claim) DO UPDATE SET deaths = deaths + solo, solo = 1",
            )?
            .execute([claim])?;
        Ok(self
            .tx
            .prepare_cached("SELECT deaths FROM claim_runs WHERE claim = ?1")?
            .query_row([claim], |r| r.get(0))?)
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
        TaskState::parse(s)
            .ok_or_else(|| rusqlite::types::FromSqlError::Other(format!("unknown task state {s:?}").into()))
    }
}

/// The task list's filters other than `q`, on `tasks t`, as named parameters ([`filter_args`]).
const TASK_FILTERS: &str = "(:state IS NULL OR instr(',' || :state || ',', ',' || t.state || ',') > 0)
    AND (:plugin IS NULL OR t.plugin = :plugin) AND (:code IS NULL OR t.error_code = :code)
    AND (:agent IS NULL OR t.sender = :agent OR t.reply_to = :agent)";

fn filter_args<'a>(f: &'a TaskFilter<'_>) -> Vec<(&'static str, &'a dyn rusqlite::ToSql)> {
    vec![(":state", &f.state), (":plugin", &f.plugin), (":code", &f.error_code), (":agent", &f.agent)]
}

/// How many rows wait for the search index (capped: only "more than" matters).
const SEARCH_WAITING: &str = "SELECT count(*) FROM (SELECT 1 FROM task_text
    WHERE stamp > (SELECT indexed FROM task_search_mark WHERE one = 1) LIMIT 1000)";
/// Up to this many rows waiting for the index, a search reads them directly and leaves the
/// indexing to `serve`; above it, it indexes one batch first.
const SEARCH_READS_DIRECTLY: i64 = 200;

/// [`TASK_COLUMNS`] of the table named `alias`.
fn task_columns(alias: &str) -> String {
    TASK_COLUMNS.split(',').map(|c| format!("{alias}.{}", c.trim())).collect::<Vec<_>>().join(", ")
}

/// The task list for a `q`: the keys (`task_text.n`, claim order) of the matching tasks, newest
/// first, from the index and from the rows it does not hold yet, filtered, then the page's rows.
///
/// The index's keys are read newest first and at most [`COUNT_CAP`] + 1 of them (with other
/// filters, [`FILTERED_WINDOW`]): past that the count is "at least" ([`TaskList::total_exact`]
/// false), unless the page itself lies beyond what was read, which reads them all (a deep page,
/// or filters that keep few of a frequent word's tasks). The rows stamped above the index's mark are matched here, in Rust, by the
/// same rule ([`Query::matches`]); their keys in the index (an earlier text) are dropped.
fn searched_task_list(conn: &Connection, f: &TaskFilter<'_>, q: &Query, offset: i64, limit: i64) -> Result<TaskList> {
    let skip = usize::try_from(offset).unwrap_or(usize::MAX);
    let take = usize::try_from(limit).unwrap_or(0);
    let (pending, direct) = unindexed_matches(conn, q)?;
    let filtered = f.filters_besides_q();
    let mut window = Some(if filtered { FILTERED_WINDOW } else { COUNT_CAP + 1 });
    let fts = if q.fts.is_some() { spelled_out(conn, q)? } else { None };
    loop {
        let mut keys = match &fts {
            Some(fts) => fts_keys(conn, fts, window)?,
            None => Vec::new(),
        };
        let truncated = window.is_some_and(|w| keys.len() >= w);
        let oldest_read = if truncated { keys.last().copied() } else { None };
        if !pending.is_empty() {
            keys.retain(|n| pending.binary_search(n).is_err());
        }
        // The direct matches older than the oldest key read are beyond the window too.
        keys.extend(direct.iter().copied().filter(|n| oldest_read.is_none_or(|o| *n > o)));
        keys.sort_unstable_by(|a, b| b.cmp(a));
        keys.dedup();
        let matched = if filtered { filter_keys(conn, f, &keys)? } else { keys };
        if truncated && matched.len() < skip.saturating_add(take) {
            // The page is past the window: read every key.
            window = None;
            continue;
        }
        let page: Vec<i64> = matched.iter().skip(skip).take(take).copied().collect();
        let rows = if page.is_empty() {
            Vec::new()
        } else {
            let cols = task_columns("t");
            let mut st = conn.prepare_cached(&format!(
                "SELECT {cols} FROM task_text x JOIN tasks t ON t.id = x.id
                 WHERE x.n IN (SELECT value FROM json_each(?1)) ORDER BY x.n DESC"
            ))?;
            st.query_map([json_keys(&page)], from_row)?.collect::<rusqlite::Result<_>>()?
        };
        return Ok(TaskList {
            rows,
            total: matched.len() as u64,
            total_exact: !truncated,
            unindexed: pending.len() as u64,
        });
    }
}

/// Of the rows stamped above the index's mark (the index does not hold their latest text):
/// all their keys, and those whose text and names match `q`, both sorted. Few in a running
/// `serve` (the indexer keeps up when idle), every task just after an upgrade.
fn unindexed_matches(conn: &Connection, q: &Query) -> Result<(Vec<i64>, Vec<i64>)> {
    let mut st = conn.prepare_cached(
        "SELECT x.n, x.body, t.id, t.title, t.sender, t.reply_to FROM task_text x JOIN tasks t ON t.id = x.id
         WHERE x.stamp > (SELECT indexed FROM task_search_mark WHERE one = 1)",
    )?;
    let mut rows = st.query([])?;
    let (mut pending, mut direct) = (Vec::new(), Vec::new());
    while let Some(r) = rows.next()? {
        let n: i64 = r.get(0)?;
        pending.push(n);
        let text: [String; 5] = [r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?];
        let doc = index_words(&text[0], [&text[1], &text[2], &text[3], &text[4]]);
        if q.matches(&doc) {
            direct.push(n);
        }
    }
    pending.sort_unstable();
    direct.sort_unstable();
    Ok((pending, direct))
}

/// Of `keys` (newest first), those whose task passes the filters other than `q`, in the same
/// order.
fn filter_keys(conn: &Connection, f: &TaskFilter<'_>, keys: &[i64]) -> Result<Vec<i64>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT x.n FROM task_text x JOIN tasks t ON t.id = x.id
         WHERE x.n IN (SELECT value FROM json_each(:keys)) AND {TASK_FILTERS} ORDER BY x.n DESC"
    ))?;
    let keys = json_keys(keys);
    let mut args = filter_args(f);
    args.push((":keys", &keys));
    Ok(st.query_map(&*args, |r| r.get(0))?.collect::<rusqlite::Result<Vec<i64>>>()?)
}

/// A prefix word spelled out as terms when at most this many of the index's terms begin with it.
const MAX_SPELLED_TERMS: usize = 32;

/// `q`'s words as an FTS5 query, each prefix word spelled out as the index's terms that begin
/// with it (`("disk" OR "disks")`) when there are at most [`MAX_SPELLED_TERMS`], else left a
/// prefix (`"di"*`). FTS5 reads the whole doclist of a prefix query before its first row, so
/// the newest 10,001 keys of a word in most of 100,000 tasks took ~20 ms (however small the
/// LIMIT); an OR of terms is read lazily from the newest, as far as the LIMIT: ~3.5 ms, and
/// ~2 ms to list the terms (bench/runs/2026-11-26/search-order.md). `None` when a word begins
/// no term: the index holds no match.
///
/// The terms come from `temp.task_search_terms`, an `fts5vocab` table over the index, made on
/// the connection's first search (a temp table: nothing is written to the ledger). Terms only
/// deleted tasks held may be listed; they match nothing.
fn spelled_out(conn: &Connection, q: &Query) -> Result<Option<String>> {
    conn.execute_batch(
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.task_search_terms USING fts5vocab(main, task_search_words, row)",
    )?;
    let mut st = conn.prepare_cached("SELECT term FROM temp.task_search_terms WHERE term >= ?1 LIMIT ?2")?;
    let mut parts = Vec::with_capacity(q.words.len());
    for w in &q.words {
        if w.chars().count() == 1 {
            parts.push(fts_word(w));
            continue;
        }
        let limit = i64::try_from(MAX_SPELLED_TERMS + 1).unwrap_or(i64::MAX);
        let terms: Vec<String> = st.query_map(params![w, limit], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
        // Terms come in order: those that begin with `w` are the first ones.
        let begin: Vec<&String> = terms.iter().take_while(|t| t.starts_with(w.as_str())).collect();
        match begin.len() {
            0 => return Ok(None),
            n if n > MAX_SPELLED_TERMS => parts.push(fts_word(w)),
            _ => {
                let or: Vec<String> = begin.iter().map(|t| fts_string(t)).collect();
                parts.push(format!("({})", or.join(" OR ")));
            }
        }
    }
    Ok(Some(parts.join(" AND ")))
}

/// The keys (`task_text.n`) the words index lists for the FTS5 query `fts`, newest first, at
/// most `window` of them.
fn fts_keys(conn: &Connection, fts: &str, window: Option<usize>) -> Result<Vec<i64>> {
    let limit = window.map_or(-1, |w| i64::try_from(w).unwrap_or(i64::MAX));
    let mut st = conn.prepare_cached(
        "SELECT rowid FROM task_search_words WHERE task_search_words MATCH ?1 ORDER BY rowid DESC LIMIT ?2",
    )?;
    Ok(st.query_map(params![fts, limit], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?)
}

/// One step of the indexer: up to `max_rows` rows stamped above the mark, oldest stamp first,
/// into the words index (an earlier entry of the same task out first), and the mark moved to
/// the last one, in one transaction. Several processes may run it: the transaction is a write
/// from its start, so two never index the same rows.
fn index_step(conn: &Connection, max_rows: usize) -> Result<(usize, bool)> {
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
    let limit = i64::try_from(max_rows).unwrap_or(i64::MAX);
    let mut done = 0usize;
    let mut mark: Option<i64> = None;
    {
        let mut st = tx.prepare_cached(
            "SELECT x.n, x.stamp, x.indexed, x.body, t.id, t.title, t.sender, t.reply_to
             FROM task_text x LEFT JOIN tasks t ON t.id = x.id
             WHERE x.stamp > (SELECT indexed FROM task_search_mark WHERE one = 1) ORDER BY x.stamp LIMIT ?1",
        )?;
        let mut rows = st.query([limit])?;
        let mut delete = tx.prepare_cached("DELETE FROM task_search_words WHERE rowid = ?1")?;
        let mut insert = tx.prepare_cached("INSERT INTO task_search_words(rowid, words) VALUES (?1, ?2)")?;
        let mut flag = tx.prepare_cached("UPDATE task_text SET indexed = 1 WHERE n = ?1 AND indexed = 0")?;
        while let Some(r) = rows.next()? {
            let n: i64 = r.get(0)?;
            mark = Some(r.get(1)?);
            if r.get::<_, i64>(2)? != 0 {
                delete.execute([n])?;
            }
            let names: [Option<String>; 4] = [r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?];
            if names[0].is_some() {
                let names = names.each_ref().map(|s| s.as_deref().unwrap_or(""));
                let body: String = r.get(3)?;
                insert.execute(params![n, index_words(&body, names)])?;
                flag.execute([n])?;
            }
            done += 1;
        }
    }
    if let Some(m) = mark {
        tx.execute("UPDATE task_search_mark SET indexed = ?1 WHERE one = 1", [m])?;
    }
    let left: bool = tx.query_row(
        "SELECT EXISTS(SELECT 1 FROM task_text WHERE stamp > (SELECT indexed FROM task_search_mark WHERE one = 1))",
        [],
        |r| r.get(0),
    )?;
    tx.commit()?;
    Ok((done, left))
}

/// Keys as a JSON array, for `json_each` (one parameter, however many keys).
fn json_keys(keys: &[i64]) -> String {
    let mut out = String::with_capacity(keys.len() * 8 + 2);
    out.push('[');
    for (i, k) in keys.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&k.to_string());
    }
    out.push(']');
    out
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

// ---- the dashboard's and the alerts' reads (see `read.rs`) ----

const ALERT_COLUMNS: &str =
    "id, rule, labels, summary, state, firing, started_at, last_seen_at, resolved_at, acked_at, notified";

fn alert_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AlertRow> {
    Ok(AlertRow {
        id: r.get(0)?,
        rule: r.get(1)?,
        labels: r.get(2)?,
        summary: r.get(3)?,
        state: r.get(4)?,
        firing: r.get::<_, i64>(5)?.max(0) as u64,
        started_at: r.get(6)?,
        last_seen_at: r.get(7)?,
        resolved_at: r.get(8)?,
        acked_at: r.get(9)?,
        notified: r.get(10)?,
    })
}

/// The alerts' evaluation transaction on SQLite.
struct SqliteAlertTx<'a> {
    tx: &'a Transaction<'a>,
}

impl AlertTx for SqliteAlertTx<'_> {
    fn state(&self, id: &str) -> Result<Option<String>> {
        Ok(self
            .tx
            .prepare_cached("SELECT state FROM alerts WHERE id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?)
    }

    fn insert(&self, id: &str, rule: &str, labels: &str, summary: &str, now: &str) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO alerts(id, rule, labels, summary, state, firing, started_at, last_seen_at)
                 VALUES (?1, ?2, ?3, ?4, 'firing', 1, ?5, ?5)",
            )?
            .execute(params![id, rule, labels, summary, now])?;
        Ok(())
    }

    fn seen(&self, id: &str, now: &str, summary: &str) -> Result<()> {
        self.tx
            .prepare_cached("UPDATE alerts SET last_seen_at = ?2, summary = ?3 WHERE id = ?1")?
            .execute(params![id, now, summary])?;
        Ok(())
    }

    fn refire(&self, id: &str, now: &str, summary: &str) -> Result<()> {
        self.tx
            .prepare_cached(
                "UPDATE alerts SET state = 'firing', firing = firing + 1, started_at = ?2, last_seen_at = ?2,
                        resolved_at = NULL, acked_at = NULL, notified = NULL, summary = ?3
                 WHERE id = ?1",
            )?
            .execute(params![id, now, summary])?;
        Ok(())
    }

    fn firing(&self) -> Result<Vec<String>> {
        let mut st = self.tx.prepare_cached("SELECT id FROM alerts WHERE state = 'firing'")?;
        Ok(st.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?)
    }

    fn resolve(&self, id: &str, now: &str) -> Result<()> {
        self.tx
            .prepare_cached("UPDATE alerts SET state = 'resolved', resolved_at = ?2 WHERE id = ?1")?
            .execute(params![id, now])?;
        Ok(())
    }

    fn prune(&self, before: &str) -> Result<()> {
        self.tx
            .prepare_cached("DELETE FROM alerts WHERE state = 'resolved' AND resolved_at < ?1")?
            .execute([before])?;
        Ok(())
    }

    fn unnotified(&self) -> Result<Vec<AlertRow>> {
        let mut st = self.tx.prepare_cached(&format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE state = 'firing' AND notified_firing < firing ORDER BY started_at, id"
        ))?;
        Ok(st.query_map([], alert_from_row)?.collect::<rusqlite::Result<_>>()?)
    }

    fn is_observed(&self, agent: &str, file_name: &str) -> Result<bool> {
        Ok(self
            .tx
            .prepare_cached("SELECT 1 FROM observed WHERE agent = ?1 AND file_name = ?2")?
            .exists(params![agent, file_name])?)
    }

    fn notified(&self, id: &str, firing: u64, path: &str) -> Result<()> {
        self.tx
            .prepare_cached("UPDATE alerts SET notified_firing = ?2, notified = ?3 WHERE id = ?1 AND firing = ?2")?
            .execute(params![id, firing as i64, path])?;
        Ok(())
    }
}

impl StatsStore for SqliteLedger {
    fn stat_rows(&self, table: StatTable, lo: i64, hi: i64, visit: &mut dyn FnMut(StatRow<'_>)) -> Result<()> {
        let sql = match table {
            StatTable::Minutes => {
                "SELECT completed, failed, rejected, drop_hist, drop_sum, run_hist, run_sum, plugin FROM stat_minutes
                 WHERE minute BETWEEN ?1 AND ?2"
            }
            StatTable::Hours => {
                "SELECT completed, failed, rejected, drop_hist, drop_sum, run_hist, run_sum, plugin FROM stat_hours
                 WHERE hour BETWEEN ?1 AND ?2"
            }
        };
        let mut st = self.conn.prepare_cached(sql)?;
        let mut rows = st.query(params![lo, hi])?;
        let conv = |i, e: rusqlite::types::FromSqlError| {
            rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Blob, Box::new(e))
        };
        while let Some(r) = rows.next()? {
            visit(StatRow {
                plugin: r.get_ref(7)?.as_str().map_err(|e| conv(7, e))?,
                completed: r.get(0)?,
                failed: r.get(1)?,
                rejected: r.get(2)?,
                drop_hist: r.get_ref(3)?.as_blob().map_err(|e| conv(3, e))?,
                drop_sum: r.get(4)?,
                run_hist: r.get_ref(5)?.as_blob().map_err(|e| conv(5, e))?,
                run_sum: r.get(6)?,
            });
        }
        Ok(())
    }

    fn stat_counts(&self) -> Result<Vec<(String, String, i64)>> {
        let mut st = self.conn.prepare_cached("SELECT status, plugin, n FROM stat_counts")?;
        Ok(st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<rusqlite::Result<_>>()?)
    }

    fn stat_events(&self) -> Result<Vec<(String, String, String, i64)>> {
        let mut st = self.conn.prepare_cached("SELECT event, plugin, detail, n FROM stat_events")?;
        Ok(st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?.collect::<rusqlite::Result<_>>()?)
    }

    fn stat_durations(&self) -> Result<Vec<(i64, i64)>> {
        let mut st = self.conn.prepare_cached("SELECT bucket, n FROM stat_duration")?;
        Ok(st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?)
    }

    fn stat_total(&self, name: &str) -> Result<f64> {
        let v = self
            .conn
            .prepare_cached("SELECT value FROM stat_totals WHERE name = ?1")?
            .query_row([name], |r| r.get(0))
            .optional()?;
        Ok(v.unwrap_or(0.0))
    }

    fn health_all(&self) -> Result<Vec<(String, String)>> {
        let mut st = self.conn.prepare_cached("SELECT plugin, health FROM plugin_health")?;
        Ok(st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?)
    }

    fn unanswered(&self, seen_before: &str, skip_prefix: &str, limit: i64) -> Result<Vec<(String, String, String)>> {
        let mut st = self.conn.prepare_cached(
            "SELECT agent, id, title FROM observed o
             WHERE kind = 'task' AND seen_at < ?1 AND id NOT LIKE ?2
               AND NOT EXISTS (SELECT 1 FROM observed r WHERE r.kind = 'return' AND r.in_reply_to = o.id)
             ORDER BY seen_at LIMIT ?3",
        )?;
        let rows = st.query_map(params![seen_before, format!("{skip_prefix}%"), limit], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn alerts(&self, which: Alerts<'_>) -> Result<Vec<AlertRow>> {
        let rows = match which {
            Alerts::All => {
                let mut st = self.conn.prepare_cached(&format!(
                    "SELECT {ALERT_COLUMNS} FROM alerts ORDER BY state = 'resolved', started_at DESC, id"
                ))?;
                st.query_map([], alert_from_row)?.collect::<rusqlite::Result<_>>()?
            }
            Alerts::Id(id) => {
                let mut st = self.conn.prepare_cached(&format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = ?1"))?;
                st.query_map([id], alert_from_row)?.collect::<rusqlite::Result<_>>()?
            }
        };
        Ok(rows)
    }

    fn alerts_update(&mut self, f: &mut dyn FnMut(&dyn AlertTx) -> Result<()>) -> Result<()> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        f(&SqliteAlertTx { tx: &tx })?;
        tx.commit()?;
        Ok(())
    }

    fn alert_ack(&self, id: &str, at: &str) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached("UPDATE alerts SET acked_at = COALESCE(acked_at, ?2) WHERE id = ?1")?
            .execute(params![id, at])?;
        Ok(n > 0)
    }

    fn task_page(&self, agent: Option<&str>, like: Option<&str>, limit: i64) -> Result<Vec<TaskRow>> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {TASK_COLUMNS} FROM tasks
             WHERE (?1 IS NULL OR sender = ?1 OR reply_to = ?1)
               AND (?2 IS NULL OR id LIKE ?2 ESCAPE '\\' OR title LIKE ?2 ESCAPE '\\' OR sender LIKE ?2 ESCAPE '\\' OR reply_to LIKE ?2 ESCAPE '\\')
             ORDER BY rowid DESC LIMIT ?3"
        ))?;
        Ok(st.query_map(params![agent, like, limit], from_row)?.collect::<rusqlite::Result<_>>()?)
    }

    /// Newest claims first is the insertion order (as in `task_page`): the rowid, no sort. A `q`
    /// reads the search index and the rows it does not hold yet ([`searched_task_list`]), after
    /// one step of the indexer when many are waiting (a `serve` that was never idle, a fresh
    /// upgrade); a read-only or busy ledger skips that step and reads them directly.
    fn task_list(&self, f: &TaskFilter<'_>, offset: i64, limit: i64) -> Result<TaskList> {
        if let Some(q) = f.q.and_then(Query::parse) {
            let waiting: i64 = self.conn.prepare_cached(SEARCH_WAITING)?.query_row([], |r| r.get(0))?;
            if waiting > SEARCH_READS_DIRECTLY
                && let Err(e) = index_step(&self.conn, INDEX_BATCH)
            {
                tracing::debug!("the task list's search did not index before reading: {e}");
            }
            return searched_task_list(&self.conn, f, &q, offset, limit);
        }
        let filter = format!("WHERE {TASK_FILTERS}");
        let args = filter_args(f);
        let total: i64 = self
            .conn
            .prepare_cached(&format!("SELECT COUNT(*) FROM tasks t {filter}"))?
            .query_row(&*args, |r| r.get(0))?;
        let cols = task_columns("t");
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {cols} FROM tasks t {filter} ORDER BY t.rowid DESC LIMIT :limit OFFSET :offset"
        ))?;
        let mut args = args;
        args.extend([(":limit", &limit as &dyn rusqlite::ToSql), (":offset", &offset)]);
        let rows = st.query_map(&*args, from_row)?.collect::<rusqlite::Result<_>>()?;
        Ok(TaskList { rows, total: total.max(0) as u64, total_exact: true, unindexed: 0 })
    }

    fn index_search(&self, max_rows: usize) -> Result<(usize, bool)> {
        index_step(&self.conn, max_rows)
    }

    fn task_facets(&self) -> Result<Vec<(String, Option<String>, Option<String>, u64)>> {
        let mut st = self.conn.prepare_cached(
            "SELECT state, plugin, error_code, COUNT(*) FROM tasks GROUP BY state, plugin, error_code",
        )?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, i64>(3)?.max(0) as u64)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn observed_page(&self, agent: Option<&str>, like: Option<&str>, limit: i64) -> Result<Vec<ObservedItem>> {
        let mut st = self.conn.prepare_cached(
            "SELECT o.agent, o.file_name, o.kind, o.id, o.in_reply_to, o.sender, o.recipient, o.title, o.created_at, o.seen_at,
                    EXISTS (SELECT 1 FROM observed r WHERE r.kind = 'return' AND r.in_reply_to = o.id)
             FROM observed o WHERE o.kind = 'task'
               AND (?1 IS NULL OR o.sender = ?1 OR o.recipient = ?1 OR o.agent = ?1)
               AND (?2 IS NULL OR o.id LIKE ?2 ESCAPE '\\' OR o.title LIKE ?2 ESCAPE '\\' OR o.sender LIKE ?2 ESCAPE '\\' OR o.agent LIKE ?2 ESCAPE '\\')
             ORDER BY o.rowid DESC LIMIT ?3",
        )?;
        let rows = st.query_map(params![agent, like, limit], |r| {
            Ok(ObservedItem { observed: observed_from_row(r)?, seen_at: r.get(9)?, answered: r.get(10)? })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn observed_of(&self, id: &str, limit: i64) -> Result<Vec<(Observed, String)>> {
        let mut st = self.conn.prepare_cached(
            "SELECT agent, file_name, kind, id, in_reply_to, sender, recipient, title, created_at, seen_at
             FROM observed WHERE id = ?1 OR in_reply_to = ?1 ORDER BY rowid LIMIT ?2",
        )?;
        let rows = st.query_map(params![id, limit], |r| Ok((observed_from_row(r)?, r.get(9)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn version(&self) -> Result<(i64, i64)> {
        let seq = self.conn.query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| r.get(0))?;
        let dv = self.conn.query_row("PRAGMA data_version", [], |r| r.get(0))?;
        Ok((seq, dv))
    }

    fn ping(&self) -> Result<()> {
        self.conn.query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0))?;
        Ok(())
    }
}
