//! The handoff pipeline: everything between a file landing in baton's inbox and its RETURN.
//!
//! Data flow: [`watch`] (notify + periodic reconcile) → [`pipeline`] (the loop: the batch and
//! its order), which owns one value per stage and lends each what it needs for a call:
//! `inbox` (`Inbox`: what is ready to claim) → `intake` (`prepare`: what each claimed file
//! is, into an `item`) → `execution` (`Running`: tasks in the runtime, answers and retries) →
//! `outputs` (`Outputs`: what each item writes; `record`: what the ledger keeps) → filing;
//! beside them `observe` (`Observer`: other agents' handoffs) and the home's `health`
//! (`Healths`: plugin pauses). The stages import none of the pipeline: the module graph has no
//! loop. [`asking`] keeps what a TASK that asks back waits for. [`claims`], `leases` (claims as rows of a shared PostgreSQL ledger) and [`outbox`]
//! hold the crash-safety mechanisms, on `baton_fs`'s primitives; `post` is the one way
//! files reach other agents, `folding` the macOS name rules (case and Unicode form) applied on
//! every system, [`faults`] which errors pass by themselves; [`returns`] builds what baton
//! writes; [`audit`] drives the plans audits;
//! `manual` holds `baton run`, [`retry`] what `baton retry` selects and moves. The alert loop
//! and the host interfaces are the composition root's (the `baton` binary, `crates/app`): it
//! builds the runtime with them (`baton_home::runtime`) and hands everything to
//! [`Pipeline::start`]. What the pipeline runs in (the configuration, the handoffs tree, the
//! installed plugins, their health) is the home's: `baton_home`.
// Tests make their trees with `create_dir_all`; the code goes through `baton_fs::ensure_dir` (clippy.toml).
#![cfg_attr(test, allow(clippy::disallowed_methods))]

pub mod asking;
pub mod audit;
pub mod claims;
mod execution;
pub mod faults;
mod folding;
mod halves;
mod inbox;
mod intake;
mod item;
mod later;
mod leases;
mod manual;
mod observe;
pub mod outbox;
mod outputs;
pub mod pipeline;
mod post;
mod preread;
#[cfg(test)]
mod props;
pub mod retry;
pub mod returns;
mod spares;
pub use leases::STRAY_LEASES;
mod superseded;
pub mod triage;
pub mod watch;

use std::path::Path;
use std::sync::Arc;

use baton_home::{Config, Paths};
use baton_ledger::SharedLedger;
pub use manual::retry_failed;
pub use pipeline::{Pipeline, Summary};

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error(transparent)]
    Ledger(#[from] baton_ledger::LedgerError),
    #[error(transparent)]
    Config(#[from] baton_home::ConfigError),
    #[error(transparent)]
    Home(#[from] baton_home::HomeError),
    #[error(transparent)]
    Runtime(#[from] baton_runtime::RuntimeError),
    #[error("{0}")]
    Audit(String),
    #[error("file watcher: {0}")]
    Watch(#[from] notify::Error),
    #[error(
        "the handoffs folder {0} was moved, deleted or replaced while serve was running; stopping so that \
         a restart sets up its folders, claims and file watch again (a service restarts by itself). \
         Files in the old folder stay wherever it was moved"
    )]
    RootReplaced(String),
    /// The SQLite state's path no longer leads to the file `serve` has open (deleted, or
    /// another file put there): what serve wrote from then on would be lost at its next start.
    #[error(
        "the state {path} was {what} while serve was running; stopping rather than go on writing into a file \
         no path leads to (its records would be gone at the next start). Put the state file back (with its \
         -wal file) and start serve again; to start on a new, empty state on purpose, run `baton serve --new-state`"
    )]
    StateReplaced { path: String, what: &'static str },
    #[error("internal: {0}")]
    Internal(String),
    /// `serve --once` waited out passing faults for `[pipeline] give_up_after` without progress.
    #[error(
        "gave up after {secs} s without progress (`[pipeline] give_up_after` in baton.toml): {waiting}. \
         Nothing was lost: the claims stay, and the next `serve` goes on from there"
    )]
    GaveUp { secs: u64, waiting: String },
    /// A folder layout baton cannot claim from safely (the message says why and the fix).
    #[error("{0}")]
    Layout(String),
    /// `baton retry` refused to move a failed handoff (the message says why and the fix).
    #[error(transparent)]
    RetryRefused(#[from] retry::RetryRefused),
}

impl PipelineError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        PipelineError::Io { path: path.display().to_string(), source }
    }
}

/// How [`Pipeline::start`] loads plugins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loading {
    /// Every installed plugin at start-up, hot-reloaded from there: a daemon (`baton serve`).
    /// Making the pipeline waits out a passing fault (the handoffs disk full, an I/O error, a
    /// folder unwritable for a while): it tries again with backoff, says why at most once per
    /// [`baton_home::ratelimit::EVERY`], and starts serving once the fault has passed.
    AtStart,
    /// None at start-up: each is loaded when a task first names it (the plans audit's when it
    /// runs). For a process that runs what it finds and exits (`serve --once`, `baton run`):
    /// its start-up no longer reads, hashes and describes every installed component, and a
    /// refused component is recorded when a task names it. A passing fault stops it at once.
    OnDemand,
}

impl Pipeline {
    /// Makes the pipeline (its own folders, claims and outbox) over what the composition root
    /// opened: the config, the ledger, the runtime with its host interfaces, and the plans
    /// audit's report library (`reports`; [`audit::NoReports`] publishes reports as the
    /// plugin wrote them). Loads plugins as `loading` says.
    pub async fn start(
        cfg: Config,
        paths: Paths,
        ledger: SharedLedger,
        runtime: Arc<baton_runtime::Runtime>,
        loading: Loading,
        reports: Arc<dyn audit::Reports>,
    ) -> Result<Pipeline, PipelineError> {
        let on_demand = loading == Loading::OnDemand;
        if on_demand {
            baton_home::plugins::forget_missing(&paths, &ledger);
        } else {
            baton_home::plugins::load_installed(&runtime, &cfg, &paths, &ledger).await;
        }
        let mut pause = std::time::Duration::from_millis(250);
        let mut pipeline = loop {
            match Pipeline::new(cfg.clone(), paths.clone(), ledger.clone(), runtime.clone()) {
                Err(e) if !on_demand && faults::is_passing(&e) => {
                    baton_home::ratelimit::warn_every(
                        "start:folders",
                        &format!("cannot start serving: {e}; will try again every few seconds until it passes"),
                        "serve",
                    );
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(std::time::Duration::from_secs(5));
                }
                made => break made?,
            }
        };
        pipeline.on_demand = on_demand;
        pipeline.audit_reports = reports;
        Ok(pipeline)
    }
}
