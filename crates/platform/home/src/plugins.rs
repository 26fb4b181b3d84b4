//! Installed plugins: the components in `<home>/plugins/<name>.wasm`, loaded into the runtime
//! with the grants `baton.toml` gives them; and their management (`baton plugin install |
//! list | inspect | remove`) and hot reload.
//!
//! The plugins folder is the source of truth: a running `baton serve` reloads whatever changed
//! in it (so `install` from another process, or a file dropped in by hand, takes effect
//! without a restart). Nothing is ever deleted: `remove` and upgrades move the old component
//! into `plugins/.removed/`, and every change is a line in `plugins/.journal.jsonl`.
//!
//! Identity: a plugin's name is its file name. Every load (start-up, hot reload, `list`,
//! `inspect`) describes the component with the real host functions under that name; it must
//! give that name, and the same version the journal recorded for its bytes. Bytes the journal
//! never saw (a file dropped in by hand) are adopted: copied into `plugins/.archive/` and
//! journaled, so that replacing them can be undone. A refused file is recorded in the ledger
//! and shown by `baton status`.
use baton_sync::Locked;
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde::Serialize;

use baton_runtime::{CompileError, Plugin, Runtime, RuntimeError};

use crate::config::{Config, Paths};
use baton_ledger::SharedLedger;

/// Why a plugin operation failed. Every message names the file and the fix.
#[derive(Debug, thiserror::Error)]
pub enum PluginsError {
    /// Not a `#[source]`: the message already says it, and anyhow's `{:#}` would repeat it.
    #[error("{path}: {error}")]
    Io { path: String, error: std::io::Error },
    #[error(
        "{path}: no such file; build the plugin first (`cargo build --release --target wasm32-wasip2`; \
         the component is target/wasm32-wasip2/release/<crate>.wasm)"
    )]
    Missing { path: String },
    #[error("{path}: {reason}")]
    Invalid { path: String, reason: String },
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("no plugin `{name}` is installed in {dir} (installed: {installed}); see `baton plugin list`")]
    NotInstalled { name: String, dir: String, installed: String },
    #[error(
        "{path}: `{name}` {new} is older than the installed {old}; pass --force to downgrade \
         (the installed one is kept in plugins/.removed/)"
    )]
    Downgrade { path: String, name: String, new: String, old: String },

    /// The same bytes described another version than the journal recorded for them.
    #[error(
        "{path}: describe() now says `{name}` is version {claims}, but these bytes were installed as {recorded} \
         (plugins/.journal.jsonl) — refused; reinstall it with `baton plugin install`"
    )]
    Record { path: String, name: String, recorded: String, claims: String },
    /// `describe()` answered differently when asked twice during one install.
    #[error(
        "{path}: describe() gave {first} the first time and {second} the second — refused: a plugin describes itself the same way every time"
    )]
    Unstable { path: String, first: String, second: String },
    /// Replacing an installed plugin with other bytes needs the user's yes. (The message names
    /// the file, both versions and sha256s, and the grants the new one would inherit.)
    #[error("{0}")]
    NeedsYes(String),
    /// The plugin's grants are laid out so that it (or another plugin) could redirect one.
    #[error("{}: {source}", config.display())]
    Layout { config: PathBuf, source: baton_runtime::grants::LayoutError },
    /// Hot reload found bytes in plugins/ that `baton plugin install` did not put there.
    #[error(
        "{path}: not loaded: {why}. A running baton only loads components installed with          `baton plugin install`; install it that way if you trust it"
    )]
    Untrusted { path: String, why: String },
}

fn io(path: &Path, error: std::io::Error) -> PluginsError {
    PluginsError::Io { path: path.display().to_string(), error }
}

/// The installed component files, sorted by name. Hidden files (temporary names of an
/// install in progress, the journal, `.removed/`) are never plugins.
pub fn installed_files(paths: &Paths) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = list_plugins(paths)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "wasm") && !is_hidden(p) && may_be_file(p))
        .collect();
    v.sort();
    v
}

/// Lists `plugins/` (with the fault tests' `plugins_list` failpoint).
fn list_plugins(paths: &Paths) -> std::io::Result<std::fs::ReadDir> {
    crate::failpoint::fault("plugins_list", "")?;
    std::fs::read_dir(&paths.plugins)
}

/// Stats an installed file (with the fault tests' `plugin_stat` failpoint, keyed by file name).
fn stat(file: &Path) -> std::io::Result<std::fs::Metadata> {
    let key = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    crate::failpoint::fault("plugin_stat", &key).and_then(|()| std::fs::metadata(file))
}

/// Whether `file` is (or may be) an installed component: a file, or a name whose `stat` failed
/// for another reason than its absence. A failed stat (EIO on a flaky disk, EACCES for a
/// while) says nothing about what is installed, so the plugin it stands for stays; only a stat
/// that finds nothing, or finds something else than a file, removes it.
fn may_be_file(file: &Path) -> bool {
    match stat(file) {
        Ok(m) => m.is_file(),
        Err(e) => e.kind() != std::io::ErrorKind::NotFound,
    }
}

/// Whether the installed file of the plugin `name` cannot be looked at for now (its stat
/// failed, not with "not found"): TASKs naming it wait rather than be told it is not installed.
pub fn unreadable(paths: &Paths, name: &str) -> Option<std::io::Error> {
    if !baton_handoff::names::is_valid_name(name) || name.starts_with('.') {
        return None;
    }
    stat(&paths.plugins.join(format!("{name}.wasm"))).err().filter(|e| e.kind() != std::io::ErrorKind::NotFound)
}

fn is_hidden(p: &Path) -> bool {
    p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'))
}

/// Checks the bytes look like a component before wasmtime does, because its errors for a
/// core module or a random file do not say what to do.
fn sniff(path: &Path, bytes: &[u8]) -> Result<(), PluginsError> {
    let invalid = |reason: &str| PluginsError::Invalid { path: path.display().to_string(), reason: reason.into() };
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(invalid(
            "not a WebAssembly file; a baton plugin is a component built with \
             `cargo build --release --target wasm32-wasip2` (see Write your own plugin in the README)",
        ));
    }
    // Bytes 4..8: version and layer. Core modules are `01 00 00 00`; components `0d 00 01 00`.
    if bytes[6..8] == [0, 0] {
        return Err(invalid(
            "a core WebAssembly module, not a component: build it for the `wasm32-wasip2` target \
             (`rustup target add wasm32-wasip2`), which produces components; wasm32-wasip1 or \
             wasm32-unknown-unknown output needs `wasm-tools component new` first",
        ));
    }
    Ok(())
}

