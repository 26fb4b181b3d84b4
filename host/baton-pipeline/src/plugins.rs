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
