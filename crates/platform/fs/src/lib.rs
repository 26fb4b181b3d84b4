//! Crash-safe, portable file primitives. Every platform call baton makes on a handoff, a claim,
//! a plugin file or a quarantined track goes through this crate, so the pipeline and the
//! fingerprint quarantine keep the same promises on Linux and on macOS, and the code macOS runs
//! is also run here (`BATON_FS_PORTABLE=1`, see [`portable`]).
//!
//! What each promise rests on:
//!
//! | promise | Linux (native) | macOS; Linux with `BATON_FS_PORTABLE=1` |
//! |---|---|---|
//! | rename without replacing ([`rename_noreplace`]) | `renameat2(RENAME_NOREPLACE)` | `renameatx_np(RENAME_EXCL)` (rustix `renameat_with` maps the flag); with `BATON_FS_PORTABLE=1`, or on a file system that refuses the flag (SMB, exFAT, old NFS): `link` then `unlink`, see [`rename_noreplace`] |
//! | create without overwriting, never seen half-written ([`create_new`]) | an anonymous `O_TMPFILE` inode, synced, named with `linkat` | a temp file opened `O_CREAT \| O_EXCL \| O_NOFOLLOW` (a planted symlink is never followed), synced, then renamed without replacing |
//! | file contents durable ([`sync_file`]) | `fdatasync` | `fcntl(F_FULLFSYNC)`: plain `fsync` only reaches the drive's cache there; `fsync` where the file system refuses it |
//! | names durable ([`sync_dir`]) | `fsync` on the folder (ext4, xfs, btrfs make the entry durable) | `F_FULLFSYNC` on the folder (APFS flushes the volume's journal), `fsync` where refused |
//! | one live owner per claim folder | `flock`: per open file description, released when the process dies | the same BSD `flock` semantics on APFS/HFS+. On SMB/NFS `flock` is local to one machine on both systems: one handoffs tree shared across machines is not a promise |
//! | bounded inbox reads ([`read_capped`]) | `O_NOFOLLOW \| O_NONBLOCK`, `fstat` must say regular file, at most the cap read | the same |
//!
//! | a group of new files durable at once ([`Unwritten`], [`sync_group`]) | written unnamed (`O_TMPFILE`), fds kept; more than [`SYNCFS_OVER`] files: one `syncfs`, else `fdatasync` on each in parallel; then named | written under temp names, fds kept; `fsync` on each (to the drive), then one `F_FULLFSYNC` (the drive's cache); then renamed without replacing. Portable on Linux: `fdatasync` each, in parallel |
//! | a new handoff's sync a data write, not a journal commit ([`spares`]) | written over a spare (a block of spaces already written out, taken by rename), synced, cut to its bytes, then named | none: every handoff is a new file (an overwrite allocates anyway on APFS) |
//!
//! `BATON_FS_OPLOG=<file>` records, one line each, the writes, syncs and links of the group
//! path and of [`link`], with the inode and device they concern (see [`oplog`]): the tests
//! check from it that no file is linked where others see it before the sync that covers it.
//!
//! Temp files are named `.baton-tmp.<pid>.<random>` in the folder of the file being created: a
//! dotfile, so no inbox scan takes it for work, and short, so a long final name still fits.
//! A crash can leave one behind; [`sweep_stale_temps`] reclaims it (it is baton's own unpublished
//! write, or a second name of a file that was already published).
use baton_sync::Locked;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags, fstat, linkat, lstat, openat, unlinkat};
use rustix::io::Errno;

pub mod spares;

/// Whether the portable paths are used: on every system but Linux, and on Linux when
/// `BATON_FS_PORTABLE=1` forces them (read once per process). The tests run the crash-safety
/// suites both ways on Linux, with one build: the code macOS runs (no `O_TMPFILE`, no
/// `renameat2`) is exercised where CI runs, without compiling the workspace twice. The
/// portable paths are as safe, only slower (a temp name, a link and an unlink).
pub fn portable() -> bool {
    !cfg!(target_os = "linux") || forced_portable()
}

