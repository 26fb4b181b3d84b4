//! The on-disk cache of compiled components, so a cold start of the host never recompiles.
//!
//! The cache keeps compiled code only (never the component's bytes). Entries are keyed by the component's sha256 and the engine's compatibility hash (which
//! changes with the wasmtime version and the compilation settings), so a stale entry is
//! simply never looked up again.
//!
//! A `.cwasm` entry is native code, loaded with an unsafe deserialize: whoever can write it
//! can run code in the host. So baton records an HMAC-SHA256 of every entry it writes (in
//! `<entry>.mac`, keyed by a random secret in the cache folder's `cache.key`, mode 0600; the
//! cache is shared by every home of the user, so the key is too, and no grant may overlap it), and checks it on the bytes in memory before deserializing
//! them. An entry without a matching tag is recompiled and rewritten, never loaded.
use std::hash::{Hash, Hasher};
use std::io::Read;
use std::path::{Path, PathBuf};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use wasmtime::{Engine, component::Component};

/// Where a component came from, for tests.
#[cfg(test)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Cache,
    Compiled,
}

/// The cache's secret: created on first use (32 random bytes, 0600), never leaves the disk.
fn key(dir: &Path) -> Option<Vec<u8>> {
    let path = dir.join("cache.key");
    if let Ok(k) = std::fs::read(&path)
        && k.len() == 32
    {
        return Some(k);
    }
    let mut k = vec![0u8; 32];
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut k)).ok()?;
    baton_fs::ensure_dir(path.parent()?).ok()?;
    let tmp = path.with_extension(format!("key.{}.tmp", std::process::id()));
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp).ok()?;
        f.write_all(&k).and_then(|_| f.sync_all()).ok()?;
    }
    // Another process may have made one meanwhile: theirs wins (hard link fails if it exists).
    let linked = std::fs::hard_link(&tmp, &path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Some(k),
        Err(_) => std::fs::read(&path).ok().filter(|k| k.len() == 32),
    }
}

fn tag(key: &[u8], bytes: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(bytes);
    mac.finalize().into_bytes().to_vec()
}

fn verified(key: &[u8], entry: &Path) -> Option<Vec<u8>> {
    let bytes = std::fs::read(entry).ok()?;
    let recorded = hex::decode(std::fs::read_to_string(mac_path(entry)).ok()?.trim()).ok()?;
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).ok()?;
    mac.update(&bytes);
    mac.verify_slice(&recorded).ok()?;
    Some(bytes)
}

fn mac_path(entry: &Path) -> PathBuf {
    let mut p = entry.as_os_str().to_owned();
    p.push(".mac");
    PathBuf::from(p)
}

/// The entry for these bytes under this engine: the compatibility hash changes with the
/// wasmtime version and the compilation settings, so an entry from another engine is never
/// looked up.
fn entry(engine: &Engine, dir: &Path, sha256: &str) -> PathBuf {
    dir.join(format!("{sha256}-{}.cwasm", engine_tag(engine)))
}

/// The part of an entry's name that says which engine compiled it.
fn engine_tag(engine: &Engine) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    format!("{:016x}", h.finish())
}

/// One compiled component in the cache, as `baton cache` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Entry {
    pub path: PathBuf,
    /// The component's sha256 (the installed plugin's, `plugin list` shows it).
    pub sha256: String,
    /// Compiled by this build's engine: entries of another wasmtime version or other
    /// compilation settings are never loaded again, only kept until pruned.
    pub this_engine: bool,
    /// The entry and its HMAC tag.
    pub bytes: u64,
    /// When it was last written or loaded (a load sets its access time).
    #[serde(with = "unix_secs")]
    pub used: std::time::SystemTime,
}

mod unix_secs {
    pub fn serialize<S: serde::Serializer>(t: &std::time::SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(t.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()))
    }
}

/// Every entry in the cache folder `dir`, oldest use first. A missing folder has none.
pub fn entries(engine: &Engine, dir: &Path) -> std::io::Result<Vec<Entry>> {
    let tag = engine_tag(engine);
    let mut out = Vec::new();
    let read = match std::fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        r => r?,
    };
    for e in read {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        let Some((sha256, rest)) = name.strip_suffix(".cwasm").and_then(|n| n.split_once('-')) else { continue };
        let meta = e.metadata()?;
        let mac = std::fs::metadata(mac_path(&e.path())).map_or(0, |m| m.len());
        out.push(Entry {
            path: e.path(),
            sha256: sha256.to_string(),
            this_engine: rest == tag,
            bytes: meta.len() + mac,
            used: meta.modified()?.max(meta.accessed()?),
        });
    }
    out.sort_by_key(|e| e.used);
    Ok(out)
}

