//! The component: the actions, registered with the guest SDK (`baton-plugin`, the music world
//! `baton:music@0.5.0`), on top of the pure modules (`exports`, `logic`, `params`). Everything it reads comes through its grants: the `spotify`
//! folder (read-only exports), the `music` folder (local files; writable for `apply`/`undo`),
//! the `playlists` folder (writable, for `m3u`), and the catalog collections declared in
//! `catalog-access`. Track matching is the host's (`match-track`); the plugin only looks up
//! exact URIs and ISRCs it already read from the catalog.
//!
//! Actions (params → result, JSON; every list at most 500 entries, `"truncated": true` when
//! there are more, the rest with `{"page": N}`):
//! - `import {accept_shrink?}` → `{files, skipped, skipped_total, local_tracks, playlists,
//!   playlist_files, tracks, memberships, changes, suspicious, not_in_exports, ambiguous, plays,
//!   written}`; playlist files of other players in the `spotify` folder (m3u/m3u8, PLS, XSPF,
//!   JSPF, ASX, WPL: read by content) are playlists linked to the library's `files`; every file
//!   or row not read is listed under `skipped` with its reason
//! - `playlists-for-track {uri | isrc | title, artist, duration_ms? | path}` →
//!   `{track, match, candidates, playlists, liked}`
//! - `link-local {}` → `{linked, ambiguous, unmatched, coverage}`
//! - `plan {layout?, primary?}` → `{plan_id, moves, unassigned, unmatched}`
//! - `apply {plan_id}` / `undo {plan_id}` → `{plan_id, moved | restored, skipped}`
//! - `m3u {}` → `{written, unchanged, tracks_without_file}`
//! - `next-track {uri?}` → `{source, track, playlists, planned_path}`

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use baton_plugin::catalog::{
    self, Candidate, CatalogError, MatchMethod, MatchOutcome, PropertyKind, PropertySpec, TrackQuery, Verdict,
};
use baton_plugin::{Actions, CollectionRequest, Ctx, Done, Failure, FolderRequest, Level, Plugin, fingerprint, host};
use serde_json::{Map, Value, json};

use baton_normalize::playlist::{self, LibraryIndex, Playlist};

use crate::exports::{self, LIKED, Play};
use crate::logic::{self, Export, M3uEntry, Membership, Primary, TrackInfo};
use crate::params;

pub struct Spotify;

type Fail = Failure;

fn invalid(s: impl Into<String>) -> Fail {
    Failure::InvalidInput(s.into())
}

/// The SDK's one policy from a catalog error to a failure.
fn cat_err(what: &str, e: CatalogError) -> Fail {
    baton_plugin::catalog_failure(what, e)
}

/// The guest path and writability of a granted folder.
fn grant(name: &str) -> Option<(String, bool)> {
    host::grants()
        .into_iter()
        .find(|g| g.name == name)
        .map(|g| (g.guest_path.trim_end_matches('/').to_string(), g.writable))
}

fn need_grant(name: &str, writable: bool, action: &str) -> Result<String, Fail> {
    match grant(name) {
        Some((p, w)) if w || !writable => Ok(p),
        Some(_) => Err(Failure::Permanent(format!(
            "grant `{name}` is read-only: `{action}` writes there; set `writable = true` for it under [plugins.spotify] grants in baton.toml"
        ))),
        None => Err(Failure::Permanent(format!(
            "grant `{name}` is missing: `{action}` needs it; add it under [plugins.spotify] grants in baton.toml"
        ))),
    }
}

fn settings() -> Value {
    serde_json::from_str(&host::settings()).unwrap_or_else(|_| json!({}))
}

// ---------- catalog helpers ----------

/// Every record of a collection matching `filter`, through the cursor.
fn query_all(collection: &str, filter: &str) -> Result<Vec<Value>, Fail> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = catalog::query(collection, filter, cursor.as_deref(), 1000)
            .map_err(|e| cat_err(&format!("reading `{collection}`"), e))?;
        let recs: Vec<Value> = serde_json::from_str(&page.records)
            .map_err(|e| Failure::Permanent(format!("`{collection}` records: {e}")))?;
        out.extend(recs);
        match page.next {
            Some(n) => cursor = Some(n),
            None => return Ok(out),
        }
    }
}

fn get(collection: &str, key: &str) -> Result<Option<Value>, Fail> {
    let r = catalog::get(collection, key, false).map_err(|e| cat_err(&format!("reading `{collection}` `{key}`"), e))?;
    Ok(r.and_then(|s| serde_json::from_str(&s).ok()))
}

/// JSON per `upsert` call: 7 MiB, under the host's per-call cap (8 MiB). Each call is one
/// transaction, and the records' keys are spread over the catalog's indexes, so every call
/// writes most of the index pages again (and SQLite checkpoints them again): few large calls
/// write far less than many small ones. 20,000 tracks fit in one call.
const UPSERT_BYTES: usize = 7 << 20;

fn upsert(collection: &str, records: &[Value]) -> Result<u64, Fail> {
    let mut changed = 0;
    let mut text = String::from("[");
    let mut send = |text: &mut String| -> Result<(), Fail> {
        text.push(']');
        let r = catalog::upsert(collection, text).map_err(|e| cat_err(&format!("writing `{collection}`"), e))?;
        changed += r.inserted + r.updated;
        text.clear();
        text.push('[');
        Ok(())
    };
    for rec in records {
        let one = serde_json::to_string(rec).unwrap_or_default();
        if text.len() > 1 && text.len() + one.len() + 2 > UPSERT_BYTES {
            send(&mut text)?;
        }
        if text.len() > 1 {
            text.push(',');
        }
        text.push_str(&one);
    }
    if text.len() > 1 {
        send(&mut text)?;
    }
    Ok(changed)
}

fn props(rec: &Value) -> &Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    rec.get("props").and_then(Value::as_object).unwrap_or_else(|| EMPTY.get_or_init(Map::new))
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
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

fn candidate_json(c: &Candidate) -> Value {
    json!({"key": c.key, "title": c.title, "artists": c.artists, "duration_ms": c.duration_ms,
           "score": c.score, "method": method_name(c.method), "reasons": c.reasons})
}

/// A track record as results show it.
fn track_json(rec: &Value) -> Value {
    let p = props(rec);
    let ids = strings(p.get("external_ids"));
    json!({
        "key": rec.get("key"),
        "uri": ids.iter().find(|i| i.starts_with("spotify:")),
        "title": p.get("title"),
        "artists": p.get("artists").cloned().unwrap_or(json!([])),
        "album": p.get("album"),
        "duration_ms": p.get("duration_ms"),
        "isrc": p.get("isrc"),
    })
}

/// The playlists holding a track (name, added_at), Liked Songs included, in link order.
fn memberships(key: &str, names: &mut HashMap<String, String>) -> Result<Vec<Membership>, Fail> {
    let links = catalog::links("tracks", key, "playlists")
        .map_err(|e| cat_err(&format!("reading the playlists of `{key}`"), e))?;
    let mut out = Vec::new();
    for l in links {
        let name = match names.get(&l.key) {
            Some(n) => n.clone(),
            None => {
                let n = get("playlists", &l.key)?
                    .and_then(|r| props(&r).get("name").and_then(Value::as_str).map(str::to_string))
                    .unwrap_or_else(|| l.key.clone());
                names.insert(l.key.clone(), n.clone());
                n
            }
        };
        out.push(Membership { name, added_at: l.added_at });
    }
    // oldest addition first
    out.sort_by(|a, b| (a.added_at.is_none(), &a.added_at, &a.name).cmp(&(b.added_at.is_none(), &b.added_at, &b.name)));
    Ok(out)
}

/// The local file (guest path) linked to a track: the plugin's own record of it, else the
/// catalog's `files` link.
fn local_file(key: &str) -> Option<String> {
    if let Some(p) = host::kv_get(&format!("local:{key}")) {
        return Some(p);
    }
    catalog::links("tracks", key, "files").ok().and_then(|l| l.into_iter().next()).map(|l| l.key)
}

fn remember_link(path: &str, key: &str) {
    host::kv_set(&format!("file:{path}"), key);
    host::kv_set(&format!("local:{key}"), path);
}

fn forget_link(path: &str, key: &str) {
    host::kv_delete(&format!("file:{path}"));
    if host::kv_get(&format!("local:{key}")).as_deref() == Some(path) {
        host::kv_delete(&format!("local:{key}"));
    }
}

/// Sets `key` unless it holds `value` already: an action run again with nothing new (a
/// re-import, link-local over the same files) writes nothing.
fn kv_set_changed(key: &str, value: &str) {
    if host::kv_get(key).as_deref() != Some(value) {
        host::kv_set(key, value);
    }
}

/// The kv store holds values of at most 1 MiB: larger ones are kept in numbered pieces.
fn kv_put_big(key: &str, value: &str) {
    let pieces = logic::chunks(value, 900 * 1024);
    let old: usize = host::kv_get(&format!("{key}#n")).and_then(|n| n.parse().ok()).unwrap_or(0);
    for (i, p) in pieces.iter().enumerate() {
        kv_set_changed(&format!("{key}#{i}"), p);
    }
    for i in pieces.len()..old {
        host::kv_delete(&format!("{key}#{i}"));
    }
    if old != pieces.len() {
        host::kv_set(&format!("{key}#n"), &pieces.len().to_string());
    }
}

fn kv_get_big(key: &str) -> Option<String> {
    let n: usize = host::kv_get(&format!("{key}#n"))?.parse().ok()?;
    let mut s = String::new();
    for i in 0..n {
        s.push_str(&host::kv_get(&format!("{key}#{i}"))?);
    }
    Some(s)
}

// ---------- time ----------

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (sorts with the exports' own dates).
fn rfc3339(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

fn mtime(path: &Path) -> String {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| rfc3339(d.as_secs()))
        .unwrap_or_default()
}

// ---------- import ----------

fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>, depth: usize) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if !exports::walked(&name) {
            continue;
        }
        match e.file_type() {
            Ok(t) if t.is_dir() && depth < 8 => walk(&p, out, depth + 1),
            // Every file: one that fits no layout is reported with the reason.
            Ok(t) if t.is_file() => out.push(p),
            // A symlink is followed; a dangling one is listed, so its error names it.
            Ok(t) if t.is_symlink() => match std::fs::metadata(&p) {
                Ok(m) if m.is_dir() => {
                    if depth < 8 {
                        walk(&p, out, depth + 1)
                    }
                }
                _ => out.push(p),
            },
            _ => {}
        }
    }
}

