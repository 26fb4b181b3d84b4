//! The host side of `baton:plugin/fingerprint` (since 0.3.0): the native fingerprint core
//! (`baton-fp`) offered to plugins without widening the sandbox.
//!
//! A plugin names files by guest path (`/music/a.flac`). [`resolve`] turns that into a host
//! path only if it lies inside one of the plugin's grants, after following symlinks, so the
//! service can never read what the plugin's own file access could not. Library matches go the
//! other way: [`Library::guest_path`] maps a stored host path back into a grant, and files in
//! no grant are not reported at all. Error messages name guest paths only; host paths never
//! reach the plugin.
//!
//! Decoding a file costs about a CPU-tenth of a second, so the work runs on tokio's blocking
//! pool; the task's time budget still covers it (the host's timeout wraps the whole call).
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use baton_fp::service::Matcher;
use baton_fp::FpError;

use crate::{guest_paths, Grant};

/// Most matches one `best-matches` call returns.
pub const MAX_MATCHES: u32 = 100;

/// Why a fingerprint call failed, before it is converted to a WIT version's `fp-error`.
#[derive(Debug, Clone, PartialEq)]
pub enum ServiceError {
    Denied(String),
    Unsupported(String),
    Corrupt(String),
    Io(String),
}

impl ServiceError {
    /// The core's error, re-worded with `subject`, what the plugin knows the thing by (a guest
    /// path, or "the fingerprint library"): the core's message names host paths.
    fn from_fp(subject: &str, e: FpError) -> Self {
        match e {
            FpError::Unsupported { detail, .. } => ServiceError::Unsupported(format!("{subject}: {detail}")),
            FpError::Corrupt { detail, .. } => ServiceError::Corrupt(format!("{subject}: {detail}")),
            FpError::Io { source, .. } => ServiceError::Io(format!("{subject}: {source}")),
            FpError::Db { source, .. } => ServiceError::Io(format!("the fingerprint library: {source}")),
            FpError::Move { detail, .. } => ServiceError::Io(format!("{subject}: {detail}")),
            FpError::Invalid(m) => ServiceError::Io(m),
        }
    }
}

/// Resolves a guest path to the host file it names, if and only if that file is inside one of
/// `grants` once symlinks are followed. `..` may move within a grant, never above its mount.
pub fn resolve(grants: &[Grant], guest: &str) -> Result<PathBuf, ServiceError> {
    let denied = |why: &str| ServiceError::Denied(format!("{guest}: {why}"));
    if !guest.starts_with('/') {
        return Err(denied("not an absolute guest path; paths start at a grant's mount, e.g. /music/…"));
    }
    let mut parts: Vec<&str> = Vec::new();
    for c in guest.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.len() <= 1 {
                    return Err(denied("`..` leads above the grant"));
                }
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let Some((mount, rest)) = parts.split_first() else {
        return Err(denied("not inside a grant"));
    };
    let Some(grant) = grants.iter().zip(guest_paths(grants)).find(|(_, m)| m[1..] == **mount).map(|(g, _)| g) else {
        return Err(denied("not inside a grant"));
    };
    let host: PathBuf = rest.iter().fold(grant.host_path.clone(), |p, c| p.join(c));
    let io = |e: std::io::Error| ServiceError::Io(format!("{guest}: {e}"));
    let root = grant.host_path.canonicalize().map_err(io)?;
    let real = host.canonicalize().map_err(io)?;
    if !real.starts_with(&root) {
        return Err(denied("it leads outside the grant (through a symlink)"));
    }
    Ok(real)
}

/// The plugin's grants as seen from the library: which stored host paths it may learn of.
pub struct Library {
    /// One entry per grant that exists: (path as given, made absolute; canonical path; guest
    /// mount). The library stores paths as they were scanned (absolute, symlinks not resolved).
    roots: Vec<(PathBuf, PathBuf, String)>,
}

impl Library {
    pub fn new(grants: &[Grant]) -> Self {
        let roots = grants
            .iter()
            .zip(guest_paths(grants))
            .filter_map(|(g, mount)| {
                let real = g.host_path.canonicalize().ok()?;
                let abs = std::path::absolute(&g.host_path).unwrap_or_else(|_| real.clone());
                Some((abs, real, mount))
            })
            .collect();
        Library { roots }
    }

    /// The guest path of a library file, or `None` when it is in no grant: not under one, or
    /// under one only through a symlink that leads out of it (its tags are not the plugin's to
    /// read either), or gone, or with a name that is not UTF-8 (a guest path cannot carry it).
    pub fn guest_path(&self, host: &Path) -> Option<String> {
        let real = host.canonicalize().ok()?;
        self.roots.iter().find_map(|(abs, root, mount)| {
            let rel = host.strip_prefix(abs).or_else(|_| host.strip_prefix(root)).ok()?;
            if !real.starts_with(root) {
                return None;
            }
            let mut guest = mount.clone();
            for c in rel.components() {
                let Component::Normal(c) = c else { return None };
                guest.push('/');
                guest.push_str(c.to_str()?);
            }
            Some(guest)
        })
    }
}