/// Deletes one entry and its HMAC tag (the cache holds compiled code only: a deleted entry
/// costs one compile the next time its component loads, nothing else).
pub fn remove(entry: &Entry) -> std::io::Result<()> {
    std::fs::remove_file(&entry.path)?;
    match std::fs::remove_file(mac_path(&entry.path)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The cached compiled code for `sha256`, if baton wrote it (its HMAC matches).
pub(crate) fn load(engine: &Engine, dir: &Path, sha256: &str) -> Option<Component> {
    let path = entry(engine, dir, sha256);
    let key = key(dir)?;
    match verified(&key, &path) {
        // SAFETY: these exact bytes (checked in memory against the HMAC baton recorded when it
        // wrote them, with a secret only the cache folder holds, which no grant may overlap)
        // were produced by `precompile_component` (in baton's own compile worker or in
        // process) for an engine with the same compatibility hash; `deserialize` checks that
        // hash again. `Component::deserialize_file` would mmap the file instead, but then the
        // bytes checked and the bytes run could differ if the file changed in between.
        Some(compiled) => {
            // Its use, for `baton cache prune --unused-for`: the entry's access time, set here
            // whatever the mount's atime policy (its modification time stays the write's).
            let now = std::fs::FileTimes::new().set_accessed(std::time::SystemTime::now());
            let _ = std::fs::File::open(&path).and_then(|f| f.set_times(now));
            unsafe { Component::deserialize(engine, &compiled) }.ok()
        }
        None => {
            if path.exists() {
                tracing::warn!(entry = %path.display(), "compiled-code cache entry does not match its recorded HMAC; recompiling");
            }
            None
        }
    }
}

/// Records compiled code (and its HMAC) in the cache. The cache is an optimisation: failing
/// to write it must not fail the load.
pub(crate) fn store(engine: &Engine, dir: &Path, sha256: &str, compiled: &[u8]) {
    let path = entry(engine, dir, sha256);
    let Some(key) = key(dir) else { return };
    if baton_fs::ensure_dir(dir).is_err() {
        return;
    }
    let tmp = dir.join(format!(".{sha256}.{}.tmp", std::process::id()));
    let mac_tmp = dir.join(format!(".{sha256}.{}.mac.tmp", std::process::id()));
    if std::fs::write(&tmp, compiled).is_ok() && std::fs::write(&mac_tmp, hex::encode(tag(&key, compiled))).is_ok() {
        let _ = std::fs::rename(&mac_tmp, mac_path(&path));
        let _ = std::fs::rename(&tmp, &path);
    }
    let _ = std::fs::remove_file(&tmp);
    let _ = std::fs::remove_file(&mac_tmp);
}

/// Whether the cache holds an entry for `sha256` under this engine (not checked: [`load`] does).
pub(crate) fn has(engine: &Engine, dir: &Path, sha256: &str) -> bool {
    entry(engine, dir, sha256).is_file()
}

/// In-process: from the cache, else compiled here (no limits; the runtime uses the worker).
#[cfg(test)]
pub(crate) fn load_or_compile(
    engine: &Engine,
    dir: Option<&Path>,
    sha256: &str,
    bytes: &[u8],
) -> wasmtime::Result<(Component, Source)> {
    let Some(dir) = dir else { return Ok((Component::new(engine, bytes)?, Source::Compiled)) };
    if let Some(c) = load(engine, dir, sha256) {
        return Ok((c, Source::Cache));
    }
    let compiled = engine.precompile_component(bytes)?;
    store(engine, dir, sha256, &compiled);
    // SAFETY: the bytes were produced just now by this engine's `precompile_component`.
    Ok((unsafe { Component::deserialize(engine, &compiled) }?, Source::Compiled))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine() -> Engine {
        let mut cfg = wasmtime::Config::new();
        cfg.wasm_component_model(true);
        Engine::new(&cfg).unwrap()
    }

    #[test]
    fn a_tampered_or_untagged_entry_is_recompiled_not_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let engine = engine();
        let wasm = baton_bundle::get("echo").unwrap().wasm;
        let sha = "e".repeat(64);
        assert_eq!(load_or_compile(&engine, Some(&cache), &sha, wasm).unwrap().1, Source::Compiled);
        assert_eq!(load_or_compile(&engine, Some(&cache), &sha, wasm).unwrap().1, Source::Cache);
        let entry = std::fs::read_dir(&cache)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "cwasm"))
            .unwrap();
        let good = std::fs::read(&entry).unwrap();

        // One byte changed (as a plugin with a writable grant over the cache would).
        let mut bad = good.clone();
        let mid = bad.len() / 2;
        bad[mid] ^= 0xff;
        std::fs::write(&entry, &bad).unwrap();
        assert_eq!(load_or_compile(&engine, Some(&cache), &sha, wasm).unwrap().1, Source::Compiled);
        assert_eq!(std::fs::read(&entry).unwrap(), good, "rewritten with its tag");
        assert_eq!(load_or_compile(&engine, Some(&cache), &sha, wasm).unwrap().1, Source::Cache);

        // A planted entry without a tag, or with a tag made without the key.
        std::fs::remove_file(mac_path(&entry)).unwrap();
        assert_eq!(load_or_compile(&engine, Some(&cache), &sha, wasm).unwrap().1, Source::Compiled);
        std::fs::write(mac_path(&entry), hex::encode(tag(b"a guessed key", &good))).unwrap();
        assert_eq!(load_or_compile(&engine, Some(&cache), &sha, wasm).unwrap().1, Source::Compiled);
        assert_eq!(load_or_compile(&engine, Some(&cache), &sha, wasm).unwrap().1, Source::Cache);
    }
}