/// `BATON_FS_PORTABLE=1`: the fallbacks a file system without the native calls gets (and
/// macOS's own paths where it has no native call), on any system.
fn forced_portable() -> bool {
    static FORCED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FORCED.get_or_init(|| std::env::var_os("BATON_FS_PORTABLE").is_some_and(|v| v == "1"))
}

/// Which set of primitives this process uses, for logs and benchmarks.
pub fn mode() -> &'static str {
    if portable() { "portable" } else { "linux-native" }
}

/// The prefix of every temp file this crate creates.
pub const TEMP_PREFIX: &str = ".baton-tmp.";

/// The folder of temp files in an agent's folder (`<agent>/.baton-tmp/`), where a new handoff
/// is written before it is named in the inbox beside it, and where its spares are kept
/// ([`spares`]).
pub const TEMP_DIR: &str = ".baton-tmp";

/// The file system said it has no such operation or flag.
fn unsupported(e: Errno) -> bool {
    e == Errno::INVAL || e == Errno::NOSYS || e == Errno::NOTSUP || e == Errno::OPNOTSUPP
}

/// Renames `from` to `to`, failing with `AlreadyExists` instead of replacing `to`, and with
/// `NotFound` if `from` is gone (another process took it first).
///
/// Native: one atomic call, `renameat2(RENAME_NOREPLACE)` on Linux, `renameatx_np(RENAME_EXCL)`
/// on macOS. Fallback (`BATON_FS_PORTABLE=1`, or a file system that refuses the flag), for files
/// only: `link(from, to)` (which never replaces), then `unlink(from)` if `from` still names the
/// linked inode. Of two processes racing for one `from`, only one `unlink` succeeds; the other
/// withdraws its link and gets `NotFound`, so exactly one wins, as with the native call. What the
/// fallback cannot promise: a crash between the two steps leaves the file under both names (the
/// pipeline then sees the same content twice and files the second as a duplicate).
pub fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    if !forced_portable() {
        match rustix::fs::renameat_with(CWD, from, CWD, to, rustix::fs::RenameFlags::NOREPLACE) {
            Ok(()) => return Ok(()),
            Err(e) if unsupported(e) => {
                tracing::debug!(from = %from.display(), "no-replace rename refused by the file system; using link + unlink")
            }
            Err(e) => return Err(e.into()),
        }
    }
    rename_by_link(from, to)
}

fn rename_by_link(from: &Path, to: &Path) -> io::Result<()> {
    linkat(CWD, from, CWD, to, AtFlags::empty())?;
    let linked = lstat(to)?;
    let still_ours = matches!(lstat(from), Ok(s) if s.st_dev == linked.st_dev && s.st_ino == linked.st_ino);
    let unlinked = if still_ours { unlinkat(CWD, from, AtFlags::empty()) } else { Err(Errno::NOENT) };
    match unlinked {
        Ok(()) => Ok(()),
        Err(e) => {
            // Another process moved `from` first (or it cannot be removed): withdraw our name.
            let _ = unlinkat(CWD, to, AtFlags::empty());
            Err(e.into())
        }
    }
}

