//! The work behind `baton:plugin/fingerprint`, on host types: open a file a plugin names
//! beneath its grant, decode it in a worker, search the library.
//!
//! A plugin names files by guest path (`/music/a.flac`). [`open_in_grant`] opens it beneath the
//! grant's folder with `cap-primitives` (what wasmtime-wasi uses; no `openat2` needed): a
//! symlink may move inside the grant, never out of it, and `..` never leaves the mount. The
//! descriptor is checked to be a regular file before anything reads it (a FIFO would block),
//! and it is that descriptor, not the path, that the decoding worker reads: a concurrent task
//! that swaps a symlink in a writable grant cannot redirect it. Library matches go the other
//! way: [`Library::guest_path`] maps a stored host path back into a grant, and files in no
//! grant are not reported at all. Error messages name guest paths only; host paths never
//! reach the plugin.
//!
//! Every call is bounded by the task's deadline: decoding by the worker pool (which kills the
//! worker), `best-matches` by polling it (and by the future being dropped).
use baton_sync::Locked;
use std::fs::File;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use baton_fp::FpError;
use baton_fp::service::Matcher;
use baton_fp::worker::Workers;
use baton_runtime::grants::GrantDir;
use baton_runtime::{Grant, guest_paths};

/// Most matches one `best-matches` call returns.
pub const MAX_MATCHES: u32 = 100;

/// Most values a `best-matches` fingerprint may have: 2^20 (4 MiB), about 36 hours of audio at
/// Chromaprint's ~8 values a second. A longer one is refused before any work, since every
/// library comparison is linear in it (host work a plugin triggers is bounded).
pub const MAX_PRINT_VALUES: usize = 1 << 20;

/// Why a fingerprint call failed, before it is converted to the WIT `fp-error`.
#[derive(Debug, Clone, PartialEq)]
pub enum ServiceError {
    Denied(String),
    Unsupported(String),
    Corrupt(String),
    Io(String),
    /// A fault of the host's fingerprint library that may pass (its database full, failing or
    /// busy): the plugin reads it as `io`, and if the task then fails, the attempt does not
    /// count and it runs again (`StoreState::host_fault`).
    HostFault(String),
    /// The task's time budget ran out: the call traps and the task fails `timeout`.
    TaskTimeout,
}

impl ServiceError {
    /// The core's error, re-worded with `subject`, what the plugin knows the thing by (a guest
    /// path, or "the fingerprint library"): the core's message may name host paths.
    fn from_fp(subject: &str, e: FpError) -> Self {
        match e {
            FpError::Unsupported { detail, .. } => ServiceError::Unsupported(format!("{subject}: {detail}")),
            FpError::Corrupt { detail, .. } => ServiceError::Corrupt(format!("{subject}: {detail}")),
            FpError::Io { source, .. } => ServiceError::Io(format!("{subject}: {source}")),
            FpError::Db { source, .. } if baton_store::passing::sqlite(&source) => {
                ServiceError::HostFault(format!("the fingerprint library: {source}"))
            }
            FpError::Db { source, .. } => ServiceError::Io(format!("the fingerprint library: {source}")),
            FpError::Move { detail, .. } => ServiceError::Io(format!("{subject}: {detail}")),
            FpError::Invalid(m) => ServiceError::Io(m),
            FpError::TaskTimeout { .. } => ServiceError::TaskTimeout,
            FpError::Worker(m) => {
                tracing::error!("fingerprint worker: {m}");
                ServiceError::Io(format!("{subject}: the fingerprint workers cannot be started (see the host's log)"))
            }
        }
    }
}

/// Splits a guest path into its grant and the path inside it, lexically: `..` may move within
/// a grant, never above its mount.
pub fn locate<'g>(grants: &'g [Grant], guest: &str) -> Result<(&'g Grant, PathBuf), ServiceError> {
    let (i, rel) = locate_at(grants, guest)?;
    Ok((&grants[i], rel))
}

/// [`locate`], giving the grant's index (into the task's grants and their open folders).
pub fn locate_at(grants: &[Grant], guest: &str) -> Result<(usize, PathBuf), ServiceError> {
    baton_runtime::grants::locate(grants, guest).map_err(|why| ServiceError::Denied(format!("{guest}: {why}")))
}

