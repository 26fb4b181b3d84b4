//! Runs plugins: WebAssembly components (`wasm32-wasip2`, WIT world `baton:plugin/plugin`)
//! in wasmtime, each task in a fresh store with only what it was granted.
//!
//! The sandbox, per task:
//! - **folders**: only those `baton.toml` grants to the logical names the plugin asked for,
//!   mounted at `/<name>`, read-only unless both sides say writable;
//! - **no network, no env, no args, no inherited stdio**: stdout and stderr are captured
//!   into the task's plugin log, within its output cap, and the last stderr lines explain a
//!   trap (see [`stdio`]);
//! - **time**: an epoch deadline traps running wasm, and a tokio timeout around the whole
//!   call also covers a plugin waiting inside a host call; a task with folder grants runs on
//!   a thread of its own, abandoned if a file operation blocks past the budget (at most
//!   [`MAX_TASK_THREADS`] such threads; see `Runtime::on_own_thread`);
//! - **memory**: one cap for every linear memory and table of the instance together, plus
//!   what the host holds for the task (follow-ups, logs, a kv write in flight); see
//!   [`limits`];
//! - **output**: one cap for the result, summary, artifacts, follow-up bodies and logs as
//!   stored; failure messages are cut to fit;
//! - **quotas**: open handles (1,024), kv per plugin (key length, keys, bytes), disk per
//!   writable grant (bytes written, files created); going over ends the task as
//!   `quota_exceeded`;
//! - **files**: only regular files and folders open (never a FIFO or device, whose reads
//!   could block where no time budget reaches); see [`fsguard`].
//!
//! Anything the plugin does to the host outside its result (logs, progress, follow-ups) is
//! collected in the [`Execution`] and written by the caller, so a task that fails emits
//! nothing and a re-run cannot emit twice.
// Tests make their trees with `create_dir_all`; the code goes through `baton_fs::ensure_dir` (clippy.toml).
#![cfg_attr(test, allow(clippy::disallowed_methods))]

pub mod adapt;
mod bindings;
pub mod cache;
pub mod compile;
mod epoch;
mod fsguard;
pub mod grants;
mod host;
pub mod limits;
mod locks;
mod older;
mod paths;
mod refused;
pub mod stdio;
mod version;

use baton_sync::RwLocked;
use std::any::Any;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::WasiCtx;

use crate::version::{Pre, RawFailure, RawOutcome};

pub use crate::compile::{CompileError, CompileLimits};
pub use crate::host::{Extensions, FollowUp, LogLine, Parts, StoreState, TaskContext, follow_up_id};
pub use crate::limits::{DiskQuota, KvQuota};
pub use crate::locks::{Acquiring, FileLocks, LockAlarm, LockError, NamedLocks, lock_path};
pub use crate::paths::{guest_path_of, host_path_of};
pub use crate::version::{SUPPORTED, WorldVersion};

/// Errors about loading or managing plugins (not about running a task).
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("{path}: not a baton plugin component: {reason}")]
    NotAPlugin { path: String, reason: String },
    #[error("plugin `{0}` is not loaded")]
    Unknown(String),
    #[error("describe() of `{name}` failed: {reason}")]
    Describe { name: String, reason: String },
    /// The component does not agree about who it is: `describe()` gives another name than
    /// the one it is installed under (its file name). Refused, never registered.
    #[error(
        "{path}: describe() says its name is `{claims}`, but it is installed as `{name}`; a plugin's \
         name is its file name (plugins/<name>.wasm) — refused. Reinstall it with `baton plugin install`, \
         or remove it with `baton plugin remove {name}`"
    )]
    Identity { path: String, name: String, claims: String },
    /// `baton` and `baton.*` are the host's.
    #[error(
        "{path}: the plugin name `{name}` is reserved for baton itself (`baton`, `baton.*`, and the catalog's owner names \
         `core` and `user`); give the plugin another name"
    )]
    Reserved { path: String, name: String },
    #[error("granting `{grant}` to `{plugin}`: cannot open {path}: {reason}")]
    Grant { plugin: String, grant: String, path: String, reason: String },
    /// Compiling the component to native code failed or went over `[plugins] compile_mb` /
    /// `compile_s` (the worker was stopped; the host goes on).
    #[error("{path}: not compiled: {reason}")]
    Compile { path: String, reason: compile::CompileError },
    #[error("wasm engine: {0}")]
    Engine(String),
    /// A host interface refused the plugin's `[plugins.NAME]` table (see
    /// [`HostInterface::configure`]); the reason names the key and the fix.
    #[error("baton.toml [plugins.{plugin}]: {reason}")]
    Config { plugin: String, reason: String },
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
}

/// How a task run failed. Maps one-to-one onto the host's error codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("transient failure: {0}")]
    Transient(String),
    #[error("{0}")]
    Permanent(String),
    #[error("exceeded its time budget of {0:?}")]
    Timeout(Duration),
    #[error("exceeded its memory cap of {0} bytes")]
    OutOfMemory(usize),
    #[error("trapped: {0}")]
    Trap(String),
    #[error("output of {size} bytes exceeds the cap of {cap} bytes")]
    OutputTooLarge { size: usize, cap: usize },
    #[error("the result is not a JSON object: {0}")]
    BadResult(String),
    #[error("quota exceeded: {0}")]
    QuotaExceeded(String),
    /// A folder grant does not exist (the plugin stays loaded; see [`grants`]).
    #[error("{0}")]
    GrantMissing(String),
    /// A folder grant's path no longer leads to the folder opened and checked at load.
    #[error("{0}")]
    GrantChanged(String),
    /// A host call failed for a fault on the host's side that passes by itself (the state
    /// disk full behind `kv-set`, the catalog or a snapshot): whatever the plugin made of it,
    /// the task says nothing about the plugin. Not an answer: the host runs it again once the
    /// fault has passed, and the attempt does not count (see [`StoreState::host_fault`]).
    #[error("a host call failed for a fault on the host's side: {0}")]
    HostFault(String),
    /// The plugin asks a question before it can answer (0.6.0's `needs-input`): the task waits
    /// for the answer, then runs again from the start. Not a failure.
    #[error("asks for input ({}): {}", .0.request_id, .0.message)]
    NeedsInput(InputRequest),
}

/// Per-task limits. Defaults are documented in the README.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    pub time: Duration,
    pub memory_bytes: usize,
    pub output_bytes: usize,
    /// The plugin's kv store (kept across tasks).
    pub kv: KvQuota,
    /// Each writable grant, per task.
    pub disk: DiskQuota,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            time: Duration::from_secs(30),
            memory_bytes: 256 << 20,
            output_bytes: 1 << 20,
            kv: KvQuota::default(),
            disk: DiskQuota::default(),
        }
    }
}

/// A folder granted to a plugin under a logical name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub name: String,
    pub host_path: PathBuf,
    pub writable: bool,
}

/// What a plugin says about itself (`describe`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
    pub description: String,
    pub actions: Vec<ActionInfo>,
    pub folders: Vec<AccessRequest>,
    /// What it asks of the host interfaces' data (the catalog's collections, from its
    /// `catalog-access` export since 0.4.0; empty for older plugins). The runtime only
    /// carries it: the interface that reads it from the plugin ([`HostInterface::requests`])
    /// grants it in [`HostInterface::configure`].
    pub collections: Vec<AccessRequest>,
}

