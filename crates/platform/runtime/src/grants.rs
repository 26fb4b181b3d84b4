//! Folder grants held open: each grant is opened once, as a directory handle, when its plugin
//! is loaded, and every later use (the task's WASI preopen, fingerprint and SQLite opens, path
//! mapping) goes through that handle instead of resolving the configured path again.
//!
//! Why: a path resolved at every use can be redirected between uses. A plugin with a writable
//! folder that holds another of its grants could replace the inner folder with a symlink to
//! `../home/plugins` (and write a component there) or `../home/state` (and read the state
//! database). A handle keeps pointing at the folder that was checked.
//!
//! - **Opening.** The configured path is resolved once (the user's own symlinks, such as
//!   macOS's `/tmp`, are followed), then opened again from `/` one component at a time with
//!   `O_DIRECTORY|O_NOFOLLOW`, so that what is held is exactly the folder that was resolved
//!   and checked: a symlink swapped in between fails the open.
//! - **Identity.** Before each task, the configured path is `stat`ed and its (device, inode)
//!   compared with the handle's. A folder deleted and made again at the same real path is
//!   re-opened after the same checks; a path that now leads elsewhere fails the task
//!   `grant_changed`, naming the path. A grant missing at load does not stop the plugin: its
//!   tasks fail `grant_missing` until the folder appears, when it is opened and checked.
//! - **Layout** ([`check_layout`]): refused at load and reload, naming both paths, are grants
//!   that nest where either is writable, grants over the home's `plugins/`, `state/` or
//!   `handoffs/`, and grants inside another plugin's writable grant. Compared on real paths,
//!   so a symlink cannot hide a nesting.
use baton_sync::Locked;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::Grant;

/// A grant's folder, held open.
#[derive(Debug, Clone)]
pub struct GrantDir {
    /// The directory handle (`O_PATH` on Linux): everything beneath the grant is opened
    /// relative to it.
    pub file: Arc<File>,
    /// Its real path when it was opened (for mapping host paths, never for opening).
    pub real: PathBuf,
    dev: u64,
    ino: u64,
}

impl GrantDir {
    /// Resolves `path` once and opens the result without following symlinks (for tools and
    /// tests; loaded plugins keep theirs in a [`GrantSlot`]).
    pub fn open(path: &Path) -> std::io::Result<GrantDir> {
        let real = path.canonicalize()?;
        let file = open_nofollow(&real)?;
        let m = file.metadata()?;
        Ok(GrantDir { file: Arc::new(file), real, dev: m.dev(), ino: m.ino() })
    }
}

/// Why a grant cannot be used by a task.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantFault {
    /// The folder does not exist (now); the plugin stays loaded.
    #[error("grant `{name}`: {path} does not exist (create it, or change the grant in baton.toml)")]
    Missing { name: String, path: String },
    /// The path no longer leads to the folder that was opened and checked.
    #[error(
        "grant `{name}`: {path} {why}; the task did not run (restore the folder, or restart baton to check the grant again)"
    )]
    Changed { name: String, path: String, why: String },
}

/// One grant of a loaded plugin and its handle (opened at load, re-opened after the checks
/// when the folder was made again).
#[derive(Debug)]
pub struct GrantSlot {
    pub grant: Grant,
    /// Folders this grant may never contain or sit inside (the home's `plugins/`, `state/`,
    /// `handoffs/`), real paths, with what they are.
    forbidden: Arc<Vec<(String, PathBuf)>>,
    /// The real path the grant had when first opened: a re-open must find the same one.
    first_real: Mutex<Option<PathBuf>>,
    held: Mutex<Option<GrantDir>>,
}

impl GrantSlot {
    /// Opens `grant` (or notes it missing).
    pub fn new(grant: Grant, forbidden: Arc<Vec<(String, PathBuf)>>) -> GrantSlot {
        let slot = GrantSlot { grant, forbidden, first_real: Mutex::new(None), held: Mutex::new(None) };
        let _ = slot.current();
        slot
    }

    fn fault_missing(&self) -> GrantFault {
        GrantFault::Missing { name: self.grant.name.clone(), path: self.grant.host_path.display().to_string() }
    }

