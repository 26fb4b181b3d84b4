//! `djay`: djay Pro's own library, read directly, in the catalog. A thin shell around
//! `baton-djay`: it finds `MediaLibrary.db` (or a Rekordbox XML export) under the `djay` grant,
//! reads the database through the host's read-only SQLite snapshot, writes the plugin's own
//! collections, links djay tracks to catalog `tracks` with the host's matcher, and writes
//! catalog playlists out as Rekordbox XML.
//!
//! Actions (names, params and result shapes are what callers rely on: change them with the callers):
//! - `import {}`: tracks, sessions, plays, play counts, BPM and key, locations and playlists
//!   into `djay.djay_tracks`, `djay.dj_sessions`, `djay.dj_plays` (and `djay.dj_playlists`);
//!   counts read / skipped / unknown fields per collection; an unchanged library writes nothing.
//! - `id-sync {"execute"?: false, "page"?}`: links each djay track to a catalog track by the
//!   matcher's ladder (external id, ISRC, normalized, fuzzy, library fingerprint); never
//!   replaces a link made by hand, never guesses. A dry run by default.
//! - `sessions {"page"?}`: sessions with their tracks (plays) in play order, each with its
//!   catalog track when linked; `plays` is the real count whether or not anything is linked.
//! - `activity {"since"?, "page"?}`: per catalog track, djay's play count and session plays,
//!   last played, sessions; written to `tracks` as `djay.*` properties.
//! - `export-rekordbox {"playlists"?}`: catalog playlists with local files as Rekordbox XML in
//!   the `exports` grant.
//!
//! The plugin's collections are named `djay.<name>`: the catalog lets a plugin create only
//! collections under its own prefix (`Access::owns` in crates/music/catalog).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use baton_djay::library::{self, Library, Track};
use baton_djay::rekordbox;
use baton_djay::sync::{self, Candidate, Decision, Existing, IdSync, PlayRow, Verdict};
use baton_djay::tsaf;
use baton_plugin::catalog::{
    self, CatalogError, MatchMethod, PropertyKind, PropertySpec, TrackQuery, Verdict as WVerdict,
};
use baton_plugin::sqlite::{self, SqlValue};
use baton_plugin::{Actions, CollectionRequest, Ctx, Done, Failure, FolderRequest, JsonSchema, Level, Plugin, host};
use serde::Deserialize;
use serde_json::{Map, Value, json};

pub struct Djay;

/// The plugin's own collections.
const TRACKS: &str = "djay.djay_tracks";
const SESSIONS: &str = "djay.dj_sessions";
const PLAYS: &str = "djay.dj_plays";
const PLAYLISTS: &str = "djay.dj_playlists";
/// Rows read from `database2` per query.
const ROWS: u32 = 2_000;
/// Records per upsert call.
const BATCH: usize = 1_000;

type Res<T> = Result<T, Failure>;

fn invalid(m: impl Into<String>) -> Failure {
    Failure::InvalidInput(m.into())
}

fn permanent(m: impl Into<String>) -> Failure {
    Failure::Permanent(m.into())
}

/// The SDK's one policy from a catalog error to a failure.
fn cat_err(what: &str, e: CatalogError) -> Failure {
    baton_plugin::catalog_failure(what, e)
}

impl Plugin for Djay {
    const NAME: &'static str = "djay";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = env!("CARGO_PKG_DESCRIPTION");

    fn folders() -> Vec<FolderRequest> {
        vec![
            baton_plugin::folder(
                "djay",
                false,
                "djay Pro's library folder (~/Music/djay): MediaLibrary.db, or a Rekordbox XML export",
            ),
            baton_plugin::folder(
                "music",
                false,
                "local music, so id-sync can match djay's local files by their library fingerprint",
            ),
            baton_plugin::folder("exports", true, "where export-rekordbox writes its XML"),
        ]
    }

    fn collections() -> Vec<CollectionRequest> {
        vec![
            baton_plugin::collection("tracks", true, "match djay tracks; write djay.* activity properties"),
            baton_plugin::collection("playlists", false, "export-rekordbox reads catalog playlists"),
            baton_plugin::collection("files", false, "local files of catalog tracks, for export-rekordbox"),
        ]
    }

    fn actions() -> Actions {
        Actions::new()
            .add(
                "import",
                "Read djay's MediaLibrary.db (or a Rekordbox XML export) into djay.djay_tracks, djay.dj_sessions, djay.dj_plays",
                |_: &Ctx, _: Empty| import(),
            )
            .add(
                "id-sync",
                "Link djay tracks to catalog tracks: external id, ISRC, normalized, fuzzy, fingerprint; a dry run unless execute",
                |_: &Ctx, p: IdSyncParams| id_sync(p),
            )
            .add(
                "sessions",
                "Sessions with their plays in order, linked to the catalog where possible",
                |_: &Ctx, p: PageParams| sessions(p),
            )
            .add(
                "activity",
                "Play counts, last played and sessions per catalog track, written as djay.* properties",
                |_: &Ctx, p: ActivityParams| activity(p),
            )
            .add(
                "export-rekordbox",
                "Write catalog playlists with local files as Rekordbox XML into the exports folder",
                |ctx: &Ctx, p: ExportParams| export(p, &ctx.task.id),
            )
    }
}

baton_plugin::register!(Djay);

/// `import` takes no params.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Empty {}

fn outcome(summary: String, result: Value, artifacts: Vec<String>) -> Res<Done> {
    Ok(Done::new(summary, result).with_artifacts(artifacts))
}

fn log(level: Level, m: &str) {
    host::log(level, m);
}

// ---------------------------------------------------------------- finding the sources

