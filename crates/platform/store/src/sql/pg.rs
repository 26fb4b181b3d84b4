//! One session with a PostgreSQL server for a synchronous caller of [`super::Db`]: a
//! [`Link`] (which connects, reconnects and bounds every wait as the store's policy says), the
//! statements prepared on it, and the one way a write transaction begins and ends on it.
//!
//! Inside a transaction, writes whose answer nobody reads may be held and sent together,
//! pipelined ([`PgSession::execute_later`]): the ledger's pipeline batches cost one round trip
//! for their writes, not one per statement.
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, GenericClient, Statement};

use super::{Row, SqlError, Val, dollar};
use crate::Domain;
use crate::link::{CallError, Link};
use crate::location::PgUrl;

/// A running call's limits, as a statement on the server sees them: a watch on the pool's
/// runtime asks [`Bound::must_stop_now`] while the statement runs and cancels it on the server
/// the moment the answer is yes (the call's task ended, its time ran out), so a slow statement
/// neither outlives its call nor holds a lock. SQLite's counterpart is its progress handler.
pub trait Bound: Send + Sync {
    /// Whether the call was stopped already: what runs now is its clean-up (a rollback), left
    /// to finish.
    fn stopped(&self) -> bool;
    /// Whether the call must stop now (from the watch's thread).
    fn must_stop_now(&self) -> bool;
}

/// The bounds of the call running on this thread, if any (the catalog's plugin calls have them).
pub type Watch = fn() -> Option<Arc<dyn Bound>>;

/// How often the watch looks at a running statement's bounds.
const WATCH_EVERY: Duration = Duration::from_millis(10);

/// A session with one server: see the module's comment.
pub struct PgSession {
    link: Link,
    /// Prepared statements by their text as written (`?N` or `$N`).
    stmts: RefCell<HashMap<String, Statement>>,
    /// Inside a transaction begun by [`PgSession::begin`]: a lost connection is then an error,
    /// never a silent reconnect.
    in_tx: Cell<bool>,
    /// The writes held by [`PgSession::execute_later`], in the order they were made.
    later: RefCell<Vec<(Statement, Vec<Val<'static>>)>>,
    watch: Option<Watch>,
}

/// Held writes are sent at most this many at a time (bounds the memory a huge batch holds).
const LATER_MAX: usize = 1024;

impl Drop for PgSession {
    fn drop(&mut self) {
        // A transaction begun by `BEGIN` and not ended (a panic on the way) must not reach
        // the next holder of this session through the pool.
        if self.in_tx.get() {
            self.link.discard();
        }
    }
}

impl PgSession {
    /// A connected session with `url`; `what` names it in log lines ("catalog database").
    pub fn open(url: &PgUrl, what: &'static str, watch: Option<Watch>) -> Result<PgSession, CallError> {
        let pg = PgSession {
            link: Link::new(url, what)?,
            stmts: RefCell::default(),
            in_tx: Cell::new(false),
            later: RefCell::default(),
            watch,
        };
        pg.connected()?;
        Ok(pg)
    }

    pub fn link(&self) -> &Link {
        &self.link
    }

    /// The server, with any password hidden.
    pub fn server(&self) -> &str {
        self.link.url().shown()
    }

    /// Connects if there is no live connection (first use, or after a lost one); the
    /// statements prepared on a lost connection are forgotten with it.
    pub fn connected(&self) -> Result<(), CallError> {
        if self.in_tx.get() && !self.link.is_live() {
            return Err(CallError::Unavailable("the connection was lost inside a transaction".into()));
        }
        if self.link.connect()? {
            self.stmts.borrow_mut().clear();
        }
        Ok(())
    }

    /// `sql` prepared on this session (`?N` placeholders rewritten), once per connection.
    /// `c` is the session's client or a transaction on it.
    pub fn prepare<C: GenericClient + Sync>(&self, c: &C, sql: &str) -> Result<Statement, CallError> {
        if let Some(s) = self.stmts.borrow().get(sql) {
            return Ok(s.clone());
        }
        let s = self.link.wait(c.prepare(&dollar(sql)))?;
        self.stmts.borrow_mut().insert(sql.to_string(), s.clone());
        Ok(s)
    }

    fn with<R>(&self, f: impl FnOnce(&Client) -> Result<R, CallError>) -> Result<R, CallError> {
        self.connected()?;
        let guard = self.link.client();
        let Some(client) = guard.as_ref() else { unreachable!("connected() leaves a client") };
        f(client)
    }

