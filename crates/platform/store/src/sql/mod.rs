//! The one SQL layer over both backends: statements written once, in the SQL SQLite and
//! PostgreSQL both speak, with `?N` placeholders (rewritten to PostgreSQL's `$N` once, when a
//! statement is prepared), values that cross into and out of either database as one type
//! ([`Val`], [`Row`]), and the few things that differ said here and nowhere else: functions
//! named differently ([`Db::pick`]) and how a write transaction starts ([`Db::begin_write`]).
//!
//! Why here: the catalog kept its own copy of this layer and its own PostgreSQL session beside
//! the ledger's, so a change to how baton talks to a server (reconnecting, time limits,
//! statement caching) had two places to be made. The domains ([`crate::LEDGER`]'s
//! `baton-ledger`, [`crate::CATALOG`]'s `baton-catalog`) are typed repositories over this: they
//! own their statements and what their rows mean, not how a statement reaches a database.
//!
//! Errors are [`SqlError`]: the backend's own, or a failed call to the server
//! ([`crate::link::CallError`]); each domain puts its database's name in front.
use std::borrow::Cow;

use rusqlite::types::{ToSqlOutput, ValueRef};
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use crate::link::CallError;
use crate::location::PgUrl;
use crate::{Domain, StoreError};

mod pg;

pub use pg::{Bound, PgSession, Watch};

/// Why a statement failed.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// The server's error, or a call that could not reach it or got no answer.
    #[error(transparent)]
    Call(#[from] CallError),
    /// The domain's schema could not be brought up to date.
    #[error(transparent)]
    Schema(#[from] StoreError),
}

impl From<tokio_postgres::Error> for SqlError {
    fn from(e: tokio_postgres::Error) -> SqlError {
        SqlError::Call(CallError::Pg(e))
    }
}

/// One value as it crosses into or out of either database.
///
/// A parameter borrows what it is given (`&str`, `&[u8]`): the ledger's pipeline binds several
/// statements of a dozen texts per handoff, and a copy of each text per statement was most of
/// what binding cost. A value read back from a row owns its text (`Val<'static>`).
#[derive(Debug, Clone, PartialEq)]
pub enum Val<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(Cow<'a, str>),
    /// Bytes: SQLite's `BLOB`, PostgreSQL's `bytea` (the ledger's histograms).
    Blob(Cow<'a, [u8]>),
    /// A list of texts, for statements that take many keys in one parameter: PostgreSQL's
    /// `text[]` (`= ANY(?1)`, `UNNEST(?1)`); SQLite has no arrays, so there it is bound as a
    /// JSON array (`json_each(?1)`).
    Texts(Cow<'a, [String]>),
}

impl<'a> From<&'a str> for Val<'a> {
    fn from(s: &'a str) -> Val<'a> {
        Val::Text(Cow::Borrowed(s))
    }
}
impl<'a> From<&'a String> for Val<'a> {
    fn from(s: &'a String) -> Val<'a> {
        Val::Text(Cow::Borrowed(s))
    }
}
impl From<String> for Val<'_> {
    fn from(s: String) -> Self {
        Val::Text(Cow::Owned(s))
    }
}
impl<'a> From<&'a [u8]> for Val<'a> {
    fn from(b: &'a [u8]) -> Val<'a> {
        Val::Blob(Cow::Borrowed(b))
    }
}
impl From<Vec<u8>> for Val<'_> {
    fn from(b: Vec<u8>) -> Self {
        Val::Blob(Cow::Owned(b))
    }
}
impl From<Vec<String>> for Val<'_> {
    fn from(v: Vec<String>) -> Self {
        Val::Texts(Cow::Owned(v))
    }
}
impl<'a> From<&'a [String]> for Val<'a> {
    fn from(v: &'a [String]) -> Val<'a> {
        Val::Texts(Cow::Borrowed(v))
    }
}
impl From<i64> for Val<'_> {
    fn from(i: i64) -> Self {
        Val::Int(i)
    }
}
impl From<i32> for Val<'_> {
    fn from(i: i32) -> Self {
        Val::Int(i.into())
    }
}
impl From<u32> for Val<'_> {
    fn from(i: u32) -> Self {
        Val::Int(i.into())
    }
}
impl From<f64> for Val<'_> {
    fn from(f: f64) -> Self {
        Val::Real(f)
    }
}
impl From<bool> for Val<'_> {
    fn from(b: bool) -> Self {
        Val::Int(b as i64)
    }
}
impl<'a, T: Into<Val<'a>>> From<Option<T>> for Val<'a> {
    fn from(o: Option<T>) -> Val<'a> {
        o.map_or(Val::Null, Into::into)
    }
}
impl<'a> From<&'a Option<String>> for Val<'a> {
    fn from(o: &'a Option<String>) -> Val<'a> {
        o.as_deref().into()
    }
}