/// Opens the file at `guest` beneath its grant's folder (the handle opened at load, never the
/// configured path resolved again), read-only and without blocking, and only if it is a
/// regular file. Gives the grant's index too.
pub fn open_in_grant(grants: &[Grant], dirs: &[GrantDir], guest: &str) -> Result<(usize, File), ServiceError> {
    let (i, rel) = locate_at(grants, guest)?;
    let Some(dir) = dirs.get(i) else {
        return Err(ServiceError::Denied(format!("{guest}: the grant's folder is not open")));
    };
    let io = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::PermissionDenied {
            ServiceError::Denied(format!("{guest}: {e} (it leads outside the grant, or may not be read)"))
        } else {
            ServiceError::Io(format!("{guest}: {e}"))
        }
    };
    let file = baton_runtime::grants::open_beneath(dir, &rel).map_err(io)?;
    baton_fp::worker::check_regular(&file, Path::new(guest)).map_err(|e| ServiceError::from_fp(guest, e))?;
    Ok((i, file))
}

pub use baton_runtime::grants::path_of_open;

/// The plugin's grants as seen from the library: which stored host paths it may learn of.
pub struct Library {
    /// One entry per grant that exists: (path as given, made absolute; canonical path; guest
    /// mount). The library stores paths as they were scanned (absolute, symlinks not resolved).
    roots: Vec<(PathBuf, PathBuf, String)>,
}

