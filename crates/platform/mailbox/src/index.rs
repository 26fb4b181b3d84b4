//! A mailbox's index, kept beside baton's state (never in the mailbox): what was read of each
//! file, so a mailbox that did not change is answered without reading or parsing a file again.
//!
//! A folder's listing is kept with the folder's mtime and ctime (adding, removing or renaming an
//! entry changes them), a file's reading with its size, mtime, ctime and inode. A folder or
//! file whose stamp differs is listed or read again. A stamp within [`RACY`] of the time the
//! index was made is not trusted (git's "racily clean" entries): a file edited in place in the
//! same clock tick as it was read, keeping its size, could otherwise look unchanged; such a file
//! is read again until the index is written at a time it is older than that.
//!
//! The index is a cache: a missing, damaged, older-format or other-path index is read around
//! (everything is read from the files) and replaced. It is written (temp file, then rename)
//! only when something was read or listed again, so an unchanged mailbox writes nothing. It is
//! postcard, not JSON: a 10,000-message archive's index is loaded on every look, and as JSON
//! (12 MB) its parsing alone was a quarter of an unchanged look.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// How close to the index's making a stamp must be to be distrusted (file systems with coarse
/// timestamps tick at 1 or 2 s).
pub const RACY: i128 = 2_000_000_000;

/// The index's format: an index of another format is read around.
const VERSION: u32 = 3;

/// What identifies one state of a file or folder: size, mtime and ctime in nanoseconds, inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    pub size: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
    pub ino: u64,
}

impl Stamp {
    /// The stamp of `m`.
    pub fn of(m: &std::fs::Metadata) -> Stamp {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
            Stamp {
                size: m.size(),
                mtime_ns: ns(m.mtime(), m.mtime_nsec()),
                ctime_ns: ns(m.ctime(), m.ctime_nsec()),
                ino: m.ino(),
            }
        }
        #[cfg(not(unix))]
        {
            let mtime_ns = m.modified().map(nanos).unwrap_or(0);
            Stamp { size: m.len(), mtime_ns, ctime_ns: mtime_ns, ino: 0 }
        }
    }

    /// Whether this stamp is too close to `made` (the index's time) to be trusted.
    fn racy(&self, made: i128) -> bool {
        self.mtime_ns.max(self.ctime_ns) + RACY >= made
    }

    /// The stamp of a `stat` as rustix gives it (its field types differ by platform).
    #[cfg(unix)]
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    fn of_stat(s: &rustix::fs::Stat) -> Stamp {
        let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
        Stamp {
            size: s.st_size as u64,
            mtime_ns: ns(s.st_mtime as i64, s.st_mtime_nsec as i64),
            ctime_ns: ns(s.st_ctime as i64, s.st_ctime_nsec as i64),
            ino: s.st_ino as u64,
        }
    }
}

/// Files stat'ed relative to their folder, kept open while its files are stat'ed one after the
/// other (a mailbox is read folder by folder): a stat by the full path walks every component
/// again, which was a tenth of an unchanged look at an archive of 10,000 messages.
#[derive(Default)]
struct Folder {
    #[cfg(unix)]
    open: Option<(Vec<u8>, rustix::fd::OwnedFd)>,
}

impl Folder {
    /// The stamp of the file at `path` (following a link, as `std::fs::metadata` does).
    fn stamp(&mut self, path: &Path) -> Option<Stamp> {
        #[cfg(unix)]
        {
            use rustix::fs::{AtFlags, Mode, OFlags};
            use std::os::unix::ffi::OsStrExt;
            let bytes = path.as_os_str().as_encoded_bytes();
            if let Some(cut) = bytes.iter().rposition(|b| *b == b'/')
                && cut > 0
                && !matches!(&bytes[cut + 1..], b"" | b"." | b"..")
            {
                let (dir, name) = (&bytes[..cut], &bytes[cut + 1..]);
                if self.open.as_ref().is_none_or(|(d, _)| d.as_slice() != dir) {
                    let dir_path = Path::new(std::ffi::OsStr::from_bytes(dir));
                    self.open =
                        rustix::fs::open(dir_path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
                            .ok()
                            .map(|fd| (dir.to_vec(), fd));
                }
                let (_, fd) = self.open.as_ref()?;
                return rustix::fs::statat(fd, std::ffi::OsStr::from_bytes(name), AtFlags::empty())
                    .ok()
                    .map(|s| Stamp::of_stat(&s));
            }
        }
        std::fs::metadata(path).ok().map(|m| Stamp::of(&m))
    }
}

fn nanos(t: SystemTime) -> i128 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    }
}

