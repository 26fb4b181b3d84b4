//! The dashboard's data, read from the state database: what `GET /api/overview`, `GET
//! /metrics` and the alerts show.
//!
//! Why a crate of its own: the numbers must stay cheap as history grows and must not depend
//! on rows that get pruned, so they come only from the ledger's summary tables
//! ([`baton_ledger::stats`]), written where each group of answers is recorded. This crate
//! only reads those tables (and keeps the `alerts` table); it knows nothing of HTTP, so the
//! server (`baton-dashboard`), `baton serve`'s alert loop and the tests share one
//! implementation.
//!
//! - [`overview`]: per window (1m, 5m, 15m, 1h, 6h, 24h, 7d) handoffs/s, error rate and
//!   p50/p95/p99 of drop-to-RETURN and run time, from per-minute and per-hour histograms
//!   (at most a few hundred rows per window; percentiles within [`RELATIVE_ERROR`]).
//! - [`metrics_text`]: the Prometheus text exposition; [`metrics::parse`] checks one.
//! - [`alerts`]: rules from `[alerts]` in `baton.toml`, fingerprinted, deduplicated,
//!   resolving on their own, with exactly one follow-up TASK per firing.
//!
//! Every function takes the ledger's [`StatsStore`] (`Ledger::stats()`, on SQLite or on
//! PostgreSQL alike: the SQL is in the ledger's two backends, none here) and is synchronous:
//! call it from a blocking thread.
// Tests make their trees with `create_dir_all`; the code goes through `baton_fs::ensure_dir` (clippy.toml).
#![cfg_attr(test, allow(clippy::disallowed_methods))]
pub mod alerts;
pub mod metrics;
mod window;

pub use baton_ledger::read::StatsStore;
pub use baton_ledger::stats::RELATIVE_ERROR;
pub use metrics::{MetricsInput, metrics_text};
pub use window::{Overview, Percentiles, WINDOWS, WindowStats, overview};

#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error(transparent)]
    Ledger(#[from] baton_ledger::LedgerError),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    /// An id that names nothing (an alert id, …): the message says which.
    #[error("{0}")]
    NotFound(String),
}

pub type Result<T, E = StatsError> = std::result::Result<T, E>;