/// Why a file could not be read; a symlink is named as one, with its target.
fn unreadable(path: &Path, e: std::io::Error) -> String {
    match std::fs::read_link(path) {
        Ok(t) if std::fs::metadata(path).is_err() => format!(
            "cannot read it: it is a symlink to {}, which does not exist (or lies outside the grant) ({e})",
            t.display()
        ),
        Ok(t) => format!("cannot read it: it is a symlink to {} ({e})", t.display()),
        // The sandbox may not show where a link points: it is still named as one.
        Err(_) if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) => {
            format!("cannot read it: it is a symlink whose target does not exist or lies outside the grant ({e})")
        }
        Err(_) => format!("cannot read it: {e}"),
    }
}

/// What is known of the catalog's tracks before an import: keys by external id and by ISRC.
struct Index {
    by_id: HashMap<String, String>,
    by_isrc: HashMap<String, String>,
    props: HashMap<String, Map<String, Value>>,
}

fn index_tracks() -> Result<Index, Fail> {
    let mut ix = Index { by_id: HashMap::new(), by_isrc: HashMap::new(), props: HashMap::new() };
    for rec in query_all("tracks", "")? {
        let Some(key) = rec.get("key").and_then(Value::as_str).map(str::to_string) else {
            continue;
        };
        let p = props(&rec).clone();
        for id in strings(p.get("external_ids")) {
            ix.by_id.entry(id).or_insert_with(|| key.clone());
        }
        if let Some(i) = p.get("isrc").and_then(Value::as_str) {
            ix.by_isrc.entry(i.to_string()).or_insert_with(|| key.clone());
        }
        ix.props.insert(key, p);
    }
    Ok(ix)
}

fn artist_key(name: &str, uri: Option<&String>) -> String {
    match uri {
        Some(u) => u.clone(),
        None => format!("artist:{}", name.to_lowercase()),
    }
}

fn import(params: params::Import) -> Result<Value, Fail> {
    let page = params.page;
    if page > 0 {
        let last: Value = kv_get_big("import:last")
            .and_then(|s| serde_json::from_str(&s).ok())
            .ok_or_else(|| invalid("no import result to page through: run `import {}` first"))?;
        return Ok(import_page(last, page));
    }
    let accept_shrink = params.accept_shrink;
    need_grant("spotify", false, "import")?;
    // Every folder granted as `spotify` (several may be: `spotify = ["a", "b"]`).
    let mut paths = Vec::new();
    for g in host::grants().into_iter().filter(|g| g.name == "spotify") {
        walk(Path::new(&g.guest_path), &mut paths, 0);
    }
    paths.sort();
    let mut files = Vec::new();
    let mut snapshots = Vec::new();
    let mut plays: Vec<Play> = Vec::new();
    let mut lists: Vec<(String, Playlist)> = Vec::new();
    let mut locals: Vec<exports::Row> = Vec::new();
    let liked_files: Vec<String> = match settings().get("liked") {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    };
    for (i, path) in paths.iter().enumerate() {
        host::progress(i as u64, paths.len() as u64, "reading exports");
        let shown = path.display().to_string();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        // Playlists of other players (m3u, m3u8, XSPF, JSPF): read as `baton catalog
        // import-playlist` reads them, linked to library files below.
        if let Some(read) = playlist_file(path, &name) {
            match read {
                Ok(pl) => {
                    files.push(json!({"path": shown, "layout": pl.format, "encoding": pl.encoding, "rows": pl.entries.len(), "skipped": []}));
                    lists.push((shown, pl));
                }
                Err(reason) => {
                    host::log(Level::Warn, &format!("{shown}: skipped: {reason}"));
                    files.push(json!({"path": shown, "layout": null, "rows": 0, "skipped": [], "error": reason}));
                }
            }
            continue;
        }
        // A file whose name says nothing is read by its content: an Exportify CSV or account
        // JSON under any name, or a playlist of another player.
        let parsed = match exports::unrecognised(&name) {
            Some(reason) => match by_content(path, &name, reason) {
                Sniffed::Export(p) => Ok(p),
                Sniffed::Playlist(pl) => {
                    files.push(json!({"path": shown, "layout": pl.format, "encoding": pl.encoding, "rows": pl.entries.len(), "skipped": []}));
                    lists.push((shown, pl));
                    continue;
                }
                Sniffed::Not(reason) => Err(reason),
            },
            None => std::fs::read(path).map_err(|e| unreadable(path, e)).and_then(|b| exports::parse_file(&name, &b)),
        };
        let parsed = parsed.map(|mut p| {
            // Files `[plugins.spotify.settings] liked` names are Liked Songs exports.
            if liked_files.iter().any(|l| l.eq_ignore_ascii_case(&name)) {
                for s in &mut p.playlists {
                    s.name = LIKED.into();
                }
            }
            p
        });
        match parsed {
            Ok(p) => {
                files.push(json!({
                    "path": shown,
                    "layout": p.layout,
                    "rows": p.rows,
                    "skipped": p.skipped.iter().map(|s| json!({"line": s.line, "reason": s.reason})).collect::<Vec<_>>(),
                }));
                let when = mtime(path);
                for s in p.playlists {
                    snapshots.push(Export {
                        path: shown.clone(),
                        when: s.modified.clone().unwrap_or_else(|| when.clone()),
                        snapshot: s,
                    });
                }
                plays.extend(p.plays);
                locals.extend(p.local);
            }
            Err(reason) => {
                host::log(Level::Warn, &format!("{shown}: skipped: {reason}"));
                files.push(json!({"path": shown, "layout": null, "rows": 0, "skipped": [], "error": reason}));
            }
        }
    }
    let playlists = logic::exports_in_order(snapshots);
    let all_rows = || playlists.iter().flat_map(|(_, es)| es.iter().flat_map(|e| e.snapshot.rows.iter()));
    // One record per recording: rows by URI, then tracks by ISRC (hash-map passes; one ISRC
    // under two URIs is Spotify's relinking, or a single and its album), then the matcher.
    // Every export's rows make tracks, the superseded ones' too: a track an older export holds
    // keeps its record when a newer one leaves it out. Rows known by their names only (2020
    // account exports) are matched after, against what this import wrote.
    // Local files on no playlist (`YourLibrary.json`'s `other`) are tracks too.
    let tracks =
        logic::fold_by_isrc(logic::distinct_tracks(all_rows().filter(|r| !r.uri.is_empty()).chain(locals.iter())));
    let named = logic::named_tracks(all_rows().filter(|r| r.uri.is_empty()));

    // Artists, then tracks, then playlists (relations point at existing records).
    let mut artist_uri: HashMap<String, String> = HashMap::new();
    for t in &tracks {
        for (n, u) in t.artists.iter().zip(&t.artist_uris) {
            artist_uri.entry(n.clone()).or_insert_with(|| u.clone());
        }
    }
    let mut artist_recs: BTreeMap<String, Value> = BTreeMap::new();
    for t in tracks.iter().chain(named.iter().map(|(_, t)| t)) {
        for n in &t.artists {
            let u = artist_uri.get(n);
            let k = artist_key(n, u);
            artist_recs.entry(k.clone()).or_insert_with(|| {
                let mut p = json!({"name": n});
                if let Some(u) = u {
                    p["external_ids"] = json!([u]);
                }
                json!({"key": k, "props": p})
            });
        }
    }
    let artist_recs: Vec<Value> = artist_recs.into_values().collect();
    let mut written = upsert("artists", &artist_recs)?;

    let ix = index_tracks()?;
    let (keys, mut ambiguous, early) = resolve_tracks(&tracks, &ix, &artist_uri)?;
    written += early;
    let mut key_of: HashMap<String, String> = HashMap::new();
    // The tracks each record holds, records in first-seen order.
    let mut order: Vec<&str> = Vec::new();
    let mut held: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, (t, k)) in tracks.iter().zip(&keys).enumerate() {
        for u in &t.uris {
            key_of.insert(u.clone(), k.clone());
        }
        let e = held.entry(k.as_str()).or_default();
        if e.is_empty() {
            order.push(k);
        }
        e.push(i);
    }
    let mut track_recs = Vec::with_capacity(order.len());
    let mut by_key: HashMap<&str, std::borrow::Cow<TrackInfo>> = HashMap::with_capacity(order.len());
    for key in &order {
        let t = merged(key, &held[key], &tracks);
        let old = ix.props.get(*key);
        let mut ids = old.map(|o| strings(o.get("external_ids"))).unwrap_or_default();
        for u in &t.uris {
            if !ids.contains(u) {
                ids.push(u.clone());
            }
        }
        let rec = match old {
            // Another source's record: add the URIs, fill only what it lacks.
            Some(old) if !t.uris.iter().any(|u| u == key) => {
                let mut p = json!({"external_ids": ids});
                if old.get("isrc").is_none() && t.isrc.is_some() {
                    p["isrc"] = json!(t.isrc);
                }
                if old.get("duration_ms").is_none() && t.duration_ms.is_some() {
                    p["duration_ms"] = json!(t.duration_ms);
                }
                json!({"key": key, "props": p})
            }
            _ => track_record(&t, key, &artist_refs(&t, &artist_uri), ids),
        };
        track_recs.push(rec);
        by_key.insert(key, t);
    }
    written += upsert("tracks", &track_recs)?;

    // Rows known by their names: through the catalog's matcher, which now holds this import's
    // tracks. A match is linked; an ambiguous one stays unlinked and is listed; none is a
    // record of its own.
    let (name_key, name_written) = resolve_named(&named, &artist_uri, &mut ambiguous)?;
    written += name_written;
    let names_of = |r: &exports::Row| {
        logic::name_id(&r.title, r.artists.first().map(String::as_str).unwrap_or(""), r.album.as_deref())
    };
    let key_of_row = |r: &exports::Row| -> Option<String> {
        if r.uri.is_empty() { name_key.get(&names_of(r)).cloned() } else { key_of.get(&r.uri).cloned() }
    };

    // A playlist imported before whose export is gone: kept as it was (a deleted or moved file
    // never empties a playlist) and named in the result, so the user sees it.
    let exported: HashSet<String> = playlists.iter().map(|(n, _)| logic::playlist_key(n)).collect();
    let not_in_exports: Vec<String> =
        spotify_playlists()?.into_iter().filter(|(k, _)| !exported.contains(k)).map(|(_, name)| name).collect();
    let show = |k: &str| match by_key.get(k) {
        Some(t) => json!({"key": k, "uri": t.uri, "title": t.title, "artists": t.artists}),
        None => match get("tracks", k).ok().flatten() {
            Some(t) => {
                let j = track_json(&t);
                json!({"key": k, "uri": j["uri"], "title": j["title"], "artists": j["artists"]})
            }
            None => json!({"key": k}),
        },
    };
    let mut changes = Vec::new();
    let mut suspicious = Vec::new();
    let mut playlist_recs = Vec::new();
    let mut memberships = 0usize;
    for (name, exports_of) in &playlists {
        let pkey = logic::playlist_key(name);
        let old: logic::Links = catalog::links("playlists", &pkey, "tracks")
            .map(|l| l.into_iter().map(|l| (l.key, l.added_at)).collect())
            .unwrap_or_default();
        // Each export in turn, oldest first, under the shrink rule.
        let mut cur = old.clone();
        for e in exports_of {
            let mut seen = HashSet::new();
            let read: logic::Links = e
                .snapshot
                .rows
                .iter()
                .filter_map(|r| key_of_row(r).map(|k| (k, r.added_at.clone())))
                .filter(|(k, _)| seen.insert(k.clone()))
                .collect();
            let (next, shrink) = logic::apply_export(&cur, &read, accept_shrink);
            if let Some(s) = shrink {
                host::log(Level::Warn, &format!("{}: playlist `{name}`: {}", e.path, s.reason));
                suspicious.push(json!({"playlist": name, "path": e.path, "before": s.before, "read": s.read,
                    "reason": s.reason, "withheld": s.withheld.iter().map(|k| show(k)).collect::<Vec<_>>()}));
            }
            cur = next;
        }
        memberships += cur.len();
        let old_set: HashSet<&str> = old.iter().map(|(k, _)| k.as_str()).collect();
        let new_set: HashSet<&str> = cur.iter().map(|(k, _)| k.as_str()).collect();
        // In playlist order.
        let added: Vec<Value> =
            cur.iter().map(|(k, _)| k.as_str()).filter(|k| !old_set.contains(k)).map(show).collect();
        let removed: Vec<Value> =
            old.iter().map(|(k, _)| k.as_str()).filter(|k| !new_set.contains(k)).map(show).collect();
        if !added.is_empty() || !removed.is_empty() {
            changes.push(json!({"playlist": name, "added": added, "removed": removed}));
        }
        // `"added_at": null`: unknown, never the time of this import.
        let links: Vec<Value> = cur.iter().map(|(k, a)| json!({"key": k, "added_at": a})).collect();
        playlist_recs.push(json!({"key": pkey, "props": {"name": name, "source": "spotify", "tracks": links}}));
    }
    written += upsert("playlists", &playlist_recs)?;
    let (playlist_files, files_written) = import_playlist_files(&lists, accept_shrink, &mut changes, &mut suspicious)?;
    written += files_written;

    let mut by_text: HashMap<(String, String), String> = HashMap::new();
    for t in &tracks {
        if let (Some(a), Some(k)) = (t.artists.first(), key_of.get(&t.uri)) {
            by_text.entry((t.title.to_lowercase(), a.to_lowercase())).or_insert_with(|| k.clone());
        }
    }
    for (id, t) in &named {
        if let (Some(a), Some(k)) = (t.artists.first(), name_key.get(id)) {
            by_text.entry((t.title.to_lowercase(), a.to_lowercase())).or_insert_with(|| k.clone());
        }
    }
    let (plays_written, plays_report) = import_plays(&plays, &by_text, &key_of)?;
    written += plays_written;
    let mut all_keys: HashSet<&str> = order.iter().copied().collect();
    all_keys.extend(name_key.values().map(String::as_str));
    let local_tracks = link_local_tracks(&tracks, &key_of)?;
    let skipped = skipped_inputs(&files);
    let result = json!({
        "files": files,
        "skipped_total": skipped.len(),
        "skipped": skipped,
        "local_tracks": local_tracks,
        "playlists": playlists.len(),
        "playlist_files": playlist_files,
        "tracks": all_keys.len(),
        "memberships": memberships,
        "changes": changes,
        "suspicious": suspicious,
        "not_in_exports": not_in_exports,
        "ambiguous": ambiguous,
        "plays": plays_report,
        "written": written,
    });
    kv_put_big("import:last", &result.to_string());
    Ok(import_page(result, 0))
}

