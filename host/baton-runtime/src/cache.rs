//! The on-disk cache of compiled components, so a cold start of the host never recompiles.
//!
//! Entries are keyed by the component's sha256 and the engine's compatibility hash (which
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

use hmac::{Hmac, Mac};
use sha2::Sha256;
use wasmtime::{component::Component, Engine};

/// Where a component came from, for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Cache,
    Compiled,
}

pub fn compile(engine: &Engine, dir: Option<&Path>, sha256: &str, bytes: &[u8]) -> wasmtime::Result<Component> {
    load_or_compile(engine, dir, sha256, bytes).map(|(c, _)| c)
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
    std::fs::create_dir_all(path.parent()?).ok()?;
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
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(bytes);
    mac.finalize().into_bytes().to_vec()
}

fn verified(key: &[u8], entry: &Path) -> Option<Vec<u8>> {
    let bytes = std::fs::read(entry).ok()?;
    let recorded = hex::decode(std::fs::read_to_string(mac_path(entry)).ok()?.trim()).ok()?;
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).ok()?;
    mac.update(&bytes);
    mac.verify_slice(&recorded).ok()?;
    Some(bytes)
}

fn mac_path(entry: &Path) -> PathBuf {
    let mut p = entry.as_os_str().to_owned();
    p.push(".mac");
    PathBuf::from(p)
}

pub(crate) fn load_or_compile(engine: &Engine, dir: Option<&Path>, sha256: &str, bytes: &[u8]) -> wasmtime::Result<(Component, Source)> {
    let Some(dir) = dir else { return Ok((Component::new(engine, bytes)?, Source::Compiled)) };
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    let path = dir.join(format!("{sha256}-{:016x}.cwasm", h.finish()));
    let key = key(dir);
    if let Some(key) = &key
        && let Some(compiled) = verified(key, &path)
    {
        // SAFETY: these exact bytes (checked in memory against the HMAC baton recorded when it
        // wrote them, with a secret only the cache folder holds, which no grant may overlap) were produced by
        // `precompile_component` of an engine with the same compatibility hash.
        if let Ok(c) = unsafe { Component::deserialize(engine, &compiled) } {
            return Ok((c, Source::Cache));
        }
    } else if path.exists() {
        tracing::warn!(entry = %path.display(), "compiled-code cache entry does not match its recorded HMAC; recompiling");
    }
    let compiled = engine.precompile_component(bytes)?;
    // The cache is an optimisation: failing to write it must not fail the load.
    if let Some(key) = &key
        && std::fs::create_dir_all(dir).is_ok()
    {
        let tmp = dir.join(format!(".{sha256}.{}.tmp", std::process::id()));
        let mac_tmp = dir.join(format!(".{sha256}.{}.mac.tmp", std::process::id()));
        if std::fs::write(&tmp, &compiled).is_ok() && std::fs::write(&mac_tmp, hex::encode(tag(key, &compiled))).is_ok() {
            let _ = std::fs::rename(&mac_tmp, mac_path(&path));
            let _ = std::fs::rename(&tmp, &path);
        }
        let _ = std::fs::remove_file(&tmp);
        let _ = std::fs::remove_file(&mac_tmp);
    }
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