    fn fault_changed(&self, why: String) -> GrantFault {
        GrantFault::Changed { name: self.grant.name.clone(), path: self.grant.host_path.display().to_string(), why }
    }

    /// The handle to use for a task: the held one while the configured path still leads to it.
    pub fn current(&self) -> Result<GrantDir, GrantFault> {
        let meta = match std::fs::metadata(&self.grant.host_path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(self.fault_missing()),
            Err(e) => return Err(self.fault_changed(format!("cannot be checked: {e}"))),
        };
        let mut held = self.held.locked();
        if let Some(h) = held.as_ref()
            && (h.dev, h.ino) == (meta.dev(), meta.ino())
        {
            return Ok(h.clone());
        }
        let real = self.grant.host_path.canonicalize().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => self.fault_missing(),
            _ => self.fault_changed(format!("cannot be resolved: {e}")),
        })?;
        let mut first = self.first_real.locked();
        if let Some(f) = first.as_ref()
            && *f != real
        {
            return Err(self.fault_changed(format!("now leads to {} instead of {}", real.display(), f.display())));
        }
        for (what, p) in self.forbidden.iter() {
            if real.starts_with(p) || p.starts_with(&real) {
                return Err(self.fault_changed(format!(
                    "leads to {} which overlaps baton's own {what} ({})",
                    real.display(),
                    p.display()
                )));
            }
        }
        let dir = open_nofollow(&real)
            .map_err(|e| self.fault_changed(format!("cannot be opened as a folder without following symlinks: {e}")))?;
        let m = dir.metadata().map_err(|e| self.fault_changed(e.to_string()))?;
        let h = GrantDir { file: Arc::new(dir), real: real.clone(), dev: m.dev(), ino: m.ino() };
        if (h.dev, h.ino) != (meta.dev(), meta.ino()) {
            return Err(self.fault_changed("changed while it was being opened".into()));
        }
        *first = Some(real);
        *held = Some(h.clone());
        Ok(h)
    }
}

/// Opens the real (absolute, symlink-free) path `real` from `/`, one component at a time with
/// `O_DIRECTORY|O_NOFOLLOW`.
pub fn open_nofollow(real: &Path) -> std::io::Result<File> {
    use rustix::fs::{CWD, Mode, OFlags, openat};
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let base = OFlags::PATH;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let base = OFlags::RDONLY;
    let flags = base | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut fd = openat(CWD, "/", flags, Mode::empty())?;
    for c in real.components() {
        match c {
            Component::RootDir => {}
            Component::Normal(name) => fd = openat(&fd, name, flags, Mode::empty())?,
            _ => return Err(std::io::Error::other(format!("{} is not a resolved path", real.display()))),
        }
    }
    Ok(File::from(fd))
}

/// Splits a guest path (`/music/a/b.flac`) into its grant's index and the path inside it,
/// lexically: `..` may move within a grant, never above its mount. The error says why, for a
/// message that starts with the guest path.
pub fn locate(grants: &[Grant], guest: &str) -> Result<(usize, PathBuf), &'static str> {
    if !guest.starts_with('/') {
        return Err("not an absolute guest path; paths start at a grant's mount, e.g. /music/…");
    }
    let mut parts: Vec<&str> = Vec::new();
    for c in guest.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.len() <= 1 {
                    return Err("`..` leads above the grant");
                }
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let Some((mount, rest)) = parts.split_first() else { return Err("not inside a grant") };
    let Some(i) = crate::guest_paths(grants).iter().position(|m| m[1..] == **mount) else {
        return Err("not inside a grant");
    };
    if rest.is_empty() {
        return Err("a grant's folder, not a file");
    }
    Ok((i, rest.iter().collect()))
}

/// Opens `rel` beneath the grant's folder handle (`cap-primitives`, as wasmtime-wasi does: a
/// symlink may move inside the grant, never out of it), read-only and without blocking.
pub fn open_beneath(dir: &GrantDir, rel: &Path) -> std::io::Result<File> {
    use cap_primitives::fs::OpenOptionsExt;
    let mut opts = cap_primitives::fs::OpenOptions::new();
    opts.read(true).custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32);
    cap_primitives::fs::open(&dir.file, rel, &opts)
}

