//! Names that are one name on macOS: APFS and HFS+ ignore case and Unicode normalisation, so
//! `Café.json` (composed), `Café.json` (decomposed) and `CAFÉ.json` are one file there and
//! three on Linux. baton files originals as a Mac would, on both systems: a name that folds
//! ([`names::fold_key`]) onto another entry of the folder gets the next free number instead
//! (`name.2.json`), so a handoffs tree written on Linux stays whole when it reaches a Mac, and
//! the Linux tests exercise the rule the Mac enforces.
//!
//! The fold keys of a folder are read once per process and kept up to date with what this
//! process files there. Another process's filings are not seen until the next start; on a Mac
//! the file system itself refuses those (`EEXIST`), and `rename_noreplace` never overwrites on
//! either system, so what a stale view can cost is a number, never a file.
//!
//! A key and the name holding it are kept as 64-bit hashes, not as strings: a `serve` files
//! every TASK it answers into a done folder, and kept as strings (~250 bytes a filing) they grew
//! its memory with every TASK for as long as it ran. Two keys whose hashes meet cost a number,
//! as a stale view does.
use baton_sync::Locked;
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::hash::{Hash, Hasher};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use baton_handoff::names;

use baton_fs::numbered_slot;

/// Fold key → the exact name holding it, per folder, both hashed.
#[derive(Default)]
pub(crate) struct FoldedDirs {
    dirs: Mutex<HashMap<PathBuf, HashMap<u64, u64>>>,
}

/// The hash of `name`'s fold key.
fn key(name: &OsStr) -> u64 {
    hash(names::fold_key(&name.to_string_lossy()))
}

/// SipHash with fixed keys: the same in every process.
fn hash(v: impl Hash) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    v.hash(&mut h);
    h.finish()
}

impl FoldedDirs {
    /// Places a new entry in `dir`: tries `name`, `name.2`, `name.3`… as
    /// [`numbered_slot`] does, skipping every candidate that is another entry's name on a Mac;
    /// `try_slot` creates the entry (`Ok(None)` if that exact name is taken). Remembers the
    /// name it placed.
    pub(crate) fn place<T>(
        &self,
        dir: &Path,
        name: &OsStr,
        mut try_slot: impl FnMut(&OsStr) -> io::Result<Option<T>>,
    ) -> io::Result<(OsString, T)> {
        let mut all = self.dirs.locked();
        if !all.contains_key(dir) {
            all.insert(dir.to_path_buf(), load(dir)?);
        }
        let keys = all.get_mut(dir).expect("loaded above");
        let placed = numbered_slot(name, |candidate| {
            if keys.get(&key(&candidate)).is_some_and(|held| *held != hash(&candidate)) {
                return Ok(None); // one name with another entry on a Mac
            }
            Ok(try_slot(&candidate)?.map(|t| (candidate, t)))
        })?;
        keys.insert(key(&placed.0), hash(&placed.0));
        Ok(placed)
    }
}

fn load(dir: &Path) -> io::Result<HashMap<u64, u64>> {
    let mut keys = HashMap::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(keys),
        Err(e) => return Err(e),
    };
    for e in entries {
        let name = e?.file_name();
        keys.entry(key(&name)).or_insert(hash(&name));
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_that_folds_onto_another_entry_is_numbered_and_nothing_is_replaced() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("Cafe\u{301}.json"), "theirs").unwrap();
        let folded = FoldedDirs::default();
        let create = |name: &OsStr| -> io::Result<Option<()>> {
            match std::fs::OpenOptions::new().write(true).create_new(true).open(d.path().join(name)) {
                Ok(_) => Ok(Some(())),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(None),
                Err(e) => Err(e),
            }
        };
        let (a, ()) = folded.place(d.path(), OsStr::new("Caf\u{e9}.json"), create).unwrap();
        assert_eq!(a, "Caf\u{e9}.2.json");
        let (b, ()) = folded.place(d.path(), OsStr::new("CAF\u{c9}.json"), create).unwrap();
        assert_eq!(b, "CAF\u{c9}.3.json", "the .2 taken by this process counts too");
        let (c, ()) = folded.place(d.path(), OsStr::new("Other.json"), create).unwrap();
        assert_eq!(c, "Other.json");
        assert_eq!(std::fs::read(d.path().join("Cafe\u{301}.json")).unwrap(), b"theirs");
    }
}
