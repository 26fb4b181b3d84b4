//! baton's state: the ledger. Two backends behind one contract ([`Store`] for reads and single
//! writes, [`Writes`] for the writes of one pipeline batch): SQLite (the default: one database
//! in WAL mode on a local disk, never a synced folder) and PostgreSQL (several machines sharing
//! one handoffs tree through a sync service). Their statements are written once, on
//! `baton_store::sql` (`db.rs`, with the dashboard's in `read.rs` and the summary tables' in
//! `stats.rs`); what only one backend has is in `sqlite.rs` (the file, its FTS5 search) and
//! `postgres.rs` (claims, hosts, its search). [`Ledger`] and [`Batch`] hold no SQL.
//!
//! The file system is the truth about where a handoff is; the ledger is the truth about what
//! happened to it: claims, attempts and their errors, results, what other agents sent each
//! other, plugin logs and key-value data. Writes are batched by the caller into one
//! transaction per pipeline batch, so a handoff costs a fraction of an fsync here.

pub mod advisory;
mod checkpoint;
mod db;
pub mod guard;
pub mod postgres;
pub mod read;
pub mod search;
mod sqlite;
pub mod stats;

use std::path::Path;

use rusqlite::Connection;
use serde::Serialize;

/// Where the ledger lives, and connecting to it: the store's ([`baton_store::location`]).
pub use baton_store::{Location, LocationError, connect, location};
pub use rusqlite;

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("state database {path}: {source}")]
    Open { path: String, source: rusqlite::Error },
    #[error("creating the state folder {path}: {source}")]
    Folder { path: String, source: std::io::Error },
    #[error("state database: {0}")]
    Sql(rusqlite::Error),
    /// The state cannot be written here (a read-only file system, a file another user owns).
    /// It was opened read-only, so what only reads works; a write stops with this, and the fix.
    #[error("{}", read_only_message(path, why))]
    ReadOnly { path: String, why: String },
    /// A kv write refused: it would take the plugin over its quota (the message says which).
    #[error("{0}")]
    KvQuota(String),
    /// A PostgreSQL error (the server named with its password hidden).
    #[error("state database {server}: {source}")]
    Postgres { server: String, source: tokio_postgres::Error },
    /// The PostgreSQL server cannot be reached (restart, network): claiming pauses.
    #[error("state database {server} is unavailable: {message}")]
    Unavailable { server: String, message: String },
    /// A PostgreSQL server that took the call and did not answer it in time (stopped, wedged,
    /// overloaded, or the link went silent): a pause, like [`LedgerError::Unavailable`].
    #[error(
        "state database {server} {}",
        baton_store::link::CallError::NoAnswer(*limit)
    )]
    NoAnswer { server: String, limit: std::time::Duration },
    /// The operation needs the other backend (the message says which and why).
    #[error("{0}")]
    Unsupported(String),
    /// The database holds a schema newer than this baton knows: nothing was changed.
    #[error("state database {path}: {source}")]
    Schema { path: String, source: baton_store::StoreError },
}

impl From<rusqlite::Error> for LedgerError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::ReadOnly) => LedgerError::ReadOnly {
                path: String::new(),
                why: "opened read-only: a read-only file system, or a file this user may not write".into(),
            },
            _ => LedgerError::Sql(e),
        }
    }
}

/// One line, once: what cannot be written, why, and where the state can go instead.
fn read_only_message(path: &str, why: &str) -> String {
    let which = if path.is_empty() { "the state database".to_string() } else { format!("state database {path}") };
    format!("{which} cannot be written ({why}): keep the state elsewhere with `--state PATH` or `BATON_STATE`")
}

