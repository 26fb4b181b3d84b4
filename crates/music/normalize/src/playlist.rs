//! Reading playlist files from other players (beets, MPD, navidrome, djay, foobar2000): m3u and
//! m3u8 in any encoding they are found in, and XSPF. Pure parsing, no catalog access: the callers
//! (`baton catalog import-playlist` on the host, the spotify plugin's `import` in wasm) link the
//! entries to the library's files with one [`LibraryIndex`], so both link alike.
//!
//! What is handled, because real files carry it: UTF-8 with or without a BOM, UTF-16 with a BOM,
//! Windows-1252 when the bytes are not UTF-8 (said so in [`Playlist::encoding`], never refused);
//! LF, CRLF or a bare CR; `#EXTM3U`/`#EXTINF` present or not; `#PLAYLIST:` names; other
//! directives skipped; relative paths (to the playlist's folder), absolute paths, `file://` URIs
//! with percent escapes, and Windows paths (drive letters, backslashes).
use std::collections::{HashMap, HashSet};
use std::path::{Component, Path, PathBuf};

/// One entry of a playlist, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// 1-based line of the entry in the file (XSPF: the track's position).
    pub line: usize,
    /// The entry as written.
    pub raw: String,
    /// Where it points: an absolute path ('/'-separated; a Windows path keeps its drive,
    /// `C:/Music/x.mp3`), or a URL other than `file://` as written.
    pub location: String,
    /// From `#EXTINF:<seconds>,<artist> - <title>` or XSPF's `<title>`/`<creator>`.
    pub title: Option<String>,
    pub artist: Option<String>,
    pub duration_ms: Option<u64>,
}

/// A playlist file read.
#[derive(Debug, Clone, PartialEq)]
pub struct Playlist {
    /// `m3u`, `xspf` or `jspf`.
    pub format: &'static str,
    /// `utf-8`, `utf-8-bom`, `utf-16le`, `utf-16be` or `windows-1252` (the bytes were not
    /// UTF-8: decoded as Windows-1252).
    pub encoding: &'static str,
    /// `#PLAYLIST:` or XSPF's `<title>`, when the file names itself.
    pub name: Option<String>,
    pub entries: Vec<Entry>,
}

/// Decodes playlist bytes: a BOM decides (UTF-8, UTF-16 LE/BE); else UTF-8 if valid; else
/// Windows-1252, which decodes any byte.
pub fn decode(bytes: &[u8]) -> (String, &'static str) {
    if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return (String::from_utf8_lossy(rest).into_owned(), "utf-8-bom");
    }
    let utf16 = |rest: &[u8], le: bool| {
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|c| if le { u16::from_le_bytes([c[0], c[1]]) } else { u16::from_be_bytes([c[0], c[1]]) })
            .collect();
        String::from_utf16_lossy(&units)
    };
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        return (utf16(rest, true), "utf-16le");
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        return (utf16(rest, false), "utf-16be");
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => (s.to_string(), "utf-8"),
        Err(_) => (bytes.iter().map(|&b| cp1252(b)).collect(), "windows-1252"),
    }
}

/// One Windows-1252 byte as a character (0x80–0x9F are its own; the five unassigned bytes map
/// to the C1 controls of the same value, as browsers do).
fn cp1252(b: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8D}', 'Ž', '\u{8F}', '\u{90}', '‘',
        '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9D}', 'ž', 'Ÿ',
    ];
    match b {
        0x80..=0x9F => HIGH[(b - 0x80) as usize],
        _ => b as char,
    }
}