/// A value shared, not copied, between the index and what a reading made of it: a kept file's
/// reading or folder's listing costs a count, not an allocation.
#[derive(Debug)]
pub struct Shared<T>(pub std::rc::Rc<T>);

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(self.0.clone())
    }
}

impl<T> std::ops::Deref for Shared<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Serialize> Serialize for Shared<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Shared<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize(d).map(|t| Shared(std::rc::Rc::new(t)))
    }
}

/// A folder's entries: name and whether it is a folder (not following links), sorted by name.
pub type Entries = Shared<Names>;

/// The names in a folder, in one string (a listing is one allocation, not one per entry: an
/// archive's index lists 60,000 files, and making and freeing them was a tenth of an unchanged
/// look), with where each ends and whether it is a folder.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Names {
    text: String,
    ends: Vec<(u32, bool)>,
}

impl Names {
    /// `entries` sorted by name (`None`: a name too long for the listing, never in practice).
    fn of(mut entries: Vec<(String, bool)>) -> Option<Names> {
        entries.sort();
        let mut n = Names { text: String::new(), ends: Vec::with_capacity(entries.len()) };
        for (name, is_dir) in entries {
            n.text.push_str(&name);
            n.ends.push((u32::try_from(n.text.len()).ok()?, is_dir));
        }
        Some(n)
    }

    /// Each entry's name and whether it is a folder, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, bool)> {
        let starts = std::iter::once(0).chain(self.ends.iter().map(|(e, _)| *e as usize));
        starts
            .zip(&self.ends)
            .map(|(start, (end, is_dir))| (self.text.get(start..*end as usize).unwrap_or_default(), *is_dir))
    }
}

/// A folder's entries as listed.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Listing {
    stamp: Stamp,
    entries: Entries,
    /// Found as it was by this reading (an entry no reading found is dropped when written).
    #[serde(skip)]
    seen: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Reading<T> {
    stamp: Stamp,
    value: T,
    #[serde(skip)]
    seen: bool,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(bound = "T: Serialize + DeserializeOwned")]
struct Stored<T> {
    version: u32,
    /// The mailbox's folder: an index of another folder is not used.
    root: PathBuf,
    /// When the reading that made it began (ns since the epoch).
    made_ns: i128,
    dirs: HashMap<String, Listing>,
    files: HashMap<String, Reading<T>>,
}

/// What one reading through the index did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Folders listed again, and answered from the index.
    pub listed: usize,
    pub dirs_kept: usize,
    /// Files read again (new, changed or racy), and answered from the index.
    pub read: usize,
    pub kept: usize,
    /// Whether the index was written.
    pub written: bool,
}

/// One reading of a mailbox through its index: the index as it was, updated in place as the
/// reading goes (what is found unchanged is only marked seen, what changed is replaced).
pub struct Index<T> {
    file: Option<PathBuf>,
    root: PathBuf,
    stored: Stored<T>,
    /// When this reading began: the index's time once written.
    made_ns: i128,
    /// Something was listed or read again, or could not be stat'ed.
    changed: bool,
    pub counts: Counts,
    folder: Folder,
}