/// Whether two paths are links to one file (same device and inode). Where [`rename_noreplace`]
/// is `link` then `unlink`, a process killed between the two leaves exactly that; callers use
/// this to finish the move instead of doing it twice.
pub fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::symlink_metadata(a), std::fs::symlink_metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// Creates `path` with `bytes` durably and without overwriting. Returns `Ok(false)` if `path`
/// already existed, which callers treat as "already written by an earlier run" (names are
/// derived from the claim).
///
/// No reader ever sees a partial file. Linux native: an anonymous `O_TMPFILE` inode is written,
/// synced, then named with `linkat`, which fails rather than replace; a crash leaves nothing.
/// Portable (macOS, or a file system without `O_TMPFILE`): a temp file `.baton-tmp.<pid>.<random>`
/// opened with `O_CREAT | O_EXCL | O_NOFOLLOW`, written, synced, then renamed without replacing;
/// a crash can leave the temp behind for [`sweep_stale_temps`].
///
/// `sync` false skips the data sync (the caller syncs another way).
pub fn create_new(path: &Path, bytes: &[u8], sync: bool) -> io::Result<bool> {
    let dir = parent(path);
    #[cfg(target_os = "linux")]
    if !forced_portable() {
        match create_anonymous(dir, bytes, sync) {
            Ok(fd) => {
                let proc_path = format!("/proc/self/fd/{}", rustix::fd::AsRawFd::as_raw_fd(&fd));
                return match linkat(CWD, proc_path.as_str(), CWD, path, AtFlags::SYMLINK_FOLLOW) {
                    Ok(()) => Ok(true),
                    Err(Errno::EXIST) => Ok(false),
                    Err(e) => Err(e.into()),
                };
            }
            Err(e) if unsupported(e) || e == Errno::ISDIR => {}
            Err(e) => return Err(e.into()),
        }
    }
    create_with_temp_name(path, dir, bytes, sync)
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(target_os = "linux")]
fn create_anonymous(dir: &Path, bytes: &[u8], sync: bool) -> rustix::io::Result<rustix::fd::OwnedFd> {
    let fd = openat(CWD, dir, OFlags::TMPFILE | OFlags::WRONLY | OFlags::CLOEXEC, Mode::from_raw_mode(0o644))?;
    let mut file = File::from(fd);
    let errno = |e: io::Error| Errno::from_io_error(&e).unwrap_or(Errno::IO);
    file.write_all(bytes).map_err(errno)?;
    if sync {
        sync_file(&file).map_err(errno)?;
        oplog_file("sync", &file, dir);
    }
    Ok(file.into())
}

fn create_with_temp_name(path: &Path, dir: &Path, bytes: &[u8], sync: bool) -> io::Result<bool> {
    let (tmp, mut file) = open_temp(dir)?;
    let mut write = || -> io::Result<bool> {
        file.write_all(bytes)?;
        if sync {
            sync_file(&file)?;
            oplog_file("sync", &file, dir);
        }
        match rename_noreplace(&tmp, path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        }
    };
    let result = write();
    if !matches!(result, Ok(true)) {
        let _ = unlinkat(CWD, &tmp, AtFlags::empty());
    }
    result
}

/// A random number for a new name: never the same twice in a process, unlikely across them.
pub(crate) fn random_part() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

/// A new temp name in `dir`: [`TEMP_PREFIX`]`<pid>.<random>`.
pub(crate) fn temp_name(dir: &Path) -> PathBuf {
    dir.join(format!("{TEMP_PREFIX}{}.{:016x}", std::process::id(), random_part()))
}

/// Opens a new temp file in `dir` with `O_CREAT | O_EXCL | O_NOFOLLOW`: an existing name,
/// whether a leftover or a planted symlink, is never opened, followed or truncated; another
/// random name is tried instead.
pub(crate) fn open_temp(dir: &Path) -> io::Result<(PathBuf, File)> {
    let mut last = Errno::EXIST;
    for _ in 0..16 {
        let tmp = temp_name(dir);
        match open_exclusive(&tmp) {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e == Errno::EXIST || e == Errno::LOOP => last = e,
            Err(e) => return Err(e.into()),
        }
    }
    Err(io::Error::new(io::Error::from(last).kind(), format!("no free temp name in {}", dir.display())))
}

/// `O_CREAT | O_EXCL | O_NOFOLLOW`: creates `path` or fails; never opens what is there.
fn open_exclusive(path: &Path) -> rustix::io::Result<File> {
    let flags = OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::WRONLY | OFlags::CLOEXEC;
    openat(CWD, path, flags, Mode::from_raw_mode(0o644)).map(File::from)
}

