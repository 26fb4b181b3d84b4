//! The dashboard's, `/metrics`' and the alerts' statements ([`StatsStore`], [`AlertTx`]), on
//! the ledger's database, written once for both backends.
use baton_store::sql::Row;
use baton_store::vals;

use super::{Db, TASK_COLUMNS, observed_from, task_from};
use crate::read::{AlertRow, AlertTx, Alerts, ObservedItem, StatRow, StatTable, StatsStore, TaskFilter, TaskList};
use crate::{Observed, Result, TaskRow};

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

    /// Each backend's own search (see [`super::Search`]): their indexes differ.
    fn task_list(&self, f: &TaskFilter<'_>, offset: i64, limit: i64) -> Result<TaskList> {
        self.search.task_list(self, f, offset, limit)
    }

    fn task_list_and_count(
        &self,
        f: &TaskFilter<'_>,
        offset: i64,
        limit: i64,
        count_states: &str,
    ) -> Result<(TaskList, TaskList)> {
        let counted = TaskFilter { state: Some(count_states), ..*f };
        self.search.task_list_and_count(self, f, &counted, offset, limit)
    }

    fn index_search(&self, max_rows: usize) -> Result<(usize, bool)> {
        self.search.index(self, max_rows)
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