/// Something a plugin asks for by name, and what for: a folder (`describe`), or a collection
/// of a host interface's (`catalog-access`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AccessRequest {
    pub name: String,
    pub writable: bool,
    pub purpose: String,
}

/// What `baton.toml` gives a plugin besides folders and budgets: its settings table, and the
/// keys of its `[plugins.NAME]` table that belong to the host interfaces, which each parse
/// their own ([`HostInterface::configure`]).
#[derive(Clone)]
pub struct PluginSettings {
    /// `[plugins.NAME.settings]` as a JSON object (text); `{}` when there is none.
    pub settings: Arc<str>,
    /// The `[plugins.NAME]` keys the engine does not read itself, as JSON (`catalog`,
    /// `catalog_quota`, …): the host interfaces' to read.
    pub sections: Arc<serde_json::Map<String, serde_json::Value>>,
    /// Which install of the plugin this is (the install journal's identity), for interfaces
    /// that keep a plugin's data across tasks: the catalog binds a name's data to the install
    /// that first wrote it. `None` (a plugin not loaded from an install): the name alone.
    pub identity: Option<String>,
    /// What each host interface made of `sections` at load, found again in each task's store
    /// with [`TaskContext::configured`].
    pub configured: Arc<Vec<Configured>>,
}

impl Default for PluginSettings {
    fn default() -> Self {
        PluginSettings {
            settings: Arc::from("{}"),
            sections: Arc::default(),
            identity: None,
            configured: Arc::default(),
        }
    }
}

/// A host interface's view of one plugin's `baton.toml` table ([`HostInterface::configure`]).
#[derive(Clone)]
pub struct Configured {
    /// Its state for the plugin's tasks (the catalog's: the collections granted and asked
    /// for, and the quota), kept in the store as `WasiView` keeps WASI's.
    pub state: Arc<dyn Any + Send + Sync>,
    /// One line per thing the plugin asked this interface for, for `baton plugin inspect`.
    pub report: Vec<AccessReport>,
}

/// Something a plugin asked a host interface for, against what `baton.toml` grants.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AccessReport {
    pub name: String,
    pub purpose: String,
    pub wants_write: bool,
    /// What `baton.toml` grants: `write`, `read` or `none`.
    pub granted: &'static str,
    /// `read-write`, `read-only` or `not granted`: what the plugin actually gets.
    pub access: &'static str,
    /// Granted by the interface's built-in default for this plugin (no table of the user's in
    /// baton.toml): `plugin inspect` says so, and that a table there replaces it.
    pub built_in: bool,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ActionInfo {
    pub name: String,
    pub description: String,
    pub params_schema: serde_json::Value,
}

/// A loaded plugin: its compiled component, ready to instantiate, and its description.
pub struct Plugin {
    pub info: PluginInfo,
    pub sha256: String,
    pub grants: Vec<Grant>,
    /// The `baton:plugin` version the component was built against.
    pub world: WorldVersion,
    /// Its settings, and what the host interfaces granted it ([`Runtime::configure`]).
    pub settings: PluginSettings,
    /// Each action's `params_schema`, compiled once.
    params: Arc<HashMap<String, baton_handoff::params::ParamsCheck>>,
    /// `grants`, each held open since load (see [`grants`]).
    slots: Arc<Vec<grants::GrantSlot>>,
    protected: Arc<Vec<(String, PathBuf)>>,
    pre: Pre,
}

impl Plugin {
    /// The same compiled plugin with other grants: no recompile, no second `describe`
    /// (the grants depend on the name the plugin gives itself, known only after describe).
    pub fn with_grants(&self, granted: &[Grant]) -> Plugin {
        let grants = effective_grants(&self.info, granted);
        let slots = Arc::new(open_grants(&grants, &self.protected));
        Plugin {
            protected: self.protected.clone(),
            info: self.info.clone(),
            sha256: self.sha256.clone(),
            slots,
            grants,
            world: self.world,
            settings: self.settings.clone(),
            params: self.params.clone(),
            pre: self.pre.clone(),
        }
    }

    /// The plugin as the install `identity` (see [`PluginSettings::identity`]).
    pub fn with_owner_identity(mut self, identity: Option<String>) -> Plugin {
        self.settings.identity = identity;
        self
    }
}

impl Plugin {
    /// Checks a task's params against its action's `params_schema` (before the plugin runs).
    pub fn check_params(
        &self,
        action: &str,
        params: &serde_json::Value,
    ) -> Result<(), baton_handoff::params::ParamsError> {
        match self.params.get(action) {
            Some(c) => c.check(action, params),
            None => Ok(()),
        }
    }
}

/// Compiles each action's `params_schema` ([`baton_handoff::params::compile`]: no remote `$ref`,
/// `pattern` in linear time).
fn compile_params(
    info: &PluginInfo,
) -> Result<HashMap<String, baton_handoff::params::ParamsCheck>, baton_handoff::params::ParamsError> {
    let mut out = HashMap::new();
    for a in &info.actions {
        out.insert(a.name.clone(), baton_handoff::params::compile(&a.name, &a.params_schema)?);
    }
    Ok(out)
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("info", &self.info)
            .field("sha256", &self.sha256)
            .field("world", &self.world)
            .finish()
    }
}

/// One task as handed to a plugin.
#[derive(Debug, Clone)]
pub struct TaskInput {
    pub id: String,
    pub action: String,
    pub params: serde_json::Value,
    pub sender: String,
    pub title: String,
    pub correlation_id: Option<String>,
    /// The answers to the task's input requests so far, `{request_id: input}` (`{}` at first);
    /// only plugins built against 0.6.0 or later see them.
    pub inputs: serde_json::Value,
}

/// A question a plugin asked instead of answering (0.6.0's `needs-input`), its schema parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputRequest {
    pub request_id: String,
    pub message: String,
    pub input_schema: serde_json::Value,
}

/// A plugin's successful answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub summary: String,
    pub result: serde_json::Value,
    pub artifacts: Vec<String>,
}

/// Everything one run produced.
#[derive(Debug)]
pub struct Execution {
    pub outcome: Result<Outcome, RunError>,
    pub logs: Vec<LogLine>,
    pub follow_ups: Vec<FollowUp>,
    pub elapsed: Duration,
}

/// Why a kv write was not stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KvError {
    /// The write would take the plugin over its [`KvQuota`]; the message says which part.
    #[error("{0}")]
    Quota(String),
    /// The store failed (the state database); the task goes on.
    #[error("{0}")]
    Failed(String),
    /// The store failed for a reason on the host's side that passes by itself (the state
    /// disk full, an I/O error, a busy database): the task ends as a [`RunError::HostFault`],
    /// a pause that does not count as an attempt.
    #[error("{0}")]
    Passing(String),
}

/// A plugin's private key-value store, provided by the host's state database.
pub trait KvStore: Send + Sync {
    fn get(&self, plugin: &str, key: &str) -> Option<String>;
    /// Stores `value` unless the plugin would go over `quota` (keys, bytes).
    fn set(&self, plugin: &str, key: &str, value: &str, quota: &KvQuota) -> Result<(), KvError>;
    fn delete(&self, plugin: &str, key: &str);
}

/// A store that keeps nothing: for checking or benchmarking a plugin outside a home, where its
/// `kv-set` must not reach any state database.
pub struct NoKv;

impl KvStore for NoKv {
    fn get(&self, _: &str, _: &str) -> Option<String> {
        None
    }
    fn set(&self, _: &str, _: &str, _: &str, _: &KvQuota) -> Result<(), KvError> {
        Ok(())
    }
    fn delete(&self, _: &str, _: &str) {}
}