fn grants_named(name: &str) -> Vec<(String, String)> {
    host::grants()
        .into_iter()
        .filter(|g| g.name == name || g.name.starts_with(&format!("{name}.")))
        .map(|g| (g.name, g.guest_path))
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Layout {
    Djay,
    Rekordbox,
}

/// Files under the `djay` grant named `MediaLibrary.db` or ending in `.xml`, told apart by
/// their content (the SQLite header, a `<DJ_PLAYLISTS` root).
/// The sources to read (path, layout) and the files seen but left alone (with the reason).
type Sources = (Vec<(PathBuf, Layout)>, Vec<Value>);

fn find_sources() -> Res<Sources> {
    let roots = grants_named("djay");
    if roots.is_empty() {
        return Err(permanent(baton_plugin::grants::missing("djay", "djay", false, "reading djay's library")));
    }
    let mut found = Vec::new();
    let mut ignored = Vec::new();
    let mut stack: Vec<(PathBuf, u32)> = roots.iter().map(|(_, p)| (PathBuf::from(p), 0)).collect();
    let mut seen = 0u32;
    while let Some((dir, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            seen += 1;
            if seen > 200_000 {
                break;
            }
            let path = e.path();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                if depth < 8 {
                    stack.push((path, depth + 1));
                }
                continue;
            }
            let name = e.file_name().to_string_lossy().into_owned();
            let is_db = name == "MediaLibrary.db";
            let is_xml = name.to_ascii_lowercase().ends_with(".xml");
            if !is_db && !is_xml {
                continue;
            }
            let mut head = [0u8; 4096];
            let n = std::fs::File::open(&path).and_then(|mut f| std::io::Read::read(&mut f, &mut head)).unwrap_or(0);
            let head = &head[..n];
            if head.starts_with(b"SQLite format 3\0") {
                found.push((path, Layout::Djay));
            } else if rekordbox::sniff(head) {
                found.push((path, Layout::Rekordbox));
            } else {
                ignored.push(json!({"path": path.to_string_lossy(), "reason": "neither an SQLite database nor Rekordbox XML (<DJ_PLAYLISTS>)"}));
            }
        }
    }
    // One djay library: the live one, else the newest daily backup (Backups/YYYY-MM-DD/…).
    let is_backup = |p: &Path| p.components().any(|c| c.as_os_str() == "Backups");
    let mut dbs: Vec<PathBuf> = found.iter().filter(|(_, l)| *l == Layout::Djay).map(|(p, _)| p.clone()).collect();
    dbs.sort_by(|a, b| is_backup(a).cmp(&is_backup(b)).then_with(|| b.cmp(a)));
    let chosen = dbs.first().cloned();
    for p in dbs.iter().skip(1) {
        let why = if is_backup(p) {
            "an older copy (djay's daily backup); the newest library is read"
        } else {
            "another library; the first one is read"
        };
        ignored.push(json!({"path": p.to_string_lossy(), "reason": why}));
    }
    let mut out: Vec<(PathBuf, Layout)> = chosen.into_iter().map(|p| (p, Layout::Djay)).collect();
    let mut xmls: Vec<PathBuf> = found.into_iter().filter(|(_, l)| *l == Layout::Rekordbox).map(|(p, _)| p).collect();
    xmls.sort();
    out.extend(xmls.into_iter().map(|p| (p, Layout::Rekordbox)));
    if out.is_empty() {
        return Err(permanent(format!(
            "no MediaLibrary.db and no Rekordbox XML under the djay folder ({}); djay keeps it in ~/Music/djay/djay Media Library.djayMediaLibrary/",
            roots.iter().map(|(_, p)| p.as_str()).collect::<Vec<_>>().join(", ")
        )));
    }
    Ok((out, ignored))
}

