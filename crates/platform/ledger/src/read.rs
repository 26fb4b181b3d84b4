//! The dashboard's and the alerts' side of the ledger: reads of the summary tables
//! ([`crate::stats`]), the `alerts` table, and the pages of tasks and handoffs the dashboard
//! lists. One contract ([`StatsStore`], with [`AlertTx`] for the alerts' evaluation
//! transaction), implemented once for both backends on the ledger's database (`db/read.rs`;
//! the task list's search aside: each backend's index is its own, `sqlite.rs` and
//! `postgres.rs`), so
//! `baton-stats` and `baton-dashboard` hold no SQL of their own and work the same on
//! `--state postgres://…` as on the SQLite file.
//!
//! The rules (windows, percentiles, alert identity and firings) stay in `baton-stats`: this
//! contract only moves rows.
use crate::{Observed, Result, TaskRow};

/// The two bucketed summary tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatTable {
    /// `stat_minutes`, keyed by Unix minute.
    Minutes,
    /// `stat_hours`, keyed by Unix hour.
    Hours,
}

/// One row of a bucketed summary table, borrowed for the visitor of [`StatsStore::stat_rows`]
/// (decoded straight into the caller's sums: no histogram allocated per row).
#[derive(Debug, Clone, Copy)]
pub struct StatRow<'a> {
    pub plugin: &'a str,
    pub completed: i64,
    pub failed: i64,
    pub rejected: i64,
    pub drop_hist: &'a [u8],
    pub drop_sum: f64,
    pub run_hist: &'a [u8],
    pub run_sum: f64,
}

/// One row of the `alerts` table, as stored (labels as JSON text).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRow {
    pub id: String,
    pub rule: String,
    pub labels: String,
    pub summary: String,
    pub state: String,
    pub firing: u64,
    pub started_at: String,
    pub last_seen_at: String,
    pub resolved_at: Option<String>,
    pub acked_at: Option<String>,
    pub notified: Option<String>,
}

/// Which alerts [`StatsStore::alerts`] reads.
#[derive(Debug, Clone, Copy)]
pub enum Alerts<'a> {
    /// Every alert: firing ones first, then resolved ones; newest first within each.
    All,
    /// The one with this id.
    Id(&'a str),
}

/// A TASK between agents in the dashboard's list, and whether a RETURN answers it.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedItem {
    pub observed: Observed,
    pub seen_at: String,
    pub answered: bool,
}

/// Which of baton's tasks the dashboard's task list shows: every field that is set must match
/// (`state` is a comma-separated list of states; `agent` the sender or reply-to; `q` the user's
/// search as typed: a part of the id, title, sender or reply-to, or words of the task's text;
/// see [`crate::search`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TaskFilter<'a> {
    pub state: Option<&'a str>,
    pub plugin: Option<&'a str>,
    pub error_code: Option<&'a str>,
    pub agent: Option<&'a str>,
    pub q: Option<&'a str>,
}

impl TaskFilter<'_> {
    /// Whether any filter other than `q` is set (a search then counts within a window of its
    /// newest matches, see [`crate::search::FILTERED_WINDOW`]).
    pub fn filters_besides_q(&self) -> bool {
        [self.state, self.plugin, self.error_code, self.agent].iter().any(Option::is_some)
    }
}

/// One page of the task list and how many tasks match in all.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskList {
    pub rows: Vec<TaskRow>,
    /// How many match: all of them when `total_exact`, else at least this many (a search
    /// counts at most about [`crate::search::COUNT_CAP`] matches; never shown as exact).
    pub total: u64,
    pub total_exact: bool,
    /// How many tasks the search read directly because the index does not hold their latest
    /// text yet (they are in the answer like the others); 0 without `q`.
    pub unindexed: u64,
}

/// The writes of one alert evaluation, in transactions that hosts (and processes) take in
/// turns: one for the alerts' states, then one for their follow-ups (so two hosts never both
/// write the follow-up of one firing).
pub trait AlertTx {
    /// The alert's state (`firing`/`resolved`), `None` if unknown.
    fn state(&self, id: &str) -> Result<Option<String>>;
    /// A new alert, firing for the first time at `now`.
    fn insert(&self, id: &str, rule: &str, labels: &str, summary: &str, now: &str) -> Result<()>;
    /// A firing alert still holds.
    fn seen(&self, id: &str, now: &str, summary: &str) -> Result<()>;
    /// A resolved alert holds again: its next firing (acknowledgement and follow-up cleared).
    fn refire(&self, id: &str, now: &str, summary: &str) -> Result<()>;
    /// Ids of the alerts firing now.
    fn firing(&self) -> Result<Vec<String>>;
    fn resolve(&self, id: &str, now: &str) -> Result<()>;
    /// Forgets alerts resolved before `before` (RFC 3339).
    fn prune(&self, before: &str) -> Result<()>;
    /// Firing alerts whose current firing has no follow-up yet, oldest first.
    fn unnotified(&self) -> Result<Vec<AlertRow>>;
    /// Whether an agent's inbox file was recorded (a follow-up the agent moved elsewhere).
    fn is_observed(&self, agent: &str, file_name: &str) -> Result<bool>;
    /// Marks firing `firing` of `id` as followed up by the TASK at `path`.
    fn notified(&self, id: &str, firing: u64, path: &str) -> Result<()>;
}