/// Whether a plugin name is the host's own: `baton` and `baton.*` (where the host keeps its
/// bookkeeping) are never plugin names.
pub fn is_reserved_name(name: &str) -> bool {
    name == "baton" || name.starts_with("baton.")
}

/// Owner names the catalog uses for itself: `core` owns the host-defined collections and
/// properties, `user` the person's own writes. A plugin under one of these names would own them.
pub const CATALOG_OWNER_NAMES: &[&str] = &["core", "user"];

/// Whether a name can never be a plugin's: the host's own (`baton`, `baton.*`) or an owner name
/// of the catalog ([`CATALOG_OWNER_NAMES`], in any case).
pub fn is_reserved_plugin_name(name: &str) -> bool {
    is_reserved_name(name) || CATALOG_OWNER_NAMES.iter().any(|o| o.eq_ignore_ascii_case(name))
}

/// The most a `describe()` answer may weigh (as JSON); larger ones are refused.
pub const MAX_DESCRIBE_BYTES: usize = 64 << 10;

/// Engine-wide settings.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where compiled components are cached (keyed by engine compatibility); `None` = no cache.
    pub cache_dir: Option<PathBuf>,
    /// Where cross-process named locks live.
    pub lock_dir: PathBuf,
}

/// A host interface kept in a crate of its own, as wasmtime keeps `wasmtime-wasi` apart from the
/// engine: `baton-host-fp` provides `baton:music/fingerprint` this way, so the sandbox crate
/// never links a decoder or the library database, nor binds the music WIT.
/// [`Runtime::add_host_interface`] lets it add its functions to the linker (for the frozen
/// 0.3.0 and 0.4.0 worlds, replacing the runtime's default, which refuses every call), and its
/// functions find it again in each task's store through [`StoreState::parts`] ([`Extensions::get`]).
///
/// Like `WasiView`, an interface owns its part of the configuration: the keys of a plugin's
/// `[plugins.NAME]` table it reads ([`PluginSettings::sections`]) are parsed by it, at load,
/// in [`HostInterface::configure`], and what it makes of them stays with the plugin for its
/// functions to find in the store ([`TaskContext::configured`]). The sandbox crate carries the
/// table and the result, and knows neither.
pub trait HostInterface: Any + Send + Sync {
    fn add_to_linker(linker: &mut Linker<StoreState>) -> wasmtime::Result<()>
    where
        Self: Sized;

    /// What this interface grants `plugin` from its table's `sections`, narrowed to what the
    /// plugin asked for; `None` when it has nothing to keep. An `Err` (a grant of something
    /// that does not exist) refuses the plugin, naming the key and the fix.
    fn configure(
        &self,
        plugin: &PluginInfo,
        sections: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Option<Configured>, String> {
        let _ = (plugin, sections);
        Ok(None)
    }

    /// What the plugin asks of this interface through exports of its own, read right after
    /// `describe` in the same instance (the catalog's `catalog-access`). The runtime calls it
    /// for every component and keeps the answers in [`PluginInfo::collections`]; an interface
    /// whose world has no such export keeps the default, which asks nothing. An `Err` refuses
    /// the plugin as one whose `describe` failed.
    fn requests<'a>(
        &'a self,
        plugin: Described<'a>,
        store: &'a mut Store<StoreState>,
    ) -> BoxFuture<'a, wasmtime::Result<Vec<AccessRequest>>> {
        let _ = (plugin, store);
        Box::pin(async { Ok(Vec::new()) })
    }
}

/// A future a [`HostInterface`] hook returns (the trait is used as `dyn`, so not `async fn`).
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// A component being loaded, after its `describe`: what [`HostInterface::requests`] reads.
#[derive(Clone, Copy)]
pub struct Described<'a> {
    /// The `baton:plugin` version it was built against.
    pub world: WorldVersion,
    /// Its type, for its imports (which packages it was built against).
    pub component: &'a wasmtime::component::Component,
    /// The instance `describe` ran in, for its other exports.
    pub instance: wasmtime::component::Instance,
}

/// How instances get their memory. Measured in bench/README.md (`## Plugin dispatch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Allocator {
    /// mmap per instance (wasmtime's default).
    OnDemand,
    /// Pre-reserved slots, reused across instances: cheaper instantiation, and memory is
    /// reset in place (the pages written, up to 1 MiB, set back with `memset`; the
    /// rest with `madvise`) instead of fresh mappings. Sized so every per-plugin memory cap
    /// up to [`EngineOptions::max_memory_bytes`] fits a slot.
    #[default]
    Pooling,
}

/// How many freed pooling slots are reset together (see `Runtime::engine`).
const DECOMMIT_BATCH: usize = 16;

/// How many bytes of a freed pooling slot's memory, and of each of its tables, are set back in
/// place and kept mapped rather than dropped (see `Runtime::engine`).
const KEEP_RESIDENT: usize = 1 << 20;

/// Engine-level tuning; [`Runtime::new`] uses the defaults.
#[derive(Debug, Clone, Copy)]
pub struct EngineOptions {
    pub allocator: Allocator,
    /// Largest linear memory any plugin may have: with pooling, the size of a slot. Per-task
    /// memory caps above it are clamped to it (a `Budget` can only lower it).
    pub max_memory_bytes: usize,
    /// With pooling: how many instances may be alive at once (tasks run concurrently, one
    /// component may hold several core instances).
    pub pool_instances: u32,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions { allocator: Allocator::default(), max_memory_bytes: 4 << 30, pool_instances: 1000 }
    }
}

/// The wasm engine and the loaded plugins.
pub struct Runtime {
    engine: Engine,
    linker: Linker<StoreState>,
    plugins: RwLock<HashMap<String, Arc<Plugin>>>,
    cache_dir: Option<PathBuf>,
    locks: Arc<dyn NamedLocks>,
    kv: Arc<dyn KvStore>,
    /// The [`HostInterface`]s added, shared with every task's store.
    extensions: Arc<Vec<Arc<dyn HostInterface>>>,
    /// Threads that tasks with folder grants run on (see [`Runtime::handle`]): one permit per
    /// thread, held until the thread ends, so threads abandoned in a blocked file operation
    /// are capped at [`MAX_TASK_THREADS`].
    task_threads: Arc<tokio::sync::Semaphore>,
    /// Baton's own folders, real paths: no grant may overlap them ([`Runtime::set_protected_dirs`]).
    protected: Arc<Vec<(String, PathBuf)>>,
    /// What a compile may take ([`Runtime::set_compile_limits`]).
    compile_limits: compile::CompileLimits,
    /// Advances the engine's epoch while a store exists, so that deadlines trap.
    ticker: epoch::Ticker,
}

/// At most this many threads run (or are abandoned by) tasks with folder grants at once.
pub const MAX_TASK_THREADS: usize = 32;
/// A task whose thread is still inside a host call this long after its time budget is
/// abandoned: its answer is `timeout` and the thread is left to finish (its wasm traps at
/// the epoch deadline as soon as the call returns). (Generous, so that on a loaded machine a task that is merely late to see its epoch
/// deadline still ends by itself, with its logs.)
const ABANDON_AFTER: Duration = Duration::from_secs(2);

impl Runtime {
    pub fn new(config: RuntimeConfig, kv: Arc<dyn KvStore>) -> Result<Self, RuntimeError> {
        Self::with_options(config, kv, EngineOptions::default())
    }

