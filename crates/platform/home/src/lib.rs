//! A baton home, as every command and `serve` find it: `baton.toml` and the layout it gives
//! ([`Config`], [`Paths`]), the handoffs tree as the user's agents keep it ([`tree`]), the
//! installed plugins and their journal ([`plugins`]), the plugins' runtime as the home builds it
//! ([`sandbox`]), the state database opened once per process ([`State`]), each plugin's health ([`health`]), the loss check of a state that forgot rows
//! ([`losses`]), rate-limited warnings ([`ratelimit`]) and the tests' failpoints ([`failpoint`]).
//!
//! Why a crate of its own: the pipeline (`baton-pipeline`) is the engine that moves handoffs;
//! the commands that only look at a home (`status`, `plugin list`, the dashboard) need the home
//! and not the engine, and the engine needs the home. Both depend on this crate, never the other
//! way round.
// Tests make their trees with `create_dir_all`; the code goes through `baton_fs::ensure_dir` (clippy.toml).
#![cfg_attr(test, allow(clippy::disallowed_methods))]

pub mod config;
pub mod failpoint;
pub mod health;
mod locks;
pub mod losses;
pub mod plugins;
pub mod ratelimit;
pub mod sandbox;
pub mod state;
pub mod tree;

use std::path::Path;

pub use config::{Config, ConfigError, Paths};
pub use sandbox::{LedgerKv, prepare_to_serve, runtime};
pub use state::State;

/// What can go wrong reading a home: its files, its state, its configuration, its runtime.
#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error(transparent)]
    Ledger(#[from] baton_ledger::LedgerError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Runtime(#[from] baton_runtime::RuntimeError),
}

impl HomeError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        HomeError::Io { path: path.display().to_string(), source }
    }
}
