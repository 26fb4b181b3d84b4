//! The catalog's database: a typed repository over `baton_store::sql` (the one SQL layer and
//! PostgreSQL session baton has, which the ledger uses too). The catalog's statements are
//! written once, in the SQL both backends speak; what is the catalog's own lives here: opening
//! its tables, how its errors read, the per-call read cap, the savepoints of a batch, and how a
//! change gets its sequence number.
//!
//! Sequence numbers on PostgreSQL come from one counter row (`cat_counter`) updated inside the
//! writing transaction, never from a PostgreSQL SEQUENCE: a sequence hands out numbers at once
//! but transactions commit in any order, so a mirror asking "what changed since N" could read
//! N+2 before N+1 commits and never see N+1. Every catalog write transaction on PostgreSQL
//! starts by locking that row (as `BEGIN IMMEDIATE` does on SQLite), so writers from all hosts
//! take turns and the numbers commit in order, without gaps.
use std::path::Path;
use std::sync::Arc;

use baton_store::link::CallError;
use baton_store::location::PgUrl;
use baton_store::sql::{self, Admit, Bound, SqlError};

pub(crate) use baton_store::sql::{Row, Val};
pub(crate) use baton_store::vals;

use crate::error::{CatalogError, Result};

/// The statement every catalog write transaction on PostgreSQL starts with (see the module's
/// comment): writers from every host take turns on this row.
const WRITE_LOCK: &str = "SELECT seq FROM cat_counter WHERE id = 1 FOR UPDATE";

/// The catalog's database.
pub(crate) struct Db {
    sql: sql::Db,
    /// The file or the server, as errors name it.
    at: String,
}

/// The running plugin call's bounds, for a statement on the server (see `bounds`).
fn watch() -> Option<Arc<dyn Bound>> {
    crate::bounds::current().map(|b| b as Arc<dyn Bound>)
}

impl Db {
    /// The catalog in the SQLite file at `path`: WAL, its tables brought up to date
    /// (`baton_store::CATALOG`).
    pub fn sqlite(path: &Path) -> Result<Db> {
        let conn = baton_store::sqlite::open_wal(path, "NORMAL")?;
        // rusqlite keeps 16 prepared statements by default; one upsert alone cycles through
        // about as many, so a smaller cache would prepare them again record after record.
        conn.set_prepared_statement_cache_capacity(128);
        // The cache of SQLite's pages: 64 MiB rather than 2 MiB, so a sync or an import of a
        // 100,000-record collection reads its pages from disk once.
        conn.pragma_update(None, "cache_size", -65536)?;
        let at = path.display().to_string();
        baton_store::sqlite::migrate(&conn, &baton_store::CATALOG).map_err(|e| CatalogError::from_store(&at, e))?;
        // A plugin's call stops when its task ends or it does too much work (`bounds`); other
        // callers are never interrupted.
        conn.progress_handler(crate::bounds::STEPS_PER_TICK, Some(crate::bounds::tick));
        Ok(Db { sql: sql::Db::Sqlite(conn), at })
    }

    /// The catalog on the PostgreSQL server at `url`, its migrations applied.
    pub fn postgres(url: &PgUrl) -> Result<Db> {
        let at = url.shown().to_string();
        match sql::Db::postgres(url, "catalog database", Some(watch), &baton_store::CATALOG) {
            Ok(sql) => Ok(Db { sql, at }),
            Err(e) => Err(error(&at, e)),
        }
    }

    fn err(&self, e: SqlError) -> CatalogError {
        error(&self.at, e)
    }

    /// Whether the catalog is on a PostgreSQL server.
    pub fn is_pg(&self) -> bool {
        self.sql.as_pg().is_some()
    }

    /// The SQLite connection, when the catalog is in SQLite.
    pub fn as_sqlite(&self) -> Option<&rusqlite::Connection> {
        self.sql.as_sqlite()
    }