fn read_djay(path: &Path, lib: &mut Library) -> Res<()> {
    let p = path.to_string_lossy().into_owned();
    let snap = sqlite::Snapshot::open(&p).map_err(|e| match e {
        sqlite::SqliteError::Busy(m) => {
            Failure::Transient(format!("{p}: djay kept writing while the host copied it ({m}); try again"))
        }
        sqlite::SqliteError::Io(m) => Failure::Transient(format!("{p}: {m}")),
        sqlite::SqliteError::Denied(m) | sqlite::SqliteError::Invalid(m) => permanent(format!("{p}: {m}")),
    })?;
    let names: Vec<String> = library::COLLECTIONS.iter().map(|(c, _)| format!("'{c}'")).collect();
    let sql = format!(
        "SELECT rowid, collection, key, data FROM database2 WHERE rowid > ?1 AND collection IN ({}) ORDER BY rowid LIMIT {ROWS}",
        names.join(",")
    );
    let mut after = i64::MIN;
    loop {
        let rows = snap.query(&sql, &[SqlValue::Integer(after)], ROWS).map_err(|e| match e {
            sqlite::SqliteError::Invalid(m) => permanent(format!(
                "{p} is not a djay library (YapDatabase table database2(rowid, collection, key, data)): {m}"
            )),
            sqlite::SqliteError::Busy(m) | sqlite::SqliteError::Io(m) => Failure::Transient(format!("{p}: {m}")),
            sqlite::SqliteError::Denied(m) => permanent(format!("{p}: {m}")),
        })?;
        let n = rows.rows.len();
        for r in &rows.rows {
            let [SqlValue::Integer(id), coll, key, data] = r.as_slice() else { continue };
            after = *id;
            let text = |v: &SqlValue| match v {
                SqlValue::Text(s) => s.clone(),
                SqlValue::Blob(b) => String::from_utf8_lossy(b).into_owned(),
                SqlValue::Integer(i) => i.to_string(),
                _ => String::new(),
            };
            let blob = match data {
                SqlValue::Blob(b) => Some(b.as_slice()),
                SqlValue::Text(s) => Some(s.as_bytes()),
                _ => None,
            };
            lib.add_row(&text(coll), &text(key), blob);
        }
        host::progress(lib.counts.values().map(|c| c.read + c.skipped).sum(), 0, "reading MediaLibrary.db");
        // The statement's own LIMIT ends each page; a short page is the last.
        if n < ROWS as usize {
            break;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- import

fn spec(id: &str, kind: PropertyKind, integer: bool) -> PropertySpec {
    PropertySpec { id: id.into(), name: None, kind, target: None, inverse: None, integer }
}

fn ensure_collections() -> Res<()> {
    use PropertyKind::*;
    let t = vec![
        spec("title", Text, false),
        spec("artist", Text, false),
        spec("duration_ms", Number, true),
        spec("isrc", Text, false),
        spec("bpm", Number, false),
        spec("key_index", Number, true),
        spec("tonality", Text, false),
        spec("key", Text, false),
        spec("tempo_map", Text, false),
        spec("play_count", Number, true),
        spec("manual_bpm", Number, false),
        spec("straight_grid", Bool, false),
        spec("rating", Number, true),
        spec("color", Number, true),
        spec("tags", MultiSelect, false),
        spec("cues", Text, false),
        spec("loops", Text, false),
        spec("start_point", Number, false),
        spec("end_point", Number, false),
        spec("automix_start", Number, false),
        spec("automix_end", Number, false),
        spec("fingerprint_bytes", Number, true),
        spec("files", MultiSelect, false),
        spec("streams", MultiSelect, false),
        spec("source", Select, false),
        spec("link_method", Select, false),
        PropertySpec { target: Some("tracks".into()), ..spec("track", Relation, false) },
    ];
    catalog::ensure_collection(TRACKS, &t).map_err(|e| cat_err(TRACKS, e))?;
    let s = vec![
        spec("device", Text, false),
        spec("start", Date, false),
        spec("end", Date, false),
        spec("plays", Number, true),
    ];
    catalog::ensure_collection(SESSIONS, &s).map_err(|e| cat_err(SESSIONS, e))?;
    let p = vec![
        spec("session", Text, false),
        spec("position", Number, true),
        spec("title", Text, false),
        spec("artist", Text, false),
        spec("title_id", Text, false),
        spec("duration_ms", Number, true),
        spec("deck", Number, true),
        spec("start", Date, false),
        spec("isrc", Text, false),
        spec("origin", Select, false),
    ];
    catalog::ensure_collection(PLAYS, &p).map_err(|e| cat_err(PLAYS, e))?;
    let l = vec![
        spec("name", Text, false),
        spec("source", Select, false),
        spec("folder", Text, false),
        PropertySpec { target: Some(TRACKS.into()), ..spec("tracks", Relation, false) },
        // An ordered list with repeats (the catalog keeps a relation whose id ends in
        // `entries` as one); a catalog that held it as JSON text moves it in.
        PropertySpec { target: Some(TRACKS.into()), ..spec("entries", Relation, false) },
    ];
    catalog::ensure_collection(PLAYLISTS, &l).map_err(|e| cat_err(PLAYLISTS, e))?;
    Ok(())
}

#[derive(Default, Clone, Copy)]
struct Written {
    inserted: u64,
    updated: u64,
    unchanged: u64,
}

/// One record per key, in first-seen order, later props over earlier ones: the catalog refuses
/// a batch that holds a key twice, and a refused batch after earlier ones were written would
/// leave an import half done.
fn unique_keys(records: &[Value]) -> Vec<Value> {
    let mut at: HashMap<String, usize> = HashMap::new();
    let mut out: Vec<Value> = Vec::with_capacity(records.len());
    for r in records {
        let key = s(&r["key"]);
        match at.get(&key) {
            Some(&i) => {
                if let (Some(old), Some(new)) = (out[i]["props"].as_object().cloned(), r["props"].as_object()) {
                    let mut merged = old;
                    merged.extend(new.clone());
                    out[i]["props"] = Value::Object(merged);
                }
            }
            None => {
                at.insert(key, out.len());
                out.push(r.clone());
            }
        }
    }
    out
}

fn upsert_all(collection: &str, records: &[Value]) -> Res<Written> {
    let mut w = Written::default();
    let records = unique_keys(records);
    for chunk in records.chunks(BATCH) {
        let text = Value::Array(chunk.to_vec()).to_string();
        let r = catalog::upsert(collection, &text).map_err(|e| cat_err(collection, e))?;
        w.inserted += r.inserted;
        w.updated += r.updated;
        w.unchanged += r.unchanged;
    }
    Ok(w)
}

/// `records` (one per key, [`unique_keys`]) as the JSON texts of chunks of [`BATCH`].
fn chunk_texts(records: &[Value]) -> Vec<String> {
    unique_keys(records).chunks(BATCH).map(|c| Value::Array(c.to_vec()).to_string()).collect()
}

/// The tracks' records as the JSON texts of chunks of [`BATCH`], written chunk by chunk from
/// the tracks (consumed as they go, never held as JSON values: keys are unique, being a map's).
fn track_texts(tracks: BTreeMap<String, Track>) -> (Vec<String>, usize) {
    let n = tracks.len();
    let mut texts = Vec::with_capacity(n.div_ceil(BATCH));
    let mut chunk: Vec<u8> = Vec::new();
    for (i, t) in tracks.into_values().enumerate() {
        chunk.push(if i % BATCH == 0 { b'[' } else { b',' });
        library::write_track_record(&t, &mut chunk);
        if i % BATCH == BATCH - 1 || i + 1 == n {
            chunk.push(b']');
            // Only JSON text was written: it is UTF-8.
            texts.push(String::from_utf8(std::mem::take(&mut chunk)).unwrap_or_default());
        }
    }
    (texts, n)
}

/// Most bytes of records one `upsert-many` call carries: under the host's per-call cap (8 MiB).
const CALL_BYTES: usize = 7 << 20;

/// Writes several collections' records with `catalog.upsert-many`, chunks of [`BATCH`]
/// records packed into calls of at most [`CALL_BYTES`]: an import that fits one call (most
/// libraries) is one transaction, all or nothing; a larger one takes several calls, each all or
/// nothing. A call the catalog refuses as invalid is written again chunk by chunk, and a
/// refused chunk halved until the records it refuses stand alone: those are returned as
/// errors and everything else is written. Returns what each collection gained, how many calls
/// it took, and the refused records.
fn upsert_collections(
    batches: Vec<(&str, Vec<String>)>,
) -> Res<(Map<String, Value>, usize, Vec<library::RecordError>)> {
    let mut w = Writer {
        totals: batches.iter().map(|(c, _)| (c.to_string(), Written::default())).collect(),
        ..Writer::default()
    };
    let chunks: Vec<(&str, String)> =
        batches.into_iter().flat_map(|(c, texts)| texts.into_iter().map(move |t| (c, t))).collect();
    let mut start = 0;
    while start < chunks.len() {
        let mut end = start;
        let mut bytes = 0;
        while end < chunks.len() && (end == start || bytes + chunks[end].1.len() <= CALL_BYTES) {
            bytes += chunks[end].1.len();
            end += 1;
        }
        let call: Vec<(String, String)> = chunks[start..end].iter().map(|(c, t)| (c.to_string(), t.clone())).collect();
        let what = if w.calls == 0 && end == chunks.len() { "the import" } else { "part of the import" };
        w.calls += 1;
        match catalog::upsert_many(&call) {
            Ok(reports) => {
                for ((collection, _), r) in chunks[start..end].iter().zip(reports) {
                    w.add(collection, &r);
                }
            }
            Err(CatalogError::Invalid(_)) => {
                for (collection, text) in &chunks[start..end] {
                    // The records again from their text: kept once, as text, until needed.
                    let records: Vec<Value> =
                        serde_json::from_str(text).map_err(|e| permanent(format!("{collection}: {e}")))?;
                    w.isolate(collection, &records)?;
                }
            }
            Err(e) => return Err(cat_err(what, e)),
        }
        start = end;
    }
    let written = w
        .totals
        .into_iter()
        .map(|(c, w)| (c, json!({"inserted": w.inserted, "updated": w.updated, "unchanged": w.unchanged})))
        .collect();
    Ok((written, w.calls, w.refused))
}

/// What [`upsert_collections`] has written so far.
#[derive(Default)]
struct Writer {
    totals: BTreeMap<String, Written>,
    calls: usize,
    refused: Vec<library::RecordError>,
}

impl Writer {
    fn add(&mut self, collection: &str, r: &catalog::UpsertReport) {
        let w = self.totals.entry(collection.to_string()).or_default();
        w.inserted += r.inserted;
        w.updated += r.updated;
        w.unchanged += r.unchanged;
    }

    /// Writes `records` alone; when the catalog refuses them as invalid, each half again,
    /// down to the single records it refuses (kept with the catalog's reason).
    fn isolate(&mut self, collection: &str, records: &[Value]) -> Res<()> {
        if records.is_empty() {
            return Ok(());
        }
        self.calls += 1;
        let text = Value::Array(records.to_vec()).to_string();
        match catalog::upsert_many(&[(collection.to_string(), text)]) {
            Ok(reports) => {
                for r in &reports {
                    self.add(collection, r);
                }
                Ok(())
            }
            Err(CatalogError::Invalid(m)) if records.len() == 1 => {
                self.refused.push(library::RecordError {
                    collection: collection.into(),
                    key: s(&records[0]["key"]),
                    error: format!("{REFUSED}{m}"),
                    ..library::RecordError::default()
                });
                Ok(())
            }
            Err(CatalogError::Invalid(_)) => {
                let (a, b) = records.split_at(records.len() / 2);
                self.isolate(collection, a)?;
                self.isolate(collection, b)
            }
            Err(e) => Err(cat_err(collection, e)),
        }
    }
}

/// Reads every source into one library. Each file is independent: one that cannot be read
/// or parsed is an error naming it (`file`), and the others are read. Also returns the sources
/// used and the first failure reading a djay library (returned as the task's failure, keeping
/// its kind, when nothing at all could be read).
fn read_sources(sources: &[(PathBuf, Layout)]) -> (Library, Vec<Value>, Option<Failure>) {
    let mut lib = Library::new();
    let mut used = Vec::new();
    let mut first_failure = None;
    for (path, layout) in sources {
        let p = path.to_string_lossy().into_owned();
        let (errors_before, warnings_before) = (lib.errors.len(), lib.warnings.len());
        match layout {
            Layout::Djay => match read_djay(path, &mut lib) {
                Ok(()) => used.push(json!({"path": p, "layout": "djay"})),
                Err(f) => {
                    lib.count("djay").skipped += 1;
                    let error = failure_text(&f);
                    lib.errors.push(library::RecordError {
                        collection: "djay".into(),
                        key: p.clone(),
                        error,
                        ..library::RecordError::default()
                    });
                    first_failure.get_or_insert(f);
                }
            },
            Layout::Rekordbox => {
                // Each file is a source of its own: its keys carry its path inside the grant,
                // and relative locations resolve against its folder on the host.
                let source = source_name(path);
                let base = path.parent().and_then(|d| host::host_path(&d.to_string_lossy()));
                let read = std::fs::read(path).map_err(|e| e.to_string()).and_then(|b| {
                    let text =
                        String::from_utf8(b).map_err(|e| format!("not UTF-8 ({e}); Rekordbox writes UTF-8 XML"))?;
                    rekordbox::read_at(text.trim_start_matches('\u{feff}'), &source, base.as_deref())
                        .map_err(|e| e.to_string())
                });
                match read {
                    Ok(r) => {
                        merge(&mut lib, r);
                        used.push(json!({"path": p, "layout": "rekordbox", "key_prefix": rekordbox::prefix(&source)}));
                    }
                    Err(e) => {
                        lib.count("rekordbox").skipped += 1;
                        lib.errors.push(library::RecordError {
                            collection: "rekordbox".into(),
                            key: p.clone(),
                            error: e,
                            ..library::RecordError::default()
                        });
                    }
                }
            }
        }
        for e in &mut lib.errors[errors_before..] {
            e.file = p.clone();
        }
        for w in &mut lib.warnings[warnings_before..] {
            w.file = p.clone();
        }
    }
    (lib, used, first_failure)
}

/// The failure of an import that could import nothing: how many records or files, and the
/// first ones with their files and reasons.
fn nothing_imported(errors: &[library::RecordError], what: &str) -> Failure {
    let shown: Vec<String> =
        errors.iter().take(10).map(|e| format!("{} {} ({}): {}", e.collection, e.key, e.file, e.error)).collect();
    permanent(format!(
        "nothing could be imported: {} records or files {what} (the catalog is unchanged); first: {}",
        errors.len(),
        shown.join("; ")
    ))
}

/// Names the file of every error that lacks one, by its record's key.
fn fill_files(errors: &mut [library::RecordError], used: &[Value]) {
    for e in errors.iter_mut().filter(|e| e.file.is_empty()) {
        e.file = file_of(&e.key, used);
    }
}

fn failure_text(f: &Failure) -> String {
    match f {
        Failure::InvalidInput(m) | Failure::Permanent(m) | Failure::Transient(m) => m.clone(),
        Failure::NeedsInput(r) => r.message.clone(),
    }
}

/// The source file a record came from, by its key: a Rekordbox key names its file's key
/// prefix; any other key is the djay library's.
fn file_of(key: &str, used: &[Value]) -> String {
    let by_prefix = used.iter().find(|u| u["key_prefix"].as_str().is_some_and(|pre| key.starts_with(pre)));
    let djay = || used.iter().find(|u| u["layout"] == "djay");
    by_prefix.or_else(djay).map(|u| s(&u["path"])).unwrap_or_default()
}

/// The playlists' records: `tracks` the distinct tracks (a relation holds each once),
/// `entries` every entry with its position (1-based), repeats included, kept by the catalog
/// one row per entry (no cap on a list's length).
fn playlist_records(lib: &Library) -> Vec<Value> {
    lib.playlists
        .iter()
        .map(|p| {
            let source = if p.key.starts_with("rekordbox:") { "rekordbox" } else { "djay" };
            let mut props = json!({"name": p.name, "source": source, "tracks": p.tracks});
            if let Some(folder) = &p.path {
                props["folder"] = json!(folder);
            }
            let entries: Vec<Value> =
                p.entries.iter().enumerate().map(|(i, k)| json!({"track": k, "position": i + 1})).collect();
            props["entries"] = Value::Array(entries);
            json!({"key": p.key, "props": props})
        })
        .collect()
}

/// How an error names a record the catalog refused at write time.
const REFUSED: &str = "not written: the catalog refused it: ";

fn import() -> Res<Done> {
    let started = Instant::now();
    let (sources, ignored) = find_sources()?;
    let (mut lib, used, first_failure) = read_sources(&sources);
    lib.finish();
    lib.sort_plays();
    let read_ms = started.elapsed().as_millis() as u64;
    let undecodable: u64 = lib.counts.values().map(|c| c.skipped).sum();
    // A key the catalog would refuse fails its whole batch: set aside (listed under `errors`)
    // before anything is written, never found in the third collection's batch.
    let refused_keys = lib.set_aside_bad_keys([TRACKS, SESSIONS, PLAYS, PLAYLISTS]);
    fill_files(&mut lib.errors, &used);
    let nothing = lib.tracks.is_empty() && lib.sessions.is_empty() && lib.plays.is_empty() && lib.playlists.is_empty();
    // Nothing at all could be read: the task fails and names why (a djay library's own
    // failure keeps its kind: a busy database is worth another try).
    if nothing && !lib.errors.is_empty() {
        if let Some(f) = first_failure
            && lib.errors.len() == 1
        {
            return Err(f);
        }
        return Err(nothing_imported(&lib.errors, "did not read"));
    }
    ensure_collections()?;
    let (track_chunks, n_tracks) = track_texts(std::mem::take(&mut lib.tracks));
    let mut per_session: BTreeMap<&str, usize> = BTreeMap::new();
    let mut plays = Vec::with_capacity(lib.plays.len());
    for p in &lib.plays {
        let n = per_session.entry(p.session.as_str()).or_default();
        *n += 1;
        plays.push(library::play_record(p, *n));
    }
    let sessions: Vec<Value> = lib
        .sessions
        .values()
        .map(|s| library::session_record(s, per_session.get(s.uuid.as_str()).copied().unwrap_or(0)))
        .collect();
    let mut warnings = std::mem::take(&mut lib.warnings);
    let playlists = playlist_records(&lib);
    // One transaction for the four collections when they fit one call: a failure midway (the
    // quota, the database) leaves the catalog as it was. A record the catalog refuses is
    // set aside alone (listed under `errors`) and the rest written.
    let (n_sessions, n_plays, n_playlists) = (sessions.len(), plays.len(), playlists.len());
    let batches = vec![
        (TRACKS, track_chunks),
        (SESSIONS, chunk_texts(&sessions)),
        (PLAYS, chunk_texts(&plays)),
        (PLAYLISTS, chunk_texts(&playlists)),
    ];
    // Only the texts are kept while writing.
    drop((sessions, plays, playlists));
    let (written, write_calls, refused) = upsert_collections(batches)?;
    lib.errors.extend(refused);
    fill_files(&mut lib.errors, &used);
    for w in warnings.iter_mut().filter(|w| w.file.is_empty()) {
        w.file = file_of(&w.key, &used);
    }
    // What was imported: the records the catalog refused are counted out (and listed).
    let refused_in = |c: &str| lib.errors.iter().filter(|e| e.collection == c && e.error.starts_with(REFUSED)).count();
    let counts = import_counts(
        &lib,
        n_tracks - refused_in(TRACKS),
        n_sessions - refused_in(SESSIONS),
        n_plays - refused_in(PLAYS),
        n_playlists - refused_in(PLAYLISTS),
    );
    for e in &lib.errors {
        log(Level::Warn, &format!("{} {} ({}): {}", e.collection, e.key, e.file, e.error));
    }
    let imported: u64 =
        ["tracks", "sessions", "plays", "playlists"].iter().map(|k| counts[k].as_u64().unwrap_or(0)).sum();
    if imported == 0 && !lib.errors.is_empty() {
        return Err(nothing_imported(&lib.errors, "were refused"));
    }
    let result = import_result(
        &lib,
        ImportParts {
            used,
            ignored,
            undecodable,
            refused_keys,
            counts,
            warnings,
            written,
            write_calls,
            read_ms,
            started,
        },
    );
    Ok(Done::new(import_summary(&result), result))
}

/// The import's `counts`: records per collection and the playlists' entries: distinct
/// (playlist, track) pairs, every entry, repeats, and djay items whose track is missing.
fn import_counts(lib: &Library, tracks: usize, sessions: usize, plays: usize, playlists: usize) -> Value {
    let missing: usize = lib.playlists.iter().map(|p| p.missing).sum();
    let repeats: usize = lib.playlists.iter().map(|p| p.repeats).sum();
    let members: usize = lib.playlists.iter().map(|p| p.tracks.len()).sum();
    let entries: usize = lib.playlists.iter().map(|p| p.entries.len()).sum();
    json!({"tracks": tracks, "sessions": sessions, "plays": plays, "playlists": playlists,
           "playlist_tracks": members, "playlist_entries": entries, "playlist_items_missing": missing,
           "playlist_items_repeated": repeats})
}

/// What [`import_result`] puts together besides the library.
struct ImportParts {
    used: Vec<Value>,
    ignored: Vec<Value>,
    undecodable: u64,
    refused_keys: usize,
    counts: Value,
    warnings: Vec<library::Warning>,
    written: Map<String, Value>,
    write_calls: usize,
    read_ms: u64,
    started: Instant,
}

fn import_result(lib: &Library, p: ImportParts) -> Value {
    let skipped: u64 = lib.counts.values().map(|c| c.skipped).sum();
    let unknown: u64 = lib.counts.values().map(|c| c.unknown_fields).sum();
    let read = lib.summary();
    let (warnings, _) = sync::page_of(&p.warnings, 0);
    json!({
        "sources": p.used,
        "ignored": p.ignored,
        "read": read["collections"],
        "errors": read["errors"],
        "errors_total": read["errors_total"],
        "warnings": warnings,
        "warnings_total": p.warnings.len(),
        "skipped": skipped,
        "undecodable": p.undecodable,
        "refused_keys": p.refused_keys,
        "unknown_fields": unknown,
        "counts": p.counts,
        "written": p.written,
        // 1: the import was one transaction (all or nothing); more: each call was.
        "write_calls": p.write_calls,
        "atomic": p.write_calls <= 1,
        // Where the time went (wall, ms): reading and decoding the library, writing the catalog.
        "timings_ms": {"read": p.read_ms, "write": p.started.elapsed().as_millis() as u64 - p.read_ms},
    })
}

fn import_summary(r: &Value) -> String {
    let n = |k: &str| r["counts"][k].as_u64().unwrap_or(0);
    let changed: u64 = r["written"]
        .as_object()
        .map(|w| w.values().map(|w| w["inserted"].as_u64().unwrap_or(0) + w["updated"].as_u64().unwrap_or(0)).sum())
        .unwrap_or(0);
    format!(
        "imported {} tracks, {} sessions, {} plays, {} playlists; {changed} records written, {} undecodable records, {} errors, {} warnings, {} unknown fields skipped",
        n("tracks"),
        n("sessions"),
        n("plays"),
        n("playlists"),
        r["undecodable"],
        r["errors_total"],
        r["warnings_total"],
        r["unknown_fields"]
    )
}

/// A Rekordbox file's name in its keys: its path inside the `djay` grant (`exports/rb.xml`).
fn source_name(path: &Path) -> String {
    let p = path.to_string_lossy();
    let rel = grants_named("djay")
        .iter()
        .filter_map(|(_, root)| p.strip_prefix(&format!("{}/", root.trim_end_matches('/'))).map(str::to_string))
        .min_by_key(String::len);
    rel.unwrap_or_else(|| path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())
}

fn merge(into: &mut Library, other: Library) {
    // The first file's tracks are moved whole, not inserted one by one into an empty map.
    if into.tracks.is_empty() {
        into.tracks = other.tracks;
    } else {
        into.tracks.extend(other.tracks);
    }
    into.playlists.extend(other.playlists);
    for (k, c) in other.counts {
        let e = into.counts.entry(format!("rekordbox.{k}")).or_default();
        e.read += c.read;
        e.skipped += c.skipped;
        e.unknown_fields += c.unknown_fields;
    }
    into.errors.extend(other.errors);
    into.warnings.extend(other.warnings);
}

// ---------------------------------------------------------------- reading the catalog

fn all_records(collection: &str) -> Res<Vec<Value>> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = catalog::query(collection, "", cursor.as_deref(), 1000).map_err(|e| cat_err(collection, e))?;
        let recs: Vec<Value> =
            serde_json::from_str(&page.records).map_err(|e| permanent(format!("{collection}: {e}")))?;
        out.extend(recs);
        match page.next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    Ok(out)
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string).or_else(|| x["key"].as_str().map(str::to_string)))
            .collect(),
        Value::String(x) => vec![x.clone()],
        _ => Vec::new(),
    }
}

