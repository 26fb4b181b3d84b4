//! The handoff pipeline: everything between a file landing in baton's inbox and its RETURN.
//!
//! Data flow: [`watch`] (notify + periodic reconcile) → [`pipeline`] (the loop: the batch and
//! its order), which owns one value per stage and lends each what it needs for a call:
//! `inbox` (`Inbox`: what is ready to claim) → `intake` (`prepare`: what each claimed file
//! is, into an `item`) → `execution` (`Running`: tasks in the runtime, answers and retries) →
//! `outputs` (`Outputs`: what each item writes; `record`: what the ledger keeps) → filing;
//! beside them `observe` (`Observer`: other agents' handoffs) and `health` (`Healths`: plugin
//! pauses). The stages import none of the pipeline: the module graph has no loop.
//! [`asking`] keeps what a TASK that asks back waits for. [`claims`], [`outbox`] and [`fsops`] hold the crash-safety mechanisms, `post` the one way
//! files reach other agents, `folding` the macOS name rules (case and Unicode form) applied on
//! every system, [`faults`] which errors pass by themselves; [`returns`] builds what baton
//! writes; [`plugins`] installs and loads components; [`audit`] drives the plans audits;
//! `manual` holds `baton run`, [`retry`] what `baton retry` selects and moves. The alert loop
//! and the host interfaces are the composition root's (the `baton` binary, `crates/app`): it
//! builds the [`runtime`] with them and hands everything to [`Pipeline::start`].
// Tests make their trees with `create_dir_all`; the code goes through `baton_fs::ensure_dir` (clippy.toml).
#![cfg_attr(test, allow(clippy::disallowed_methods))]

pub mod asking;
pub mod audit;
pub mod claims;
pub mod config;
mod execution;
pub mod failpoint;
pub mod faults;
mod folding;
pub mod fsops;
mod halves;
pub mod health;
mod inbox;
mod intake;
mod item;
mod later;
mod locks;
pub mod losses;
mod mailbox;
pub use mailbox::{record_return, return_message};
mod manual;
mod observe;
pub mod outbox;
mod outputs;
pub mod pipeline;
pub mod plugins;
mod post;
mod preread;
#[cfg(test)]
mod props;
pub mod ratelimit;
pub mod retry;
pub mod returns;
mod shared;
mod spares;
pub use shared::STRAY_LEASES;
mod superseded;
pub mod tree;
pub mod triage;
pub mod watch;

use baton_sync::Locked;
use std::path::Path;
use std::sync::{Arc, Mutex};

pub use config::{Config, Paths};
pub use manual::retry_failed;
pub use pipeline::{Pipeline, Summary};

