//! `import`: the exports read, their artists, tracks and playlists written (under the shrink
//! rule), playlist files linked, plays counted, and the result paged.
use super::*;

pub(super) fn import(params: params::Import) -> Result<Value, Fail> {
    let page = params.page;
    if page > 0 {
        let last: Value = kv_get_big("import:last")
            .and_then(|s| serde_json::from_str(&s).ok())
            .ok_or_else(|| invalid("no import result to page through: run `import {}` first"))?;
        return Ok(import_page(last, page));
    }
    let accept_shrink = params.accept_shrink;
    need_grant("spotify", false, "import")?;
    let Inputs { files, snapshots, plays, lists, locals } = read_inputs();
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
    let (artist_uri, mut written) = write_artists(&tracks, &named)?;
    let ix = index_tracks()?;
    let (keys, mut ambiguous, early) = resolve_tracks(&tracks, &ix, &artist_uri)?;
    written += early;
    let records = write_tracks(&tracks, &keys, &ix, &artist_uri)?;
    written += records.written;

    // Rows known by their names: through the catalog's matcher, which now holds this import's
    // tracks. A match is linked; an ambiguous one stays unlinked and is listed; none is a
    // record of its own.
    let (name_key, name_written) = resolve_named(&named, &artist_uri, &mut ambiguous)?;
    written += name_written;

    // A playlist imported before whose export is gone: kept as it was (a deleted or moved file
    // never empties a playlist) and named in the result, so the user sees it.
    let exported: HashSet<String> = playlists.iter().map(|(n, _)| logic::playlist_key(n)).collect();
    let not_in_exports: Vec<String> =
        spotify_playlists()?.into_iter().filter(|(k, _)| !exported.contains(k)).map(|(_, name)| name).collect();
    let mut members = Memberships::default();
    write_playlists(&playlists, &records, &name_key, accept_shrink, &mut members)?;
    written += members.written;
    let (playlist_files, files_written) =
        import_playlist_files(&lists, accept_shrink, &mut members.changes, &mut members.suspicious)?;
    written += files_written;

    let by_text = plays_by_text(&tracks, &named, &records.key_of, &name_key);
    let (plays_written, plays_report) = import_plays(&plays, &by_text, &records.key_of)?;
    written += plays_written;
    let mut all_keys: HashSet<&str> = records.order.iter().map(String::as_str).collect();
    all_keys.extend(name_key.values().map(String::as_str));
    let local_tracks = link_local_tracks(&tracks, &records.key_of)?;
    let skipped = skipped_inputs(&files);
    // Every playlist this import read, the account's and the playlist files: distinct
    // (playlist, track) pairs, every entry, and the repeats.
    let file_count = |k: &str| playlist_files.iter().map(|r| r["counts"][k].as_u64().unwrap_or(0)).sum::<u64>();
    let counts = json!({
        "playlists": playlists.len() + playlist_files.len(),
        "playlist_tracks": members.count as u64 + file_count("playlist_tracks"),
        "playlist_entries": members.entries as u64 + file_count("playlist_entries"),
        "playlist_items_repeated": members.repeated as u64 + file_count("playlist_items_repeated"),
    });
    let result = json!({
        "counts": counts,
        "files": files,
        "skipped_total": skipped.len(),
        "skipped": skipped,
        "local_tracks": local_tracks,
        "playlists": playlists.len(),
        "playlist_files": playlist_files,
        "tracks": all_keys.len(),
        "memberships": members.count,
        "changes": members.changes,
        "suspicious": members.suspicious,
        "not_in_exports": not_in_exports,
        "ambiguous": ambiguous,
        "plays": plays_report,
        "written": written,
    });
    kv_put_big("import:last", &result.to_string());
    Ok(import_page(result, 0))
}

/// The artists of every track, one record each (by URI when an export gave one, else by
/// name); returns the URI of each artist name and what was written.
pub(super) fn write_artists(
    tracks: &[TrackInfo],
    named: &[(String, TrackInfo)],
) -> Result<(HashMap<String, String>, u64), Fail> {
    let mut artist_uri: HashMap<String, String> = HashMap::new();
    for t in tracks {
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
    let written = upsert("artists", &artist_recs)?;
    Ok((artist_uri, written))
}

/// The track records this import wrote: the record key of each URI, the records in first-seen
/// order, each record's merged track, and what the writes changed.
pub(super) struct TrackRecords<'a> {
    pub(super) key_of: HashMap<String, String>,
    pub(super) order: Vec<String>,
    pub(super) by_key: HashMap<String, std::borrow::Cow<'a, TrackInfo>>,
    pub(super) written: u64,
}