fn track_from(r: &Value) -> Track {
    let p = &r["props"];
    Track {
        key: s(&r["key"]),
        title: s(&p["title"]),
        artist: s(&p["artist"]),
        duration_ms: p["duration_ms"].as_i64(),
        isrc: p["isrc"].as_str().map(str::to_string),
        bpm: p["bpm"].as_f64(),
        key_index: p["key_index"].as_i64(),
        tonality: p["tonality"].as_str().map(str::to_string),
        play_count: p["play_count"].as_i64(),
        files: strings(&p["files"]),
        streams: strings(&p["streams"]),
        source: s(&p["source"]),
        // What id-sync and activity do not use stays unread.
        ..Track::default()
    }
}

/// The djay tracks, and for each its current catalog link (if any).
fn tracks_with_links() -> Res<Vec<(Track, Existing)>> {
    let recs = all_records(TRACKS)?;
    let mut out = Vec::with_capacity(recs.len());
    for r in &recs {
        let t = track_from(r);
        let linked = strings(&r["props"]["track"]);
        let existing = if linked.is_empty() {
            Existing::None
        } else {
            let links = catalog::links(TRACKS, &t.key, "track").map_err(|e| cat_err(TRACKS, e))?;
            match links.iter().find(|l| l.method == Some(MatchMethod::Manual)) {
                Some(l) => Existing::Manual(l.key.clone()),
                None => Existing::Plugin(linked[0].clone()),
            }
        };
        out.push((t, existing));
    }
    Ok(out)
}