/// Every input the import did not read, one list: each file not read (`path`, `reason`) and
/// each row or item of a read file that was skipped (`path`, `line`, `reason`).
fn skipped_inputs(files: &[Value]) -> Vec<Value> {
    let mut out = Vec::new();
    for f in files {
        if let Some(reason) = f.get("error").and_then(Value::as_str) {
            out.push(json!({"path": f["path"], "reason": reason}));
        }
        for s in f["skipped"].as_array().into_iter().flatten() {
            out.push(json!({"path": f["path"], "line": s["line"], "reason": s["reason"]}));
        }
    }
    out
}

/// The local files of the exports (`spotify:local:` URIs, read into artist, album, title and
/// duration), each with its record's key and the library file it is linked to: with a `music`
/// grant, the one file there whose title (its tag, else its name `Artist - Title`) and artist
/// are the track's, folded, and whose duration is within 3 s when both are known. None, or
/// several alike, leave it unlinked (`file: null`).
fn link_local_tracks(tracks: &[TrackInfo], key_of: &HashMap<String, String>) -> Result<Vec<Value>, Fail> {
    let locals: Vec<&TrackInfo> = tracks.iter().filter(|t| t.uri.starts_with("spotify:local:")).collect();
    if locals.is_empty() {
        return Ok(Vec::new());
    }
    let files = match grant("music") {
        Some((root, _)) => music_files(&root)?,
        None => Vec::new(),
    };
    let fold = baton_normalize::fold;
    let described: Vec<(String, String, Option<String>, Option<u64>)> = files
        .iter()
        .map(|f| {
            let path = f["key"].as_str().unwrap_or_default().to_string();
            let fp = props(f);
            let (fa, ft) = file_title(&path);
            let title = fp.get("title").and_then(Value::as_str).map(str::to_string).unwrap_or(ft);
            let artist = fp.get("artist").and_then(Value::as_str).map(str::to_string).or(fa);
            (path, fold(&title), artist.map(|a| fold(&a)), fp.get("duration_ms").and_then(Value::as_u64))
        })
        .collect();
    let mut out = Vec::new();
    for t in locals {
        let key = key_of.get(&t.uri).cloned().unwrap_or_else(|| t.uri.clone());
        let (title, artist) = (fold(&t.title), t.artists.first().map(|a| fold(a)));
        let alike: Vec<&String> = described
            .iter()
            .filter(|(_, ft, fa, fd)| {
                *ft == title
                    && (artist.is_none() || fa.is_none() || *fa == artist)
                    && match (t.duration_ms, fd) {
                        (Some(a), Some(b)) => a.abs_diff(*b) <= logic::SAME_DURATION_MS,
                        _ => true,
                    }
            })
            .map(|(p, ..)| p)
            .collect();
        let file = match alike.as_slice() {
            [one] => match catalog::link("tracks", &key, "files", one, None, Some(MatchMethod::Normalized)) {
                Ok(_) => Some((*one).clone()),
                Err(CatalogError::Io(m)) => return Err(Failure::Transient(format!("linking `{one}`: {m}"))),
                Err(e) => {
                    host::log(Level::Warn, &format!("linking `{one}` to `{key}` in the catalog: {e:?}"));
                    None
                }
            },
            _ => None,
        };
        out.push(json!({"uri": t.uri, "key": key, "title": t.title, "artists": t.artists, "album": t.album,
            "duration_ms": t.duration_ms, "file": file, "files_alike": alike.len()}));
    }
    Ok(out)
}

/// What a file whose name is no export's holds, by its content.
enum Sniffed {
    Export(exports::Parsed),
    Playlist(Playlist),
    /// Neither: why (the name's reason, and what the bytes look like when they say).
    Not(String),
}

/// Largest file read to learn what it is when its name does not say (audio and archives are
/// larger, and are no exports).
const SNIFF_MAX: u64 = 64 << 20;

/// A file the name of which is no export's (`reason`: why not), read by its content: an
/// Exportify export or account JSON under any name (no extension included), a playlist of a
/// format [`playlist::read`] recognises by its content (a plain m3u only with its `#EXTM3U`
/// header: any text reads as plain m3u lines), or neither, with what it looks like.
fn by_content(path: &Path, name: &str, reason: String) -> Sniffed {
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if size > SNIFF_MAX {
        return Sniffed::Not(format!("{reason}; not read ({size} bytes)"));
    }
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return Sniffed::Not(format!("{reason}; {}", unreadable(path, e))),
    };
    if let Some(Ok(p)) = exports::parse_by_content(name, &bytes) {
        return Sniffed::Export(p);
    }
    match playlist::parse(path, &bytes) {
        Ok(pl) if pl.format != "m3u" && pl.format != "empty" => Sniffed::Playlist(pl),
        Ok(pl)
            if pl.format == "m3u"
                && playlist::decode(&bytes).0.trim_start_matches('\u{feff}').starts_with("#EXTM3U") =>
        {
            Sniffed::Playlist(pl)
        }
        Ok(_) => Sniffed::Not(reason),
        Err(e) => Sniffed::Not(format!("{reason}; {e}")),
    }
}

/// Playlist files of other players by their extension (their content decides the format).
const PLAYLIST_EXTS: &[&str] = &["m3u", "m3u8", "pls", "xspf", "jspf", "asx", "wax", "wvx", "wpl"];

/// A playlist file of another player, by its name (one of [`PLAYLIST_EXTS`]) or a `.json` that
/// is JSPF (an object with a `playlist`; account exports never have one), read by its content
/// with the reader `baton catalog import-playlist` uses. None: not a playlist file (read as an
/// export). Some(Err): a playlist file that cannot be read, with what it looks like.
fn playlist_file(path: &Path, name: &str) -> Option<Result<Playlist, String>> {
    let lower = name.to_ascii_lowercase();
    let ext = lower.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    let by_name = PLAYLIST_EXTS.contains(&ext);
    if !by_name && ext != "json" {
        return None;
    }
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if by_name => return Some(Err(unreadable(path, e))),
        Err(_) => return None,
    };
    if !by_name {
        let head = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]).into_owned();
        let head = head.trim_start_matches('\u{feff}').trim_start();
        if !(head.starts_with('{') && head.contains("\"playlist\"")) {
            return None;
        }
    }
    Some(playlist::parse(path, &bytes))
}

/// Most unmatched entries listed per playlist file (`unmatched_total` counts them all).
const UNMATCHED_SHOWN: usize = 500;

