//! `baton catalog import-playlist FILE...`: playlists from other players into the catalog's
//! `playlists`, each entry linked to the library's `files` by path. Files are read by their
//! content with the one reader the spotify plugin uses too (`baton_normalize::playlist::read`:
//! m3u/m3u8, PLS, XSPF, JSPF, ASX, WPL); one that is none of these is refused with what it
//! looks like, and a symlink is named as one with its target. The playlist
//! file's path is the record's key, so importing it again updates it in place, under the same
//! shrink rule as the Spotify exports: a file whose entries match no library file removes
//! nothing, and one that would remove more than half of a playlist's files is withheld and
//! listed under `suspicious` unless `--accept-shrink`. It exits 0 whenever every file was read,
//! matched or not; a file it cannot read is named with the reason (exit 1).
use std::collections::HashSet;
use std::path::{Path, PathBuf};

use baton_catalog::playlist::{self, LibraryIndex, Playlist};
use baton_catalog::{Access, Catalog, Filter, Record};
use serde_json::{Value, json};

use baton_cli::say;

/// Every library file path, indexed for [`LibraryIndex::find`].
fn library(cat: &Catalog, user: &Access) -> anyhow::Result<LibraryIndex> {
    let mut paths = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = cat.query(user, "files", &Filter::default(), false, after.as_deref(), 10_000)?;
        paths.extend(page.records.into_iter().map(|r| r.key));
        match page.next {
            Some(n) => after = Some(n),
            None => return Ok(LibraryIndex::new(paths)),
        }
    }
}

/// What importing one playlist file did (or, with `--dry-run`, would do).
fn import_one(
    cat: &mut Catalog,
    user: &Access,
    lib: &LibraryIndex,
    file: &Path,
    pl: &Playlist,
    dry_run: bool,
    accept_shrink: bool,
) -> anyhow::Result<Value> {
    let key = file.to_string_lossy().into_owned();
    let name = pl
        .name
        .clone()
        .unwrap_or_else(|| file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| key.clone()));
    let mut matched: Vec<String> = Vec::new();
    let mut unmatched = Vec::new();
    let mut by_tail = 0;
    let mut seen = HashSet::new();
    // The matched entries in the file's order, repeats included, each at its place in the file.
    let mut ordered: Vec<Value> = Vec::new();
    for (i, e) in pl.entries.iter().enumerate() {
        match lib.find(&e.location) {
            Some((path, how)) => {
                by_tail += usize::from(how == "tail");
                ordered.push(json!({"track": path, "position": i + 1}));
                if seen.insert(path.clone()) {
                    matched.push(path);
                }
            }
            None => unmatched.push(json!({"line": e.line, "entry": e.raw, "kind": e.kind, "location": e.location,
                "artist": e.artist, "title": e.title})),
        }
    }
    let old: Vec<String> = match cat.get(user, "playlists", &key, false)? {
        Some(_) => cat.links(user, "playlists", &key, "files")?.into_iter().map(|l| l.key).collect(),
        None => Vec::new(),
    };
    let new_set: HashSet<&str> = matched.iter().map(String::as_str).collect();
    let gone: Vec<String> = old.iter().filter(|k| !new_set.contains(k.as_str())).cloned().collect();
    let mut links = matched.clone();
    let suspicious = if gone.is_empty() {
        None
    } else if matched.is_empty() {
        Some("the file links no library file: it never empties a playlist".to_string())
    } else if gone.len() * 2 > old.len() && !accept_shrink {
        Some(format!(
            "the file would remove {} of the playlist's {} files (more than half): import it with --accept-shrink to apply",
            gone.len(),
            old.len()
        ))
    } else {
        None
    };
    if suspicious.is_some() {
        links.extend(gone.iter().cloned());
    }
    let old_set: HashSet<&str> = old.iter().map(String::as_str).collect();
    let added: Vec<&String> = matched.iter().filter(|k| !old_set.contains(k.as_str())).collect();
    let removed: Vec<&String> = if suspicious.is_some() { Vec::new() } else { gone.iter().collect() };
    let counts = json!({"playlist_entries": ordered.len(), "playlist_tracks": matched.len(),
        "playlist_items_repeated": ordered.len() - matched.len()});
    if !dry_run {
        let mut props =
            json!({"name": name, "source": pl.format, "external_ids": [format!("file://{key}")], "files": links});
        // Withheld by the shrink rule: the entries stay as they were, as the files do.
        if suspicious.is_none() {
            props["file_entries"] = Value::Array(ordered);
        }
        cat.upsert(user, "playlists", &[Record::new(key.clone(), props)])?;
    }
    let mut out = json!({
        "file": key, "key": key, "name": name, "format": pl.format, "encoding": pl.encoding,
        "entries": pl.entries.len(), "matched": matched.len(), "matched_by_tail": by_tail, "unmatched": unmatched,
        "added": added, "removed": removed, "dry_run": dry_run, "counts": counts,
    });
    if pl.encoding == "windows-1252" {
        out["note"] = json!("not valid UTF-8: decoded as Windows-1252");
    }
    // A Windows Media smart playlist is a query the player runs: kept, with no static entries.
    if pl.smart {
        out["smart"] = json!(true);
        out["query"] = json!(pl.query);
    }
    if let Some(reason) = suspicious {
        out["suspicious"] = json!({"reason": reason, "withheld": gone});
    }
    Ok(out)
}

