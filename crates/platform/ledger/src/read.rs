//! The dashboard's and the alerts' side of the ledger: reads of the summary tables
//! ([`crate::stats`]), the `alerts` table, and the pages of tasks and handoffs the dashboard
//! lists. One contract ([`StatsStore`], with [`AlertTx`] for the alerts' evaluation
//! transaction), implemented here once for both backends on the ledger's [`Db`] (the task
//! list's search aside: each backend's index is its own, `sqlite.rs` and `postgres.rs`), so
//! `baton-stats` and `baton-dashboard` hold no SQL of their own and work the same on
//! `--state postgres://…` as on the SQLite file.
//!
//! The rules (windows, percentiles, alert identity and firings) stay in `baton-stats`: this
//! contract only moves rows.
use baton_store::sql::Row;
use baton_store::vals;

use crate::db::{Db, TASK_COLUMNS, observed_from, task_from};
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

/// The advisory lock key under which an alert evaluation runs on PostgreSQL: hosts evaluate in
/// turns, so one condition is one row and one firing, whichever host sees it first.
const ALERTS_LOCK: i64 = 0x6261_746f_6e00_0a01;

const ALERT_COLUMNS: &str =
    "id, rule, labels, summary, state, firing, started_at, last_seen_at, resolved_at, acked_at, notified";

fn alert_from(mut r: Row) -> AlertRow {
    AlertRow {
        id: r.take_text(0),
        rule: r.take_text(1),
        labels: r.take_text(2),
        summary: r.take_text(3),
        state: r.take_text(4),
        firing: r.int(5).max(0) as u64,
        started_at: r.take_text(6),
        last_seen_at: r.take_text(7),
        resolved_at: r.take_opt_text(8),
        acked_at: r.take_opt_text(9),
        notified: r.take_opt_text(10),
    }
}

/// The alerts' evaluation transaction: the ledger's connection inside it.
impl AlertTx for Db {
    fn state(&self, id: &str) -> Result<Option<String>> {
        Ok(self.query_opt("SELECT state FROM alerts WHERE id = ?1", vals![id])?.map(|mut r| r.take_text(0)))
    }

    fn insert(&self, id: &str, rule: &str, labels: &str, summary: &str, now: &str) -> Result<()> {
        self.execute(
            "INSERT INTO alerts(id, rule, labels, summary, state, firing, started_at, last_seen_at)
             VALUES (?1, ?2, ?3, ?4, 'firing', 1, ?5, ?5)",
            vals![id, rule, labels, summary, now],
        )?;
        Ok(())
    }

    fn seen(&self, id: &str, now: &str, summary: &str) -> Result<()> {
        self.execute("UPDATE alerts SET last_seen_at = ?2, summary = ?3 WHERE id = ?1", vals![id, now, summary])?;
        Ok(())
    }

    fn refire(&self, id: &str, now: &str, summary: &str) -> Result<()> {
        self.execute(
            "UPDATE alerts SET state = 'firing', firing = firing + 1, started_at = ?2, last_seen_at = ?2,
                    resolved_at = NULL, acked_at = NULL, notified = NULL, summary = ?3
             WHERE id = ?1",
            vals![id, now, summary],
        )?;
        Ok(())
    }

    fn firing(&self) -> Result<Vec<String>> {
        let rows = self.query("SELECT id FROM alerts WHERE state = 'firing'", &[])?;
        Ok(rows.into_iter().map(|mut r| r.take_text(0)).collect())
    }

    fn resolve(&self, id: &str, now: &str) -> Result<()> {
        self.execute("UPDATE alerts SET state = 'resolved', resolved_at = ?2 WHERE id = ?1", vals![id, now])?;
        Ok(())
    }

    fn prune(&self, before: &str) -> Result<()> {
        self.execute("DELETE FROM alerts WHERE state = 'resolved' AND resolved_at < ?1", vals![before])?;
        Ok(())
    }

    fn unnotified(&self) -> Result<Vec<AlertRow>> {
        let c = self.bytewise();
        let sql = format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE state = 'firing' AND notified_firing < firing
             ORDER BY started_at{c}, id{c}"
        );
        Ok(self.query(&sql, &[])?.into_iter().map(alert_from).collect())
    }

    fn is_observed(&self, agent: &str, file_name: &str) -> Result<bool> {
        self.exists("SELECT 1 FROM observed WHERE agent = ?1 AND file_name = ?2", vals![agent, file_name])
    }

    fn notified(&self, id: &str, firing: u64, path: &str) -> Result<()> {
        self.execute(
            "UPDATE alerts SET notified_firing = ?2, notified = ?3 WHERE id = ?1 AND firing = ?2",
            vals![id, firing as i64, path],
        )?;
        Ok(())
    }
}