/// The playlist files (m3u, XSPF, JSPF) found in the `spotify` folder, each a playlist keyed by
/// the file's host path, the key `baton catalog import-playlist` gives it, so either updates the
/// other's record in place. Each entry is linked to the library's `files` by path (an entry
/// holding a host path is mapped to the plugin's guest path), else by its last folder and name
/// when one library file alone ends in them; the rest are listed as unmatched. Re-importing a
/// file is under the exports' shrink rule: it never empties a playlist, and a drop of more than
/// half is withheld (`suspicious`) unless `accept_shrink`. Returns a report per file and what
/// was written.
fn import_playlist_files(
    lists: &[(String, Playlist)],
    accept_shrink: bool,
    changes: &mut Vec<Value>,
    suspicious: &mut Vec<Value>,
) -> Result<(Vec<Value>, u64), Fail> {
    if lists.is_empty() {
        return Ok((Vec::new(), 0));
    }
    let lib = LibraryIndex::new(
        query_all("files", "")?.into_iter().filter_map(|r| r.get("key")?.as_str().map(str::to_string)),
    );
    let mut reports = Vec::new();
    let mut recs = Vec::new();
    for (shown, pl) in lists {
        let key = host::host_path(shown).unwrap_or_else(|| shown.clone());
        let name = pl.name.clone().unwrap_or_else(|| {
            let base = shown.rsplit('/').next().unwrap_or(shown);
            base.rsplit_once('.').map(|(s, _)| s).filter(|s| !s.is_empty()).unwrap_or(base).to_string()
        });
        let mut read: logic::Links = Vec::new();
        let mut seen = HashSet::new();
        let mut unmatched = Vec::new();
        let mut by_tail = 0;
        for e in &pl.entries {
            let found = lib.find(&e.location).filter(|(_, how)| *how == "path").or_else(|| {
                // An absolute path another program wrote is a host path: the same file by its
                // guest path, when it lies in a grant.
                let guest = e.location.starts_with('/').then(|| host::guest_path(&e.location)).flatten()?;
                lib.find(&guest).filter(|(_, how)| *how == "path")
            });
            match found.or_else(|| lib.find(&e.location)) {
                Some((path, how)) => {
                    by_tail += usize::from(how == "tail");
                    if seen.insert(path.clone()) {
                        read.push((path, None));
                    }
                }
                None => unmatched.push(json!({"line": e.line, "entry": e.raw, "kind": e.kind, "location": e.location, "artist": e.artist, "title": e.title})),
            }
        }
        let old: logic::Links = catalog::links("playlists", &key, "files")
            .map(|l| l.into_iter().map(|l| (l.key, None)).collect())
            .unwrap_or_default();
        let (next, shrink) = logic::apply_export(&old, &read, accept_shrink);
        if let Some(s) = shrink {
            host::log(Level::Warn, &format!("{shown}: playlist `{name}`: {}", s.reason));
            suspicious
                .push(json!({"playlist": name, "path": shown, "before": s.before, "read": s.read, "reason": s.reason,
                "withheld": s.withheld.iter().map(|k| json!({"path": k})).collect::<Vec<_>>()}));
        }
        let old_set: HashSet<&str> = old.iter().map(|(k, _)| k.as_str()).collect();
        let new_set: HashSet<&str> = next.iter().map(|(k, _)| k.as_str()).collect();
        let added: Vec<Value> =
            next.iter().filter(|(k, _)| !old_set.contains(k.as_str())).map(|(k, _)| json!({"path": k})).collect();
        let removed: Vec<Value> =
            old.iter().filter(|(k, _)| !new_set.contains(k.as_str())).map(|(k, _)| json!({"path": k})).collect();
        if !added.is_empty() || !removed.is_empty() {
            changes.push(json!({"playlist": name, "path": shown, "added": added, "removed": removed}));
        }
        let files: Vec<&str> = next.iter().map(|(k, _)| k.as_str()).collect();
        recs.push(json!({"key": key, "props": {"name": name, "source": pl.format, "external_ids": [format!("file://{key}")], "files": files}}));
        let total = unmatched.len();
        unmatched.truncate(UNMATCHED_SHOWN);
        let mut report = json!({"path": shown, "key": key, "name": name, "format": pl.format, "encoding": pl.encoding,
            "entries": pl.entries.len(), "matched": read.len(), "matched_by_tail": by_tail, "unmatched": unmatched, "unmatched_total": total});
        if pl.encoding == "windows-1252" {
            report["note"] = json!("not valid UTF-8: decoded as Windows-1252");
        }
        reports.push(report);
    }
    let written = upsert("playlists", &recs)?;
    Ok((reports, written))
}

/// One page of an import result. Every list holds at most 500 entries a page, and the result
/// says `"truncated": true` when a later page holds more: `ambiguous` 500 a page; `files` and
/// `changes` count their inner entries (a file's `skipped` rows; a playlist's `added` and
/// `removed` together) against the page, so a file or a playlist with more continues on the
/// next page with the rest.
fn import_page(mut full: Value, page: usize) -> Value {
    // Taken, not cloned: on a first import `changes` holds every membership.
    let mut take = |k: &str| match full[k].take() {
        Value::Array(c) => c,
        _ => Vec::new(),
    };
    let (changes, files, suspicious) = (take("changes"), take("files"), take("suspicious"));
    let (changes, more_changes) = logic::page_nested(&changes, &["added", "removed"], page);
    let (files, more_files) = logic::page_nested(&files, &["skipped"], page);
    let (suspicious, more_suspicious) = logic::page_nested(&suspicious, &["withheld"], page);
    full["changes"] = json!([]);
    full["files"] = json!([]);
    full["suspicious"] = json!([]);
    logic::paginate(&mut full, page);
    full["changes"] = json!(changes);
    full["files"] = json!(files);
    full["suspicious"] = json!(suspicious);
    if more_changes || more_files || more_suspicious {
        full["truncated"] = json!(true);
    }
    full
}

/// The tracks `held` (indexes into `tracks`) as one: the one whose URI is `key` (else the
/// first) takes in the others, in order.
fn merged<'a>(key: &str, held: &[usize], tracks: &'a [TrackInfo]) -> std::borrow::Cow<'a, TrackInfo> {
    if let [one] = held {
        return std::borrow::Cow::Borrowed(&tracks[*one]);
    }
    let base = held.iter().copied().find(|&i| tracks[i].uris.iter().any(|u| u == key)).unwrap_or(held[0]);
    let mut t = tracks[base].clone();
    for &i in held.iter().filter(|&&i| i != base) {
        logic::absorb(&mut t, &tracks[i]);
    }
    std::borrow::Cow::Owned(t)
}

fn artist_refs(t: &TrackInfo, artist_uri: &HashMap<String, String>) -> Vec<String> {
    t.artists.iter().map(|n| artist_key(n, artist_uri.get(n))).collect()
}

/// The record key of each track (parallel to `tracks`): the catalog's record that holds one
/// of its URIs, else its ISRC (exact lookups in what the catalog held before); else the
/// catalog's matcher; else its own record under its first URI. Local files (no Spotify id)
/// are never matched.
///
/// The matcher is a host call, so it is asked only where it could answer: every track when
/// the catalog held tracks before this import, and otherwise only a track that
/// [`logic::likely_same`] pairs with an earlier one of this import. A track is asked once every
/// earlier track it pairs with has its record, and those records are written first (round by
/// round), so the matcher sees them; its answer is taken when it names one of those records or
/// one that existed before. (The matcher itself never takes two known, different ISRCs for one
/// recording.) Returns the keys, the ambiguous matches, and what those early writes changed.
fn resolve_tracks(
    tracks: &[TrackInfo],
    ix: &Index,
    artist_uri: &HashMap<String, String>,
) -> Result<(Vec<String>, Vec<Value>, u64), Fail> {
    let mut keys: Vec<Option<String>> = tracks
        .iter()
        .map(|t| {
            t.uris
                .iter()
                .find_map(|u| ix.by_id.get(u))
                .or_else(|| t.isrc.as_ref().and_then(|i| ix.by_isrc.get(i)))
                .cloned()
        })
        .collect();
    let mut pending = Vec::new();
    for (i, t) in tracks.iter().enumerate() {
        if keys[i].is_none() {
            if t.uri.starts_with("spotify:local:") {
                keys[i] = Some(t.uri.clone());
            } else {
                pending.push(i);
            }
        }
    }
    let before = !ix.props.is_empty();
    let earlier = logic::likely_same(tracks, &pending);
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        Open,
        Own,
        Merged,
    }
    let mut state = vec![State::Open; pending.len()];
    let mut written = vec![false; pending.len()];
    let (mut ambiguous, mut changed, mut asked, mut rounds, mut refused, mut early) =
        (Vec::new(), 0u64, 0u64, 0u64, 0u64, 0usize);
    let to_ask = if before { pending.len() } else { earlier.iter().filter(|e| !e.is_empty()).count() } as u64;
    loop {
        let ready: Vec<usize> = (0..pending.len())
            .filter(|&p| state[p] == State::Open && earlier[p].iter().all(|&e| state[e] != State::Open))
            .collect();
        if ready.is_empty() {
            break;
        }
        rounds += 1;
        for p in ready {
            let t = &tracks[pending[p]];
            state[p] = State::Own;
            if before || !earlier[p].is_empty() {
                if asked % 500 == 0 {
                    host::progress(asked, to_ask, "matching tracks");
                }
                asked += 1;
                let q = TrackQuery {
                    title: t.title.clone(),
                    artists: t.artists.clone(),
                    duration_ms: t.duration_ms,
                    isrc: t.isrc.clone(),
                    external_ids: t.uris.clone(),
                    path: None,
                };
                let out = catalog::match_track(&q).map_err(|e| cat_err(&format!("matching `{}`", t.uri), e))?;
                match (out.verdict, out.candidates.first()) {
                    // A record of this import the track was not paired with (another
                    // artist, title or duration) is refused: within Spotify's own metadata
                    // one recording has one spelling, and the fuzzy rung is meant for other
                    // sources' spellings.
                    (Verdict::Match, Some(c))
                        if !ix.props.contains_key(&c.key)
                            && !earlier[p].iter().any(|&e| keys[pending[e]].as_deref() == Some(c.key.as_str())) =>
                    {
                        refused += 1;
                    }
                    (Verdict::Match, Some(c)) => {
                        keys[pending[p]] = Some(c.key.clone());
                        state[p] = State::Merged;
                    }
                    (Verdict::Ambiguous, _) => ambiguous
                        .push(json!({"uri": t.uri, "title": t.title, "artists": t.artists,
                        "candidates": out.candidates.iter().map(candidate_json).collect::<Vec<_>>()})),
                    _ => {}
                }
            }
            if state[p] == State::Own {
                keys[pending[p]] = Some(t.uri.clone());
            }
        }
        // The new records that tracks still to be asked pair with: written now, so the
        // matcher sees them.
        let mut heads: Vec<usize> = (0..pending.len())
            .filter(|&p| state[p] == State::Open)
            .flat_map(|p| earlier[p].iter().copied())
            .filter(|&e| state[e] == State::Own && !written[e])
            .collect();
        heads.sort_unstable();
        heads.dedup();
        if !heads.is_empty() {
            let recs: Vec<Value> = heads
                .iter()
                .map(|&e| {
                    written[e] = true;
                    early += 1;
                    let t = &tracks[pending[e]];
                    track_record(t, &t.uri, &artist_refs(t, artist_uri), t.uris.clone())
                })
                .collect();
            changed += upsert("tracks", &recs)?;
        }
    }
    host::log(
        Level::Info,
        &format!(
            "{} tracks: {} new, {asked} asked of the matcher in {rounds} rounds, {early} written first, {refused} matches refused (a record of this import not paired with)",
            tracks.len(),
            pending.len(),
        ),
    );
    Ok((keys.into_iter().map(Option::unwrap_or_default).collect(), ambiguous, changed))
}

