//! The plugin module of `drive-sync` (wasm32 only): its registration with the SDK, the host
//! calls and the file system work. The params are in [`crate::params`].
//!
//! Host state (kv) this plugin keeps, never in the synced folder:
//! - `state:<collection>`: what baton last wrote there (folder, sheet name, sha256, size,
//!   rows, schema, change-log seq, how the base copy is kept);
//! - `base:<collection>:<n>`: the copy of the sheet baton last wrote, in ≤ 1 MiB chunks (or
//!   per-cell hashes for a sheet over [`edits::FULL_COPY_MAX`]);
//! - `edits:<collection>`: edits found and kept in `_archive/`, not yet accepted;
//! - `batch:<id>`: the journal of a consolidate or accept-edits batch; `open-batch`: a
//!   consolidate that has not finished (a re-run completes it first).
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::edits::{self, Base, CellEdit};
use crate::names::{self, conflict_copy_of, display_name, folding_conflicts, numbered_sibling, reserved};
use crate::plan::{self, Child, Folder, MARKER, Move};
use crate::util::{now, rfc3339, sha256_hex, stamp};

use baton_plugin::catalog::{self, CollectionInfo, PropertyKind};
use baton_plugin::{
    Actions, CollectionRequest, Ctx, Done, Failure, FolderRequest, Level, Plugin, collection, folder, host, kv,
};

use crate::params::{CheckParams, ExecParams, SyncParams, UndoParams};

struct DriveSync;

type Res<T> = Result<T, Failure>;

const SKIPPED: &str = "another run in progress";

fn io(what: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> Failure {
    move |e| Failure::Transient(format!("{what}: {e}"))
}

/// The SDK's one catalog error policy.
fn cat_err(what: &str, e: catalog::CatalogError) -> Failure {
    baton_plugin::catalog_failure(what, e)
}

fn log(level: Level, msg: &str) {
    host::log(level, msg);
}

// ---------------------------------------------------------------- settings and params

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Settings {
    /// How long `sync` (and every action that touches the tree) waits for the lock.
    lock_timeout_ms: u64,
    /// Display names by collection id (`tracks = "Music Tracks"`); renaming one renames its
    /// folder at the next sync.
    names: BTreeMap<String, String>,
    /// Test hook: sleep this long right after taking the lock (before any folder is looked
    /// at), and between the moves of a consolidate.
    pause_in_lock_ms: u64,
    /// Sheets up to this many bytes keep a full copy in kv, bigger ones per-cell hashes
    /// (default [`edits::FULL_COPY_MAX`]; lower it to test or to save kv space).
    copy_max_bytes: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            lock_timeout_ms: 15_000,
            names: BTreeMap::new(),
            pause_in_lock_ms: 0,
            copy_max_bytes: edits::FULL_COPY_MAX,
        }
    }
}

fn settings() -> Res<Settings> {
    let text = host::settings();
    serde_json::from_str(&text).map_err(|e| {
        Failure::InvalidInput(format!(
            "[plugins.drive-sync.settings] in baton.toml: {e} (known: lock_timeout_ms, names, pause_in_lock_ms, copy_max_bytes)"
        ))
    })
}

// ---------------------------------------------------------------- the drive and its lock

struct Drive {
    /// Guest path of the `drive` grant.
    root: PathBuf,
    /// The lock's name: the drive folder's host path.
    lock: String,
    settings: Settings,
}

