//! Reading playlist files from other players (beets, MPD, navidrome, djay, foobar2000, Winamp,
//! VLC, Windows Media Player), by their content, never by their name: m3u and m3u8 (plain and
//! extended) in any encoding they are found in, PLS, XSPF, JSPF, ASX (XML and its INI form) and
//! WPL. A file that is none of these is refused with what it looks like ([`NotAPlaylist`]).
//! [`read`] is pure (bytes in, no I/O), so it can be fuzzed; [`parse`] resolves its entries
//! against the playlist's folder. No catalog access: the callers (`baton catalog
//! import-playlist` on the host, the spotify plugin's `import` in wasm) use this one reader and
//! link the entries to the library's files with one [`LibraryIndex`], so both read and link
//! alike.
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
    /// `url` (an `http://`, `rtsp://`, `mms://` … stream) or `path` (a file, `file://` too).
    pub kind: &'static str,
    /// Where it points. From [`read`]: as written (XSPF: resolved against its `xml:base`,
    /// when one is set). From [`parse`]: an absolute path
    /// ('/'-separated; a Windows path keeps its drive, `C:/Music/x.mp3`), or a URL other than
    /// `file://` as written.
    pub location: String,
    /// From `#EXTINF:<seconds>,<artist> - <title>` or XSPF's `<title>`/`<creator>`.
    pub title: Option<String>,
    pub artist: Option<String>,
    pub duration_ms: Option<u64>,
}

/// A playlist file read.
#[derive(Debug, Clone, PartialEq)]
pub struct Playlist {
    /// `m3u`, `pls`, `xspf`, `jspf`, `asx`, `asx-ini`, `wpl`, `smil`, or `empty` (no bytes but
    /// blanks).
    pub format: &'static str,
    /// `utf-8`, `utf-8-bom`, `utf-16le`, `utf-16be` or `windows-1252` (the bytes were not
    /// UTF-8: decoded as Windows-1252); for XML whose declaration names another encoding, that
    /// one's WHATWG name (`GBK`, `Shift_JIS`, `EUC-KR`, `Big5`, …).
    pub encoding: &'static str,
    /// `#PLAYLIST:` or XSPF's `<title>`, when the file names itself.
    pub name: Option<String>,
    pub entries: Vec<Entry>,
    /// A Windows Media smart playlist (`<smartPlaylist>`): its entries are a query the player
    /// runs, not a list; kept as written in [`Playlist::query`], with no static entries.
    pub smart: bool,
    /// The `<smartPlaylist>` element as written, for a smart playlist.
    pub query: Option<String>,
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

/// Why bytes are no playlist: what they look like instead ("a Python script", "binary data",
/// "an HTML page", …), said to the user as "not a playlist: it looks like …".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAPlaylist {
    pub looks_like: String,
}

impl std::fmt::Display for NotAPlaylist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not a playlist: it looks like {}", self.looks_like)
    }
}

impl std::error::Error for NotAPlaylist {}

fn not(looks_like: impl Into<String>) -> NotAPlaylist {
    NotAPlaylist { looks_like: looks_like.into() }
}

/// Reads a playlist from its bytes alone, by content, never by a file name: m3u/m3u8 (plain or
/// extended), PLS (`[playlist]`), XSPF and JSPF, ASX (XML, and its INI form `[Reference]`) and
/// WPL. Pure (no I/O): entries keep their location as written in [`Entry::location`] (resolve
/// them against the playlist's folder with [`locate`]). Empty (or blank) bytes are an empty
/// playlist; anything else that is none of these formats is refused with what it looks like.
pub fn read(bytes: &[u8]) -> Result<Playlist, NotAPlaylist> {
    let (text, encoding) = decode(bytes);
    // XML names its encoding in its declaration: decoded in that one (any encoding_rs knows),
    // never guessed as Windows-1252, or refused with the name it gives.
    let (text, encoding) = match xml_declared_encoding(bytes, encoding) {
        Ok(Some((t, e))) => (t, e),
        Ok(None) => (text, encoding),
        Err(e) => return Err(e),
    };
    let body = text.trim_start_matches(|c: char| c == '\u{feff}' || c.is_whitespace());
    let made = |format: &'static str, (name, entries): (Option<String>, Vec<Entry>)| Playlist {
        format,
        encoding,
        name,
        entries,
        smart: false,
        query: None,
    };
    if body.is_empty() {
        return Ok(made("empty", (None, Vec::new())));
    }
    if binary(bytes, &text) {
        return Err(not(magic(bytes).unwrap_or("binary data")));
    }
    if body.starts_with('<') {
        let mut pl = read_xml(body).map(|(f, parts)| made(f, parts))?;
        if matches!(pl.format, "wpl" | "smil") {
            pl.query = smart_query(body);
            pl.smart = pl.query.is_some();
        }
        return Ok(pl);
    }
    if body.starts_with('{') {
        return read_jspf(body).map(|parts| made("jspf", parts));
    }
    if body.starts_with('[') {
        let section = body.lines().next().unwrap_or("").trim().to_ascii_lowercase();
        return match section.as_str() {
            "[playlist]" => Ok(made("pls", read_pls(body))),
            "[reference]" => Ok(made("asx-ini", read_asx_ini(body))),
            _ if section.ends_with(']') => Err(not(format!("an INI file (section {section}), not PLS or ASX"))),
            _ => Err(not("JSON or text that is no playlist")),
        };
    }
    // An extended m3u says so; any other text is checked for a program first.
    if !body.starts_with("#EXTM3U")
        && let Some(what) = script(body)
    {
        return Err(not(what));
    }
    Ok(made("m3u", read_m3u(&text)))
}