pub fn run(
    cat: &mut Catalog,
    files: &[PathBuf],
    dry_run: bool,
    accept_shrink: bool,
    as_json: bool,
) -> anyhow::Result<i32> {
    let _span = tracing::info_span!("catalog.import_playlist", files = files.len(), dry_run).entered();
    let user = Access::user();
    // The playlist → library-file relation (`playlists.files`) is a core property.
    let lib = library(cat, &user)?;
    let mut results = Vec::new();
    let mut failed = false;
    for f in files {
        let abs = std::path::absolute(f).unwrap_or_else(|_| f.clone());
        // A symlink is named as one, with its target (a dangling one says so, not only "not found").
        let link = std::fs::read_link(&abs).ok();
        let read = std::fs::read(&abs)
            .map_err(|e| match &link {
                Some(t) if !abs.exists() => {
                    format!("cannot read it: it is a symlink to {}, which does not exist ({e})", t.display())
                }
                Some(t) => format!("cannot read it: it is a symlink to {} ({e})", t.display()),
                None => format!("cannot read it: {e}"),
            })
            .and_then(|b| {
                playlist::parse(&abs, &b).map_err(|e| match &link {
                    Some(t) => format!("{e} (it is a symlink to {})", t.display()),
                    None => e,
                })
            });
        match read {
            Ok(pl) => {
                let mut r = import_one(cat, &user, &lib, &abs, &pl, dry_run, accept_shrink)?;
                if let Some(t) = &link {
                    r["symlink"] = json!(t.to_string_lossy());
                }
                results.push(r);
            }
            Err(reason) => {
                failed = true;
                eprintln!("baton: {}: {reason}; nothing imported from it", abs.display());
                let mut r = json!({"file": abs.to_string_lossy(), "error": reason});
                if let Some(t) = &link {
                    r["symlink"] = json!(t.to_string_lossy());
                }
                results.push(r);
            }
        }
    }
    if as_json {
        say!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        for r in &results {
            if let Some(e) = r["error"].as_str() {
                say!("{}: not read: {e}", r["file"].as_str().unwrap_or(""));
                continue;
            }
            let verb = if dry_run { "would link" } else { "linked" };
            let link =
                r.get("symlink").and_then(Value::as_str).map(|t| format!(" (a symlink to {t})")).unwrap_or_default();
            say!(
                "{}{link}: playlist `{}` ({}, {}): {} entries, {verb} {} to library files, {} unmatched, +{} -{}{}",
                r["file"].as_str().unwrap_or(""),
                r["name"].as_str().unwrap_or(""),
                r["format"].as_str().unwrap_or(""),
                r["encoding"].as_str().unwrap_or(""),
                r["entries"],
                r["matched"],
                r["unmatched"].as_array().map_or(0, Vec::len),
                r["added"].as_array().map_or(0, Vec::len),
                r["removed"].as_array().map_or(0, Vec::len),
                r.get("note").and_then(Value::as_str).map(|n| format!(" ({n})")).unwrap_or_default(),
            );
            for u in r["unmatched"].as_array().into_iter().flatten() {
                say!("  unmatched line {}: {}", u["line"], u["entry"].as_str().unwrap_or(""));
            }
            if let Some(s) = r.get("suspicious") {
                say!("  withheld: {}", s["reason"].as_str().unwrap_or(""));
            }
        }
    }
    Ok(i32::from(failed))
}
