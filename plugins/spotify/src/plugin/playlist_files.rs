//! `import`, playlist files of other players (m3u, XSPF, JSPF, …) in the `spotify` folder:
//! each a playlist linked to the library's `files`.
use super::*;

/// Most unmatched entries listed per playlist file (`unmatched_total` counts them all).
pub(super) const UNMATCHED_SHOWN: usize = 500;

/// The playlist files (m3u, XSPF, JSPF) found in the `spotify` folder, each a playlist keyed by
/// the file's host path, the key `baton catalog import-playlist` gives it, so either updates the
/// other's record in place. Each entry is linked to the library's `files` by path (an entry
/// holding a host path is mapped to the plugin's guest path), else by its last folder and name
/// when one library file alone ends in them; the rest are listed as unmatched. Re-importing a
/// file is under the exports' shrink rule: it never empties a playlist, and a drop of more than
/// half is withheld (`suspicious`) unless `accept_shrink`. Returns a report per file and what
/// was written.
pub(super) fn import_playlist_files(
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
        // The matched entries in the file's order, repeats included, each at its place in the
        // file (an unmatched entry leaves its place empty).
        let mut ordered: Vec<Value> = Vec::new();
        for (i, e) in pl.entries.iter().enumerate() {
            let found = lib.find(&e.location).filter(|(_, how)| *how == "path").or_else(|| {
                // An absolute path another program wrote is a host path: the same file by its
                // guest path, when it lies in a grant.
                let guest = e.location.starts_with('/').then(|| host::guest_path(&e.location)).flatten()?;
                lib.find(&guest).filter(|(_, how)| *how == "path")
            });
            match found.or_else(|| lib.find(&e.location)) {
                Some((path, how)) => {
                    by_tail += usize::from(how == "tail");
                    ordered.push(json!({"track": path, "position": i + 1}));
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
        let withheld = shrink.is_some();
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
        let counts = json!({"playlist_entries": ordered.len(), "playlist_tracks": read.len(),
            "playlist_items_repeated": ordered.len() - read.len()});
        let mut props =
            json!({"name": name, "source": pl.format, "external_ids": [format!("file://{key}")], "files": files});
        // Withheld by the shrink rule: the entries stay as they were, as the files do.
        if !withheld {
            props["file_entries"] = Value::Array(ordered);
        }
        recs.push(json!({"key": key, "props": props}));
        let total = unmatched.len();
        unmatched.truncate(UNMATCHED_SHOWN);
        let mut report = json!({"path": shown, "key": key, "name": name, "format": pl.format, "encoding": pl.encoding,
            "entries": pl.entries.len(), "matched": read.len(), "matched_by_tail": by_tail, "unmatched": unmatched, "unmatched_total": total, "counts": counts});
        if pl.encoding == "windows-1252" {
            report["note"] = json!("not valid UTF-8: decoded as Windows-1252");
        }
        // A Windows Media smart playlist is a query the player runs: kept, with no static entries.
        if pl.smart {
            report["smart"] = json!(true);
            report["query"] = json!(pl.query);
        }
        reports.push(report);
    }
    let written = upsert("playlists", &recs)?;
    Ok((reports, written))
}
