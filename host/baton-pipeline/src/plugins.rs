//! Installed plugins: the components in `<home>/plugins/*.wasm`, loaded into the runtime
//! with the grants `baton.toml` gives them.
use std::path::{Path, PathBuf};

use baton_runtime::Runtime;

use crate::config::{Config, Paths};

/// The installed component files, sorted by name.
pub fn installed_files(paths: &Paths) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(&paths.plugins)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "wasm") && !is_hidden(p))
        .collect();
    v.sort();
    v
}

fn is_hidden(p: &Path) -> bool {
    p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'))
}

/// Loads one component file and registers it. The grants are looked up by the name the
/// plugin gives itself.
pub async fn load(runtime: &Runtime, cfg: &Config, paths: &Paths, file: &Path) -> Result<std::sync::Arc<baton_runtime::Plugin>, String> {
    let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    // The name inside decides the grants; describe first with no grants, then for real.
    let probe = runtime.prepare(file, &bytes, &[]).await.map_err(|e| e.to_string())?;
    let grants = cfg.grants(&paths.home, &probe.info.name);
    let plugin = if grants.is_empty() { probe } else { runtime.prepare(file, &bytes, &grants).await.map_err(|e| e.to_string())? };
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

/// Hot reload: loads every installed file whose content changed since it was loaded (or that
/// is new), and unregisters plugins whose file is gone. Returns the names that changed.
/// Tasks already running keep the old version (they hold an `Arc`).
pub async fn reload_changed(runtime: &Runtime, cfg: &Config, paths: &Paths) -> Vec<String> {
    let mut changed = Vec::new();
    let mut present = std::collections::HashSet::new();
    for file in installed_files(paths) {
        let Ok(bytes) = std::fs::read(&file) else { continue };
        let sha = sha256_hex(&bytes);
        let stem = file.file_stem().unwrap_or_default().to_string_lossy().into_owned();
        present.insert(stem.clone());
        if runtime.get(&stem).is_some_and(|p| p.sha256 == sha) {
            continue;
        }
        match load(runtime, cfg, paths, &file).await {
            Ok(p) => {
                tracing::info!(plugin = %p.info.name, version = %p.info.version, "plugin (re)loaded");
                changed.push(p.info.name.clone());
            }
            Err(e) => tracing::error!("not reloading: {e}"),
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