/// The record key of each track known only by its names (`named`, from
/// [`logic::named_tracks`]), by its name id: the catalog's matcher on its title and artist
/// (no duration, no id: only its text rungs can answer). Without a duration, names link only
/// with the same album on both sides (`baton_normalize::identity::name_link`); the host's
/// matcher does not see the album, so it answers `ambiguous` and the plugin applies the rule
/// to each candidate's record: one candidate of the same album is taken. Any other item keeps
/// a record of its own under its `uri` (keyed by its names), never dropped; when a candidate
/// could have been it (no album to compare, or two alike), the item is listed in `ambiguous`
/// with its candidates. Returns the keys and what the new records changed.
fn resolve_named(
    named: &[(String, TrackInfo)],
    artist_uri: &HashMap<String, String>,
    ambiguous: &mut Vec<Value>,
) -> Result<(HashMap<String, String>, u64), Fail> {
    let mut keys = HashMap::new();
    let mut recs = Vec::new();
    for (i, (id, t)) in named.iter().enumerate() {
        if i % 500 == 0 {
            host::progress(i as u64, named.len() as u64, "matching tracks known by name only");
        }
        let q = TrackQuery {
            title: t.title.clone(),
            artists: t.artists.clone(),
            duration_ms: None,
            isrc: None,
            external_ids: vec![],
            path: None,
        };
        let out = catalog::match_track(&q).map_err(|e| cat_err(&format!("matching `{}`", t.title), e))?;
        let (key, doubt) = if out.candidates.iter().any(|c| c.key == t.uri) {
            (Some(t.uri.clone()), Vec::new())
        } else {
            certain_by_names(t.album.as_deref(), None, &out)?
        };
        match key {
            Some(k) => {
                keys.insert(id.clone(), k);
            }
            None => {
                recs.push(track_record(t, &t.uri, &artist_refs(t, artist_uri), Vec::new()));
                keys.insert(id.clone(), t.uri.clone());
            }
        }
        if !doubt.is_empty() {
            ambiguous.push(json!({"uri": null, "title": t.title, "artists": t.artists, "album": t.album, "key": t.uri,
            "reason": "known by its names only (no URI in the export), and names alone are not certain: kept as a record of its own",
            "candidates": doubt.iter().map(|c| candidate_json(c)).collect::<Vec<_>>()}));
        }
    }
    let written = if recs.is_empty() { 0 } else { upsert("tracks", &recs)? };
    Ok((keys, written))
}

/// The matcher's answer to a query by names (no id), decided with what the host's matcher does
/// not see, the query's album, by the identity rule (`name_link`): the one accepted candidate
/// that names can link with certainty (a duration on both sides, or the same album), or None;
/// and the candidates that could have been it but are not certain (to list as ambiguous).
fn certain_by_names<'a>(
    album: Option<&str>,
    duration_ms: Option<i64>,
    out: &'a MatchOutcome,
) -> Result<(Option<String>, Vec<&'a Candidate>), Fail> {
    use baton_normalize::identity::{Ids, NameLink, Side, name_link};
    let accepted: Vec<&Candidate> = out.candidates.iter().filter(|c| c.score >= 0.80).collect();
    if out.verdict == Verdict::None || accepted.is_empty() {
        return Ok((None, Vec::new()));
    }
    let mut sure = Vec::new();
    let mut doubt = Vec::new();
    for c in accepted {
        let rec = get("tracks", &c.key)?;
        let p = rec.as_ref().map(props);
        let ids = p.map(|p| strings(p.get("external_ids"))).unwrap_or_default();
        let isrc = p.and_then(|p| p.get("isrc")).and_then(Value::as_str);
        let theirs = Side {
            ids: Ids { external_ids: &ids, isrc },
            duration_ms: p.and_then(|p| p.get("duration_ms")).and_then(Value::as_i64),
            album: p.and_then(|p| p.get("album")).and_then(Value::as_str),
        };
        let ours = Side { ids: Ids::default(), duration_ms, album };
        match name_link(ours, theirs) {
            NameLink::May => sure.push(c),
            NameLink::Uncertain(_) => doubt.push(c),
            NameLink::Never(_) => {}
        }
    }
    match (sure.as_slice(), doubt.is_empty()) {
        ([one], true) => Ok((Some(one.key.clone()), Vec::new())),
        _ => {
            doubt.extend(sure);
            Ok((None, doubt))
        }
    }
}

fn track_record(t: &TrackInfo, key: &str, refs: &[String], external_ids: Vec<String>) -> Value {
    let mut p = json!({
        "title": t.title,
        "artists": t.artists,
        "external_ids": external_ids,
        "artist_refs": refs,
    });
    if let Some(a) = &t.album {
        p["album"] = json!(a);
    }
    if let Some(d) = t.duration_ms {
        p["duration_ms"] = json!(d);
    }
    if let Some(i) = &t.isrc {
        p["isrc"] = json!(i);
    }
    json!({"key": key, "props": p})
}

/// Play counts (streams of 30 s or more) and the last play per track, from the streaming
/// history, on the tracks' own `spotify.play_count` / `spotify.last_played`. A stream is
/// found by its URI, else by its title and first artist (`by_text`, lower case). Returns what
/// was written and the count of streams read, counted, too short, and matching no imported
/// track (those are dropped, and the RETURN says how many).
fn import_plays(
    plays: &[Play],
    by_text: &HashMap<(String, String), String>,
    key_of: &HashMap<String, String>,
) -> Result<(u64, Value), Fail> {
    let short = plays.iter().filter(|p| p.ms_played < 30_000).count();
    let mut unmatched = 0usize;
    let mut agg: BTreeMap<String, (u64, String)> = BTreeMap::new();
    for p in plays.iter().filter(|p| p.ms_played >= 30_000) {
        let key = match p.uri.as_deref().and_then(|u| key_of.get(u)) {
            Some(k) => Some(k),
            None => by_text.get(&(p.title.to_lowercase(), p.artist.to_lowercase())),
        };
        let Some(key) = key else {
            unmatched += 1;
            continue;
        };
        let at = if p.at.len() == 16 && p.at.as_bytes()[10] == b' ' {
            format!("{}T{}:00Z", &p.at[..10], &p.at[11..])
        } else {
            p.at.clone()
        };
        let e = agg.entry(key.clone()).or_insert((0, String::new()));
        e.0 += 1;
        if at > e.1 {
            e.1 = at;
        }
    }
    let counted: u64 = agg.values().map(|(n, _)| n).sum();
    let report = json!({"streams": plays.len(), "counted": counted, "under_30s": short, "unmatched": unmatched, "tracks": agg.len()});
    if unmatched > 0 {
        host::log(
            Level::Info,
            &format!(
                "{unmatched} of {} streams of 30 s or more match no imported track (not counted)",
                plays.len() - short
            ),
        );
    }
    if agg.is_empty() {
        return Ok((0, report));
    }
    catalog::ensure_collection(
        "tracks",
        &[
            PropertySpec {
                id: "spotify.play_count".into(),
                name: Some("Spotify plays".into()),
                kind: PropertyKind::Number,
                target: None,
                inverse: None,
                integer: true,
            },
            PropertySpec {
                id: "spotify.last_played".into(),
                name: Some("Spotify last played".into()),
                kind: PropertyKind::Date,
                target: None,
                inverse: None,
                integer: false,
            },
        ],
    )
    .map_err(|e| cat_err("declaring spotify.play_count", e))?;
    let recs: Vec<Value> = agg
        .into_iter()
        .map(|(k, (n, at))| json!({"key": k, "props": {"spotify.play_count": n, "spotify.last_played": at}}))
        .collect();
    Ok((upsert("tracks", &recs)?, report))
}

// ---------- playlists-for-track ----------

fn playlists_for_track(p: params::Track) -> Result<Value, Fail> {
    let page = p.page;
    // Paged whichever way it ends: the candidates of an ambiguous match too.
    let mut out = track_answer(&p)?;
    logic::paginate(&mut out, page);
    Ok(out)
}

/// How link-local matched the file `path` (a track's file moved by `apply` keeps its track's),
/// as `{"method", "score", "via": "link-local"}`.
fn link_match(path: &str, key: &str) -> Option<Value> {
    let mut m: Value = host::kv_get(&format!("linkmatch:{path}"))
        .or_else(|| host::kv_get(&format!("linkmatch:{key}")))
        .and_then(|s| serde_json::from_str(&s).ok())?;
    m["via"] = json!("link-local");
    Some(m)
}

fn remember_match(path: &str, key: &str, c: &Candidate) {
    let m = json!({"method": method_name(c.method), "score": c.score}).to_string();
    for k in [format!("linkmatch:{path}"), format!("linkmatch:{key}")] {
        kv_set_changed(&k, &m);
    }
}