/// The plugin name an installed file stands for: its file name without `.wasm`.
pub fn file_name_of(file: &Path) -> Result<String, PluginsError> {
    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
    if !baton_handoff::names::is_valid_name(stem) {
        return Err(PluginsError::Invalid {
            path: file.display().to_string(),
            reason: "the file name is not <plugin name>.wasm with a valid plugin name; install it with `baton plugin install`".into(),
        });
    }
    if baton_runtime::is_reserved_plugin_name(stem) {
        return Err(PluginsError::Runtime(RuntimeError::Reserved {
            path: file.display().to_string(),
            name: stem.into(),
        }));
    }
    Ok(stem.to_string())
}

/// Compiles and describes one component as the plugin `name`, with the real host functions,
/// and gives it the grants `baton.toml` has for that name. `describe()` must agree.
async fn prepare(
    runtime: &Runtime,
    cfg: &Config,
    paths: &Paths,
    file: &Path,
    bytes: &[u8],
    name: &str,
) -> Result<Plugin, PluginsError> {
    sniff(file, bytes)?;
    let grants = cfg.grants(&paths.home, name);
    let plugin = runtime.configure(runtime.prepare_as(file, bytes, &grants, name).await?, cfg.plugin_settings(name))?;
    check_layout(cfg, paths, &plugin)?;
    Ok(plugin)
}

/// Baton's own folders, which no grant may contain or sit inside (real paths compared).
pub fn protected_dirs(paths: &Paths) -> Vec<(String, PathBuf)> {
    let state_dir = paths.state.parent().unwrap_or(Path::new(".")).to_path_buf();
    vec![
        ("plugins folder".into(), paths.plugins.clone()),
        ("state folder".into(), state_dir),
        ("handoffs folder".into(), paths.handoffs.clone()),
    ]
}

/// Refuses (at load and at every reload) a plugin whose grants nest where either is writable,
/// overlap baton's own folders, or sit inside another plugin's writable grant: compared on
/// real paths, so a symlink put in place since `baton.toml` was read is caught too.
fn check_layout(cfg: &Config, paths: &Paths, plugin: &Plugin) -> Result<(), PluginsError> {
    layout_among_others(cfg, paths, &plugin.info.name, &plugin.grants)
        .map_err(|source| PluginsError::Layout { config: paths.home.join("baton.toml"), source })
}

/// The layout rule of [`check_layout`] for `name` holding the grants `own`, against every other
/// plugin's grants in `cfg` and baton's own folders; `baton plugin grant` checks an edit with it
/// before writing. The message names both paths.
pub fn layout_among_others(
    cfg: &Config,
    paths: &Paths,
    name: &str,
    own: &[baton_runtime::Grant],
) -> Result<(), baton_runtime::grants::LayoutError> {
    let others: Vec<(String, baton_runtime::Grant)> = cfg
        .plugins
        .keys()
        .filter(|n| *n != name)
        .flat_map(|n| cfg.grants(&paths.home, n).into_iter().map(move |g| (n.clone(), g)))
        .collect();
    baton_runtime::grants::check_layout(name, own, &others, &protected_dirs(paths))
}

/// What the journal says about the installed plugin `name` with these bytes.
enum Record {
    /// Installed (or adopted) with these bytes, and `describe()` still gives that version.
    Agrees,
    /// Bytes the journal has never seen under this name (dropped in by hand, or by an older
    /// baton): to adopt.
    Unknown,
    /// Recorded bytes, but in another file than the one installed (the record's device and
    /// inode differ): copied or written there since.
    Moved,
}

/// Checks a described component against its record in the journal: the same bytes must
/// describe the same version as when they were installed.
fn check_record(paths: &Paths, file: &Path, plugin: &Plugin) -> Result<Record, PluginsError> {
    let name = &plugin.info.name;
    let lines = journal_lines(paths);
    let recorded = record_line(&lines, name, &plugin.sha256);
    // Installs since the file identity was recorded name the inode they put in place.
    let moved = recorded.is_some_and(|l| {
        let ino = l["ino"].as_u64();
        ino.is_some()
            && std::fs::metadata(file)
                .map(|m| (Some(m.dev()), Some(m.ino())) != (l["dev"].as_u64(), ino))
                .unwrap_or(true)
    });
    match recorded.and_then(|l| l["version"].as_str()) {
        None => Ok(Record::Unknown),
        Some(v) if v == plugin.info.version && moved => Ok(Record::Moved),
        Some(v) if v == plugin.info.version => Ok(Record::Agrees),
        Some(v) => Err(PluginsError::Record {
            path: file.display().to_string(),
            name: name.clone(),
            recorded: v.to_string(),
            claims: plugin.info.version.clone(),
        }),
    }
}

/// The journal's latest record of `name` installed (or adopted) with the bytes `sha256`.
fn record_line<'a>(lines: &'a [serde_json::Value], name: &str, sha256: &str) -> Option<&'a serde_json::Value> {
    lines.iter().rev().find(|l| {
        l["name"].as_str() == Some(name)
            && l["sha256"].as_str() == Some(sha256)
            && l["op"] != "remove"
            && l["op"] != "install_failed"
    })
}

/// Hot reload's first check, before anything is compiled: bytes no install recorded under this
/// name could be a compile bomb dropped in by hand (or through a grant), and a compile is the
/// costliest step of a load.
fn unrecorded(paths: &Paths, file: &Path, sha256: &str) -> Option<PluginsError> {
    let name = file_name_of(file).ok()?;
    record_line(&journal_lines(paths), &name, sha256).is_none().then(|| PluginsError::Untrusted {
        path: file.display().to_string(),
        why: format!("no `baton plugin install` recorded these bytes (sha256 {})", &sha256[..12]),
    })
}

/// Whether a running host may adopt `file`, whose bytes no install recorded: a plugin copied
/// into `plugins/` by hand, under a name that nothing else has used (not loaded, never in
/// the journal), as a regular file with one link, owned by the user baton runs as. Anything
/// else (a changed copy of an installed plugin, a name that was installed before, a hard link,
/// another owner's file) waits for `baton plugin install` or a restart. A copy caught half
/// written fails to load and is looked at again when its size or time changes: it loads once
/// complete. Why this is safe beside the rule that a running host loads no bytes a plugin
/// could have written: no grant can reach `plugins/` (grants that contain or sit inside it are
/// refused, and each grant is a handle opened once), so bytes there came from the user, and a
/// compile is bounded by the compile worker's limits.
fn hand_copied_new_plugin(runtime: &Runtime, paths: &Paths, file: &Path) -> bool {
    let Ok(name) = file_name_of(file) else { return false };
    let Ok(meta) = std::fs::symlink_metadata(file) else { return false };
    meta.file_type().is_file()
        && meta.nlink() == 1
        && meta.uid() == rustix::process::geteuid().as_raw()
        && runtime.get(&name).is_none()
        && !journal_lines(paths).iter().any(|l| l["name"].as_str() == Some(name.as_str()))
}

/// Compiles running off the serve loop, by component sha256: `None` while running, then the
/// outcome (taken by the next pass).
static COMPILES: Mutex<Option<HashMap<String, Option<Result<(), baton_runtime::CompileError>>>>> = Mutex::new(None);

