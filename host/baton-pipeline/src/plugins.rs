//! Installed plugins: the components in `<home>/plugins/<name>.wasm`, loaded into the runtime
//! with the grants `baton.toml` gives them; and their management (`baton plugin install |
//! list | inspect | remove`) and hot reload.
//!
//! The plugins folder is the source of truth: a running `baton serve` reloads whatever changed
//! in it (so `install` from another process, or a file dropped in by hand, takes effect
//! without a restart). Nothing is ever deleted: `remove` and upgrades move the old component
//! into `plugins/.removed/`, and every change is a line in `plugins/.journal.jsonl`.
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde::Serialize;

use baton_runtime::{Plugin, Runtime, RuntimeError};

use crate::config::{Config, Paths};
use crate::fsops;

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
}

fn io(path: &Path, error: std::io::Error) -> PluginsError {
    PluginsError::Io { path: path.display().to_string(), error }
}

/// The installed component files, sorted by name. Hidden files (temporary names of an
/// install in progress, the journal, `.removed/`) are never plugins.
pub fn installed_files(paths: &Paths) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(&paths.plugins)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "wasm") && !is_hidden(p) && p.is_file())
        .collect();
    v.sort();
    v
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

/// Compiles and describes one component and gives it the grants `baton.toml` has for the
/// name it gives itself.
async fn prepare(runtime: &Runtime, cfg: &Config, paths: &Paths, file: &Path, bytes: &[u8]) -> Result<Plugin, PluginsError> {
    sniff(file, bytes)?;
    let probe = runtime.prepare(file, bytes, &[]).await?;
    let grants = cfg.grants(&paths.home, &probe.info.name);
    Ok(probe.with_grants(&grants))
}

/// Loads one component file and registers it.
pub async fn load(runtime: &Runtime, cfg: &Config, paths: &Paths, file: &Path) -> Result<Arc<Plugin>, String> {
    let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let plugin = prepare(runtime, cfg, paths, file, &bytes).await.map_err(|e| e.to_string())?;
    remember(file, &plugin.sha256, Some(plugin.info.name.clone()));
    Ok(runtime.insert(plugin))
}

/// Loads every installed plugin; a broken one is logged and skipped, never fatal.
pub async fn load_installed(runtime: &Runtime, cfg: &Config, paths: &Paths) {
    for file in installed_files(paths) {
        match load(runtime, cfg, paths, &file).await {
            Ok(p) => tracing::debug!(plugin = %p.info.name, version = %p.info.version, "loaded"),
            Err(e) => tracing::error!("skipping plugin: {e}"),
        }
    }
}