/// The encoding an XML declaration names (`<?xml version="1.0" encoding="GB2312"?>`) when the
/// bytes carry no BOM and it is not UTF-8: the text decoded in it. An encoding `encoding_rs`
/// does not know is refused with its name. None for no declaration, or UTF-8.
fn xml_declared_encoding(bytes: &[u8], found: &'static str) -> Result<Option<(String, &'static str)>, NotAPlaylist> {
    if found != "utf-8" && found != "windows-1252" {
        return Ok(None);
    }
    let head = &bytes[..bytes.len().min(200)];
    let head = String::from_utf8_lossy(head);
    let head = head.trim_start();
    let Some(decl) = head.strip_prefix("<?xml").and_then(|d| d.split_once("?>")).map(|(d, _)| d) else {
        return Ok(None);
    };
    let Some((_, value)) = attributes(decl).into_iter().find(|(k, _)| k == "encoding") else { return Ok(None) };
    let Some(enc) = encoding_rs::Encoding::for_label(value.trim().as_bytes()) else {
        return Err(not(format!("XML declared in the encoding `{value}`, which baton does not know")));
    };
    if enc == encoding_rs::UTF_8 {
        return Ok(None);
    }
    let (text, _, _) = enc.decode(bytes);
    Ok(Some((text.into_owned(), enc.name())))
}

/// A Windows Media smart playlist's `<smartPlaylist>` element, as written.
fn smart_query(xml: &str) -> Option<String> {
    let lower = xml.to_ascii_lowercase();
    let start = lower.find("<smartplaylist")?;
    let end = lower[start..].find("</smartplaylist>").map_or(xml.len(), |e| start + e + "</smartplaylist>".len());
    Some(xml[start..end].to_string())
}

/// Whether decoded bytes are binary: a NUL (text in UTF-16 has a BOM and is decoded), or many
/// control characters.
fn binary(bytes: &[u8], text: &str) -> bool {
    let utf16 = bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]);
    if !utf16 && bytes.contains(&0) {
        return true;
    }
    let controls = text.chars().filter(|c| c.is_control() && !c.is_whitespace()).count();
    controls > 0 && controls * 20 > text.chars().count().max(1)
}

/// What well-known binary files are, by their first bytes.
fn magic(bytes: &[u8]) -> Option<&'static str> {
    let m: &[(&[u8], &str)] = &[
        (b"ID3", "an MP3 file (audio)"),
        (b"fLaC", "a FLAC file (audio)"),
        (b"OggS", "an Ogg file (audio)"),
        (b"RIFF", "a RIFF file (WAV audio or AVI video)"),
        (b"PK\x03\x04", "a ZIP archive"),
        (b"%PDF", "a PDF document"),
        (b"\x89PNG", "a PNG image"),
        (b"\xFF\xD8\xFF", "a JPEG image"),
        (b"SQLite format 3", "an SQLite database"),
        (b"\x7FELF", "an executable (ELF)"),
        (b"bplist", "a binary property list"),
    ];
    m.iter().find(|(sig, _)| bytes.starts_with(sig)).map(|(_, what)| *what)
}

/// What a text that is no m3u looks like, when it is recognisably a program.
fn script(body: &str) -> Option<String> {
    let first = body.lines().next().unwrap_or("").trim();
    if let Some(shebang) = first.strip_prefix("#!") {
        let lang = if shebang.contains("python") {
            "a Python script"
        } else if shebang.contains("sh") {
            "a shell script"
        } else if shebang.contains("node") {
            "a JavaScript program"
        } else if shebang.contains("perl") {
            "a Perl script"
        } else {
            "a script"
        };
        return Some(format!("{lang} (it starts with `{first}`)"));
    }
    if first.starts_with("<?php") {
        return Some("a PHP script".into());
    }
    let python = body.lines().map(str::trim_end).any(|l| {
        l.starts_with("import ")
            || (l.starts_with("from ") && l.contains(" import "))
            || (l.starts_with("def ") && l.ends_with(':'))
            || (l.starts_with("class ") && l.ends_with(':'))
            || l.starts_with("if __name__")
    });
    python.then(|| "a Python script".to_string())
}

/// Whether an entry is a URL (`http://…`, `rtsp://…`, `mms://…`), not a file (`file://` is one).
pub fn is_url(location: &str) -> bool {
    let lower = location.trim().to_ascii_lowercase();
    lower.contains("://") && !lower.starts_with("file://")
}

fn entry(line: usize, raw: &str, title: Option<String>, artist: Option<String>, duration_ms: Option<u64>) -> Entry {
    let raw = raw.trim().to_string();
    Entry {
        line,
        kind: if is_url(&raw) { "url" } else { "path" },
        location: raw.clone(),
        raw,
        title,
        artist,
        duration_ms,
    }
}

/// A label `Artist - Title` (`#EXTINF`, PLS `TitleN`) split; a label without ` - ` is a title.
fn label(s: &str) -> (Option<String>, Option<String>) {
    match s.split_once(" - ") {
        Some((a, t)) => (Some(a.trim().to_string()), Some(t.trim().to_string())),
        None => (None, Some(s.trim().to_string()).filter(|t| !t.is_empty())),
    }
}