impl Val<'_> {
    /// What the value costs to hold, for callers that cap how much a call may read.
    fn size(&self) -> usize {
        24 + match self {
            Val::Text(t) => t.len(),
            Val::Blob(b) => b.len(),
            Val::Texts(v) => v.iter().map(|t| t.len() + 16).sum(),
            Val::Null | Val::Int(_) | Val::Real(_) => 0,
        }
    }

    /// The value owning what it borrowed: a write held for later ([`Db::execute_later`])
    /// outlives its caller's values.
    pub fn into_owned(self) -> Val<'static> {
        match self {
            Val::Null => Val::Null,
            Val::Int(i) => Val::Int(i),
            Val::Real(f) => Val::Real(f),
            Val::Text(t) => Val::Text(Cow::Owned(t.into_owned())),
            Val::Blob(b) => Val::Blob(Cow::Owned(b.into_owned())),
            Val::Texts(v) => Val::Texts(Cow::Owned(v.into_owned())),
        }
    }
}

/// Texts as a JSON array (a [`Val::Texts`] on SQLite).
fn json_list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

/// `vals![a, b, c]`: the parameters of one statement.
#[macro_export]
macro_rules! vals {
    ($($v:expr),* $(,)?) => { &[$($crate::sql::Val::from($v)),*][..] };
}

/// One result row.
#[derive(Debug)]
pub struct Row(Vec<Val<'static>>);

impl Row {
    /// Column `i` as an integer: a real is truncated, a text parsed, anything else 0.
    pub fn int(&self, i: usize) -> i64 {
        match self.0.get(i) {
            Some(Val::Int(n)) => *n,
            Some(Val::Real(f)) => *f as i64,
            Some(Val::Text(s)) => s.parse().unwrap_or(0),
            _ => 0,
        }
    }

    /// Column `i` as an integer, `None` when it is NULL.
    pub fn opt_int(&self, i: usize) -> Option<i64> {
        match self.0.get(i) {
            None | Some(Val::Null) => None,
            _ => Some(self.int(i)),
        }
    }

    pub fn bool(&self, i: usize) -> bool {
        self.int(i) != 0
    }

    /// Column `i` as a real: an integer widened, a text parsed, anything else 0.
    pub fn real(&self, i: usize) -> f64 {
        self.opt_real(i).unwrap_or(0.0)
    }

    /// Column `i` as a real, `None` when it is NULL.
    pub fn opt_real(&self, i: usize) -> Option<f64> {
        match self.0.get(i) {
            Some(Val::Real(f)) => Some(*f),
            Some(Val::Int(n)) => Some(*n as f64),
            Some(Val::Text(s)) => Some(s.parse().unwrap_or(0.0)),
            _ => None,
        }
    }

    /// The bytes of column `i` without copying them (a text's bytes too: SQLite stores an empty
    /// `''` in a BLOB column as a text).
    pub fn blob(&self, i: usize) -> &[u8] {
        match self.0.get(i) {
            Some(Val::Blob(b)) => b,
            Some(Val::Text(s)) => s.as_bytes(),
            _ => &[],
        }
    }

    /// Column `i`'s text moved out of the row (the row keeps NULL there): a row read into a
    /// struct of strings costs no second copy of each.
    pub fn take_opt_text(&mut self, i: usize) -> Option<String> {
        match self.0.get_mut(i) {
            Some(v @ Val::Text(_)) => match std::mem::replace(v, Val::Null) {
                Val::Text(s) => Some(s.into_owned()),
                _ => None,
            },
            _ => self.opt_text(i),
        }
    }

    /// [`Row::take_opt_text`], NULL read as an empty text.
    pub fn take_text(&mut self, i: usize) -> String {
        self.take_opt_text(i).unwrap_or_default()
    }

    pub fn opt_text(&self, i: usize) -> Option<String> {
        match self.0.get(i) {
            Some(Val::Text(s)) => Some(s.to_string()),
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

    /// A row the server sent, each column by its type.
    fn from_pg(r: &tokio_postgres::Row) -> Result<Row, tokio_postgres::Error> {
        let mut out = Vec::with_capacity(r.len());
        for (i, c) in r.columns().iter().enumerate() {
            let v = match *c.type_() {
                Type::INT8 => r.try_get::<_, Option<i64>>(i)?.map(Val::Int),
                Type::INT4 => r.try_get::<_, Option<i32>>(i)?.map(|n| Val::Int(n.into())),
                Type::INT2 => r.try_get::<_, Option<i16>>(i)?.map(|n| Val::Int(n.into())),
                Type::BOOL => r.try_get::<_, Option<bool>>(i)?.map(|b| Val::Int(b.into())),
                Type::FLOAT8 => r.try_get::<_, Option<f64>>(i)?.map(Val::Real),
                Type::FLOAT4 => r.try_get::<_, Option<f32>>(i)?.map(|f| Val::Real(f.into())),
                Type::BYTEA => r.try_get::<_, Option<Vec<u8>>>(i)?.map(Val::from),
                // A function that returns nothing (`pg_advisory_xact_lock`).
                Type::VOID => None,
                _ => r.try_get::<_, Option<String>>(i)?.map(Val::from),
            };
            out.push(v.unwrap_or(Val::Null));
        }
        Ok(Row(out))
    }
}

impl rusqlite::ToSql for Val<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Val::Null => ValueRef::Null,
            Val::Int(i) => ValueRef::Integer(*i),
            Val::Real(f) => ValueRef::Real(*f),
            Val::Text(s) => ValueRef::Text(s.as_bytes()),
            Val::Blob(b) => ValueRef::Blob(b),
            Val::Texts(v) => return Ok(ToSqlOutput::from(json_list(v))),
        }))
    }
}