/// Removes the temp files a crashed writer left in `dir`: names starting with [`TEMP_PREFIX`],
/// regular files (a symlink or folder under such a name is not ours and is left alone), older
/// than `min_age`, whose writing process is gone. Returns how many were removed. A write holds
/// its temp for milliseconds, so a `min_age` of minutes never touches a live one.
pub fn sweep_stale_temps(dir: &Path, min_age: Duration) -> io::Result<usize> {
    let mut removed = 0;
    let now = SystemTime::now();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(rest) = name.as_bytes().strip_prefix(TEMP_PREFIX.as_bytes()) else { continue };
        let Ok(meta) = entry.path().symlink_metadata() else { continue };
        if !meta.file_type().is_file() {
            continue;
        }
        let age = meta.modified().ok().and_then(|m| now.duration_since(m).ok()).unwrap_or_default();
        if age < min_age || writer_alive(rest) {
            continue;
        }
        match unlinkat(CWD, entry.path(), AtFlags::empty()) {
            Ok(()) => removed += 1,
            Err(Errno::NOENT) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(removed)
}

/// Whether the process named in a temp name (`<pid>.<random>`) is alive. Our own pid counts
/// as dead: our own temps never outlive one write, so an old one came from an earlier process
/// that had the same pid (common in containers).
fn writer_alive(rest: &[u8]) -> bool {
    let pid =
        rest.split(|&b| b == b'.').next().and_then(|p| std::str::from_utf8(p).ok()).and_then(|p| p.parse::<i32>().ok());
    match pid.and_then(rustix::process::Pid::from_raw) {
        Some(pid) if pid.as_raw_nonzero().get() as u32 != std::process::id() => {
            !matches!(rustix::process::test_kill_process(pid), Err(Errno::SRCH))
        }
        _ => false,
    }
}

/// A new file's bytes, written but not yet durable and not yet named where anyone looks: an
/// anonymous `O_TMPFILE` inode (Linux native) or a temp file (portable). Make a group of them
/// durable with [`sync_group`], then give each its name with [`Unwritten::publish`]. Dropped
/// unpublished, it leaves nothing (an anonymous inode vanishes, a temp file is removed; a crash
/// leaves the temp for [`sweep_stale_temps`]).
pub struct Unwritten {
    file: File,
    temp: Option<PathBuf>,
    /// Written over a spare ([`spares`]): the length its bytes have, to cut it to before it is
    /// named.
    cut: Option<u64>,
}

impl Unwritten {
    /// Writes `bytes` into a new unnamed file in `dir` (no sync).
    pub fn write(dir: &Path, bytes: &[u8]) -> io::Result<Self> {
        #[cfg(target_os = "linux")]
        if !forced_portable() {
            match create_anonymous(dir, bytes, false) {
                Ok(fd) => {
                    let file = File::from(fd);
                    oplog_file("write", &file, dir);
                    return Ok(Unwritten { file, temp: None, cut: None });
                }
                Err(e) if unsupported(e) || e == Errno::ISDIR => {}
                Err(e) => return Err(e.into()),
            }
        }
        let (tmp, file) = open_temp(dir)?;
        let mut unwritten = Unwritten { file, temp: Some(tmp), cut: None };
        unwritten.file.write_all(bytes)?;
        oplog_file("write", &unwritten.file, dir);
        Ok(unwritten)
    }

    /// [`Self::write`] for a handoff (JSON): over a spare taken from `spares` when there is one
    /// and `bytes` fit, so that the sync which must come before its name is a data write, not
    /// a journal commit (see [`spares`]); else as [`Self::write`] does.
    pub fn write_handoff(dir: &Path, spares: &Path, bytes: &[u8]) -> io::Result<Self> {
        match spares::take(spares, dir, bytes) {
            Some(taken) => {
                oplog_file("write", &taken.file, dir);
                Ok(Unwritten { file: taken.file, temp: Some(taken.path), cut: Some(bytes.len() as u64) })
            }
            None => Self::write(dir, bytes),
        }
    }

    /// The open file, for syncing.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Names the file `path`, never replacing: `Ok(false)` if `path` exists (nothing is
    /// named). Call only after [`sync_group`] (or [`sync_file`]) covered it.
    pub fn publish(mut self, path: &Path) -> io::Result<bool> {
        let done = match self.temp.take() {
            None => {
                let proc_path = format!("/proc/self/fd/{}", rustix::fd::AsRawFd::as_raw_fd(&self.file));
                match linkat(CWD, proc_path.as_str(), CWD, path, AtFlags::SYMLINK_FOLLOW) {
                    Ok(()) => Ok(true),
                    Err(Errno::EXIST) => Ok(false),
                    Err(e) => Err(e.into()),
                }
            }
            Some(tmp) => {
                // A spare: cut to its bytes before anyone can see it (see [`spares`]).
                let cut = self.cut.map_or(Ok(()), |len| self.file.set_len(len));
                let r = match cut.and_then(|()| rename_noreplace(&tmp, path)) {
                    Ok(()) => Ok(true),
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
                    Err(e) => Err(e),
                };
                if !matches!(r, Ok(true)) {
                    let _ = unlinkat(CWD, &tmp, AtFlags::empty());
                }
                r
            }
        };
        if matches!(done, Ok(true)) {
            oplog_file("link", &self.file, path);
        }
        done
    }
}

impl Drop for Unwritten {
    fn drop(&mut self) {
        if let Some(tmp) = self.temp.take() {
            let _ = unlinkat(CWD, &tmp, AtFlags::empty());
        }
    }
}

/// A group larger than this is made durable with one `syncfs` (Linux native) rather than one
/// `fdatasync` per file: past a handful of files the one call is cheaper.
pub const SYNCFS_OVER: usize = 4;

/// Threads syncing one group's files at once, where each file is synced on its own.
const SYNC_THREADS: usize = 8;

/// Makes every file of a group durable, as cheaply as the system allows (see the table above).
/// The files may be on several file systems: `syncfs` runs once per device.
pub fn sync_group(files: &[&File]) -> io::Result<()> {
    if files.is_empty() {
        return Ok(());
    }
    #[cfg(target_os = "linux")]
    if !forced_portable() && files.len() > SYNCFS_OVER {
        let mut devices: Vec<(u64, &File)> = Vec::new();
        for f in files {
            let dev = fstat(f)?.st_dev as u64;
            if !devices.iter().any(|(d, _)| *d == dev) {
                devices.push((dev, f));
            }
        }
        for (dev, f) in devices {
            rustix::fs::syncfs(f)?;
            oplog(&format!("syncfs dev={dev}"));
        }
        return Ok(());
    }
    #[cfg(target_vendor = "apple")]
    {
        // fsync each (to the drive), then one F_FULLFSYNC empties the drive's cache.
        for f in files {
            rustix::fs::fsync(f)?;
        }
        if rustix::fs::fcntl_fullfsync(files[0]).is_err() {
            tracing::debug!("F_FULLFSYNC refused; fsync only");
        }
        for f in files {
            oplog_file("sync", f, Path::new(""));
        }
        return Ok(());
    }
    #[allow(unreachable_code)]
    if files.len() == 1 {
        sync_file(files[0])?;
        oplog_file("sync", files[0], Path::new(""));
        return Ok(());
    }
    // In parallel (at most SYNC_THREADS at once): the file system commits the concurrent
    // syncs together.
    let per_thread = files.len().div_ceil(SYNC_THREADS);
    std::thread::scope(|s| {
        let handles: Vec<_> = files
            .chunks(per_thread)
            .map(|chunk| s.spawn(move || chunk.iter().try_for_each(|f| sync_file(f))))
            .collect();
        handles.into_iter().try_for_each(|h| h.join().unwrap_or_else(|_| Err(io::Error::other("sync thread panicked"))))
    })?;
    for f in files {
        oplog_file("sync", f, Path::new(""));
    }
    Ok(())
}

/// Hard-links `from` to `to` (never replacing), recorded in the op log.
pub fn link(from: &Path, to: &Path) -> io::Result<()> {
    std::fs::hard_link(from, to)?;
    if oplog_on()
        && let Ok(st) = lstat(to)
    {
        oplog(&format!("link dev={} ino={} {}", st.st_dev, st.st_ino, to.display()));
    }
    Ok(())
}

fn oplog_target() -> &'static Option<std::sync::Mutex<File>> {
    static LOG: std::sync::OnceLock<Option<std::sync::Mutex<File>>> = std::sync::OnceLock::new();
    LOG.get_or_init(|| {
        let path = std::env::var_os("BATON_FS_OPLOG")?;
        std::fs::OpenOptions::new().create(true).append(true).open(path).ok().map(std::sync::Mutex::new)
    })
}