// ---------------------------------------------------------------- id-sync

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct IdSyncParams {
    /// Write the links (default false: a dry run).
    #[serde(default)]
    execute: bool,
    /// Page of the ambiguous and unmatched lists (500 each).
    #[serde(default)]
    page: usize,
}

fn method_name(m: MatchMethod) -> &'static str {
    match m {
        MatchMethod::ExternalId => "external_id",
        MatchMethod::Isrc => "isrc",
        MatchMethod::Normalized => "normalized",
        MatchMethod::Fuzzy => "fuzzy",
        MatchMethod::Fingerprint => "fingerprint",
        MatchMethod::Manual => "manual",
    }
}

/// The match method named by the sync logic; `manual` (the user's) is never the plugin's to set.
fn method_from_name(m: &str) -> Option<MatchMethod> {
    match m {
        "external_id" => Some(MatchMethod::ExternalId),
        "isrc" => Some(MatchMethod::Isrc),
        "normalized" => Some(MatchMethod::Normalized),
        "fuzzy" => Some(MatchMethod::Fuzzy),
        "fingerprint" => Some(MatchMethod::Fingerprint),
        _ => None,
    }
}

/// The guest path of a djay track's local file, when it lies in a granted `music` folder.
fn music_file(t: &Track, music: &[(String, String)]) -> Option<String> {
    t.files.iter().find_map(|uri| {
        let host_path = baton_djay::location::path_from_location(uri)?;
        let guest = host::guest_path(&host_path)?;
        music
            .iter()
            .any(|(_, root)| guest == *root || guest.starts_with(&format!("{}/", root.trim_end_matches('/'))))
            .then_some(guest)
    })
}

