//! The catalog's database: one contract ([`Db`]) with two backends, SQLite (the state file, as
//! before) and PostgreSQL (the shared ledger's server, for several machines). The catalog's
//! statements are written once, in the SQL both servers speak (`?N` placeholders, rewritten to
//! `$N` for PostgreSQL); what differs between them lives here and nowhere else: opening and the
//! schema, how a write transaction starts, how a change gets its sequence number, and the few
//! functions with different names ([`Db::pick`]).
//!
//! Sequence numbers on PostgreSQL come from one counter row (`cat_counter`) updated inside the
//! writing transaction, never from a PostgreSQL SEQUENCE: a sequence hands out numbers at once
//! but transactions commit in any order, so a mirror asking "what changed since N" could read
//! N+2 before N+1 commits and never see N+1. Every catalog write transaction on PostgreSQL
//! starts by locking that row (as `BEGIN IMMEDIATE` does on SQLite), so writers from all hosts
//! take turns and the numbers commit in order, without gaps.
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::Path;

use futures_executor::block_on;
use rusqlite::types::{ToSqlOutput, ValueRef};
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{Client, Statement};

use baton_store::link::{CallError, Link};
use baton_store::location::PgUrl;

use crate::error::{CatalogError, Result};

/// One value as it crosses into or out of either database.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

impl From<&str> for Val {
    fn from(s: &str) -> Val {
        Val::Text(s.to_string())
    }
}
impl From<&String> for Val {
    fn from(s: &String) -> Val {
        Val::Text(s.clone())
    }
}
impl From<String> for Val {
    fn from(s: String) -> Val {
        Val::Text(s)
    }
}
impl From<i64> for Val {
    fn from(i: i64) -> Val {
        Val::Int(i)
    }
}
impl From<bool> for Val {
    fn from(b: bool) -> Val {
        Val::Int(b as i64)
    }
}
impl<T: Into<Val>> From<Option<T>> for Val {
    fn from(o: Option<T>) -> Val {
        o.map_or(Val::Null, Into::into)
    }
}
impl From<&Option<String>> for Val {
    fn from(o: &Option<String>) -> Val {
        o.as_deref().into()
    }
}

/// `vals![a, b, c]`: the parameters of one statement.
macro_rules! vals {
    ($($v:expr),* $(,)?) => { &[$($crate::db::Val::from($v)),*][..] };
}
pub(crate) use vals;

/// One result row.
#[derive(Debug)]
pub(crate) struct Row(Vec<Val>);

impl Row {
    pub fn int(&self, i: usize) -> i64 {
        match self.0.get(i) {
            Some(Val::Int(n)) => *n,
            Some(Val::Real(f)) => *f as i64,
            Some(Val::Text(s)) => s.parse().unwrap_or(0),
            _ => 0,
        }
    }

    pub fn bool(&self, i: usize) -> bool {
        self.int(i) != 0
    }

    pub fn opt_text(&self, i: usize) -> Option<String> {
        match self.0.get(i) {
            Some(Val::Text(s)) => Some(s.clone()),
            Some(Val::Int(n)) => Some(n.to_string()),
            Some(Val::Real(f)) => Some(f.to_string()),
            _ => None,
        }
    }

    pub fn text(&self, i: usize) -> String {
        self.opt_text(i).unwrap_or_default()
    }

    /// The text of column `i` without copying it.
    pub fn str(&self, i: usize) -> &str {
        match self.0.get(i) {
            Some(Val::Text(s)) => s,
            _ => "",
        }
    }
}

impl rusqlite::ToSql for Val {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Val::Null => ValueRef::Null,
            Val::Int(i) => ValueRef::Integer(*i),
            Val::Real(f) => ValueRef::Real(*f),
            Val::Text(s) => ValueRef::Text(s.as_bytes()),
        }))
    }
}

type BoxErr = Box<dyn std::error::Error + Sync + Send>;

