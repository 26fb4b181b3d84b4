//! The state database as one process opens it: once, on first use, and shared from there by
//! every command and thread that asks for it ([`State::ledger`]). Every command used to open
//! its own connection wherever it needed one (30 call sites); a command that asked twice paid
//! twice (on PostgreSQL, a session and its TLS handshake each time) and could not share what
//! it had begun. A thread that must not wait behind the shared connection (a web request, a
//! live feed) asks for one of its own ([`State::connect`]), still here, so that where the state
//! is and how it is opened is said in one place.
use std::sync::{Arc, Mutex, OnceLock};

use baton_ledger::{Ledger, LedgerError, Location, SharedLedger};

/// Where the state is, and the process's one connection to it once opened.
pub struct State {
    location: Location,
    ledger: OnceLock<SharedLedger>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State").field("location", &self.location).field("open", &self.ledger.get().is_some()).finish()
    }
}

impl State {
    /// The state at `location`, not opened yet: a command that never asks for it never opens it.
    pub fn new(location: Location) -> State {
        State { location, ledger: OnceLock::new() }
    }

    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The process's one connection, opened the first time it is asked for (a read-only state
    /// is opened read-only, as [`Ledger::open_at`] does). An open that fails is tried again at
    /// the next ask: nothing is kept of it.
    pub fn ledger(&self) -> Result<SharedLedger, LedgerError> {
        if let Some(l) = self.ledger.get() {
            return Ok(l.clone());
        }
        let opened = Arc::new(Mutex::new(connect(&self.location)?));
        Ok(self.ledger.get_or_init(|| opened).clone())
    }

    /// A connection of the caller's own, for a thread that must not queue behind the shared one.
    pub fn connect(&self) -> Result<Ledger, LedgerError> {
        connect(&self.location)
    }
}

/// A connection of its own to the state at `location`: for a server's request or a thread of
/// its own (the dashboard, its live feed, the alert loop, MCP's and A2A's calls), which must not
/// queue behind another's. Every connection a baton process makes to its state is made here or
/// in [`State::ledger`] (`./x gates` keeps it so; `baton migrate`, which opens a second state
/// on purpose, is the one exception).
pub fn connect(location: &Location) -> Result<Ledger, LedgerError> {
    Ledger::open_at(location)
}