/// Woken when a background compile ends, so `serve` runs a pass to load it.
pub fn compiled() -> &'static tokio::sync::Notify {
    static N: std::sync::OnceLock<tokio::sync::Notify> = std::sync::OnceLock::new();
    N.get_or_init(tokio::sync::Notify::new)
}

/// Files whose bytes are compiling in the background: their stamp and sha256 then.
static COMPILING: Mutex<Option<HashMap<PathBuf, ((u64, SystemTime, u64), String)>>> = Mutex::new(None);

/// Whether `file`, unchanged since (`stamp`), is still compiling in the background.
fn still_compiling(file: &Path, stamp: (u64, SystemTime, u64)) -> bool {
    let mut files = COMPILING.locked();
    let Some((at, sha)) = files.as_ref().and_then(|f| f.get(file)).cloned() else { return false };
    let running = at == stamp && COMPILES.locked().as_ref().is_some_and(|j| matches!(j.get(&sha), Some(None)));
    if !running && let Some(f) = files.as_mut() {
        f.remove(file);
    }
    running
}

/// Where the compile of `sha256` stands for hot reload.
enum Compile {
    /// Cached: loading it costs no compile.
    Ready,
    /// In a worker, in the background; the previous version (if any) keeps serving.
    Running,
    Failed(baton_runtime::CompileError),
}

/// Starts (once) or looks up the background compile of `bytes`: a pass never waits for a
/// compile, so other plugins' tasks go on while a large component compiles.
fn compile_in_background(runtime: &Runtime, sha256: &str, bytes: &[u8]) -> Compile {
    let mut jobs = COMPILES.locked();
    let jobs = jobs.get_or_insert_with(HashMap::new);
    match jobs.get(sha256) {
        Some(None) => return Compile::Running,
        Some(Some(_)) => {
            return match jobs.remove(sha256) {
                Some(Some(Err(e))) => Compile::Failed(e),
                _ => Compile::Ready,
            };
        }
        None if runtime.is_compiled(sha256) => return Compile::Ready,
        None => {}
    }
    jobs.insert(sha256.to_string(), None);
    let job = runtime.compile_job(sha256, bytes);
    let sha = sha256.to_string();
    tokio::spawn(async move {
        let outcome = job.await.map(drop);
        if let Some(jobs) = COMPILES.locked().as_mut() {
            jobs.insert(sha, Some(outcome));
        }
        compiled().notify_one();
    });
    Compile::Running
}

/// Describes, checks and (for bytes never recorded) adopts one installed file: a copy is kept
/// in `plugins/.archive/` and a journal line (`adopted`, or `reloaded` when it replaces a
/// loaded version) says so, so every replacement can be undone.
async fn admit(
    runtime: &Runtime,
    cfg: &Config,
    paths: &Paths,
    file: &Path,
    bytes: &[u8],
    hot: bool,
) -> Result<Plugin, PluginsError> {
    let name = file_name_of(file)?;
    let plugin = prepare(runtime, cfg, paths, file, bytes, &name).await?;
    let record = check_record(paths, file, &plugin)?;
    if hot
        && !matches!(record, Record::Agrees)
        && !(matches!(record, Record::Unknown) && hand_copied_new_plugin(runtime, paths, file))
    {
        // A running host adopts only what `baton plugin install` recorded, at the recorded
        // identity, or a new plugin the user copied in (see `hand_copied_new_plugin`).
        return Err(PluginsError::Untrusted {
            path: file.display().to_string(),
            why: match record {
                Record::Moved => "its bytes match an install record, but the file is not the one installed (another inode):                                   it was copied or written there afterwards"
                    .into(),
                _ => format!("no `baton plugin install` recorded these bytes (sha256 {})", &plugin.sha256[..12]),
            },
        });
    }
    if let Record::Unknown | Record::Moved = record {
        let kept_at = keep_copy(paths, &name, &plugin.info.version, &plugin.sha256, bytes)?;
        let previous = runtime.get(&name).filter(|p| p.sha256 != plugin.sha256);
        let owner = live_identity(&journal_lines(paths), &name).unwrap_or_else(new_identity);
        journal(
            paths,
            serde_json::json!({
                "op": if previous.is_some() { "reloaded" } else { "adopted" },
                "name": name, "version": plugin.info.version, "sha256": plugin.sha256, "file": file, "kept_at": kept_at,
                "identity": owner,
                "previous": previous.map(|p| serde_json::json!({"version": p.info.version, "sha256": p.sha256})),
            }),
        )?;
        tracing::info!(plugin = %name, file = %file.display(), "adopted a component that `baton plugin install` did not record; a copy is kept in plugins/.archive/");
    }
    Ok(with_owner(paths, plugin))
}

/// The plugin with the catalog owner identity its install recorded.
fn with_owner(paths: &Paths, plugin: Plugin) -> Plugin {
    let id = live_identity(&journal_lines(paths), &plugin.info.name);
    plugin.with_owner_identity(id)
}

/// The catalog owner identity of the installed plugin `name`: set by its first
/// `baton plugin install` (or adoption), kept by every later install of that name, ended by
/// `baton plugin remove`. The catalog binds a plugin name's data to the identity that first
/// wrote it, so another component that takes the name later (after a removal) is not its owner
/// unless installed with `--adopt-data` (which rebinds the name in the catalog to it). `None`:
/// not installed. Journals from before identities give each install chain one derived from
/// its first install's sha256.
pub fn owner_identity(paths: &Paths, name: &str) -> Option<String> {
    live_identity(&journal_lines(paths), name)
}

fn live_identity(lines: &[serde_json::Value], name: &str) -> Option<String> {
    let mut current: Option<String> = None;
    for l in lines.iter().filter(|l| l["name"].as_str() == Some(name)) {
        match l["op"].as_str() {
            Some("remove") => current = None,
            Some("install_failed") | None => {}
            Some(_) => {
                let legacy = || format!("legacy-{}", l["sha256"].as_str().unwrap_or("").get(..16).unwrap_or(""));
                current = l["identity"].as_str().map(str::to_string).or(current).or_else(|| Some(legacy()));
            }
        }
    }
    current
}

/// The identity of the last install of `name` that recorded one, removed or not.
fn last_identity(lines: &[serde_json::Value], name: &str) -> Option<String> {
    lines
        .iter()
        .rev()
        .filter(|l| l["name"].as_str() == Some(name))
        .find_map(|l| l["identity"].as_str().map(str::to_string))
}

fn new_identity() -> String {
    ulid::Ulid::new().to_string().to_ascii_lowercase()
}