fn track_answer(p: &params::Track) -> Result<Value, Fail> {
    let none = |candidates: Vec<Value>| json!({"track": null, "match": null, "candidates": candidates, "playlists": [], "liked": false});
    // A record read while resolving is not read again.
    let mut found: Option<Value> = None;
    let (key, m) = if let Some(uri) = p.uri.as_deref() {
        match get("tracks", uri)? {
            Some(rec) => {
                found = Some(rec);
                (uri.to_string(), json!({"method": "external_id", "score": 1.0}))
            }
            None => match resolve(TrackQuery {
                title: String::new(),
                artists: vec![],
                duration_ms: None,
                isrc: None,
                external_ids: vec![uri.into()],
                path: None,
            })? {
                Ok(x) => x,
                Err(c) => return Ok(none(c)),
            },
        }
    } else if let Some(isrc) = p.isrc.as_deref() {
        match resolve(TrackQuery {
            title: String::new(),
            artists: vec![],
            duration_ms: None,
            isrc: Some(isrc.into()),
            external_ids: vec![],
            path: None,
        })? {
            Ok(x) => x,
            Err(c) => return Ok(none(c)),
        }
    } else if let Some(title) = p.title.as_deref() {
        let artist = p
            .artist
            .as_deref()
            .ok_or_else(|| invalid("`title` needs `artist` too: {\"title\", \"artist\", \"duration_ms\"?}"))?;
        let duration_ms = p.duration_ms;
        match resolve(TrackQuery {
            title: title.into(),
            artists: vec![artist.into()],
            duration_ms,
            isrc: None,
            external_ids: vec![],
            path: None,
        })? {
            Ok(x) => x,
            Err(c) => return Ok(none(c)),
        }
    } else if let Some(path) = p.path.as_deref() {
        // A file link-local linked: its track, matched as it was then. Otherwise (or for a
        // link stored before the method was), through the file's tags.
        let linked = host::kv_get(&format!("file:{path}")).and_then(|k| link_match(path, &k).map(|m| (k, m)));
        match linked {
            Some(x) => x,
            None => {
                let t = fingerprint::read_tags(path)
                    .map_err(|e| invalid(format!("reading the tags of `{path}`: {e:?}")))?;
                let title = t.tags.title.clone().unwrap_or_else(|| file_title(path).1);
                let artists: Vec<String> = t.tags.artist.clone().or_else(|| file_title(path).0).into_iter().collect();
                let q = TrackQuery {
                    title,
                    artists,
                    duration_ms: t.info.duration.map(|d| (d * 1000.0).round() as u64),
                    isrc: t.tags.isrc.clone(),
                    external_ids: vec![],
                    path: Some(path.into()),
                };
                match resolve(q)? {
                    Ok(x) => x,
                    Err(c) => return Ok(none(c)),
                }
            }
        }
    } else {
        return Err(invalid(
            "give one of {\"uri\"}, {\"isrc\"}, {\"title\", \"artist\", \"duration_ms\"?} or {\"path\"}",
        ));
    };
    let rec = match found {
        Some(rec) => rec,
        None => match get("tracks", &key)? {
            Some(rec) => rec,
            None => return Ok(none(vec![])),
        },
    };
    let mut names = HashMap::new();
    let ms = memberships(&key, &mut names)?;
    let liked = ms.iter().any(|m| m.name == LIKED);
    let playlists: Vec<Value> =
        ms.iter().filter(|m| m.name != LIKED).map(|m| json!({"name": m.name, "added_at": m.added_at})).collect();
    Ok(json!({"track": track_json(&rec), "match": m, "candidates": [], "playlists": playlists, "liked": liked}))
}

/// `Ok((key, {method, score}))` on a match, `Err(candidates)` when ambiguous or none.
fn resolve(q: TrackQuery) -> Result<Result<(String, Value), Vec<Value>>, Fail> {
    let out: MatchOutcome = catalog::match_track(&q).map_err(|e| cat_err("matching the track", e))?;
    Ok(match (out.verdict, out.candidates.first()) {
        (Verdict::Match, Some(c)) => Ok((c.key.clone(), json!({"method": method_name(c.method), "score": c.score}))),
        (Verdict::Ambiguous, _) => Err(out.candidates.iter().map(candidate_json).collect()),
        _ => Err(vec![]),
    })
}

/// `(artist, title)` from a file name `Artist - Title.ext`.
fn file_title(path: &str) -> (Option<String>, String) {
    let name = path.rsplit('/').next().unwrap_or(path);
    let stem = name.rsplit_once('.').map(|(s, _)| s).unwrap_or(name);
    match stem.split_once(" - ") {
        Some((a, t)) => (Some(a.trim().to_string()), t.trim().to_string()),
        None => (None, stem.trim().to_string()),
    }
}

// ---------- link-local ----------

/// The local audio files the plugin may see (`files`, limited by the host to its grants),
/// inside the `music` folder.
fn music_files(root: &str) -> Result<Vec<Value>, Fail> {
    let prefix = format!("{root}/");
    Ok(query_all("files", "")?
        .into_iter()
        .filter(|r| r.get("key").and_then(Value::as_str).is_some_and(|k| k.starts_with(&prefix)))
        .collect())
}

fn link_local(p: params::Paged) -> Result<Value, Fail> {
    let root = need_grant("music", false, "link-local")?;
    let files = music_files(&root)?;
    let (mut linked, mut ambiguous, mut unmatched) = (0u64, Vec::new(), Vec::new());
    for (i, f) in files.iter().enumerate() {
        if i % 100 == 0 {
            host::progress(i as u64, files.len() as u64, "linking local files");
        }
        let path = f["key"].as_str().unwrap_or_default().to_string();
        let fp = props(f);
        let (fa, ft) = file_title(&path);
        let title = fp.get("title").and_then(Value::as_str).map(str::to_string).unwrap_or(ft);
        let artists: Vec<String> =
            fp.get("artist").and_then(Value::as_str).map(str::to_string).or(fa).into_iter().collect();
        let q = TrackQuery {
            title,
            artists,
            duration_ms: fp.get("duration_ms").and_then(Value::as_u64),
            isrc: fp.get("isrc").and_then(Value::as_str).map(str::to_string),
            external_ids: vec![],
            path: None,
        };
        let duration_ms = q.duration_ms.and_then(|d| i64::try_from(d).ok());
        let mut out = catalog::match_track(&q).map_err(|e| cat_err(&format!("matching `{path}`"), e))?;
        // Ambiguous by names alone (a record without a duration): the file's album tag decides.
        if out.verdict == Verdict::Ambiguous {
            let album = fp.get("album").and_then(Value::as_str);
            if let (Some(k), _) = certain_by_names(album, duration_ms, &out)? {
                out.candidates.retain(|c| c.key == k);
                out.verdict = Verdict::Match;
            }
        }
        match (out.verdict, out.candidates.first()) {
            (Verdict::Match, Some(c)) => {
                match catalog::link("tracks", &c.key, "files", &path, None, Some(c.method)) {
                    Ok(_) => {}
                    Err(CatalogError::Io(m)) => return Err(Failure::Transient(format!("linking `{path}`: {m}"))),
                    Err(e) => host::log(Level::Warn, &format!("linking `{path}` to `{}` in the catalog: {e:?}", c.key)),
                }
                if host::kv_get(&format!("file:{path}")).as_deref() != Some(c.key.as_str()) {
                    remember_link(&path, &c.key);
                }
                remember_match(&path, &c.key, c);
                linked += 1;
            }
            (Verdict::Ambiguous, _) => ambiguous.push(
                json!({"path": path, "candidates": out.candidates.iter().map(candidate_json).collect::<Vec<_>>()}),
            ),
            _ => unmatched.push(json!(path)),
        }
    }
    let coverage =
        if files.is_empty() { 0.0 } else { (linked as f64 / files.len() as f64 * 10000.0).round() / 10000.0 };
    let mut out = json!({"linked": linked, "ambiguous": ambiguous, "unmatched": unmatched, "coverage": coverage, "files": files.len()});
    logic::paginate(&mut out, p.page);
    Ok(out)
}

// ---------- plan / apply / undo ----------

const DEFAULT_LAYOUT: &str = "{playlist}/{artist} - {title}.{ext}";

/// `primary` from `[plugins.spotify.settings]` (the params' own is typed): `oldest` by default.
fn primary_of(v: Option<&Value>) -> Result<Primary, Fail> {
    match v {
        None | Some(Value::Null) => Ok(Primary::Oldest),
        Some(v) => serde_json::from_value::<params::PrimaryRule>(v.clone()).map(Primary::from).map_err(|_| {
            invalid(format!(
                "`primary` in [plugins.spotify.settings] must be \"oldest\", \"newest\" or a list of playlist names, got {v}"
            ))
        }),
    }
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100000001b3))
}

fn artist_line(p: &Map<String, Value>) -> String {
    let a = strings(p.get("artists"));
    if a.is_empty() { "Unknown Artist".into() } else { a.join(", ") }
}

fn plan(p: params::Plan) -> Result<Value, Fail> {
    let s = settings();
    let layout = p
        .layout
        .clone()
        .or_else(|| s.get("layout").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| DEFAULT_LAYOUT.to_string());
    let rule = match p.primary.clone() {
        Some(r) => Primary::from(r),
        None => primary_of(s.get("primary"))?,
    };
    logic::fill_layout(&layout, "p", "a", "t", "al", "e").map_err(invalid)?;
    let root = need_grant("music", false, "plan")?;
    let mut paths: Vec<String> =
        music_files(&root)?.iter().filter_map(|f| f["key"].as_str().map(str::to_string)).collect();
    // Files moved by `apply` are known by their new path until the next `baton fp scan`.
    paths.retain(|p| Path::new(p).exists());
    paths.sort();
    let mut names = HashMap::new();
    let mut taken: HashSet<String> = HashSet::new();
    let (mut moves, mut unassigned, mut unmatched) = (Vec::new(), Vec::new(), Vec::new());
    for from in &paths {
        let Some(key) = host::kv_get(&format!("file:{from}")) else {
            unmatched.push(json!(from));
            continue;
        };
        let Some(rec) = get("tracks", &key)? else {
            unmatched.push(json!(from));
            continue;
        };
        let tp = props(&rec);
        let ms = memberships(&key, &mut names)?;
        let (folder, reason) =
            logic::primary(&ms, &rule).unwrap_or_else(|| ("Unassigned".into(), "on no playlist".into()));
        let ext =
            from.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).filter(|e| !e.contains('/')).unwrap_or_default();
        let rel = logic::fill_layout(
            &layout,
            &folder,
            &artist_line(tp),
            tp.get("title").and_then(Value::as_str).unwrap_or("Unknown Title"),
            tp.get("album").and_then(Value::as_str).unwrap_or("Unknown Album"),
            &ext,
        )
        .map_err(invalid)?;
        let mut to = format!("{root}/{rel}");
        if &to == from {
            taken.insert(to);
            continue;
        }
        let mut n = 2;
        while taken.contains(&to) || (Path::new(&to).exists() && &to != from) {
            to = format!("{root}/{}", logic::numbered(&rel, n));
            n += 1;
        }
        if &to == from {
            taken.insert(to);
            continue;
        }
        taken.insert(to.clone());
        let pls: Vec<&str> = ms.iter().map(|m| m.name.as_str()).collect();
        if ms.is_empty() {
            unassigned.push(json!(from));
        }
        moves.push(json!({"from": from, "to": to, "playlists": pls, "reason": reason, "track": key}));
    }
    let text = serde_json::to_string(&moves).unwrap_or_default();
    let plan_id = format!("plan-{:016x}", fnv(&text));
    kv_put_big(&format!("plan:{plan_id}"), &text);
    let mut out =
        json!({"plan_id": plan_id, "moves": moves, "unassigned": unassigned, "unmatched": unmatched, "layout": layout});
    logic::paginate(&mut out, p.page);
    Ok(out)
}

