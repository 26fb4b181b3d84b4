//! Plugins' named locks on a shared PostgreSQL ledger: session-level advisory locks, so that a
//! lock taken on one machine holds against every host on the same server (drive-sync's
//! lock-first guard across machines). The runtime's contract (`baton_runtime::NamedLocks`) is
//! adapted to this in `baton-pipeline`; the SQL is here, with the rest of the backend's.
//!
//! Each held lock has a connection of its own: the lock lives exactly as long as that session,
//! so a host that dies loses its locks with its sessions, and releasing a lock is ending its
//! session. A session that ends while its lock is held (the server restarted, the backend was
//! terminated, the network failed) calls the holder's `on_lost` at once: the task holding it
//! must stop, since another host may take the lock now.
//!
//! The key is computed by the server: `hashtextextended('baton.lock:<plugin>/<name>', 0)`, a
//! 64-bit hash (plugin names never contain `/`), so every host derives the same key.
use baton_sync::Locked;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio_postgres::Client;

use baton_store::pool::Pool;

use crate::location::PgUrl;

/// How often a waiting task asks the server again.
const POLL: Duration = Duration::from_millis(20);

/// Called with the reason when a held lock's session ends.
pub type OnLost = Box<dyn FnOnce(String) + Send>;

/// A lock held: its owner (the task) and its session.
struct Held {
    owner: String,
    /// Dropping it ends the session, which releases the lock on the server.
    _client: Client,
    /// Set before the session is ended on purpose, so its end is not a loss.
    released: Arc<AtomicBool>,
}

/// The advisory locks this process holds on one server.
pub struct AdvisoryLocks {
    url: PgUrl,
    /// The server's pool, kept from the first lock on: its runtime drives the lock sessions.
    pool: OnceLock<Arc<Pool>>,
    held: Mutex<HashMap<(String, String), Held>>,
}

/// Why an advisory lock was not taken; the plugin gets the message.
#[derive(Debug, thiserror::Error)]
pub enum AdvisoryError {
    /// The server could not be asked until the deadline (the last reason).
    #[error("lock `{name}` could not be taken within {timeout:?}: {source}")]
    Unreachable { name: String, timeout: Duration, source: ServerError },
    /// Another host holds it, still at the deadline.
    #[error("lock `{name}` is held elsewhere; gave up after {timeout:?}")]
    Busy { name: String, timeout: Duration },
    #[error("lock `{name}`: the database session ended as it was taken")]
    SessionEnded { name: String },
}

/// What went wrong asking the server (`server`: the URL as shown, without its password).
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("state database {server}: {source}")]
    Connect { server: String, source: baton_store::connect::ConnectError },
    #[error("state database {server}: {source}")]
    Query { server: String, source: tokio_postgres::Error },
    #[error("state database {server} did not answer within {left:?}")]
    NoAnswer { server: String, left: Duration },
    #[error("state database {server}: no connection within {left:?}")]
    NoConnection { server: String, left: Duration },
}

/// The text the server hashes into the lock's key.
pub fn key_text(plugin: &str, name: &str) -> String {
    format!("baton.lock:{plugin}/{name}")
}

impl AdvisoryLocks {
    pub fn new(url: PgUrl) -> Self {
        AdvisoryLocks { url, pool: OnceLock::new(), held: Mutex::default() }
    }