/// Records in the ledger why an installed file was refused (shown by `baton status`), or
/// clears it once the file loads.
fn note(ledger: &SharedLedger, file: &Path, sha256: &str, refused: Option<&str>) {
    let l = ledger.locked();
    let f = file.display().to_string();
    let name = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let r = match refused {
        Some(reason) => {
            l.refusal_set(&f, &name, sha256, reason, &baton_handoff::stamp::rfc3339(baton_handoff::stamp::now()))
        }
        None => l.refusal_clear(&f),
    };
    if let Err(e) = r {
        crate::ratelimit::warn_every("plugin-load-state", &format!("recording the plugin's load state: {e}"), &f);
    }
}

/// Loads one component file and registers it under its file name. A refusal is recorded in
/// the ledger.
pub async fn load(
    runtime: &Runtime,
    cfg: &Config,
    paths: &Paths,
    ledger: &SharedLedger,
    file: &Path,
) -> Result<Arc<Plugin>, PluginsError> {
    let bytes = std::fs::read(file).map_err(|error| PluginsError::Io { path: file.display().to_string(), error })?;
    match admit(runtime, cfg, paths, file, &bytes, false).await {
        Ok(plugin) => {
            // Every granted folder is checked at start-up: a missing one is said now, by key
            // and path, not first by a failed task.
            for g in grant_reports(cfg, paths, &plugin.info.name) {
                if let Some(w) = g.warning {
                    crate::ratelimit::warn_every(
                        &format!("grant:{}:{}", plugin.info.name, g.name),
                        &w,
                        &plugin.info.name,
                    );
                }
            }
            // The runtime hashed the bytes already: no second sha256 of the component.
            note(ledger, file, &plugin.sha256, None);
            remember(file, Some(plugin.info.name.clone()));
            Ok(runtime.insert(plugin))
        }
        Err(e) => {
            note(ledger, file, &sha256_hex(&bytes), Some(&e.to_string()));
            remember(file, None);
            Err(e)
        }
    }
}

/// Loads the installed plugin `name` unless it is loaded already: on-demand loading, for a
/// process that runs only the tasks it finds (`serve --once`, `baton run`), so that only the
/// components those tasks name are read, hashed, compiled (or taken from the cache) and
/// described. A file this process already refused, unchanged since, is not tried again; a
/// refusal is recorded in the ledger as at start-up, so the task's answer can say why.
pub async fn ensure_loaded(
    runtime: &Runtime,
    cfg: &Config,
    paths: &Paths,
    ledger: &SharedLedger,
    name: &str,
) -> Option<Arc<Plugin>> {
    if let Some(p) = runtime.get(name) {
        return Some(p);
    }
    if !baton_handoff::names::is_valid_name(name) || name.starts_with('.') {
        return None;
    }
    let file = paths.plugins.join(format!("{name}.wasm"));
    let meta = std::fs::metadata(&file).ok().filter(|m| m.is_file())?;
    if seen(&file).is_some_and(|s| s.name.is_none() && s.stamp == stamp_of(&meta)) {
        return None;
    }
    match load(runtime, cfg, paths, ledger, &file).await {
        Ok(p) => {
            tracing::debug!(plugin = %p.info.name, version = %p.info.version, "loaded on demand");
            Some(p)
        }
        Err(e) => {
            crate::ratelimit::warn_every(&format!("skip-plugin:{name}"), &format!("skipping plugin: {e}"), name);
            None
        }
    }
}

/// The names the installed files stand for (loaded or not), for messages.
pub fn installed_names(paths: &Paths) -> Vec<String> {
    installed_files(paths).iter().filter_map(|f| file_name_of(f).ok()).collect()
}

/// Loads every installed plugin; a broken or refused one is logged and skipped, never fatal.
pub async fn load_installed(runtime: &Runtime, cfg: &Config, paths: &Paths, ledger: &SharedLedger) {
    forget_missing(paths, ledger);
    for file in installed_files(paths) {
        // A component with no compiled code in the cache (a new install, another wasmtime, a
        // cleared cache) is compiled in the background: `serve` answers the other plugins at
        // once, holds this one's TASKs in the inbox, and loads it when its compile ends (as
        // at start-up: unrecorded bytes are adopted). Compiled code loads here, in a moment.
        if let Ok(bytes) = std::fs::read(&file)
            && let Ok(meta) = std::fs::metadata(&file)
            && let Ok(name) = file_name_of(&file)
        {
            let sha = sha256_hex(&bytes);
            if !runtime.is_compiled(&sha) && matches!(compile_in_background(runtime, &sha, &bytes), Compile::Running) {
                tracing::info!(plugin = %name, file = %file.display(), "compiling in the background; its TASKs wait in the inbox");
                COMPILING.locked().get_or_insert_with(HashMap::new).insert(file.clone(), (stamp_of(&meta), sha));
                DEFERRED.locked().get_or_insert_with(HashMap::new).insert(file, name);
                continue;
            }
        }
        match load(runtime, cfg, paths, ledger, &file).await {
            Ok(p) => tracing::debug!(plugin = %p.info.name, version = %p.info.version, "loaded"),
            Err(e) => tracing::error!("skipping plugin: {e}"),
        }
    }
}

/// Files whose start-up load waits for their background compile, with their plugin's name:
/// admitted as at start-up once compiled (see [`load_installed`]).
static DEFERRED: Mutex<Option<HashMap<PathBuf, String>>> = Mutex::new(None);

/// Whether `plugin`'s start-up load waits for its compile: its TASKs are held in the inbox
/// meanwhile, like a plugin paused by hand, instead of being answered `unknown_plugin`.
pub fn waiting_for_compile(plugin: &str) -> bool {
    DEFERRED.locked().as_ref().is_some_and(|d| d.values().any(|n| n == plugin))
}

/// Whether `file` was deferred at start-up (and is no longer, once this returns true).
fn take_deferred(file: &Path) -> bool {
    DEFERRED.locked().as_mut().and_then(|d| d.remove(file)).is_some()
}

fn is_deferred(file: &Path) -> bool {
    DEFERRED.locked().as_ref().is_some_and(|d| d.contains_key(file))
}

/// Drops the recorded refusals of files that are no longer installed.
pub fn forget_missing(paths: &Paths, ledger: &SharedLedger) {
    let l = ledger.locked();
    for r in l.refusals().unwrap_or_default() {
        let f = Path::new(&r.file);
        if f.parent() == Some(paths.plugins.as_path()) && !may_be_file(f) {
            let _ = l.refusal_clear(&r.file);
        }
    }
}

/// What hot reload knows about one file: its identity on disk and what it held.
#[derive(Clone)]
struct Seen {
    stamp: (u64, SystemTime, u64),
    /// The plugin it loaded as; `None` if it failed to load (retried once the file changes).
    name: Option<String>,
}

/// Per-file knowledge of this process, so an idle tick costs one `stat` per plugin instead
/// of reading and hashing every component. Keyed by full path, so several homes in one
/// process (tests) do not mix.
static SEEN: Mutex<Option<HashMap<PathBuf, Seen>>> = Mutex::new(None);