fn oplog_on() -> bool {
    oplog_target().is_some()
}

/// Appends one line to the op log (`BATON_FS_OPLOG`), if one is set: `write`, `sync`, `link`
/// lines name the inode (`dev=… ino=…`) and, for links, the new name; `syncfs dev=…` covers
/// every file of that device written before it. Unset, it costs one load.
pub fn oplog(line: &str) {
    if let Some(log) = oplog_target() {
        let mut f = log.locked();
        let _ = writeln!(f, "{line}");
    }
}

fn oplog_file(op: &str, file: &File, path: &Path) {
    if oplog_on()
        && let Ok(st) = fstat(file)
    {
        oplog(&format!("{op} dev={} ino={} {}", st.st_dev, st.st_ino, path.display()));
    }
}

/// Makes a file's contents durable: `fdatasync` on Linux, `fcntl(F_FULLFSYNC)` on macOS
/// (`fsync` there only reaches the drive's cache), falling back to `fsync` on a file system
/// that refuses it.
pub fn sync_file(file: &File) -> io::Result<()> {
    #[cfg(target_vendor = "apple")]
    {
        match rustix::fs::fcntl_fullfsync(file) {
            Ok(()) => Ok(()),
            Err(_) => rustix::fs::fsync(file).map_err(Into::into),
        }
    }
    #[cfg(not(target_vendor = "apple"))]
    {
        file.sync_data()
    }
}