impl Library {
    /// The roots are the grants' folders as opened at load (`dirs`), not resolved again.
    pub fn new(grants: &[Grant], dirs: &[GrantDir]) -> Self {
        let roots = grants
            .iter()
            .zip(dirs)
            .zip(guest_paths(grants))
            .map(|((g, d), mount)| {
                let real = d.real.clone();
                let abs = std::path::absolute(&g.host_path).unwrap_or_else(|_| real.clone());
                (abs, real, mount)
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

/// Fingerprints the file at `guest` in a worker, within the task's `deadline`.
pub async fn fingerprint_file(
    workers: Arc<Workers>,
    grants: &[Grant],
    dirs: &[GrantDir],
    guest: String,
    deadline: Instant,
) -> Result<baton_signal::FileFingerprint, ServiceError> {
    let (_, file) = open_in_grant(grants, dirs, &guest)?;
    blocking(move || {
        workers.fingerprint(file, Path::new(&guest), Some(deadline)).map_err(|e| ServiceError::from_fp(&guest, e))
    })
    .await
}

/// Tags and stream facts of the file at `guest`, read in a worker within the task's `deadline`.
pub async fn read_tags(
    workers: Arc<Workers>,
    grants: &[Grant],
    dirs: &[GrantDir],
    guest: String,
    deadline: Instant,
) -> Result<(baton_signal::AudioInfo, baton_signal::Tags), ServiceError> {
    let (_, file) = open_in_grant(grants, dirs, &guest)?;
    blocking(move || {
        workers.read_tags(file, Path::new(&guest), Some(deadline)).map_err(|e| ServiceError::from_fp(&guest, e))
    })
    .await
}

/// The fingerprint `baton fp scan` stored for the file at `guest`, read from the library with
/// no decoding; `None` when the file is not in the library or not fingerprinted (yet).
///
/// Resolved once: the file is opened beneath its grant's folder handle, and the library is
/// asked about where that open file really is (its descriptor's path), in the grant's
/// spelling and as the real path (the library keeps paths as they were scanned). Nothing is
/// resolved by name a second time, so a symlink flipped by another task between a check and
/// the lookup cannot point the lookup outside the grants.
pub async fn library_fingerprint(
    db_path: Option<PathBuf>,
    db: Arc<std::sync::Mutex<Option<baton_fp::db::Db>>>,
    grants: &[Grant],
    dirs: &[GrantDir],
    guest: String,
    deadline: Instant,
) -> Result<Option<baton_signal::FileFingerprint>, ServiceError> {
    let (i, file) = match open_in_grant(grants, dirs, &guest) {
        Ok(f) => f,
        // Not there (yet): the library has nothing for it that this plugin may see.
        Err(ServiceError::Io(m)) if m.contains("No such file") => return Ok(None),
        Err(e) => return Err(e),
    };
    let outside = || ServiceError::Denied(format!("{guest}: it leads outside the grant"));
    let real = path_of_open(&file).ok_or_else(outside)?;
    drop(file);
    let inside = real.strip_prefix(&dirs[i].real).map_err(|_| outside())?.to_path_buf();
    let Some(db_path) = db_path else {
        return Err(ServiceError::Io("this host has no fingerprint library (no state database)".into()));
    };
    let mut candidates = Vec::new();
    if let Ok(abs) = std::path::absolute(&grants[i].host_path) {
        candidates.push(abs.join(&inside));
    }
    if !candidates.contains(&real) {
        candidates.push(real);
    }
    blocking(move || {
        if Instant::now() >= deadline {
            return Err(ServiceError::TaskTimeout);
        }
        let mut guard = db.locked();
        if guard.is_none() {
            *guard = Some(
                baton_fp::db::Db::open(&db_path).map_err(|e| ServiceError::from_fp("the fingerprint library", e))?,
            );
        }
        let Some(db) = guard.as_ref() else { return Ok(None) };
        for path in candidates {
            let row = db.get(&path).map_err(|e| ServiceError::from_fp("the fingerprint library", e))?;
            if let Some(row) = row {
                return Ok(row.fingerprint.map(|fingerprint| baton_signal::FileFingerprint {
                    path,
                    duration: row.duration.or(row.info.duration).unwrap_or(0.0),
                    fingerprint,
                    info: row.info,
                    tags: row.tags,
                }));
            }
        }
        Ok(None)
    })
    .await
}

/// Sets its flag when dropped: a `best-matches` whose task was abandoned stops comparing.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The best library matches inside the grants, by guest path. Stops when the task's
/// `deadline` passes or the call is abandoned.
pub async fn best_matches(
    library: Option<Arc<Matcher>>,
    grants: &[Grant],
    dirs: &[GrantDir],
    fingerprint: Vec<u32>,
    min_similarity: f64,
    limit: u32,
    deadline: Instant,
) -> Result<Vec<GuestMatch>, ServiceError> {
    if fingerprint.len() > MAX_PRINT_VALUES {
        return Err(ServiceError::Unsupported(format!(
            "a fingerprint of {} values is longer than one call may compare ({MAX_PRINT_VALUES}, about 36 hours of audio)",
            fingerprint.len()
        )));
    }
    let Some(matcher) = library else {
        return Err(ServiceError::Io("this host has no fingerprint library (no state database)".into()));
    };
    let library = Library::new(grants, dirs);
    let min = if min_similarity.is_finite() { min_similarity.clamp(0.0, 1.0) } else { 0.0 };
    let limit = limit.min(MAX_MATCHES) as usize;
    let cancelled = Arc::new(AtomicBool::new(false));
    let _cancel = CancelOnDrop(cancelled.clone());
    blocking(move || {
        let stop = || cancelled.load(Ordering::Relaxed) || Instant::now() >= deadline;
        let found = matcher
            .best_matches(&fingerprint, min, limit, |p| library.guest_path(p).is_some(), stop)
            .map_err(|e| ServiceError::from_fp("the fingerprint library", e))?;
        Ok(found
            .into_iter()
            .filter_map(|m| Some(GuestMatch { path: library.guest_path(&m.path)?, found: m }))
            .collect())
    })
    .await
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, ServiceError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(ServiceError::Io(format!("the fingerprint service failed: {e}"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The library's database full (a real SQLITE_FULL) is the host's fault, which may pass;
    /// a database that is not one is not.
    #[test]
    fn a_full_library_database_is_a_host_fault() {
        let db = rusqlite::Connection::open_in_memory().unwrap();
        db.execute_batch("PRAGMA max_page_count = 2; CREATE TABLE t (v BLOB);").unwrap();
        let full = db.execute("INSERT INTO t VALUES (zeroblob(100000))", []).unwrap_err();
        let e = ServiceError::from_fp("x", FpError::Db { path: "state.sqlite".into(), source: full });
        assert!(matches!(&e, ServiceError::HostFault(m) if m.contains("full")), "{e:?}");
        let corrupt = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT), None);
        let e = ServiceError::from_fp("x", FpError::Db { path: "state.sqlite".into(), source: corrupt });
        assert!(matches!(e, ServiceError::Io(_)), "{e:?}");
    }

    #[tokio::test]
    async fn a_print_longer_than_the_cap_is_refused_before_any_work() {
        let long = vec![0u32; MAX_PRINT_VALUES + 1];
        let Err(e) =
            best_matches(None, &[], &[], long, 0.5, 10, Instant::now() + std::time::Duration::from_secs(5)).await
        else {
            panic!("a print over the cap was compared")
        };
        assert!(matches!(&e, ServiceError::Unsupported(m) if m.contains("longer than one call may compare")), "{e:?}");
        // At the cap it goes on to the work (here: no library).
        let at_cap = vec![0u32; MAX_PRINT_VALUES];
        let Err(e) =
            best_matches(None, &[], &[], at_cap, 0.5, 10, Instant::now() + std::time::Duration::from_secs(5)).await
        else {
            panic!("no library, yet matches")
        };
        assert!(matches!(&e, ServiceError::Io(m) if m.contains("no fingerprint library")), "{e:?}");
    }

    fn grants(dir: &Path) -> Vec<Grant> {
        vec![
            Grant { name: "music".into(), host_path: dir.join("lib"), writable: false },
            Grant { name: "music".into(), host_path: dir.join("more"), writable: false },
        ]
    }

    fn open(g: &[Grant], guest: &str) -> Result<Vec<u8>, ServiceError> {
        use std::io::Read;
        let mut b = Vec::new();
        let dirs: Vec<GrantDir> = g.iter().map(|g| GrantDir::open(&g.host_path).unwrap()).collect();
        open_in_grant(g, &dirs, guest)?.1.read_to_end(&mut b).map_err(|e| ServiceError::Io(e.to_string()))?;
        Ok(b)
    }

    #[test]
    fn opens_inside_grants_only() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        for sub in ["lib/a", "more", "outside"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        std::fs::write(d.join("lib/a/x.wav"), b"x").unwrap();
        std::fs::write(d.join("more/y.wav"), b"y").unwrap();
        std::fs::write(d.join("outside/z.wav"), b"z").unwrap();
        std::os::unix::fs::symlink(d.join("outside/z.wav"), d.join("lib/escape.wav")).unwrap();
        std::os::unix::fs::symlink("a/x.wav", d.join("lib/inner.wav")).unwrap();
        std::os::unix::fs::symlink("../outside/z.wav", d.join("lib/relative-escape.wav")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            d.join("lib/pipe.wav"),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        let g = grants(d);
        assert_eq!(open(&g, "/music/a/x.wav").unwrap(), b"x");
        assert_eq!(open(&g, "/music/a/../a/./x.wav").unwrap(), b"x");
        assert_eq!(open(&g, "/music/inner.wav").unwrap(), b"x", "a symlink that stays inside the grant");
        assert_eq!(open(&g, "/music-2/y.wav").unwrap(), b"y");
        for bad in [
            "/music/../outside/z.wav",
            "/music/escape.wav",
            "/music/relative-escape.wav",
            "music/a/x.wav",
            "/etc/passwd",
            "/",
            "/music",
            "/music-3/y.wav",
        ] {
            assert!(matches!(open(&g, bad), Err(ServiceError::Denied(_))), "{bad}: {:?}", open(&g, bad));
        }
        let host = d.join("outside/z.wav").display().to_string();
        assert!(matches!(open(&g, &host), Err(ServiceError::Denied(_))));
        match open(&g, "/music/missing.wav") {
            Err(ServiceError::Io(m)) => {
                assert!(m.starts_with("/music/missing.wav") && !m.contains(&d.display().to_string()), "{m}")
            }
            other => panic!("{other:?}"),
        }
        // A FIFO is refused at once (opening it did not block) and never read.
        match open(&g, "/music/pipe.wav") {
            Err(ServiceError::Unsupported(m)) => assert!(m.contains("not a regular file"), "{m}"),
            other => panic!("{other:?}"),
        }
        match open(&g, "/music/a") {
            Err(ServiceError::Unsupported(m)) => assert!(m.contains("not a regular file"), "{m}"),
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
        let g = grants(d);
        let dirs: Vec<GrantDir> = g.iter().map(|g| GrantDir::open(&g.host_path).unwrap()).collect();
        let lib = Library::new(&g, &dirs);
        assert_eq!(lib.guest_path(&d.join("lib/a/x.wav")).as_deref(), Some("/music/a/x.wav"));
        assert_eq!(lib.guest_path(&d.join("more/y.wav")).as_deref(), Some("/music-2/y.wav"));
        assert_eq!(lib.guest_path(&d.join("libx/y.wav")), None, "a sibling with a common prefix is outside");
        assert_eq!(lib.guest_path(&d.join("outside/z.wav")), None);
        assert_eq!(lib.guest_path(&d.join("lib/escape.wav")), None, "a symlink out of the grant");
        assert_eq!(lib.guest_path(&d.join("lib/gone.wav")), None, "a file no longer there");
    }

    /// A symlink flipped between a file inside the grant and one outside, by
    /// another thread, while `library-fingerprint` is asked about it. Resolved once (opened
    /// beneath the grant's handle, named by the open file), it answers only for the inside
    /// file; the old check-then-canonicalise answered for the outside one (it did in this test, before the fix).
    #[test]
    fn library_fingerprint_never_answers_for_a_file_a_flipped_symlink_leads_to() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().canonicalize().unwrap();
        for sub in ["lib", "outside"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        std::fs::write(d.join("lib/in.wav"), b"in").unwrap();
        std::fs::write(d.join("outside/secret.wav"), b"secret").unwrap();
        let db_path = d.join("state.sqlite");
        let db = baton_fp::db::Db::open(&db_path).unwrap();
        for (p, title) in [("lib/in.wav", "inside"), ("outside/secret.wav", "SECRET")] {
            let row = baton_fp::db::FileRow {
                id: 0,
                path: d.join(p),
                size: 1,
                mtime_ns: 1,
                tags: baton_signal::Tags { title: Some(title.into()), ..Default::default() },
                info: Default::default(),
                duration: Some(1.0),
                fingerprint: Some(vec![1, 2, 3]),
                error: None,
                error_kind: None,
            };
            db.upsert(&row).unwrap();
        }
        drop(db);
        let g = vec![Grant { name: "music".into(), host_path: d.join("lib"), writable: true }];
        let dirs: Vec<GrantDir> = g.iter().map(|g| GrantDir::open(&g.host_path).unwrap()).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let flipper = {
            let (stop, d) = (stop.clone(), d.clone());
            std::thread::spawn(move || {
                let mut out = false;
                while !stop.load(Ordering::Relaxed) {
                    let tmp = d.join("lib/.flip.tmp");
                    let _ = std::fs::remove_file(&tmp);
                    let target = if out { "../outside/secret.wav" } else { "in.wav" };
                    std::os::unix::fs::symlink(target, &tmp).unwrap();
                    std::fs::rename(&tmp, d.join("lib/flip.wav")).unwrap();
                    out = !out;
                }
            })
        };
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let shared = Arc::new(std::sync::Mutex::new(None));
        let (mut inside, mut leaked) = (0, 0);
        for _ in 0..20000 {
            let far = Instant::now() + std::time::Duration::from_secs(60);
            let r = rt.block_on(library_fingerprint(
                Some(db_path.clone()),
                shared.clone(),
                &g,
                &dirs,
                "/music/flip.wav".into(),
                far,
            ));
            match r {
                Ok(Some(f)) if f.tags.title.as_deref() == Some("SECRET") => leaked += 1,
                Ok(Some(_)) => inside += 1,
                _ => {}
            }
        }
        stop.store(true, Ordering::Relaxed);
        flipper.join().unwrap();
        assert_eq!(leaked, 0, "answers for the file outside the grant ({inside} inside)");
        assert!(inside > 0, "the inside file was found through the symlink");
    }
}