fn stamp_of(meta: &std::fs::Metadata) -> (u64, SystemTime, u64) {
    (meta.len(), meta.modified().unwrap_or(SystemTime::UNIX_EPOCH), meta.ino())
}

fn remember(file: &Path, name: Option<String>) {
    let Ok(meta) = std::fs::metadata(file) else { return };
    let mut seen = SEEN.locked();
    seen.get_or_insert_with(HashMap::new).insert(file.to_path_buf(), Seen { stamp: stamp_of(&meta), name });
}

fn seen(file: &Path) -> Option<Seen> {
    SEEN.locked().as_ref()?.get(file).cloned()
}

/// Hot reload: loads every installed file that is new or changed since it was loaded, and
/// unregisters plugins whose file is gone. Returns the names that changed.
///
/// Cheap when nothing changed (it runs on every tick): size, mtime and inode first; only a
/// file whose stamp moved is read and hashed, and only a changed hash is recompiled. Tasks
/// already running keep the old version (they hold an `Arc<Plugin>`). A changed file is
/// described again with the real host functions and must still be the plugin its file name
/// says; a refused one is recorded in the ledger, and the previous good version, if any, stays
/// loaded.
pub async fn reload_changed(runtime: &Runtime, cfg: &Config, paths: &Paths, ledger: &SharedLedger) -> Vec<String> {
    let mut changed = Vec::new();
    // A listing that fails (plugins/ unreadable for a while, an I/O error) says nothing about
    // what is installed: the loaded components stay as they are, and the next pass looks again.
    if let Err(e) = list_plugins(paths)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        crate::ratelimit::warn_every(
            "plugins:list",
            &format!("cannot list {}: {e}; the loaded plugins stay loaded", paths.plugins.display()),
            "plugins",
        );
        return changed;
    }
    let mut present = HashSet::new();
    for file in installed_files(paths) {
        let Ok(meta) = stat(&file) else {
            // Unreadable for a moment, not removed: what is loaded from it stays.
            if let Ok(n) = file_name_of(&file) {
                present.insert(n);
            }
            continue;
        };
        let stamp = stamp_of(&meta);
        let before = seen(&file);
        if let Some(s) = before.as_ref().filter(|s| s.stamp == stamp) {
            match &s.name {
                Some(n) if runtime.get(n).is_some() => {
                    present.insert(n.clone());
                    continue;
                }
                None => {
                    // Refused, unchanged: already reported. An older good version stays.
                    if let Ok(n) = file_name_of(&file) {
                        present.insert(n);
                    }
                    continue;
                }
                Some(_) => {} // unloaded meanwhile: load it again
            }
        }
        if still_compiling(&file, stamp) {
            // Unchanged since its compile started: not read and hashed again on every pass.
            if let Ok(n) = file_name_of(&file) {
                present.insert(n);
            }
            continue;
        }
        let Ok(bytes) = std::fs::read(&file) else {
            if let Ok(n) = file_name_of(&file) {
                present.insert(n);
            }
            continue;
        };
        let sha = sha256_hex(&bytes);
        let name = file_name_of(&file).ok();
        if let Some(n) = name.as_ref().filter(|n| runtime.get(n).is_some_and(|p| p.sha256 == sha)) {
            remember(&file, Some(n.clone()));
            present.insert(n.clone());
            continue;
        }
        let deferred = is_deferred(&file);
        let early = match unrecorded(paths, &file, &sha)
            .filter(|_| !deferred && !hand_copied_new_plugin(runtime, paths, &file))
        {
            Some(e) => Some(e),
            None => match compile_in_background(runtime, &sha, &bytes) {
                Compile::Ready => None,
                Compile::Running => {
                    COMPILING.locked().get_or_insert_with(HashMap::new).insert(file.clone(), (stamp, sha.clone()));
                    // Not remembered: the next pass (woken when the compile ends) looks again.
                    if let Some(n) = name {
                        present.insert(n);
                    }
                    continue;
                }
                Compile::Failed(CompileError::Invalid(reason)) => {
                    Some(PluginsError::Runtime(RuntimeError::NotAPlugin { path: file.display().to_string(), reason }))
                }
                Compile::Failed(reason) => {
                    Some(PluginsError::Runtime(RuntimeError::Compile { path: file.display().to_string(), reason }))
                }
            },
        };
        // Deferred at start-up: admitted as at start-up (its compile has ended, either way).
        let hot = !take_deferred(&file);
        let admitted = match early {
            Some(e) => Err(e),
            None => admit(runtime, cfg, paths, &file, &bytes, hot).await,
        };
        match admitted {
            Ok(p) => {
                let name = p.info.name.clone();
                tracing::info!(plugin = %name, version = %p.info.version, file = %file.display(), "plugin (re)loaded");
                note(ledger, &file, &sha, None);
                remember(&file, Some(name.clone()));
                runtime.insert(p);
                present.insert(name.clone());
                changed.push(name);
            }
            Err(e) => {
                tracing::error!("not reloading: {e}");
                note(ledger, &file, &sha, Some(&e.to_string()));
                remember(&file, None);
                // The previous good version of this file, if any, stays loaded.
                if let Some(n) = name {
                    present.insert(n);
                }
            }
        }
    }
    for name in runtime.names() {
        if !present.contains(&name) {
            runtime.remove(&name);
            tracing::info!(plugin = %name, "plugin unloaded: its file is gone");
            changed.push(name);
        }
    }
    changed
}

/// A component's sha256, as installs, the journal and `plugin list` name it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Everything `inspect` shows about one plugin.
#[derive(Debug, Clone, Serialize)]
pub struct PluginReport {
    pub name: String,
    pub version: String,
    pub description: String,
    /// The `baton:plugin` version it was built against (`0.1.x`, `0.2.x`).
    pub world: String,
    pub sha256: String,
    pub file: PathBuf,
    pub size: u64,
    pub actions: Vec<baton_runtime::ActionInfo>,
    pub folders: Vec<FolderReport>,
    /// Every folder `baton.toml` grants it, resolved (`~` expanded, absolute), each checked.
    pub grants: Vec<GrantReport>,
    /// What it asks of the host interfaces (the catalog's collections, `catalog-access`, since
    /// 0.4.0) against what `baton.toml` grants, as each interface reports it.
    pub collections: Vec<baton_runtime::AccessReport>,
    pub budget: BudgetReport,
}

/// One folder grant of `[plugins.NAME] grants`, resolved and checked.
#[derive(Debug, Clone, Serialize)]
pub struct GrantReport {
    /// Its key in `grants` (what the plugin sees it as).
    pub name: String,
    /// The absolute path it resolves to (`~` is the user's home; relative is under baton's).
    pub path: PathBuf,
    pub writable: bool,
    /// Whether the folder is there now.
    pub exists: bool,
    /// What is wrong with it (missing, not a folder), naming the key and the path.
    pub warning: Option<String>,
}