/// A shared handle on the state database.
pub type SharedLedger = Arc<Mutex<baton_ledger::Ledger>>;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error(transparent)]
    Ledger(#[from] baton_ledger::LedgerError),
    #[error(transparent)]
    Config(#[from] config::ConfigError),
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

/// The plugins' key-value store, kept in the ledger's `kv` table.
pub struct LedgerKv(pub SharedLedger);

impl baton_runtime::KvStore for LedgerKv {
    fn get(&self, plugin: &str, key: &str) -> Option<String> {
        self.0.locked().kv_get(plugin, key).ok().flatten()
    }
    fn set(
        &self,
        plugin: &str,
        key: &str,
        value: &str,
        quota: &baton_runtime::KvQuota,
    ) -> Result<(), baton_runtime::KvError> {
        let limits = baton_ledger::KvLimits { keys: quota.keys, bytes: quota.bytes };
        // The fault tests' `kv_set` failpoint stands for SQLite's own answer on a full disk.
        let injected = crate::failpoint::fault("kv_set", plugin).map_err(|_| {
            use baton_ledger::rusqlite::{Error, ffi};
            let full = ffi::Error::new(ffi::SQLITE_FULL);
            baton_ledger::LedgerError::Sql(Error::SqliteFailure(full, Some("database or disk is full".into())))
        });
        match injected.and_then(|()| self.0.locked().kv_set_within(plugin, key, value, limits)) {
            Ok(()) => Ok(()),
            Err(baton_ledger::LedgerError::KvQuota(m)) => Err(baton_runtime::KvError::Quota(m)),
            // The state disk full, an I/O error, a busy database: the host's fault, a pause.
            Err(e) if e.is_transient() => {
                crate::ratelimit::warn_every("kv-set:passing", &format!("kv-set failed: {e}; the task waits"), plugin);
                Err(baton_runtime::KvError::Passing(e.to_string()))
            }
            Err(e) => {
                crate::ratelimit::warn_every(&format!("kv-set:{plugin}"), &format!("kv-set failed: {e}"), plugin);
                Err(baton_runtime::KvError::Failed(e.to_string()))
            }
        }
    }
    fn delete(&self, plugin: &str, key: &str) {
        if let Err(e) = self.0.locked().kv_delete(plugin, key) {
            crate::ratelimit::warn_every(
                &format!("kv-delete:{plugin}"),
                &format!("kv-delete of `{key}` failed: {e}"),
                plugin,
            );
        }
    }
}

/// The plugins' runtime as every baton process builds it, `serve` and the commands that load
/// plugins without serving (`baton plugin`, `init`'s bundled plugins, `call`'s list of
/// actions): the compiled-component cache (installing a plugin compiles it for the next
/// start), the `[plugins] compile_mb`/`compile_s` limits, and the plugins' kv in `ledger`.
/// It has the sandbox's own imports only: the composition root (the `baton` binary) adds the
/// host interfaces it serves ([`baton_runtime::Runtime::add_host_interface`]) before any
/// plugin is loaded, so that `describe` runs with the real host functions and a plugin cannot
/// tell a check from a load. The engine names none of them.
pub fn runtime(cfg: &Config, paths: &Paths, ledger: SharedLedger) -> Result<baton_runtime::Runtime, PipelineError> {
    let mut runtime = baton_runtime::Runtime::new(
        baton_runtime::RuntimeConfig { cache_dir: Some(paths.cache()), lock_dir: paths.locks() },
        Arc::new(LedgerKv(ledger)),
    )?;
    runtime.set_compile_limits(cfg.plugins.compile_limits());
    Ok(runtime)
}

/// What a serving runtime has beyond [`runtime`]'s: the folders no grant may reach (baton's
/// own), and on a shared PostgreSQL ledger plugins' named locks that hold across every host
/// (advisory locks).
pub fn prepare_to_serve(runtime: &mut baton_runtime::Runtime, paths: &Paths, location: &baton_ledger::Location) {
    runtime.set_protected_dirs(crate::plugins::protected_dirs(paths));
    if let baton_ledger::Location::Postgres(url) = location {
        runtime.set_locks(Arc::new(locks::SharedLocks(baton_ledger::advisory::AdvisoryLocks::new(url.clone()))));
    }
}

/// How [`Pipeline::start`] loads plugins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loading {
    /// Every installed plugin at start-up, hot-reloaded from there: a daemon (`baton serve`).
    /// Making the pipeline waits out a passing fault (the handoffs disk full, an I/O error, a
    /// folder unwritable for a while): it tries again with backoff, says why at most once per
    /// [`ratelimit::EVERY`], and starts serving once the fault has passed.
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
            plugins::forget_missing(&paths, &ledger);
        } else {
            plugins::load_installed(&runtime, &cfg, &paths, &ledger).await;
        }
        let mut pause = std::time::Duration::from_millis(250);
        let mut pipeline = loop {
            match Pipeline::new(cfg.clone(), paths.clone(), ledger.clone(), runtime.clone()) {
                Err(e) if !on_demand && faults::is_passing(&e) => {
                    ratelimit::warn_every(
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