/// Where an open file really is, as the kernel knows its descriptor (not a name resolved
/// again): `/proc/self/fd` on Linux, `F_GETPATH` on macOS.
pub fn path_of_open(file: &File) -> Option<PathBuf> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use std::os::fd::AsRawFd;
        std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()
    }
    #[cfg(target_os = "macos")]
    {
        use std::os::unix::ffi::OsStrExt;
        rustix::fs::getpath(file).ok().map(|c| PathBuf::from(std::ffi::OsStr::from_bytes(c.as_bytes())))
    }
    #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "macos")))]
    {
        let _ = file;
        None
    }
}

/// The file at guest path `guest`, resolved once: opened beneath its grant's handle and named by
/// where that open file really is. Gives the grant's index, the open file and its real path
/// (inside the grant's folder as opened). `None`: outside the grants, or not there.
pub fn resolve_once(grants: &[Grant], dirs: &[GrantDir], guest: &str) -> Option<(usize, File, PathBuf)> {
    let (i, rel) = locate(grants, guest).ok()?;
    let dir = dirs.get(i)?;
    let file = open_beneath(dir, &rel).ok()?;
    let real = path_of_open(&file)?;
    real.starts_with(&dir.real).then_some((i, file, real))
}

/// `p` made absolute with `.` and `..` removed lexically (for paths that do not exist).
fn lexical(p: &Path) -> PathBuf {
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

/// The path compared for nesting: the real path where it exists, else the lexical one.
pub fn real_or_lexical(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| lexical(p))
}

fn nested(a: &Path, b: &Path) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// A plugin's grants laid out so that it (or another plugin) could redirect one. Each message
/// names both paths (`at`, `other_at`: the path given, and the real one when it differs) and
/// the fix.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LayoutError {
    #[error("plugin `{plugin}`: grant `{grant}` at {at} overlaps baton's own {what} at {}; grant a folder outside it", home.display())]
    OverlapsHome { plugin: String, grant: String, at: String, what: String, home: PathBuf },
    #[error(
        "plugin `{plugin}`: grant `{grant}` at {at} and grant `{other}` at {other_at} nest, and one of them is writable: a plugin \
         could replace the inner folder through the outer one. Grant folders that do not contain each other \
         (read-only nesting is allowed)"
    )]
    Nested { plugin: String, grant: String, at: String, other: String, other_at: String },
    #[error(
        "plugin `{plugin}`: grant `{grant}` at {at} sits inside the writable grant `{other}` of plugin `{other_plugin}` at {other_at}: \
         that plugin could redirect it. Grant a folder outside it"
    )]
    InsideWritable { plugin: String, grant: String, at: String, other_plugin: String, other: String, other_at: String },
}