/// Checks each folder `cfg` grants `plugin`: the problems, one per grant, naming its key and
/// its resolved path. Used at load (logged as warnings) and by `plugin inspect`.
pub fn grant_reports(cfg: &Config, paths: &Paths, plugin: &str) -> Vec<GrantReport> {
    cfg.grants(&paths.home, plugin)
        .into_iter()
        .map(|g| {
            let meta = std::fs::metadata(&g.host_path);
            let warning = match &meta {
                Ok(m) if m.is_dir() => None,
                Ok(_) => Some(format!("grant `{}` of plugin `{plugin}`: {} is not a folder (change the grant in baton.toml)", g.name, g.host_path.display())),
                Err(_) => Some(format!(
                    "grant `{}` of plugin `{plugin}`: {} does not exist (create it, or change the grant in baton.toml); its tasks fail `grant_missing` until it does",
                    g.name,
                    g.host_path.display()
                )),
            };
            GrantReport { exists: meta.is_ok(), name: g.name, path: g.host_path, writable: g.writable, warning }
        })
        .collect()
}

/// A folder the plugin wants, against what `baton.toml` grants.
#[derive(Debug, Clone, Serialize)]
pub struct FolderReport {
    pub name: String,
    pub purpose: String,
    /// The plugin asked to write.
    pub wants_write: bool,
    /// Host folders granted under this name (empty: not granted; the plugin will not see it).
    pub granted: Vec<PathBuf>,
    /// `read-write`, `read-only` or `not granted`: what the plugin actually gets.
    pub access: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct BudgetReport {
    pub time_ms: u64,
    pub memory_mb: u64,
    pub output_kb: u64,
}

fn report(cfg: &Config, paths: &Paths, plugin: &Plugin, file: &Path, size: u64) -> PluginReport {
    let configured = cfg.grants(&paths.home, &plugin.info.name);
    let folders = plugin
        .info
        .folders
        .iter()
        .map(|f| {
            let granted: Vec<PathBuf> =
                configured.iter().filter(|g| g.name == f.name).map(|g| g.host_path.clone()).collect();
            let effective = plugin.grants.iter().filter(|g| g.name == f.name).collect::<Vec<_>>();
            let access = match effective.first() {
                None => "not granted",
                Some(g) if g.writable => "read-write",
                Some(_) => "read-only",
            };
            FolderReport { name: f.name.clone(), purpose: f.purpose.clone(), wants_write: f.writable, granted, access }
        })
        .collect();
    let collections = plugin.settings.configured.iter().flat_map(|c| c.report.iter().cloned()).collect();
    let b = cfg.budget(&plugin.info.name);
    PluginReport {
        collections,
        name: plugin.info.name.clone(),
        version: plugin.info.version.clone(),
        description: plugin.info.description.clone(),
        world: plugin.world.to_string(),
        sha256: plugin.sha256.clone(),
        file: file.to_path_buf(),
        size,
        actions: plugin.info.actions.clone(),
        folders,
        grants: grant_reports(cfg, paths, &plugin.info.name),
        budget: BudgetReport {
            time_ms: b.time.as_millis() as u64,
            memory_mb: (b.memory_bytes >> 20) as u64,
            output_kb: (b.output_bytes >> 10) as u64,
        },
    }
}

/// Describes a component file (installed or not) as `inspect` would.
pub async fn inspect_file(
    runtime: &Runtime,
    cfg: &Config,
    paths: &Paths,
    file: &Path,
) -> Result<PluginReport, PluginsError> {
    let bytes = std::fs::read(file).map_err(|e| io(file, e))?;
    let name = file_name_of(file)?;
    let plugin = prepare(runtime, cfg, paths, file, &bytes, &name).await?;
    check_record(paths, file, &plugin)?;
    Ok(report(cfg, paths, &plugin, file, bytes.len() as u64))
}

/// The installed file of a plugin by name.
pub fn installed_path(paths: &Paths, name: &str) -> Result<PathBuf, PluginsError> {
    let file = paths.plugins.join(format!("{name}.wasm"));
    if baton_handoff::names::is_valid_name(name) && file.is_file() {
        return Ok(file);
    }
    let installed: Vec<String> =
        installed_files(paths).iter().filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned())).collect();
    Err(PluginsError::NotInstalled {
        name: name.into(),
        dir: paths.plugins.display().to_string(),
        installed: if installed.is_empty() { "none".into() } else { installed.join(", ") },
    })
}

pub async fn inspect(runtime: &Runtime, cfg: &Config, paths: &Paths, name: &str) -> Result<PluginReport, PluginsError> {
    inspect_file(runtime, cfg, paths, &installed_path(paths, name)?).await
}

/// Every installed plugin, or why its file does not load.
pub async fn list(runtime: &Runtime, cfg: &Config, paths: &Paths) -> Vec<Result<PluginReport, PluginsError>> {
    let mut out = Vec::new();
    for file in installed_files(paths) {
        out.push(inspect_file(runtime, cfg, paths, &file).await);
    }
    out
}

/// What `install` did.
#[derive(Debug, Clone, Serialize)]
pub struct InstallReport {
    pub plugin: PluginReport,
    /// The grants `baton.toml` gives the plugin's name, which the new component inherits.
    pub grants: String,
    /// `installed`, `upgraded`, `downgraded`, `replaced` (same version, other bytes) or `unchanged`.
    pub action: &'static str,
    /// The version it replaced, and where the replaced component was moved.
    pub previous: Option<Previous>,
    /// The catalog owner identity this install is (see [`owner_identity`]).
    pub identity: Option<String>,
    /// Said when an earlier, removed install of this name owns catalog data this one does not
    /// (installed without `--adopt-data`).
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Previous {
    pub version: String,
    pub sha256: String,
    pub kept_at: PathBuf,
}

/// Compares versions by semver precedence (`0.10.0` > `0.9.1`, `0.2.0-rc1` < `0.2.0`). A
/// version that is not semver sorts below every one that is, and such versions compare as text.
fn cmp_versions(a: &str, b: &str) -> std::cmp::Ordering {
    match (semver::Version::parse(a), semver::Version::parse(b)) {
        (Ok(a), Ok(b)) => a.cmp_precedence(&b),
        (Ok(_), Err(_)) => std::cmp::Ordering::Greater,
        (Err(_), Ok(_)) => std::cmp::Ordering::Less,
        (Err(_), Err(_)) => a.cmp(b),
    }
}

#[cfg(test)]
mod tests {
    use super::cmp_versions;
    use std::cmp::Ordering::*;