/// The index file of mailbox `name` at `root` in the folder `dir` (beside the state):
/// `mailbox-<name>-<hash>.index`, the name made safe and the hash telling names apart.
pub fn file_in(dir: &Path, name: &str, root: &Path) -> PathBuf {
    use sha2::{Digest, Sha256};
    let safe: String = name
        .chars()
        .take(40)
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .collect();
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([0]);
    h.update(root.to_string_lossy().as_bytes());
    dir.join(format!("mailbox-{safe}-{}.index", hex::encode(&h.finalize()[..4])))
}

impl<T: Clone + Serialize + DeserializeOwned> Index<T> {
    /// The index of the mailbox at `root`, kept in `file` (none: everything is read, nothing kept).
    pub fn open(file: Option<PathBuf>, root: &Path) -> Index<T> {
        let made_ns = nanos(SystemTime::now());
        let stored = file
            .as_deref()
            .and_then(|f| std::fs::read(f).ok())
            .and_then(|b| postcard::from_bytes::<Stored<T>>(&b).ok())
            .filter(|s| s.version == VERSION && s.root == root)
            .unwrap_or_else(|| Stored {
                version: VERSION,
                root: root.to_path_buf(),
                made_ns,
                dirs: HashMap::new(),
                files: HashMap::new(),
            });
        Index {
            file,
            root: root.to_path_buf(),
            stored,
            made_ns,
            changed: false,
            counts: Counts::default(),
            folder: Folder::default(),
        }
    }

    /// `path` below the root, as the index keys it (`None`: outside it or not UTF-8, not kept).
    /// A path made by joining onto the root is cut by its bytes (parsing both paths' components
    /// was a tenth of an unchanged look at 10,000 files).
    fn key<'p>(&self, path: &'p Path) -> Option<&'p str> {
        let (p, root) = (path.as_os_str().as_encoded_bytes(), self.root.as_os_str().as_encoded_bytes());
        if let Some(rest) = p.strip_prefix(root).and_then(|r| r.strip_prefix(b"/"))
            && !root.ends_with(b"/")
            && !rest.is_empty()
            && !rest.starts_with(b"/")
            && !rest.split(|b| *b == b'/').any(|c| c.is_empty() || c == b"." || c == b"..")
        {
            return std::str::from_utf8(rest).ok();
        }
        path.strip_prefix(&self.root).ok()?.to_str()
    }

    /// The entries of folder `dir` (name, is a folder), sorted by name: from the index when the
    /// folder's stamp is the one listed and not racy, else listed again. A folder that cannot be
    /// read has none.
    pub fn list(&mut self, dir: &Path) -> Entries {
        let Ok(meta) = std::fs::metadata(dir) else { return Shared(Default::default()) };
        let stamp = Stamp::of(&meta);
        let made = self.stored.made_ns;
        let key = self.key(dir);
        if let Some(l) = key.and_then(|k| self.stored.dirs.get_mut(k))
            && l.stamp == stamp
            && !stamp.racy(made)
        {
            l.seen = true;
            self.counts.dirs_kept += 1;
            return l.entries.clone();
        }
        self.counts.listed += 1;
        self.changed = true;
        let entries: Vec<(String, bool)> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| Some((e.file_name().into_string().ok()?, e.file_type().ok()?.is_dir())))
            .collect();
        let entries = Shared(std::rc::Rc::new(Names::of(entries).unwrap_or_default()));
        if let Some(k) = key {
            self.stored.dirs.insert(k.to_string(), Listing { stamp, entries: entries.clone(), seen: true });
        }
        entries
    }

    /// What `read` makes of the file at `path`: from the index when the file's stamp is the one
    /// read and not racy, else read again (a file that cannot be stat'ed is read, not kept).
    pub fn read(&mut self, path: &Path, read: impl FnOnce(&Path) -> T) -> T {
        let stamp = self.folder.stamp(path);
        let made = self.stored.made_ns;
        let key = self.key(path);
        if let (Some(stamp), Some(r)) = (stamp, key.and_then(|k| self.stored.files.get_mut(k)))
            && r.stamp == stamp
            && !stamp.racy(made)
        {
            r.seen = true;
            self.counts.kept += 1;
            return r.value.clone();
        }
        self.counts.read += 1;
        self.changed = true;
        let value = read(path);
        if let Some(k) = key {
            match stamp {
                Some(stamp) => {
                    self.stored.files.insert(k.to_string(), Reading { stamp, value: value.clone(), seen: true });
                }
                None => {
                    self.stored.files.remove(k);
                }
            }
        }
        value
    }

    /// Writes the index as this reading left it when it differs from the one read (something
    /// was listed or read again, or is gone), its time this reading's start. A failure is only
    /// logged: the next reading reads the files again.
    pub fn save(mut self) -> Counts {
        let gone = self.stored.files.values().any(|r| !r.seen) || self.stored.dirs.values().any(|l| !l.seen);
        let Some(file) = self.file.take().filter(|_| self.changed || gone) else { return self.counts };
        self.stored.files.retain(|_, r| r.seen);
        self.stored.dirs.retain(|_, l| l.seen);
        self.stored.made_ns = self.made_ns;
        let Ok(bytes) = postcard::to_stdvec(&self.stored) else { return self.counts };
        // One temp file per writer: `serve`'s observer and its dashboard are threads of one process.
        static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = file.with_extension(format!("index.{}.{n}.tmp", std::process::id()));
        match std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, &file)) {
            Ok(()) => {
                self.counts.written = true;
                // The JSON index of the format before (`….index.json`): baton's own cache, never read now.
                let _ = std::fs::remove_file(file.with_extension("index.json"));
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                warn_unwritten(&file, &e);
            }
        }
        self.counts
    }
}

