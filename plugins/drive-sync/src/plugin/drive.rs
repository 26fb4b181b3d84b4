//! The drive folder (the `drive` grant), its host lock, atomic writes and moves; the marker
//! files that name a collection's folder, and the tree's top folders and duplicate groups.
use std::io::Write as _;

use super::*;

pub(super) struct Drive {
    /// Guest path of the `drive` grant.
    pub(super) root: PathBuf,
    /// The lock's name: the drive folder's host path.
    pub(super) lock: String,
    pub(super) settings: Settings,
}

impl Drive {
    pub(super) fn open() -> Res<Drive> {
        let g = host::grants().into_iter().find(|g| g.name == "drive").ok_or_else(|| {
            Failure::InvalidInput(baton_plugin::grants::missing("drive-sync", "drive", true, "syncing"))
        })?;
        if !g.writable {
            return Err(Failure::InvalidInput(baton_plugin::grants::read_only("drive-sync", "drive", "syncing")));
        }
        let lock = host::host_path(&g.guest_path).unwrap_or_else(|| g.guest_path.clone());
        Ok(Drive { root: PathBuf::from(&g.guest_path), lock, settings: settings()? })
    }

    pub(super) fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    pub(super) fn guest(&self, rel: &str) -> String {
        self.path(rel).display().to_string()
    }

    /// Takes the lock: tries for 1 s, then 2 s, then 4 s (and 4 s after that), until the
    /// timeout. `false`: another run holds it.
    pub(super) fn lock(&self) -> bool {
        let deadline = Instant::now() + Duration::from_millis(self.settings.lock_timeout_ms);
        let mut window = 1_000u64;
        let mut attempt = 1;
        loop {
            let left = deadline.saturating_duration_since(Instant::now()).as_millis() as u64;
            let wait = window.min(left) as u32;
            match host::lock_acquire(&self.lock, wait) {
                Ok(()) => {
                    if self.settings.pause_in_lock_ms > 0 {
                        log(
                            Level::Info,
                            &format!("test hook: pausing {} ms inside the lock", self.settings.pause_in_lock_ms),
                        );
                        std::thread::sleep(Duration::from_millis(self.settings.pause_in_lock_ms));
                    }
                    return true;
                }
                Err(e) => {
                    if Instant::now() >= deadline {
                        log(
                            Level::Warn,
                            &format!("{SKIPPED}: lock `{}` not free after {attempt} attempts ({e})", self.lock),
                        );
                        return false;
                    }
                    log(Level::Info, &format!("lock `{}` busy (attempt {attempt}); retrying", self.lock));
                    window = (window * 2).min(4_000);
                    attempt += 1;
                }
            }
        }
    }

    pub(super) fn unlock(&self) {
        host::lock_release(&self.lock);
    }

    /// Writes `bytes` to `rel` atomically: `.<name>.tmp` in the same folder, then rename.
    pub(super) fn write_atomic(&self, rel: &str, bytes: &[u8]) -> Res<()> {
        let path = self.path(rel);
        let dir = path.parent().unwrap_or(&self.root).to_path_buf();
        fs::create_dir_all(&dir).map_err(io(dir.display()))?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = dir.join(format!(".{name}.tmp"));
        let mut f = fs::File::create(&tmp).map_err(io(tmp.display()))?;
        f.write_all(bytes).map_err(io(tmp.display()))?;
        f.sync_all().map_err(io(tmp.display()))?;
        drop(f);
        fs::rename(&tmp, &path).map_err(io(path.display()))
    }

    /// Moves `from` to `to` (relative paths), never over something that exists.
    pub(super) fn mv(&self, from: &str, to: &str) -> Res<()> {
        let (f, t) = (self.path(from), self.path(to));
        if t.exists() {
            return Err(Failure::Permanent(format!("will not move {} over {}: it exists", f.display(), t.display())));
        }
        if let Some(p) = t.parent() {
            fs::create_dir_all(p).map_err(io(p.display()))?;
        }
        fs::rename(&f, &t).map_err(io(format!("moving {} to {}", f.display(), t.display())))
    }

    pub(super) fn pause(&self) {
        if self.settings.pause_in_lock_ms > 0 {
            std::thread::sleep(Duration::from_millis(self.settings.pause_in_lock_ms));
        }
    }

