//! Path mapping between the host and a plugin's granted folders (`host.guest-path` and
//! `host.host-path`, since 0.4.0).
//!
//! Why: other programs store host paths (djay's `file:///Users/…` URIs, Rekordbox's
//! `Location`s), and a plugin must find those files inside its grants, or learn that they are
//! outside. Both directions resolve symlinks and `..` against the real file system, so a path
//! that leaves every grant (through `..`, or a symlink inside a grant that points out of it)
//! maps to nothing; a path to a file not yet there maps through its nearest existing folder.
//!
//! Both run on the task's thread and cannot be cut off by its deadline, so a path longer than
//! the system's `PATH_MAX` (or holding a NUL) maps to nothing at once: resolving a 1 MB path of
//! 500,000 components would otherwise cost one `canonicalize` of up to 1 MB per component.
use std::path::{Component, Path, PathBuf};

use crate::{Grant, guest_paths};

/// Longest path either direction maps (Linux's `PATH_MAX`); longer ones cannot be opened anyway.
pub const MAX_PATH_BYTES: usize = 4096;

fn unmappable(p: &[u8]) -> bool {
    p.len() > MAX_PATH_BYTES || p.contains(&0)
}

/// `p` with its longest existing prefix canonicalized and the rest appended. `None` when the
/// part that does not exist holds a `..` (it cannot be resolved against the file system).
fn resolve(p: &Path) -> Option<PathBuf> {
    let mut existing = p;
    let mut rest: Vec<&std::ffi::OsStr> = Vec::new();
    loop {
        if let Ok(mut real) = existing.canonicalize() {
            for part in rest.iter().rev() {
                real.push(part);
            }
            return Some(real);
        }
        let name = match existing.components().next_back()? {
            Component::Normal(n) => n,
            Component::CurDir => std::ffi::OsStr::new(""),
            _ => return None,
        };
        if !name.is_empty() {
            rest.push(name);
        }
        existing = existing.parent()?;
    }
}

/// `mount` followed by `rel`'s components, or `None` if one is not a plain UTF-8 name.
fn join_guest(mount: &str, rel: &Path) -> Option<String> {
    let mut guest = mount.to_string();
    for c in rel.components() {
        match c {
            Component::Normal(n) => {
                guest.push('/');
                guest.push_str(n.to_str()?);
            }
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(guest)
}

/// The guest path of the host path `host` inside one of `grants`, or `None` when it is in none
/// of them (or is relative, or leaves them through `..` or a symlink). The path as written is
/// kept when it is lexically under a grant and really there; otherwise the real path is used.
pub fn guest_path_of(grants: &[Grant], host: &Path) -> Option<String> {
    if !host.is_absolute() || unmappable(host.as_os_str().as_encoded_bytes()) {
        return None;
    }
    let real = resolve(host)?;
    let lexical = !host.components().any(|c| c == Component::ParentDir);
    for (g, mount) in grants.iter().zip(guest_paths(grants)) {
        let Ok(root) = g.host_path.canonicalize() else { continue };
        if !real.starts_with(&root) {
            continue;
        }
        let given = std::path::absolute(&g.host_path).unwrap_or_else(|_| root.clone());
        if lexical && let Some(guest) = host.strip_prefix(&given).ok().and_then(|rel| join_guest(&mount, rel)) {
            return Some(guest);
        }
        if let Some(guest) = real.strip_prefix(&root).ok().and_then(|rel| join_guest(&mount, rel)) {
            return Some(guest);
        }
    }
    None
}

/// The host path of the guest path `guest` (`/music/a.flac`), as the grant was configured
/// (absolute), or `None` when it is not inside a grant: not absolute, `..` above a mount, a
/// mount that is not granted, or a symlink inside the grant that leads out of it.
pub fn host_path_of(grants: &[Grant], guest: &str) -> Option<PathBuf> {
    if !guest.starts_with('/') || unmappable(guest.as_bytes()) {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for c in guest.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.len() <= 1 {
                    return None;
                }
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let (mount, rest) = parts.split_first()?;
    let grant = grants.iter().zip(guest_paths(grants)).find(|(_, m)| m[1..] == **mount).map(|(g, _)| g)?;
    let root = grant.host_path.canonicalize().ok()?;
    let mut host = std::path::absolute(&grant.host_path).ok()?;
    host.extend(rest);
    resolve(&host).filter(|real| real.starts_with(&root))?;
    Some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_both_ways_inside_grants_only() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().canonicalize().unwrap();
        for f in ["lib/a/x.wav", "more/y.wav", "libx/y.wav", "outside/z.wav"] {
            std::fs::create_dir_all(d.join(f).parent().unwrap()).unwrap();
            std::fs::write(d.join(f), b"").unwrap();
        }
        std::os::unix::fs::symlink(d.join("outside"), d.join("lib/escape")).unwrap();
        std::os::unix::fs::symlink(d.join("lib"), d.join("via")).unwrap();
        let g = vec![
            Grant { name: "music".into(), host_path: d.join("lib"), writable: false },
            Grant { name: "music".into(), host_path: d.join("more"), writable: false },
        ];
        let guest = |p: &str| guest_path_of(&g, &d.join(p));
        assert_eq!(guest("lib/a/x.wav").as_deref(), Some("/music/a/x.wav"));
        assert_eq!(guest("lib/a/not-yet.wav").as_deref(), Some("/music/a/not-yet.wav"), "a file not there yet");
        assert_eq!(guest("more/y.wav").as_deref(), Some("/music-2/y.wav"));
        assert_eq!(guest("via/a/x.wav").as_deref(), Some("/music/a/x.wav"), "through a symlink into the grant");
        assert_eq!(guest("lib/../more/y.wav").as_deref(), Some("/music-2/y.wav"));
        assert_eq!(guest("lib"), Some("/music".into()));
        for out in
            ["libx/y.wav", "outside/z.wav", "lib/escape/z.wav", "lib/../outside/z.wav", "lib/new/../../outside/z.wav"]
        {
            assert_eq!(guest(out), None, "{out}");
        }
        assert_eq!(guest_path_of(&g, Path::new("lib/a/x.wav")), None, "relative");

        let host = |p: &str| host_path_of(&g, p);
        assert_eq!(host("/music/a/x.wav"), Some(d.join("lib/a/x.wav")));
        assert_eq!(host("/music/a/../a/./x.wav"), Some(d.join("lib/a/x.wav")));
        assert_eq!(host("/music-2/y.wav"), Some(d.join("more/y.wav")));
        assert_eq!(host("/music/new.wav"), Some(d.join("lib/new.wav")));
        for out in
            ["/music/../outside/z.wav", "/music/escape/z.wav", "music/a/x.wav", "/etc/passwd", "/music-3/y.wav", "/"]
        {
            assert_eq!(host(out), None, "{out}");
        }
        let long = format!("/music/{}", "a/".repeat(300_000));
        let started = std::time::Instant::now();
        assert_eq!(host(&long), None);
        assert_eq!(guest_path_of(&g, &d.join(&long[1..])), None);
        assert!(started.elapsed() < std::time::Duration::from_secs(1), "a long path is refused at once");
        assert_eq!(host("/music/a/x.wav\0/etc/passwd"), None, "a NUL");
        // Round trip.
        assert_eq!(host("/music/a/x.wav").and_then(|h| guest_path_of(&g, &h)).as_deref(), Some("/music/a/x.wav"));
    }
}
