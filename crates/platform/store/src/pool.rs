//! The process's PostgreSQL sessions: one [`Pool`] per server (per URL), shared by every part of
//! baton that talks to it: the ledger and the catalog (each through a [`crate::link::Link`]),
//! the advisory-lock sessions and `baton migrate`.
//!
//! Why one pool: each domain used to start a runtime of its own and a session of its own, and
//! to close them with itself. A process that opened the ledger, then the catalog, then the
//! ledger again (`baton status`, a plugin's first catalog call, `baton migrate`) paid a
//! runtime, a TLS handshake and a start-up per opening, and ran one connection thread per
//! domain. Here a server has one runtime, whose one thread drives every session's connection
//! task, and a session a link is done with waits in the pool for the next link instead of
//! being closed.
//!
//! What the pool keeps:
//! - **At most [`MAX_IDLE`] idle sessions**, each with the URL's `statement_timeout` set. A
//!   session that ran out of time (its state is unknown: a transaction may be open) is never
//!   given back; a session the server closed is dropped when it is taken.
//! - **Nothing once unused.** The registry holds pools weakly: when the last link and the last
//!   holder of a server's pool are gone, its sessions and its runtime end with it.
//!
//! Sessions that must be their own (an advisory lock lives exactly as long as its session,
//! `baton migrate`'s copy is one long transaction) are started by [`Pool::start`] or
//! [`Pool::start_watched`] and never enter the pool.
use baton_sync::Locked;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use tokio_postgres::Client;

use crate::connect::ConnectError;
use crate::location::PgUrl;

/// How many idle sessions a server's pool keeps; more are closed when given back. Four covers
/// baton's domains (ledger, catalog, a migration's source and target) with room to spare.
pub const MAX_IDLE: usize = 4;

/// The pools of this process, by server ([`PgUrl::key`]).
static POOLS: OnceLock<Mutex<HashMap<String, Weak<Pool>>>> = OnceLock::new();

/// The sessions of this process with one server (see the module's comment).
pub struct Pool {
    url: PgUrl,
    rt: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    idle: Mutex<Vec<Client>>,
}

impl Pool {
    /// The pool of the server `url` names: the one this process already has, or a new one.
    pub fn of(url: &PgUrl) -> Result<Arc<Pool>, ConnectError> {
        let mut pools = POOLS.get_or_init(Mutex::default).locked();
        pools.retain(|_, p| p.strong_count() > 0);
        let key = url.key();
        if let Some(pool) = pools.get(&key).and_then(Weak::upgrade) {
            return Ok(pool);
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("baton-pg")
            .enable_all()
            .build()
            .map_err(|e| ConnectError::Local(format!("cannot start the PostgreSQL runtime: {e}")))?;
        let pool =
            Arc::new(Pool { url: url.clone(), handle: rt.handle().clone(), rt: Some(rt), idle: Mutex::default() });
        pools.insert(key, Arc::downgrade(&pool));
        Ok(pool)
    }

    pub fn url(&self) -> &PgUrl {
        &self.url
    }

    /// The pool's runtime, which drives every session's connection task and the timers that
    /// bound each call.
    pub fn handle(&self) -> &tokio::runtime::Handle {
        &self.handle
    }

    /// Starts a new session, its connection task on the pool's runtime (so it lives whichever
    /// runtime, if any, the caller is on) with the URL's `statement_timeout` set. `what` names
    /// the session in the log line when its connection is lost ("state database").
    ///
    /// Start-up is bounded by [`crate::connect::connect`]; the `SET` by the server's own
    /// `statement_timeout` no more than any call is, so callers bound the whole with their
    /// call limit.
    pub async fn start(&self, what: &'static str) -> Result<Client, ConnectError> {
        let shown = self.url.shown().to_string();
        self.start_watched(move |ended| {
            if let Err(e) = ended {
                tracing::warn!(server = %shown, "{what} connection lost: {e}");
            }
        })
        .await
    }

    /// [`Pool::start`], calling `on_end` when the session's connection ends, however it ends
    /// (an advisory lock's holder must know at once that its lock is gone).
    pub async fn start_watched(
        &self,
        on_end: impl FnOnce(Result<(), tokio_postgres::Error>) + Send + 'static,
    ) -> Result<Client, ConnectError> {
        let url = self.url.clone();
        let task = self.handle.spawn(async move {
            let (client, connection) = crate::connect::connect(&url).await?;
            tokio::spawn(async move { on_end(connection.await) });
            let ms = url.statement_timeout().as_millis().max(1);
            client.batch_execute(&format!("SET statement_timeout = {ms}")).await?;
            Ok::<_, ConnectError>(client)
        });
        task.await.map_err(|e| ConnectError::Local(format!("the session's start-up ended: {e}")))?
    }

    /// An idle session the server has not closed, if the pool has one.
    pub(crate) fn take(&self) -> Option<Client> {
        let mut idle = self.idle.locked();
        while let Some(client) = idle.pop() {
            if !client.is_closed() {
                return Some(client);
            }
        }
        None
    }

    /// Keeps a session a link is done with for the next one, if it is open and the pool has
    /// room; otherwise it is closed. The caller vouches that its state is known (no call ran
    /// out of time on it, no transaction left open).
    pub(crate) fn give_back(&self, client: Client) {
        if client.is_closed() {
            return;
        }
        let mut idle = self.idle.locked();
        if idle.len() < MAX_IDLE {
            idle.push(client);
        }
    }

    /// How many idle sessions the pool holds now.
    pub fn idle(&self) -> usize {
        self.idle.locked().len()
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // The sessions end with their connection tasks, on the runtime; dropping a runtime
        // inside an async context panics, so it is left to end on its own.
        baton_sync::recover(self.idle.get_mut()).clear();
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}
