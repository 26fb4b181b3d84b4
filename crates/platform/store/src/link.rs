//! One session with a PostgreSQL server for a synchronous caller: the ledger, the catalog and
//! `baton migrate` each hold one, drawn from the server's [`Pool`], and this is the one
//! reconnect and time-limit policy they all follow.
//!
//! Why a bridge: the ledger's and the catalog's APIs are synchronous (the pipeline calls them
//! under a mutex, as it does SQLite), tokio-postgres is asynchronous. The connection task runs
//! on a one-thread tokio runtime, and each call waits for its answer with
//! `futures_executor::block_on`, which is safe from any thread, a tokio worker included (no
//! nested runtime), outside the calling task's cooperative budget ([`block_here`]). The
//! runtime is the server's pool's: one thread per server, whatever the number of links.
//!
//! The policy:
//! - **Connect when needed.** The first call connects; after a lost connection (a server
//!   restart, the network) the call fails, and the next one connects again. Each new session
//!   runs with the URL's `statement_timeout` (30 s unless it says otherwise), so the server
//!   itself ends a statement that runs too long (a lock never released, an overload).
//! - **Never wait for good.** Every wait lasts at most [`PgUrl::call_limit`]
//!   (`statement_timeout` plus `connect_timeout`). A server that took the connection and then
//!   answers nothing (stopped, wedged, a link gone silent) fails the call with
//!   [`CallError::NoAnswer`], and the session is dropped (its state is unknown: a transaction
//!   may be open, an answer may still come); the next call starts a new one.
//! - **Stop promptly.** Once the process is stopping ([`interrupt`]), no wait lasts past
//!   [`STOP_GRACE`].
use std::cell::{Cell, Ref, RefCell, RefMut};
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures_executor::block_on;
use tokio_postgres::Client;

use crate::location::PgUrl;
use crate::pool::Pool;

/// When the process started stopping, plus [`STOP_GRACE`]: from then on no call waits longer.
static STOP_AT: OnceLock<Instant> = OnceLock::new();

/// How long calls may still take once the process is stopping: enough for a server that
/// answers to take the last writes (claims released), short enough that SIGTERM is prompt.
pub const STOP_GRACE: Duration = Duration::from_secs(1);

/// How often a waiting call looks whether the process is stopping.
const STOP_POLL: Duration = Duration::from_millis(100);

/// The process is stopping (SIGTERM): a call waiting for a server ends within [`STOP_GRACE`]
/// of now, and so does every later one, whatever `statement_timeout` says. A silent server
/// then holds a stopping `serve` about a second, not a whole call limit per call.
pub fn interrupt() {
    let _ = STOP_AT.set(Instant::now() + STOP_GRACE);
}

/// Waits for `f` on this thread, outside the cooperative budget of any tokio task the caller
/// is in.
///
/// Why: a synchronous call made from inside a tokio task (the pipeline's pass calls the
/// ledger so) runs within that task's poll, and tokio gives a poll a budget of 128 operations
/// on its resources (a timer that fires, a task joined). Spent, every `select!` and every
/// timer answers "not yet" and asks to be polled again at once, until the task yields, which
/// a caller blocked here never does: the wait spun for good, its time limit never fired and a
/// server that answered again was never heard (a call's stop poll alone spends one unit per
/// 100 ms, so about 13 s of waiting within one pass did it). Unconstrained, a wait takes
/// nothing from the caller's budget and is never refused by it.
pub fn block_here<F: Future>(f: F) -> F::Output {
    block_on(tokio::task::coop::unconstrained(f))
}

/// Why one call failed. The words are said here once; the ledger and the catalog put the
/// server's name before them.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The server's error (or the connection's).
    #[error(transparent)]
    Pg(#[from] tokio_postgres::Error),
    /// No answer within the call limit.
    #[error(
        "did not answer within {} s (the server is stopped, wedged or overloaded, or the network between is down); \
         `statement_timeout=` and `connect_timeout=` in the URL set the limit (their sum)",
        .0.as_secs_f64()
    )]
    NoAnswer(Duration),
    /// The process is stopping ([`interrupt`]) and the server had not answered by then.
    #[error("it did not answer before baton stopped ({} s after the signal)", STOP_GRACE.as_secs_f64())]
    Stopping,
    /// No session could be started (the server cannot be reached, the URL's TLS set-up
    /// failed), or the link is closing.
    #[error("{0}")]
    Unavailable(String),
}

/// A session with the server at one URL (see the module's policy), drawn from and given back
/// to the server's [`Pool`].
pub struct Link {
    pool: Arc<Pool>,
    /// What the session serves, for the log line when its connection is lost.
    what: &'static str,
    client: RefCell<Option<Client>>,
    limit: Duration,
    /// Set when a call ran out of time: the session is in an unknown state, so the next
    /// [`Link::connect`] starts a new one, and it never goes back to the pool.
    stale: Cell<bool>,
}

impl Link {
    /// A link to `url`, not connected yet; `what` names it in log lines ("state database").
    pub fn new(url: &PgUrl, what: &'static str) -> Result<Link, CallError> {
        let pool = Pool::of(url).map_err(|e| CallError::Unavailable(e.to_string()))?;
        Ok(Link { pool, what, client: RefCell::new(None), limit: url.call_limit(), stale: Cell::new(false) })
    }

    /// The server's pool this link draws its session from.
    pub fn pool(&self) -> &Arc<Pool> {
        &self.pool
    }