/// The reads of the dashboard, `/metrics` and the alerts, and the alerts' writes.
pub trait StatsStore: crate::Store {
    /// Visits the rows of `table` with a key in `lo..=hi`.
    fn stat_rows(&self, table: StatTable, lo: i64, hi: i64, visit: &mut dyn FnMut(StatRow<'_>)) -> Result<()>;
    /// `stat_counts`: (status, plugin, answers).
    fn stat_counts(&self) -> Result<Vec<(String, String, i64)>>;
    /// `stat_events`: (event, plugin, detail, n): failures by error code and retries by kind.
    fn stat_events(&self) -> Result<Vec<(String, String, String, i64)>>;
    /// `stat_duration`: (Prometheus bucket index, runs).
    fn stat_durations(&self) -> Result<Vec<(i64, i64)>>;
    /// A running total of `stat_totals` (0 if never written).
    fn stat_total(&self, name: &str) -> Result<f64>;
    /// Every plugin's saved health: (plugin, JSON).
    fn health_all(&self) -> Result<Vec<(String, String)>>;
    /// TASKs between agents seen before `seen_before` (RFC 3339) with no RETURN, whose id does
    /// not start with `skip_prefix`, oldest first: (agent, id, title).
    fn unanswered(&self, seen_before: &str, skip_prefix: &str, limit: i64) -> Result<Vec<(String, String, String)>>;
    fn alerts(&self, which: Alerts<'_>) -> Result<Vec<AlertRow>>;
    /// Runs one evaluation's writes in one transaction.
    fn alerts_update(&mut self, f: &mut dyn FnMut(&dyn AlertTx) -> Result<()>) -> Result<()>;
    /// Acknowledges the current firing (keeping an earlier acknowledgement); false if no such id.
    fn alert_ack(&self, id: &str, at: &str) -> Result<bool>;
    /// Baton's tasks, newest claims first, optionally from or to `agent` and matching `like`
    /// (a LIKE pattern with `\` as its escape) in id, title, sender or reply-to.
    fn task_page(&self, agent: Option<&str>, like: Option<&str>, limit: i64) -> Result<Vec<TaskRow>>;
    /// One page of baton's tasks matching `filter`, newest claims first, and how many match in
    /// all (paging with totals; with `q`, counted up to a cap, see [`TaskList`]).
    fn task_list(&self, filter: &TaskFilter<'_>, offset: i64, limit: i64) -> Result<TaskList>;
    /// [`Self::task_list`], and the same filter's count in `count_states` instead of its own
    /// states (the dashboard's "a retry would take N"), as two `task_list`s would answer them. A
    /// backend whose search reads every match first (PostgreSQL) reads them once for both.
    fn task_list_and_count(
        &self,
        filter: &TaskFilter<'_>,
        offset: i64,
        limit: i64,
        count_states: &str,
    ) -> Result<(TaskList, TaskList)> {
        let counted = TaskFilter { state: Some(count_states), ..*filter };
        Ok((self.task_list(filter, offset, limit)?, self.task_list(&counted, 0, 0)?))
    }
    /// Brings the task list's search index up to date by at most `max_rows` rows, in one
    /// transaction; returns how many rows it indexed and whether any are left. A backend that
    /// indexes as it writes (PostgreSQL) has nothing to do.
    fn index_search(&self, max_rows: usize) -> Result<(usize, bool)> {
        let _ = max_rows;
        Ok((0, false))
    }
    /// How many tasks there are of each (state, plugin, error code): the task list's filter
    /// choices and the "tasks by state" counts in one read.
    fn task_facets(&self) -> Result<Vec<(String, Option<String>, Option<String>, u64)>>;
    /// TASKs between agents, newest first, filtered as [`StatsStore::task_page`] (agent: sender,
    /// recipient or the inbox's agent).
    fn observed_page(&self, agent: Option<&str>, like: Option<&str>, limit: i64) -> Result<Vec<ObservedItem>>;
    /// What other agents' inboxes held of handoff `id` (it, or replies to it), first seen first.
    /// (handoff, seen at).
    fn observed_of(&self, id: &str, limit: i64) -> Result<Vec<(Observed, String)>>;
    /// The last event's sequence number, and a number that moves whenever anyone commits a
    /// change (SQLite's `data_version`; PostgreSQL's WAL position), for the live feed.
    fn version(&self) -> Result<(i64, i64)>;
    /// Whether the database answers (`/readyz`).
    fn ping(&self) -> Result<()>;
}