/// The filters of the dashboard's lists: `?1` an agent, `?2` a LIKE pattern (escape `\`).
const AGENT_OR_LIKE: &str = "(CAST(?1 AS TEXT) IS NULL OR sender = ?1 OR reply_to = ?1)
    AND (CAST(?2 AS TEXT) IS NULL OR id LIKE ?2 ESCAPE '\\' OR title LIKE ?2 ESCAPE '\\'
         OR sender LIKE ?2 ESCAPE '\\' OR reply_to LIKE ?2 ESCAPE '\\')";

impl Db {
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

impl StatsStore for Db {
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
        for r in &self.query(sql, vals![lo, hi])? {
            visit(StatRow {
                plugin: r.str(7),
                completed: r.int(0),
                failed: r.int(1),
                rejected: r.int(2),
                drop_hist: r.blob(3),
                drop_sum: r.real(4),
                run_hist: r.blob(5),
                run_sum: r.real(6),
            });
        }
        Ok(())
    }

    fn stat_counts(&self) -> Result<Vec<(String, String, i64)>> {
        let rows = self.query("SELECT status, plugin, n FROM stat_counts", &[])?;
        Ok(rows.into_iter().map(|mut r| (r.take_text(0), r.take_text(1), r.int(2))).collect())
    }

    fn stat_events(&self) -> Result<Vec<(String, String, String, i64)>> {
        let rows = self.query("SELECT event, plugin, detail, n FROM stat_events", &[])?;
        Ok(rows.into_iter().map(|mut r| (r.take_text(0), r.take_text(1), r.take_text(2), r.int(3))).collect())
    }

    fn stat_durations(&self) -> Result<Vec<(i64, i64)>> {
        let rows = self.query("SELECT bucket, n FROM stat_duration", &[])?;
        Ok(rows.iter().map(|r| (r.int(0), r.int(1))).collect())
    }

    fn stat_total(&self, name: &str) -> Result<f64> {
        Ok(self.query_opt("SELECT value FROM stat_totals WHERE name = ?1", vals![name])?.map_or(0.0, |r| r.real(0)))
    }

    fn health_all(&self) -> Result<Vec<(String, String)>> {
        let rows = self.query("SELECT plugin, health FROM plugin_health", &[])?;
        Ok(rows.into_iter().map(|mut r| (r.take_text(0), r.take_text(1))).collect())
    }

    fn unanswered(&self, seen_before: &str, skip_prefix: &str, limit: i64) -> Result<Vec<(String, String, String)>> {
        let rows = self.query(
            "SELECT agent, id, title FROM observed o
             WHERE kind = 'task' AND seen_at < ?1 AND id NOT LIKE ?2
               AND NOT EXISTS (SELECT 1 FROM observed r WHERE r.kind = 'return' AND r.in_reply_to = o.id)
             ORDER BY seen_at LIMIT ?3",
            vals![seen_before, format!("{skip_prefix}%"), limit],
        )?;
        Ok(rows.into_iter().map(|mut r| (r.take_text(0), r.take_text(1), r.take_text(2))).collect())
    }