    pub fn with_options(
        config: RuntimeConfig,
        kv: Arc<dyn KvStore>,
        options: EngineOptions,
    ) -> Result<Self, RuntimeError> {
        let engine = match Self::engine(options) {
            Ok(e) => e,
            // The pooling allocator reserves address space up front; where that is refused
            // (a tight `ulimit -v`), fall back to on-demand rather than not starting.
            Err(e) if options.allocator == Allocator::Pooling => {
                tracing::warn!("pooling allocator unavailable ({e}); using on-demand allocation");
                Self::engine(EngineOptions { allocator: Allocator::OnDemand, ..options })?
            }
            Err(e) => return Err(e),
        };
        let ticker = epoch::Ticker::start(&engine).map_err(|e| RuntimeError::Engine(e.to_string()))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        fsguard::add_to_linker(&mut linker, StoreState::guarded_fs)
            .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        version::add_to_linker(&mut linker).map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        Ok(Runtime {
            engine,
            linker,
            plugins: RwLock::default(),
            cache_dir: config.cache_dir,
            locks: Arc::new(FileLocks::new(config.lock_dir)),
            kv,
            extensions: Arc::default(),
            task_threads: Arc::new(tokio::sync::Semaphore::new(MAX_TASK_THREADS)),
            protected: Arc::default(),
            compile_limits: compile::CompileLimits::default(),
            ticker,
        })
    }

    /// Replaces the plugins' named locks (per machine, in `lock_dir`, by default): a shared
    /// ledger makes them hold across machines. Call it before loading plugins.
    pub fn set_locks(&mut self, locks: Arc<dyn NamedLocks>) {
        self.locks = locks;
    }

    /// Adds a host interface from another crate; call it before loading plugins.
    pub fn add_host_interface<I: HostInterface>(&mut self, iface: Arc<I>) -> Result<(), RuntimeError> {
        self.linker.allow_shadowing(true);
        let added = I::add_to_linker(&mut self.linker);
        self.linker.allow_shadowing(false);
        added.map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        Arc::make_mut(&mut self.extensions).push(iface);
        Ok(())
    }

    /// `plugin` with what `baton.toml` gives it: its settings, and each host interface's
    /// reading of its table ([`HostInterface::configure`]). Refused when an interface refuses
    /// the table.
    pub fn configure(&self, mut plugin: Plugin, given: PluginSettings) -> Result<Plugin, RuntimeError> {
        let mut configured = Vec::new();
        for host in self.extensions.iter() {
            let made = host
                .configure(&plugin.info, &given.sections)
                .map_err(|reason| RuntimeError::Config { plugin: plugin.info.name.clone(), reason })?;
            configured.extend(made);
        }
        let identity = plugin.settings.identity.take().or(given.identity);
        plugin.settings = PluginSettings { identity, configured: Arc::new(configured), ..given };
        Ok(plugin)
    }

    /// Sets the memory and time a component's compile may take (`[plugins] compile_mb`,
    /// `compile_s`); call it before loading plugins.
    pub fn set_compile_limits(&mut self, limits: compile::CompileLimits) {
        self.compile_limits = limits;
    }

    /// The settings that decide the compiled code (and so the engine's compatibility hash).
    /// The allocator is not among them, so the compile worker builds its engine from these
    /// alone, without reserving the instance pool.
    fn compile_config() -> wasmtime::Config {
        let mut cfg = wasmtime::Config::new();
        cfg.epoch_interruption(true);
        cfg.wasm_component_model(true);
        cfg
    }

    /// An engine that compiles exactly as the runtime's does (for the compile worker).
    pub fn compile_engine() -> Result<Engine, RuntimeError> {
        Engine::new(&Self::compile_config()).map_err(|e| RuntimeError::Engine(format!("{e:#}")))
    }

    fn engine(options: EngineOptions) -> Result<Engine, RuntimeError> {
        let mut cfg = Self::compile_config();
        if options.allocator == Allocator::Pooling {
            let mut pool = wasmtime::PoolingAllocationConfig::default();
            pool.total_component_instances(options.pool_instances)
                .total_core_instances(options.pool_instances * 4)
                .total_memories(options.pool_instances * 2)
                .total_tables(options.pool_instances * 4)
                // Rust components have one memory and one table per core module; leave room
                // for toolchains that add a second (adapters, multi-memory).
                .max_memories_per_module(2)
                .max_tables_per_module(4)
                .max_memories_per_component(16)
                .max_tables_per_component(64)
                .max_memory_size(options.max_memory_bytes)
                .max_component_instance_size(1 << 20)
                .max_core_instance_size(1 << 20)
                .total_stacks(options.pool_instances)
                // Freed slots are reset (madvise) a batch at a time rather than one instance
                // at a time: one syscall and one TLB flush across the cores per batch, where
                // a short task paid one each. A full pool flushes the batch before it refuses.
                .decommit_batch_size(DECOMMIT_BATCH)
                // A freed slot's pages the instance wrote are set back with `memset` and stay
                // mapped (found with Linux's PAGEMAP_SCAN where the kernel has it, 6.7+),
                // instead of being dropped with `madvise`: the next instance in the slot then
                // takes no page faults there. Each such fault was a copy from the zero page
                // and a TLB flush sent to every core running one of serve's threads, ~10% of
                // `serve --once`'s time (perf, bench/README.md).
                .linear_memory_keep_resident(KEEP_RESIDENT)
                .table_keep_resident(KEEP_RESIDENT)
                .pagemap_scan(wasmtime::Enabled::Auto);
            cfg.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
        }
        Engine::new(&cfg).map_err(|e| RuntimeError::Engine(format!("{e:#}")))
    }

    /// The engine, for tools that measure or precompile.
    pub fn wasm_engine(&self) -> &Engine {
        &self.engine
    }

    /// Compiles (or loads from cache), checks against the world, and describes a component.
    /// Does not register it; see [`Runtime::insert`]. `describe()` runs with a kv store that
    /// keeps nothing, since the name is not known yet: for anything that is installed or
    /// loaded, use [`Runtime::prepare_as`].
    pub async fn prepare(&self, origin: &Path, bytes: &[u8], grants: &[Grant]) -> Result<Plugin, RuntimeError> {
        self.prepare_with(origin, bytes, grants, None).await
    }

    /// As [`Runtime::prepare`], for the plugin `name` (its file name): `describe()` runs with
    /// the real host functions under that name (its own kv namespace and locks, exactly as its
    /// tasks will), and must give that name, or the component is refused
    /// ([`RuntimeError::Identity`]). So a component cannot tell a check from a load and be
    /// someone else in one of them.
    pub async fn prepare_as(
        &self,
        origin: &Path,
        bytes: &[u8],
        grants: &[Grant],
        name: &str,
    ) -> Result<Plugin, RuntimeError> {
        self.prepare_with(origin, bytes, grants, Some(name)).await
    }