/// Reads a playlist file's bytes; `path` is the playlist file (relative entries are resolved
/// against its folder; `.xspf` or content starting with `<` is XSPF). Errors say why the
/// content is no playlist.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Playlist, String> {
    let (text, encoding) = decode(bytes);
    let dir = path.parent().unwrap_or(Path::new("/"));
    let xspf =
        path.extension().is_some_and(|e| e.eq_ignore_ascii_case("xspf")) || text.trim_start().starts_with("<?xml");
    if xspf {
        return parse_xspf(&text, dir).map(|(name, entries)| Playlist { format: "xspf", encoding, name, entries });
    }
    if text.trim_start().starts_with('{') {
        return parse_jspf(&text, dir).map(|(name, entries)| Playlist { format: "jspf", encoding, name, entries });
    }
    let mut name = None;
    let mut entries = Vec::new();
    let mut info: Option<(Option<u64>, Option<String>, Option<String>)> = None;
    for (i, line) in text.split("\r\n").flat_map(|l| l.split(['\r', '\n'])).enumerate() {
        // `split` on "\r\n" first keeps the numbering of CRLF files; a bare CR or LF splits too.
        let line = line.trim_matches(|c: char| c == '\u{feff}' || c.is_whitespace());
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('#') {
            if let Some(n) = rest.strip_prefix("PLAYLIST:") {
                name = Some(n.trim().to_string()).filter(|n| !n.is_empty());
            } else if let Some(inf) = rest.strip_prefix("EXTINF:") {
                info = Some(extinf(inf));
            }
            continue;
        }
        let (duration_ms, artist, title) = info.take().unwrap_or((None, None, None));
        entries.push(Entry {
            line: i + 1,
            raw: line.to_string(),
            location: locate(line, dir),
            title,
            artist,
            duration_ms,
        });
    }
    if entries.is_empty()
        && name.is_none()
        && !text.trim_start().starts_with("#EXTM3U")
        && text.chars().any(|c| c.is_control() && !c.is_whitespace())
    {
        return Err("no playlist entries, and the content is binary, not m3u text".into());
    }
    Ok(Playlist { format: "m3u", encoding, name, entries })
}

/// `#EXTINF:<seconds>[ attributes],<artist> - <title>` → (duration, artist, title).
fn extinf(s: &str) -> (Option<u64>, Option<String>, Option<String>) {
    let (head, label) = s.split_once(',').unwrap_or((s, ""));
    let secs = head.split_whitespace().next().and_then(|x| x.parse::<f64>().ok()).filter(|x| *x >= 0.0);
    let (artist, title) = match label.split_once(" - ") {
        Some((a, t)) => (Some(a.trim().to_string()), Some(t.trim().to_string())),
        None => (None, Some(label.trim().to_string()).filter(|t| !t.is_empty())),
    };
    (secs.map(|x| (x * 1000.0).round() as u64), artist, title)
}

/// Where an entry points, as an absolute '/'-separated path when it is a file.
pub fn locate(entry: &str, dir: &Path) -> String {
    let lower = entry.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("file://").map(|_| &entry[7..]) {
        // file:///abs, file://localhost/abs, file:///C:/x
        let rest = rest.strip_prefix("localhost").unwrap_or(rest);
        let p = crate::percent_decode(rest);
        let p = if p.len() > 2 && p.as_bytes()[0] == b'/' && p.as_bytes()[2] == b':' { p[1..].to_string() } else { p };
        return clean(&p.replace('\\', "/"));
    }
    if lower.contains("://") {
        return entry.to_string();
    }
    let slashed = entry.replace('\\', "/");
    let windows_abs = slashed.len() > 2 && slashed.as_bytes()[1] == b':' && slashed.as_bytes()[0].is_ascii_alphabetic();
    if slashed.starts_with('/') || windows_abs {
        return clean(&slashed);
    }
    // Relative: to the playlist's folder. A name with `%20` that is not on disk as written is
    // read percent-decoded.
    let joined = dir.join(&slashed);
    if !joined.exists() && slashed.contains('%') {
        return clean(&dir.join(crate::percent_decode(&slashed)).to_string_lossy());
    }
    clean(&joined.to_string_lossy())
}