fn djay_ref(t: &Track) -> Value {
    json!({"key": t.key, "title": t.title, "artist": t.artist, "duration_ms": t.duration_ms, "isrc": t.isrc})
}

fn id_sync(p: IdSyncParams) -> Res<Done> {
    let started = Instant::now();
    let tracks = tracks_with_links()?;
    let read_ms = started.elapsed().as_millis() as u64;
    let music = grants_named("music");
    let mut tally = IdSync::default();
    let total = tracks.len() as u64;
    for (i, (t, existing)) in tracks.iter().enumerate() {
        let q = sync::query_for(t, music_file(t, &music));
        let decision = if let Existing::Manual(k) = existing {
            Decision::Manual(k.clone())
        } else {
            let wq = TrackQuery {
                title: q.title.clone(),
                artists: q.artists.clone(),
                duration_ms: q.duration_ms,
                isrc: q.isrc.clone(),
                external_ids: q.external_ids.clone(),
                path: q.path.clone(),
            };
            let out = catalog::match_track(&wq).map_err(|e| cat_err("match-track", e))?;
            let verdict = match out.verdict {
                WVerdict::Match => Verdict::Match,
                WVerdict::Ambiguous => Verdict::Ambiguous,
                WVerdict::None => Verdict::None,
            };
            let cands: Vec<Candidate> = out
                .candidates
                .into_iter()
                .map(|c| Candidate {
                    key: c.key,
                    title: c.title,
                    artists: c.artists,
                    duration_ms: c.duration_ms,
                    score: c.score,
                    method: method_name(c.method).into(),
                })
                .collect();
            sync::decide(&q, existing, verdict, &cands)
        };
        tally.add(&djay_ref(t), &decision);
        if i % 1000 == 999 {
            host::progress(i as u64 + 1, total, "matching djay tracks");
        }
    }
    let match_ms = started.elapsed().as_millis() as u64 - read_ms;
    let mut written = json!(null);
    if p.execute {
        // One upsert per 1,000 links: each link object carries how it was matched (the method
        // `catalog::link` would record), so no call per track. It replaces an older plugin link,
        // never one made by hand; unchanged ones write nothing.
        let records: Vec<Value> = tally
            .links
            .iter()
            .map(|(djay, cat, method)| {
                let link = match method_from_name(method) {
                    Some(m) => json!({"key": cat, "method": method_name(m)}),
                    None => json!(cat),
                };
                json!({"key": djay, "props": {"track": [link], "link_method": method}})
            })
            .collect();
        let w = upsert_all(TRACKS, &records)?;
        written = json!({"inserted": w.inserted, "updated": w.updated, "unchanged": w.unchanged});
    }
    let write_ms = started.elapsed().as_millis() as u64 - read_ms - match_ms;
    let mut result = tally.to_json(p.page, p.execute);
    result["written"] = written;
    // Where the time went (wall, ms): reading the djay tracks and their links, matching, writing.
    result["timings_ms"] = json!({"read": read_ms, "match": match_ms, "write": write_ms, "tracks": total});
    let linked: u64 = tally.linked.values().sum();
    let summary = format!(
        "{}{linked} of {} djay tracks linked ({} by hand kept), {} ambiguous, {} unmatched; coverage {:.1}%",
        if p.execute { "" } else { "dry run: " },
        tally.total,
        tally.manual,
        tally.ambiguous.len(),
        tally.unmatched.len(),
        tally.coverage() * 100.0
    );
    outcome(summary, result, Vec::new())
}