    async fn prepare_with(
        &self,
        origin: &Path,
        bytes: &[u8],
        grants: &[Grant],
        name: Option<&str>,
    ) -> Result<Plugin, RuntimeError> {
        let not_a_plugin = |reason: String| RuntimeError::NotAPlugin { path: origin.display().to_string(), reason };
        if let Some(n) = name.filter(|n| is_reserved_plugin_name(n)) {
            return Err(RuntimeError::Reserved { path: origin.display().to_string(), name: n.to_string() });
        }
        let sha256 = hex::encode(Sha256::digest(bytes));
        let component = self.component(&sha256, bytes).await.map_err(|reason| match reason {
            compile::CompileError::Invalid(why) => not_a_plugin(why),
            reason => RuntimeError::Compile { path: origin.display().to_string(), reason },
        })?;
        let world = version::detect(&self.engine, &component).map_err(|e| not_a_plugin(e.to_string()))?;
        let instance_pre = self.linker.instantiate_pre(&component).map_err(|e| {
            not_a_plugin(format!(
                "its imports do not match what baton provides (baton:plugin {}, WASI 0.2; no network): {e:#}",
                version::supported_list()
            ))
        })?;
        let pre = Pre::new(world, instance_pre).map_err(|e| {
            not_a_plugin(format!("it does not export the baton:plugin@{world} world (describe, handle): {e:#}"))
        })?;
        let describe_budget = Budget { time: Duration::from_secs(5), ..Budget::default() };
        // Each describe() is a task of its own for locks (a lock it takes is released after).
        static DESCRIBES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let seq = DESCRIBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut store = self
            .store(
                name.unwrap_or("(describe)"),
                &format!("(describe {seq})"),
                &[],
                &PluginSettings::default(),
                describe_budget,
            )
            .map_err(|e| not_a_plugin(e.to_string()))?;
        if name.is_none() {
            store.data_mut().calls.kv = Arc::new(NoKv);
        }
        let info = tokio::time::timeout(describe_budget.time, pre.describe(world, &component, &mut store))
            .await
            .map_err(|_| not_a_plugin("describe() did not return within 5 s".into()))?
            .map_err(|e| not_a_plugin(format!("describe() failed: {e:#}")))?;
        store.into_data().release_locks();
        let size = describe_size(&info);
        if size > MAX_DESCRIBE_BYTES {
            return Err(not_a_plugin(format!(
                "its describe() answer is {size} bytes, over the cap of {MAX_DESCRIBE_BYTES} bytes"
            )));
        }
        if !baton_handoff::names::is_valid_name(&info.name) {
            return Err(not_a_plugin(format!("its name {:?} is not a valid plugin name", info.name)));
        }
        if is_reserved_plugin_name(&info.name) {
            return Err(RuntimeError::Reserved { path: origin.display().to_string(), name: info.name });
        }
        if let Some(n) = name.filter(|n| *n != info.name) {
            return Err(RuntimeError::Identity {
                path: origin.display().to_string(),
                name: n.to_string(),
                claims: info.name,
            });
        }
        let params = Arc::new(compile_params(&info).map_err(|e| not_a_plugin(e.to_string()))?);
        let grants = effective_grants(&info, grants);
        let slots = Arc::new(open_grants(&grants, &self.protected));
        Ok(Plugin {
            info,
            sha256,
            grants,
            world,
            settings: PluginSettings::default(),
            params,
            slots,
            protected: self.protected.clone(),
            pre,
        })
    }

    /// The compiled component for these bytes: from the cache, else compiled (in the worker,
    /// off the async threads) and cached.
    async fn component(
        &self,
        sha256: &str,
        bytes: &[u8],
    ) -> Result<wasmtime::component::Component, compile::CompileError> {
        if let Some(c) = self.cache_dir.as_deref().and_then(|d| cache::load(&self.engine, d, sha256)) {
            return Ok(c);
        }
        let compiled = self.compile_job(sha256, bytes).await?;
        // SAFETY: produced just now by `precompile_component` of an engine with this one's
        // compile settings (baton's own worker, read from its pipe, or in process);
        // `deserialize` checks the compatibility hash.
        unsafe { wasmtime::component::Component::deserialize(&self.engine, &compiled) }
            .map_err(|e| compile::CompileError::Invalid(format!("{e:#}")))
    }

    /// Whether compiled code for `sha256` is cached (so loading it costs no compile).
    pub fn is_compiled(&self, sha256: &str) -> bool {
        self.cache_dir.as_deref().is_some_and(|d| cache::has(&self.engine, d, sha256))
    }