/// fsyncs a folder, making the names created or removed in it durable (see the table above
/// for what that rests on per system).
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    let fd = openat(CWD, dir, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
    #[cfg(target_vendor = "apple")]
    if rustix::fs::fcntl_fullfsync(&fd).is_ok() {
        return Ok(());
    }
    rustix::fs::fsync(&fd).map_err(Into::into)
}

/// Why [`read_capped`] refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: {what}, not a regular file; baton reads only regular files (copy the file in instead)")]
    NotAFile { path: String, what: &'static str },
    #[error("{path}: {size} bytes is over the {max} byte cap; the file was not read")]
    TooLarge { path: String, size: u64, max: u64 },
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
}

/// Reads a whole file of at most `max` bytes, safely for a folder others can write to.
///
/// Opened with `O_NOFOLLOW | O_NONBLOCK`: a symlink (say, to `/dev/zero`) is refused, not
/// followed, and a FIFO cannot block the open. The open descriptor is then `fstat`ed and must be
/// a regular file, so a swap between a caller's check and this read changes nothing. At most
/// `max + 1` bytes are read, so a file that grows is refused rather than read without end.
pub fn read_capped(path: &Path, max: u64) -> Result<Vec<u8>, ReadError> {
    read_capped_with_stat(path, max).map(|(bytes, _)| bytes)
}

/// [`read_capped`], with what `fstat` said of the file read (taken after reading, on the same
/// descriptor): a caller that keeps the bytes can tell later whether the file is still the one
/// it read (inode, size, mtime).
pub fn read_capped_with_stat(path: &Path, max: u64) -> Result<(Vec<u8>, rustix::fs::Stat), ReadError> {
    let p = || path.display().to_string();
    let io = |e: io::Error| ReadError::Io { path: p(), source: e };
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
    let fd = match openat(CWD, path, flags, Mode::empty()) {
        Ok(fd) => fd,
        // O_NOFOLLOW on a symlink: ELOOP (Linux, macOS), EMLINK (FreeBSD).
        Err(Errno::LOOP | Errno::MLINK) => return Err(ReadError::NotAFile { path: p(), what: "a symbolic link" }),
        Err(e) => return Err(io(e.into())),
    };
    let st = fstat(&fd).map_err(|e| io(e.into()))?;
    let what = match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => None,
        FileType::Directory => Some("a folder"),
        FileType::Fifo => Some("a FIFO"),
        FileType::CharacterDevice | FileType::BlockDevice => Some("a device"),
        FileType::Socket => Some("a socket"),
        _ => Some("not a file"),
    };
    if let Some(what) = what {
        return Err(ReadError::NotAFile { path: p(), what });
    }
    let size = st.st_size as u64;
    if size > max {
        return Err(ReadError::TooLarge { path: p(), size, max });
    }
    let mut bytes = Vec::with_capacity(size as usize);
    let mut file = File::from(fd);
    (&mut file).take(max + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > max {
        return Err(ReadError::TooLarge { path: p(), size: bytes.len() as u64, max });
    }
    let after = fstat(&file).map_err(|e| io(e.into()))?;
    Ok((bytes, after))
}