    pub(super) fn display(&self, id: &str) -> String {
        self.settings.names.get(id).cloned().filter(|n| names::safe_component(n)).unwrap_or_else(|| display_name(id))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Marker {
    pub(super) collection: String,
    pub(super) schema_ids: Vec<String>,
    pub(super) created_at: String,
}

pub(super) fn read_marker(dir: &Path) -> Option<Marker> {
    let bytes = fs::read(dir.join(MARKER)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The top-level folders of the drive (reserved names left out), with their markers.
pub(super) fn top_folders(root: &Path) -> Res<Vec<(String, Option<Marker>)>> {
    let mut out = Vec::new();
    let rd = match fs::read_dir(root) {
        Ok(rd) => rd,
        Err(e) => {
            return Err(Failure::Transient(format!(
                "{}: {e} (is the drive folder there and mounted?)",
                root.display()
            )));
        }
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if reserved(&name) || !e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            continue;
        }
        out.push((name.clone(), read_marker(&root.join(&name))));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Canonical first: the marker written first, then the plain name, then by name.
pub(super) fn canonical_order(folders: &mut [(String, Option<Marker>)]) {
    folders.sort_by(|a, b| {
        let ka = a.1.as_ref().map(|m| m.created_at.clone());
        let kb = b.1.as_ref().map(|m| m.created_at.clone());
        let rank = |k: &Option<String>| if k.is_some() { 0 } else { 1 };
        (rank(&ka), ka, numbered_sibling(&a.0).is_some(), &a.0).cmp(&(
            rank(&kb),
            kb,
            numbered_sibling(&b.0).is_some(),
            &b.0,
        ))
    });
}

/// Duplicate groups: folders sharing a marker's collection, and `Name (n)` siblings of a
/// `Name` (or of each other). Each group's canonical folder first.
/// A folder's name and its marker, if it has one.
pub(super) type Named = (String, Option<Marker>);

pub(super) fn duplicate_groups(drive: &Drive, infos: &[CollectionInfo]) -> Res<Vec<(String, Vec<Named>)>> {
    let folders = top_folders(&drive.root)?;
    // union by collection id; folders without a marker by their base name
    let mut groups: BTreeMap<String, Vec<(String, Option<Marker>)>> = BTreeMap::new();
    let by_display: HashMap<String, String> = infos.iter().map(|c| (drive.display(&c.name), c.name.clone())).collect();
    let mut base_to_coll: HashMap<String, String> = HashMap::new();
    for (name, m) in &folders {
        if let Some(m) = m {
            let base = numbered_sibling(name).map(|(b, _)| b).unwrap_or_else(|| name.clone());
            base_to_coll.entry(base).or_insert_with(|| m.collection.clone());
        }
    }
    for (name, m) in &folders {
        let base = numbered_sibling(name).map(|(b, _)| b).unwrap_or_else(|| name.clone());
        let key = match m {
            Some(m) => m.collection.clone(),
            None => base_to_coll.get(&base).or_else(|| by_display.get(&base)).cloned().unwrap_or(base),
        };
        groups.entry(key).or_default().push((name.clone(), m.clone()));
    }
    let mut out = Vec::new();
    for (coll, mut members) in groups {
        if members.len() < 2 {
            continue;
        }
        // plain unrelated folders that merely share a collection's display name are included
        // only through a marker or a numbered name
        canonical_order(&mut members);
        out.push((coll, members));
    }
    Ok(out)
}

/// A content hash of a file or a whole folder tree.
pub(super) fn tree_hash(p: &Path) -> String {
    if p.is_dir() {
        let mut parts: Vec<String> = fs::read_dir(p)
            .map(|rd| {
                rd.flatten().map(|e| format!("{}={}", e.file_name().to_string_lossy(), tree_hash(&e.path()))).collect()
            })
            .unwrap_or_default();
        parts.sort();
        format!("dir:{}", sha256_hex(parts.join("\n").as_bytes()))
    } else {
        fs::read(p).map(|b| sha256_hex(&b)).unwrap_or_else(|_| "unreadable".into())
    }
}

pub(super) fn children(dir: &Path, name: &str, marker: bool) -> Folder {
    let mut kids: Vec<Child> = fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_name() != MARKER)
                .map(|e| Child { name: e.file_name().to_string_lossy().into_owned(), hash: tree_hash(&e.path()) })
                .collect()
        })
        .unwrap_or_default();
    kids.sort_by(|a, b| a.name.cmp(&b.name));
    Folder { name: name.to_string(), children: kids, has_marker: marker }
}