/// A library match with its guest path.
pub struct GuestMatch {
    pub path: String,
    pub found: baton_fp::service::LibraryMatch,
}

/// Fingerprints the file at `guest`.
pub async fn fingerprint_file(grants: &[Grant], guest: String) -> Result<baton_fp::FileFingerprint, ServiceError> {
    let host = resolve(grants, &guest)?;
    blocking(move || baton_fp::service::fingerprint_path(&host).map_err(|e| ServiceError::from_fp(&guest, e))).await
}

/// Tags and stream facts of the file at `guest`.
pub async fn read_tags(grants: &[Grant], guest: String) -> Result<(baton_fp::AudioInfo, baton_fp::Tags), ServiceError> {
    let host = resolve(grants, &guest)?;
    blocking(move || baton_fp::service::read_tags(&host).map_err(|e| ServiceError::from_fp(&guest, e))).await
}

/// The best library matches inside the grants, by guest path.
pub async fn best_matches(
    library: Option<Arc<Matcher>>,
    grants: &[Grant],
    fingerprint: Vec<u32>,
    min_similarity: f64,
    limit: u32,
) -> Result<Vec<GuestMatch>, ServiceError> {
    let Some(matcher) = library else {
        return Err(ServiceError::Io("this host has no fingerprint library (no state database)".into()));
    };
    let library = Library::new(grants);
    let min = if min_similarity.is_finite() { min_similarity.clamp(0.0, 1.0) } else { 0.0 };
    let limit = limit.min(MAX_MATCHES) as usize;
    blocking(move || {
        let found = matcher
            .best_matches(&fingerprint, min, limit, |p| library.guest_path(p).is_some())
            .map_err(|e| ServiceError::from_fp("the fingerprint library", e))?;
        Ok(found
            .into_iter()
            .filter_map(|m| Some(GuestMatch { path: library.guest_path(&m.path)?, found: m }))
            .collect())
    })
    .await
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, ServiceError> + Send + 'static) -> Result<T, ServiceError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(ServiceError::Io(format!("the fingerprint service failed: {e}"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants(dir: &Path) -> Vec<Grant> {
        vec![
            Grant { name: "music".into(), host_path: dir.join("lib"), writable: false },
            Grant { name: "music".into(), host_path: dir.join("more"), writable: false },
        ]
    }

    #[test]
    fn resolves_inside_grants_only() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        for sub in ["lib/a", "more", "outside"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        std::fs::write(d.join("lib/a/x.wav"), b"x").unwrap();
        std::fs::write(d.join("more/y.wav"), b"y").unwrap();
        std::fs::write(d.join("outside/z.wav"), b"z").unwrap();
        std::os::unix::fs::symlink(d.join("outside/z.wav"), d.join("lib/escape.wav")).unwrap();
        let g = grants(d);
        let real = |p: &str| d.join(p).canonicalize().unwrap();
        assert_eq!(resolve(&g, "/music/a/x.wav").unwrap(), real("lib/a/x.wav"));
        assert_eq!(resolve(&g, "/music/a/../a/./x.wav").unwrap(), real("lib/a/x.wav"));
        assert_eq!(resolve(&g, "/music-2/y.wav").unwrap(), real("more/y.wav"));
        for bad in ["/music/../outside/z.wav", "/music/escape.wav", "music/a/x.wav", "/etc/passwd", "/", "/music-3/y.wav"] {
            assert!(matches!(resolve(&g, bad), Err(ServiceError::Denied(_))), "{bad}");
        }
        let host = d.join("outside/z.wav").display().to_string();
        assert!(matches!(resolve(&g, &host), Err(ServiceError::Denied(_))));
        match resolve(&g, "/music/missing.wav") {
            Err(ServiceError::Io(m)) => assert!(m.starts_with("/music/missing.wav") && !m.contains(&d.display().to_string()), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn library_paths_map_back_into_grants() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        for f in ["lib/a/x.wav", "more/y.wav", "libx/y.wav", "outside/z.wav"] {
            std::fs::create_dir_all(d.join(f).parent().unwrap()).unwrap();
            std::fs::write(d.join(f), b"").unwrap();
        }
        std::os::unix::fs::symlink(d.join("outside/z.wav"), d.join("lib/escape.wav")).unwrap();
        let lib = Library::new(&grants(d));
        assert_eq!(lib.guest_path(&d.join("lib/a/x.wav")).as_deref(), Some("/music/a/x.wav"));
        assert_eq!(lib.guest_path(&d.join("more/y.wav")).as_deref(), Some("/music-2/y.wav"));
        assert_eq!(lib.guest_path(&d.join("libx/y.wav")), None, "a sibling with a common prefix is outside");
        assert_eq!(lib.guest_path(&d.join("outside/z.wav")), None);
        assert_eq!(lib.guest_path(&d.join("lib/escape.wav")), None, "a symlink out of the grant");
        assert_eq!(lib.guest_path(&d.join("lib/gone.wav")), None, "a file no longer there");
    }
}