    #[test]
    fn versions_compare_as_semver() {
        assert_eq!(cmp_versions("0.2.0-rc1", "0.2.0"), Less);
        assert_eq!(cmp_versions("0.10.0", "0.9.1"), Greater);
        assert_eq!(cmp_versions("1.0.0-alpha", "1.0.0-alpha.1"), Less);
        assert_eq!(cmp_versions("1.0.0+build5", "1.0.0+build9"), Equal, "build metadata has no precedence");
        assert_eq!(cmp_versions("1.0.0", "not-a-version"), Greater);
    }
}

/// `baton plugin install PATH`: checks the component against the world, describes it, and
/// stores it as `plugins/<name>.wasm` — atomically (written under a hidden temporary name,
/// synced, renamed over the old one), so a running host sees either the old or the new
/// component, never half of one; tasks in flight finish on the version they started with.
/// A replaced component is kept in `plugins/.removed/`. Each install is journaled.
///
/// The component is described twice: once to learn the name it gives itself, then as that
/// plugin with the real host functions (its kv, its locks), exactly as `serve` will; both must
/// agree. Replacing an installed plugin with other bytes needs `yes`: the new component
/// inherits the old one's grants.
pub async fn install(
    runtime: &Runtime,
    cfg: &Config,
    paths: &Paths,
    src: &Path,
    opts: InstallOptions,
) -> Result<InstallReport, PluginsError> {
    let bytes = std::fs::read(src).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => PluginsError::Missing { path: src.display().to_string() },
        _ => io(src, e),
    })?;
    install_bytes(runtime, cfg, paths, src, &bytes, opts).await
}

/// What `baton plugin install` may do beyond a first install.
#[derive(Debug, Clone, Copy, Default)]
pub struct InstallOptions {
    /// Install an older version over a newer one.
    pub force: bool,
    /// Replace an installed plugin with other bytes (it inherits the old one's grants).
    pub yes: bool,
}

/// As [`install`], for component bytes that come from `src` (a file, or a label such as
/// `<bundled>/echo.wasm` for the plugins `baton init` installs): every install is checked,
/// archived and journaled the same way.
pub async fn install_bytes(
    runtime: &Runtime,
    cfg: &Config,
    paths: &Paths,
    src: &Path,
    bytes: &[u8],
    opts: InstallOptions,
) -> Result<InstallReport, PluginsError> {
    let InstallOptions { force, yes } = opts;
    sniff(src, bytes)?;
    let probe = runtime.prepare(src, bytes, &[]).await?;
    let name = probe.info.name.clone();
    let plugin = prepare(runtime, cfg, paths, src, bytes, &name).await?;
    if plugin.info != probe.info {
        return Err(PluginsError::Unstable {
            path: src.display().to_string(),
            first: format!("`{}` {}", probe.info.name, probe.info.version),
            second: format!("`{}` {}", plugin.info.name, plugin.info.version),
        });
    }
    let dest = paths.plugins.join(format!("{name}.wasm"));
    baton_fs::ensure_dir(&paths.plugins).map_err(|e| io(&paths.plugins, e))?;

    let mut action = "installed";
    let mut previous = None;
    if let Ok(old_bytes) = std::fs::read(&dest) {
        let old_sha = sha256_hex(&old_bytes);
        if old_sha == plugin.sha256 {
            let r = report(cfg, paths, &plugin, &dest, bytes.len() as u64);
            let grants = describe_grants(&cfg.grants(&paths.home, &name));
            let identity = owner_identity(paths, &name);
            return Ok(InstallReport { plugin: r, grants, action: "unchanged", previous: None, identity, note: None });
        }
        let old_version = match prepare(runtime, cfg, paths, &dest, &old_bytes, &name).await {
            Ok(old) => old.info.version,
            Err(_) => "unknown (does not load)".into(),
        };
        let order = cmp_versions(&plugin.info.version, &old_version);
        if order.is_lt() && !old_version.starts_with("unknown") {
            if !force {
                return Err(PluginsError::Downgrade {
                    path: src.display().to_string(),
                    name,
                    new: plugin.info.version.clone(),
                    old: old_version,
                });
            }
            action = "downgraded";
        } else if order.is_gt() {
            action = "upgraded";
        } else {
            action = "replaced";
        }
        if !yes {
            return Err(PluginsError::NeedsYes(format!(
                "{}: this replaces the installed `{name}` {old_version} (sha256 {}) with {} (sha256 {}), \
                 which inherits the grants of [plugins.{name}] in baton.toml: {}. Nothing was changed; \
                 re-run with --yes to replace it (the old one is kept in plugins/.removed/)",
                src.display(),
                &old_sha[..12.min(old_sha.len())],
                plugin.info.version,
                &plugin.sha256[..12],
                describe_grants(&cfg.grants(&paths.home, &name)),
            )));
        }
        // Keep the old component: hard link it aside before the new one is renamed over it.
        let kept_at = keep_aside(paths, &dest, &name, &old_version, &old_sha, false)?;
        previous = Some(Previous { version: old_version, sha256: old_sha, kept_at });
    }

    // The catalog owner this install is (see `owner_identity`): the installed one's, else a
    // new one. A name installed before and removed is said, since that install's catalog data
    // is not this one's (`baton plugin install --adopt-data` hands it over).
    let lines = journal_lines(paths);
    let live = live_identity(&lines, &name);
    let note = live.is_none().then(|| last_identity(&lines, &name)).flatten().map(|id| {
        format!(
            "an earlier `{name}` (install {id}) was removed; the catalog data it wrote stays its own and this \
             install cannot change it, unless installed with --adopt-data"
        )
    });
    let owner = live.unwrap_or_else(new_identity);
    let tmp = paths.plugins.join(format!(".{name}.wasm.installing-{}", std::process::id()));
    let identity = {
        let mut f = std::fs::File::create(&tmp).map_err(|e| io(&tmp, e))?;
        f.write_all(bytes).and_then(|_| f.sync_all()).map_err(|e| io(&tmp, e))?;
        f.metadata().map(|m| (m.dev(), m.ino())).map_err(|e| io(&tmp, e))?
    };
    // A copy of every installed component stays in plugins/.archive/, so whatever replaces it
    // later (another install, a file dropped in by hand) can be undone.
    let archived = keep_copy(paths, &name, &plugin.info.version, &plugin.sha256, bytes)?;
    // Journaled before the rename, so a running host that sees the new file finds its record
    // (and does not adopt it as unknown bytes).
    journal(
        paths,
        serde_json::json!({
            "op": action, "name": name, "version": plugin.info.version, "sha256": plugin.sha256,
            "identity": owner,
            "from": src, "file": dest, "archived": archived, "dev": identity.0, "ino": identity.1,
            "previous": previous.as_ref().map(|p| serde_json::json!({"version": p.version, "sha256": p.sha256, "kept_at": p.kept_at})),
        }),
    )?;
    if let Err(e) = std::fs::rename(&tmp, &dest) {
        let _ = std::fs::remove_file(&tmp);
        let _ = journal(
            paths,
            serde_json::json!({"op": "install_failed", "name": name, "sha256": plugin.sha256, "error": e.to_string()}),
        );
        return Err(io(&dest, e));
    }
    baton_fs::sync_dir(&paths.plugins).map_err(|e| io(&paths.plugins, e))?;
    let r = report(cfg, paths, &plugin, &dest, bytes.len() as u64);
    let grants = describe_grants(&cfg.grants(&paths.home, &name));
    Ok(InstallReport { plugin: r, grants, action, previous, identity: Some(owner), note })
}

