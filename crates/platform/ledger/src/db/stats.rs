//! The summary tables' writes ([`crate::stats`]): a pipeline group's answers added in its
//! batch's transaction, written once for both backends.
use baton_store::vals;

use super::Db;
use crate::Result;
use crate::read::StatTable;
use crate::stats::{Bucket, Hist, StatsBatch};

/// Adds the batch to the summary tables, inside the batch's transaction. Several hosts may
/// add to the same rows (PostgreSQL): a bucket row is made empty if missing, then read
/// (locked, `FOR UPDATE`, where other hosts write too), merged and written back, so
/// concurrent groups take turns on it instead of losing counts.
pub(super) fn record(db: &Db, batch: &StatsBatch) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    for (status, plugin, n) in batch.counts() {
        db.execute_later(
            "INSERT INTO stat_counts(status, plugin, n) VALUES (?1, ?2, ?3)
             ON CONFLICT(status, plugin) DO UPDATE SET n = stat_counts.n + excluded.n",
            vals![status, plugin, n as i64],
        )?;
    }
    for (event, plugin, detail, n) in batch.events() {
        db.execute_later(
            "INSERT INTO stat_events(event, plugin, detail, n) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(event, plugin, detail) DO UPDATE SET n = stat_events.n + excluded.n",
            vals![event, plugin, detail, n as i64],
        )?;
    }
    for ((minute, plugin), b) in batch.minutes() {
        if add_bucket(db, StatTable::Minutes, *minute, plugin, b)? {
            db.execute("DELETE FROM stat_minutes WHERE minute < ?1", vals![minute - crate::stats::MINUTE_RETENTION])?;
        }
    }
    for ((hour, plugin), b) in &batch.hours() {
        add_bucket(db, StatTable::Hours, *hour, plugin, b)?;
    }
    let (durations, run_sum_s) = batch.durations();
    for (bucket, n) in durations {
        db.execute_later(
            "INSERT INTO stat_duration(bucket, n) VALUES (?1, ?2)
             ON CONFLICT(bucket) DO UPDATE SET n = stat_duration.n + excluded.n",
            vals![*bucket as i64, *n as i64],
        )?;
    }
    if !durations.is_empty() {
        db.execute_later(
            "INSERT INTO stat_totals(name, value) VALUES ('run_seconds_sum', ?1)
             ON CONFLICT(name) DO UPDATE SET value = stat_totals.value + excluded.value",
            vals![run_sum_s],
        )?;
    }
    Ok(())
}

/// A summary table's three statements (make the row, read it locked, write it back), the same
/// for each table but its name and key column; `&'static str`s, so each is prepared once.
macro_rules! bucket_statements {
    ($db:expr, $table:literal, $key:literal) => {
        (
            concat!(
                "INSERT INTO ",
                $table,
                "(",
                $key,
                ", plugin, completed, failed, rejected, drop_hist, drop_sum, run_hist, run_sum)
             VALUES (?1, ?2, 0, 0, 0, '', 0, '', 0) ON CONFLICT DO NOTHING"
            ),
            $db.pick(
                concat!(
                    "SELECT completed, failed, rejected, drop_hist, drop_sum, run_hist, run_sum FROM ",
                    $table,
                    " WHERE ",
                    $key,
                    " = ?1 AND plugin = ?2"
                ),
                concat!(
                    "SELECT completed, failed, rejected, drop_hist, drop_sum, run_hist, run_sum FROM ",
                    $table,
                    " WHERE ",
                    $key,
                    " = ?1 AND plugin = ?2 FOR UPDATE"
                ),
            ),
            concat!(
                "UPDATE ",
                $table,
                " SET completed = ?3, failed = ?4, rejected = ?5, drop_hist = ?6, drop_sum = ?7,
                    run_hist = ?8, run_sum = ?9
             WHERE ",
                $key,
                " = ?1 AND plugin = ?2"
            ),
        )
    };
}

/// Adds `b` to the row (`key`, `plugin`) of `table`; true if the row is new.
fn add_bucket(db: &Db, table: StatTable, key: i64, plugin: &str, b: &Bucket) -> Result<bool> {
    let (create, read, write) = match table {
        StatTable::Minutes => bucket_statements!(db, "stat_minutes", "minute"),
        StatTable::Hours => bucket_statements!(db, "stat_hours", "hour"),
    };
    let fresh = db.execute(create, vals![key, plugin])? == 1;
    let mut merged = match db.query_opt(read, vals![key, plugin])? {
        Some(r) => Bucket {
            completed: r.int(0).max(0) as u64,
            failed: r.int(1).max(0) as u64,
            rejected: r.int(2).max(0) as u64,
            drop: Hist::decode(r.blob(3), r.real(4)),
            run: Hist::decode(r.blob(5), r.real(6)),
        },
        None => Bucket::default(),
    };
    merged.merge(b);
    let (c, f, r) = (merged.completed as i64, merged.failed as i64, merged.rejected as i64);
    db.execute(
        write,
        vals![key, plugin, c, f, r, merged.drop.encode(), merged.drop.sum, merged.run.encode(), merged.run.sum],
    )?;
    Ok(fresh)
}