/// Checks where a plugin's grants lie before it is loaded (or reloaded). `grants` are the
/// plugin's effective grants; `others` every other plugin's configured grants; `home_dirs`
/// baton's own folders (`plugins/`, `state/`, `handoffs/`) with what they are. The message
/// names both paths.
pub fn check_layout(
    plugin: &str,
    grants: &[Grant],
    others: &[(String, Grant)],
    home_dirs: &[(String, PathBuf)],
) -> Result<(), LayoutError> {
    let real: Vec<PathBuf> = grants.iter().map(|g| real_or_lexical(&g.host_path)).collect();
    let home: Vec<(String, PathBuf)> = home_dirs.iter().map(|(w, p)| (w.clone(), real_or_lexical(p))).collect();
    let shown = |g: &Grant, r: &Path| {
        if lexical(&g.host_path) == r {
            format!("{}", g.host_path.display())
        } else {
            format!("{} (really {})", g.host_path.display(), r.display())
        }
    };
    for (g, r) in grants.iter().zip(&real) {
        for (what, p) in &home {
            if nested(r, p) {
                return Err(LayoutError::OverlapsHome {
                    plugin: plugin.to_string(),
                    grant: g.name.clone(),
                    at: shown(g, r),
                    what: what.clone(),
                    home: p.clone(),
                });
            }
        }
    }
    for (i, (a, ra)) in grants.iter().zip(&real).enumerate() {
        for (b, rb) in grants.iter().zip(&real).skip(i + 1) {
            if (a.writable || b.writable) && nested(ra, rb) {
                return Err(LayoutError::Nested {
                    plugin: plugin.to_string(),
                    grant: a.name.clone(),
                    at: shown(a, ra),
                    other: b.name.clone(),
                    other_at: shown(b, rb),
                });
            }
        }
    }
    for (other, w) in others.iter().filter(|(o, w)| o != plugin && w.writable) {
        let rw = real_or_lexical(&w.host_path);
        for (g, r) in grants.iter().zip(&real) {
            if r.starts_with(&rw) {
                return Err(LayoutError::InsideWritable {
                    plugin: plugin.to_string(),
                    grant: g.name.clone(),
                    at: shown(g, r),
                    other_plugin: other.clone(),
                    other: w.name.clone(),
                    other_at: shown(w, &rw),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handle_keeps_its_folder_and_a_redirect_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().canonicalize().unwrap();
        std::fs::create_dir_all(d.join("g")).unwrap();
        std::fs::create_dir_all(d.join("secret")).unwrap();
        std::fs::write(d.join("g/a"), b"a").unwrap();
        let slot = GrantSlot::new(Grant { name: "g".into(), host_path: d.join("g"), writable: false }, Arc::default());
        let h = slot.current().unwrap();
        // Swap the folder for a symlink elsewhere: the next use is refused, naming the path.
        std::fs::rename(d.join("g"), d.join("g-old")).unwrap();
        std::os::unix::fs::symlink(d.join("secret"), d.join("g")).unwrap();
        let e = slot.current().unwrap_err();
        assert!(
            matches!(e, GrantFault::Changed { .. }) && e.to_string().contains(&d.join("g").display().to_string()),
            "{e}"
        );
        // The handle taken before still reads the folder it was opened on.
        let f = cap_primitives::fs::open(&h.file, Path::new("a"), cap_primitives::fs::OpenOptions::new().read(true))
            .unwrap();
        drop(f);
        // Gone: missing; made again at the same real path: re-opened.
        std::fs::remove_file(d.join("g")).unwrap();
        assert!(matches!(slot.current().unwrap_err(), GrantFault::Missing { .. }));
        std::fs::create_dir(d.join("g")).unwrap();
        let again = slot.current().unwrap();
        assert_ne!((again.dev, again.ino), (h.dev, h.ino));
        // Opening never follows a symlink in the resolved path.
        assert!(open_nofollow(&d.join("g")).is_ok());
        std::os::unix::fs::symlink(d.join("secret"), d.join("link")).unwrap();
        assert!(open_nofollow(&d.join("link")).is_err());
    }

    #[test]
    fn nesting_and_home_overlaps_are_refused_naming_both() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().canonicalize().unwrap();
        for p in ["repos/plans", "out/in", "home/plugins", "x"] {
            std::fs::create_dir_all(d.join(p)).unwrap();
        }
        let g = |n: &str, p: &str, w| Grant { name: n.into(), host_path: d.join(p), writable: w };
        let home = vec![("plugins folder".to_string(), d.join("home/plugins"))];
        assert!(check_layout("p", &[g("repos", "repos", false), g("plans", "repos/plans", false)], &[], &home).is_ok());
        let e =
            check_layout("p", &[g("out", "out", true), g("in", "out/in", false)], &[], &home).unwrap_err().to_string();
        assert!(e.contains("out/in") && e.contains(&d.join("out").display().to_string()), "{e}");
        // Through a symlink: compared on real paths.
        std::os::unix::fs::symlink(d.join("home/plugins"), d.join("x/p")).unwrap();
        let e = check_layout("p", &[g("p", "x/p", false)], &[], &home).unwrap_err().to_string();
        assert!(e.contains("plugins folder") && e.contains("really"), "{e}");
        let others = vec![("q".to_string(), g("w", "out", true))];
        let e = check_layout("p", &[g("in", "out/in", false)], &others, &home).unwrap_err().to_string();
        assert!(e.contains("plugin `q`") && e.contains("out/in"), "{e}");
        assert!(check_layout("q", &[g("w", "out", true)], &others, &home).is_ok(), "its own grant");
    }
}