/// The longest file name the supported file systems allow.
pub const NAME_MAX: usize = 255;
/// Room [`numbered`] may need (`.9999`).
pub const NUMBER_ROOM: usize = 5;

/// Tries `name`, then `name.2`, `name.3`… (see [`numbered`]) until `try_slot` takes
/// one: the one way baton finds a free numbered name.
pub fn numbered_slot<T>(name: &OsStr, mut try_slot: impl FnMut(OsString) -> io::Result<Option<T>>) -> io::Result<T> {
    let short = fit(name, NUMBER_ROOM);
    for n in 1..10_000 {
        let candidate = if n == 1 { name.to_owned() } else { numbered(&short, n) };
        if let Some(t) = try_slot(candidate)? {
            return Ok(t);
        }
    }
    Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("no free name for {name:?}")))
}

/// `name`, shortened if needed so that `room` more bytes still fit in a file name: the stem
/// is cut (at a character boundary) and a hash of the whole name keeps it unique. The full
/// name is kept where it matters (the claim, the error record).
pub fn fit(name: &OsStr, room: usize) -> OsString {
    let bytes = name.as_encoded_bytes();
    if bytes.len() + room <= NAME_MAX {
        return name.to_owned();
    }
    let ext_at =
        bytes.iter().rposition(|&b| b == b'.').filter(|&i| i > 0 && bytes.len() - i <= 16).unwrap_or(bytes.len());
    let (stem, ext) = bytes.split_at(ext_at);
    let hash = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        bytes.hash(&mut h);
        format!("~{:016x}", h.finish())
    };
    let mut keep = NAME_MAX.saturating_sub(room + ext.len() + hash.len());
    if let Ok(text) = std::str::from_utf8(stem) {
        while keep > 0 && !text.is_char_boundary(keep) {
            keep -= 1;
        }
    }
    let mut out = stem[..keep.min(stem.len())].to_vec();
    out.extend_from_slice(hash.as_bytes());
    out.extend_from_slice(ext);
    <OsString as std::os::unix::ffi::OsStringExt>::from_vec(out)
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

/// Makes `dir` and the folders above it that are missing. Unlike `std::fs::create_dir_all`,
/// which answers `mkdir`'s EEXIST with a `stat` to see whether the name is a folder (and, when
/// that `stat` fails with EIO, returns EEXIST as an error), EEXIST here always means "it
/// exists": a name that is not a folder fails whatever is done inside it next, with ENOTDIR.
pub fn ensure_dir(dir: &Path) -> io::Result<()> {
    let exists = |r: io::Result<()>| match r {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        r => r,
    };
    match std::fs::create_dir(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                ensure_dir(parent)?;
            }
            exists(std::fs::create_dir(dir))
        }
        r => exists(r),
    }
}

/// Why this process cannot write in `path` (a file or a folder), or `None` when it can: a
/// read-only file system (EROFS) or a permission it lacks (EACCES, EPERM). Asked after a
/// write failed, to say which of the two it was and what to do, never to decide in advance
/// (a check before the write would race with a remount or a `chmod`).
pub fn cannot_write(path: &Path) -> Option<io::Error> {
    match rustix::fs::access(path, rustix::fs::Access::WRITE_OK) {
        Ok(()) => None,
        Err(e) if matches!(e, rustix::io::Errno::ROFS | rustix::io::Errno::ACCESS | rustix::io::Errno::PERM) => {
            Some(e.into())
        }
        Err(_) => None,
    }
}

/// The metadata of `path` (not following a last symlink), or `None` when nothing has that
/// name. Every other failure is returned: a `stat` that fails with EIO, EACCES or ENOMEM says
/// nothing about whether the name is there, and taken as "absent" it becomes a verdict (a
/// delivery made twice, an earlier attempt's file overwritten). Callers on a TASK's path pause
/// on such an error and look again ([`ensure_dir`] is the same rule for folders).
pub fn present(path: &Path) -> io::Result<Option<std::fs::Metadata>> {
    match std::fs::symlink_metadata(path) {
        Ok(m) => Ok(Some(m)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// `<name>.error.json` beside a filed original.
pub fn error_record_name(name: &OsStr) -> OsString {
    let mut n = name.to_owned();
    n.push(".error.json");
    n
}

#[cfg(test)]
mod tests;