fn plan_id(p: &params::PlanId) -> Result<String, Fail> {
    let id = &p.plan_id;
    if host::kv_get(&format!("plan:{id}#n")).is_none() {
        return Err(invalid(format!("no stored plan `{id}`: run `plan` and use its plan_id")));
    }
    Ok(id.to_string())
}

/// One journal entry per move of a plan, written before the move and updated after it:
/// `{from, to, track, dirs, state}` with state `moving`, `done`, `failed` or `undone`.
fn journal_get(id: &str, i: usize) -> Option<Value> {
    host::kv_get(&format!("journal:{id}:{i}")).and_then(|s| serde_json::from_str(&s).ok())
}

fn journal_set(id: &str, i: usize, entry: &Value) {
    host::kv_set(&format!("journal:{id}:{i}"), &entry.to_string());
}

/// Moves the catalog's file link of `key` from `from` to `to` (and the plugin's own record).
///
/// The plugin's own record (kv `local:`/`file:`) follows at once, so `playlists-for-track
/// {"path"}`, `plan`, `m3u` and `next-track` see the new path right away. So does the catalog's
/// `tracks.files` link: a link to `files` must name a file of the fingerprint library, and the
/// host has the library follow a file this plugin moved inside its writable grant (same size
/// and mtime, old path gone), fingerprint and tags with it. Only when that cannot be told (two
/// identical copies) does the link wait for the next `baton fp scan` and `link-local`; the
/// unlink of `from` goes through either way, so no link points at a path that is gone.
fn relink(key: &str, from: &str, to: &str) {
    forget_link(from, key);
    remember_link(to, key);
    // The moved file is the same match: it keeps the method it was linked by.
    let method = catalog::links("tracks", key, "files")
        .ok()
        .and_then(|ls| ls.into_iter().find(|l| l.key == from))
        .and_then(|l| l.method)
        .filter(|m| *m != MatchMethod::Manual);
    let _ = catalog::unlink("tracks", key, "files", from);
    if let Err(e) = catalog::link("tracks", key, "files", to, None, method) {
        host::log(Level::Info, &format!("`{to}` is not in the fingerprint library yet (run `baton fp scan`): {e:?}"));
    }
}

fn apply(p: params::PlanId) -> Result<Value, Fail> {
    need_grant("music", true, "apply")?;
    let id = plan_id(&p)?;
    let moves: Vec<Value> =
        kv_get_big(&format!("plan:{id}")).and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default();
    let (mut moved, mut skipped) = (0u64, Vec::new());
    for (i, m) in moves.iter().enumerate() {
        if i % 100 == 0 {
            host::progress(i as u64, moves.len() as u64, "moving files");
        }
        let (from, to, key) =
            (m["from"].as_str().unwrap_or(""), m["to"].as_str().unwrap_or(""), m["track"].as_str().unwrap_or(""));
        if journal_get(&id, i).is_some_and(|e| e["state"] == "done") {
            skipped.push(json!({"from": from, "reason": "already moved by an earlier apply of this plan"}));
            continue;
        }
        if !Path::new(from).exists() {
            skipped.push(json!({"from": from, "reason": "the file is gone (moved or deleted since the plan)"}));
            continue;
        }
        if Path::new(to).exists() {
            skipped.push(json!({"from": from, "reason": format!("`{to}` exists; never overwritten")}));
            continue;
        }
        // Folders this move creates, outermost first, so undo can remove them when empty.
        let mut created = Vec::new();
        let mut dir = Path::new(to).parent();
        while let Some(d) = dir {
            if d.exists() {
                break;
            }
            created.push(d.display().to_string());
            dir = d.parent();
        }
        created.reverse();
        let mut entry = json!({"from": from, "to": to, "track": key, "dirs": created, "state": "moving"});
        journal_set(&id, i, &entry);
        let r = std::fs::create_dir_all(Path::new(to).parent().unwrap_or(Path::new("/"))).and_then(|_| {
            if Path::new(to).exists() {
                Err(std::io::Error::new(std::io::ErrorKind::AlreadyExists, "the target appeared"))
            } else {
                std::fs::rename(from, to)
            }
        });
        match r {
            Ok(()) => {
                entry["state"] = json!("done");
                journal_set(&id, i, &entry);
                relink(key, from, to);
                moved += 1;
            }
            Err(e) => {
                entry["state"] = json!("failed");
                journal_set(&id, i, &entry);
                for d in created.iter().rev() {
                    let _ = std::fs::remove_dir(d);
                }
                skipped.push(json!({"from": from, "reason": format!("moving to `{to}`: {e}")}));
            }
        }
    }
    let mut out = json!({"plan_id": id, "moved": moved, "skipped": skipped});
    logic::paginate(&mut out, p.page);
    Ok(out)
}

fn undo(p: params::PlanId) -> Result<Value, Fail> {
    need_grant("music", true, "undo")?;
    let id = plan_id(&p)?;
    let count = kv_get_big(&format!("plan:{id}"))
        .and_then(|s| serde_json::from_str::<Vec<Value>>(&s).ok())
        .map_or(0, |m| m.len());
    let (mut restored, mut skipped) = (0u64, Vec::new());
    for i in (0..count).rev() {
        let Some(mut entry) = journal_get(&id, i) else { continue };
        // `moving`: the move may or may not have happened before a crash; the paths tell.
        let moving = entry["state"] == "moving";
        if entry["state"] != "done" && !moving {
            continue;
        }
        let (from, to, key) = (
            entry["from"].as_str().unwrap_or("").to_string(),
            entry["to"].as_str().unwrap_or("").to_string(),
            entry["track"].as_str().unwrap_or("").to_string(),
        );
        if moving && Path::new(&from).exists() {
            continue;
        }
        if !Path::new(&to).exists() {
            skipped.push(json!({"from": from, "reason": format!("`{to}` is gone; nothing to restore")}));
            continue;
        }
        if Path::new(&from).exists() {
            skipped.push(json!({"from": from, "reason": "a file is back at the original path; never overwritten"}));
            continue;
        }
        let r = std::fs::create_dir_all(Path::new(&from).parent().unwrap_or(Path::new("/")))
            .and_then(|_| std::fs::rename(&to, &from));
        match r {
            Ok(()) => {
                entry["state"] = json!("undone");
                journal_set(&id, i, &entry);
                relink(&key, &to, &from);
                for d in strings(entry.get("dirs")).iter().rev() {
                    // only when empty: never removes anything else
                    let _ = std::fs::remove_dir(d);
                }
                restored += 1;
            }
            Err(e) => skipped.push(json!({"from": from, "reason": format!("moving back from `{to}`: {e}")})),
        }
    }
    let mut out = json!({"plan_id": id, "restored": restored, "skipped": skipped});
    logic::paginate(&mut out, p.page);
    Ok(out)
}

// ---------- m3u ----------

fn spotify_playlists() -> Result<Vec<(String, String)>, Fail> {
    Ok(query_all("playlists", "source=spotify")?
        .into_iter()
        .filter_map(|r| {
            let k = r.get("key")?.as_str()?.to_string();
            let n = props(&r).get("name")?.as_str()?.to_string();
            Some((k, n))
        })
        .collect())
}

fn m3u(p: params::Paged) -> Result<Value, Fail> {
    let out_dir = need_grant("playlists", true, "m3u")?;
    let music = grant("music").map(|g| g.0);
    let host_music = music.as_deref().and_then(host::host_path);
    let host_lists = host::host_path(&out_dir);
    // Relative paths when the playlists folder lies inside the music folder.
    let inside = match (&host_music, &host_lists) {
        (Some(m), Some(l)) => l.trim_end_matches('/').starts_with(&format!("{}/", m.trim_end_matches('/'))),
        _ => false,
    };
    let (mut written, mut unchanged, mut without) = (Vec::new(), 0u64, 0u64);
    let mut cache: HashMap<String, Option<Value>> = HashMap::new();
    // Two names can clean to one file name ("A/B" and "A_B"), and on a case-insensitive disk
    // ("Chill" and "chill") two file names are one file: the later playlist takes " (2)".
    let mut taken: HashSet<String> = HashSet::new();
    for (pkey, name) in spotify_playlists()? {
        let links = catalog::links("playlists", &pkey, "tracks")
            .map_err(|e| cat_err(&format!("reading playlist `{name}`"), e))?;
        let mut entries = Vec::new();
        for l in links {
            let rec = match cache.get(&l.key) {
                Some(r) => r.clone(),
                None => {
                    let r = get("tracks", &l.key)?;
                    cache.insert(l.key.clone(), r.clone());
                    r
                }
            };
            let Some(rec) = rec else { continue };
            let tp = props(&rec);
            // a linked file deleted since is no file
            let file = local_file(&l.key).filter(|f| Path::new(f).exists());
            let path = match &file {
                None => None,
                Some(f) => {
                    let hp = host::host_path(f);
                    match (inside, &hp, &host_lists) {
                        (true, Some(hp), Some(hl)) => Some(logic::relative(hl, hp)),
                        (_, Some(hp), _) => Some(hp.clone()),
                        _ => Some(f.clone()),
                    }
                }
            };
            if path.is_none() {
                without += 1;
            }
            entries.push(M3uEntry {
                artist: artist_line(tp),
                title: tp.get("title").and_then(Value::as_str).unwrap_or("").to_string(),
                duration_ms: tp.get("duration_ms").and_then(Value::as_u64),
                path,
                uri: strings(tp.get("external_ids"))
                    .into_iter()
                    .find(|i| i.starts_with("spotify:"))
                    .unwrap_or_else(|| l.key.clone()),
            });
        }
        let text = logic::m3u_text(&entries);
        let base = logic::component(&name);
        let file = (1..)
            .map(|n| if n == 1 { format!("{base}.m3u8") } else { format!("{base} ({n}).m3u8") })
            .find(|f| taken.insert(f.to_lowercase()))
            .unwrap_or_default();
        let path = format!("{out_dir}/{file}");
        if std::fs::read(&path).ok().as_deref() == Some(text.as_bytes()) {
            unchanged += 1;
            continue;
        }
        let tmp = format!("{out_dir}/.{file}.tmp");
        std::fs::write(&tmp, &text)
            .and_then(|_| std::fs::rename(&tmp, &path))
            .map_err(|e| Failure::Transient(format!("writing `{path}`: {e}")))?;
        written.push(json!(path));
    }
    let mut out = json!({"written": written, "unchanged": unchanged, "tracks_without_file": without});
    logic::paginate(&mut out, p.page);
    Ok(out)
}

// ---------- next-track ----------