// ---------------------------------------------------------------- sessions and activity

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct PageParams {
    /// Which page of the result (from 0).
    #[serde(default)]
    page: usize,
}

fn play_rows() -> Res<Vec<PlayRow>> {
    let mut plays: Vec<PlayRow> = all_records(PLAYS)?
        .iter()
        .map(|r| {
            let p = &r["props"];
            PlayRow {
                key: s(&r["key"]),
                session: s(&p["session"]),
                position: p["position"].as_i64().unwrap_or(0),
                title: s(&p["title"]),
                artist: s(&p["artist"]),
                start: p["start"].as_str().and_then(tsaf::parse_rfc3339),
                title_id: p["title_id"].as_str().map(str::to_string),
            }
        })
        .collect();
    plays.sort_by(|a, b| a.session.cmp(&b.session).then(a.position.cmp(&b.position)));
    Ok(plays)
}

/// djay track key → catalog track key; djay's play counts; the djay tracks, by key.
type Linked = (HashMap<String, String>, HashMap<String, i64>, HashMap<String, Track>);

fn links_and_counts() -> Res<Linked> {
    let mut link = HashMap::new();
    let mut counts = HashMap::new();
    let mut tracks = HashMap::new();
    for r in all_records(TRACKS)? {
        let t = track_from(&r);
        if let Some(k) = strings(&r["props"]["track"]).into_iter().next() {
            link.insert(t.key.clone(), k);
        }
        if let Some(n) = t.play_count {
            counts.insert(t.key.clone(), n);
        }
        tracks.insert(t.key.clone(), t);
    }
    Ok((link, counts, tracks))
}

/// A session's plays as `sessions` lists them, and how many are linked to the catalog.
fn session_tracks(items: &[&PlayRow], link: &HashMap<String, String>) -> (Vec<Value>, u64) {
    let mut linked = 0u64;
    let tracks = items
        .iter()
        .map(|pl| {
            let cat = pl.title_id.as_ref().and_then(|t| link.get(t));
            linked += u64::from(cat.is_some());
            json!({"position": pl.position, "title": pl.title, "artist": pl.artist, "start": pl.start.map(tsaf::rfc3339_from_unix_ms), "djay": pl.title_id, "track": cat, "key": pl.key})
        })
        .collect();
    (tracks, linked)
}

