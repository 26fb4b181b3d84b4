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
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use baton_handoff::dialect::Seen;

/// A change younger than this is looked at again next time.
const SETTLE: Duration = Duration::from_secs(2);
/// Bumped when [`Folder`]'s shape changes: an older cache is ignored.
const VERSION: u32 = 4;

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
    /// The entry's name (a folder with a name that is not UTF-8 is listed at every look).
    pub name: String,
    pub len: u64,
    pub mtime: Stamp,
    /// Its reading; `None`: read again at every look (unreadable, a link, a folder, or changed
    /// too recently to trust), or lent to the scan's entry [`Item::lent`].
    pub seen: Option<Box<Seen>>,
    /// Its `created_at` as seconds since the epoch (parsed once, when read).
    pub created: Option<i64>,
    /// The scan's entry that holds the name and reading now (moved there, not copied: a
    /// hundred thousand readings are not cloned at every look); given back by [`Filed::save`].
    #[serde(skip)]
    pub lent: Option<usize>,
}

impl Item {
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

/// One folder's cache file.
#[derive(Serialize, Deserialize)]
struct File {
    version: u32,
    /// The folder it is of: a file of another folder (a hash collision) is not used.
    dir: Vec<u8>,
    folder: Folder,
}

/// The cache of one handoffs root: a file per filed folder
/// (`filed-<root hash>-<folder hash>.bin`), read in parallel at the start of a scan, and each
/// folder listed again written at its end.
pub struct Filed {
    /// The cache folder and the files' prefix for this root.
    place: Option<(PathBuf, String)>,
    old: HashMap<PathBuf, Folder>,
    /// Each folder as this scan kept it, and whether it was listed again.
    new: Vec<(PathBuf, Folder, bool)>,
    now: SystemTime,
}

fn hash(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(bytes)[..8])
}

impl Filed {
    /// The cache for `root`'s filed folders `dirs` in the folder `cache` (`None`: nothing
    /// kept, every file read). The folders' files are read on two threads: decoding a hundred
    /// thousand readings is most of an unchanged look.
    pub fn open(cache: Option<&Path>, root: &Path, dirs: &[PathBuf]) -> Filed {
        let place = cache.map(|c| (c.to_path_buf(), format!("filed-{}-", hash(root.as_os_str().as_bytes()))));
        let mut old = HashMap::new();
        if let Some((cache, prefix)) = &place {
            let load = |dirs: &[PathBuf]| -> Vec<(PathBuf, Folder)> {
                dirs.iter()
                    .filter_map(|d| {
                        let b = std::fs::read(cache.join(Self::name(prefix, d))).ok()?;
                        let f = postcard::from_bytes::<File>(&b).ok()?;
                        (f.version == VERSION && f.dir == d.as_os_str().as_bytes()).then(|| (d.clone(), f.folder))
                    })
                    .collect()
            };
            let (a, b) = dirs.split_at(dirs.len() / 2);
            std::thread::scope(|s| {
                let other = s.spawn(|| load(a));
                old.extend(load(b));
                old.extend(other.join().unwrap_or_default());
            });
        }
        Filed { place, old, new: Vec::new(), now: SystemTime::now() }
    }

    fn name(prefix: &str, dir: &Path) -> String {
        format!("{prefix}{}.bin", hash(dir.as_os_str().as_bytes()))
    }

    /// The folder `dir` as last listed, when its mtime says nothing came or went since.
    pub fn unchanged(&mut self, dir: &Path, mtime: Option<SystemTime>) -> Option<Folder> {
        let mtime = mtime?;
        let same = self.old.get(dir).is_some_and(|f| f.mtime == Some(stamp(mtime)));
        if same { self.old.remove(dir) } else { None }
    }

    /// A file's last reading, when its length and mtime are as they were.
    pub fn reading(&self, dir: &Path, name: &str, len: u64, mtime: SystemTime) -> Option<&Seen> {
        let f = self.old.get(dir)?;
        let i = f.items.binary_search_by(|it| it.name.as_str().cmp(name)).ok()?;
        let it = &f.items[i];
        (it.len == len && it.mtime == stamp(mtime)).then_some(it.seen.as_deref()).flatten()
    }

    /// An item for a file read now: its reading is kept only when the file has settled.
    pub fn item(&self, name: &str, len: u64, mtime: SystemTime, seen: Option<&Seen>, created: Option<i64>) -> Item {
        let seen = seen.filter(|_| settled(mtime, self.now)).map(|s| Box::new(s.clone()));
        Item { name: name.to_string(), len, mtime: stamp(mtime), seen, created, lent: None }
    }

    /// Keeps `dir`'s folder as listed now (`listed`: it was listed again, so its file is
    /// written at the end).
    pub fn keep(&mut self, dir: PathBuf, mut folder: Folder, mtime: Option<SystemTime>, listed: bool) {
        if listed {
            folder.items.sort_by(|a, b| a.name.cmp(&b.name));
            folder.mtime = mtime.filter(|t| settled(*t, self.now)).map(stamp);
        }
        self.new.push((dir, folder, listed));
    }

    /// Writes the file of each folder listed again (atomically: a new file renamed over the
    /// old), the readings lent to the scan's entries given back by `lent`, and removes the
    /// files of this root's folders that are gone. Failing to write costs the next look its
    /// speed, nothing else.
    pub fn save(self, lent: impl Fn(usize) -> Option<(String, Box<Seen>)>) {
        let Some((cache, prefix)) = self.place else { return };
        if !self.new.iter().any(|(_, _, listed)| *listed) {
            return;
        }
        if let Err(e) = baton_fs::ensure_dir(&cache) {
            tracing::debug!(folder = %cache.display(), error = %e, "the filed handoffs' cache was not written");
            return;
        }
        let current: Vec<String> = self.new.iter().map(|(d, _, _)| Self::name(&prefix, d)).collect();
        for (dir, mut folder, listed) in self.new {
            if !listed {
                continue;
            }
            for it in &mut folder.items {
                if let Some((name, seen)) = it.lent.take().and_then(&lent) {
                    (it.name, it.seen) = (name, Some(seen));
                }
            }
            let file = cache.join(Self::name(&prefix, &dir));
            let out = File { version: VERSION, dir: dir.as_os_str().as_bytes().to_vec(), folder };
            let Ok(bytes) = postcard::to_stdvec(&out) else { continue };
            let tmp = file.with_extension(format!("tmp{}", std::process::id()));
            let written = std::fs::write(&tmp, &bytes).and_then(|()| std::fs::rename(&tmp, &file));
            if let Err(e) = written {
                let _ = std::fs::remove_file(&tmp);
                tracing::debug!(file = %file.display(), error = %e, "the filed handoffs' cache was not written");
            }
        }
        // The files of folders this root no longer has.
        for e in std::fs::read_dir(&cache).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(&prefix) && name.ends_with(".bin") && !current.contains(&name) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}