    pub fn url(&self) -> &PgUrl {
        self.pool.url()
    }

    /// The pool's runtime, for work that must run beside a call (a watch that cancels it).
    pub fn handle(&self) -> &tokio::runtime::Handle {
        self.pool.handle()
    }

    /// Waits for `f` at most the call limit.
    pub fn wait<T>(&self, f: impl Future<Output = Result<T, tokio_postgres::Error>>) -> Result<T, CallError> {
        self.race(f)?.map_err(CallError::Pg)
    }

    /// Waits for `f` at most the call limit, and past [`STOP_AT`] not at all. A call that
    /// runs out of time leaves the session to be dropped.
    pub fn race<T>(&self, f: impl Future<Output = T>) -> Result<T, CallError> {
        let limit = self.limit;
        let stopping = async {
            loop {
                if let Some(at) = STOP_AT.get() {
                    tokio::time::sleep_until((*at).into()).await;
                    return;
                }
                tokio::time::sleep(STOP_POLL).await;
            }
        };
        let mut timed = std::pin::pin!(async {
            tokio::select! {
                biased;
                r = f => Ok(r),
                _ = tokio::time::sleep(limit) => Err(CallError::NoAnswer(limit)),
                _ = stopping => Err(CallError::Stopping),
            }
        });
        // The timers are the link's runtime's, which drives them; the caller may be on any
        // thread (a tokio worker of another runtime included), so each poll enters it.
        let out = block_here(std::future::poll_fn(|cx| {
            let _in = self.pool.handle().enter();
            timed.as_mut().poll(cx)
        }));
        if out.is_err() {
            self.stale.set(true);
        }
        out
    }

    /// Whether there is a session a call may use (connected, not lost, not in an unknown state).
    pub fn is_live(&self) -> bool {
        !self.stale.get() && self.client.borrow().as_ref().is_some_and(|c| !c.is_closed())
    }

    /// Connects if there is no live session, with an idle one of the pool's if it has one
    /// that still answers, else a new one; `true` when the session is not the one the link
    /// had (prepared statements of the old one are gone with it).
    pub fn connect(&self) -> Result<bool, CallError> {
        if self.stale.replace(false) {
            // A call ran out of time on it: never reuse a session in an unknown state.
            self.client.borrow_mut().take();
        }
        if self.client.borrow().as_ref().is_some_and(|c| !c.is_closed()) {
            return Ok(false);
        }
        self.client.borrow_mut().take();
        while let Some(idle) = self.pool.take() {
            // An idle session may have died unnoticed (a server restart while it waited): one
            // round trip says, and costs less than a start-up.
            match self.race(idle.simple_query("")) {
                Ok(Ok(_)) => {
                    *self.client.borrow_mut() = Some(idle);
                    return Ok(true);
                }
                Ok(Err(_)) => continue,
                Err(e) => {
                    self.stale.set(false);
                    return Err(e);
                }
            }
        }
        let client = match self.race(self.pool.start(self.what)) {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => return Err(CallError::Unavailable(e.to_string())),
            Err(e) => {
                // Stopping, or no answer: the start-up is given up (it ends on the pool's runtime).
                self.stale.set(false);
                return Err(e);
            }
        };
        *self.client.borrow_mut() = Some(client);
        Ok(true)
    }

    /// Ends the session when the link is dropped instead of giving it back to the pool: its
    /// caller left it in a state the next link must not inherit (a transaction it began by
    /// SQL text and did not end).
    pub fn discard(&self) {
        self.stale.set(true);
    }

    /// The session's client, if connected (call [`Link::connect`] first).
    pub fn client(&self) -> Ref<'_, Option<Client>> {
        self.client.borrow()
    }

    /// The session's client, mutably (a transaction borrows it so).
    pub fn client_mut(&self) -> RefMut<'_, Option<Client>> {
        self.client.borrow_mut()
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        // A session in a known state goes back to the pool for the next link.
        if let Some(client) = self.client.get_mut().take()
            && !self.stale.get()
        {
            self.pool.give_back(client);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A synchronous call from a tokio task whose cooperative budget is spent (a pass of the
    /// pipeline that waited long in earlier calls) still ends within its limit. It used to spin
    /// for good: `select!` and the timers answered "not yet" to every poll.
    #[test]
    fn a_call_from_a_task_whose_budget_is_spent_still_ends_at_its_limit() {
        let url = PgUrl::parse("postgres://baton@127.0.0.1:9/baton?connect_timeout=1&statement_timeout=1").unwrap();
        let link = Link::new(&url, "state database").unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        // On a thread of its own: before the fix the call never returned.
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let out = rt.block_on(async {
                std::future::poll_fn(|cx| {
                    while tokio::task::coop::has_budget_remaining() {
                        if let std::task::Poll::Ready(spent) = tokio::task::coop::poll_proceed(cx) {
                            spent.made_progress();
                        }
                    }
                    std::task::Poll::Ready(())
                })
                .await;
                let started = Instant::now();
                (link.race(std::future::pending::<()>()), started.elapsed())
            });
            let _ = tx.send((matches!(out.0, Err(CallError::NoAnswer(_))), out.1));
        });
        let (no_answer, took) =
            rx.recv_timeout(Duration::from_secs(20)).expect("the call ended (it spun for good before)");
        assert!(no_answer, "the call ends as NoAnswer");
        assert!(took >= Duration::from_secs(2) && took < Duration::from_secs(10), "{took:?}");
    }
}