/// Writes one record per key (`keys` parallel to `tracks`), the tracks it holds merged: a
/// record another source made gets the URIs and only what it lacks.
pub(super) fn write_tracks<'a>(
    tracks: &'a [TrackInfo],
    keys: &[String],
    ix: &Index,
    artist_uri: &HashMap<String, String>,
) -> Result<TrackRecords<'a>, Fail> {
    let mut key_of: HashMap<String, String> = HashMap::new();
    // The tracks each record holds, records in first-seen order.
    let mut order: Vec<String> = Vec::new();
    let mut held: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, (t, k)) in tracks.iter().zip(keys).enumerate() {
        for u in &t.uris {
            key_of.insert(u.clone(), k.clone());
        }
        let e = held.entry(k.as_str()).or_default();
        if e.is_empty() {
            order.push(k.clone());
        }
        e.push(i);
    }
    let mut track_recs = Vec::with_capacity(order.len());
    let mut by_key = HashMap::with_capacity(order.len());
    for key in &order {
        let t = merged(key, &held[key.as_str()], tracks);
        let old = ix.props.get(key);
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
            _ => track_record(&t, key, &artist_refs(&t, artist_uri), ids),
        };
        track_recs.push(rec);
        by_key.insert(key.clone(), t);
    }
    let written = upsert("tracks", &track_recs)?;
    Ok(TrackRecords { key_of, order, by_key, written })
}

/// What the playlists' writes report: the memberships kept, the changes and the withheld
/// shrinks, and what was written.
#[derive(Default)]
pub(super) struct Memberships {
    pub(super) count: usize,
    /// Playlists' entries in order, repeats included (`counts.playlist_entries`), and the
    /// entries beyond the first of a track on a list (`counts.playlist_items_repeated`).
    pub(super) entries: usize,
    pub(super) repeated: usize,
    pub(super) changes: Vec<Value>,
    pub(super) suspicious: Vec<Value>,
    pub(super) written: u64,
}

/// Each playlist's exports applied in turn, oldest first, under the shrink rule, over the
/// tracks it held; the changes are listed track by track.
pub(super) fn write_playlists(
    playlists: &[(String, Vec<Export>)],
    records: &TrackRecords<'_>,
    name_key: &HashMap<String, String>,
    accept_shrink: bool,
    out: &mut Memberships,
) -> Result<(), Fail> {
    let names_of = |r: &exports::Row| {
        logic::name_id(&r.title, r.artists.first().map(String::as_str).unwrap_or(""), r.album.as_deref())
    };
    let key_of_row = |r: &exports::Row| -> Option<String> {
        if r.uri.is_empty() { name_key.get(&names_of(r)).cloned() } else { records.key_of.get(&r.uri).cloned() }
    };
    let show = |k: &str| match records.by_key.get(k) {
        Some(t) => json!({"key": k, "uri": t.uri, "title": t.title, "artists": t.artists}),
        None => match get("tracks", k).ok().flatten() {
            Some(t) => {
                let j = track_json(&t);
                json!({"key": k, "uri": j["uri"], "title": j["title"], "artists": j["artists"]})
            }
            None => json!({"key": k}),
        },
    };
    let mut playlist_recs = Vec::new();
    for (name, exports_of) in playlists {
        let pkey = logic::playlist_key(name);
        let old: logic::Links = catalog::links("playlists", &pkey, "tracks")
            .map(|l| l.into_iter().map(|l| (l.key, l.added_at)).collect())
            .unwrap_or_default();
        // Each export in turn, oldest first, under the shrink rule.
        let mut cur = old.clone();
        // The newest export's rows in order, repeats included: the playlist's entries, unless
        // the shrink rule withheld that export (then the entries stay as they were).
        let mut entries: Option<Vec<String>> = None;
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
            entries = match shrink {
                None => Some(e.snapshot.rows.iter().filter_map(key_of_row).collect()),
                Some(_) => None,
            };
            if let Some(s) = shrink {
                host::log(Level::Warn, &format!("{}: playlist `{name}`: {}", e.path, s.reason));
                out.suspicious.push(json!({"playlist": name, "path": e.path, "before": s.before, "read": s.read,
                    "reason": s.reason, "withheld": s.withheld.iter().map(|k| show(k)).collect::<Vec<_>>()}));
            }
            cur = next;
        }
        out.count += cur.len();
        let old_set: HashSet<&str> = old.iter().map(|(k, _)| k.as_str()).collect();
        let new_set: HashSet<&str> = cur.iter().map(|(k, _)| k.as_str()).collect();
        // In playlist order.
        let added: Vec<Value> =
            cur.iter().map(|(k, _)| k.as_str()).filter(|k| !old_set.contains(k)).map(show).collect();
        let removed: Vec<Value> =
            old.iter().map(|(k, _)| k.as_str()).filter(|k| !new_set.contains(k)).map(show).collect();
        if !added.is_empty() || !removed.is_empty() {
            out.changes.push(json!({"playlist": name, "added": added, "removed": removed}));
        }
        // `"added_at": null`: unknown, never the time of this import.
        let links: Vec<Value> = cur.iter().map(|(k, a)| json!({"key": k, "added_at": a})).collect();
        let mut props = json!({"name": name, "source": "spotify", "tracks": links});
        if let Some(list) = entries {
            let distinct: HashSet<&str> = list.iter().map(String::as_str).collect();
            out.entries += list.len();
            out.repeated += list.len() - distinct.len();
            props["entries"] =
                list.iter().enumerate().map(|(i, k)| json!({"track": k, "position": i + 1})).collect::<Value>();
        }
        playlist_recs.push(json!({"key": pkey, "props": props}));
    }
    out.written += upsert("playlists", &playlist_recs)?;
    Ok(())
}

