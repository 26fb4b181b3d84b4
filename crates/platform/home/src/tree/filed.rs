//! The readings of filed handoffs (`02_processed/`), kept between runs in the user's cache so
//! that `status` and the dashboard do not open a hundred thousand filed files at every look.
//!
//! Why this is safe: a filed handoff is history, written once. A folder is listed again when
//! its mtime moved (a file came, went or was renamed); then each file is read again when its
//! length or mtime moved. A folder or file changed in the last [`SETTLE`] is not trusted by its
//! mtime alone (a second change in the same clock tick would not move it): it is looked at
//! again next time. What the cache cannot see is a filed file rewritten in place with the same
//! length and mtime, which no editor or agent does. Losing or corrupting the cache costs one
//! slow look, nothing else: it is a cache, never state.
use std::collections::HashMap;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use baton_handoff::dialect::Seen;

/// A change younger than this is looked at again next time.
const SETTLE: Duration = Duration::from_secs(2);
/// Bumped when [`Folder`]'s shape changes: an older cache is ignored.
const VERSION: u32 = 1;

/// A file system time as whole seconds and nanoseconds since the epoch.
type Stamp = (i64, u32);

fn stamp(t: SystemTime) -> Stamp {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
        Err(e) => (-(e.duration().as_secs() as i64), 0),
    }
}

/// Whether `t` is at least [`SETTLE`] before `now`.
fn settled(t: SystemTime, now: SystemTime) -> bool {
    now.duration_since(t).is_ok_and(|d| d >= SETTLE)
}

/// One entry of a filed folder as last seen.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Item {
    /// The entry's name, as bytes (a name need not be UTF-8).
    pub name: Vec<u8>,
    pub len: u64,
    pub mtime: Stamp,
    /// Its reading; `None`: read again at every look (unreadable, a link, a folder, or changed
    /// too recently to trust).
    pub seen: Option<Seen>,
}

impl Item {
    pub fn name(&self) -> std::ffi::OsString {
        std::ffi::OsString::from_vec(self.name.clone())
    }
    /// The file's mtime, for its age when its body gives none.
    pub fn modified(&self) -> SystemTime {
        let (s, n) = self.mtime;
        if s >= 0 {
            SystemTime::UNIX_EPOCH + Duration::new(s as u64, n)
        } else {
            SystemTime::UNIX_EPOCH - Duration::from_secs(s.unsigned_abs())
        }
    }
}

/// A filed folder as last listed: its mtime (`None` when it had changed too recently to trust)
/// and its entries in name order.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Folder {
    pub mtime: Option<Stamp>,
    pub items: Vec<Item>,
}

#[derive(Serialize, Deserialize)]
struct File {
    version: u32,
    folders: Vec<(Vec<u8>, Folder)>,
}

/// The cache of one handoffs root, read at the start of a scan and written at its end when
/// anything in it changed.
pub struct Filed {
    file: Option<PathBuf>,
    old: HashMap<PathBuf, Folder>,
    new: Vec<(PathBuf, Folder)>,
    changed: bool,
    now: SystemTime,
}

impl Filed {
    /// The cache for `root` in the folder `cache` (`None`: nothing kept, every file read).
    pub fn open(cache: Option<&Path>, root: &Path) -> Filed {
        use sha2::{Digest, Sha256};
        let file = cache.map(|c| {
            let key = hex::encode(&Sha256::digest(root.as_os_str().as_bytes())[..8]);
            c.join(format!("filed-{key}.bin"))
        });
        let old = file
            .as_deref()
            .and_then(|f| std::fs::read(f).ok())
            .and_then(|b| postcard::from_bytes::<File>(&b).ok())
            .filter(|f| f.version == VERSION)
            .map(|f| f.folders.into_iter().map(|(p, d)| (PathBuf::from(std::ffi::OsString::from_vec(p)), d)).collect())
            .unwrap_or_default();
        Filed { file, old, new: Vec::new(), changed: false, now: SystemTime::now() }
    }

    /// The folder `dir` as last listed, when its mtime says nothing came or went since.
    pub fn unchanged(&mut self, dir: &Path, mtime: Option<SystemTime>) -> Option<Folder> {
        let mtime = mtime?;
        let same = self.old.get(dir).is_some_and(|f| f.mtime == Some(stamp(mtime)));
        if same { self.old.remove(dir) } else { None }
    }

    /// A file's last reading, when its length and mtime are as they were.
    pub fn reading(&self, dir: &Path, name: &[u8], len: u64, mtime: SystemTime) -> Option<&Seen> {
        let f = self.old.get(dir)?;
        let i = f.items.binary_search_by(|it| it.name.as_slice().cmp(name)).ok()?;
        let it = &f.items[i];
        (it.len == len && it.mtime == stamp(mtime)).then_some(it.seen.as_ref()).flatten()
    }

    /// An item for a file read now: its reading is kept only when the file has settled.
    pub fn item(&self, name: &[u8], len: u64, mtime: SystemTime, seen: Option<&Seen>) -> Item {
        let seen = seen.filter(|_| settled(mtime, self.now)).cloned();
        Item { name: name.to_vec(), len, mtime: stamp(mtime), seen }
    }

    /// Keeps `dir`'s folder as listed now (`listed`: it was listed again, so the cache is
    /// written at the end).
    pub fn keep(&mut self, dir: PathBuf, mut folder: Folder, mtime: Option<SystemTime>, listed: bool) {
        if listed {
            folder.items.sort_by(|a, b| a.name.cmp(&b.name));
            folder.mtime = mtime.filter(|t| settled(*t, self.now)).map(stamp);
            self.changed = true;
        }
        self.new.push((dir, folder));
    }

    /// Writes the cache when a folder was listed again or one is gone (atomically: a new file
    /// renamed over the old). Failing to write costs the next look its speed, nothing else.
    pub fn save(self) {
        let Some(file) = self.file else { return };
        let gone = self.old.keys().any(|d| !self.new.iter().any(|(n, _)| n == d));
        if !self.changed && !gone {
            return;
        }
        let out = File {
            version: VERSION,
            folders: self.new.into_iter().map(|(p, f)| (p.into_os_string().into_vec(), f)).collect(),
        };
        let Ok(bytes) = postcard::to_stdvec(&out) else { return };
        let written = file.parent().map_or(Ok(()), baton_fs::ensure_dir).and_then(|()| {
            let tmp = file.with_extension(format!("tmp{}", std::process::id()));
            std::fs::write(&tmp, &bytes).and_then(|()| std::fs::rename(&tmp, &file)).inspect_err(|_| {
                let _ = std::fs::remove_file(&tmp);
            })
        });
        if let Err(e) = written {
            tracing::debug!(file = %file.display(), error = %e, "the filed handoffs' cache was not written");
        }
    }
}