type BoxErr = Box<dyn std::error::Error + Sync + Send>;

/// A value as the server's column wants it: SQLite's columns are loosely typed, so an integer
/// may go to a `smallint`, a `boolean`, a `double precision` or a `text` column.
impl ToSql for Val<'_> {
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
            Val::Text(s) => s.as_ref().to_sql(ty, out),
            Val::Blob(b) => b.as_ref().to_sql(ty, out),
            Val::Texts(v) => v.as_ref().to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// `?N` placeholders as PostgreSQL writes them (`$N`); a statement written with `$N` already
/// is left as it is.
pub fn dollar(sql: &str) -> String {
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

/// Whether a read goes on: [`Db::query_sized`] asks before it builds each row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Build the row and go on.
    Take,
    /// Stop here: the rows so far are the answer, marked partial.
    Stop,
}

/// A domain's database: a SQLite connection, or a session with a PostgreSQL server.
pub enum Db {
    Sqlite(rusqlite::Connection),
    Pg(PgSession),
}

impl Db {
    /// `domain` on the server at `url`, its tables brought up to date; `what` names the session
    /// in log lines, `watch` is how a running statement learns it must stop (see [`Watch`]).
    pub fn postgres(url: &PgUrl, what: &'static str, watch: Option<Watch>, domain: &Domain) -> Result<Db, SqlError> {
        let pg = PgSession::open(url, what, watch)?;
        pg.migrate(domain)?;
        Ok(Db::Pg(pg))
    }

    /// The SQLite connection, when the database is SQLite.
    pub fn as_sqlite(&self) -> Option<&rusqlite::Connection> {
        match self {
            Db::Sqlite(c) => Some(c),
            Db::Pg(_) => None,
        }
    }

    /// The server's session, when the database is PostgreSQL.
    pub fn as_pg(&self) -> Option<&PgSession> {
        match self {
            Db::Sqlite(_) => None,
            Db::Pg(p) => Some(p),
        }
    }

    /// `sqlite` or `pg`: a statement whose functions are named differently on each.
    pub fn pick<'a>(&self, sqlite: &'a str, pg: &'a str) -> &'a str {
        match self {
            Db::Sqlite(_) => sqlite,
            Db::Pg(_) => pg,
        }
    }