/// What `remove` did.
#[derive(Debug, Clone, Serialize)]
pub struct RemoveReport {
    pub name: String,
    pub version: String,
    pub sha256: String,
    pub moved_to: PathBuf,
}

/// `baton plugin remove NAME`: moves the component into `plugins/.removed/` (never deletes
/// it) and journals it. A running host unloads it on its next tick.
pub async fn remove(runtime: &Runtime, cfg: &Config, paths: &Paths, name: &str) -> Result<RemoveReport, PluginsError> {
    let file = installed_path(paths, name)?;
    let bytes = std::fs::read(&file).map_err(|e| io(&file, e))?;
    let sha = sha256_hex(&bytes);
    let version = match prepare(runtime, cfg, paths, &file, &bytes, name).await {
        Ok(p) => p.info.version,
        Err(_) => "unknown".into(),
    };
    let moved_to = keep_aside(paths, &file, name, &version, &sha, true)?;
    baton_fs::sync_dir(&paths.plugins).map_err(|e| io(&paths.plugins, e))?;
    journal(
        paths,
        serde_json::json!({"op": "remove", "name": name, "version": version, "sha256": sha, "file": file, "moved_to": moved_to}),
    )?;
    Ok(RemoveReport { name: name.into(), version, sha256: sha, moved_to })
}

/// Puts a component into `plugins/.removed/<name>-<version>-<sha12>.wasm` (numbered if taken):
/// moved for a removal, hard-linked (copied across devices) for an upgrade, so the installed
/// name never disappears while the new one is put in place.
fn keep_aside(
    paths: &Paths,
    file: &Path,
    name: &str,
    version: &str,
    sha: &str,
    mv: bool,
) -> Result<PathBuf, PluginsError> {
    let dir = paths.plugins.join(".removed");
    baton_fs::ensure_dir(&dir).map_err(|e| io(&dir, e))?;
    let safe_version: String =
        version.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '_' }).collect();
    let target = std::ffi::OsString::from(format!("{name}-{safe_version}-{}.wasm", &sha[..12.min(sha.len())]));
    let moved = if mv { baton_fs::move_into(file, &dir, &target) } else { link_into(file, &dir, &target) };
    let to = moved.map_err(|e| io(file, e))?;
    baton_fs::sync_dir(&dir).map_err(|e| io(&dir, e))?;
    Ok(to)
}

/// Keeps a copy of a component being adopted in `plugins/.archive/` (unless the same bytes
/// are there already), so that replacing it later can be undone even when it is overwritten
/// in place.
fn keep_copy(paths: &Paths, name: &str, version: &str, sha: &str, bytes: &[u8]) -> Result<PathBuf, PluginsError> {
    let dir = paths.plugins.join(".archive");
    baton_fs::ensure_dir(&dir).map_err(|e| io(&dir, e))?;
    let safe_version: String =
        version.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '_' }).collect();
    let target = std::ffi::OsString::from(format!("{name}-{safe_version}-{}.wasm", &sha[..12.min(sha.len())]));
    let to = baton_fs::numbered_slot(&target, |n| {
        let to = dir.join(n);
        if std::fs::read(&to).is_ok_and(|b| b == bytes) {
            return Ok(Some(to));
        }
        Ok(baton_fs::create_new(&to, bytes, true)?.then_some(to))
    })
    .map_err(|e| io(&dir, e))?;
    baton_fs::sync_dir(&dir).map_err(|e| io(&dir, e))?;
    Ok(to)
}

/// `data → /path (read-only), …`: the grants `baton.toml` gives a name, for messages.
pub fn describe_grants(grants: &[baton_runtime::Grant]) -> String {
    if grants.is_empty() {
        return "none".into();
    }
    grants
        .iter()
        .map(|g| {
            format!("{} → {} ({})", g.name, g.host_path.display(), if g.writable { "writable" } else { "read-only" })
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn link_into(from: &Path, dir: &Path, name: &std::ffi::OsStr) -> std::io::Result<PathBuf> {
    baton_fs::numbered_slot(name, |n| {
        let to = dir.join(n);
        match std::fs::hard_link(from, &to) {
            Ok(()) => Ok(Some(to)),
            // Same bytes kept already (the same version installed twice): nothing to add.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Ok((std::fs::read(&to).ok() == std::fs::read(from).ok()).then_some(to))
            }
            Err(_) => {
                // Another file system (or no hard links): copy without overwriting.
                let bytes = std::fs::read(from)?;
                Ok(baton_fs::create_new(&to, &bytes, true)?.then_some(to))
            }
        }
    })
}

/// Appends one line to `plugins/.journal.jsonl`, synced: the record of every install,
/// upgrade and removal.
/// Journals that install `identity` of `name` took over the catalog data `previous` owned
/// (`baton plugin install --adopt-data`).
pub fn journal_adoption(paths: &Paths, name: &str, identity: &str, previous: Option<&str>) -> Result<(), PluginsError> {
    journal(
        paths,
        serde_json::json!({"op": "adopt_data", "name": name, "identity": identity, "previous_owner": previous}),
    )
}

fn journal(paths: &Paths, mut line: serde_json::Value) -> Result<(), PluginsError> {
    let path = paths.plugins.join(".journal.jsonl");
    if let Some(o) = line.as_object_mut() {
        o.insert("at".into(), baton_handoff::stamp::rfc3339(baton_handoff::stamp::now()).into());
    }
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&path).map_err(|e| io(&path, e))?;
    let mut text = line.to_string();
    text.push('\n');
    f.write_all(text.as_bytes()).and_then(|_| f.sync_data()).map_err(|e| io(&path, e))
}

/// The journal, oldest first.
pub fn journal_lines(paths: &Paths) -> Vec<serde_json::Value> {
    std::fs::read_to_string(paths.plugins.join(".journal.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The `baton.toml` lines that would grant the folders a plugin wants and does not have.
pub fn grant_hint(cfg: &Config, report: &PluginReport) -> Option<String> {
    let missing: Vec<&FolderReport> = report.folders.iter().filter(|f| f.granted.is_empty()).collect();
    if missing.is_empty() {
        return None;
    }
    let entries: Vec<String> = missing
        .iter()
        .map(|f| {
            if f.wants_write {
                format!("{} = {{ path = \"{}\", writable = true }}", f.name, f.name)
            } else {
                format!("{} = \"{}\"", f.name, f.name)
            }
        })
        .collect();
    let verb = if cfg.plugins.contains_key(&report.name) { "add to the grants of" } else { "add to baton.toml" };
    Some(format!("{verb} [plugins.{}]: grants = {{ {} }}", report.name, entries.join(", ")))
}