    /// Compiles `bytes` (whose sha256 is `sha256`) into the cache, within the compile limits,
    /// without loading it: a job that owns what it needs, so a caller can run it in the
    /// background (serve compiles a new component while the other plugins keep working).
    pub fn compile_job(
        &self,
        sha256: &str,
        bytes: &[u8],
    ) -> impl std::future::Future<Output = Result<Vec<u8>, compile::CompileError>> + Send + 'static {
        let engine = self.engine.clone();
        let dir = self.cache_dir.clone();
        let limits = self.compile_limits;
        let sha256 = sha256.to_string();
        let bytes = bytes.to_vec();
        async move {
            let compiled = tokio::task::spawn_blocking(move || {
                let span =
                    tracing::info_span!("compile", sha256 = %&sha256[..12.min(sha256.len())], bytes = bytes.len());
                let _g = span.enter();
                let code = match compile::worker_program() {
                    Some(program) => compile::in_worker(program, limits, &bytes).map(|(code, _)| code)?,
                    None => engine
                        .precompile_component(&bytes)
                        .map_err(|e| compile::CompileError::Invalid(format!("{e:#}")))?,
                };
                if let Some(dir) = &dir {
                    cache::store(&engine, dir, &sha256, &code);
                }
                Ok(code)
            })
            .await
            .map_err(|e| compile::CompileError::Worker(format!("compile thread: {e}")))??;
            Ok(compiled)
        }
    }

    /// Registers a prepared plugin under its name, replacing any older one atomically:
    /// tasks already running keep their `Arc` to the old one and finish on it.
    pub fn insert(&self, plugin: Plugin) -> Arc<Plugin> {
        let plugin = Arc::new(plugin);
        let mut map = self.plugins.write_locked();
        map.insert(plugin.info.name.clone(), plugin.clone());
        plugin
    }

    /// Unregisters a plugin; running tasks finish on their `Arc`.
    pub fn remove(&self, name: &str) -> Option<Arc<Plugin>> {
        self.plugins.write_locked().remove(name)
    }

    pub fn get(&self, name: &str) -> Option<Arc<Plugin>> {
        self.plugins.read_locked().get(name).cloned()
    }

    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<_> = self.plugins.read_locked().keys().cloned().collect();
        v.sort();
        v
    }

    /// Names baton's own folders (the home's `plugins/`, `state/`, `handoffs/`), which no grant
    /// may contain or sit inside, also when a grant folder is made again (see [`grants`]).
    /// Call it before loading plugins.
    pub fn set_protected_dirs(&mut self, dirs: Vec<(String, PathBuf)>) {
        self.protected = Arc::new(dirs.into_iter().map(|(w, p)| (w, grants::real_or_lexical(&p))).collect());
    }

    fn store(
        &self,
        plugin: &str,
        task_id: &str,
        slots: &[grants::GrantSlot],
        settings: &PluginSettings,
        budget: Budget,
    ) -> Result<Store<StoreState>, RunError> {
        // Every grant through the handle opened at load, after checking the path still leads
        // to it; a grant missing or redirected fails the task before anything runs.
        let mut dirs = Vec::with_capacity(slots.len());
        for s in slots {
            match s.current() {
                Ok(d) => dirs.push(d),
                Err(e @ grants::GrantFault::Missing { .. }) => return Err(RunError::GrantMissing(e.to_string())),
                Err(e) => return Err(RunError::GrantChanged(e.to_string())),
            }
        }
        let grants: Vec<Grant> = slots.iter().map(|s| s.grant.clone()).collect();
        let grants = &grants[..];
        let mut wasi = WasiCtx::builder();
        wasi.allow_tcp(false).allow_udp(false).allow_ip_name_lookup(false);
        // File operations run inline instead of hopping to tokio's blocking pool and back:
        // each task already has a worker of its own (concurrency is capped at the core
        // count), and the hop dominated file-heavy plugins such as `audit`.
        wasi.allow_blocking_current_thread(true);
        // What the plugin prints is kept for its author, bounded by the task's log share.
        let stdio = stdio::Capture::new(limits::log_share(budget.output_bytes));
        wasi.stdout(stdio.stream(stdio::Stream::Stdout)).stderr(stdio.stream(stdio::Stream::Stderr));
        let meter = limits::TaskMeter::new(budget.memory_bytes, budget.output_bytes);
        let meters = grants
            .iter()
            .map(|g| {
                g.writable.then(|| Arc::new(limits::DiskMeter::new(g.name.clone(), budget.disk, meter.quota.clone())))
            })
            .collect();
        let mut table = ResourceTable::new();
        table.set_max_capacity(limits::MAX_OPEN_HANDLES);
        let sandbox = host::Sandbox {
            wasi: wasi.build(),
            table,
            fs_guard: fsguard::FsGuard::new(
                guest_paths(grants),
                meters,
                grants.iter().map(|g| g.writable).collect(),
                dirs.clone(),
            ),
            stdio,
        };
        let task = host::TaskContext {
            plugin: plugin.to_string(),
            task_id: task_id.to_string(),
            grants: grants.to_vec(),
            grant_dirs: dirs,
            settings: settings.clone(),
            deadline: Instant::now() + budget.time,
        };
        let calls = host::HostCalls {
            logs: Vec::new(),
            logs_dropped: 0,
            progress: host::Progress::default(),
            follow_ups: Vec::new(),
            kv: self.kv.clone(),
            kv_quota: budget.kv,
            locks: host::TaskLocks { named: self.locks.clone(), held: Vec::new(), alarm: Arc::default() },
        };
        let state = StoreState {
            sandbox,
            task,
            meter,
            calls,
            fault: None,
            extensions: self.extensions.clone(),
            _ticking: self.ticker.hold(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.meter);
        let ticks = budget.time.as_nanos().div_ceil(epoch::TICK.as_nanos()).max(1) as u64;
        store.set_epoch_deadline(ticks);
        store.epoch_deadline_trap();
        Ok(store)
    }

    /// Runs one task in a fresh sandbox. Never panics on plugin misbehaviour: every failure
    /// becomes a [`RunError`] in the returned [`Execution`].
    pub async fn handle(&self, plugin: &Plugin, task: &TaskInput, budget: Budget) -> Execution {
        let started = Instant::now();
        if let Err(m) = plugin.check_params(&task.action, &task.params) {
            return Execution {
                outcome: Err(RunError::InvalidInput(m.to_string())),
                logs: vec![],
                follow_ups: vec![],
                elapsed: started.elapsed(),
            };
        }
        let mut store = match self.store(&plugin.info.name, &task.id, &plugin.slots, &plugin.settings, budget) {
            Ok(s) => s,
            Err(e) => {
                return Execution { outcome: Err(e), logs: vec![], follow_ups: vec![], elapsed: started.elapsed() };
            }
        };
        let limit = budget.time + epoch::TICK * 4;
        let alarm = store.data().calls.locks.alarm.clone();
        let (raw, store) = if plugin.grants.is_empty() {
            // No folder, so no file operation that could block: run here.
            let raw = tokio::time::timeout(limit, unless_lock_lost(plugin.pre.handle(&mut store, task), &alarm)).await;
            (raw, store)
        } else {
            match self.on_own_thread(plugin, task, store, limit).await {
                Ok(done) => done,
                Err(why) => {
                    let logs = vec![LogLine {
                        at: baton_handoff::stamp::rfc3339(baton_handoff::stamp::now()),
                        level: "error",
                        message: why.to_string(),
                    }];
                    return Execution {
                        outcome: Err(RunError::Timeout(budget.time)),
                        logs,
                        follow_ups: vec![],
                        elapsed: started.elapsed(),
                    };
                }
            }
        };
        let meter = &store.data().meter;
        // Whatever the plugin did after going over a quota, that is how the task ends.
        let outcome = match (meter.quota.get(), raw) {
            // A lock it held was lost while it ran: whatever it did next may have raced
            // another holder, so the task fails, to be run again.
            _ if alarm.reason().is_some() => Err(RunError::Transient(alarm.reason().unwrap_or_default())),
            (Some(what), _) => Err(RunError::QuotaExceeded(what.clone())),
            (None, Err(_)) => Err(RunError::Timeout(budget.time)),
            (None, Ok(_)) if meter.output_refused.is_some() => {
                Err(RunError::OutputTooLarge { size: meter.output_refused.unwrap_or(0), cap: budget.output_bytes })
            }
            (None, Ok(Err(e))) => Err(classify_trap(&e, budget, meter.memory_refused)),
            (None, Ok(Ok(Err(failure)))) => {
                // Stored in the RETURN, the error record and the ledger, once per attempt.
                let cut =
                    |m: String| limits::truncate(m, limits::MAX_FAILURE_MESSAGE.min(meter.output_left().max(256)));
                Err(match failure {
                    RawFailure::InvalidInput(m) => RunError::InvalidInput(cut(m)),
                    RawFailure::Transient(m) => RunError::Transient(cut(m)),
                    RawFailure::Permanent(m) => RunError::Permanent(cut(m)),
                    RawFailure::NeedsInput { request_id, message, input_schema } => {
                        needs_input(request_id, cut(message), &input_schema)
                    }
                })
            }
            (None, Ok(Ok(Ok(out)))) => {
                accept_outcome(out, budget.output_bytes, meter.output_used(), &guest_paths(&plugin.grants))
            }
        };
        let mut state = store.into_data();
        state.release_locks();
        let captured = state.sandbox.stdio.take();
        // As other failure messages: within what is left of the output cap.
        let cap = limits::MAX_FAILURE_MESSAGE.min(state.meter.output_left().max(256));
        let outcome = outcome.map_err(|e| explain_trap(e, &captured, cap));
        // A failure after a host call failed on the host's side is that fault's, not the
        // plugin's (it trapped, or reported the error it was given): a pause, not an answer.
        let outcome = match (outcome, state.fault.take()) {
            (Err(e), Some(why)) if !matches!(e, RunError::InvalidInput(_)) => Err(RunError::HostFault(why)),
            (outcome, _) => outcome,
        };
        state.keep_stdio(&captured, outcome.as_ref().map_or(0, stored_size));
        let logs = state.take_logs();
        let follow_ups = if outcome.is_ok() { state.calls.follow_ups } else { Vec::new() };
        Execution { outcome, logs, follow_ups, elapsed: started.elapsed() }
    }
}

/// A `needs-input` as the host takes it: a request id that can be named on a command line and
/// in a file name (an id's rule: `A-Z a-z 0-9 _ -`, single dots between parts, at most 128
/// bytes) and a schema that is a JSON object; anything else is the plugin's mistake, a
/// permanent failure that says which.
fn needs_input(request_id: String, message: String, input_schema: &str) -> RunError {
    if !baton_handoff::input::is_request_id(&request_id) {
        return RunError::Permanent(format!(
            "needs-input with the request id {:?}: use A-Z a-z 0-9 _ - with single dots between parts, at most 128",
            limits::truncate(request_id, 200)
        ));
    }
    match serde_json::from_str::<serde_json::Value>(input_schema) {
        Ok(schema) if schema.is_object() => {
            RunError::NeedsInput(InputRequest { request_id, message, input_schema: schema })
        }
        _ => RunError::Permanent(format!(
            "needs-input `{request_id}` with an input-schema that is not a JSON object (a JSON Schema as text)"
        )),
    }
}

