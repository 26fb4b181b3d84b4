//! `import`, reading: every file of the `spotify` grants walked and read, as an export by its
//! name or by its content, or as a playlist of another player; what cannot be read is named
//! with its reason.
use super::*;

pub(super) fn mtime(path: &Path) -> String {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| logic::rfc3339(d.as_secs()))
        .unwrap_or_default()
}

pub(super) fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>, depth: usize) {
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
pub(super) fn unreadable(path: &Path, e: std::io::Error) -> String {
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

/// What the files of the `spotify` grants hold: a report per file (`files`), the playlist
/// exports, the plays, the playlists of other players, and the local files on no playlist.
#[derive(Default)]
pub(super) struct Inputs {
    pub(super) files: Vec<Value>,
    pub(super) snapshots: Vec<Export>,
    pub(super) plays: Vec<Play>,
    pub(super) lists: Vec<(String, Playlist)>,
    pub(super) locals: Vec<exports::Row>,
}

/// Reads every file of every folder granted as `spotify` (several may be: `spotify = ["a",
/// "b"]`), in path order; a file that cannot be read is reported with its reason.
pub(super) fn read_inputs() -> Inputs {
    let mut paths = Vec::new();
    for g in host::grants().into_iter().filter(|g| g.name == "spotify") {
        walk(Path::new(&g.guest_path), &mut paths, 0);
    }
    paths.sort();
    let liked_files: Vec<String> = match settings().get("liked") {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    };
    let mut inputs = Inputs::default();
    for (i, path) in paths.iter().enumerate() {
        host::progress(i as u64, paths.len() as u64, "reading exports");
        inputs.read(path, &liked_files);
    }
    inputs
}

impl Inputs {
    /// Reads one file: a playlist of another player, an export by its name, or a file whose
    /// name says nothing, by its content.
    pub(super) fn read(&mut self, path: &Path, liked_files: &[String]) {
        let shown = path.display().to_string();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        // Playlists of other players (m3u, m3u8, XSPF, JSPF): read as `baton catalog
        // import-playlist` reads them, linked to library files below.
        if let Some(read) = playlist_file(path, &name) {
            match read {
                Ok(pl) => self.playlist(shown, pl),
                Err(reason) => self.unread(shown, reason),
            }
            return;
        }
        // A file whose name says nothing is read by its content: an Exportify CSV or account
        // JSON under any name, or a playlist of another player.
        let parsed = match exports::unrecognised(&name) {
            Some(reason) => match by_content(path, &name, reason) {
                Sniffed::Export(p) => Ok(p),
                Sniffed::Playlist(pl) => return self.playlist(shown, pl),
                Sniffed::Not(reason) => Err(reason),
            },
            None => std::fs::read(path).map_err(|e| unreadable(path, e)).and_then(|b| exports::parse_file(&name, &b)),
        };
        match parsed {
            Ok(mut p) => {
                // Files `[plugins.spotify.settings] liked` names are Liked Songs exports.
                if liked_files.iter().any(|l| l.eq_ignore_ascii_case(&name)) {
                    for s in &mut p.playlists {
                        s.name = LIKED.into();
                    }
                }
                self.export(path, shown, p)
            }
            Err(reason) => self.unread(shown, reason),
        }
    }

    pub(super) fn playlist(&mut self, shown: String, pl: Playlist) {
        self.files.push(json!({"path": shown, "layout": pl.format, "encoding": pl.encoding, "rows": pl.entries.len(), "skipped": []}));
        self.lists.push((shown, pl));
    }

    /// An export read: its playlists (dated by the export, else by the file's mtime), plays
    /// and local files.
    pub(super) fn export(&mut self, path: &Path, shown: String, p: exports::Parsed) {
        self.files.push(json!({
            "path": shown,
            "layout": p.layout,
            "rows": p.rows,
            "skipped": p.skipped.iter().map(skip_json).collect::<Vec<_>>(),
        }));
        let when = mtime(path);
        for s in p.playlists {
            self.snapshots.push(Export {
                path: shown.clone(),
                when: s.modified.clone().unwrap_or_else(|| when.clone()),
                snapshot: s,
            });
        }
        self.plays.extend(p.plays);
        self.locals.extend(p.local);
    }

    pub(super) fn unread(&mut self, shown: String, reason: String) {
        host::log(Level::Warn, &format!("{shown}: skipped: {reason}"));
        self.files.push(json!({"path": shown, "layout": null, "rows": 0, "skipped": [], "error": reason}));
    }
}

/// One skipped row as `files[].skipped[]` lists it: `line` and `reason`, and for a kind of
/// entry skipped whole (`YourLibrary.json`'s `albums`, `shows`, …) its `kind` and `count`.
fn skip_json(s: &exports::Skip) -> Value {
    let mut v = json!({"line": s.line, "reason": s.reason});
    if let Some(k) = &s.kind {
        v["kind"] = json!(k);
        v["count"] = json!(s.count);
    }
    v
}

/// What a file whose name is no export's holds, by its content.
pub(super) enum Sniffed {
    Export(exports::Parsed),
    Playlist(Playlist),
    /// Neither: why (the name's reason, and what the bytes look like when they say).
    Not(String),
}

/// Largest file read to learn what it is when its name does not say (audio and archives are
/// larger, and are no exports).
pub(super) const SNIFF_MAX: u64 = 64 << 20;

/// A file the name of which is no export's (`reason`: why not), read by its content: an
/// Exportify export or account JSON under any name (no extension included), a playlist of a
/// format [`playlist::read`] recognises by its content (a plain m3u only with its `#EXTM3U`
/// header: any text reads as plain m3u lines), or neither, with what it looks like.
pub(super) fn by_content(path: &Path, name: &str, reason: String) -> Sniffed {
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
pub(super) const PLAYLIST_EXTS: &[&str] = &["m3u", "m3u8", "pls", "xspf", "jspf", "asx", "wax", "wvx", "wpl"];

/// A playlist file of another player, by its name (one of [`PLAYLIST_EXTS`]) or a `.json` that
/// is JSPF (an object with a `playlist`; account exports never have one), read by its content
/// with the reader `baton catalog import-playlist` uses. None: not a playlist file (read as an
/// export). Some(Err): a playlist file that cannot be read, with what it looks like.
pub(super) fn playlist_file(path: &Path, name: &str) -> Option<Result<Playlist, String>> {
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
