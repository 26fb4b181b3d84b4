//! Spare files: a new handoff written over blocks that are already on the disk, so that the
//! sync its promise needs before its name is a data write, not a journal commit.
//!
//! Why: on a journaled file system (ext4, xfs), `fdatasync` of a new file commits the journal,
//! because its blocks were just allocated; a commit waits for the one running before it, so
//! beside other syncs (`serve`'s, other agents') it is where a round trip's tail comes from.
//! `fdatasync` of a file whose blocks were allocated and written earlier (the allocation
//! committed), its size unchanged, writes the data block and flushes the drive, and commits
//! nothing. Measured on the 2-core VM's ext4 (`bench/runs/2026-11-28/spares.md` §3): about
//! half the time at p50 and at p99 (0.75 → 0.37 ms p50, 1.93 → 1.07 ms p99 idle; 1.99 → 0.95
//! ms p99 beside another writer's syncs). A round trip to a plugin has two such syncs on its
//! path: the TASK's bytes, and the RETURN's.
//!
//! How:
//! - A spare is a file of [`SPARE_BYTES`] spaces, its block allocated and written, named
//!   `.baton-spare.<random>` in a folder of temp files (`<agent>/.baton-tmp/`). [`top_up`]
//!   makes them, off any path that a caller waits on (`serve` keeps its own agent folder's
//!   supply), without a commit of their own: their allocation goes with the next commit anyone
//!   makes (a spare used before that syncs as a new file would, neither slower nor less safe).
//! - A writer takes one by renaming it to a temp name of its own ([`crate::TEMP_PREFIX`]
//!   `<pid>.<random>`, so a crash leaves it to [`crate::sweep_stale_temps`]), writes its bytes
//!   over the start and spaces over the rest (the size and the blocks stay), syncs, cuts the
//!   file to its bytes, and only then names it where others look, never replacing.
//! - So no reader ever sees the spaces: the cut is made before the name. The cut and the name
//!   are both metadata, made in that order: a journaled file system keeps the name only with
//!   the cut. Were a file system to keep the name without the cut after a power loss, the file
//!   would end in spaces, which a JSON text allows after its value: the same handoff. Only
//!   handoffs (JSON) are written this way.
//! - Only with the Linux native primitives: on macOS (APFS is copy-on-write: an overwrite
//!   allocates anyway) and with `BATON_FS_PORTABLE=1`, [`take`] finds nothing and [`top_up`]
//!   makes nothing, and every write is a new file as before. On Linux's copy-on-write btrfs a
//!   spare gains nothing and costs one block write.
//! - A spare is checked before it is used (a regular file, one link, its size, on the file
//!   system it will be named on): a file planted under that name is put back, never written.
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use rustix::fs::{CWD, Mode, OFlags, openat};

/// A spare's size: one block of the file systems baton runs on. A longer handoff is written as
/// a new file.
pub const SPARE_BYTES: usize = 4096;

/// A spare's name starts with this: a dotfile (no inbox scan takes it), and not a temp name
/// (the sweep of stale temps keeps it).
pub const SPARE_PREFIX: &str = ".baton-spare.";

/// At most this many spares are tried by one [`take`]: past that, another writer is taking
/// them as fast, and a new file is as quick.
const TRIES: usize = 4;

/// Whether this process uses spares at all (Linux native primitives).
pub fn enabled() -> bool {
    !crate::portable()
}

/// A spare taken by this process: renamed to one of its temp names, open for writing.
pub(crate) struct Taken {
    pub(crate) path: PathBuf,
    pub(crate) file: File,
}