impl ToSql for Val {
    fn to_sql(&self, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, BoxErr> {
        match self {
            Val::Null => Ok(IsNull::Yes),
            Val::Int(i) => match *ty {
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                Type::FLOAT8 => (*i as f64).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR => i.to_string().to_sql(ty, out),
                _ => i.to_sql(ty, out),
            },
            Val::Real(f) => f.to_sql(ty, out),
            Val::Text(s) => s.as_str().to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn pg_row(r: &tokio_postgres::Row) -> Result<Row, tokio_postgres::Error> {
    let mut out = Vec::with_capacity(r.len());
    for (i, c) in r.columns().iter().enumerate() {
        let v = match *c.type_() {
            Type::INT8 => r.try_get::<_, Option<i64>>(i)?.map(Val::Int),
            Type::INT4 => r.try_get::<_, Option<i32>>(i)?.map(|n| Val::Int(n.into())),
            Type::INT2 => r.try_get::<_, Option<i16>>(i)?.map(|n| Val::Int(n.into())),
            Type::BOOL => r.try_get::<_, Option<bool>>(i)?.map(|b| Val::Int(b.into())),
            Type::FLOAT8 => r.try_get::<_, Option<f64>>(i)?.map(Val::Real),
            Type::FLOAT4 => r.try_get::<_, Option<f32>>(i)?.map(|f| Val::Real(f.into())),
            _ => r.try_get::<_, Option<String>>(i)?.map(Val::Text),
        };
        out.push(v.unwrap_or(Val::Null));
    }
    Ok(Row(out))
}

/// `?N` placeholders as PostgreSQL writes them (`$N`).
fn dollar(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut it = sql.chars().peekable();
    while let Some(c) = it.next() {
        if c == '?' && it.peek().is_some_and(|d| d.is_ascii_digit()) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

/// The catalog's database.
pub(crate) enum Db {
    Sqlite(rusqlite::Connection),
    Pg(Pg),
}

/// A session with the PostgreSQL server: a [`Link`], which connects, reconnects and bounds
/// every wait as the ledger's session does, and the catalog's prepared statements.
pub(crate) struct Pg {
    link: Link,
    stmts: RefCell<HashMap<String, Statement>>,
    /// Inside a transaction a lost connection is an error, never a silent reconnect.
    in_tx: Cell<bool>,
}

impl Drop for Pg {
    fn drop(&mut self) {
        // A transaction begun by `BEGIN` and not ended (a panic on the way) must not reach
        // the next holder of this session through the pool.
        if self.in_tx.get() {
            self.link.discard();
        }
    }
}

impl Pg {
    fn open(url: &PgUrl) -> Result<Pg> {
        let link = Link::new(url, "catalog database").map_err(|e| call_error(url.shown(), e))?;
        let pg = Pg { link, stmts: RefCell::default(), in_tx: Cell::new(false) };
        pg.connected()?;
        pg.migrate()?;
        Ok(pg)
    }

    fn server(&self) -> &str {
        self.link.url().shown()
    }

    fn err(&self, source: tokio_postgres::Error) -> CatalogError {
        // A statement cancelled because its call had to stop answers why the call stopped.
        if let Some(b) = crate::bounds::current().filter(|b| b.stopped().is_some()) {
            return b.error();
        }
        CatalogError::Postgres { server: self.server().to_string(), source }
    }

    fn call_err(&self, e: CallError) -> CatalogError {
        match e {
            CallError::Pg(source) => self.err(source),
            other => call_error(self.server(), other),
        }
    }

    /// Connects if there is no live connection (first use, or after a lost one).
    fn connected(&self) -> Result<()> {
        if self.in_tx.get() && !self.link.is_live() {
            return Err(CatalogError::Unavailable {
                server: self.server().to_string(),
                message: "the connection was lost inside a transaction".into(),
            });
        }
        if self.link.connect().map_err(|e| self.call_err(e))? {
            self.stmts.borrow_mut().clear();
        }
        Ok(())
    }

    fn with<R>(&self, f: impl FnOnce(&Client) -> Result<R, CallError>) -> Result<R> {
        self.connected()?;
        let guard = self.link.client();
        let Some(client) = guard.as_ref() else { unreachable!("connected() leaves a client") };
        f(client).map_err(|e| self.call_err(e))
    }

    fn stmt(&self, c: &Client, sql: &str) -> Result<Statement, CallError> {
        if let Some(s) = self.stmts.borrow().get(sql) {
            return Ok(s.clone());
        }
        let s = self.link.wait(c.prepare(&dollar(sql)))?;
        self.stmts.borrow_mut().insert(sql.to_string(), s.clone());
        Ok(s)
    }

    fn query(&self, sql: &str, params: &[Val]) -> Result<Vec<Row>> {
        let rows = self.with(|c| {
            let st = self.stmt(c, sql)?;
            let p: Vec<&(dyn ToSql + Sync)> = params.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
            self.bounded(c, c.query(&st, &p))
        })?;
        rows.iter().map(pg_row).collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    fn execute(&self, sql: &str, params: &[Val]) -> Result<u64> {
        self.with(|c| {
            let st = self.stmt(c, sql)?;
            let p: Vec<&(dyn ToSql + Sync)> = params.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
            self.bounded(c, c.execute(&st, &p))
        })
    }

    fn batch(&self, sql: &str) -> Result<()> {
        self.with(|c| self.bounded(c, c.batch_execute(sql)))
    }

    /// Waits for one statement; inside a plugin's bounded call (see `bounds`), a watch on the
    /// connection's runtime cancels it on the server the moment the call must stop (its task
    /// ended, its time ran out), so a slow statement neither outlives its task nor holds the
    /// catalog's lock. SQLite's counterpart is the progress handler. A cancelled statement
    /// answers the call's bound error.
    fn bounded<T>(
        &self,
        c: &Client,
        work: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, CallError> {
        let Some(bounds) = crate::bounds::current() else { return self.link.wait(work) };
        if bounds.stopped().is_some() {
            // Stopped already: what runs now is the clean-up (the rollback), left to finish.
            return self.link.wait(work);
        }
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (token, url, watching, b) = (c.cancel_token(), self.link.url().clone(), done.clone(), bounds.clone());
        let watch = self.link.handle().spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                if watching.load(std::sync::atomic::Ordering::Acquire) {
                    return;
                }
                if b.must_stop_now() {
                    if let Err(e) = baton_store::connect::cancel(&url, &token).await {
                        tracing::warn!(server = %url.shown(), "cancelling a catalog statement: {e}");
                    }
                    return;
                }
            }
        });
        let out = self.link.wait(work);
        done.store(true, std::sync::atomic::Ordering::Release);
        let _ = block_on(watch);
        out
    }

    /// Brings the catalog's tables up to date (`baton_store::CATALOG`, under the one migration
    /// lock), in one transaction.
    fn migrate(&self) -> Result<()> {
        self.batch("BEGIN")?;
        self.in_tx.set(true);
        let out = self.connected().and_then(|()| {
            let guard = self.link.client();
            let Some(c) = guard.as_ref() else { unreachable!("connected() leaves a client") };
            match self.link.race(baton_store::postgres::migrate(c, &baton_store::CATALOG)) {
                Ok(done) => done.map(|_| ()).map_err(|e| CatalogError::from_store(self.server(), e)),
                Err(e) => Err(self.call_err(e)),
            }
        });
        self.in_tx.set(false);
        match out {
            Ok(_) => self.batch("COMMIT"),
            Err(e) => {
                let _ = self.batch("ROLLBACK");
                Err(e)
            }
        }
    }
}

/// A failed call as the catalog reports it (the server's own errors go through [`Pg::err`]).
fn call_error(server: &str, e: CallError) -> CatalogError {
    match e {
        CallError::Pg(source) => CatalogError::Postgres { server: server.to_string(), source },
        other => CatalogError::Unavailable { server: server.to_string(), message: other.to_string() },
    }
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
        baton_store::sqlite::migrate(&conn, &baton_store::CATALOG)
            .map_err(|e| CatalogError::from_store(&path.display().to_string(), e))?;
        // A plugin's call stops when its task ends or it does too much work (`bounds`); other
        // callers are never interrupted.
        conn.progress_handler(crate::bounds::STEPS_PER_TICK, Some(crate::bounds::tick));
        Ok(Db::Sqlite(conn))
    }

    /// The catalog on the PostgreSQL server at `url`, its migrations applied.
    pub fn postgres(url: &PgUrl) -> Result<Db> {
        Ok(Db::Pg(Pg::open(url)?))
    }

    /// The SQLite connection, when the catalog is in SQLite.
    pub fn as_sqlite(&self) -> Option<&rusqlite::Connection> {
        match self {
            Db::Sqlite(c) => Some(c),
            Db::Pg(_) => None,
        }
    }

    /// `sqlite` or `pg`: a statement whose functions are named differently on each.
    pub fn pick<'a>(&self, sqlite: &'a str, pg: &'a str) -> &'a str {
        match self {
            Db::Sqlite(_) => sqlite,
            Db::Pg(_) => pg,
        }
    }

    pub fn query(&self, sql: &str, params: &[Val]) -> Result<Vec<Row>> {
        Ok(self.query_upto(sql, params, false)?.0)
    }

    /// Rows of `sql`, each charged to the running call's read cap (`bounds`) before it is
    /// built. Over the cap: an error, or with `partial` the rows read before it and `true`
    /// (an error still when not even one row fits).
    pub fn query_upto(&self, sql: &str, params: &[Val], partial: bool) -> Result<(Vec<Row>, bool)> {
        match self {
            Db::Sqlite(c) => {
                let mut st = c.prepare_cached(sql)?;
                let n = st.column_count();
                let mut q = st.query(rusqlite::params_from_iter(params))?;
                let mut out = Vec::new();
                while let Some(r) = q.next()? {
                    let mut size = 24 * n;
                    for i in 0..n {
                        if let ValueRef::Text(t) | ValueRef::Blob(t) = r.get_ref(i)? {
                            size += t.len();
                        }
                    }
                    if partial && !out.is_empty() && size > crate::bounds::remaining_read() {
                        return Ok((out, true));
                    }
                    crate::bounds::charge_read(size)?;
                    let mut row = Vec::with_capacity(n);
                    for i in 0..n {
                        row.push(match r.get_ref(i)? {
                            ValueRef::Null => Val::Null,
                            ValueRef::Integer(i) => Val::Int(i),
                            ValueRef::Real(f) => Val::Real(f),
                            ValueRef::Text(t) | ValueRef::Blob(t) => Val::Text(String::from_utf8_lossy(t).into_owned()),
                        });
                    }
                    out.push(Row(row));
                }
                Ok((out, false))
            }
            // The server sends whole results: charged once they are here.
            Db::Pg(p) => {
                let rows = p.query(sql, params)?;
                let mut out = Vec::with_capacity(rows.len());
                for row in rows {
                    let size = row.0.iter().map(|v| 24 + if let Val::Text(t) = v { t.len() } else { 0 }).sum();
                    if partial && !out.is_empty() && size > crate::bounds::remaining_read() {
                        return Ok((out, true));
                    }
                    crate::bounds::charge_read(size)?;
                    out.push(row);
                }
                Ok((out, false))
            }
        }
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
        match self {
            Db::Sqlite(c) => Ok(c.prepare_cached(sql)?.exists(rusqlite::params_from_iter(params))?),
            Db::Pg(p) => Ok(!p.query(sql, params)?.is_empty()),
        }
    }

    pub fn execute(&self, sql: &str, params: &[Val]) -> Result<u64> {
        match self {
            Db::Sqlite(c) => Ok(c.prepare_cached(sql)?.execute(rusqlite::params_from_iter(params))? as u64),
            Db::Pg(p) => p.execute(sql, params),
        }
    }

    /// Starts a write transaction that excludes every other catalog writer until it ends:
    /// `BEGIN IMMEDIATE` on SQLite; on PostgreSQL, the lock on the counter row.
    pub fn begin_write(&self) -> Result<Tx<'_>> {
        match self {
            Db::Sqlite(c) => c.execute_batch("BEGIN IMMEDIATE")?,
            Db::Pg(p) => {
                p.batch("BEGIN")?;
                p.in_tx.set(true);
                if let Err(e) = p.query("SELECT seq FROM cat_counter WHERE id = 1 FOR UPDATE", &[]) {
                    p.in_tx.set(false);
                    let _ = p.batch("ROLLBACK");
                    return Err(e);
                }
            }
        }
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
        match self {
            Db::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Db::Pg(p) => p.batch(sql),
        }
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
        let sql = if commit { "COMMIT" } else { "ROLLBACK" };
        match self {
            Db::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Db::Pg(p) => {
                p.in_tx.set(false);
                p.batch(sql)
            }
        }
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
        match self {
            Db::Sqlite(c) => {
                c.prepare_cached(
                    "INSERT INTO cat_changes (collection, key, op, actor, at, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(rusqlite::params![collection, key, op, actor, at, detail])?;
                Ok(c.last_insert_rowid())
            }
            Db::Pg(p) => {
                let rows = p.query(
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
