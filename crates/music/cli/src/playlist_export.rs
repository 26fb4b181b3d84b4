//! `baton catalog show COLLECTION KEY` (one record; a playlist with its entries in order,
//! repeats included) and `baton catalog export PLAYLIST --format m3u|rekordbox [--out FILE]`.
//! The reading and the formats are the catalog's (`baton_catalog::listing`); this file prints,
//! and writes the file: never over an existing one without `--force`.
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use baton_catalog::listing::{self, EntryView, Exported};
use baton_catalog::{Access, Catalog};
use serde_json::{Value, json};

use baton_cli::say;

/// `catalog show COLLECTION KEY`.
pub fn show_one(cat: &Catalog, user: &Access, collection: &str, key: &str, as_json: bool) -> anyhow::Result<i32> {
    let Some(rec) = cat.get(user, collection, key, false)? else {
        bail!("{collection}/{key}: no such record (`baton catalog show {collection}` lists the keys)");
    };
    let lists: Vec<String> = cat
        .schema(user, collection)?
        .into_iter()
        .filter(|p| p.kind == baton_catalog::Kind::Entries && !p.archived)
        .map(|p| p.id)
        .collect();
    let pl = if lists.is_empty() { None } else { cat.playlist_view(user, collection, key)? };
    if as_json {
        say!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"collection": collection, "key": key, "record": rec, "playlist": pl})
            )?
        );
        return Ok(0);
    }
    let mut props: Vec<String> = Vec::new();
    for (id, v) in &rec.props {
        // Entries are printed below, one line each.
        if !lists.contains(id) {
            props.push(format!("{id}: {}", baton_sheet::cell(v)));
        }
    }
    say!("{key}  {}", props.join(" | "));
    if let Some(p) = pl {
        say!(
            "{} entries ({} tracks, {} repeated) in `{}` of {}:",
            p.entries.len(),
            p.tracks,
            p.repeated,
            p.property,
            p.target
        );
        for e in &p.entries {
            say!("{:>5}  {}", e.position, entry_line(e));
        }
    }
    Ok(0)
}

/// One entry as a line: the track's key, artist - title, duration and file.
fn entry_line(e: &EntryView) -> String {
    let mut s = e.track.clone();
    let names = match (&e.title, e.artists.join(", ")) {
        (Some(t), a) if !a.is_empty() => format!("{a} - {t}"),
        (Some(t), _) => t.clone(),
        (None, a) => a,
    };
    if !names.is_empty() {
        s.push_str(&format!("  {names}"));
    }
    if let Some(ms) = e.duration_ms {
        s.push_str(&format!("  ({}:{:02})", ms / 60_000, (ms / 1000) % 60));
    }
    if let Some(l) = &e.location
        && l != &e.track
    {
        s.push_str(&format!("  {l}"));
    }
    s
}

/// Where and how `export --format` writes.
pub struct ExportTo {
    pub format: String,
    pub out: Option<PathBuf>,
    pub force: bool,
    pub json: bool,
}

/// `catalog export [COLLECTION] PLAYLIST --format m3u|rekordbox [--out FILE [--force]]`.
pub fn export(
    cat: &Catalog,
    user: &Access,
    collection: Option<&str>,
    playlist: &str,
    to: &ExportTo,
) -> anyhow::Result<i32> {
    if !matches!(to.format.as_str(), "m3u" | "rekordbox") {
        bail!("--format {}: not a playlist format; use m3u or rekordbox", to.format);
    }
    let (collection, key) = cat.find_playlist(user, collection, playlist)?;
    let Some(pl) = cat.playlist_view(user, &collection, &key)? else {
        bail!("{collection}/{key}: no such record");
    };
    let out: Exported = match to.format.as_str() {
        "m3u" => listing::to_m3u(&pl),
        _ => listing::to_rekordbox(&pl, env!("CARGO_PKG_VERSION")),
    };
    for e in &out.without_file {
        eprintln!(
            "baton: {collection}/{key}: entry {} ({}) has no file and is not in the {}: it plays from a service, not from a file on this machine",
            e.position, e.track, to.format
        );
    }
    let Some(path) = &to.out else {
        std::io::stdout().write_all(out.text.as_bytes()).context("write to stdout")?;
        return Ok(0);
    };
    write_new(path, out.text.as_bytes(), to.force)?;
    if to.json {
        let without: Vec<Value> = out.without_file.iter().map(|e| json!(e)).collect();
        say!(
            "{}",
            serde_json::to_string_pretty(&json!({"collection": collection, "key": key, "name": pl.name,
                "format": to.format, "out": path, "entries": pl.entries.len(), "written": out.written,
                "without_file": without}))?
        );
    } else {
        say!(
            "{}: playlist `{}` ({collection}/{key}) as {}: {} of {} entries written{}",
            path.display(),
            pl.name,
            to.format,
            out.written,
            pl.entries.len(),
            if out.without_file.is_empty() {
                String::new()
            } else {
                format!(", {} without a file left out", out.without_file.len())
            }
        );
    }
    Ok(0)
}

/// Writes `bytes` to `path`: a new file, or with `force` over an existing one (through a
/// temporary file beside it and a rename, so a failed write leaves the old file whole).
fn write_new(path: &std::path::Path, bytes: &[u8], force: bool) -> anyhow::Result<()> {
    if !force {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                anyhow::anyhow!("{}: exists; nothing written (pass --force to replace it)", path.display())
            } else {
                anyhow::anyhow!("{}: cannot create it: {e}", path.display())
            }
        })?;
        return f.write_all(bytes).with_context(|| format!("{}: write", path.display()));
    }
    let tmp = path.with_extension(format!("baton-tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes).with_context(|| format!("{}: write", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("{}: replace with {}", path.display(), tmp.display()))
}