type Ran = (Result<wasmtime::Result<Result<RawOutcome, RawFailure>>, tokio::time::error::Elapsed>, Store<StoreState>);

impl Runtime {
    /// Runs a task that has folder grants on a thread of its own, and stops waiting for it
    /// [`ABANDON_AFTER`] past its budget.
    ///
    /// Why: wasmtime-wasi runs file operations inline (`allow_blocking_current_thread`, which
    /// keeps file-heavy plugins fast), so a call that blocks in the kernel (an `open` waiting
    /// on a file lease, a read on a hung network or FUSE mount) holds the thread it runs on,
    /// and neither the epoch deadline nor the tokio timeout around the call can fire there.
    /// Here that thread is not a runtime worker: the task is answered `timeout` on time, the
    /// thread is abandoned, and it ends by itself when the call returns (its wasm traps at the
    /// epoch deadline). Its permit is held until then, so at most [`MAX_TASK_THREADS`] threads
    /// are ever held; a task that finds none free waits, within its own budget.
    async fn on_own_thread(
        &self,
        plugin: &Plugin,
        task: &TaskInput,
        mut store: Store<StoreState>,
        limit: Duration,
    ) -> Result<Ran, ThreadError> {
        let give_up = tokio::time::Instant::now() + limit + ABANDON_AFTER;
        let held = |s: &tokio::sync::Semaphore| MAX_TASK_THREADS - s.available_permits();
        let permit = match tokio::time::timeout_at(give_up, self.task_threads.clone().acquire_owned()).await {
            Ok(Ok(p)) => p,
            _ => {
                return Err(ThreadError::Busy { held: held(&self.task_threads) });
            }
        };
        let task_id = task.id.clone();
        let (pre, task) = (plugin.pre.clone(), task.clone());
        let rt = tokio::runtime::Handle::current();
        let span = tracing::Span::current();
        let alarm = store.data().calls.locks.alarm.clone();
        let thread = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let _span = span.enter();
            let raw = rt.block_on(tokio::time::timeout(limit, unless_lock_lost(pre.handle(&mut store, &task), &alarm)));
            (raw, store)
        });
        match tokio::time::timeout_at(give_up, thread).await {
            Ok(Ok(done)) => Ok(done),
            Ok(Err(e)) => Err(ThreadError::Failed(e)),
            Err(_) => {
                tracing::warn!(
                    held = held(&self.task_threads),
                    "a task is blocked in a host call past its time budget; its thread is abandoned"
                );
                self.locks.release_owner(&plugin.info.name, &task_id);
                Err(ThreadError::Abandoned { held: held(&self.task_threads) })
            }
        }
    }
}

/// Why a task on a thread of its own gave no answer (the task's error log line; it ends as
/// `timeout`).
#[derive(Debug, thiserror::Error)]
enum ThreadError {
    #[error(
        "the task could not start within its time budget: all {MAX_TASK_THREADS} task threads are busy or \
         still blocked in file operations of earlier tasks that timed out ({held} held)"
    )]
    Busy { held: usize },
    #[error("the task's thread failed: {0}")]
    Failed(tokio::task::JoinError),
    #[error(
        "still blocked in a file operation {} ms after the time budget ran out: the task was abandoned \
         (its thread ends when the operation returns; {held} of {MAX_TASK_THREADS} task threads held)",
        ABANDON_AFTER.as_millis()
    )]
    Abandoned { held: usize },
}

/// Runs a task until it ends or a lock it holds is lost, whichever comes first: a lost lock
/// ends it at once as a transient failure (its next attempt takes the lock again). A task in a
/// long stretch of pure computation sees the alarm at its next host call.
async fn unless_lock_lost(
    run: impl std::future::Future<Output = wasmtime::Result<Result<RawOutcome, RawFailure>>>,
    alarm: &LockAlarm,
) -> wasmtime::Result<Result<RawOutcome, RawFailure>> {
    tokio::select! {
        done = run => done,
        why = alarm.wait() => Ok(Err(RawFailure::Transient(why))),
    }
}

/// Counts bytes without keeping them: the size of the result as the RETURN will store it
/// (pretty-printed, which can be far larger than compact JSON for deeply nested values).
struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Checks a plugin's answer against what is left of its output cap (`used` went to
/// follow-ups and logs) and parses the result.
fn accept_outcome(out: RawOutcome, cap: usize, used: usize, mounts: &[String]) -> Result<Outcome, RunError> {
    let raw = out.summary.len() + out.result.len() + out.artifacts.iter().map(String::len).sum::<usize>();
    if raw + used > cap {
        return Err(RunError::OutputTooLarge { size: raw + used, cap });
    }
    for a in &out.artifacts {
        check_artifact(a, mounts)?;
    }
    let result: serde_json::Value =
        serde_json::from_str(&out.result).map_err(|e| RunError::BadResult(limits::truncate(e.to_string(), 512)))?;
    if !result.is_object() {
        return Err(RunError::BadResult(format!("got {}", type_name(&result))));
    }
    let mut stored = Counter(0);
    let _ = serde_json::to_writer_pretty(&mut stored, &result);
    let size = stored.0 + raw - out.result.len() + used;
    if size > cap {
        return Err(RunError::OutputTooLarge { size, cap });
    }
    Ok(Outcome { summary: out.summary, result, artifacts: out.artifacts })
}

/// An artifact is a guest path inside one of the task's grants (`/out/report.md`): agents read
/// the RETURN and may open what it names, so a plugin cannot point them at `../../etc/passwd`,
/// a host path or a name with control characters.
fn check_artifact(a: &str, mounts: &[String]) -> Result<(), RunError> {
    use std::path::Component;
    let p = Path::new(a);
    let inside = a.len() <= 4096
        && !a.chars().any(char::is_control)
        && p.is_absolute()
        && !p.components().any(|c| matches!(c, Component::ParentDir | Component::CurDir))
        && mounts.iter().any(|m| p.starts_with(m));
    if inside {
        return Ok(());
    }
    Err(RunError::Permanent(format!(
        "artifact {} is not a file inside the task's folder grants ({}): artifacts are guest paths such as `/<grant>/<file>`, \
         without `..`",
        limits::truncate(format!("{a:?}"), 300),
        if mounts.is_empty() { "none".to_string() } else { mounts.join(", ") }
    )))
}

/// Lines of stderr a trap's message quotes at most (the message is also cut to `cap` bytes,
/// keeping its end).
const TRAP_STDERR_LINES: usize = 30;