    /// `sqlite` or `pg`: a statement whose functions are named differently on each.
    pub fn pick<'a>(&self, sqlite: &'a str, pg: &'a str) -> &'a str {
        self.sql.pick(sqlite, pg)
    }

    pub fn query(&self, sql: &str, params: &[Val]) -> Result<Vec<Row>> {
        Ok(self.query_upto(sql, params, false)?.0)
    }

    /// Rows of `sql`, each charged to the running call's read cap (`bounds`) before it is
    /// built. Over the cap: an error, or with `partial` the rows read before it and `true`
    /// (an error still when not even one row fits).
    pub fn query_upto(&self, sql: &str, params: &[Val], partial: bool) -> Result<(Vec<Row>, bool)> {
        let mut taken = 0usize;
        let admit = |size: usize| -> Result<Admit> {
            if partial && taken > 0 && size > crate::bounds::remaining_read() {
                return Ok(Admit::Stop);
            }
            crate::bounds::charge_read(size)?;
            taken += 1;
            Ok(Admit::Take)
        };
        self.sql.query_sized(sql, params, admit).map_err(|e| self.err(e))?
    }

    /// The first row, if any.
    pub fn query_opt(&self, sql: &str, params: &[Val]) -> Result<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// The first row; none is an error of the database's shape.
    pub fn query_one(&self, sql: &str, params: &[Val]) -> Result<Row> {
        self.query_opt(sql, params)?.ok_or_else(|| CatalogError::Sql(rusqlite::Error::QueryReturnedNoRows))
    }

    pub fn exists(&self, sql: &str, params: &[Val]) -> Result<bool> {
        self.sql.exists(sql, params).map_err(|e| self.err(e))
    }

    pub fn execute(&self, sql: &str, params: &[Val]) -> Result<u64> {
        self.sql.execute(sql, params).map_err(|e| self.err(e))
    }

    /// Starts a write transaction that excludes every other catalog writer until it ends:
    /// `BEGIN IMMEDIATE` on SQLite; on PostgreSQL, the lock on the counter row.
    pub fn begin_write(&self) -> Result<Tx<'_>> {
        self.sql.begin_write(WRITE_LOCK).map_err(|e| self.err(e))?;
        Ok(Tx { db: self, done: false, nested: false })
    }

    /// A write of one call inside an open batch ([`Db::begin_batch`]): a savepoint, so a call
    /// that is refused undoes its own writes and the batch goes on to be refused as a whole.
    pub fn begin_nested(&self) -> Result<Tx<'_>> {
        self.raw("SAVEPOINT cat_call")?;
        Ok(Tx { db: self, done: false, nested: true })
    }

    /// Opens the write transaction of a batch of calls (`Catalog::upsert_many`), ended by
    /// [`Db::end_batch`]: the calls inside take savepoints in it.
    pub fn begin_batch(&self) -> Result<()> {
        let mut tx = self.begin_write()?;
        tx.done = true;
        Ok(())
    }

    pub fn end_batch(&self, commit: bool) -> Result<()> {
        self.end(commit)
    }

    fn raw(&self, sql: &str) -> Result<()> {
        self.sql.batch(sql).map_err(|e| self.err(e))
    }

    /// Ends a call's savepoint: kept (released into the batch) or undone.
    fn end_nested(&self, commit: bool) -> Result<()> {
        self.raw(if commit {
            "RELEASE SAVEPOINT cat_call"
        } else {
            "ROLLBACK TO SAVEPOINT cat_call; RELEASE SAVEPOINT cat_call"
        })
    }

    fn end(&self, commit: bool) -> Result<()> {
        self.sql.end(commit).map_err(|e| self.err(e))
    }

    /// Appends one change-log entry (inside a write transaction) and returns its sequence
    /// number: SQLite's rowid (its writers take turns), or the next value of PostgreSQL's counter
    /// row, taken in this same transaction.
    pub fn insert_change(
        &self,
        collection: &str,
        key: Option<&str>,
        op: &str,
        actor: &str,
        at: &str,
        detail: &str,
    ) -> Result<i64> {
        match self.sql.as_sqlite() {
            Some(c) => {
                c.prepare_cached(
                    "INSERT INTO cat_changes (collection, key, op, actor, at, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(rusqlite::params![collection, key, op, actor, at, detail])?;
                Ok(c.last_insert_rowid())
            }
            None => {
                let rows = self.query(
                    "WITH s AS (UPDATE cat_counter SET seq = seq + 1 WHERE id = 1 RETURNING seq)
                     INSERT INTO cat_changes (seq, collection, key, op, actor, at, detail)
                     SELECT s.seq, ?1, ?2, ?3, ?4, ?5, ?6 FROM s RETURNING seq",
                    vals![collection, key, op, actor, at, detail],
                )?;
                Ok(rows.first().map_or(0, |r| r.int(0)))
            }
        }
    }
}