    pub fn query(&self, sql: &str, params: &[Val<'_>]) -> Result<Vec<Row>, SqlError> {
        match self {
            Db::Sqlite(_) => Ok(self.query_sized(sql, params, |_| Ok::<_, SqlError>(Admit::Take))??.0),
            Db::Pg(p) => p.query(sql, params),
        }
    }

    /// Rows of `sql`, each weighed before it is built: `admit` hears its size in bytes and
    /// says whether to take it, stop (the rows so far, and `true`), or fail with its own error.
    /// Callers that cap a call's reads weigh rows so; SQLite weighs a row before reading it out,
    /// PostgreSQL sends whole results, so there a row is weighed once it is here.
    pub fn query_sized<E>(
        &self,
        sql: &str,
        params: &[Val<'_>],
        mut admit: impl FnMut(usize) -> Result<Admit, E>,
    ) -> Result<Result<(Vec<Row>, bool), E>, SqlError> {
        let mut out = Vec::new();
        match self {
            Db::Sqlite(c) => {
                let mut st = c.prepare_cached(sql)?;
                let n = st.column_count();
                let mut q = st.query(rusqlite::params_from_iter(params))?;
                while let Some(r) = q.next()? {
                    let mut size = 24 * n;
                    for i in 0..n {
                        if let ValueRef::Text(t) | ValueRef::Blob(t) = r.get_ref(i)? {
                            size += t.len();
                        }
                    }
                    match admit(size) {
                        Ok(Admit::Take) => {}
                        Ok(Admit::Stop) => return Ok(Ok((out, true))),
                        Err(e) => return Ok(Err(e)),
                    }
                    let mut row = Vec::with_capacity(n);
                    for i in 0..n {
                        row.push(match r.get_ref(i)? {
                            ValueRef::Null => Val::Null,
                            ValueRef::Integer(i) => Val::Int(i),
                            ValueRef::Real(f) => Val::Real(f),
                            ValueRef::Text(t) => Val::from(String::from_utf8_lossy(t).into_owned()),
                            ValueRef::Blob(b) => Val::from(b.to_vec()),
                        });
                    }
                    out.push(Row(row));
                }
            }
            Db::Pg(p) => {
                for row in p.query(sql, params)? {
                    match admit(row.0.iter().map(Val::size).sum()) {
                        Ok(Admit::Take) => out.push(row),
                        Ok(Admit::Stop) => return Ok(Ok((out, true))),
                        Err(e) => return Ok(Err(e)),
                    }
                }
            }
        }
        Ok(Ok((out, false)))
    }

    /// Whether `sql` returns a row.
    pub fn exists(&self, sql: &str, params: &[Val<'_>]) -> Result<bool, SqlError> {
        match self {
            Db::Sqlite(c) => Ok(c.prepare_cached(sql)?.exists(rusqlite::params_from_iter(params))?),
            Db::Pg(p) => Ok(!p.query(sql, params)?.is_empty()),
        }
    }

    /// Runs one statement; how many rows it changed.
    pub fn execute(&self, sql: &str, params: &[Val<'_>]) -> Result<u64, SqlError> {
        match self {
            Db::Sqlite(c) => Ok(c.prepare_cached(sql)?.execute(rusqlite::params_from_iter(params))? as u64),
            Db::Pg(p) => p.execute(sql, params),
        }
    }

    /// Runs statements without parameters (savepoints, `COMMIT`).
    pub fn batch(&self, sql: &str) -> Result<(), SqlError> {
        match self {
            Db::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Db::Pg(p) => p.batch(sql),
        }
    }

    /// Runs one statement whose answer nobody reads. On PostgreSQL inside a transaction it is
    /// held and sent with the next statement that reads or the commit, pipelined with the
    /// others held (one round trip for a batch's writes, not one each; see
    /// [`PgSession::execute_later`]); its error then fails that statement or the commit. On
    /// SQLite, and outside a transaction, it runs now.
    pub fn execute_later(&self, sql: &str, params: &[Val<'_>]) -> Result<(), SqlError> {
        match self {
            Db::Sqlite(c) => {
                c.prepare_cached(sql)?.execute(rusqlite::params_from_iter(params))?;
                Ok(())
            }
            Db::Pg(p) => p.execute_later(sql, params),
        }
    }

    /// Starts a write transaction that excludes every other writer of the domain until it
    /// ends: `BEGIN IMMEDIATE` on SQLite (one writer per file); on PostgreSQL, `BEGIN` and then
    /// `pg_lock`, a statement that locks what the domain's writers all lock (a counter row), so
    /// writers from every host take turns. Ended by [`Db::end`].
    pub fn begin_write(&self, pg_lock: &str) -> Result<(), SqlError> {
        match self {
            Db::Sqlite(c) => Ok(c.execute_batch("BEGIN IMMEDIATE")?),
            Db::Pg(p) => p.begin(Some(pg_lock)),
        }
    }

    /// Starts a write transaction without a lock of the domain's on PostgreSQL (whose rows lock
    /// themselves as they are written; a caller that needs more takes it as its first
    /// statement): `BEGIN IMMEDIATE` on SQLite, `BEGIN` on PostgreSQL. Ended by [`Db::end`].
    pub fn begin(&self) -> Result<(), SqlError> {
        match self {
            Db::Sqlite(c) => Ok(c.execute_batch("BEGIN IMMEDIATE")?),
            Db::Pg(p) => p.begin(None),
        }
    }

    /// Ends the transaction [`Db::begin_write`] or [`Db::begin`] started: committed, or rolled
    /// back. A commit that fails is rolled back.
    pub fn end(&self, commit: bool) -> Result<(), SqlError> {
        match self {
            Db::Sqlite(c) => {
                let done = c.execute_batch(if commit { "COMMIT" } else { "ROLLBACK" });
                if done.is_err() && !c.is_autocommit() {
                    let _ = c.execute_batch("ROLLBACK");
                }
                Ok(done?)
            }
            Db::Pg(p) => p.end(commit),
        }
    }

    /// `f` in one write transaction ([`Db::begin`]): committed if it returns `Ok`, else rolled
    /// back with its error returned. Rolled back too when `f` panics, so a connection shared
    /// through a mutex is never left inside a transaction.
    pub fn transaction<R, E: From<SqlError>>(&self, f: impl FnOnce(&Db) -> Result<R, E>) -> Result<R, E> {
        self.begin()?;
        let open = Open(self);
        let out = f(self);
        std::mem::forget(open);
        match out {
            Ok(r) => {
                self.end(true)?;
                Ok(r)
            }
            Err(e) => {
                let _ = self.end(false);
                Err(e)
            }
        }
    }
}

/// A transaction of [`Db::transaction`] while its closure runs: rolled back if it unwinds.
struct Open<'a>(&'a Db);

impl Drop for Open<'_> {
    fn drop(&mut self) {
        let _ = self.0.end(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_rewritten_once_and_only_placeholders() {
        assert_eq!(
            dollar("SELECT ?1, ?12 FROM t WHERE a = '?' AND b = ?2"),
            "SELECT $1, $12 FROM t WHERE a = '?' AND b = $2"
        );
        assert_eq!(dollar("SELECT $1"), "SELECT $1");
    }

    /// The same statement, values and reads on a real SQLite file; the weighing stops a read
    /// where its caller says, with the rows before.
    #[test]
    fn a_sqlite_database_reads_and_weighs_rows() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::sqlite::open_wal(&dir.path().join("s.sqlite"), "NORMAL").unwrap();
        let db = Db::Sqlite(conn);
        db.batch("CREATE TABLE t(k TEXT PRIMARY KEY, n INTEGER, f REAL)").unwrap();
        db.begin_write("unused on SQLite").unwrap();
        for (k, n) in [("a", 1), ("b", 2), ("c", 3)] {
            assert_eq!(db.execute("INSERT INTO t VALUES (?1, ?2, ?3)", vals![k, n as i64, None::<String>]).unwrap(), 1);
        }
        db.end(true).unwrap();
        let rows = db.query("SELECT k, n, f FROM t ORDER BY k", &[]).unwrap();
        assert_eq!((rows[2].text(0), rows[2].int(1), rows[2].opt_text(2)), ("c".into(), 3, None));
        assert!(db.exists("SELECT 1 FROM t WHERE k = ?1", vals!["b"]).unwrap());
        let mut seen = 0;
        let (some, partial) = db
            .query_sized("SELECT k FROM t ORDER BY k", &[], |size| {
                assert_eq!(size, 24 + 1, "one text column of one byte");
                seen += 1;
                Ok::<_, ()>(if seen > 2 { Admit::Stop } else { Admit::Take })
            })
            .unwrap()
            .unwrap();
        assert_eq!((some.len(), partial), (2, true));
        assert_eq!(db.pick("length(?1)", "char_length(?1)"), "length(?1)");
    }
}
