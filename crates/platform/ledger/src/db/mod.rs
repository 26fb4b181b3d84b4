//! The ledger's statements, written once: [`Store`] and [`Writes`] on `baton_store::sql` (the
//! SQL layer the catalog uses too), in the SQL SQLite and PostgreSQL both speak, with `?N`
//! placeholders. The dashboard's and the alerts' statements are in `read.rs` here, the summary
//! tables' writes in `stats.rs` here, on the same [`Db`].
//!
//! What differs between the backends is said once, each in a small function named for it:
//! [`Db::bytewise`] (PostgreSQL sorts text by its locale unless told `COLLATE "C"`),
//! [`Db::take_turns`] (a lock other hosts' writers of the same thing wait on: PostgreSQL's
//! advisory locks; SQLite's `BEGIN IMMEDIATE` already excludes every other writer), and the few
//! statements given to [`Db::pick`] whole because the schemas differ (the search index, the
//! order of "recent"). What only one backend has stays with it: the SQLite file's opening and
//! its FTS5 search (`sqlite.rs`); claims, hosts and the search by `tsvector` (`postgres.rs`).
//! Each gives its search to [`Db::new`] ([`Search`]), so nothing here names a backend's module.
//!
//! A pipeline batch is one transaction ([`Db::batch`]): `BEGIN IMMEDIATE` on SQLite; on
//! PostgreSQL `BEGIN`, with the writes whose answer nobody reads held and sent together
//! ([`Db::execute_later`]), one round trip for a batch's writes.
use std::sync::LazyLock;

mod read;
mod stats;

use baton_store::link::CallError;
use baton_store::sql::{self, Row, SqlError, Val};
use baton_store::vals;

use crate::read::{TaskFilter, TaskList};
use crate::{Event, KvLimits, LedgerError, LogLine, Observed, Refusal, Result, Store, TaskRow, TaskState, Writes};

/// The task list's search, each backend's own (their indexes differ: SQLite's FTS5 table,
/// PostgreSQL's `tsvector` and trigram indexes), given to [`Db::new`] by the backend that opens
/// the database.
pub(crate) trait Search: Sync {
    /// See [`crate::read::StatsStore::task_list`].
    fn task_list(&self, db: &Db, f: &TaskFilter<'_>, offset: i64, limit: i64) -> Result<TaskList>;

    /// `f`'s page and `counted`'s count (see [`crate::read::StatsStore::task_list_and_count`]).
    fn task_list_and_count(
        &self,
        db: &Db,
        f: &TaskFilter<'_>,
        counted: &TaskFilter<'_>,
        offset: i64,
        limit: i64,
    ) -> Result<(TaskList, TaskList)> {
        Ok((self.task_list(db, f, offset, limit)?, self.task_list(db, counted, 0, 0)?))
    }

    /// See [`crate::read::StatsStore::index_search`]; nothing to do for an index kept as rows
    /// are written.
    fn index(&self, db: &Db, max_rows: usize) -> Result<(usize, bool)> {
        let _ = (db, max_rows);
        Ok((0, false))
    }
}

/// The ledger's database, on either backend.
pub(crate) struct Db {
    pub(crate) sql: sql::Db,
    search: &'static dyn Search,
    /// The file or the server (its password hidden), as errors name it.
    at: String,
    /// Why the SQLite file was opened read-only, when it was: every batch then says so, once.
    read_only: Option<String>,
}

/// A failed call to the server as the ledger reports it, `server` naming it.
fn call_error(server: &str, e: CallError) -> LedgerError {
    match e {
        CallError::Pg(source) => LedgerError::Postgres { server: server.to_string(), source },
        CallError::NoAnswer(limit) => LedgerError::NoAnswer { server: server.to_string(), limit },
        e @ (CallError::Stopping | CallError::Unavailable(_)) => {
            LedgerError::Unavailable { server: server.to_string(), message: e.to_string() }
        }
    }
}

/// A failed statement as the ledger reports it, `at` naming the file or the server.
pub(crate) fn error(at: &str, e: SqlError) -> LedgerError {
    match e {
        SqlError::Sqlite(e) => LedgerError::from(e),
        SqlError::Call(e) => call_error(at, e),
        SqlError::Schema(e) => LedgerError::from_store(at, e),
    }
}

impl Db {
    pub(crate) fn new(sql: sql::Db, search: &'static dyn Search, at: String, read_only: Option<String>) -> Db {
        Db { sql, search, at, read_only }
    }