/// Takes a spare from `dir` for `bytes` (at most [`SPARE_BYTES`]) that will be named in `dest`,
/// and writes them over it, padded with spaces to its size. `None` when there is none to take,
/// `bytes` do not fit, `dest` is on another file system (the spare could not be renamed
/// there), or spares are off: the caller writes a new file.
pub(crate) fn take(dir: &Path, dest: &Path, bytes: &[u8]) -> Option<Taken> {
    if !enabled() || bytes.len() > SPARE_BYTES {
        return None;
    }
    let entries = std::fs::read_dir(dir).ok()?;
    let mut tried = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.as_bytes().starts_with(SPARE_PREFIX.as_bytes()) {
            continue;
        }
        if tried == TRIES {
            break;
        }
        tried += 1;
        let spare = entry.path();
        let path = crate::temp_name(dir);
        // Another writer took it first: the next one.
        if crate::rename_noreplace(&spare, &path).is_err() {
            continue;
        }
        match open_checked(&path, dest) {
            Some(file) => {
                let mut padded = Vec::with_capacity(SPARE_BYTES);
                padded.extend_from_slice(bytes);
                padded.resize(SPARE_BYTES, b' ');
                if file.write_all_at(&padded, 0).is_ok() {
                    return Some(Taken { path, file });
                }
                // Unwritable: it goes with this process's temps.
                let _ = std::fs::remove_file(&path);
            }
            // Not a spare of ours: back under the name it had.
            None => {
                let _ = crate::rename_noreplace(&path, &spare);
            }
        }
    }
    None
}

/// Opens a taken spare for writing if it is one: a regular file (never through a symlink),
/// with one link (a hard link to another file would be written through), of [`SPARE_BYTES`],
/// on the file system of `dest` (where it will be named).
fn open_checked(path: &Path, dest: &Path) -> Option<File> {
    let flags = OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let file = File::from(openat(CWD, path, flags, Mode::empty()).ok()?);
    let meta = file.metadata().ok()?;
    let spare = meta.file_type().is_file() && meta.nlink() == 1 && meta.len() == SPARE_BYTES as u64;
    (spare && std::fs::metadata(dest).ok()?.dev() == meta.dev()).then_some(file)
}

/// How many spares `dir` holds.
pub fn count(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries.flatten().filter(|e| e.file_name().as_bytes().starts_with(SPARE_PREFIX.as_bytes())).count()
    })
}

/// When `dir` holds at most `low` spares, makes more (creating `dir` if missing) until it holds
/// `want`; returns how many were made. Each is written under a temp name, its block allocated
/// and written ([`write_out`]), then named. None is synced: a spare promises nothing (whatever a crash leaves of one is
/// written over whole, or fails the checks), and its allocation reaches the journal with the
/// next commit anyone makes, so keeping the supply costs no commit of its own. Nothing when
/// spares are off.
pub fn top_up(dir: &Path, low: usize, want: usize) -> io::Result<usize> {
    if !enabled() {
        return Ok(0);
    }
    let have = count(dir);
    if have > low || have >= want {
        return Ok(0);
    }
    crate::ensure_dir(dir)?;
    let spaces = [b' '; SPARE_BYTES];
    let mut made = 0;
    for _ in have..want {
        let (path, file) = crate::open_temp(dir)?;
        if let Err(e) = file.write_all_at(&spaces, 0).and_then(|()| write_out(&file)) {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        if crate::rename_noreplace(&path, &spare_name(dir)).is_ok() {
            made += 1;
        } else {
            let _ = std::fs::remove_file(&path);
        }
    }
    Ok(made)
}

/// Writes a new spare's block out, waiting for it, without a sync: `sync_file_range` makes the
/// file system allocate the block and write it, and the allocation waits in the running
/// journal transaction for the next commit (which a spare never waits for). Where that call
/// is refused, a plain data sync does the same at the price of a commit.
fn write_out(file: &File) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let flags = libc::SYNC_FILE_RANGE_WAIT_BEFORE | libc::SYNC_FILE_RANGE_WRITE | libc::SYNC_FILE_RANGE_WAIT_AFTER;
        // SAFETY: a plain system call on a descriptor this function borrows for its duration;
        // no memory is shared with the kernel.
        if unsafe { libc::sync_file_range(file.as_raw_fd(), 0, 0, flags) } == 0 {
            return Ok(());
        }
    }
    crate::sync_file(file)
}

/// A new spare name in `dir`.
fn spare_name(dir: &Path) -> PathBuf {
    dir.join(format!("{SPARE_PREFIX}{:016x}", crate::random_part()))
}