    pub fn query(&self, sql: &str, params: &[Val<'_>]) -> Result<Vec<Row>, SqlError> {
        self.flush()?;
        let rows = self.with(|c| {
            let st = self.prepare(c, sql)?;
            let p: Vec<&(dyn ToSql + Sync)> = params.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
            self.bounded(c, c.query(&st, &p))
        })?;
        Ok(rows.iter().map(Row::from_pg).collect::<Result<_, _>>()?)
    }

    pub fn execute(&self, sql: &str, params: &[Val<'_>]) -> Result<u64, SqlError> {
        self.flush()?;
        Ok(self.with(|c| {
            let st = self.prepare(c, sql)?;
            let p: Vec<&(dyn ToSql + Sync)> = params.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
            self.bounded(c, c.execute(&st, &p))
        })?)
    }

    /// A write whose answer nobody reads: inside a transaction, held (its values copied) and
    /// sent with the others at the next statement or the commit, pipelined ([`Self::flush`]);
    /// outside one, run now. Each round trip waits for the server, and a pipeline batch's
    /// writes are most of a handoff's cost there.
    pub fn execute_later(&self, sql: &str, params: &[Val<'_>]) -> Result<(), SqlError> {
        if !self.in_tx.get() {
            return self.execute(sql, params).map(|_| ());
        }
        let st = self.with(|c| self.prepare(c, sql))?;
        let owned = params.iter().map(|v| v.clone().into_owned()).collect();
        let full = {
            let mut later = self.later.borrow_mut();
            later.push((st, owned));
            later.len() >= LATER_MAX
        };
        if full { self.flush() } else { Ok(()) }
    }

    /// Sends the held writes, all at once (pipelined), and waits for their answers, in the
    /// order they were made; the first error is the answer.
    fn flush(&self) -> Result<(), SqlError> {
        let later = std::mem::take(&mut *self.later.borrow_mut());
        if later.is_empty() {
            return Ok(());
        }
        Ok(self.with(|c| {
            let params: Vec<Vec<&(dyn ToSql + Sync)>> =
                later.iter().map(|(_, p)| p.iter().map(|v| v as &(dyn ToSql + Sync)).collect()).collect();
            let sent = later.iter().zip(&params).map(|((st, _), p)| c.execute(st, p));
            self.bounded(c, futures_util::future::try_join_all(sent)).map(|_| ())
        })?)
    }

    /// Runs statements without parameters.
    pub fn batch(&self, sql: &str) -> Result<(), SqlError> {
        self.flush()?;
        Ok(self.with(|c| self.bounded(c, c.batch_execute(sql)))?)
    }

    /// `BEGIN`, then `lock` if any (a statement that takes what the domain's writers all
    /// take); a failed lock rolls back.
    pub fn begin(&self, lock: Option<&str>) -> Result<(), SqlError> {
        self.batch("BEGIN")?;
        self.in_tx.set(true);
        if let Some(lock) = lock
            && let Err(e) = self.query(lock, &[])
        {
            let _ = self.end(false);
            return Err(e);
        }
        Ok(())
    }

    /// Ends the transaction [`PgSession::begin`] started: the held writes sent and `COMMIT`,
    /// or them dropped and `ROLLBACK`. Both are sent on the transaction's own connection (one
    /// lost meanwhile is an error, never a fresh connection that would take a `COMMIT` for
    /// nothing); a commit that fails is rolled back.
    pub fn end(&self, commit: bool) -> Result<(), SqlError> {
        let done = if commit {
            self.batch("COMMIT")
        } else {
            self.later.borrow_mut().clear();
            self.batch("ROLLBACK")
        };
        if commit && done.is_err() {
            self.later.borrow_mut().clear();
            let _ = self.batch("ROLLBACK");
        }
        self.in_tx.set(false);
        done
    }

    /// Brings `domain`'s tables up to date (under the one migration lock), in one transaction.
    pub fn migrate(&self, domain: &Domain) -> Result<u32, SqlError> {
        self.batch("BEGIN")?;
        self.in_tx.set(true);
        let out = self.with(|c| self.link.race(crate::postgres::migrate(c, domain))).map_err(SqlError::from);
        self.in_tx.set(false);
        match out.and_then(|done| done.map_err(SqlError::from)) {
            Ok(ran) => self.batch("COMMIT").map(|()| ran),
            Err(e) => {
                let _ = self.batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// Waits for one statement; inside a bounded call (see [`Bound`]) a watch cancels it on
    /// the server the moment the call must stop.
    fn bounded<T>(
        &self,
        c: &Client,
        work: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, CallError> {
        let Some(bound) = self.watch.and_then(|current| current()) else { return self.link.wait(work) };
        if bound.stopped() {
            return self.link.wait(work);
        }
        let done = Arc::new(AtomicBool::new(false));
        let (token, url, watching) = (c.cancel_token(), self.link.url().clone(), done.clone());
        let watch = self.link.handle().spawn(async move {
            loop {
                tokio::time::sleep(WATCH_EVERY).await;
                if watching.load(Ordering::Acquire) {
                    return;
                }
                if bound.must_stop_now() {
                    if let Err(e) = crate::connect::cancel(&url, &token).await {
                        tracing::warn!(server = %url.shown(), "cancelling a statement: {e}");
                    }
                    return;
                }
            }
        });
        let out = self.link.wait(work);
        done.store(true, Ordering::Release);
        let _ = crate::link::block_here(watch);
        out
    }
}