/// m3u and m3u8, plain or extended: `#EXTINF:<seconds>,<artist> - <title>`, `#PLAYLIST:`.
fn read_m3u(text: &str) -> (Option<String>, Vec<Entry>) {
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
        entries.push(entry(i + 1, line, title, artist, duration_ms));
    }
    (name, entries)
}

/// `#EXTINF:<seconds>[ attributes],<artist> - <title>` → (duration, artist, title).
fn extinf(s: &str) -> (Option<u64>, Option<String>, Option<String>) {
    let (head, text) = s.split_once(',').unwrap_or((s, ""));
    let secs = head.split_whitespace().next().and_then(|x| x.parse::<f64>().ok()).filter(|x| *x >= 0.0);
    let (artist, title) = label(text);
    (secs.map(|x| (x * 1000.0).round() as u64), artist, title)
}

/// `key=value` lines of an INI section, keys lower case, with their line numbers.
fn ini(body: &str) -> Vec<(usize, String, String)> {
    body.split("\r\n")
        .flat_map(|l| l.split(['\r', '\n']))
        .enumerate()
        .filter_map(|(i, l)| {
            let (k, v) = l.split_once('=')?;
            Some((i + 1, k.trim().to_ascii_lowercase(), v.trim().to_string()))
        })
        .collect()
}

/// PLS: `FileN=`, `TitleN=`, `LengthN=` (seconds; -1 unknown) in any order and any case,
/// entries in the order of N; `NumberOfEntries` and `Version` are not needed.
fn read_pls(body: &str) -> (Option<String>, Vec<Entry>) {
    let mut by_n: std::collections::BTreeMap<u64, (usize, Option<String>, Option<String>, Option<u64>)> =
        Default::default();
    let mut name = None;
    for (line, k, v) in ini(body) {
        let split = k.find(|c: char| c.is_ascii_digit()).map(|at| k.split_at(at));
        let Some((field, n)) = split.and_then(|(f, n)| Some((f, n.parse::<u64>().ok()?))) else {
            if k == "x-gnome-title" || k == "title" {
                name = Some(v).filter(|v| !v.is_empty());
            }
            continue;
        };
        let e = by_n.entry(n).or_insert((line, None, None, None));
        match field {
            "file" => {
                e.0 = line;
                e.1 = Some(v);
            }
            "title" => e.2 = Some(v).filter(|v| !v.is_empty()),
            "length" => e.3 = v.parse::<f64>().ok().filter(|s| *s >= 0.0).map(|s| (s * 1000.0).round() as u64),
            _ => {}
        }
    }
    let entries = by_n
        .into_values()
        .filter_map(|(line, file, title, ms)| {
            let (artist, title) = title.as_deref().map(label).unwrap_or((None, None));
            Some(entry(line, &file?, title, artist, ms))
        })
        .collect();
    (name, entries)
}

/// ASX in its INI form: `[Reference]` with `RefN=<url>`.
fn read_asx_ini(body: &str) -> (Option<String>, Vec<Entry>) {
    let mut refs: Vec<(u64, usize, String)> = ini(body)
        .into_iter()
        .filter_map(|(line, k, v)| Some((k.strip_prefix("ref")?.parse().ok()?, line, v)))
        .collect();
    refs.sort();
    (None, refs.into_iter().map(|(_, line, v)| entry(line, &v, None, None, None)).collect())
}

/// One XML tag: its local name (lower case, prefix dropped), attributes (names lower case,
/// values unescaped), whether it closes an element, and the text that follows it.
struct Tag<'a> {
    name: String,
    attrs: Vec<(String, String)>,
    end: bool,
    empty: bool,
    text: &'a str,
}

/// The tags of an XML document in order (declarations, comments, CDATA markers and DOCTYPE
/// skipped). A minimal reader for playlists: no DTD, entities of XML's five only.
fn tags(xml: &str) -> Vec<Tag<'_>> {
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(open) = rest.find('<') {
        rest = &rest[open + 1..];
        if let Some(after) = rest.strip_prefix("!--") {
            rest = after.find("-->").map_or("", |e| &after[e + 3..]);
            continue;
        }
        let Some(close) = rest.find('>') else { break };
        let inner = &rest[..close];
        rest = &rest[close + 1..];
        if inner.starts_with('?') || inner.starts_with('!') {
            continue;
        }
        let text = &rest[..rest.find('<').unwrap_or(rest.len())];
        let end = inner.starts_with('/');
        let empty = inner.ends_with('/');
        let inner = inner.trim_start_matches('/').trim_end_matches('/');
        let (qname, attr_text) = inner.split_once(char::is_whitespace).unwrap_or((inner, ""));
        let name = qname.rsplit(':').next().unwrap_or(qname).to_ascii_lowercase();
        out.push(Tag { name, attrs: attributes(attr_text), end, empty, text });
    }
    out
}

/// `a="x" b='y'` → [(a, x), (b, y)], names lower case, values unescaped.
fn attributes(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(eq) = rest.find('=') {
        let name = rest[..eq].trim().to_ascii_lowercase();
        let after = rest[eq + 1..].trim_start();
        let Some(q) = after.chars().next().filter(|c| *c == '"' || *c == '\'') else { break };
        let Some(len) = after[1..].find(q) else { break };
        out.push((name, unescape(&after[1..1 + len])));
        rest = &after[len + 2..];
    }
    out
}