/// `a/./b/../c` → `a/c`, without touching the disk (the library's paths are as scanned).
fn clean(p: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let path = PathBuf::from(p);
    let mut prefix = String::new();
    for c in path.components() {
        match c {
            Component::RootDir => prefix = "/".into(),
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(x) => out.push(x.to_string_lossy().into_owned()),
            Component::Prefix(x) => prefix = x.as_os_str().to_string_lossy().into_owned(),
        }
    }
    format!("{prefix}{}", out.join("/"))
}

/// XSPF: `<title>` of the playlist, then each `<track>`'s `<location>` (or none), `<title>`,
/// `<creator>` and `<duration>` (ms). A minimal reader: elements, entities, no DTD.
fn parse_xspf(text: &str, dir: &Path) -> Result<(Option<String>, Vec<Entry>), String> {
    if !text.contains("<playlist") {
        return Err("XML, but no <playlist> element (not XSPF)".into());
    }
    let tag = |s: &str, name: &str| -> Option<String> {
        let open = s.find(&format!("<{name}>"))? + name.len() + 2;
        let close = s[open..].find(&format!("</{name}>"))? + open;
        Some(unescape(s[open..close].trim()))
    };
    let list_at = text.find("<trackList").unwrap_or(text.len());
    let name = tag(&text[..list_at], "title");
    let mut entries = Vec::new();
    let mut rest = &text[list_at..];
    let mut n = 0;
    while let Some(start) = rest.find("<track>") {
        let Some(end) = rest[start..].find("</track>") else { break };
        let t = &rest[start..start + end];
        n += 1;
        let location = tag(t, "location");
        entries.push(Entry {
            line: n,
            raw: location.clone().unwrap_or_default(),
            location: location.as_deref().map(|l| locate(l, dir)).unwrap_or_default(),
            title: tag(t, "title"),
            artist: tag(t, "creator"),
            duration_ms: tag(t, "duration").and_then(|d| d.parse().ok()),
        });
        rest = &rest[start + end..];
    }
    Ok((name, entries))
}

/// JSPF (XSPF as JSON): `playlist.title`, `playlist.track[]` with `location` (a string or a
/// list: the first), `title`, `creator`, `duration`. JSON that does not parse is refused with
/// the parser's reason, never read as m3u lines.
fn parse_jspf(text: &str, dir: &Path) -> Result<(Option<String>, Vec<Entry>), String> {
    use serde_json::Value;
    let v: Value =
        serde_json::from_str(text).map_err(|e| format!("JSON (a JSPF playlist?) that does not parse: {e}"))?;
    let pl = v.get("playlist").ok_or("JSON, but no `playlist` object (not JSPF)")?;
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let tracks = pl.get("track").and_then(Value::as_array).cloned().unwrap_or_default();
    let entries = tracks
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let loc = match t.get("location") {
                Some(Value::Array(a)) => a.iter().find_map(Value::as_str).map(str::to_string),
                Some(Value::String(x)) => Some(x.clone()),
                _ => None,
            };
            Entry {
                line: i + 1,
                raw: loc.clone().unwrap_or_default(),
                location: loc.as_deref().map(|l| locate(l, dir)).unwrap_or_default(),
                title: s(t, "title"),
                artist: s(t, "creator"),
                duration_ms: t.get("duration").and_then(Value::as_u64),
            }
        })
        .collect();
    Ok((s(pl, "title"), entries))
}

/// The library's file paths, and for each file's last folder and name (lower case) the paths
/// that end in them, so an entry written on another machine (a Windows path, another mount
/// point) is found when one library file alone has its last two path components.
#[derive(Debug, Default)]
pub struct LibraryIndex {
    paths: HashSet<String>,
    by_tail: HashMap<String, Vec<String>>,
}

/// A path's last folder and name, lower case (`Music/a.mp3` → `music/a.mp3`).
fn tail(p: &str) -> String {
    let parts: Vec<&str> = p.rsplit('/').take(2).collect();
    parts.into_iter().rev().collect::<Vec<_>>().join("/").to_lowercase()
}