    /// Waits up to `timeout` for the lock (plugin, name), for the task `owner`, asking the
    /// server every [`POLL`]. Must run inside a tokio runtime (the session's connection is
    /// spawned on it). A server that cannot be reached is tried again until the timeout, and
    /// the error says so.
    pub async fn acquire(
        &self,
        plugin: &str,
        owner: &str,
        name: &str,
        timeout: Duration,
        on_lost: OnLost,
    ) -> Result<(), AdvisoryError> {
        let deadline = Instant::now() + timeout;
        let key = key_text(plugin, name);
        let mut last_error = None;
        let mut session: Option<(Client, Arc<AtomicBool>, Arc<Mutex<Option<OnLost>>>)> = None;
        loop {
            if session.as_ref().is_none_or(|(c, ..)| c.is_closed()) {
                session = match self.connect(deadline).await {
                    Ok(s) => Some(s),
                    Err(e) => {
                        last_error = Some(e);
                        None
                    }
                };
            }
            if let Some((client, ..)) = &session {
                // Bounded by the caller's timeout: a server that stopped answering mid-session
                // held the task here for good.
                let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(100));
                match tokio::time::timeout(
                    left,
                    client.query_one("SELECT pg_try_advisory_lock(hashtextextended($1, 0))", &[&key]),
                )
                .await
                {
                    Ok(Ok(row)) if row.get::<_, bool>(0) => break,
                    Ok(Ok(_)) => {}
                    Ok(Err(source)) => {
                        last_error = Some(ServerError::Query { server: self.url.shown().to_string(), source })
                    }
                    Err(_) => {
                        last_error = Some(ServerError::NoAnswer { server: self.url.shown().to_string(), left });
                        // Its answer may still come and take the lock: ending the session releases it.
                        session = None;
                    }
                }
            }
            if Instant::now() >= deadline {
                let name = name.to_string();
                return Err(match last_error {
                    Some(source) => AdvisoryError::Unreachable { name, timeout, source },
                    None => AdvisoryError::Busy { name, timeout },
                });
            }
            tokio::time::sleep(POLL.min(deadline.saturating_duration_since(Instant::now()))).await;
        }
        let Some((client, released, alarm)) = session else { unreachable!("the loop breaks with a session") };
        *alarm.locked() = Some(on_lost);
        // The session may have ended between the lock and arming the alarm.
        if client.is_closed() {
            released.store(true, Ordering::SeqCst);
            return Err(AdvisoryError::SessionEnded { name: name.to_string() });
        }
        let mut held = self.held.locked();
        held.insert(
            (plugin.to_string(), name.to_string()),
            Held { owner: owner.to_string(), _client: client, released },
        );
        Ok(())
    }

    /// A new session; its end (other than by release) fires the alarm armed in it.
    async fn connect(
        &self,
        deadline: Instant,
    ) -> Result<(Client, Arc<AtomicBool>, Arc<Mutex<Option<OnLost>>>), ServerError> {
        let shown = self.url.shown().to_string();
        let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(100));
        let released = Arc::new(AtomicBool::new(false));
        let alarm: Arc<Mutex<Option<OnLost>>> = Arc::default();
        let (r, a) = (released.clone(), alarm.clone());
        let on_end = move |ended: Result<(), tokio_postgres::Error>| {
            if r.load(Ordering::SeqCst) {
                return;
            }
            let why = match ended {
                Ok(()) => "the session ended".to_string(),
                Err(e) => e.to_string(),
            };
            if let Some(on_lost) = a.locked().take() {
                tracing::warn!(server = %shown, "a plugin's lock was lost with its database session: {why}");
                on_lost(format!(
                    "the database session holding a lock ended ({why}); the lock may be taken by another host"
                ));
            }
        };
        // A session of its own (the lock lives exactly as long as it), started by the server's
        // pool, whose runtime drives its connection; it never goes back to the pool.
        let pool = match self.pool.get() {
            Some(p) => p.clone(),
            None => {
                let p = Pool::of(&self.url)
                    .map_err(|source| ServerError::Connect { server: self.url.shown().to_string(), source })?;
                self.pool.get_or_init(|| p).clone()
            }
        };
        let client = match tokio::time::timeout(left, pool.start_watched(on_end)).await {
            Ok(Ok(c)) => c,
            Ok(Err(source)) => return Err(ServerError::Connect { server: self.url.shown().to_string(), source }),
            Err(_) => return Err(ServerError::NoConnection { server: self.url.shown().to_string(), left }),
        };
        Ok((client, released, alarm))
    }

    /// Releases the lock if `owner` holds it, by ending its session. Returns whether it did.
    pub fn release(&self, plugin: &str, owner: &str, name: &str) -> bool {
        let mut held = self.held.locked();
        let key = (plugin.to_string(), name.to_string());
        if held.get(&key).is_some_and(|h| h.owner == owner) {
            if let Some(h) = held.remove(&key) {
                h.released.store(true, Ordering::SeqCst);
            }
            return true;
        }
        false
    }

    /// Releases every lock of `plugin` that `owner` holds.
    pub fn release_owner(&self, plugin: &str, owner: &str) {
        let mut held = self.held.locked();
        held.retain(|k, h| {
            let mine = k.0 == plugin && h.owner == owner;
            if mine {
                h.released.store(true, Ordering::SeqCst);
            }
            !mine
        });
    }
}