fn attr(t: &Tag, name: &str) -> Option<String> {
    t.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

/// An XML playlist by its root element: XSPF (`playlist`), ASX (`asx`), WPL (`smil`).
fn read_xml(xml: &str) -> Result<(&'static str, (Option<String>, Vec<Entry>)), NotAPlaylist> {
    let tags = tags(xml);
    let Some(root) = tags.iter().find(|t| !t.end) else { return Err(not("XML without an element")) };
    match root.name.as_str() {
        "playlist" => Ok(("xspf", read_xspf(&tags))),
        "asx" => Ok(("asx", read_asx(&tags))),
        // Windows Media Player writes `<?wpl version="1.0"?>` before `<smil>`; RealPlayer's
        // SMIL playlists have none.
        "smil" if xml.contains("<?wpl") => Ok(("wpl", read_wpl(&tags))),
        "smil" => Ok(("smil", read_wpl(&tags))),
        "html" => Err(not("an HTML page")),
        "plist" => Err(not("a property list (an iTunes library?), not a playlist")),
        "dj_playlists" => Err(not("a Rekordbox library (read by the djay plugin), not a playlist")),
        other => Err(not(format!("XML whose root element is <{other}>, not XSPF, ASX or WPL"))),
    }
}

/// The entries of an XML playlist: each `item` element (a `track`, an `entry`) holds one, whose
/// location is the first of `loc` (an element's text, or an attribute `(element, attribute)`);
/// `title`, `artist` and `duration` elements fill it in. The playlist's name is the `title`
/// that comes before the first item.
struct XmlShape {
    item: &'static str,
    loc_text: &'static str,
    loc_attr: (&'static str, &'static str),
    artist: &'static str,
}

fn xml_entries(tags: &[Tag], shape: &XmlShape, duration: fn(&Tag) -> Option<u64>) -> (Option<String>, Vec<Entry>) {
    let mut name = None;
    let mut entries = Vec::new();
    let mut cur: Option<Entry> = None;
    let text = |t: &Tag| Some(unescape(t.text.trim())).filter(|s| !s.is_empty());
    for t in tags {
        if t.name == shape.item {
            if t.end || t.empty {
                entries.extend(cur.take());
                if t.empty {
                    let loc = attr(t, shape.loc_attr.1).unwrap_or_default();
                    entries.push(entry(entries.len() + 1, &loc, None, None, None));
                }
            } else {
                cur = Some(entry(entries.len() + 1, "", None, None, None));
            }
            continue;
        }
        if t.end {
            continue;
        }
        let Some(e) = cur.as_mut() else {
            if t.name == "title" && name.is_none() && entries.is_empty() {
                name = text(t);
            }
            continue;
        };
        let loc = if t.name == shape.loc_text {
            text(t)
        } else if t.name == shape.loc_attr.0 {
            attr(t, shape.loc_attr.1)
        } else {
            None
        };
        if let Some(l) = loc.filter(|_| e.raw.is_empty()) {
            *e = entry(e.line, &l, e.title.take(), e.artist.take(), e.duration_ms);
        } else if t.name == "title" {
            e.title = text(t);
        } else if t.name == shape.artist {
            e.artist = text(t);
        } else if t.name == "duration" {
            e.duration_ms = duration(t);
        }
    }
    entries.extend(cur);
    (name, entries)
}

/// XSPF: `<track>` with `<location>` (or none), `<title>`, `<creator>`, `<duration>` (ms). A
/// relative location is resolved against the `xml:base` in effect at its track (XSPF's
/// "relative paths are resolved per RFC 3986": each `xml:base`, on any ancestor, against the
/// one above it); without one it stays relative, to the playlist's folder.
fn read_xspf(tags: &[Tag]) -> (Option<String>, Vec<Entry>) {
    let shape = XmlShape { item: "track", loc_text: "location", loc_attr: ("", ""), artist: "creator" };
    let (name, mut entries) = xml_entries(tags, &shape, |t| t.text.trim().parse().ok());
    let bases = xspf_bases(tags);
    let mut with_location = entries.iter_mut().filter(|e| !e.raw.is_empty());
    for base in bases {
        let Some(e) = with_location.next() else { break };
        if let Some(base) = base {
            // `raw` stays as written; `location` is where it points ([`parse`] resolves that).
            e.location = resolve_reference(&base, &e.raw);
            e.kind = if is_url(&e.location) { "url" } else { "path" };
        }
    }
    // `<track>` elements of XSPF's `<trackList>` only (an `<extension>` may nest others).
    entries.retain(|e| !(e.raw.is_empty() && e.title.is_none() && e.artist.is_none()));
    (name, entries)
}

/// Per `<track>` with a non-empty `<location>`, in order: the base URI in effect there (the
/// `xml:base` attributes of its ancestors and itself, each resolved against the one above), or
/// None when no element sets one.
fn xspf_bases(tags: &[Tag]) -> Vec<Option<String>> {
    let mut stack: Vec<(String, Option<String>)> = Vec::new();
    let mut out = Vec::new();
    let mut located = false;
    for t in tags {
        if t.end {
            if let Some(at) = stack.iter().rposition(|(n, _)| *n == t.name) {
                stack.truncate(at);
            }
            continue;
        }
        let above = stack.iter().rev().find_map(|(_, b)| b.clone());
        let base = match (attr(t, "xml:base"), &above) {
            (Some(b), Some(a)) => Some(resolve_reference(a, &b)),
            (Some(b), None) => Some(b),
            (None, _) => above,
        };
        if t.name == "track" {
            located = false;
        }
        if t.name == "location" && !located && !unescape(t.text.trim()).is_empty() {
            located = true;
            out.push(base.clone());
        }
        if !t.empty {
            stack.push((t.name.clone(), base));
        }
    }
    out
}

/// RFC 3986 §5.2: the target URI of `reference` against `base` (a reference with a scheme is
/// its own; `//authority`, `/path`, `?query`, `#fragment` and relative paths merge with the
/// base, dot segments removed). A base without a scheme (`music/`) resolves the same way, as a
/// relative path.
pub fn resolve_reference(base: &str, reference: &str) -> String {
    fn scheme(s: &str) -> Option<usize> {
        let end = s.find(':')?;
        let sc = &s[..end];
        (!sc.is_empty()
            && sc.starts_with(|c: char| c.is_ascii_alphabetic())
            && sc.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
            // A Windows drive (`C:`) is a path, not a scheme.
            && sc.len() > 1)
            .then_some(end)
    }
    /// (scheme with ':', authority with '//', path, query and fragment).
    fn split(s: &str) -> (&str, Option<&str>, &str, &str) {
        let (sc, rest) = match scheme(s) {
            Some(e) => (&s[..=e], &s[e + 1..]),
            None => ("", s),
        };
        let (auth, rest) = match rest.strip_prefix("//") {
            Some(r) => {
                let end = r.find(['/', '?', '#']).unwrap_or(r.len());
                (Some(&rest[..2 + end]), &r[end..])
            }
            None => (None, rest),
        };
        let end = rest.find(['?', '#']).unwrap_or(rest.len());
        (sc, auth, &rest[..end], &rest[end..])
    }
    fn remove_dots(path: &str) -> String {
        let mut out: Vec<&str> = Vec::new();
        let absolute = path.starts_with('/');
        let segs: Vec<&str> = path.split('/').collect();
        for (i, seg) in segs.iter().enumerate() {
            let last = i + 1 == segs.len();
            match *seg {
                "." => {
                    if last {
                        out.push("");
                    }
                }
                ".." => {
                    if out.len() > usize::from(absolute) {
                        out.pop();
                    }
                    if last {
                        out.push("");
                    }
                }
                s => out.push(s),
            }
        }
        let joined = out.join("/");
        if absolute && !joined.starts_with('/') { format!("/{joined}") } else { joined }
    }
    let reference = reference.trim();
    if scheme(reference).is_some() {
        let (sc, auth, path, rest) = split(reference);
        return format!("{sc}{}{}{rest}", auth.unwrap_or(""), remove_dots(path));
    }
    let (bsc, bauth, bpath, bqf) = split(base.trim());
    let (_, rauth, rpath, rqf) = split(reference);
    if let Some(a) = rauth {
        return format!("{bsc}{a}{}{rqf}", remove_dots(rpath));
    }
    let bauth = bauth.unwrap_or("");
    if rpath.is_empty() {
        let bquery = bqf.find('#').map_or(bqf, |i| &bqf[..i]);
        let qf = if rqf.starts_with('#') {
            format!("{bquery}{rqf}")
        } else if rqf.is_empty() {
            bquery.to_string()
        } else {
            rqf.to_string()
        };
        return format!("{bsc}{bauth}{bpath}{qf}");
    }
    let path = if rpath.starts_with('/') {
        remove_dots(rpath)
    } else if !bauth.is_empty() && bpath.is_empty() {
        remove_dots(&format!("/{rpath}"))
    } else {
        let dir = bpath.rfind('/').map_or("", |i| &bpath[..=i]);
        remove_dots(&format!("{dir}{rpath}"))
    };
    format!("{bsc}{bauth}{path}{rqf}")
}

/// ASX: `<entry>` with `<ref href>`, `<title>`, `<author>`, `<duration value="hh:mm:ss.ff">`;
/// an `<entryref href>` is an entry too.
fn read_asx(tags: &[Tag]) -> (Option<String>, Vec<Entry>) {
    let shape = XmlShape { item: "entry", loc_text: "", loc_attr: ("ref", "href"), artist: "author" };
    let (name, mut entries) = xml_entries(tags, &shape, |t| attr(t, "value").as_deref().and_then(clock_ms));
    for t in tags.iter().filter(|t| t.name == "entryref" && !t.end) {
        entries.push(entry(entries.len() + 1, &attr(t, "href").unwrap_or_default(), None, None, None));
    }
    (name, entries)
}

/// `hh:mm:ss(.ff)`, `mm:ss` or seconds → ms.
fn clock_ms(s: &str) -> Option<u64> {
    let mut secs = 0.0;
    for part in s.trim().split(':') {
        secs = secs * 60.0 + part.parse::<f64>().ok().filter(|x| *x >= 0.0)?;
    }
    Some((secs * 1000.0).round() as u64)
}

/// WPL (Windows Media Player): `<smil><head><title>`, `<body><seq><media src="…"/>`; SMIL
/// (RealPlayer and others): `<audio>`, `<video>`, `<ref>` and `<media>` with `src`, in order.
fn read_wpl(tags: &[Tag]) -> (Option<String>, Vec<Entry>) {
    let name = tags
        .iter()
        .find(|t| t.name == "title" && !t.end)
        .and_then(|t| Some(unescape(t.text.trim())).filter(|s| !s.is_empty()));
    let entries = tags
        .iter()
        .filter(|t| matches!(t.name.as_str(), "media" | "audio" | "video" | "ref") && !t.end)
        .filter_map(|t| attr(t, "src"))
        .enumerate()
        .map(|(i, src)| entry(i + 1, &src, None, None, None))
        .collect();
    (name, entries)
}

/// JSPF (XSPF as JSON): `playlist.title`, `playlist.track[]` with `location` (a string or a
/// list: the first), `title`, `creator`, `duration`. JSON that does not parse, or has no
/// `playlist`, is refused, never read as m3u lines.
fn read_jspf(text: &str) -> Result<(Option<String>, Vec<Entry>), NotAPlaylist> {
    use serde_json::Value;
    let v: Value = serde_json::from_str(text).map_err(|e| not(format!("JSON that does not parse ({e})")))?;
    let pl = v.get("playlist").ok_or_else(|| {
        not("JSON without a `playlist` object (not JSPF; a Spotify export is read by the spotify plugin)")
    })?;
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
            entry(
                i + 1,
                &loc.unwrap_or_default(),
                s(t, "title"),
                s(t, "creator"),
                t.get("duration").and_then(Value::as_u64),
            )
        })
        .collect();
    Ok((s(pl, "title"), entries))
}