/// Record keys by (title, first artist), lower-cased: how a play without a URI (the simple
/// streaming history) finds its track.
pub(super) fn plays_by_text(
    tracks: &[TrackInfo],
    named: &[(String, TrackInfo)],
    key_of: &HashMap<String, String>,
    name_key: &HashMap<String, String>,
) -> HashMap<(String, String), String> {
    let mut by_text: HashMap<(String, String), String> = HashMap::new();
    for t in tracks {
        if let (Some(a), Some(k)) = (t.artists.first(), key_of.get(&t.uri)) {
            by_text.entry((t.title.to_lowercase(), a.to_lowercase())).or_insert_with(|| k.clone());
        }
    }
    for (id, t) in named {
        if let (Some(a), Some(k)) = (t.artists.first(), name_key.get(id)) {
            by_text.entry((t.title.to_lowercase(), a.to_lowercase())).or_insert_with(|| k.clone());
        }
    }
    by_text
}

/// Every input the import did not read, one list: each file not read (`path`, `reason`) and
/// each row or item of a read file that was skipped (`path`, `line`, `reason`).
pub(super) fn skipped_inputs(files: &[Value]) -> Vec<Value> {
    let mut out = Vec::new();
    for f in files {
        if let Some(reason) = f.get("error").and_then(Value::as_str) {
            out.push(json!({"path": f["path"], "reason": reason}));
        }
        for s in f["skipped"].as_array().into_iter().flatten() {
            let mut v = json!({"path": f["path"], "line": s["line"], "reason": s["reason"]});
            if let Some(k) = s.get("kind") {
                v["kind"] = k.clone();
                v["count"] = s["count"].clone();
            }
            out.push(v);
        }
    }
    out
}

/// The local files of the exports (`spotify:local:` URIs, read into artist, album, title and
/// duration), each with its record's key and the library file it is linked to: with a `music`
/// grant, the one file there whose title (its tag, else its name `Artist - Title`) and artist
/// are the track's, folded, and whose duration is within 3 s when both are known. None, or
/// several alike, leave it unlinked (`file: null`).
pub(super) fn link_local_tracks(tracks: &[TrackInfo], key_of: &HashMap<String, String>) -> Result<Vec<Value>, Fail> {
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

/// One page of an import result. Every list holds at most 500 entries a page, and the result
/// says `"truncated": true` when a later page holds more: `ambiguous` 500 a page; `files` and
/// `changes` count their inner entries (a file's `skipped` rows; a playlist's `added` and
/// `removed` together) against the page, so a file or a playlist with more continues on the
/// next page with the rest.
pub(super) fn import_page(mut full: Value, page: usize) -> Value {
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

/// Play counts (streams of 30 s or more) and the last play per track, from the streaming
/// history, on the tracks' own `spotify.play_count` / `spotify.last_played`. A stream is
/// found by its URI, else by its title and first artist (`by_text`, lower case). Returns what
/// was written and the count of streams read, counted, too short, and matching no imported
/// track (those are dropped, and the RETURN says how many).
pub(super) fn import_plays(
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