/// What hot reload knows about one file: its identity on disk and what it held.
#[derive(Clone)]
struct Seen {
    stamp: (u64, SystemTime, u64),
    sha256: String,
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

fn remember(file: &Path, sha256: &str, name: Option<String>) {
    let Ok(meta) = std::fs::metadata(file) else { return };
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    seen.get_or_insert_with(HashMap::new)
        .insert(file.to_path_buf(), Seen { stamp: stamp_of(&meta), sha256: sha256.into(), name });
}

fn seen(file: &Path) -> Option<Seen> {
    SEEN.lock().unwrap_or_else(|e| e.into_inner()).as_ref()?.get(file).cloned()
}

/// Hot reload: loads every installed file that is new or changed since it was loaded, and
/// unregisters plugins whose file is gone. Returns the names that changed.
///
/// Cheap when nothing changed (it runs on every tick): size, mtime and inode first; only a
/// file whose stamp moved is read and hashed, and only a changed hash is recompiled. Tasks
/// already running keep the old version (they hold an `Arc<Plugin>`).
pub async fn reload_changed(runtime: &Runtime, cfg: &Config, paths: &Paths) -> Vec<String> {
    let mut changed = Vec::new();
    let mut present = HashSet::new();
    for file in installed_files(paths) {
        let Ok(meta) = std::fs::metadata(&file) else { continue };
        let stamp = stamp_of(&meta);
        let before = seen(&file);
        if let Some(s) = before.as_ref().filter(|s| s.stamp == stamp) {
            match &s.name {
                // Unchanged. (If another file claims the same plugin name, whichever loaded
                // last stays: never flip-flop between them on every tick.)
                Some(n) if runtime.get(n).is_some() => {
                    present.insert(n.clone());
                    continue;
                }
                None => continue, // broken, unchanged: already reported
                Some(_) => {}     // unloaded meanwhile: load it again
            }
        }
        let Ok(bytes) = std::fs::read(&file) else { continue };
        let sha = sha256_hex(&bytes);
        let known = before.as_ref().filter(|s| s.sha256 == sha).and_then(|s| s.name.clone()).or_else(|| {
            // First look of this process (plugins loaded at start-up): the file stem.
            let stem = file.file_stem()?.to_str()?.to_string();
            runtime.get(&stem).is_some_and(|p| p.sha256 == sha).then_some(stem)
        });
        if let Some(name) = known.filter(|n| runtime.get(n).is_some_and(|p| p.sha256 == sha)) {
            remember(&file, &sha, Some(name.clone()));
            present.insert(name);
            continue;
        }
        match prepare(runtime, cfg, paths, &file, &bytes).await {
            Ok(p) => {
                let name = p.info.name.clone();
                if file.file_stem().and_then(|s| s.to_str()) != Some(name.as_str()) {
                    tracing::warn!(file = %file.display(), plugin = %name, "the file name is not <plugin name>.wasm; `baton plugin install` it instead");
                }
                tracing::info!(plugin = %name, version = %p.info.version, file = %file.display(), "plugin (re)loaded");
                remember(&file, &p.sha256, Some(name.clone()));
                runtime.insert(p);
                present.insert(name.clone());
                changed.push(name);
            }
            Err(e) => {
                tracing::error!("not reloading: {e}");
                remember(&file, &sha, None);
                // The previous good version of this file, if any, stays loaded.
                if let Some(n) = before.and_then(|s| s.name) {
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

fn sha256_hex(bytes: &[u8]) -> String {
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
    pub budget: BudgetReport,
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
    let b = cfg.budget(&plugin.info.name);
    PluginReport {
        name: plugin.info.name.clone(),
        version: plugin.info.version.clone(),
        description: plugin.info.description.clone(),
        world: plugin.world.to_string(),
        sha256: plugin.sha256.clone(),
        file: file.to_path_buf(),
        size,
        actions: plugin.info.actions.clone(),
        folders,
        budget: BudgetReport {
            time_ms: b.time.as_millis() as u64,
            memory_mb: (b.memory_bytes >> 20) as u64,
            output_kb: (b.output_bytes >> 10) as u64,
        },
    }
}

/// Describes a component file (installed or not) as `inspect` would.
pub async fn inspect_file(runtime: &Runtime, cfg: &Config, paths: &Paths, file: &Path) -> Result<PluginReport, PluginsError> {
    let bytes = std::fs::read(file).map_err(|e| io(file, e))?;
    let plugin = prepare(runtime, cfg, paths, file, &bytes).await?;
    Ok(report(cfg, paths, &plugin, file, bytes.len() as u64))
}

/// The installed file of a plugin by name.
pub fn installed_path(paths: &Paths, name: &str) -> Result<PathBuf, PluginsError> {
    let file = paths.plugins.join(format!("{name}.wasm"));
    if baton_handoff::names::is_valid_name(name) && file.is_file() {
        return Ok(file);
    }
    let installed: Vec<String> = installed_files(paths)
        .iter()
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
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
    /// `installed`, `upgraded`, `downgraded`, `replaced` (same version, other bytes) or `unchanged`.
    pub action: &'static str,
    /// The version it replaced, and where the replaced component was moved.
    pub previous: Option<Previous>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Previous {
    pub version: String,
    pub sha256: String,
    pub kept_at: PathBuf,
}

/// Compares dotted versions numerically (`0.10.0` > `0.9.1`); non-numeric parts compare as text.
fn cmp_versions(a: &str, b: &str) -> std::cmp::Ordering {
    let parts = |v: &str| -> Vec<(u64, String)> {
        v.split(['.', '-', '+']).map(|p| (p.parse::<u64>().unwrap_or(0), p.to_string())).collect()
    };
    parts(a).cmp(&parts(b))
}

/// `baton plugin install PATH`: checks the component against the world, describes it, and
/// stores it as `plugins/<name>.wasm` — atomically (written under a hidden temporary name,
/// synced, renamed over the old one), so a running host sees either the old or the new
/// component, never half of one; tasks in flight finish on the version they started with.
/// A replaced component is kept in `plugins/.removed/`. Each install is journaled.
pub async fn install(runtime: &Runtime, cfg: &Config, paths: &Paths, src: &Path, force: bool) -> Result<InstallReport, PluginsError> {
    let bytes = std::fs::read(src).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => PluginsError::Missing { path: src.display().to_string() },
        _ => io(src, e),
    })?;
    let plugin = prepare(runtime, cfg, paths, src, &bytes).await?;
    let name = plugin.info.name.clone();
    let dest = paths.plugins.join(format!("{name}.wasm"));
    std::fs::create_dir_all(&paths.plugins).map_err(|e| io(&paths.plugins, e))?;

    let mut action = "installed";
    let mut previous = None;
    if let Ok(old_bytes) = std::fs::read(&dest) {
        let old_sha = sha256_hex(&old_bytes);
        if old_sha == plugin.sha256 {
            let r = report(cfg, paths, &plugin, &dest, bytes.len() as u64);
            return Ok(InstallReport { plugin: r, action: "unchanged", previous: None });
        }
        let old_version = match prepare(runtime, cfg, paths, &dest, &old_bytes).await {
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
        // Keep the old component: hard link it aside before the new one is renamed over it.
        let kept_at = keep_aside(paths, &dest, &name, &old_version, &old_sha, false)?;
        previous = Some(Previous { version: old_version, sha256: old_sha, kept_at });
    }

    let tmp = paths.plugins.join(format!(".{name}.wasm.installing-{}", std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp).map_err(|e| io(&tmp, e))?;
        f.write_all(&bytes).and_then(|_| f.sync_all()).map_err(|e| io(&tmp, e))?;
    }
    if let Err(e) = std::fs::rename(&tmp, &dest) {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(&dest, e));
    }
    fsops::sync_dir(&paths.plugins).map_err(|e| io(&paths.plugins, e))?;
    journal(paths, serde_json::json!({
        "op": action, "name": name, "version": plugin.info.version, "sha256": plugin.sha256,
        "from": src, "file": dest,
        "previous": previous.as_ref().map(|p| serde_json::json!({"version": p.version, "sha256": p.sha256, "kept_at": p.kept_at})),
    }))?;
    let r = report(cfg, paths, &plugin, &dest, bytes.len() as u64);
    Ok(InstallReport { plugin: r, action, previous })
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
    let version = match prepare(runtime, cfg, paths, &file, &bytes).await {
        Ok(p) => p.info.version,
        Err(_) => "unknown".into(),
    };
    let moved_to = keep_aside(paths, &file, name, &version, &sha, true)?;
    fsops::sync_dir(&paths.plugins).map_err(|e| io(&paths.plugins, e))?;
    journal(paths, serde_json::json!({"op": "remove", "name": name, "version": version, "sha256": sha, "file": file, "moved_to": moved_to}))?;
    Ok(RemoveReport { name: name.into(), version, sha256: sha, moved_to })
}

/// Puts a component into `plugins/.removed/<name>-<version>-<sha12>.wasm` (numbered if taken):
/// moved for a removal, hard-linked (copied across devices) for an upgrade, so the installed
/// name never disappears while the new one is put in place.
fn keep_aside(paths: &Paths, file: &Path, name: &str, version: &str, sha: &str, mv: bool) -> Result<PathBuf, PluginsError> {
    let dir = paths.plugins.join(".removed");
    std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
    let safe_version: String = version.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '_' }).collect();
    let target = std::ffi::OsString::from(format!("{name}-{safe_version}-{}.wasm", &sha[..12.min(sha.len())]));
    let moved = if mv {
        fsops::move_into(file, &dir, &target)
    } else {
        link_into(file, &dir, &target)
    };
    let to = moved.map_err(|e| io(file, e))?;
    fsops::sync_dir(&dir).map_err(|e| io(&dir, e))?;
    Ok(to)
}

fn link_into(from: &Path, dir: &Path, name: &std::ffi::OsStr) -> std::io::Result<PathBuf> {
    crate::outbox::numbered_slot(name, |n| {
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
                Ok(fsops::create_new(&to, &bytes, true)?.then_some(to))
            }
        }
    })
}

/// Appends one line to `plugins/.journal.jsonl`, synced: the record of every install,
/// upgrade and removal.
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