    fn alerts(&self, which: Alerts<'_>) -> Result<Vec<AlertRow>> {
        let rows = match which {
            Alerts::All => {
                let c = self.bytewise();
                let sql = format!(
                    "SELECT {ALERT_COLUMNS} FROM alerts ORDER BY state = 'resolved', started_at{c} DESC, id{c}"
                );
                self.query(&sql, &[])?
            }
            Alerts::Id(id) => self.query(&format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = ?1"), vals![id])?,
        };
        Ok(rows.into_iter().map(alert_from).collect())
    }

    fn alerts_update(&mut self, f: &mut dyn FnMut(&dyn AlertTx) -> Result<()>) -> Result<()> {
        self.transaction(|db| {
            db.take_turns("SELECT pg_advisory_xact_lock(?1)", vals![ALERTS_LOCK])?;
            f(db)
        })
    }

    fn alert_ack(&self, id: &str, at: &str) -> Result<bool> {
        Ok(self.execute("UPDATE alerts SET acked_at = COALESCE(acked_at, ?2) WHERE id = ?1", vals![id, at])? > 0)
    }

    fn task_page(&self, agent: Option<&str>, like: Option<&str>, limit: i64) -> Result<Vec<TaskRow>> {
        let order = self.newest_first();
        let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE {AGENT_OR_LIKE} {order} LIMIT ?3");
        Ok(self.query(&sql, vals![agent, like, limit])?.into_iter().map(task_from).collect())
    }

    /// Each backend's own search (`sqlite.rs`, `postgres.rs`): their indexes differ.
    fn task_list(&self, f: &TaskFilter<'_>, offset: i64, limit: i64) -> Result<TaskList> {
        match self.is_pg() {
            false => crate::sqlite::task_list(self, f, offset, limit),
            true => crate::postgres::task_list(self, f, offset, limit),
        }
    }

    fn task_list_and_count(
        &self,
        f: &TaskFilter<'_>,
        offset: i64,
        limit: i64,
        count_states: &str,
    ) -> Result<(TaskList, TaskList)> {
        let counted = TaskFilter { state: Some(count_states), ..*f };
        match self.is_pg() {
            false => Ok((self.task_list(f, offset, limit)?, self.task_list(&counted, 0, 0)?)),
            true => crate::postgres::task_list_and_count(self, f, &counted, offset, limit),
        }
    }

    fn index_search(&self, max_rows: usize) -> Result<(usize, bool)> {
        match self.is_pg() {
            false => crate::sqlite::index_step(self, max_rows),
            // PostgreSQL indexes as it writes.
            true => Ok((0, false)),
        }
    }

    fn task_facets(&self) -> Result<Vec<(String, Option<String>, Option<String>, u64)>> {
        let rows = self
            .query("SELECT state, plugin, error_code, COUNT(*) FROM tasks GROUP BY state, plugin, error_code", &[])?;
        Ok(rows
            .into_iter()
            .map(|mut r| (r.take_text(0), r.take_opt_text(1), r.take_opt_text(2), r.int(3).max(0) as u64))
            .collect())
    }

    /// Newest first: SQLite's insertion order (the rowid); PostgreSQL keeps none, so there by
    /// the time they were seen.
    fn observed_page(&self, agent: Option<&str>, like: Option<&str>, limit: i64) -> Result<Vec<ObservedItem>> {
        let order =
            self.pick("o.rowid DESC", "o.seen_at COLLATE \"C\" DESC, o.agent COLLATE \"C\", o.file_name COLLATE \"C\"");
        let sql = format!(
            "SELECT o.agent, o.file_name, o.kind, o.id, o.in_reply_to, o.sender, o.recipient, o.title, o.created_at, o.seen_at,
                    EXISTS (SELECT 1 FROM observed r WHERE r.kind = 'return' AND r.in_reply_to = o.id)
             FROM observed o WHERE o.kind = 'task'
               AND (CAST(?1 AS TEXT) IS NULL OR o.sender = ?1 OR o.recipient = ?1 OR o.agent = ?1)
               AND (CAST(?2 AS TEXT) IS NULL OR o.id LIKE ?2 ESCAPE '\\' OR o.title LIKE ?2 ESCAPE '\\'
                    OR o.sender LIKE ?2 ESCAPE '\\' OR o.agent LIKE ?2 ESCAPE '\\')
             ORDER BY {order} LIMIT ?3"
        );
        let rows = self.query(&sql, vals![agent, like, limit])?;
        Ok(rows
            .into_iter()
            .map(|mut r| ObservedItem {
                observed: observed_from(&mut r),
                seen_at: r.take_text(9),
                answered: r.bool(10),
            })
            .collect())
    }

    /// First seen first: SQLite's insertion order, PostgreSQL's time seen (see `observed_page`).
    fn observed_of(&self, id: &str, limit: i64) -> Result<Vec<(Observed, String)>> {
        let order = self.pick("rowid", "seen_at COLLATE \"C\", agent COLLATE \"C\", file_name COLLATE \"C\"");
        let sql = format!(
            "SELECT agent, file_name, kind, id, in_reply_to, sender, recipient, title, created_at, seen_at
             FROM observed WHERE id = ?1 OR in_reply_to = ?1 ORDER BY {order} LIMIT ?2"
        );
        let rows = self.query(&sql, vals![id, limit])?;
        Ok(rows.into_iter().map(|mut r| (observed_from(&mut r), r.take_text(9))).collect())
    }

    /// A number that moves with every commit: SQLite's `data_version`, PostgreSQL's WAL
    /// position.
    fn version(&self) -> Result<(i64, i64)> {
        let moved = self.pick(
            "(SELECT data_version FROM pragma_data_version())",
            "(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END
              - '0/0'::pg_lsn)::bigint",
        );
        let sql = format!("SELECT (SELECT COALESCE(MAX(seq), 0) FROM events), {moved}");
        Ok(self.query_opt(&sql, &[])?.map_or((0, 0), |r| (r.int(0), r.int(1))))
    }

    /// SQLite reads the file's schema; PostgreSQL answers a simple query.
    fn ping(&self) -> Result<()> {
        match self.is_pg() {
            false => self.query("SELECT COUNT(*) FROM sqlite_master", &[]).map(drop),
            true => self.sql.batch("SELECT 1").map_err(|e| self.err(e)),
        }
    }
}