impl LedgerError {
    /// A migration's failure on the database at `path` (a file, or a server as shown).
    pub(crate) fn from_store(path: &str, e: baton_store::StoreError) -> LedgerError {
        match e {
            baton_store::StoreError::Sqlite(source)
                if source.sqlite_error_code() == Some(rusqlite::ErrorCode::ReadOnly) =>
            {
                LedgerError::ReadOnly {
                    path: path.into(),
                    why: "its schema is older than this baton's, and it was opened read-only".into(),
                }
            }
            baton_store::StoreError::Sqlite(source) => LedgerError::Open { path: path.into(), source },
            baton_store::StoreError::Postgres(source) => LedgerError::Postgres { server: path.into(), source },
            e @ baton_store::StoreError::Newer { .. } => LedgerError::Schema { path: path.into(), source: e },
        }
    }
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

/// The state database as the threads of one process share it: `serve`'s pipeline, its watcher,
/// the plugins' kv store and the host interfaces all write through one connection.
pub type SharedLedger = std::sync::Arc<std::sync::Mutex<Ledger>>;

impl LedgerError {
    /// A condition that may pass (disk full, I/O error, a lock held too long): back off and
    /// try again rather than stop. Anything else (a corrupt file, a schema mismatch) is not.
    pub fn is_transient(&self) -> bool {
        match self {
            LedgerError::Folder { source, .. } => matches!(source.raw_os_error(), Some(28 | 5)),
            LedgerError::Open { source, .. } | LedgerError::Sql(source) => baton_store::passing::sqlite(source),
            // A quota is the plugin's limit, not the disk's: retrying cannot help.
            LedgerError::KvQuota(_)
            | LedgerError::Unsupported(_)
            | LedgerError::Schema { .. }
            | LedgerError::ReadOnly { .. } => false,
            LedgerError::Postgres { source, .. } => baton_store::passing::postgres(source),
            LedgerError::Unavailable { .. } | LedgerError::NoAnswer { .. } => true,
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
    /// It asked a question (an input request) and waits, claimed, for the answer.
    InputRequired,
    /// Its question was answered: it waits, claimed, for `serve` to run it again with the
    /// answers.
    Queued,
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
            TaskState::InputRequired => "input_required",
            TaskState::Queued => "queued",
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
            TaskState::InputRequired,
            TaskState::Queued,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }

    /// Completed, failed or rejected: answered, nothing left to run.
    pub fn is_terminal(self) -> bool {
        matches!(self, TaskState::Completed | TaskState::Failed | TaskState::Rejected)
    }

    /// Claimed, running, retrying, asking (`input_required`) or answered and waiting to run
    /// again (`queued`): a serve has it, and its result is not recorded yet.
    pub fn is_in_flight(self) -> bool {
        matches!(
            self,
            TaskState::Claimed
                | TaskState::Running
                | TaskState::Retrying
                | TaskState::InputRequired
                | TaskState::Queued
        )
    }
}

impl std::fmt::Display for TaskState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
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

/// An open ledger, on either backend.
pub struct Ledger {
    backend: Backend,
}

enum Backend {
    Sqlite(sqlite::SqliteLedger),
    Postgres(postgres::PgLedger),
}

/// The ledger's reads and single writes, as every backend provides them.
pub trait Store {
    fn task(&self, id: &str) -> Result<Option<TaskRow>>;
    fn events(&self, id: &str) -> Result<Vec<Event>>;
    /// Events of one kind, newest first, below sequence `before` (a cursor), at most `limit`:
    /// `(seq, task_id, event)`. How a front end lists the tasks it recorded (A2A's `a2a_sent`).
    fn events_named(&self, event: &str, before: Option<i64>, limit: usize) -> Result<Vec<(i64, String, Event)>>;
    /// TASKs by id: the one with `key`, or a page of ids after `after`, with the order they
    /// were recorded in where the backend keeps one (SQLite's rowid).
    fn tasks_by_id(&self, key: Option<&str>, after: &str, limit: usize) -> Result<Vec<(Option<i64>, TaskRow)>>;
    fn task_count(&self) -> Result<u64>;
    fn logs(&self, id: &str) -> Result<Vec<LogLine>>;
    /// The most recently finished tasks, newest first.
    fn recent(&self, limit: usize) -> Result<Vec<TaskRow>>;
    /// Counts of tasks by state.
    fn counts(&self) -> Result<Vec<(String, u64)>>;
    /// TASKs seen between agents that have no RETURN yet, oldest first. A TASK that baton
    /// routed into another agent's inbox stays open until that agent answers: baton's own
    /// "routed" RETURN is not an answer (and baton never reads its own RETURNs back).
    fn open_handoffs(&self) -> Result<Vec<Observed>>;
    /// Whether an agent's inbox file was already recorded (so it is parsed only once).
    fn is_observed(&self, agent: &str, file_name: &str) -> Result<bool>;
    fn kv_get(&self, plugin: &str, key: &str) -> Result<Option<String>>;
    fn kv_set(&self, plugin: &str, key: &str, value: &str) -> Result<()>;
    /// Writes a plugin's kv entry unless that takes the plugin over `limits`; the check and
    /// the write are one transaction, so two processes cannot both squeeze under the quota.
    fn kv_set_within(&mut self, plugin: &str, key: &str, value: &str, limits: KvLimits) -> Result<()>;
    /// A plugin's saved health (JSON), kept apart from every plugin's kv namespace.
    fn health_get(&self, plugin: &str) -> Result<Option<String>>;
    /// Records that the installed component `file` was refused (replacing an older refusal).
    fn refusal_set(&self, file: &str, name: &str, sha256: &str, reason: &str, at: &str) -> Result<()>;
    /// `file` loaded (or is gone): it is no longer refused.
    fn refusal_clear(&self, file: &str) -> Result<()>;
    /// Every recorded refusal, by file.
    fn refusals(&self) -> Result<Vec<Refusal>>;
    /// A plugin's kv usage: (keys, bytes of keys and values).
    fn kv_usage(&self, plugin: &str) -> Result<(u64, u64)>;
    fn kv_delete(&self, plugin: &str, key: &str) -> Result<()>;
    /// Marks a failed task so that its next claim runs again instead of counting as a duplicate.
    /// `content_hash` is the content `baton retry` moved back (possibly edited): only a copy
    /// with that content runs; any other copy of the id is still a `duplicate_id`.
    fn request_retry(&self, id: &str, content_hash: &str) -> Result<()>;
    /// Deaths counted against a claim so far (see [`Writes::solo_begin`]), counting a `solo`
    /// still set as one more.
    fn deaths(&self, claim: &str) -> Result<u32>;
}

/// The writes of one pipeline batch, inside one transaction, as every backend provides them.
pub trait Writes {
    fn task(&self, id: &str) -> Result<Option<TaskRow>>;
    /// Records a new claim of a task (state `claimed`).
    fn insert_task(&self, row: &TaskRow) -> Result<()>;
    /// Points a task at a new claim (after `baton retry`): its claim, file, content and what it
    /// asks for are `row`'s, its error is cleared, and its attempts go on counting (a retry is
    /// a new attempt of the same handoff).
    fn reclaim(&self, row: &TaskRow) -> Result<()>;
    /// Records an attempt starting.
    fn start_attempt(&self, id: &str, attempt: u32) -> Result<()>;
    /// Records a task reaching a terminal state (or `retrying`).
    fn finish(
        &self,
        id: &str,
        state: TaskState,
        error: Option<(&str, &str)>,
        return_name: Option<&str>,
        finished_at: &str,
        duration_ms: f64,
    ) -> Result<()>;
    fn events(&self, id: &str) -> Result<Vec<Event>>;
    /// Stores what the task list's search finds a finished task by (its document, see
    /// [`search::SearchText::document`]), replacing an earlier attempt's.
    fn search_text(&self, id: &str, document: &str) -> Result<()>;
    /// The poison-pill guard, before a claim taken over from a dead process runs alone:
    /// if it was already running alone when a process died (`solo` still set), that counts
    /// one death. Sets `solo` and returns the deaths so far.
    fn solo_begin(&self, claim: &str) -> Result<u32>;
    /// The process is stopping by request while the claim runs alone: no death to count.
    fn solo_abandon(&self, claim: &str) -> Result<()>;
    /// The claim finished in this process (whatever its outcome): forget its guard row.
    fn solo_end(&self, claim: &str) -> Result<()>;
    /// A plugin log line, kept with its task.
    fn log(&self, task_id: &str, at: &str, level: &str, message: &str) -> Result<()>;
    fn kv_set(&self, plugin: &str, key: &str, value: &str) -> Result<()>;
    /// A plugin's saved health (JSON), read inside the batch (another process may have paused it).
    fn health_get(&self, plugin: &str) -> Result<Option<String>>;
    /// Saves a plugin's health (JSON) in its own table, never in a plugin's kv namespace.
    fn health_set(&self, plugin: &str, health: &str) -> Result<()>;
    /// Appends to a task's (or a rejected file's) history.
    fn event(&self, task_id: &str, at: &str, event: &str, detail: &serde_json::Value) -> Result<()>;
    fn observe(&self, o: &Observed, seen_at: &str) -> Result<()>;
    /// Adds a group's answers to the summary tables (counters and histograms, see [`stats`]).
    fn record_stats(&self, batch: &stats::StatsBatch) -> Result<()>;
}

impl Ledger {
    /// Opens (creating if needed) the SQLite state database at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        Ok(Ledger { backend: Backend::Sqlite(sqlite::SqliteLedger::open(path)?) })
    }