fn planned_path(rec: &Value, ms: &[Membership]) -> Option<String> {
    let s = settings();
    let layout = s.get("layout").and_then(Value::as_str).unwrap_or(DEFAULT_LAYOUT);
    let ext = s.get("ext").and_then(Value::as_str).unwrap_or("m4a");
    let rule = primary_of(s.get("primary")).unwrap_or(Primary::Oldest);
    let tp = props(rec);
    let folder = logic::primary(ms, &rule).map(|x| x.0).unwrap_or_else(|| "Unassigned".into());
    let rel = logic::fill_layout(
        layout,
        &folder,
        &artist_line(tp),
        tp.get("title").and_then(Value::as_str).unwrap_or("Unknown Title"),
        tp.get("album").and_then(Value::as_str).unwrap_or("Unknown Album"),
        ext,
    )
    .ok()?;
    Some(match grant("music") {
        Some((root, _)) => format!("{root}/{rel}"),
        None => rel,
    })
}

/// What a returned track looked like: its record and its playlists. It is offered again
/// only when this changes.
fn stamp(rec: &Value, ms: &[Membership]) -> String {
    let pls: Vec<&str> = ms.iter().map(|m| m.name.as_str()).collect();
    format!("{:016x}", fnv(&format!("{rec}\u{1}{}", pls.join("\u{1}"))))
}

fn next_track(p: params::NextTrack) -> Result<Value, Fail> {
    let mut names = HashMap::new();
    let answer = |source: &str, key: &str, names: &mut HashMap<String, String>| -> Result<Value, Fail> {
        let rec = get("tracks", key)?
            .ok_or_else(|| Failure::Permanent(format!("track `{key}` vanished from the catalog")))?;
        let ms = memberships(key, names)?;
        host::kv_set(&format!("returned:{key}"), &stamp(&rec, &ms));
        Ok(json!({
            "source": source,
            "track": track_json(&rec),
            "playlists": ms.iter().filter(|m| m.name != LIKED).map(|m| json!({"name": m.name, "added_at": m.added_at})).collect::<Vec<_>>(),
            "planned_path": planned_path(&rec, &ms),
        }))
    };
    if let Some(uri) = p.uri.as_deref() {
        let key = match get("tracks", uri)? {
            Some(_) => uri.to_string(),
            None => {
                let q = TrackQuery {
                    title: String::new(),
                    artists: vec![],
                    duration_ms: None,
                    isrc: None,
                    external_ids: vec![uri.into()],
                    path: None,
                };
                match resolve(q)? {
                    Ok((k, _)) => k,
                    Err(_) => return Err(invalid(format!("`{uri}` is not in the catalog: run `import` first"))),
                }
            }
        };
        return answer("explicit", &key, &mut names);
    }
    let fresh = |key: &str, names: &mut HashMap<String, String>| -> Result<bool, Fail> {
        if local_file(key).is_some() {
            return Ok(false);
        }
        let Some(prev) = host::kv_get(&format!("returned:{key}")) else {
            return Ok(true);
        };
        let Some(rec) = get("tracks", key)? else { return Ok(false) };
        Ok(stamp(&rec, &memberships(key, names)?) != prev)
    };
    // New: tracks the change log shows added to a Spotify playlist since the last run.
    let since: u64 = host::kv_get("next:seq").and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut pending: Vec<(String, String)> =
        host::kv_get("next:pending").and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default();
    let mut seq = since;
    loop {
        let batch = catalog::changes_since(seq, 5000).map_err(|e| cat_err("reading the change log", e))?;
        if batch.is_empty() {
            break;
        }
        for c in &batch {
            seq = seq.max(c.seq);
            let Some(pk) = c.key.as_deref() else { continue };
            if c.collection != "playlists" || !pk.starts_with("spotify:playlist:") || pk == logic::playlist_key(LIKED) {
                continue;
            }
            let d: Value = serde_json::from_str(&c.detail).unwrap_or(Value::Null);
            for k in strings(d.pointer("/links/tracks/added")) {
                pending.push((k, c.at.clone()));
            }
        }
        if batch.len() < 5000 {
            break;
        }
    }
    host::kv_set("next:seq", &seq.to_string());
    // newest first: when it was added to the playlist
    let mut dated: Vec<(String, String)> = Vec::new();
    let mut seen = HashSet::new();
    for (k, _) in pending.iter().rev() {
        if seen.insert(k.clone()) {
            let ms = memberships(k, &mut names).unwrap_or_default();
            let at = ms.iter().filter(|m| m.name != LIKED).filter_map(|m| m.added_at.clone()).max().unwrap_or_default();
            dated.push((k.clone(), at));
        }
    }
    dated.sort_by(|a, b| b.1.cmp(&a.1));
    let mut pick = None;
    for (k, _) in &dated {
        if fresh(k, &mut names)? {
            pick = Some(k.clone());
            break;
        }
    }
    if let Some(k) = &pick {
        pending.retain(|(x, _)| x != k);
    }
    // keep only what may still be returned
    let mut keep = Vec::new();
    for (x, at) in pending {
        if fresh(&x, &mut names)? {
            keep.push((x, at));
        }
    }
    let pending = keep;
    host::kv_set("next:pending", &serde_json::to_string(&pending).unwrap_or_default());
    if let Some(k) = pick {
        return answer("new", &k, &mut names);
    }
    // Liked songs with no local file, most recently liked first.
    let liked = catalog::links("playlists", &logic::playlist_key(LIKED), "tracks").unwrap_or_default();
    let mut liked: Vec<(String, String)> = liked.into_iter().map(|l| (l.key, l.added_at.unwrap_or_default())).collect();
    liked.sort_by(|a, b| b.1.cmp(&a.1));
    for (k, _) in liked {
        if fresh(&k, &mut names)? {
            return answer("liked", &k, &mut names);
        }
    }
    Ok(json!({"source": "none", "track": null, "playlists": [], "planned_path": null}))
}

// ---------- the plugin ----------

/// An action's result as the SDK returns it, with the summary line made from it.
fn done(action: &str, result: Result<Value, Fail>) -> Result<Done, Fail> {
    result.map(|r| Done::new(summary(action, &r), r))
}

impl Plugin for Spotify {
    const NAME: &'static str = "spotify";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Spotify exports (Exportify CSVs, account-data JSON) merged into the catalog, offline: playlists for any track, a folder for every local file, m3u8 playlists, the next track to fetch.";

    fn folders() -> Vec<FolderRequest> {
        vec![
            baton_plugin::folder("spotify", false, "Exportify CSVs and Spotify account-data JSON files (read only)"),
            baton_plugin::folder(
                "music",
                true,
                "local audio files to link, plan and (with `apply`) move into playlist folders",
            ),
            baton_plugin::folder("playlists", true, "where `m3u` writes one .m3u8 per playlist"),
        ]
    }

    fn collections() -> Vec<CollectionRequest> {
        vec![
            baton_plugin::collection(
                "files",
                false,
                "the local audio files (fingerprint library) to link to Spotify tracks",
            ),
            baton_plugin::collection("tracks", true, "Spotify tracks from the exports, with their local files"),
            baton_plugin::collection("artists", true, "the tracks' artists"),
            baton_plugin::collection("playlists", true, "Spotify playlists with their tracks in order and added_at"),
        ]
    }

    fn actions() -> Actions {
        Actions::new()
            .add(
                "import",
                "Merge every export in the `spotify` folder into the catalog (tracks, artists, playlists with added_at and order); the exports of a playlist apply oldest first, each winning only for the rows it read: one that yields no track removes nothing, and one that would remove more than half of a playlist is withheld and listed under `suspicious` unless `accept_shrink`; lists tracks added and removed per playlist, and playlists whose export is gone (kept as they were).",
                |_: &Ctx, p: params::Import| done("import", import(p)),
            )
            .add(
                "playlists-for-track",
                "The playlists that hold one track, by uri, isrc, title+artist(+duration_ms) or the guest path of a local file. Ambiguous: candidates, no playlists.",
                |_: &Ctx, p: params::Track| done("playlists-for-track", playlists_for_track(p)),
            )
            .add(
                "link-local",
                "Link each local file of the `music` folder (the catalog's files) to its Spotify track: by ISRC, then tags plus duration.",
                |_: &Ctx, p: params::Paged| done("link-local", link_local(p)),
            )
            .add(
                "plan",
                "Dry run: the path each linked local file belongs at (its primary playlist's folder); stored under a plan_id. Moves nothing.",
                |_: &Ctx, p: params::Plan| done("plan", plan(p)),
            )
            .add(
                "apply",
                "Carry out a stored plan: journaled moves that never overwrite; the catalog's file links follow.",
                |_: &Ctx, p: params::PlanId| done("apply", apply(p)),
            )
            .add("undo", "Restore the moves an `apply` of this plan made.", |_: &Ctx, p: params::PlanId| {
                done("undo", undo(p))
            })
            .add(
                "m3u",
                "Write one <playlist>.m3u8 per Spotify playlist into the `playlists` folder; only files whose content changed.",
                |_: &Ctx, p: params::Paged| done("m3u", m3u(p)),
            )
            .add(
                "next-track",
                "The next track to fetch: an explicit uri, else tracks newly added to playlists (newest first), else liked songs with no local file. A returned track is not returned again until it changes.",
                |_: &Ctx, p: params::NextTrack| done("next-track", next_track(p)),
            )
    }
}

fn summary(action: &str, r: &Value) -> String {
    let n = |k: &str| {
        r.get(k)
            .map(|v| match v {
                Value::Array(a) => a.len().to_string(),
                Value::String(s) => s.clone(),
                _ => v.to_string(),
            })
            .unwrap_or_default()
    };
    match action {
        "import" => format!(
            "{} files, {} skipped, {} playlists, {} playlist files, {} tracks, {} memberships, {} playlists changed, {} shrinks withheld",
            n("files"),
            n("skipped_total"),
            n("playlists"),
            n("playlist_files"),
            n("tracks"),
            n("memberships"),
            n("changes"),
            n("suspicious")
        ),
        "playlists-for-track" => format!("{} playlists, liked: {}", n("playlists"), n("liked")),
        "link-local" => format!(
            "{} linked, {} ambiguous, {} unmatched, coverage {}",
            n("linked"),
            n("ambiguous"),
            n("unmatched"),
            n("coverage")
        ),
        "plan" => format!(
            "{}: {} moves, {} unassigned, {} unmatched",
            n("plan_id"),
            n("moves"),
            n("unassigned"),
            n("unmatched")
        ),
        "apply" => format!("{}: {} moved, {} skipped", n("plan_id"), n("moved"), n("skipped")),
        "undo" => format!("{}: {} restored, {} skipped", n("plan_id"), n("restored"), n("skipped")),
        "m3u" => format!(
            "{} written, {} unchanged, {} tracks without a file",
            n("written"),
            n("unchanged"),
            n("tracks_without_file")
        ),
        _ => format!("source: {}", n("source")),
    }
}

baton_plugin::register!(Spotify);