/// A failed statement as the catalog reports it, `at` naming its file or server. A statement
/// cancelled because its plugin call had to stop answers why the call stopped.
fn error(at: &str, e: SqlError) -> CatalogError {
    match e {
        SqlError::Sqlite(e) => CatalogError::Sql(e),
        SqlError::Schema(e) => CatalogError::from_store(at, e),
        SqlError::Call(CallError::Pg(source)) => {
            if let Some(b) = crate::bounds::current().filter(|b| b.stopped().is_some()) {
                return b.error();
            }
            CatalogError::Postgres { server: at.to_string(), source }
        }
        SqlError::Call(other) => CatalogError::Unavailable { server: at.to_string(), message: other.to_string() },
    }
}

/// A write transaction; rolled back when dropped without [`Tx::commit`] (a refused batch).
pub(crate) struct Tx<'a> {
    db: &'a Db,
    done: bool,
    /// A savepoint inside a batch's transaction, not a transaction of its own.
    nested: bool,
}

impl Tx<'_> {
    fn finish(&mut self, commit: bool) -> Result<()> {
        self.done = true;
        if self.nested { self.db.end_nested(commit) } else { self.db.end(commit) }
    }

    pub fn commit(mut self) -> Result<()> {
        self.finish(true)
    }

    pub fn rollback(mut self) -> Result<()> {
        self.finish(false)
    }
}

impl std::ops::Deref for Tx<'_> {
    type Target = Db;
    fn deref(&self) -> &Db {
        self.db
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.finish(false);
        }
    }
}

/// The tests' private PostgreSQL server (tests/support/pg.rs, shared with the end-to-end tests).
#[cfg(test)]
#[path = "../../../../tests/support/pg.rs"]
mod pg;

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    use std::time::{Duration, Instant};

    use super::pg;
    use super::*;

    /// A slow statement inside a plugin's bounded call is cancelled on the server when the
    /// call must stop (here: its deadline), answers the bound's error at once, and leaves the
    /// connection usable; without the bounds it would have run its 30 s.
    #[test]
    fn a_bounded_call_cancels_its_statement_on_the_server() {
        let Some(pg) = pg::Pg::start() else { return };
        pg.create_db("bounds");
        let url = PgUrl::parse(&pg.url("bounds")).unwrap();
        let db = Db::postgres(&url).unwrap();
        let cancel = Arc::new(AtomicBool::new(false));
        let bounds =
            crate::bounds::CallBounds::new(cancel, Instant::now() + Duration::from_millis(300), u64::MAX, usize::MAX);
        let started = Instant::now();
        let e = {
            let _in = crate::bounds::enter(bounds);
            db.query("SELECT pg_sleep(30)", &[]).unwrap_err()
        };
        assert!(started.elapsed() < Duration::from_secs(5), "the statement ran {:?}", started.elapsed());
        assert!(matches!(&e, CatalogError::CallBound(m) if m.contains("time ran out")), "{e}");
        assert_eq!(db.query("SELECT 1", &[]).unwrap()[0].int(0), 1, "the session is usable afterwards");
    }
}
