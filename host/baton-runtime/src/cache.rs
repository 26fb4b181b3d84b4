//! The on-disk cache of compiled components, so a cold start of the host never recompiles.
//!
//! Entries are keyed by the component's sha256 and the engine's compatibility hash (which
//! changes with the wasmtime version and the compilation settings), so a stale entry is
//! simply never looked up again.
use std::hash::{Hash, Hasher};
use std::path::Path;

use wasmtime::{component::Component, Engine};

pub fn compile(engine: &Engine, dir: Option<&Path>, sha256: &str, bytes: &[u8]) -> wasmtime::Result<Component> {
    let Some(dir) = dir else { return Component::new(engine, bytes) };
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    let path = dir.join(format!("{sha256}-{:016x}.cwasm", h.finish()));
    if path.is_file() {
        // SAFETY: the file was written by `precompile_component` of an engine with the same
        // compatibility hash, into baton's own cache folder, and is never modified in place
        // (written to a temp name, then renamed).
        if let Ok(c) = unsafe { Component::deserialize_file(engine, &path) } {
            return Ok(c);
        }
    }
    let compiled = engine.precompile_component(bytes)?;
    // The cache is an optimisation: failing to write it must not fail the load.
    if std::fs::create_dir_all(dir).is_ok() {
        let tmp = dir.join(format!(".{sha256}.{}.tmp", std::process::id()));
        if std::fs::write(&tmp, &compiled).is_ok() {
            let _ = std::fs::rename(&tmp, &path);
        }
    }
    // SAFETY: the bytes were produced just now by this engine's `precompile_component`.
    unsafe { Component::deserialize(engine, &compiled) }
}