/// A trap says only what wasm did (`unreachable` executed); the plugin usually said why on
/// stderr just before (a Rust panic message, a Python traceback, a JavaScript error), so its
/// last lines come first in the message, which the RETURN and the ledger keep, and the trap
/// after them, once. A Rust guest's hint to set `RUST_BACKTRACE` is dropped: that variable is
/// the host's, and setting it changes nothing inside the sandbox.
fn explain_trap(e: RunError, captured: &stdio::Captured, cap: usize) -> RunError {
    let RunError::Trap(reason) = e else { return e };
    let tail: Vec<&str> = captured
        .stderr_tail(TRAP_STDERR_LINES)
        .into_iter()
        .filter(|l| !(l.contains("RUST_BACKTRACE") || l.starts_with("note: Some details are omitted")))
        .collect();
    let tail: Vec<&str> = tail.into_iter().skip_while(|l| l.trim().is_empty()).collect();
    if tail.iter().all(|l| l.trim().is_empty()) {
        return RunError::Trap(reason);
    }
    let foot = format!("\n(then the sandbox stopped it: {reason})");
    let budget = cap.saturating_sub(foot.len());
    // Keep the end: a traceback's last line names the error.
    let mut lines: Vec<&str> = Vec::new();
    let mut used = 0;
    for l in tail.iter().rev() {
        if used + l.len() + 1 > budget {
            if lines.is_empty() {
                // One line longer than the whole budget: its end.
                let mut start = l.len().saturating_sub(budget);
                while !l.is_char_boundary(start) {
                    start += 1;
                }
                lines.push(&l[start..]);
            }
            break;
        }
        used += l.len() + 1;
        lines.push(l);
    }
    lines.reverse();
    RunError::Trap(format!("{}{foot}", lines.join("\n")))
}

/// Output bytes a successful outcome will take as stored (see [`accept_outcome`]).
fn stored_size(out: &Outcome) -> usize {
    let mut c = Counter(0);
    let _ = serde_json::to_writer_pretty(&mut c, &out.result);
    c.0 + out.summary.len() + out.artifacts.iter().map(String::len).sum::<usize>()
}

/// The size of a `describe()` answer as JSON (what `inspect --json` prints).
fn describe_size(info: &PluginInfo) -> usize {
    let mut c = Counter(0);
    let _ = serde_json::to_writer(&mut c, info);
    c.0
}

fn type_name(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Sorts a wasmtime error into timeout, out-of-memory or trap. `memory_refused` says the
/// limiter turned down a grow during this call: whatever trap followed, the cause is memory.
fn classify_trap(e: &wasmtime::Error, budget: Budget, memory_refused: bool) -> RunError {
    let trap = e.downcast_ref::<wasmtime::Trap>();
    if trap == Some(&wasmtime::Trap::Interrupt) {
        return RunError::Timeout(budget.time);
    }
    if memory_refused {
        return RunError::OutOfMemory(budget.memory_bytes);
    }
    if matches!(
        e.root_cause().downcast_ref::<wasmtime::component::ResourceTableError>(),
        Some(wasmtime::component::ResourceTableError::Full)
    ) || e.chain().any(|c| c.to_string().contains("resource table has no free keys"))
    {
        return RunError::QuotaExceeded(format!(
            "more than {} open handles (files, folders, streams)",
            limits::MAX_OPEN_HANDLES
        ));
    }
    // The trap's own description ("wasm `unreachable` instruction executed" for a Rust
    // panic); the wasm backtrace is noise in a RETURN.
    let reason = match trap {
        Some(t) => t.to_string(),
        None => e.root_cause().to_string(),
    };
    RunError::Trap(limits::truncate(reason.lines().next().unwrap_or("").to_string(), limits::MAX_FAILURE_MESSAGE))
}

/// The grants a plugin actually gets: only folders it asked for, writable only when both
/// the plugin asked for writing and the user granted it.
/// Several folders may be granted under one name (e.g. `baton audit --plans A --plans B`).
fn effective_grants(info: &PluginInfo, granted: &[Grant]) -> Vec<Grant> {
    info.folders
        .iter()
        .flat_map(|req| {
            granted.iter().filter(move |g| g.name == req.name).map(move |g| Grant {
                name: g.name.clone(),
                host_path: g.host_path.clone(),
                writable: g.writable && req.writable,
            })
        })
        .collect()
}

/// Opens each grant once (see [`grants`]); one missing now is opened when it appears.
fn open_grants(grants: &[Grant], protected: &Arc<Vec<(String, PathBuf)>>) -> Vec<grants::GrantSlot> {
    grants.iter().map(|g| grants::GrantSlot::new(g.clone(), protected.clone())).collect()
}

/// Where each grant is mounted in the guest: `/<name>`, then `/<name>-2`, `/<name>-3`… for
/// further folders granted under the same name.
pub fn guest_paths(grants: &[Grant]) -> Vec<String> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    grants
        .iter()
        .map(|g| {
            let n = seen.entry(g.name.as_str()).or_default();
            *n += 1;
            if *n == 1 { format!("/{}", g.name) } else { format!("/{}-{}", g.name, n) }
        })
        .collect()
}

#[cfg(test)]
mod explain_trap_tests {
    use super::*;
    use crate::stdio::{Captured, Stream};

    fn captured(lines: &[(Stream, &str)]) -> Captured {
        Captured { lines: lines.iter().map(|(s, l)| (*s, l.to_string())).collect(), dropped_lines: 0 }
    }

    #[test]
    fn only_a_trap_quotes_stderr_and_only_stderr() {
        let c = captured(&[(Stream::Stderr, "ValueError: boom"), (Stream::Stdout, "printed")]);
        assert_eq!(explain_trap(RunError::Permanent("p".into()), &c, 4096), RunError::Permanent("p".into()));
        assert_eq!(
            explain_trap(RunError::Trap("t".into()), &captured(&[(Stream::Stdout, "x")]), 4096),
            RunError::Trap("t".into())
        );
        let RunError::Trap(m) = explain_trap(RunError::Trap("t".into()), &c, 4096) else { panic!() };
        assert_eq!(m, "ValueError: boom\n(then the sandbox stopped it: t)");
        // A Rust guest's panic: its message first, no RUST_BACKTRACE hint.
        let rust = captured(&[
            (Stream::Stderr, ""),
            (Stream::Stderr, "thread '<unnamed>' (1) panicked at src/lib.rs:1:1:"),
            (Stream::Stderr, "boom"),
            (Stream::Stderr, "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace"),
        ]);
        let RunError::Trap(m) = explain_trap(RunError::Trap("t".into()), &rust, 4096) else { panic!() };
        assert_eq!(m, "thread '<unnamed>' (1) panicked at src/lib.rs:1:1:\nboom\n(then the sandbox stopped it: t)");
    }

    #[test]
    fn the_end_is_kept_within_the_cap() {
        let lines: Vec<String> = (0..100).map(|i| format!("line {i:03} {}", "x".repeat(50))).collect();
        let c = captured(&lines.iter().map(|l| (Stream::Stderr, l.as_str())).collect::<Vec<_>>());
        let RunError::Trap(m) = explain_trap(RunError::Trap("t".into()), &c, 4096) else { panic!() };
        assert!(m.contains(&format!("{}\n(then", lines[99])), "{m}");
        assert!(m.contains("line 070") && !m.contains("line 069"), "the last 30 lines: {m}");
        let RunError::Trap(m) = explain_trap(RunError::Trap("t".into()), &c, 300) else { panic!() };
        assert!(m.len() <= 300 && m.contains(&format!("{}\n(then", lines[99])), "{} bytes: {m}", m.len());
        let long = "é".repeat(3000);
        let RunError::Trap(m) = explain_trap(RunError::Trap("t".into()), &captured(&[(Stream::Stderr, &long)]), 300)
        else {
            panic!()
        };
        assert!(m.len() <= 300 && m.contains("é\n(then"), "{m}");
    }
}