/// Reads a playlist file's bytes ([`read`]) and resolves each file entry against the folder
/// of `path`, the playlist file ([`locate`]). Errors say what the content looks like instead.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Playlist, String> {
    let mut pl = read(bytes).map_err(|e| e.to_string())?;
    let dir = path.parent().unwrap_or(Path::new("/"));
    for e in &mut pl.entries {
        if !e.raw.is_empty() {
            // As written, or XSPF's resolved against its `xml:base`.
            e.location = locate(&e.location, dir);
        }
    }
    Ok(pl)
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

    fn locs(p: &Playlist) -> Vec<(&str, &str)> {
        p.entries.iter().map(|e| (e.kind, e.location.as_str())).collect()
    }

    /// PLS as Winamp, VLC and SHOUTcast write it: keys in any case, entries in the order of
    /// their number (whatever the order of the lines), `Length-1` unknown, no trailing newline.
    #[test]
    fn pls() {
        let p = read(b"[playlist]\r\nNumberOfEntries=2\r\nFile2=C:\\Music\\b.mp3\r\nTitle2=Ann - Bee\r\nLength2=-1\r\nfile1=http://radio.example/stream\r\ntitle1=Radio\r\nlength1=215\r\nVersion=2").unwrap();
        assert_eq!(p.format, "pls");
        assert_eq!(locs(&p), [("url", "http://radio.example/stream"), ("path", "C:\\Music\\b.mp3")]);
        assert_eq!((p.entries[0].title.as_deref(), p.entries[0].duration_ms), (Some("Radio"), Some(215_000)));
        assert_eq!((p.entries[1].artist.as_deref(), p.entries[1].title.as_deref()), (Some("Ann"), Some("Bee")));
        assert_eq!(p.entries[1].duration_ms, None);
        let lower = read(b"[Playlist]\nnumberofentries=1\nFILE1=a.mp3\n").unwrap();
        assert_eq!(locs(&lower), [("path", "a.mp3")]);
        // Resolved against the playlist's folder by `parse`, as m3u entries are.
        let p = parse(Path::new("/m/lists/x.pls"), b"[playlist]\nFile1=../a/b.mp3\n").unwrap();
        assert_eq!(p.entries[0].location, "/m/a/b.mp3");
    }

    #[test]
    fn xspf_and_jspf_with_or_without_declaration_and_namespace() {
        let bare = br#"<playlist version="1"><title>T &amp; U</title><trackList><track><location>file:///m/a.mp3</location><title>A</title><creator>Ann</creator><duration>1000</duration></track><track><title>No file</title></track></trackList></playlist>"#;
        let p = read(bare).unwrap();
        assert_eq!((p.format, p.name.as_deref()), ("xspf", Some("T & U")));
        assert_eq!(locs(&p), [("path", "file:///m/a.mp3"), ("path", "")]);
        assert_eq!((p.entries[0].artist.as_deref(), p.entries[0].duration_ms), (Some("Ann"), Some(1000)));
        let ns = br#"<?xml version="1.0" encoding="UTF-8"?>
<!-- made by hand -->
<xspf:playlist version="1" xmlns:xspf="http://xspf.org/ns/0/"><xspf:trackList><xspf:track><xspf:location>http://x/a.ogg</xspf:location></xspf:track></xspf:trackList></xspf:playlist>"#;
        assert_eq!(locs(&read(ns).unwrap()), [("url", "http://x/a.ogg")]);
        let dflt = br#"<?xml version="1.0"?><playlist version="1" xmlns="http://xspf.org/ns/0/"><trackList><track><location>b.flac</location></track></trackList></playlist>"#;
        assert_eq!(locs(&read(dflt).unwrap()), [("path", "b.flac")]);
        let j =
            read(br#"{"playlist": {"title": "J", "track": [{"location": ["http://x/s"], "title": "S"}]}}"#).unwrap();
        assert_eq!((j.format, j.name.as_deref(), locs(&j)), ("jspf", Some("J"), vec![("url", "http://x/s")]));
        assert!(read(br#"{"playlists": []}"#).unwrap_err().looks_like.contains("without a `playlist`"));
    }

    #[test]
    fn asx_in_xml_and_ini_form_and_wpl() {
        let asx = br#"<ASX version="3.0"><Title>Mix</Title><Entry><Title>One</Title><Author>Ann</Author><Ref HREF="mms://media.example/one.wma"/><Duration value="00:03:25.50"/></Entry><Entry><ref href="C:\Music\two.wma"/></Entry><ENTRYREF HREF="http://x/more.asx"/></ASX>"#;
        let p = read(asx).unwrap();
        assert_eq!((p.format, p.name.as_deref()), ("asx", Some("Mix")));
        assert_eq!(
            locs(&p),
            [("url", "mms://media.example/one.wma"), ("path", "C:\\Music\\two.wma"), ("url", "http://x/more.asx")]
        );
        assert_eq!((p.entries[0].title.as_deref(), p.entries[0].artist.as_deref()), (Some("One"), Some("Ann")));
        assert_eq!(p.entries[0].duration_ms, Some(205_500));
        let ini = read(b"[Reference]\r\nRef1=http://a.example/1\r\nRef2=http://a.example/2\r\n").unwrap();
        assert_eq!(
            (ini.format, locs(&ini)),
            ("asx-ini", vec![("url", "http://a.example/1"), ("url", "http://a.example/2")])
        );
        let wpl = br#"<?wpl version="1.0"?>
<smil><head><meta name="Generator" content="Microsoft Windows Media Player -- 12.0"/><title>Road</title></head>
<body><seq><media src="..\Music\a.mp3" tid="{1}"/><media src="b &amp; c.wma"/></seq></body></smil>"#;
        let p = read(wpl).unwrap();
        assert_eq!((p.format, p.name.as_deref()), ("wpl", Some("Road")));
        assert_eq!(locs(&p), [("path", "..\\Music\\a.mp3"), ("path", "b & c.wma")]);
    }

    /// By content, not by name: what is none of the formats is refused with what it looks like;
    /// an empty file is an empty playlist.
    #[test]
    fn what_is_no_playlist_says_what_it_looks_like() {
        let why = |b: &[u8]| read(b).unwrap_err().to_string();
        assert!(
            why(b"#!/usr/bin/env python3\nprint('x')\n").contains("a Python script"),
            "{}",
            why(b"#!/usr/bin/env python3\n")
        );
        assert!(why(b"import os\n\nfor f in os.listdir('.'):\n    print(f)\n").contains("a Python script"));
        assert!(why(b"#!/bin/sh\necho hi\n").contains("a shell script"));
        assert!(why(b"ID3\x04\x00\x00\x00\x00\x00").contains("an MP3 file"));
        assert!(why(b"\x00\x01\x02\x03garbage").contains("binary data"));
        assert!(why(b"<html><body>x</body></html>").contains("an HTML page"));
        assert!(why(b"[settings]\nvolume=3\n").contains("an INI file"));
        for empty in [&b""[..], b"\n\r\n  ", b"\xEF\xBB\xBF"] {
            let p = read(empty).unwrap();
            assert_eq!((p.format, p.entries.len()), ("empty", 0));
        }
        // Plain and extended m3u, a URL is an entry of kind `url`.
        let p = read(b"a.mp3\nhttp://radio.example/live\n").unwrap();
        assert_eq!((p.format, locs(&p)), ("m3u", vec![("path", "a.mp3"), ("url", "http://radio.example/live")]));
        // An extended m3u is one even when an entry reads like code.
        let p = read(b"#EXTM3U\nimport export.mp3\n").unwrap();
        assert_eq!((p.format, locs(&p)), ("m3u", vec![("path", "import export.mp3")]));
    }

    /// RFC 3986 §5.4's examples, base `http://a/b/c/d;p?q`; its `g:h` is `gg:h` here, since a
    /// one-letter scheme is read as a Windows drive (`C:/Music/a.mp3`), as playlists mean it.
    #[test]
    fn references_resolve_as_rfc_3986_says() {
        let base = "http://a/b/c/d;p?q";
        for (r, want) in [
            ("gg:h", "gg:h"),
            ("g", "http://a/b/c/g"),
            ("./g", "http://a/b/c/g"),
            ("g/", "http://a/b/c/g/"),
            ("/g", "http://a/g"),
            ("//g", "http://g"),
            ("?y", "http://a/b/c/d;p?y"),
            ("g?y", "http://a/b/c/g?y"),
            ("#s", "http://a/b/c/d;p?q#s"),
            ("g#s", "http://a/b/c/g#s"),
            (";x", "http://a/b/c/;x"),
            ("", "http://a/b/c/d;p?q"),
            (".", "http://a/b/c/"),
            ("./", "http://a/b/c/"),
            ("..", "http://a/b/"),
            ("../", "http://a/b/"),
            ("../g", "http://a/b/g"),
            ("../..", "http://a/"),
            ("../../g", "http://a/g"),
            ("../../../g", "http://a/g"),
            ("/./g", "http://a/g"),
            ("/../g", "http://a/g"),
            ("g.", "http://a/b/c/g."),
            ("..g", "http://a/b/c/..g"),
            ("./../g", "http://a/b/g"),
            ("g/./h", "http://a/b/c/g/h"),
            ("g/../h", "http://a/b/c/h"),
        ] {
            assert_eq!(resolve_reference(base, r), want, "{r}");
        }
        assert_eq!(resolve_reference("file:///music/", "a%20b.mp3"), "file:///music/a%20b.mp3");
        assert_eq!(resolve_reference("sub/", "../x.mp3"), "x.mp3");
    }

    /// XSPF `xml:base` on the playlist, its trackList and a track, chained, one with `../`.
    #[test]
    fn xspf_locations_resolve_against_chained_xml_base() {
        let xspf = r#"<?xml version="1.0" encoding="UTF-8"?>
<playlist version="1" xmlns="http://xspf.org/ns/0/" xml:base="file:///srv/music/">
  <title>Based</title>
  <trackList xml:base="rock/">
    <track><location>a.mp3</location><title>A</title></track>
    <track xml:base="../jazz/live/"><location>../b.flac</location></track>
    <track><location>http://radio.example/stream</location></track>
    <track><location>/abs/c.ogg</location></track>
  </trackList>
</playlist>"#;
        let pl = read(xspf.as_bytes()).unwrap();
        let got: Vec<(&str, &str, &str)> =
            pl.entries.iter().map(|e| (e.raw.as_str(), e.location.as_str(), e.kind)).collect();
        assert_eq!(
            got,
            [
                ("a.mp3", "file:///srv/music/rock/a.mp3", "path"),
                ("../b.flac", "file:///srv/music/jazz/b.flac", "path"),
                ("http://radio.example/stream", "http://radio.example/stream", "url"),
                ("/abs/c.ogg", "file:///abs/c.ogg", "path"),
            ]
        );
        let parsed = parse(Path::new("/home/me/lists/based.xspf"), xspf.as_bytes()).unwrap();
        assert_eq!(parsed.entries[1].location, "/srv/music/jazz/b.flac");
        // Without xml:base, relative to the playlist's folder as before.
        let plain = parse(
            Path::new("/home/me/lists/p.xspf"),
            b"<playlist><trackList><track><location>../x.mp3</location></track></trackList></playlist>",
        )
        .unwrap();
        assert_eq!(plain.entries[0].location, "/home/me/x.mp3");
    }

    /// A Windows Media smart playlist holds a query, not entries: `smart`, the query kept, 0
    /// static entries (before: an ordinary empty playlist).
    #[test]
    fn wpl_smart_playlists_keep_their_query() {
        let wpl = r#"<?wpl version="1.0"?>
<smil>
    <head>
        <meta name="Generator" content="Microsoft Windows Media Player -- 12.0.19041.1"/>
        <meta name="ItemCount" content="0"/>
        <title>Fresh tracks</title>
    </head>
    <body>
        <seq>
            <smartPlaylist version="2.0.0.0">
                <querySet>
                    <query flags="includeOnly" mediaType="audio">
                        <condition field="AcquisitionTime" operator="InTheLast" value="30" />
                    </query>
                </querySet>
            </smartPlaylist>
        </seq>
    </body>
</smil>"#;
        let p = read(wpl.as_bytes()).unwrap();
        assert_eq!((p.format, p.name.as_deref(), p.entries.len(), p.smart), ("wpl", Some("Fresh tracks"), 0, true));
        let q = p.query.unwrap();
        assert!(q.starts_with("<smartPlaylist version=\"2.0.0.0\">") && q.ends_with("</smartPlaylist>"), "{q}");
        assert!(q.contains(r#"<condition field="AcquisitionTime" operator="InTheLast" value="30" />"#), "{q}");
        let plain =
            read(b"<?wpl version=\"1.0\"?><smil><body><seq><media src=\"a.mp3\"/></seq></body></smil>").unwrap();
        assert_eq!((plain.smart, plain.query, plain.entries.len()), (false, None, 1));
    }

    /// A RealPlayer SMIL playlist declared in a CJK encoding is decoded in it (before: as
    /// Windows-1252, 0 entries); `<audio>`, `<video>`, `<ref>` and `<media>` are entries; an
    /// encoding nobody knows is refused with its name.
    #[test]
    fn smil_is_read_in_the_encoding_it_declares() {
        let smil = "<?xml version=\"1.0\" encoding=\"GB2312\"?>\n<smil><head><meta name=\"title\" content=\"x\"/></head>\n<body><seq>\n<audio src=\"音乐/周杰伦 - 晴天.mp3\"/>\n<video src=\"视频/现场.mp4\"/>\n<ref src=\"rtsp://example.com/直播.rm\"/>\n<media src=\"其他.wma\"/>\n</seq></body></smil>\n";
        let (bytes, _, unmappable) = encoding_rs::GBK.encode(smil);
        assert!(!unmappable);
        assert!(std::str::from_utf8(&bytes).is_err(), "the test bytes must not be UTF-8");
        let p = read(&bytes).unwrap();
        assert_eq!((p.format, p.encoding), ("smil", "GBK"));
        let locs: Vec<(&str, &str)> = p.entries.iter().map(|e| (e.location.as_str(), e.kind)).collect();
        assert_eq!(
            locs,
            [
                ("音乐/周杰伦 - 晴天.mp3", "path"),
                ("视频/现场.mp4", "path"),
                ("rtsp://example.com/直播.rm", "url"),
                ("其他.wma", "path")
            ]
        );
        let sjis = encoding_rs::SHIFT_JIS
            .encode("<?xml version='1.0' encoding='Shift_JIS'?><smil><body><audio src='曲/さくら.mp3'/></body></smil>")
            .0;
        assert_eq!(read(&sjis).unwrap().entries[0].location, "曲/さくら.mp3");
        let err = read(b"<?xml version=\"1.0\" encoding=\"x-klingon\"?><smil><body><audio src=\"a\"/></body></smil>")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "not a playlist: it looks like XML declared in the encoding `x-klingon`, which baton does not know"
        );
    }
}