fn sessions(p: PageParams) -> Res<Done> {
    let (link, _, _) = links_and_counts()?;
    let plays = play_rows()?;
    let mut by_session: BTreeMap<&str, Vec<&PlayRow>> = BTreeMap::new();
    for pl in &plays {
        by_session.entry(pl.session.as_str()).or_default().push(pl);
    }
    let mut list: Vec<Value> = Vec::new();
    let (mut total_plays, mut linked_plays) = (0u64, 0u64);
    let mut recs = all_records(SESSIONS)?;
    recs.sort_by(|a, b| s(&a["props"]["start"]).cmp(&s(&b["props"]["start"])).then(s(&a["key"]).cmp(&s(&b["key"]))));
    for r in &recs {
        let id = s(&r["key"]);
        let items = by_session.get(id.as_str()).cloned().unwrap_or_default();
        let (tracks, linked) = session_tracks(&items, &link);
        total_plays += items.len() as u64;
        linked_plays += linked;
        let pr = &r["props"];
        list.push(json!({
            "id": id, "device": pr["device"], "start": pr["start"], "end": pr["end"],
            "tracks": tracks, "plays": items.len(), "linked": linked,
        }));
    }
    // Plays whose session record is missing (djay pruned it, or it did not decode) are still
    // plays: each such session is listed, marked `missing`, and counted.
    let known: std::collections::HashSet<String> = recs.iter().map(|r| s(&r["key"])).collect();
    let mut missing_sessions = 0u64;
    for (id, items) in &by_session {
        if known.contains(*id) {
            continue;
        }
        missing_sessions += 1;
        let (tracks, linked) = session_tracks(items, &link);
        total_plays += items.len() as u64;
        linked_plays += linked;
        let start = items.iter().filter_map(|pl| pl.start).min().map(tsaf::rfc3339_from_unix_ms);
        let end = items.iter().filter_map(|pl| pl.start).max().map(tsaf::rfc3339_from_unix_ms);
        list.push(json!({
            "id": id, "device": null, "start": start, "end": end, "missing": true,
            "tracks": tracks, "plays": items.len(), "linked": linked,
        }));
    }
    let n_sessions = list.len();
    let (page, truncated) = sync::page_of(&list, p.page);
    let coverage =
        if total_plays == 0 { 0.0 } else { (linked_plays as f64 / total_plays as f64 * 10_000.0).round() / 10_000.0 };
    let result = json!({
        "sessions": page,
        "totals": {"sessions": n_sessions, "plays": total_plays, "linked_plays": linked_plays, "coverage": coverage, "missing_sessions": missing_sessions},
        "page": p.page,
        "truncated": truncated,
    });
    outcome(
        format!("{n_sessions} sessions, {total_plays} plays, {linked_plays} linked to the catalog"),
        result,
        Vec::new(),
    )
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ActivityParams {
    /// Count session plays from this RFC 3339 time on.
    since: Option<String>,
    /// Which page of the result (from 0).
    #[serde(default)]
    page: usize,
}

fn activity(p: ActivityParams) -> Res<Done> {
    let since = match &p.since {
        Some(t) => Some(
            tsaf::parse_rfc3339(t)
                .ok_or_else(|| invalid(format!("since: `{t}` is not an RFC 3339 time (e.g. 2026-01-18T07:00:00Z)")))?,
        ),
        None => None,
    };
    let (link, counts, tracks) = links_and_counts()?;
    let plays = play_rows()?;
    // Properties hold the totals, so a mirror never sees a window; the result honours `since`.
    let totals = sync::activity(&plays, &counts, &link, None);
    let window = if since.is_some() { sync::activity(&plays, &counts, &link, since) } else { totals.clone() };
    use PropertyKind::*;
    let props = vec![
        spec("djay.play_count", Number, true),
        spec("djay.session_plays", Number, true),
        spec("djay.last_played", Date, false),
        spec("djay.sessions", Number, true),
    ];
    catalog::ensure_collection("tracks", &props).map_err(|e| cat_err("tracks", e))?;
    let records: Vec<Value> = totals
        .iter()
        .map(|(k, a)| {
            json!({"key": k, "props": {
                "djay.play_count": a.play_count,
                "djay.session_plays": a.session_plays,
                "djay.last_played": a.last_played.map(tsaf::rfc3339_from_unix_ms),
                "djay.sessions": a.sessions.len(),
            }})
        })
        .collect();
    let w = upsert_all("tracks", &records)?;
    let mut djay_of: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (d, c) in &link {
        djay_of.entry(c.as_str()).or_default().push(d.as_str());
    }
    let list: Vec<Value> = window
        .iter()
        .filter(|(_, a)| since.is_none() || a.session_plays > 0)
        .map(|(k, a)| {
            let mut djay: Vec<&str> = djay_of.get(k.as_str()).cloned().unwrap_or_default();
            djay.sort();
            let title = djay.first().and_then(|d| tracks.get(*d)).map(|t| t.title.clone());
            json!({
                "track": k, "title": title, "djay": djay,
                "play_count": a.play_count, "session_plays": a.session_plays,
                "last_played": a.last_played.map(tsaf::rfc3339_from_unix_ms),
                "sessions": a.sessions.iter().collect::<Vec<_>>(),
            })
        })
        .collect();
    let n = list.len();
    let session_plays: u64 = window.values().map(|a| a.session_plays).sum();
    let (page, truncated) = sync::page_of(&list, p.page);
    let result = json!({
        "tracks": page,
        "totals": {"tracks": n, "session_plays": session_plays, "play_count": window.values().map(|a| a.play_count).sum::<i64>()},
        "since": p.since,
        "written": {"inserted": w.inserted, "updated": w.updated, "unchanged": w.unchanged},
        "page": p.page,
        "truncated": truncated,
    });
    outcome(
        format!("activity of {n} catalog tracks ({session_plays} session plays); {} updated", w.updated),
        result,
        Vec::new(),
    )
}

// ---------------------------------------------------------------- export-rekordbox

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ExportParams {
    /// Catalog playlists by name or key (default: every playlist with local files).
    playlists: Option<Vec<String>>,
}

fn export(p: ExportParams, task_id: &str) -> Res<Done> {
    let exports = match host::grants().into_iter().find(|g| g.name == "exports") {
        Some(g) if g.writable => g,
        Some(_) => return Err(permanent(baton_plugin::grants::read_only("djay", "exports", "`export-rekordbox`"))),
        None => return Err(permanent(baton_plugin::grants::missing("djay", "exports", true, "`export-rekordbox`"))),
    };
    let mut playlists = all_records("playlists")?;
    if let Some(want) = &p.playlists {
        let missing: Vec<&String> = want
            .iter()
            .filter(|w| !playlists.iter().any(|r| s(&r["key"]) == **w || s(&r["props"]["name"]) == **w))
            .collect();
        if !missing.is_empty() {
            return Err(invalid(format!("no catalog playlist named or keyed {missing:?}")));
        }
        playlists.retain(|r| want.iter().any(|w| s(&r["key"]) == *w || s(&r["props"]["name"]) == *w));
    }
    let mut tracks: Vec<rekordbox::ExportTrack> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut out_lists = Vec::new();
    let mut skipped = Vec::new();
    let mut cache: HashMap<String, Option<Value>> = HashMap::new();
    for pl in &playlists {
        let name = s(&pl["props"]["name"]);
        let mut members = Vec::new();
        // Every entry in order, repeats included (`entries`); a playlist written before
        // entries existed has only its distinct `tracks`.
        let entries: Vec<String> = pl["props"]["entries"]
            .as_array()
            .map(|a| a.iter().filter_map(|e| e["track"].as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        let keys = if entries.is_empty() { strings(&pl["props"]["tracks"]) } else { entries };
        let mut refused: HashSet<String> = HashSet::new();
        for key in keys {
            if refused.contains(&key) {
                continue;
            }
            if let Some(&i) = index.get(&key) {
                members.push(i);
                continue;
            }
            let rec = match cache.get(&key) {
                Some(r) => r.clone(),
                None => {
                    let r = catalog::get("tracks", &key, false)
                        .map_err(|e| cat_err("tracks", e))?
                        .and_then(|t| serde_json::from_str::<Value>(&t).ok());
                    cache.insert(key.clone(), r.clone());
                    r
                }
            };
            let Some(rec) = rec else {
                skipped.push(json!({"playlist": name, "track": key, "reason": "not in the catalog"}));
                refused.insert(key);
                continue;
            };
            let t = &rec["props"];
            // A file key is a guest path (mapped back to the user's path), or already a host
            // path inside one of the plugin's grants.
            let file = strings(&t["files"])
                .into_iter()
                .find_map(|f| host::host_path(&f).or_else(|| host::guest_path(&f).map(|_| f.clone())));
            let Some(path) = file else {
                skipped.push(
                    json!({"playlist": name, "track": key, "reason": "no local file inside the plugin's folders"}),
                );
                refused.insert(key);
                continue;
            };
            let artists = strings(&t["artists"]);
            tracks.push(rekordbox::ExportTrack {
                path,
                title: s(&t["title"]),
                artist: artists.join(", "),
                album: t["album"].as_str().map(str::to_string),
                duration_ms: t["duration_ms"].as_i64(),
                bpm: None,
                tonality: None,
                play_count: t["djay.play_count"].as_i64(),
            });
            index.insert(key, tracks.len() - 1);
            members.push(tracks.len() - 1);
        }
        if members.is_empty() {
            skipped.push(json!({"playlist": name, "reason": "no track with a local file"}));
        } else {
            out_lists.push(rekordbox::ExportPlaylist { name, tracks: members });
        }
    }
    let xml = rekordbox::write(&tracks, &out_lists);
    let safe: String = task_id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    let path = format!("{}/rekordbox-{safe}.xml", exports.guest_path.trim_end_matches('/'));
    let tmp = format!("{path}.partial");
    std::fs::write(&tmp, xml.as_bytes()).map_err(|e| Failure::Transient(format!("{tmp}: {e}")))?;
    std::fs::rename(&tmp, &path).map_err(|e| Failure::Transient(format!("{path}: {e}")))?;
    let n_skipped = skipped.len();
    let (skipped_page, truncated) = sync::page_of(&skipped, 0);
    let result = json!({
        "path": path,
        "host_path": host::host_path(&path),
        "playlists": out_lists.len(),
        "tracks": tracks.len(),
        "skipped": skipped_page,
        "skipped_total": n_skipped,
        "truncated": truncated,
    });
    outcome(
        format!(
            "wrote {} playlists with {} tracks as Rekordbox XML to {path}; {n_skipped} skipped",
            out_lists.len(),
            tracks.len()
        ),
        result,
        vec![path.clone()],
    )
}