impl LibraryIndex {
    pub fn new(paths: impl IntoIterator<Item = String>) -> LibraryIndex {
        let mut ix = LibraryIndex::default();
        for p in paths {
            ix.by_tail.entry(tail(&p)).or_default().push(p.clone());
            ix.paths.insert(p);
        }
        ix
    }

    /// The library file an entry's location names, and how: `path` (the same path) or `tail`
    /// (the only library file ending in the entry's folder and name). A URL other than a file
    /// is never matched by its tail.
    pub fn find(&self, location: &str) -> Option<(String, &'static str)> {
        if self.paths.contains(location) {
            return Some((location.to_string(), "path"));
        }
        if location.is_empty() || location.contains("://") {
            return None;
        }
        match self.by_tail.get(&tail(location)).map(Vec::as_slice) {
            Some([one]) => Some((one.clone(), "tail")),
            _ => None,
        }
    }
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'").replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() {
        assert_eq!(decode(b"\xEF\xBB\xBFa"), ("a".to_string(), "utf-8-bom"));
        assert_eq!(decode(b"\xFF\xFEa\x00\xe9\x00"), ("aé".to_string(), "utf-16le"));
        assert_eq!(decode(b"\xFE\xFF\x00a"), ("a".to_string(), "utf-16be"));
        assert_eq!(decode(b"Beyonc\xe9 \x80"), ("Beyoncé €".to_string(), "windows-1252"));
    }

    #[test]
    fn entries_lines_and_paths() {
        let p = parse(Path::new("/m/lists/x.m3u"), b"#EXTM3U\r\n#EXTINF:123,Ann - Song\r\n../a/b.mp3\r\nC:\\Music\\c.mp3\rfile:///m/d%20e.mp3\nfile://localhost/m/f.mp3\n#EXTALBUMARTURL:x\nhttp://radio/x\n").unwrap();
        let locs: Vec<&str> = p.entries.iter().map(|e| e.location.as_str()).collect();
        assert_eq!(locs, ["/m/a/b.mp3", "C:/Music/c.mp3", "/m/d e.mp3", "/m/f.mp3", "http://radio/x"]);
        assert_eq!(
            (p.entries[0].artist.as_deref(), p.entries[0].title.as_deref(), p.entries[0].duration_ms),
            (Some("Ann"), Some("Song"), Some(123_000))
        );
        assert_eq!(p.entries[1].artist, None);
        let p = parse(Path::new("/m/x.m3u"), b"#PLAYLIST:My List\nsong.mp3").unwrap();
        assert_eq!((p.name.as_deref(), p.entries[0].location.as_str()), (Some("My List"), "/m/song.mp3"));
        let j = parse(
            Path::new("/m/x.json"),
            br#"{"playlist": {"title": "J", "track": [{"location": ["file:///m/a.mp3"], "title": "A"}]}}"#,
        )
        .unwrap();
        assert_eq!((j.format, j.name.as_deref(), j.entries[0].location.as_str()), ("jspf", Some("J"), "/m/a.mp3"));
        assert!(parse(Path::new("/m/x.json"), b"{\"playlist\": [ARBITRARY]}").unwrap_err().contains("does not parse"));
    }

    #[test]
    fn library_index_by_path_then_unique_tail() {
        let ix = LibraryIndex::new([
            "/music/a/x.mp3".to_string(),
            "/music/b/y.mp3".to_string(),
            "/music/c/y.mp3".to_string(),
        ]);
        assert_eq!(ix.find("/music/a/x.mp3"), Some(("/music/a/x.mp3".into(), "path")));
        assert_eq!(ix.find("C:/Users/me/Music/A/X.mp3"), Some(("/music/a/x.mp3".into(), "tail")));
        // Two library files end in `y.mp3`, in different folders: only the folder decides.
        assert_eq!(ix.find("/elsewhere/b/y.mp3"), Some(("/music/b/y.mp3".into(), "tail")));
        assert_eq!(ix.find("/elsewhere/z/y.mp3"), None);
        assert_eq!(ix.find("http://radio/a/x.mp3"), None);
        assert_eq!(ix.find(""), None);
    }
}