    pub(crate) fn err(&self, e: SqlError) -> LedgerError {
        error(&self.at, e)
    }

    /// The file or the server, as errors name it.
    pub(crate) fn at(&self) -> &str {
        &self.at
    }

    pub(crate) fn is_pg(&self) -> bool {
        self.sql.as_pg().is_some()
    }

    /// `sqlite` or `pg`: a statement (or part of one) that differs between the backends.
    pub(crate) fn pick<'a>(&self, sqlite: &'a str, pg: &'a str) -> &'a str {
        self.sql.pick(sqlite, pg)
    }

    /// What follows a text column in a comparison or an `ORDER BY` so that text compares byte
    /// by byte, as SQLite always does: PostgreSQL's columns sort by the database's locale
    /// unless told `COLLATE "C"`.
    pub(crate) fn bytewise(&self) -> &'static str {
        self.pick("", " COLLATE \"C\"")
    }

    /// The task list's order, newest claim first: SQLite's insertion order (the rowid, no
    /// sort); on PostgreSQL, which keeps none, the claim's time as migration 0007's index
    /// `tasks_newest` holds it (the same expressions), so that a page is read from the index.
    pub(crate) fn newest_first(&self) -> &'static str {
        self.pick(
            " ORDER BY rowid DESC ",
            " ORDER BY baton_claimed_ts(claimed_at) DESC NULLS LAST, claimed_at DESC, id COLLATE \"C\" DESC ",
        )
    }

    pub(crate) fn query(&self, sql: &str, params: &[Val<'_>]) -> Result<Vec<Row>> {
        self.sql.query(sql, params).map_err(|e| self.err(e))
    }

    /// The first row, if any.
    pub(crate) fn query_opt(&self, sql: &str, params: &[Val<'_>]) -> Result<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    pub(crate) fn exists(&self, sql: &str, params: &[Val<'_>]) -> Result<bool> {
        self.sql.exists(sql, params).map_err(|e| self.err(e))
    }

    pub(crate) fn execute(&self, sql: &str, params: &[Val<'_>]) -> Result<u64> {
        self.sql.execute(sql, params).map_err(|e| self.err(e))
    }

    /// A write whose answer nobody reads (see [`sql::Db::execute_later`]).
    pub(crate) fn execute_later(&self, sql: &str, params: &[Val<'_>]) -> Result<()> {
        self.sql.execute_later(sql, params).map_err(|e| self.err(e))
    }

    /// Inside a write transaction, waits for the lock `lock` takes (with `params`) where the
    /// backend needs one to exclude other hosts' writers of the same thing: PostgreSQL's
    /// advisory locks, released at the transaction's end. On SQLite the transaction's
    /// `BEGIN IMMEDIATE` already excludes every other writer of the file.
    pub(crate) fn take_turns(&self, lock: &str, params: &[Val<'_>]) -> Result<()> {
        if self.is_pg() {
            self.query(lock, params)?;
        }
        Ok(())
    }

    /// `f` in one write transaction; its errors roll it back.
    pub(crate) fn transaction<R>(&self, f: impl FnOnce(&Db) -> Result<R>) -> Result<R> {
        if let Some(why) = &self.read_only {
            return Err(LedgerError::ReadOnly { path: self.at.clone(), why: why.clone() });
        }
        self.sql.transaction(|_| f(self).map_err(Wrapped::Ledger)).map_err(|e| match e {
            Wrapped::Ledger(e) => e,
            Wrapped::Sql(e) => self.err(e),
        })
    }

    /// A pipeline batch: `f`'s writes in one transaction. `synced: false` commits without
    /// waiting for the commit's sync (see [`crate::Ledger::batch_unsynced`]): SQLite's
    /// `synchronous = NORMAL` for the batch (in WAL mode the commit is written to the WAL, not
    /// synced), PostgreSQL's `synchronous_commit = off` for the transaction.
    pub(crate) fn batch<R>(&self, synced: bool, f: impl FnOnce(&dyn Writes) -> Result<R>) -> Result<R> {
        match (&self.sql, synced) {
            (sql::Db::Sqlite(c), false) => {
                c.pragma_update(None, "synchronous", "NORMAL")?;
                let out = self.transaction(|db| f(db));
                // A flag on the connection (no lock, no I/O): set back whether or not the batch
                // failed, and its error, which no known cause gives, is the caller's too.
                let restored = c.pragma_update(None, "synchronous", "FULL");
                let out = out?;
                restored?;
                Ok(out)
            }
            (sql::Db::Pg(_), false) => self.transaction(|db| {
                db.sql.batch("SET LOCAL synchronous_commit TO off").map_err(|e| db.err(e))?;
                f(db)
            }),
            (_, true) => self.transaction(|db| f(db)),
        }
    }
}

/// A transaction's failure: the closure's own error, or the database's at its start or end.
enum Wrapped {
    Ledger(LedgerError),
    Sql(SqlError),
}

impl From<SqlError> for Wrapped {
    fn from(e: SqlError) -> Wrapped {
        Wrapped::Sql(e)
    }
}

/// The task columns as [`task_from`] reads them.
pub(crate) const TASK_COLUMNS: &str = crate::TASK_COLUMNS;

static TASK_BY_ID: LazyLock<String> = LazyLock::new(|| format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?1"));

/// A task read from [`TASK_COLUMNS`] (its texts moved out of the row, not copied).
pub(crate) fn task_from(mut r: Row) -> TaskRow {
    TaskRow {
        id: r.take_text(0),
        content_hash: r.take_text(1),
        claim: r.take_text(2),
        file_name: r.take_text(3),
        sender: r.take_text(4),
        reply_to: r.take_text(5),
        plugin: r.take_opt_text(6),
        action: r.take_opt_text(7),
        title: r.take_text(8),
        // Written by baton from the same enum; an unknown name reads as failed, never panics.
        state: TaskState::parse(r.str(9)).unwrap_or(TaskState::Failed),
        error_code: r.take_opt_text(10),
        error_message: r.take_opt_text(11),
        attempts: r.int(12).clamp(0, u32::MAX.into()) as u32,
        return_name: r.take_opt_text(13),
        claimed_at: r.take_text(14),
        finished_at: r.take_opt_text(15),
        duration_ms: r.opt_real(16),
    }
}

/// An observed handoff from its nine columns, `agent` first.
pub(crate) fn observed_from(r: &mut Row) -> Observed {
    Observed {
        agent: r.take_text(0),
        file_name: r.take_text(1),
        kind: r.take_text(2),
        id: r.take_text(3),
        in_reply_to: r.take_opt_text(4),
        sender: r.take_text(5),
        recipient: r.take_opt_text(6),
        title: r.take_text(7),
        created_at: r.take_text(8),
    }
}

/// An event from its columns `at, event, detail` starting at `i`.
fn event_from(r: &mut Row, i: usize) -> Event {
    Event { at: r.take_text(i), event: r.take_text(i + 1), detail: crate::parse_detail(r.take_text(i + 2)) }
}

/// Now, as the ledger stamps an event it makes itself: RFC 3339 in UTC to the millisecond
/// (`2026-01-18T07:09:51.123Z`), the form of every other stamp in the ledger.
fn now_stamp() -> String {
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    time::OffsetDateTime::now_utc().format(f).unwrap_or_default()
}

impl Db {
    fn task_row(&self, id: &str) -> Result<Option<TaskRow>> {
        Ok(self.query_opt(&TASK_BY_ID, vals![id])?.map(task_from))
    }

    fn event_rows(&self, id: &str) -> Result<Vec<Event>> {
        let rows = self.query("SELECT at, event, detail FROM events WHERE task_id = ?1 ORDER BY seq", vals![id])?;
        Ok(rows.into_iter().map(|mut r| event_from(&mut r, 0)).collect())
    }

    fn kv_write(&self, plugin: &str, key: &str, value: &str) -> Result<()> {
        self.execute(
            "INSERT INTO kv(plugin, key, value) VALUES (?1, ?2, ?3)
             ON CONFLICT(plugin, key) DO UPDATE SET value = excluded.value",
            vals![plugin, key, value],
        )?;
        Ok(())
    }

    fn health(&self, plugin: &str) -> Result<Option<String>> {
        Ok(self
            .query_opt("SELECT health FROM plugin_health WHERE plugin = ?1", vals![plugin])?
            .map(|mut r| r.take_text(0)))
    }
}

impl Db {
    /// Forgets the filed claims of a handoff id (PostgreSQL's shared claims), so that its next
    /// copy is claimed afresh instead of being taken for a copy of a filed one.
    pub(crate) fn forget_filed(&self, handoff_id: &str) -> Result<()> {
        self.execute("DELETE FROM claims WHERE handoff_id = ?1 AND state = 'filed'", vals![handoff_id])?;
        Ok(())
    }

    /// The task list's filters other than `q`, on `tasks`: `?1` its states (comma-separated),
    /// `?2` its plugin, `?3` its error code, `?4` its sender or reply-to.
    pub(crate) fn task_filters(&self) -> String {
        let state_in = self.pick(
            "instr(',' || ?1 || ',', ',' || state || ',') > 0",
            "state = ANY(string_to_array(CAST(?1 AS TEXT), ','))",
        );
        format!(
            "(CAST(?1 AS TEXT) IS NULL OR {state_in}) AND (CAST(?2 AS TEXT) IS NULL OR plugin = ?2)
             AND (CAST(?3 AS TEXT) IS NULL OR error_code = ?3) AND (CAST(?4 AS TEXT) IS NULL OR sender = ?4 OR reply_to = ?4)"
        )
    }

    /// The task list without `q`: a count and a page, newest first (on PostgreSQL both by
    /// migration 0007's index).
    pub(crate) fn unsearched(&self, f: &TaskFilter<'_>, offset: i64, limit: i64) -> Result<TaskList> {
        let (filters, order) = (self.task_filters(), self.newest_first());
        let args = vals![f.state, f.plugin, f.error_code, f.agent, limit, offset];
        let total =
            self.query_opt(&format!("SELECT COUNT(*) FROM tasks WHERE {filters}"), &args[..4])?.map_or(0, |r| r.int(0));
        let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE {filters}{order}LIMIT ?5 OFFSET ?6");
        let rows = self.query(&sql, args)?.into_iter().map(task_from).collect();
        Ok(TaskList { rows, total: total.max(0) as u64, total_exact: true, unindexed: 0 })
    }
}

impl Store for Db {
    fn task(&self, id: &str) -> Result<Option<TaskRow>> {
        self.task_row(id)
    }

    fn events(&self, id: &str) -> Result<Vec<Event>> {
        self.event_rows(id)
    }

    /// The order they were recorded in is SQLite's rowid; PostgreSQL keeps none.
    fn tasks_by_id(&self, key: Option<&str>, after: &str, limit: usize) -> Result<Vec<(Option<i64>, TaskRow)>> {
        let (rowid, c) = (self.pick("rowid", "NULL"), self.bytewise());
        let sql = format!(
            "SELECT {TASK_COLUMNS}, {rowid} FROM tasks
             WHERE (CAST(?1 AS TEXT) IS NULL OR id = ?1) AND id{c} > ?2 ORDER BY id{c} LIMIT ?3"
        );
        let rows = self.query(&sql, vals![key, after, limit as i64])?;
        let n = TASK_COLUMNS.split(',').count();
        Ok(rows.into_iter().map(|r| (r.opt_int(n), task_from(r))).collect())
    }

    fn task_count(&self) -> Result<u64> {
        Ok(self.query_opt("SELECT count(*) FROM tasks", &[])?.map_or(0, |r| r.int(0).max(0) as u64))
    }

    fn events_named(&self, event: &str, before: Option<i64>, limit: usize) -> Result<Vec<(i64, String, Event)>> {
        let rows = self.query(
            "SELECT seq, task_id, at, event, detail FROM events WHERE event = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3",
            vals![event, before.unwrap_or(i64::MAX), limit as i64],
        )?;
        Ok(rows.into_iter().map(|mut r| (r.int(0), r.take_text(1), event_from(&mut r, 2))).collect())
    }

    fn logs(&self, id: &str) -> Result<Vec<LogLine>> {
        let rows = self.query("SELECT at, level, message FROM logs WHERE task_id = ?1 ORDER BY seq", vals![id])?;
        Ok(rows
            .into_iter()
            .map(|mut r| LogLine { at: r.take_text(0), level: r.take_text(1), message: r.take_text(2) })
            .collect())
    }

    /// Newest finished (or claimed) first, by the time the text stands for: SQLite's
    /// `julianday`; on PostgreSQL a cast that only well-formed stamps reach (a malformed one
    /// would fail the whole read), the rest after them by their text.
    fn recent(&self, limit: usize) -> Result<Vec<TaskRow>> {
        let order = self.pick(
            "julianday(COALESCE(finished_at, claimed_at)) DESC",
            "(CASE WHEN COALESCE(finished_at, claimed_at) ~ '^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(\\.\\d+)?(Z|[+-]\\d\\d:\\d\\d)$'
               THEN COALESCE(finished_at, claimed_at)::timestamptz END) DESC NULLS LAST, COALESCE(finished_at, claimed_at) DESC",
        );
        let rows =
            self.query(&format!("SELECT {TASK_COLUMNS} FROM tasks ORDER BY {order} LIMIT ?1"), vals![limit as i64])?;
        Ok(rows.into_iter().map(task_from).collect())
    }

    fn counts(&self) -> Result<Vec<(String, u64)>> {
        let rows = self.query("SELECT state, COUNT(*) FROM tasks GROUP BY state ORDER BY state", &[])?;
        Ok(rows.into_iter().map(|mut r| (r.take_text(0), r.int(1) as u64)).collect())
    }

    fn open_handoffs(&self) -> Result<Vec<Observed>> {
        let rows = self.query(
            "SELECT agent, file_name, kind, id, in_reply_to, sender, recipient, title, created_at
             FROM observed o WHERE kind = 'task'
               AND NOT EXISTS (SELECT 1 FROM observed r WHERE r.kind = 'return' AND r.in_reply_to = o.id)
             ORDER BY created_at",
            &[],
        )?;
        Ok(rows.into_iter().map(|mut r| observed_from(&mut r)).collect())
    }

    fn is_observed(&self, agent: &str, file_name: &str) -> Result<bool> {
        self.exists("SELECT 1 FROM observed WHERE agent = ?1 AND file_name = ?2", vals![agent, file_name])
    }

    fn kv_get(&self, plugin: &str, key: &str) -> Result<Option<String>> {
        let row = self.query_opt("SELECT value FROM kv WHERE plugin = ?1 AND key = ?2", vals![plugin, key])?;
        Ok(row.map(|mut r| r.take_text(0)))
    }

    fn kv_set(&self, plugin: &str, key: &str, value: &str) -> Result<()> {
        self.kv_write(plugin, key, value)
    }

    fn kv_set_within(&mut self, plugin: &str, key: &str, value: &str, limits: KvLimits) -> Result<()> {
        self.transaction(|db| {
            // One writer per plugin's quota at a time, across hosts.
            db.take_turns("SELECT pg_advisory_xact_lock(hashtext('baton.kv:' || ?1)::bigint)", vals![plugin])?;
            let (keys, bytes) = db
                .query_opt("SELECT keys, bytes FROM kv_usage WHERE plugin = ?1", vals![plugin])?
                .map_or((0, 0), |r| (r.int(0), r.int(1)));
            // Bytes, as the usage counts them (SQLite's triggers: `length(CAST(… AS BLOB))`).
            let old = db
                .query_opt("SELECT octet_length(value) FROM kv WHERE plugin = ?1 AND key = ?2", vals![plugin, key])?
                .map(|r| r.int(0));
            crate::check_kv_quota(keys, bytes, old, key, value, limits)?;
            db.kv_write(plugin, key, value)
        })
    }

    fn health_get(&self, plugin: &str) -> Result<Option<String>> {
        self.health(plugin)
    }

    fn refusal_set(&self, file: &str, name: &str, sha256: &str, reason: &str, at: &str) -> Result<()> {
        self.execute(
            "INSERT INTO plugin_refusals(file, name, sha256, reason, at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(file) DO UPDATE SET name = excluded.name, sha256 = excluded.sha256,
                reason = excluded.reason, at = excluded.at",
            vals![file, name, sha256, reason, at],
        )?;
        Ok(())
    }

    fn refusal_clear(&self, file: &str) -> Result<()> {
        self.execute("DELETE FROM plugin_refusals WHERE file = ?1", vals![file])?;
        Ok(())
    }

    fn refusals(&self) -> Result<Vec<Refusal>> {
        let rows = self.query("SELECT file, name, sha256, reason, at FROM plugin_refusals ORDER BY file", &[])?;
        Ok(rows
            .into_iter()
            .map(|mut r| Refusal {
                file: r.take_text(0),
                name: r.take_text(1),
                sha256: r.take_text(2),
                reason: r.take_text(3),
                at: r.take_text(4),
            })
            .collect())
    }

    fn kv_usage(&self, plugin: &str) -> Result<(u64, u64)> {
        let row = self.query_opt("SELECT keys, bytes FROM kv_usage WHERE plugin = ?1", vals![plugin])?;
        Ok(row.map_or((0, 0), |r| (r.int(0) as u64, r.int(1) as u64)))
    }

    fn kv_delete(&self, plugin: &str, key: &str) -> Result<()> {
        self.execute("DELETE FROM kv WHERE plugin = ?1 AND key = ?2", vals![plugin, key])?;
        Ok(())
    }

    fn request_retry(&self, id: &str, content_hash: &str) -> Result<()> {
        self.execute(
            "UPDATE tasks SET state = 'retry_requested', content_hash = ?2 WHERE id = ?1",
            vals![id, content_hash],
        )?;
        self.execute(
            "INSERT INTO events(task_id, at, event, detail) VALUES (?1, ?2, 'retry_requested', '{}')",
            vals![id, now_stamp()],
        )?;
        // Counted under the task's plugin (`stat_events`; see `stats`).
        self.execute(
            "INSERT INTO stat_events(event, plugin, detail, n)
             SELECT 'retry', coalesce(plugin, 'unknown'), 'manual', 1 FROM tasks WHERE id = ?1
             ON CONFLICT(event, plugin, detail) DO UPDATE SET n = stat_events.n + 1",
            vals![id],
        )?;
        if self.is_pg() {
            // The next copy of this handoff is claimed afresh, not filed as a copy brought back
            // (claims are rows only on PostgreSQL).
            self.forget_filed(id)?;
        }
        Ok(())
    }

    fn deaths(&self, claim: &str) -> Result<u32> {
        let row = self.query_opt("SELECT deaths + solo FROM claim_runs WHERE claim = ?1", vals![claim])?;
        Ok(row.map_or(0, |r| r.int(0).max(0) as u32))
    }
}

/// The writes of one batch, on the connection inside the batch's transaction.
impl Writes for Db {
    fn task(&self, id: &str) -> Result<Option<TaskRow>> {
        self.task_row(id)
    }

    fn insert_task(&self, row: &TaskRow) -> Result<()> {
        self.execute_later(
            "INSERT INTO tasks(id, content_hash, claim, file_name, sender, reply_to, plugin, action, title,
                               state, attempts, claimed_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            vals![
                &row.id,
                &row.content_hash,
                &row.claim,
                &row.file_name,
                &row.sender,
                &row.reply_to,
                &row.plugin,
                &row.action,
                &row.title,
                row.state.as_str(),
                row.attempts,
                &row.claimed_at
            ],
        )
    }

    fn reclaim(&self, row: &TaskRow) -> Result<()> {
        self.execute(
            "UPDATE tasks SET claim = ?2, file_name = ?3, content_hash = ?4, sender = ?5, reply_to = ?6, plugin = ?7,
                    action = ?8, title = ?9, state = 'claimed', error_code = NULL, error_message = NULL,
                    finished_at = NULL, claimed_at = ?10
             WHERE id = ?1",
            vals![
                &row.id,
                &row.claim,
                &row.file_name,
                &row.content_hash,
                &row.sender,
                &row.reply_to,
                &row.plugin,
                &row.action,
                &row.title,
                &row.claimed_at
            ],
        )?;
        Ok(())
    }

    fn start_attempt(&self, id: &str, attempt: u32) -> Result<()> {
        self.execute_later("UPDATE tasks SET state = 'running', attempts = ?2 WHERE id = ?1", vals![id, attempt])
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
        self.execute_later(
            "UPDATE tasks SET state = ?2, error_code = ?3, error_message = ?4,
                    return_name = COALESCE(?5, return_name), finished_at = ?6, duration_ms = ?7
             WHERE id = ?1",
            vals![id, state.as_str(), error.map(|e| e.0), error.map(|e| e.1), return_name, finished_at, duration_ms],
        )
    }

    fn events(&self, id: &str) -> Result<Vec<Event>> {
        self.event_rows(id)
    }

    /// The search index differs between the backends, so this statement does. On SQLite the
    /// task's row of `task_text` is there from its first claim (a trigger on `tasks`): this
    /// only updates it and stamps it above the index's mark; the index itself is not touched
    /// here (that is the indexer's work, off the pipeline's transaction), and an unchanged body
    /// (a retry that failed the same way) changes nothing. On PostgreSQL the row is written
    /// here and its words column is computed by the server.
    fn search_text(&self, id: &str, document: &str) -> Result<()> {
        let sql = self.pick(
            "UPDATE task_text SET body = ?2, stamp = (SELECT coalesce(max(stamp), 0) + 1 FROM task_text)
             WHERE id = ?1 AND body IS NOT ?2",
            "INSERT INTO task_text(id, body) VALUES (?1, ?2)
             ON CONFLICT(id) DO UPDATE SET body = excluded.body WHERE task_text.body IS DISTINCT FROM excluded.body",
        );
        self.execute_later(sql, vals![id, document])
    }

    fn solo_begin(&self, claim: &str) -> Result<u32> {
        let row = self.query_opt(
            "INSERT INTO claim_runs(claim, deaths, solo) VALUES (?1, 0, 1)
             ON CONFLICT(claim) DO UPDATE SET deaths = claim_runs.deaths + claim_runs.solo, solo = 1
             RETURNING deaths",
            vals![claim],
        )?;
        Ok(row.map_or(0, |r| r.int(0).max(0) as u32))
    }

    fn solo_abandon(&self, claim: &str) -> Result<()> {
        self.execute("UPDATE claim_runs SET solo = 0 WHERE claim = ?1", vals![claim])?;
        Ok(())
    }

    fn solo_end(&self, claim: &str) -> Result<()> {
        self.execute("DELETE FROM claim_runs WHERE claim = ?1", vals![claim])?;
        Ok(())
    }

    fn log(&self, task_id: &str, at: &str, level: &str, message: &str) -> Result<()> {
        self.execute_later(
            "INSERT INTO logs(task_id, at, level, message) VALUES (?1, ?2, ?3, ?4)",
            vals![task_id, at, level, message],
        )
    }

    fn kv_set(&self, plugin: &str, key: &str, value: &str) -> Result<()> {
        self.kv_write(plugin, key, value)
    }

    fn health_get(&self, plugin: &str) -> Result<Option<String>> {
        self.health(plugin)
    }

    fn health_set(&self, plugin: &str, health: &str) -> Result<()> {
        self.execute(
            "INSERT INTO plugin_health(plugin, health) VALUES (?1, ?2)
             ON CONFLICT(plugin) DO UPDATE SET health = excluded.health",
            vals![plugin, health],
        )?;
        Ok(())
    }

    fn event(&self, task_id: &str, at: &str, event: &str, detail: &serde_json::Value) -> Result<()> {
        self.execute_later(
            "INSERT INTO events(task_id, at, event, detail) VALUES (?1, ?2, ?3, ?4)",
            vals![task_id, at, event, detail.to_string()],
        )
    }

    fn observe(&self, o: &Observed, seen_at: &str) -> Result<()> {
        self.execute_later(
            "INSERT INTO observed(agent, file_name, kind, id, in_reply_to, sender, recipient, title, created_at, seen_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT DO NOTHING",
            vals![
                &o.agent,
                &o.file_name,
                &o.kind,
                &o.id,
                &o.in_reply_to,
                &o.sender,
                &o.recipient,
                &o.title,
                &o.created_at,
                seen_at
            ],
        )
    }

    fn record_stats(&self, batch: &crate::stats::StatsBatch) -> Result<()> {
        stats::record(self, batch)
    }
}