impl Drive {
    fn open() -> Res<Drive> {
        let g = host::grants().into_iter().find(|g| g.name == "drive").ok_or_else(|| {
            Failure::InvalidInput(
                "grant `drive` is missing: add [plugins.drive-sync] grants = { drive = { path = \"/path/to/Google Drive/baton\", writable = true } } to baton.toml".into(),
            )
        })?;
        if !g.writable {
            return Err(Failure::InvalidInput(
                "grant `drive` is read-only: set writable = true in [plugins.drive-sync] grants".into(),
            ));
        }
        let lock = host::host_path(&g.guest_path).unwrap_or_else(|| g.guest_path.clone());
        Ok(Drive { root: PathBuf::from(&g.guest_path), lock, settings: settings()? })
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn guest(&self, rel: &str) -> String {
        self.path(rel).display().to_string()
    }

    /// Takes the lock: tries for 1 s, then 2 s, then 4 s (and 4 s after that), until the
    /// timeout. `false`: another run holds it.
    fn lock(&self) -> bool {
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

    fn unlock(&self) {
        host::lock_release(&self.lock);
    }

    /// Writes `bytes` to `rel` atomically: `.<name>.tmp` in the same folder, then rename.
    fn write_atomic(&self, rel: &str, bytes: &[u8]) -> Res<()> {
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
    fn mv(&self, from: &str, to: &str) -> Res<()> {
        let (f, t) = (self.path(from), self.path(to));
        if t.exists() {
            return Err(Failure::Permanent(format!("will not move {} over {}: it exists", f.display(), t.display())));
        }
        if let Some(p) = t.parent() {
            fs::create_dir_all(p).map_err(io(p.display()))?;
        }
        fs::rename(&f, &t).map_err(io(format!("moving {} to {}", f.display(), t.display())))
    }

    fn pause(&self) {
        if self.settings.pause_in_lock_ms > 0 {
            std::thread::sleep(Duration::from_millis(self.settings.pause_in_lock_ms));
        }
    }

    fn display(&self, id: &str) -> String {
        self.settings.names.get(id).cloned().filter(|n| names::safe_component(n)).unwrap_or_else(|| display_name(id))
    }
}

// ---------------------------------------------------------------- markers and the tree

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Marker {
    collection: String,
    schema_ids: Vec<String>,
    created_at: String,
}

fn read_marker(dir: &Path) -> Option<Marker> {
    let bytes = fs::read(dir.join(MARKER)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The top-level folders of the drive (reserved names left out), with their markers.
fn top_folders(root: &Path) -> Res<Vec<(String, Option<Marker>)>> {
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
fn canonical_order(folders: &mut [(String, Option<Marker>)]) {
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
type Named = (String, Option<Marker>);

fn duplicate_groups(drive: &Drive, infos: &[CollectionInfo]) -> Res<Vec<(String, Vec<Named>)>> {
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
fn tree_hash(p: &Path) -> String {
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

fn children(dir: &Path, name: &str, marker: bool) -> Folder {
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

// ---------------------------------------------------------------- catalog reading

fn collections() -> Res<Vec<CollectionInfo>> {
    catalog::collections().map_err(|e| cat_err("catalog collections", e))
}

fn live_props(c: &CollectionInfo) -> Vec<&catalog::Property> {
    c.properties.iter().filter(|p| !p.archived).collect()
}

fn kind_str(k: PropertyKind) -> &'static str {
    match k {
        PropertyKind::Text => "text",
        PropertyKind::Number => "number",
        PropertyKind::Date => "date",
        PropertyKind::Bool => "bool",
        PropertyKind::Select => "select",
        PropertyKind::MultiSelect => "multi-select",
        PropertyKind::Url => "url",
        PropertyKind::Relation => "relation",
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct PropInfo {
    id: String,
    name: String,
    kind: String,
}

fn schema_of(c: &CollectionInfo) -> Vec<PropInfo> {
    live_props(c)
        .iter()
        .map(|p| PropInfo { id: p.id.clone(), name: p.name.clone(), kind: kind_str(p.kind).into() })
        .collect()
}

/// Every record of a collection as sheet rows (key, cells in schema order), paged.
fn rows_of(c: &CollectionInfo) -> Res<Vec<(String, Vec<String>)>> {
    let props = live_props(c);
    let mut out = Vec::with_capacity(c.records as usize);
    baton_plugin::paging::catalog_each(&c.name, "", |r| {
        let key = r.get("key").and_then(Value::as_str).unwrap_or_default().to_string();
        let empty = Map::new();
        let pr = r.get("props").and_then(Value::as_object).unwrap_or(&empty);
        let cells = props.iter().map(|p| pr.get(&p.id).map(baton_sheet::cell).unwrap_or_default()).collect();
        out.push((key, cells));
        Ok(())
    })?;
    Ok(out)
}

/// One record's cells by property id (None: no such record).
fn record_cells(c: &str, key: &str) -> Res<Option<Map<String, Value>>> {
    let got = catalog::get(c, key, false).map_err(|e| cat_err(&format!("reading {c}/{key}"), e))?;
    Ok(got
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v.get("props").and_then(Value::as_object).cloned()))
}

/// The last change-log sequence number the plugin can see (gap-free: gallop, then bisect).
fn last_seq() -> Res<u64> {
    last_seq_from(0)
}

/// As [`last_seq`], knowing that the log reached `known` (a sequence number this plugin saw
/// earlier): when nothing came after it, that is one call to the host, whatever the log's size.
fn last_seq_from(known: u64) -> Res<u64> {
    let has_after = |s: u64| -> Res<bool> {
        Ok(!catalog::changes_since(s, 1).map_err(|e| cat_err("catalog changes", e))?.is_empty())
    };
    if !has_after(known)? {
        return Ok(known);
    }
    let mut lo = known; // has changes after lo
    let mut step = 1u64;
    let mut hi = known.saturating_add(step);
    while has_after(hi)? {
        lo = hi;
        step = step.saturating_mul(2);
        hi = hi.saturating_add(step);
    }
    // changes after lo, none after hi: the last seq is in (lo, hi]
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if has_after(mid)? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(hi)
}

/// Collections with changes after `since` (true: records or links came or went, which the
/// relation columns of other collections show; false: only values changed).
fn changed_since(since: u64) -> Res<(BTreeMap<String, bool>, u64)> {
    let mut out: BTreeMap<String, bool> = BTreeMap::new();
    let mut at = since;
    loop {
        let page = catalog::changes_since(at, 10_000).map_err(|e| cat_err("catalog changes", e))?;
        let n = page.len();
        for ch in page {
            at = at.max(ch.seq);
            let links = ch.op != "update"
                || serde_json::from_str::<Value>(&ch.detail).ok().is_none_or(|d| match &d["links"] {
                    Value::Null => false,
                    Value::Object(m) => !m.is_empty(),
                    Value::Array(a) => !a.is_empty(),
                    _ => true,
                });
            *out.entry(ch.collection).or_default() |= links;
        }
        if n < 10_000 {
            return Ok((out, at));
        }
    }
}

// ---------------------------------------------------------------- per-collection state

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ColState {
    folder: String,
    sheet: String,
    seq: u64,
    sha: String,
    size: u64,
    rows: u64,
    schema: Vec<PropInfo>,
    /// `copy`: the sheet in `chunks` kv values; `hashes`: per-cell hashes.
    base: String,
    chunks: u32,
    written_at: String,
    /// The sheet's modification time (ns since the epoch) after baton wrote it: with `size`,
    /// an unchanged stat means an unchanged sheet, so a sync with nothing to do reads no sheet.
    #[serde(default)]
    mtime: String,
}

fn mtime_of(m: &fs::Metadata) -> String {
    m.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos().to_string())
        .unwrap_or_default()
}

fn kv_json<T: for<'de> Deserialize<'de>>(key: &str) -> Option<T> {
    host::kv_get(key).and_then(|t| serde_json::from_str(&t).ok())
}

fn kv_put<T: Serialize>(key: &str, v: &T) {
    host::kv_set(key, &serde_json::to_string(v).unwrap_or_default());
}

fn state(c: &str) -> Option<ColState> {
    kv_json(&format!("state:{c}"))
}

fn store_base(c: &str, bytes: &[u8], old_chunks: u32, copy_max: usize) -> (String, u32) {
    let (mode, text) = if bytes.len() <= copy_max {
        ("copy", String::from_utf8_lossy(bytes).into_owned())
    } else {
        log(
            Level::Info,
            &format!("{c}: sheet of {} bytes is over the kv copy limit; keeping per-cell hashes", bytes.len()),
        );
        // parsed only here: a sheet kept as a copy is parsed when it is compared
        let sheet = baton_sheet::read_sheet(bytes).unwrap_or_default();
        ("hashes", Base::of(&sheet, false).hashes_text())
    };
    let n = kv::put_chunks(&mut kv::Host, &format!("base:{c}"), &text, old_chunks, kv::CHUNK);
    (mode.into(), n)
}

fn load_base(c: &str, st: &ColState) -> Option<Base> {
    let text = kv::get_chunks(&mut kv::Host, &format!("base:{c}"), st.chunks)?;
    if st.base == "hashes" {
        Base::from_hashes_text(&text)
    } else {
        baton_sheet::read_sheet(text.as_bytes()).ok().map(|s| Base::of(&s, true))
    }
}

/// Pending edits of a collection: found, archived, not yet accepted.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Pending {
    /// sha256 of each edited sheet already archived (so it is archived once).
    archived: Vec<String>,
    /// Where the edited sheets were kept.
    copies: Vec<String>,
    edits: Vec<CellEdit>,
}

/// The edits a person made to a sheet, compared with the base and kept only where the sheet
/// also differs from the catalog now (an edit the catalog already has is no edit).
fn find_edits(c: &CollectionInfo, st: &ColState, sheet_bytes: &[u8]) -> Res<edits::Diff> {
    let Some(base) = load_base(&c.name, st) else { return Ok(edits::Diff::default()) };
    let sheet = match baton_sheet::read_sheet(sheet_bytes) {
        Ok(s) => s,
        Err(e) => {
            log(Level::Warn, &format!("{}: the sheet does not parse as CSV ({e}); kept as it is", c.name));
            return Ok(edits::Diff::default());
        }
    };
    let mut d = edits::diff(&sheet, &base);
    if d.cells.len() <= 10_000 {
        let by_name: HashMap<&str, &str> = live_props(c).iter().map(|p| (p.name.as_str(), p.id.as_str())).collect();
        let mut cache: HashMap<String, Option<Map<String, Value>>> = HashMap::new();
        let mut keep = Vec::new();
        for e in d.cells {
            if !cache.contains_key(&e.key) {
                cache.insert(e.key.clone(), record_cells(&c.name, &e.key)?);
            }
            let now = cache[&e.key]
                .as_ref()
                .and_then(|m| by_name.get(e.column.as_str()).and_then(|id| m.get(*id)))
                .map(baton_sheet::cell);
            if now.as_deref() != Some(e.new.as_str()) {
                keep.push(e);
            }
        }
        d.cells = keep;
    }
    Ok(d)
}

// ---------------------------------------------------------------- sync

fn skipped_sync() -> Value {
    json!({"skipped": SKIPPED, "collections": [], "duplicates_found": 0, "edits_found": 0})
}

fn pick(all: Vec<CollectionInfo>, wanted: &Option<Vec<String>>) -> Res<Vec<CollectionInfo>> {
    let Some(w) = wanted else { return Ok(all) };
    for n in w {
        if !all.iter().any(|c| &c.name == n) {
            let known: Vec<&str> = all.iter().map(|c| c.name.as_str()).collect();
            return Err(Failure::InvalidInput(format!(
                "collection `{n}` is not granted to drive-sync (granted: {}); add it to [plugins.drive-sync] catalog = {{ read = [...] }}",
                known.join(", ")
            )));
        }
    }
    Ok(all.into_iter().filter(|c| w.contains(&c.name)).collect())
}

fn sync(_: &Ctx, p: SyncParams) -> Res<Done> {
    let drive = Drive::open()?;
    // Lock first: nothing below looks at the tree before the lock is held.
    if !drive.lock() {
        return Ok(Done::new(format!("skipped: {SKIPPED}"), skipped_sync()));
    }
    let out = sync_locked(&drive, &p);
    drive.unlock();
    out
}

fn sync_locked(drive: &Drive, p: &SyncParams) -> Res<Done> {
    if p.consolidate_first {
        consolidate_locked(drive, true)?;
    }
    fs::create_dir_all(&drive.root).map_err(io(drive.root.display()))?;
    let all = collections()?;
    let infos = pick(all.clone(), &p.collections)?;
    let states: HashMap<String, ColState> =
        infos.iter().filter_map(|c| state(&c.name).map(|s| (c.name.clone(), s))).collect();
    // The change log says which collections changed since each was written. A collection
    // without a state is written anyway, so only those with one ask; when nothing came after
    // the oldest of them, finding that out is one call.
    let since = infos.iter().filter_map(|c| states.get(&c.name).map(|s| s.seq)).min();
    let last = last_seq_from(since.unwrap_or(0))?;
    let changed = match since {
        Some(since) if since < last => changed_since(since)?.0,
        _ => BTreeMap::new(),
    };
    // A relation column shows keys of its target: links or records changing there rewrite
    // this sheet too.
    let touched = |c: &CollectionInfo, seq: u64| -> bool {
        seq < last
            && (changed.contains_key(&c.name)
                || c.properties
                    .iter()
                    .any(|p| p.target.as_ref().is_some_and(|t| changed.get(t).copied().unwrap_or(false))))
    };
    let mut folders = top_folders(&drive.root)?;
    let mut results = Vec::new();
    let mut edits_found = 0u64;
    let mut artifacts = Vec::new();
    let (n, total) = (0u64, infos.len() as u64);
    host::progress(n, total, "syncing collections");
    for (i, c) in infos.iter().enumerate() {
        let st = states.get(&c.name);
        let display = drive.display(&c.name);
        // find the folder by its marker (the first-written one when there are several)
        let mut mine: Vec<(String, Option<Marker>)> =
            folders.iter().filter(|(_, m)| m.as_ref().is_some_and(|m| m.collection == c.name)).cloned().collect();
        canonical_order(&mut mine);
        let schema = schema_of(c);
        let mut folder = match mine.first() {
            Some((name, _)) => name.clone(),
            None => {
                // adopt a plain folder of the display name, else create one
                let marker = Marker {
                    collection: c.name.clone(),
                    schema_ids: schema.iter().map(|p| p.id.clone()).collect(),
                    created_at: rfc3339(now()),
                };
                let bytes = serde_json::to_vec_pretty(&marker).unwrap_or_default();
                if drive.path(&display).is_dir() {
                    drive.write_atomic(&format!("{display}/{MARKER}"), &bytes)?;
                } else {
                    // built under a temporary name, then renamed: never a folder without a marker
                    let tmp = format!(".{display}.tmp");
                    let _ = fs::create_dir_all(drive.path(&tmp));
                    drive.write_atomic(&format!("{tmp}/{MARKER}"), &bytes)?;
                    drive.mv(&tmp, &display)?;
                }
                folders.push((display.clone(), Some(marker)));
                display.clone()
            }
        };
        // a renamed collection renames its folder (when the new name is free)
        if folder != display && !drive.path(&display).exists() && !mine.is_empty() {
            drive.mv(&folder, &display)?;
            for f in folders.iter_mut() {
                if f.0 == folder {
                    f.0 = display.clone();
                }
            }
            folder = display.clone();
        }
        let sheet_name = format!("{display}.csv");
        let sheet_rel = format!("{folder}/{sheet_name}");
        // the sheet baton wrote last may carry another name (renamed collection)
        if let Some(st) = st
            && st.sheet != sheet_name
            && drive.path(&format!("{folder}/{}", st.sheet)).is_file()
            && !drive.path(&sheet_rel).exists()
        {
            drive.mv(&format!("{folder}/{}", st.sheet), &sheet_rel)?;
        }
        let sheet_path = drive.path(&sheet_rel);
        let meta = fs::metadata(&sheet_path).ok();
        let stat_same = matches!((st, &meta), (Some(s), Some(m)) if !s.mtime.is_empty() && s.size == m.len() && s.mtime == mtime_of(m));
        let on_disk: Option<Vec<u8>> = if meta.is_none() || stat_same { None } else { fs::read(&sheet_path).ok() };
        let disk_sha = if stat_same { st.map(|s| s.sha.clone()) } else { on_disk.as_deref().map(sha256_hex) };
        // a person's edits: kept in _archive/ once, recorded for accept-edits
        if let (Some(st), Some(bytes), Some(sha)) = (st, on_disk.as_deref(), disk_sha.as_ref())
            && *sha != st.sha
        {
            let mut pending: Pending = kv_json(&format!("edits:{}", c.name)).unwrap_or_default();
            let d = find_edits(c, st, bytes)?;
            if !d.is_empty() {
                edits_found += 1;
            }
            if !pending.archived.contains(sha) {
                if !d.is_empty() {
                    let (stem, ext) = names::split_ext(&sheet_name);
                    let arch = format!("_archive/{}/{stem}__edited__{}{ext}", c.name, stamp(now()));
                    let arch = unique(drive, &arch);
                    drive.write_atomic(&arch, bytes)?;
                    log(
                        Level::Warn,
                        &format!(
                            "{}: {} cells in {} records edited in {}; kept as {}",
                            c.name,
                            d.cells.len(),
                            d.records(),
                            drive.guest(&sheet_rel),
                            drive.guest(&arch)
                        ),
                    );
                    pending.copies.push(arch.clone());
                    pending.edits.retain(|e| !d.cells.iter().any(|n| n.key == e.key && n.column == e.column));
                    pending.edits.extend(d.cells);
                    artifacts.push(drive.guest(&arch));
                }
                pending.archived.push(sha.clone());
                kv_put(&format!("edits:{}", c.name), &pending);
            }
        }
        let schema_changed = st.is_none_or(|s| s.schema != schema);
        let missing = meta.is_none() || !drive.path(&format!("{folder}/schema.json")).is_file();
        let moved = st.is_some_and(|s| s.folder != folder || s.sheet != sheet_name);
        let dirty =
            st.is_none() || c.read_only || schema_changed || missing || moved || touched(c, st.map_or(0, |s| s.seq));
        if !dirty {
            results.push(json!({"name": c.name, "folder": drive.guest(&folder), "rows": st.map_or(0, |s| s.rows), "written": false}));
            if let Some(s) = st {
                let restat = !stat_same && disk_sha.as_deref() == Some(s.sha.as_str());
                if s.seq < last || restat {
                    let mut s = s.clone();
                    s.seq = last;
                    if restat {
                        s.mtime = meta.as_ref().map(mtime_of).unwrap_or_default();
                    }
                    kv_put(&format!("state:{}", c.name), &s);
                }
            }
            continue;
        }
        let rows = rows_of(c)?;
        let columns: Vec<String> = schema.iter().map(|p| p.name.clone()).collect();
        let nrows = rows.len() as u64;
        let bytes = baton_sheet::write_sheet(&columns, rows)
            .map_err(|e| Failure::Permanent(format!("writing the {} sheet: {e}", c.name)))?;
        let sha = sha256_hex(&bytes);
        let same = disk_sha.as_deref() == Some(sha.as_str()) && st.is_some_and(|s| s.sha == sha && s.schema == schema);
        if same && !missing {
            let mut s = st.cloned().unwrap_or_else(empty_state);
            s.seq = last;
            s.folder = folder.clone();
            s.sheet = sheet_name.clone();
            s.mtime = meta.as_ref().map(mtime_of).unwrap_or_default();
            kv_put(&format!("state:{}", c.name), &s);
            results.push(json!({"name": c.name, "folder": drive.guest(&folder), "rows": nrows, "written": false}));
            continue;
        }
        // removed properties: their column is archived (key and value) before the rewrite
        if let Some(st) = st {
            let removed: Vec<&PropInfo> = st.schema.iter().filter(|o| !schema.iter().any(|n| n.id == o.id)).collect();
            if !removed.is_empty() {
                let old_bytes = on_disk.clone().or_else(|| fs::read(&sheet_path).ok());
                let old_sheet = old_bytes.as_deref().and_then(|b| baton_sheet::read_sheet(b).ok());
                for prop in removed {
                    let mut rows_out = Vec::new();
                    if let Some(s) = &old_sheet
                        && let (Some(k), Some(col)) = (s.key_column(), s.column(&prop.name))
                    {
                        for r in &s.rows {
                            rows_out.push((
                                r.get(k).cloned().unwrap_or_default(),
                                vec![r.get(col).cloned().unwrap_or_default()],
                            ));
                        }
                    }
                    let arch = unique(drive, &format!("_archive/{}/{}__{}.csv", c.name, prop.id, stamp(now())));
                    let col = baton_sheet::write_sheet(std::slice::from_ref(&prop.name), rows_out)
                        .map_err(|e| Failure::Permanent(format!("archiving {}.{}: {e}", c.name, prop.id)))?;
                    drive.write_atomic(&arch, &col)?;
                    log(
                        Level::Info,
                        &format!(
                            "{}: property `{}` removed; its column is kept in {}",
                            c.name,
                            prop.id,
                            drive.guest(&arch)
                        ),
                    );
                    artifacts.push(drive.guest(&arch));
                }
            }
        }
        // an edited sheet about to be replaced was archived above; a sheet baton never wrote
        // (a plain folder adopted, or one merged in by a consolidate) is kept there too
        if st.is_none()
            && let Some(old) = on_disk.as_deref()
            && old != bytes.as_slice()
        {
            let (stem, ext) = names::split_ext(&sheet_name);
            let arch = unique(drive, &format!("_archive/{}/{stem}__replaced__{}{ext}", c.name, stamp(now())));
            drive.write_atomic(&arch, old)?;
            log(
                Level::Warn,
                &format!(
                    "{}: {} was not written by baton; kept as {} before writing the sheet",
                    c.name,
                    drive.guest(&sheet_rel),
                    drive.guest(&arch)
                ),
            );
            artifacts.push(drive.guest(&arch));
        }
        drive.write_atomic(
            &format!("{folder}/schema.json"),
            &serde_json::to_vec_pretty(&json!({"collection": c.name, "properties": schema})).unwrap_or_default(),
        )?;
        drive.write_atomic(&sheet_rel, &bytes)?;
        let (mode, chunks) = store_base(&c.name, &bytes, st.map_or(0, |s| s.chunks), drive.settings.copy_max_bytes);
        let new_state = ColState {
            folder: folder.clone(),
            sheet: sheet_name.clone(),
            seq: last,
            sha,
            size: bytes.len() as u64,
            rows: nrows,
            schema: schema.clone(),
            base: mode,
            chunks,
            written_at: rfc3339(now()),
            mtime: fs::metadata(&sheet_path).map(|m| mtime_of(&m)).unwrap_or_default(),
        };
        kv_put(&format!("state:{}", c.name), &new_state);
        results.push(json!({"name": c.name, "folder": drive.guest(&folder), "rows": nrows, "written": true}));
        host::progress(i as u64 + 1, total, &c.name);
    }
    let dups = duplicate_groups(drive, &all)?.len() as u64;
    if dups > 0 {
        log(
            Level::Warn,
            &format!("{dups} duplicate folder groups; run `check`, then `consolidate {{\"execute\": true}}`"),
        );
    }
    let written = results.iter().filter(|r| r["written"] == true).count();
    Ok(Done::new(
        format!(
            "{} collections, {written} written, {dups} duplicate groups, {edits_found} edited sheets",
            results.len()
        ),
        json!({"skipped": null, "collections": results, "duplicates_found": dups, "edits_found": edits_found}),
    )
    .with_artifacts(artifacts))
}

fn empty_state() -> ColState {
    ColState {
        folder: String::new(),
        sheet: String::new(),
        seq: 0,
        sha: String::new(),
        size: 0,
        rows: 0,
        schema: vec![],
        base: "copy".into(),
        chunks: 0,
        written_at: String::new(),
        mtime: String::new(),
    }
}

/// `rel`, or `rel` with ` 2`, ` 3`, … before its extension when it exists.
fn unique(drive: &Drive, rel: &str) -> String {
    if !drive.path(rel).exists() {
        return rel.to_string();
    }
    let (stem, ext) = names::split_ext(rel);
    (2..).map(|n| format!("{stem} {n}{ext}")).find(|r| !drive.path(r).exists()).unwrap_or_else(|| rel.to_string())
}

// ---------------------------------------------------------------- check

fn check(_: &Ctx, _: CheckParams) -> Res<Done> {
    let drive = Drive::open()?;
    if !drive.lock() {
        return Err(Failure::Transient(format!("check: {SKIPPED}; try again")));
    }
    let out = check_locked(&drive);
    drive.unlock();
    out
}

fn check_locked(drive: &Drive) -> Res<Done> {
    let infos = collections()?;
    let groups = duplicate_groups(drive, &infos)?;
    let duplicates: Vec<Value> = groups
        .iter()
        .map(|(c, members)| json!({"collection": c, "folders": members.iter().map(|(n, _)| drive.guest(n)).collect::<Vec<_>>(), "canonical": drive.guest(&members[0].0)}))
        .collect();
    // conflict copies and case/Unicode twins, in the root and one level down
    let mut conflicts: Vec<String> = Vec::new();
    let mut scan = |dir: &Path, rel: &str| {
        let names_here: Vec<String> = fs::read_dir(dir)
            .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        let join = |n: &str| if rel.is_empty() { n.to_string() } else { format!("{rel}/{n}") };
        for n in &names_here {
            // `a.sync-conflict-….csv`, `a (conflicted copy …).csv`, and a file `a (1).csv` beside `a.csv`
            let numbered =
                numbered_sibling(n).is_some_and(|(base, _)| names_here.contains(&base) && dir.join(n).is_file());
            if conflict_copy_of(n).is_some() || numbered {
                conflicts.push(drive.guest(&join(n)));
            }
        }
        for group in folding_conflicts(names_here.iter().map(String::as_str)) {
            for n in group {
                conflicts.push(drive.guest(&join(&n)));
            }
        }
    };
    scan(&drive.root, "");
    let folders = top_folders(&drive.root)?;
    for (name, _) in &folders {
        scan(&drive.path(name), name);
    }
    conflicts.sort();
    conflicts.dedup();
    let mut drift = Vec::new();
    let mut edited = Vec::new();
    for c in &infos {
        let mut mine: Vec<(String, Option<Marker>)> =
            folders.iter().filter(|(_, m)| m.as_ref().is_some_and(|m| m.collection == c.name)).cloned().collect();
        canonical_order(&mut mine);
        let Some((folder, _)) = mine.into_iter().next() else { continue };
        let schema = schema_of(c);
        if let Ok(b) = fs::read(drive.path(&format!("{folder}/schema.json")))
            && let Ok(v) = serde_json::from_slice::<Value>(&b)
        {
            let disk: Vec<PropInfo> = serde_json::from_value(v["properties"].clone()).unwrap_or_default();
            let added: Vec<&str> =
                schema.iter().filter(|p| !disk.iter().any(|d| d.id == p.id)).map(|p| p.id.as_str()).collect();
            let removed: Vec<&str> =
                disk.iter().filter(|d| !schema.iter().any(|p| p.id == d.id)).map(|d| d.id.as_str()).collect();
            let renamed: Vec<Value> = disk
                .iter()
                .filter_map(|d| {
                    schema
                        .iter()
                        .find(|p| p.id == d.id && p.name != d.name)
                        .map(|p| json!({"id": p.id, "from": d.name, "to": p.name}))
                })
                .collect();
            if !(added.is_empty() && removed.is_empty() && renamed.is_empty()) {
                drift.push(json!({"collection": c.name, "schema": drive.guest(&format!("{folder}/schema.json")), "added": added, "removed": removed, "renamed": renamed}));
            }
        }
        if let Some(st) = state(&c.name) {
            let rel = format!("{folder}/{}", st.sheet);
            if let Ok(bytes) = fs::read(drive.path(&rel))
                && sha256_hex(&bytes) != st.sha
            {
                let d = find_edits(c, &st, &bytes)?;
                if !d.is_empty() {
                    edited.push(json!({
                        "collection": c.name, "sheet": drive.guest(&rel), "records": d.records(), "cells": d.cells.len(),
                        "changes": d.cells.iter().take(100).map(|e| json!({"key": e.key, "property": e.column, "old": e.old, "new": e.new})).collect::<Vec<_>>(),
                        "added_rows": d.added_rows, "removed_rows": d.removed_rows,
                    }));
                }
            }
        }
    }
    let summary = format!(
        "{} duplicate groups, {} conflict copies, {} schema drifts, {} edited sheets",
        duplicates.len(),
        conflicts.len(),
        drift.len(),
        edited.len()
    );
    Ok(Done::new(
        summary,
        json!({"duplicates": duplicates, "conflict_copies": conflicts, "schema_drift": drift, "edited": edited}),
    ))
}

// ---------------------------------------------------------------- consolidate and undo

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Batch {
    batch: String,
    kind: String,
    created_at: String,
    /// `running`, `done`, `undone`.
    state: String,
    #[serde(default)]
    moves: Vec<Move>,
    /// accept-edits: what was applied, with the values before.
    #[serde(default)]
    applied: Vec<Applied>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Applied {
    collection: String,
    key: String,
    property: String,
    before: Value,
    after: Value,
}

fn new_batch_id(kind: &str) -> String {
    let t = now();
    format!("{kind}-{}-{:09}", stamp(t), t.1)
}

fn consolidate(_: &Ctx, p: ExecParams) -> Res<Done> {
    let drive = Drive::open()?;
    if !drive.lock() {
        return Err(Failure::Transient(format!("consolidate: {SKIPPED}; try again")));
    }
    let out = consolidate_locked(&drive, p.execute);
    drive.unlock();
    let (batch, executed, moves, resumed) = out?;
    let n = moves.len();
    let shown: Vec<Value> = moves
        .iter()
        .map(|m| json!({"from": drive.guest(&m.from), "to": drive.guest(&m.to), "reason": m.reason}))
        .collect();
    let mut result = json!({"batch": batch, "executed": executed, "moves": shown});
    if let Some(r) = resumed {
        result["resumed"] = json!(r);
    }
    Ok(Done::new(
        format!("{n} moves {}", if executed { "done" } else { "planned (dry run: pass {\"execute\": true})" }),
        result,
    ))
}

/// Runs the moves of a journalled batch that are not done yet (a re-run after a crash).
fn run_moves(drive: &Drive, b: &Batch) -> Res<()> {
    for (i, m) in b.moves.iter().enumerate() {
        let (f, t) = (drive.path(&m.from), drive.path(&m.to));
        if !f.exists() && t.exists() {
            continue; // done before
        }
        if !f.exists() {
            log(Level::Warn, &format!("batch {}: {} is gone; move {} skipped", b.batch, f.display(), i + 1));
            continue;
        }
        drive.mv(&m.from, &m.to)?;
        if i + 1 < b.moves.len() {
            drive.pause();
        }
    }
    Ok(())
}

fn consolidate_locked(drive: &Drive, execute: bool) -> Res<(String, bool, Vec<Move>, Option<String>)> {
    // finish a batch a killed run left behind
    let mut resumed = None;
    if let Some(id) = host::kv_get("open-batch")
        && let Some(mut b) = kv_json::<Batch>(&format!("batch:{id}"))
    {
        if execute {
            log(Level::Warn, &format!("finishing consolidate batch {id} left by an interrupted run"));
            run_moves(drive, &b)?;
            b.state = "done".into();
            kv_put(&format!("batch:{id}"), &b);
            host::kv_delete("open-batch");
            resumed = Some(id);
        } else {
            log(
                Level::Warn,
                &format!("consolidate batch {id} was interrupted; `consolidate {{\"execute\": true}}` finishes it"),
            );
        }
    }
    let infos = collections()?;
    let groups = duplicate_groups(drive, &infos)?;
    let t = now();
    let trash = format!("_baton_trash/{}", stamp(t));
    let mut moves = Vec::new();
    for (_, members) in &groups {
        let canonical = children(&drive.path(&members[0].0), &members[0].0, members[0].1.is_some());
        let others: Vec<Folder> = members[1..].iter().map(|(n, m)| children(&drive.path(n), n, m.is_some())).collect();
        moves.extend(plan::merge(&canonical, &others, &trash));
    }
    if moves.is_empty()
        && let Some(id) = &resumed
        && let Some(b) = kv_json::<Batch>(&format!("batch:{id}"))
    {
        return Ok((id.clone(), true, b.moves, None));
    }
    let batch = new_batch_id("consolidate");
    if !execute || moves.is_empty() {
        return Ok((batch, false, moves, resumed));
    }
    // journal first, then move
    let b = Batch {
        batch: batch.clone(),
        kind: "consolidate".into(),
        created_at: rfc3339(t),
        state: "running".into(),
        moves: moves.clone(),
        applied: vec![],
    };
    kv_put(&format!("batch:{batch}"), &b);
    host::kv_set("open-batch", &batch);
    run_moves(drive, &b)?;
    let mut b = b;
    b.state = "done".into();
    kv_put(&format!("batch:{batch}"), &b);
    host::kv_delete("open-batch");
    Ok((batch, true, moves, resumed))
}

fn undo(_: &Ctx, p: UndoParams) -> Res<Done> {
    let drive = Drive::open()?;
    let Some(mut b) = kv_json::<Batch>(&format!("batch:{}", p.batch)) else {
        return Err(Failure::InvalidInput(format!(
            "no batch `{}` (batch ids are in the results of consolidate and accept-edits)",
            p.batch
        )));
    };
    if b.state == "undone" {
        return Err(Failure::InvalidInput(format!("batch `{}` was undone already", p.batch)));
    }
    if !drive.lock() {
        return Err(Failure::Transient(format!("undo: {SKIPPED}; try again")));
    }
    let mut restored = 0u64;
    let mut skipped = Vec::new();
    let r = (|| -> Res<()> {
        for m in b.moves.iter().rev() {
            let (f, t) = (drive.path(&m.from), drive.path(&m.to));
            if t.exists() && !f.exists() {
                drive.mv(&m.to, &m.from)?;
                restored += 1;
                // trash folders this batch made, now empty, go (they held nothing else)
                let mut up = t.parent().map(Path::to_path_buf);
                while let Some(d) = up {
                    if !d.starts_with(drive.path("_baton_trash"))
                        || d == drive.path("_baton_trash")
                        || fs::remove_dir(&d).is_err()
                    {
                        break;
                    }
                    up = d.parent().map(Path::to_path_buf);
                }
            } else {
                skipped.push(json!({"from": drive.guest(&m.from), "to": drive.guest(&m.to), "reason": if f.exists() { "the original place is taken" } else { "not found where the batch put it" }}));
            }
        }
        let _ = fs::remove_dir(drive.path("_baton_trash"));
        // accept-edits: put the catalog values back
        let mut by_coll: BTreeMap<String, BTreeMap<String, Map<String, Value>>> = BTreeMap::new();
        for a in b.applied.iter().rev() {
            by_coll
                .entry(a.collection.clone())
                .or_default()
                .entry(a.key.clone())
                .or_default()
                .insert(a.property.clone(), a.before.clone());
        }
        for (c, recs) in by_coll {
            let arr: Vec<Value> = recs.into_iter().map(|(k, props)| json!({"key": k, "props": props})).collect();
            let n = arr.len() as u64;
            catalog::upsert(&c, &Value::Array(arr).to_string())
                .map_err(|e| cat_err(&format!("undoing edits in {c}"), e))?;
            restored += n;
        }
        Ok(())
    })();
    drive.unlock();
    r?;
    b.state = "undone".into();
    kv_put(&format!("batch:{}", b.batch), &b);
    if host::kv_get("open-batch").as_deref() == Some(b.batch.as_str()) {
        host::kv_delete("open-batch");
    }
    Ok(Done::new(
        format!("batch {}: {restored} restored, {} skipped", b.batch, skipped.len()),
        json!({"batch": b.batch, "restored": restored, "skipped": skipped}),
    ))
}

// ---------------------------------------------------------------- accept-edits

fn accept_edits(_: &Ctx, p: ExecParams) -> Res<Done> {
    let drive = Drive::open()?;
    if !drive.lock() {
        return Err(Failure::Transient(format!("accept-edits: {SKIPPED}; try again")));
    }
    let out = accept_locked(&drive, p.execute);
    drive.unlock();
    out
}

/// A sheet cell as the catalog value of its property kind.
fn parse_cell(kind: PropertyKind, integer: bool, raw: &str) -> Result<Value, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(Value::Null);
    }
    match kind {
        PropertyKind::Number => {
            if let Ok(i) = raw.parse::<i64>() {
                return Ok(Value::from(i));
            }
            if integer {
                return Err(format!("`{raw}` is not a whole number"));
            }
            let f: f64 = raw.parse().map_err(|_| format!("`{raw}` is not a number"))?;
            serde_json::Number::from_f64(f).map(Value::Number).ok_or_else(|| format!("`{raw}` is not a finite number"))
        }
        _ => Ok(Value::String(raw.to_string())),
    }
}

fn accept_locked(drive: &Drive, execute: bool) -> Res<Done> {
    let infos = collections()?;
    let mut applied_out = Vec::new();
    let mut conflicts = Vec::new();
    let mut refused = Vec::new();
    let mut journal = Vec::new();
    let mut writes: BTreeMap<String, BTreeMap<String, Map<String, Value>>> = BTreeMap::new();
    for c in &infos {
        let Some(st) = state(&c.name) else { continue };
        let mut pending: Pending = kv_json(&format!("edits:{}", c.name)).unwrap_or_default();
        // the live sheet's edits (newest) override pending ones of the same cell
        let rel = format!("{}/{}", st.folder, st.sheet);
        let mut all: Vec<(CellEdit, String)> = pending
            .edits
            .iter()
            .map(|e| (e.clone(), pending.copies.last().map(|c| drive.guest(c)).unwrap_or_default()))
            .collect();
        if let Ok(bytes) = fs::read(drive.path(&rel))
            && sha256_hex(&bytes) != st.sha
        {
            for e in find_edits(c, &st, &bytes)?.cells {
                all.retain(|(o, _)| !(o.key == e.key && o.column == e.column));
                all.push((e, drive.guest(&rel)));
            }
        }
        // edits that exist only in a sync-conflict copy are refused
        let folder_names: Vec<String> = fs::read_dir(drive.path(&st.folder))
            .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        for n in folder_names {
            if conflict_copy_of(&n).as_deref() == Some(st.sheet.as_str())
                && let Ok(bytes) = fs::read(drive.path(&format!("{}/{n}", st.folder)))
            {
                for e in find_edits(c, &st, &bytes)?.cells {
                    if !all.iter().any(|(o, _)| o.key == e.key && o.column == e.column) {
                        refused.push(json!({"cell": {"collection": c.name, "key": e.key, "property": e.column, "value": e.new, "sheet": drive.guest(&format!("{}/{n}", st.folder))}, "reason": "found only in a sync-conflict copy; copy it into the sheet to accept it"}));
                    }
                }
            }
        }
        let props = live_props(c);
        let mut records: HashMap<String, Option<Map<String, Value>>> = HashMap::new();
        for (e, sheet) in all {
            let cell =
                json!({"collection": c.name, "key": e.key, "property": e.column, "value": e.new, "sheet": sheet});
            let Some(p) = props.iter().find(|p| p.name == e.column) else {
                refused.push(
                    json!({"cell": cell, "reason": format!("`{}` is not a property of {} now", e.column, c.name)}),
                );
                continue;
            };
            if c.read_only {
                refused.push(json!({"cell": cell, "reason": format!("{} is read-only", c.name)}));
                continue;
            }
            if !matches!(p.kind, PropertyKind::Text | PropertyKind::Number | PropertyKind::Date | PropertyKind::Select)
            {
                let why = if p.kind == PropertyKind::Relation {
                    "relation edits are refused; link by hand with `baton catalog link`".to_string()
                } else {
                    format!(
                        "{} properties are not accepted from the sheet (text, number, date and select are)",
                        kind_str(p.kind)
                    )
                };
                refused.push(json!({"cell": cell, "reason": why}));
                continue;
            }
            if !records.contains_key(&e.key) {
                records.insert(e.key.clone(), record_cells(&c.name, &e.key)?);
            }
            let Some(rec) = records[&e.key].as_ref() else {
                refused.push(json!({"cell": cell, "reason": format!("no record `{}` in {} (rows are not created from the sheet)", e.key, c.name)}));
                continue;
            };
            let current = rec.get(&p.id).cloned().unwrap_or(Value::Null);
            let now_cell = baton_sheet::cell(&current);
            if now_cell == e.new {
                continue; // the catalog has it already
            }
            // changed in the catalog too since baton wrote the sheet: a conflict
            let base_known = e.old.as_deref();
            if base_known.is_some_and(|o| o != now_cell) || base_known.is_none() && st.seq < last_seq_cached() {
                conflicts.push(json!({"cell": cell, "sheet_value": e.new, "catalog_value": now_cell, "base_value": e.old, "reason": "changed in the sheet and in the catalog since the last sync"}));
                continue;
            }
            let v = match parse_cell(p.kind, p.integer, &e.new) {
                Ok(v) => v,
                Err(m) => {
                    refused.push(json!({"cell": cell, "reason": m}));
                    continue;
                }
            };
            writes.entry(c.name.clone()).or_default().entry(e.key.clone()).or_default().insert(p.id.clone(), v.clone());
            journal.push(Applied {
                collection: c.name.clone(),
                key: e.key.clone(),
                property: p.id.clone(),
                before: current,
                after: v,
            });
            applied_out.push(json!({"collection": c.name, "key": e.key, "property": p.id, "column": e.column, "from": now_cell, "to": e.new, "sheet": sheet}));
        }
        if execute {
            // what was applied is done; conflicts and refusals stay pending (and reported)
            pending.edits.retain(|e| {
                !applied_out.iter().any(|a| {
                    a["collection"] == c.name.as_str() && a["key"] == e.key.as_str() && a["column"] == e.column.as_str()
                })
            });
            kv_put(&format!("edits:{}", c.name), &pending);
        }
    }
    let batch = new_batch_id("accept-edits");
    if execute && !journal.is_empty() {
        let b = Batch {
            batch: batch.clone(),
            kind: "accept-edits".into(),
            created_at: rfc3339(now()),
            state: "running".into(),
            moves: vec![],
            applied: journal,
        };
        kv_put(&format!("batch:{batch}"), &b);
        for (c, recs) in writes {
            let arr: Vec<Value> = recs.into_iter().map(|(k, props)| json!({"key": k, "props": props})).collect();
            catalog::upsert(&c, &Value::Array(arr).to_string())
                .map_err(|e| cat_err(&format!("applying edits to {c}"), e))?;
        }
        let mut b = b;
        b.state = "done".into();
        kv_put(&format!("batch:{batch}"), &b);
    }
    let executed = execute && !applied_out.is_empty();
    Ok(Done::new(
        format!(
            "{} edits {}, {} conflicts, {} refused",
            applied_out.len(),
            if executed { "applied" } else { "to apply (dry run: pass {\"execute\": true})" },
            conflicts.len(),
            refused.len()
        ),
        json!({"batch": batch, "executed": executed, "applied": applied_out, "conflicts": conflicts, "refused": refused}),
    ))
}

thread_local! {
    static LAST_SEQ: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
}

fn last_seq_cached() -> u64 {
    LAST_SEQ.with(|c| {
        if let Some(v) = c.get() {
            return v;
        }
        let v = last_seq().unwrap_or(u64::MAX);
        c.set(Some(v));
        v
    })
}

// ---------------------------------------------------------------- registration

impl Plugin for DriveSync {
    const NAME: &'static str = "drive-sync";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Mirrors catalog collections into a synced folder: one folder per collection (found by its marker), a CSV sheet byte-identical to `baton catalog export --csv`, schema.json; lock first, no duplicate folders, nothing deleted, edits never overwritten silently.";

    fn folders() -> Vec<FolderRequest> {
        vec![folder(
            "drive",
            true,
            "the synced folder (Google Drive, Dropbox, Syncthing) the collections are mirrored into",
        )]
    }

    fn collections() -> Vec<CollectionRequest> {
        vec![
            collection("tracks", true, "mirrored as a sheet; accept-edits writes edited cells back"),
            collection("artists", true, "mirrored as a sheet; accept-edits writes edited cells back"),
            collection("playlists", true, "mirrored as a sheet; accept-edits writes edited cells back"),
            collection("files", false, "mirrored as a sheet"),
            collection("handoffs", false, "baton's handoffs, mirrored as a sheet"),
            collection("audit_gaps", false, "the plans audit's gaps, mirrored as a sheet"),
        ]
    }

    fn actions() -> Actions {
        Actions::new()
            .add("sync", "Take the drive's lock (skip cleanly if another run holds it), then find or create each collection's folder and rewrite what changed.", sync)
            .add("check", "Read-only: duplicate folders, sync-conflict copies, case/Unicode twins, schema drift, sheets edited since baton wrote them.", check)
            .add("consolidate", "Merge duplicate folders into the canonical one; identical copies and emptied folders go to _baton_trash/<UTC>/. Journalled; undo restores.", consolidate)
            .add("undo", "Restore a consolidate or accept-edits batch.", undo)
            .add("accept-edits", "Apply edited text, number, date and select cells back into the catalog; conflicts and relation edits are reported, never applied.", accept_edits)
    }
}

baton_plugin::register!(DriveSync);