/// Says on stderr that the index could not be kept (the crate logs nothing else; the reading
/// itself is whole, the next one reads the files again).
fn warn_unwritten(file: &Path, e: &std::io::Error) {
    eprintln!(
        "baton: the mailbox index {} could not be written ({e}); the next reading reads the files again",
        file.display()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One reading, its index made `later` ns after now (as if written that long after the
    /// files last changed): every file of `dir` read through the index.
    fn reading(file: &Path, dir: &Path, later: i128) -> (Vec<(String, String)>, Counts) {
        let mut ix: Index<String> = Index::open(Some(file.to_path_buf()), dir);
        ix.made_ns += later;
        let mut out = Vec::new();
        for (name, is_dir) in ix.list(dir).iter() {
            if !is_dir {
                let text = ix.read(&dir.join(name), |p| std::fs::read_to_string(p).unwrap_or_default());
                out.push((name.to_string(), text));
            }
        }
        (out, ix.save())
    }

    const LATER: i128 = 3 * RACY;

    #[test]
    fn unchanged_files_are_not_read_changed_racy_and_gone_ones_are() {
        let d = tempfile::tempdir().unwrap();
        let (dir, state) = (d.path().join("box"), d.path().join("state"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all(&state).unwrap();
        let ixf = file_in(&state, "box", &dir);
        for n in ["a.txt", "b.txt", "c.txt"] {
            std::fs::write(dir.join(n), format!("text of {n}")).unwrap();
        }
        let old_format = ixf.with_extension("index.json");
        std::fs::write(&old_format, "{}").unwrap();
        let (first, c) = reading(&ixf, &dir, 0);
        assert_eq!(first.len(), 3);
        assert!(!old_format.exists(), "the index of the format before goes when this one is written");
        assert_eq!((c.read, c.kept, c.listed, c.written), (3, 0, 1, true));
        // An edit in place in the clock tick the reading saw, keeping the size: the stamp the
        // index holds is the file's, its text is not (made here by changing the index).
        let mut stored: Stored<String> = postcard::from_bytes(&std::fs::read(&ixf).unwrap()).unwrap();
        stored.files.get_mut("b.txt").unwrap().value = "what b.txt said before".into();
        std::fs::write(&ixf, postcard::to_stdvec(&stored).unwrap()).unwrap();
        // The index was made just after the files changed: every stamp is racy, all is read again.
        let (second, c) = reading(&ixf, &dir, LATER);
        assert_eq!(second, first, "the racy file is read again, not taken from the index");
        assert_eq!((c.read, c.kept, c.listed, c.written), (3, 0, 1, true));
        // Made well after the files changed: nothing listed, read or written.
        let (third, c) = reading(&ixf, &dir, LATER);
        assert_eq!(third, first);
        assert_eq!((c.read, c.kept, c.listed, c.dirs_kept, c.written), (0, 3, 0, 1, false));
        // An edit in place that keeps the size and the mtime: its ctime moved, read again.
        let mtime = std::fs::metadata(dir.join("b.txt")).unwrap().modified().unwrap();
        std::fs::write(dir.join("b.txt"), "TEXT OF b.txt").unwrap();
        std::fs::File::options().write(true).open(dir.join("b.txt")).unwrap().set_modified(mtime).unwrap();
        let (after, c) = reading(&ixf, &dir, LATER);
        assert_eq!(after[1], ("b.txt".to_string(), "TEXT OF b.txt".to_string()));
        assert_eq!((c.read, c.kept, c.written), (1, 2, true));
        // Gone: no longer listed (the folder's mtime moved).
        std::fs::remove_file(dir.join("a.txt")).unwrap();
        let (gone, c) = reading(&ixf, &dir, 0);
        assert_eq!(gone.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(), vec!["b.txt", "c.txt"]);
        assert_eq!(c.listed, 1);
    }

    #[test]
    fn a_damaged_or_foreign_index_is_read_around() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("box");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.txt"), "a").unwrap();
        let ixf = d.path().join("ix.index");
        std::fs::write(&ixf, "{not an index").unwrap();
        let (r, c) = reading(&ixf, &dir, LATER);
        assert_eq!((r.len(), c.read, c.written), (1, 1, true));
        let (_, c) = reading(&ixf, &dir, LATER);
        assert_eq!((c.read, c.kept), (0, 1));
        // An index of another folder is not used.
        let other = d.path().join("other");
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(other.join("a.txt"), "other a").unwrap();
        let (r, c) = reading(&ixf, &other, LATER);
        assert_eq!((r[0].1.as_str(), c.read), ("other a", 1));
        assert_ne!(file_in(d.path(), "a b", &dir), file_in(d.path(), "a_b", &dir));
    }

    /// A stamp taken relative to the open folder is the one `std::fs::metadata` gives, through
    /// a link too, folder after folder (the open folder is changed, never reused for another);
    /// a missing file has none.
    #[test]
    fn a_stamp_through_the_open_folder_is_the_files_own() {
        let d = tempfile::tempdir().unwrap();
        let (a, b) = (d.path().join("a"), d.path().join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(a.join("x.md"), "one").unwrap();
        std::fs::write(b.join("x.md"), "two, longer").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(b.join("x.md"), a.join("link.md")).unwrap();
        let mut folder = Folder::default();
        let own = |p: &Path| Stamp::of(&std::fs::metadata(p).unwrap());
        for p in [a.join("x.md"), b.join("x.md"), a.join("x.md")] {
            assert_eq!(folder.stamp(&p), Some(own(&p)), "{}", p.display());
        }
        #[cfg(unix)]
        assert_eq!(folder.stamp(&a.join("link.md")), Some(own(&b.join("x.md"))));
        assert_eq!(folder.stamp(&a.join("gone.md")), None);
        assert_eq!(folder.stamp(&d.path().join("none/x.md")), None);
    }

    /// A listing keeps every name and kind, sorted, in one string.
    #[test]
    fn names_keep_every_entry_in_order() {
        let n = Names::of(vec![("b.md".into(), false), ("2026".into(), true), ("é.md".into(), false)]).unwrap();
        let got: Vec<(&str, bool)> = n.iter().collect();
        assert_eq!(got, [("2026", true), ("b.md", false), ("é.md", false)]);
        assert_eq!(Names::default().iter().count(), 0);
    }
}