    /// Opens the ledger where `location` says (a SQLite file or a PostgreSQL server).
    pub fn open_at(location: &Location) -> Result<Self> {
        match location {
            Location::Sqlite(path) => Self::open(path),
            Location::Postgres(url) => Ok(Ledger { backend: Backend::Postgres(postgres::PgLedger::open(url)?) }),
        }
    }

    /// For a writer that lives long (`serve`): the SQLite file's WAL checkpoints run on a
    /// thread of their own instead of after the commit that fills the WAL, which is a TASK's
    /// intake on the pipeline's thread (see `checkpoint`). Stopped when the ledger is dropped.
    /// Nothing to do on PostgreSQL.
    pub fn checkpoint_in_background(&mut self) {
        if let Backend::Sqlite(s) = &mut self.backend {
            s.checkpoint_in_background();
        }
    }

    /// The PostgreSQL backend, when the ledger is on one (shared claims, leases, locks).
    pub fn postgres(&mut self) -> Option<&mut postgres::PgLedger> {
        match &mut self.backend {
            Backend::Postgres(p) => Some(p),
            Backend::Sqlite(_) => None,
        }
    }

    /// Whether the ledger is on PostgreSQL (claims are rows, not renames).
    pub fn is_shared(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// The database, on either backend.
    fn db(&self) -> &db::Db {
        match &self.backend {
            Backend::Sqlite(s) => &s.db,
            Backend::Postgres(p) => &p.db,
        }
    }

    fn db_mut(&mut self) -> &mut db::Db {
        match &mut self.backend {
            Backend::Sqlite(s) => &mut s.db,
            Backend::Postgres(p) => &mut p.db,
        }
    }

    fn store(&self) -> &dyn Store {
        self.db()
    }

    /// Runs `f` in one transaction (one fsync or one commit for the whole batch).
    pub fn batch<R>(&mut self, f: impl FnOnce(&Batch<'_>) -> Result<R>) -> Result<R> {
        self.db().batch(true, |w| f(&Batch { w }))
    }

    /// As [`Ledger::batch`], for rows that only index a durable record kept elsewhere (a
    /// handoff file): the commit does not wait for its own sync. Others see it at once, and a
    /// crash of this process loses nothing (the commit is written, only not yet on the disk).
    /// It is on the disk with the next synced commit on the same state (the pipeline commits
    /// one for every TASK it takes) or the next checkpoint (SQLite; within half a second in
    /// `serve`), or PostgreSQL's WAL writer (within a second by default); a power loss or a
    /// crash of the machine or the server before that may lose this batch, whole, never half of
    /// it and never an earlier one. Why: such a batch on a request's path held the write lock
    /// through its sync, and the pipeline's claim of the very TASK it indexes waited behind it.
    pub fn batch_unsynced<R>(&mut self, f: impl FnOnce(&Batch<'_>) -> Result<R>) -> Result<R> {
        self.db().batch(false, |w| f(&Batch { w }))
    }

    pub fn task(&self, id: &str) -> Result<Option<TaskRow>> {
        self.store().task(id)
    }

    pub fn events(&self, id: &str) -> Result<Vec<Event>> {
        self.store().events(id)
    }

    /// See [`Store::tasks_by_id`] (the catalog's `handoffs` collection reads the ledger so).
    pub fn tasks_by_id(&self, key: Option<&str>, after: &str, limit: usize) -> Result<Vec<(Option<i64>, TaskRow)>> {
        self.store().tasks_by_id(key, after, limit)
    }

    /// How many TASKs the ledger holds.
    pub fn task_count(&self) -> Result<u64> {
        self.store().task_count()
    }

    /// See [`Store::events_named`].
    pub fn events_named(&self, event: &str, before: Option<i64>, limit: usize) -> Result<Vec<(i64, String, Event)>> {
        self.store().events_named(event, before, limit)
    }

    pub fn logs(&self, id: &str) -> Result<Vec<LogLine>> {
        self.store().logs(id)
    }

    /// The most recently finished tasks, newest first.
    pub fn recent(&self, limit: usize) -> Result<Vec<TaskRow>> {
        self.store().recent(limit)
    }

    /// Counts of tasks by state.
    pub fn counts(&self) -> Result<Vec<(String, u64)>> {
        self.store().counts()
    }

    /// See [`Store::open_handoffs`].
    pub fn open_handoffs(&self) -> Result<Vec<Observed>> {
        self.store().open_handoffs()
    }

    /// Whether an agent's inbox file was already recorded (so it is parsed only once).
    pub fn is_observed(&self, agent: &str, file_name: &str) -> Result<bool> {
        self.store().is_observed(agent, file_name)
    }

    pub fn kv_get(&self, plugin: &str, key: &str) -> Result<Option<String>> {
        self.store().kv_get(plugin, key)
    }

    pub fn kv_set(&self, plugin: &str, key: &str, value: &str) -> Result<()> {
        self.store().kv_set(plugin, key, value)
    }

    /// See [`Store::kv_set_within`].
    pub fn kv_set_within(&mut self, plugin: &str, key: &str, value: &str, limits: KvLimits) -> Result<()> {
        self.db_mut().kv_set_within(plugin, key, value, limits)
    }

    /// A plugin's saved health (JSON), kept apart from every plugin's kv namespace.
    pub fn health_get(&self, plugin: &str) -> Result<Option<String>> {
        self.store().health_get(plugin)
    }

    /// Records that the installed component `file` was refused (replacing an older refusal).
    pub fn refusal_set(&self, file: &str, name: &str, sha256: &str, reason: &str, at: &str) -> Result<()> {
        self.store().refusal_set(file, name, sha256, reason, at)
    }

    /// `file` loaded (or is gone): it is no longer refused.
    pub fn refusal_clear(&self, file: &str) -> Result<()> {
        self.store().refusal_clear(file)
    }

    /// Every recorded refusal, by file.
    pub fn refusals(&self) -> Result<Vec<Refusal>> {
        self.store().refusals()
    }

    /// A plugin's kv usage: (keys, bytes of keys and values).
    pub fn kv_usage(&self, plugin: &str) -> Result<(u64, u64)> {
        self.store().kv_usage(plugin)
    }

    pub fn kv_delete(&self, plugin: &str, key: &str) -> Result<()> {
        self.store().kv_delete(plugin, key)
    }

    /// Marks a failed task so that its next claim of `content_hash` runs again instead of
    /// counting as a duplicate (see [`Store::request_retry`]).
    pub fn request_retry(&self, id: &str, content_hash: &str) -> Result<()> {
        self.store().request_retry(id, content_hash)
    }

    /// See [`Store::deaths`].
    pub fn deaths(&self, claim: &str) -> Result<u32> {
        self.store().deaths(claim)
    }

    /// The dashboard's, `/metrics`' and the alerts' side of the ledger (see [`read`]).
    pub fn stats(&self) -> &dyn read::StatsStore {
        self.db()
    }

    /// As [`Ledger::stats`], for the alerts' evaluation transaction.
    pub fn stats_mut(&mut self) -> &mut dyn read::StatsStore {
        self.db_mut()
    }

    /// Direct access for crates that keep their own tables in the same SQLite file.
    ///
    /// # Panics
    /// On the PostgreSQL backend, which has no such file (check [`Ledger::is_shared`]).
    pub fn connection(&self) -> &Connection {
        match &self.backend {
            Backend::Sqlite(s) => s.conn(),
            Backend::Postgres(_) => panic!("the PostgreSQL ledger has no SQLite connection"),
        }
    }
}

/// The writes of one pipeline batch, inside one transaction.
pub struct Batch<'a> {
    w: &'a dyn Writes,
}

impl Batch<'_> {
    pub fn task(&self, id: &str) -> Result<Option<TaskRow>> {
        self.w.task(id)
    }

    /// Records a new claim of a task (state `claimed`).
    pub fn insert_task(&self, row: &TaskRow) -> Result<()> {
        self.w.insert_task(row)
    }

    /// See [`Writes::reclaim`].
    pub fn reclaim(&self, row: &TaskRow) -> Result<()> {
        self.w.reclaim(row)
    }

    /// Records an attempt starting.
    pub fn start_attempt(&self, id: &str, attempt: u32) -> Result<()> {
        self.w.start_attempt(id, attempt)
    }

    /// Records a task reaching a terminal state (or `retrying`).
    pub fn finish(
        &self,
        id: &str,
        state: TaskState,
        error: Option<(&str, &str)>,
        return_name: Option<&str>,
        finished_at: &str,
        duration_ms: f64,
    ) -> Result<()> {
        self.w.finish(id, state, error, return_name, finished_at, duration_ms)
    }

    pub fn events(&self, id: &str) -> Result<Vec<Event>> {
        self.w.events(id)
    }

    /// Indexes a finished task's text (params, error, RETURN) for the task list's search.
    pub fn search_text(&self, id: &str, text: &search::SearchText<'_>) -> Result<()> {
        self.w.search_text(id, &text.document())
    }

    /// See [`Writes::solo_begin`].
    pub fn solo_begin(&self, claim: &str) -> Result<u32> {
        self.w.solo_begin(claim)
    }

    /// The process is stopping by request while the claim runs alone: no death to count.
    pub fn solo_abandon(&self, claim: &str) -> Result<()> {
        self.w.solo_abandon(claim)
    }

    /// The claim finished in this process (whatever its outcome): forget its guard row.
    pub fn solo_end(&self, claim: &str) -> Result<()> {
        self.w.solo_end(claim)
    }

    /// A plugin log line, kept with its task.
    pub fn log(&self, task_id: &str, at: &str, level: &str, message: &str) -> Result<()> {
        self.w.log(task_id, at, level, message)
    }

    pub fn kv_set(&self, plugin: &str, key: &str, value: &str) -> Result<()> {
        self.w.kv_set(plugin, key, value)
    }

    /// Saves a plugin's health (JSON) in its own table, never in a plugin's kv namespace.
    pub fn health_set(&self, plugin: &str, health: &str) -> Result<()> {
        self.w.health_set(plugin, health)
    }

    /// Appends to a task's (or a rejected file's) history.
    pub fn event(&self, task_id: &str, at: &str, event: &str, detail: &serde_json::Value) -> Result<()> {
        self.w.event(task_id, at, event, detail)
    }

    pub fn observe(&self, o: &Observed, seen_at: &str) -> Result<()> {
        self.w.observe(o, seen_at)
    }
    /// Adds a group's answers to the summary tables (counters and histograms, see [`stats`]),
    /// in this batch's transaction.
    pub fn record_stats(&self, batch: &stats::StatsBatch) -> Result<()> {
        self.w.record_stats(batch)
    }

    /// A plugin's saved health (JSON), read inside the batch.
    pub fn health_get(&self, plugin: &str) -> Result<Option<String>> {
        self.w.health_get(plugin)
    }
}

/// The quota rule both backends apply inside their kv transaction: `keys` and `bytes` are the
/// plugin's usage now, `old` the byte length of the value being replaced, if any.
pub(crate) fn check_kv_quota(
    keys: i64,
    bytes: i64,
    old: Option<i64>,
    key: &str,
    value: &str,
    limits: KvLimits,
) -> Result<()> {
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
    Ok(())
}

/// An event's detail as stored (JSON text), or the text itself if it is not JSON.
pub(crate) fn parse_detail(detail: String) -> serde_json::Value {
    serde_json::from_str(&detail).unwrap_or(serde_json::Value::String(detail))
}

pub(crate) const TASK_COLUMNS: &str =
    "id, content_hash, claim, file_name, sender, reply_to, plugin, action, title, state,
    error_code, error_message, attempts, return_name, claimed_at, finished_at, duration_ms";

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn row(id: &str) -> TaskRow {
        TaskRow {
            id: id.into(),
            content_hash: "h".into(),
            claim: "c1".into(),
            file_name: "f.json".into(),
            sender: "a".into(),
            reply_to: "a".into(),
            plugin: Some("echo".into()),
            action: Some("echo".into()),
            title: "t".into(),
            state: TaskState::Claimed,
            error_code: None,
            error_message: None,
            attempts: 0,
            return_name: None,
            claimed_at: "2026-01-01T00:00:00Z".into(),
            finished_at: None,
            duration_ms: None,
        }
    }

