//! Crash-safe file-system primitives. Every name the pipeline creates is created without
//! overwriting (`link` or `renameat2(RENAME_NOREPLACE)`), and every file it creates is
//! written under a temporary name and synced before it becomes visible.
use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use rustix::fs::{linkat, openat, renameat_with, AtFlags, Mode, OFlags, RenameFlags, CWD};

/// Renames `from` to `to`, failing with `AlreadyExists` instead of replacing `to`.
pub fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE).map_err(io::Error::from)
}

/// Creates `path` with `bytes` durably and without overwriting. Returns `Ok(false)` if `path`
/// already existed, which callers treat as "already written by an earlier run" (names are
/// derived from the claim).
///
/// The file is written as an anonymous `O_TMPFILE` inode, synced, then given its name with
/// `linkat`, which fails rather than replace: no reader ever sees a partial file, and a crash
/// leaves nothing behind. Where the file system has no `O_TMPFILE`, a dot-named temp file
/// and `link` do the same job.
///
/// `sync` false skips the data sync (the caller syncs another way).
pub fn create_new(path: &Path, bytes: &[u8], sync: bool) -> io::Result<bool> {
    let dir = path.parent().unwrap_or(Path::new("."));
    match create_anonymous(dir, bytes, sync) {
        Ok(fd) => {
            let proc_path = format!("/proc/self/fd/{}", rustix::fd::AsRawFd::as_raw_fd(&fd));
            match linkat(CWD, proc_path.as_str(), CWD, path, AtFlags::SYMLINK_FOLLOW) {
                Ok(()) => Ok(true),
                Err(rustix::io::Errno::EXIST) => Ok(false),
                Err(e) => Err(e.into()),
            }
        }
        Err(rustix::io::Errno::OPNOTSUPP | rustix::io::Errno::ISDIR | rustix::io::Errno::INVAL) => {
            create_with_temp_name(path, dir, bytes, sync)
        }
        Err(e) => Err(e.into()),
    }
}

fn create_anonymous(dir: &Path, bytes: &[u8], sync: bool) -> rustix::io::Result<rustix::fd::OwnedFd> {
    let fd = openat(CWD, dir, OFlags::TMPFILE | OFlags::WRONLY | OFlags::CLOEXEC, Mode::from_raw_mode(0o644))?;
    let mut file = File::from(fd);
    file.write_all(bytes).map_err(|e| rustix::io::Errno::from_io_error(&e).unwrap_or(rustix::io::Errno::IO))?;
    if sync {
        file.sync_data().map_err(|e| rustix::io::Errno::from_io_error(&e).unwrap_or(rustix::io::Errno::IO))?;
    }
    Ok(file.into())
}

fn create_with_temp_name(path: &Path, dir: &Path, bytes: &[u8], sync: bool) -> io::Result<bool> {
    let mut tmp_name = OsString::from(".");
    tmp_name.push(path.file_name().unwrap_or_default());
    tmp_name.push(".baton-tmp");
    let tmp = dir.join(tmp_name);
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        if sync {
            f.sync_data()?;
        }
    }
    let linked = match fs::hard_link(&tmp, path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    };
    let _ = fs::remove_file(&tmp);
    linked
}

/// fsyncs a folder, making the names created or removed in it durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// `name` with `.N` inserted before its extension: `a.json` → `a.2.json`.
pub fn numbered(name: &OsStr, n: u32) -> OsString {
    if n <= 1 {
        return name.to_owned();
    }
    let bytes = name.as_bytes();
    let (stem, ext) = match bytes.iter().rposition(|&b| b == b'.') {
        Some(i) if i > 0 => (&bytes[..i], &bytes[i..]),
        _ => (bytes, &b""[..]),
    };
    let mut out = stem.to_vec();
    out.extend_from_slice(format!(".{n}").as_bytes());
    out.extend_from_slice(ext);
    OsString::from_vec(out)
}

/// Moves `from` into `dir` under its name, or `name.2.json`, `name.3.json`… if taken.
/// Never overwrites. Returns the final path.
pub fn move_into(from: &Path, dir: &Path, name: &OsStr) -> io::Result<PathBuf> {
    for n in 1..10_000 {
        let to = dir.join(numbered(name, n));
        match rename_noreplace(from, &to) {
            Ok(()) => return Ok(to),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("no free name for {name:?} in {}", dir.display())))
}

/// `<name>.error.json` beside a filed original.
pub fn error_record_name(name: &OsStr) -> OsString {
    let mut n = name.to_owned();
    n.push(".error.json");
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_new_never_overwrites() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.json");
        assert!(create_new(&p, b"first", true).unwrap());
        assert!(!create_new(&p, b"second", true).unwrap());
        assert_eq!(fs::read(&p).unwrap(), b"first");
        // no temp file is left behind
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn the_fallback_never_overwrites_either() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.json");
        assert!(create_with_temp_name(&p, d.path(), b"first", true).unwrap());
        assert!(!create_with_temp_name(&p, d.path(), b"second", true).unwrap());
        assert_eq!(fs::read(&p).unwrap(), b"first");
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn move_into_picks_a_free_name() {
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().join("dest");
        fs::create_dir(&dest).unwrap();
        fs::write(dest.join("a.json"), "old").unwrap();
        fs::write(d.path().join("a.json"), "new").unwrap();
        let to = move_into(&d.path().join("a.json"), &dest, OsStr::new("a.json")).unwrap();
        assert_eq!(to, dest.join("a.2.json"));
        assert_eq!(fs::read(dest.join("a.json")).unwrap(), b"old");
        assert_eq!(numbered(OsStr::new("noext"), 3), OsString::from("noext.3"));
    }
}