    #[test]
    fn an_unsynced_batch_is_seen_at_once_whole_or_not_at_all_and_the_next_batch_syncs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/baton.sqlite");
        let mut l = Ledger::open(&path).unwrap();
        let full = |l: &Ledger| match &l.backend {
            Backend::Sqlite(s) => s.conn().pragma_query_value(None, "synchronous", |r| r.get::<_, i64>(0)).unwrap(),
            Backend::Postgres(_) => unreachable!(),
        };
        assert_eq!(full(&l), 2, "the ledger commits at synchronous = FULL");
        l.batch_unsynced(|b| b.event("t1", "x", "a2a_sent", &serde_json::json!({"n": 1}))).unwrap();
        assert_eq!(full(&l), 2, "FULL again after an unsynced batch");
        // One that fails rolls back whole, and leaves the connection synced too.
        let failed = l.batch_unsynced(|b| {
            b.event("t1", "y", "half", &serde_json::json!({}))?;
            b.insert_task(&row("t1"))?;
            b.insert_task(&row("t1"))
        });
        assert!(failed.is_err());
        assert_eq!(full(&l), 2);
        // Another connection sees the first batch at once, and nothing of the second.
        let other = Ledger::open(&path).unwrap();
        let ev: Vec<_> = other.events("t1").unwrap().into_iter().map(|e| e.event).collect();
        assert_eq!(ev, ["a2a_sent"]);
        assert!(other.task("t1").unwrap().is_none());
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
        assert!(
            matches!(l.kv_set_within("p", "b", &"x".repeat(90), q), Err(LedgerError::KvQuota(m)) if m.contains("100 bytes"))
        );
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
            for (i, m) in baton_store::LEDGER.sqlite.iter().take(3).enumerate() {
                conn.execute_batch(&format!("{}; PRAGMA user_version = {};", m.sql, i + 1)).unwrap();
            }
            conn.execute(
                "INSERT INTO kv(plugin, key, value) VALUES ('baton.health', 'echo', '{\"consecutive_failures\":2}')",
                [],
            )
            .unwrap();
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
            agent: "cursor".into(),
            file_name: "t.json".into(),
            kind: "task".into(),
            id: "T1".into(),
            in_reply_to: None,
            sender: "claude".into(),
            recipient: Some("cursor".into()),
            title: "Review".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
        };
        l.batch(|b| b.observe(&task, "now")).unwrap();
        assert!(l.is_observed("cursor", "t.json").unwrap());
        assert_eq!(l.open_handoffs().unwrap().len(), 1);
        let ret = Observed {
            kind: "return".into(),
            id: "R1".into(),
            in_reply_to: Some("T1".into()),
            file_name: "r.json".into(),
            agent: "claude".into(),
            ..task
        };
        l.batch(|b| b.observe(&ret, "now")).unwrap();
        assert!(l.open_handoffs().unwrap().is_empty());
    }
}
