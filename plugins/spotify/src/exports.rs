//! Reading Spotify exports into one shape, with no host calls (so it is unit-tested natively):
//! Exportify CSVs of both lineages (pavelkomarov and watsonbox, translated headers included)
//! and the account-data JSON files (`Playlist1.json`, `YourLibrary.json`, streaming history).
//!
//! Columns are found by name, never by position, except in a translated watsonbox file, which
//! is recognised by its content (every field quoted, `spotify:track:` URIs in the first or
//! second column, an ISRC-shaped column where the base layout puts it) and then read by the
//! base layout's fixed order. A row that cannot be read is reported by its line; the rest of
//! the file is still read.

use serde_json::Value;

/// The playlist a file without a playlist column and named `Liked_Songs.csv` stands for.
pub const LIKED: &str = "Liked Songs";

/// One track row of an export, whatever its layout.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Row {
    /// 1-based line of the row's start in the file.
    pub line: usize,
    /// `spotify:track:<id>` or `spotify:local:…`; empty for a row known only by its names
    /// (2020 account exports write no URI): the import matches those through the catalog.
    pub uri: String,
    pub title: String,
    pub artists: Vec<String>,
    /// Whether `artists` is split as the export meant it: false where a `,` was taken for a
    /// separator in a file that cannot tell a join from a comma inside a name (pavelkomarov
    /// before July 2025), so a certain split from another file wins over it.
    pub artists_certain: bool,
    /// Artist URIs, parallel to `artists` when the export has them.
    pub artist_uris: Vec<String>,
    pub album: Option<String>,
    pub duration_ms: Option<u64>,
    pub isrc: Option<String>,
    /// When the track was added; None when unknown (no date in the export, or Spotify's
    /// `1970-01-01T00:00:00Z` placeholder).
    pub added_at: Option<String>,
    pub added_by: Option<String>,
    /// The playlist the row belongs to (a `Playlist Name` column, the JSON playlist, or the
    /// file's name).
    pub playlist: String,
}

/// A play-count line of the streaming history.
#[derive(Debug, Clone, PartialEq)]
pub struct Play {
    pub uri: Option<String>,
    pub title: String,
    pub artist: String,
    pub ms_played: u64,
    pub at: String,
}

/// One playlist as one export shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub name: String,
    /// When the export was made, as far as the file tells: the account JSON's
    /// `lastModifiedDate`, else none (the caller uses the file's mtime).
    pub modified: Option<String>,
    pub rows: Vec<Row>,
}

/// A skipped row: its line and why; for the entries of `YourLibrary.json` that are not
/// tracks, one per key of the file (`kind`: `albums`, `shows`, `bannedArtists`, …) with how
/// many entries it holds (`count`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Skip {
    pub line: usize,
    pub reason: String,
    pub kind: Option<String>,
    pub count: Option<usize>,
}

/// What one file held.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Parsed {
    /// The layout recognised (`exportify-pavelkomarov`, `exportify-watsonbox`, …).
    pub layout: String,
    pub playlists: Vec<Snapshot>,
    pub plays: Vec<Play>,
    /// Rows read (imported or not).
    pub rows: usize,
    pub skipped: Vec<Skip>,
    /// Local files a library holds on no playlist (`YourLibrary.json`'s `other`).
    pub local: Vec<Row>,
}

/// Reads one file; `Err` names why it fits none of the known layouts.
pub fn parse_file(name: &str, bytes: &[u8]) -> Result<Parsed, String> {
    let lower = name.to_ascii_lowercase();
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8 text ({e})"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if lower.ends_with(".csv") {
        // Exportify strips from a playlist's name what a file name cannot hold: a name of
        // punctuation only leaves `.csv`, and the file's name is all there is to call it.
        let st = stem(name);
        let st = if st.trim_matches(['_', ' ', '-']).is_empty() {
            name.rsplit('/').next().unwrap_or(name).to_string()
        } else {
            st
        };
        parse_csv(&st, text)
    } else if lower.ends_with(".json") {
        // A file of Spotify's account data that holds no library data is named for what it is
        // when its content is none of the layouts read.
        parse_json(text).map_err(|e| match account_file_not_read(name) {
            Some(what) if is_empty_json(text) => format!("{what} (empty)"),
            Some(what) => what.to_string(),
            None => e,
        })
    } else {
        Err(unrecognised(name).unwrap_or_else(|| "not an export".into()))
    }
}

fn is_empty_json(text: &str) -> bool {
    matches!(serde_json::from_str::<Value>(text), Ok(Value::Array(a)) if a.is_empty())
        || matches!(serde_json::from_str::<Value>(text), Ok(Value::Object(o)) if o.is_empty() || o.values().all(|v| v.as_array().is_some_and(Vec::is_empty)))
}

/// Why a file is no export by its name alone (so it need not be read): every layout is a
/// `.csv` (Exportify) or a `.json` (Spotify's account data). None for those two.
pub fn unrecognised(name: &str) -> Option<String> {
    let base = name.rsplit('/').next().unwrap_or(name);
    let lower = base.to_ascii_lowercase();
    if lower.ends_with(".csv") || lower.ends_with(".json") {
        return None;
    }
    Some(match base.rsplit_once('.').filter(|(s, _)| !s.is_empty()) {
        Some((_, ext)) => format!(
            "not an export: a .{ext} file fits no layout (Exportify writes .csv files, Spotify's account data .json files)"
        ),
        None => "not an export: no .csv or .json extension, so it fits no layout (Exportify writes .csv files, Spotify's account data .json files)".into(),
    })
}

fn stem(name: &str) -> String {
    let base = name.rsplit('/').next().unwrap_or(name);
    base.rsplit_once('.').map(|(s, _)| s).unwrap_or(base).to_string()
}

/// Whether a file a folder walk finds is read: dotfiles are not (editor and sync leftovers such
/// as `._Road_Trip.csv`), except a file named only `.csv` or `.json`, which Exportify writes for
/// a playlist whose name is all punctuation.
pub fn walked(name: &str) -> bool {
    !name.starts_with('.') || name.eq_ignore_ascii_case(".csv") || name.eq_ignore_ascii_case(".json")
}

/// The playlist a CSV named `stem` stands for: Exportify writes the playlist's name with `_`
/// for spaces; a name that means Liked Songs ([`means_liked`]) is Liked Songs.
pub fn playlist_from_stem(stem: &str) -> String {
    let name = stem.replace('_', " ").trim().to_string();
    if means_liked(&name) { LIKED.into() } else { name }
}

/// Whether a playlist or file name means Liked Songs, whatever its case and punctuation:
/// `Liked_Songs` (pavelkomarov), `liked` (watsonbox), `Liked-songs`, `liked songs (1)`,
/// `Your Liked Songs`, `Liked Tracks`.
pub fn means_liked(name: &str) -> bool {
    let folded = baton_normalize::fold(name);
    let words: Vec<&str> = folded.split(' ').filter(|w| !w.is_empty()).collect();
    // A copy's number at the end ("liked songs 2", "liked songs (1)") is the same list.
    let words = match words.split_last() {
        Some((last, rest)) if !rest.is_empty() && last.bytes().all(|b| b.is_ascii_digit()) => rest,
        _ => &words[..],
    };
    let words = words.strip_prefix(&["your"]).or_else(|| words.strip_prefix(&["my"])).unwrap_or(words);
    matches!(words, ["liked"] | ["liked", "songs" | "song" | "tracks" | "music"] | ["likedsongs"])
}

/// What a file whose name says nothing (no `.csv` or `.json`) holds, by its content: an
/// Exportify CSV (its header names its columns) or account-data JSON, read as such; None when
/// the content is neither.
pub fn parse_by_content(name: &str, bytes: &[u8]) -> Option<Result<Parsed, String>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let start = text.trim_start();
    if start.starts_with('{') || start.starts_with('[') {
        return parse_json(text).ok().map(Ok);
    }
    // A CSV header of several columns: the layouts decide (a translated watsonbox header too).
    let header = start.lines().next().unwrap_or("");
    if header.split([',', ';', '\t']).count() < 3 {
        return None;
    }
    let st = stem(name);
    let st = if st.trim_matches(['_', ' ', '-']).is_empty() {
        name.rsplit('/').next().unwrap_or(name).to_string()
    } else {
        st
    };
    parse_csv(&st, text).ok().map(Ok)
}

/// One CSV record: its fields, its first line and whether every field was quoted.
struct Record {
    line: usize,
    fields: Vec<String>,
    all_quoted: bool,
}

/// RFC 4180 records: `"` quotes (doubled inside), fields may span lines, CRLF or LF.
fn records(text: &str) -> Vec<Record> {
    let mut out = Vec::new();
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted_field = false;
    let mut all_quoted = true;
    let mut in_quotes = false;
    let mut line = 1;
    let mut start = 1;
    let mut chars = text.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => in_quotes = false,
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.trim().is_empty() && !quoted_field => {
                field.clear();
                in_quotes = true;
                quoted_field = true;
                any = true;
            }
            ',' => {
                all_quoted &= quoted_field;
                fields.push(std::mem::take(&mut field));
                quoted_field = false;
                any = true;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                if any || !field.is_empty() {
                    all_quoted &= quoted_field;
                    fields.push(std::mem::take(&mut field));
                    out.push(Record { line: start, fields: std::mem::take(&mut fields), all_quoted });
                }
                field.clear();
                quoted_field = false;
                all_quoted = true;
                any = false;
                line += 1;
                start = line;
            }
            _ => {
                field.push(c);
                any = true;
            }
        }
    }
    if any || !field.is_empty() {
        all_quoted &= quoted_field;
        fields.push(field);
        out.push(Record { line: start, fields, all_quoted });
    }
    out
}

/// A header cell as compared: stray tabs, spaces and case removed.
fn norm_header(h: &str) -> String {
    h.chars().filter(|c| !c.is_whitespace() && *c != '\u{feff}').collect::<String>().to_lowercase()
}

/// Column indexes of the fields baton reads.
#[derive(Debug, Default, Clone)]
struct Columns {
    uri: Option<usize>,
    bare_id: Option<usize>,
    title: Option<usize>,
    artists: Option<usize>,
    artist_uris: Option<usize>,
    album: Option<usize>,
    duration: Option<usize>,
    isrc: Option<usize>,
    added_at: Option<usize>,
    added_by: Option<usize>,
    playlist: Option<usize>,
}

fn find(headers: &[String], names: &[&str]) -> Option<usize> {
    names.iter().find_map(|n| headers.iter().position(|h| h == &norm_header(n)))
}

/// An ISRC in any spelling (`GB-SMU-14-29088` too), as the catalog normalises it.
fn is_isrc(s: &str) -> bool {
    baton_normalize::isrc(s).is_some()
}

/// Spotify writes `1970-01-01T00:00:00Z` as the added date of the tracks of playlists it made
/// (Daily Mix, Your Top Songs): a placeholder, not a date.
pub fn real_date(s: &str) -> Option<&str> {
    let s = s.trim();
    (!s.is_empty() && !s.starts_with("1970-01-01T00:00:00") && s != "1970-01-01").then_some(s)
}

fn is_track_uri(s: &str) -> bool {
    s.starts_with("spotify:track:") || s.starts_with("spotify:local:")
}

/// Offsets of watsonbox's base columns, from `Track URI`.
const W_TITLE: usize = 1;
const W_ARTIST_URIS: usize = 2;
const W_ARTISTS: usize = 3;
const W_ALBUM: usize = 5;
const W_DURATION: usize = 12;
const W_ISRC: usize = 16;
const W_ADDED_BY: usize = 17;
const W_ADDED_AT: usize = 18;

/// Recognises a translated watsonbox file by content: all fields quoted, track URIs in
/// column 0 or 1 and an ISRC-shaped value where the base layout puts the ISRC.
fn translated(header: &Record, body: &[Record]) -> Option<Columns> {
    if !header.all_quoted {
        return None;
    }
    // A header-only file (an empty playlist): watsonbox's base layout, every field quoted,
    // its untranslated `ISRC` column where the layout puts it.
    if body.iter().all(|r| r.fields.iter().all(|f| f.trim().is_empty())) {
        let off = (0..2).find(|&o| header.fields.get(o + W_ISRC).is_some_and(|f| norm_header(f) == "isrc"))?;
        return (header.fields.len() > off + W_ADDED_AT).then(|| Columns {
            uri: Some(off),
            title: Some(off + W_TITLE),
            playlist: (off == 1).then_some(0),
            ..Columns::default()
        });
    }
    let sample: Vec<&Record> = body.iter().filter(|r| r.fields.len() > 1).take(50).collect();
    for off in 0..2 {
        let uris = sample.iter().filter(|r| r.fields.get(off).is_some_and(|f| is_track_uri(f))).count();
        let isrcs = sample.iter().filter(|r| r.fields.get(off + W_ISRC).is_some_and(|f| is_isrc(f))).count();
        let quoted = sample.iter().filter(|r| r.all_quoted).count();
        if uris * 2 > sample.len() && isrcs > 0 && quoted * 2 > sample.len() && header.fields.len() > off + W_ADDED_AT {
            return Some(Columns {
                uri: Some(off),
                title: Some(off + W_TITLE),
                artists: Some(off + W_ARTISTS),
                artist_uris: Some(off + W_ARTIST_URIS),
                album: Some(off + W_ALBUM),
                duration: Some(off + W_DURATION),
                isrc: Some(off + W_ISRC),
                added_by: Some(off + W_ADDED_BY),
                added_at: Some(off + W_ADDED_AT),
                playlist: (off == 1).then_some(0),
                ..Columns::default()
            });
        }
    }
    None
}

/// Reads one Exportify CSV; `stem` (the file name without `.csv`) names the playlist when the
/// file has no playlist column.
pub fn parse_csv(stem: &str, text: &str) -> Result<Parsed, String> {
    let recs = records(text);
    let Some((header, body)) = recs.split_first() else {
        return Err("an empty CSV file (no header row)".into());
    };
    let (c, layout) = csv_layout(header, body)?;
    // Artist names: watsonbox joins with ", " and escapes "\,"; pavelkomarov, see
    // `split_artists`.
    let watsonbox = layout.starts_with("exportify-watsonbox");
    // pavelkomarov joined artists with "," before July 2025 and with ";" since: a file with a
    // ";" in any artist field is of the ";" era, where a "," is always inside a name.
    let semicolon_era =
        !watsonbox && body.iter().any(|r| c.artists.and_then(|i| r.fields.get(i)).is_some_and(|f| f.contains(';')));
    let read = CsvRead { c: &c, width: header.fields.len(), watsonbox, semicolon_era };
    let default_playlist = playlist_from_stem(stem);
    let mut out = Parsed { layout: layout.into(), ..Parsed::default() };
    let mut order: Vec<String> = Vec::new();
    let mut by_name: std::collections::HashMap<String, Vec<Row>> = std::collections::HashMap::new();
    for r in body {
        if r.fields.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        out.rows += 1;
        match read.row(r, &default_playlist) {
            Ok(row) => {
                if !by_name.contains_key(&row.playlist) {
                    order.push(row.playlist.clone());
                }
                by_name.entry(row.playlist.clone()).or_default().push(row);
            }
            Err(skip) => out.skipped.push(skip),
        }
    }
    for name in order {
        let rows = by_name.remove(&name).unwrap_or_default();
        out.playlists.push(Snapshot { name, modified: None, rows });
    }
    if out.playlists.is_empty() && out.skipped.is_empty() {
        out.playlists.push(Snapshot { name: default_playlist, modified: None, rows: Vec::new() });
    }
    Ok(out)
}

/// Which Exportify layout a CSV is, by its header (else, for a translated watsonbox file, by
/// its content), and where its columns are.
fn csv_layout(header: &Record, body: &[Record]) -> Result<(Columns, &'static str), String> {
    let h: Vec<String> = header.fields.iter().map(|f| norm_header(f)).collect();
    let c = Columns {
        uri: find(&h, &["Track URI", "Spotify URI"]),
        bare_id: find(&h, &["Spotify ID", "Track ID"]),
        title: find(&h, &["Track Name", "Name", "Title"]),
        artists: find(&h, &["Artist Name(s)", "Artist Names", "Artist Name", "Artist(s)"]),
        artist_uris: find(&h, &["Artist URI(s)", "Artist IDs", "Artist ID(s)"]),
        album: find(&h, &["Album Name"]),
        duration: find(&h, &["Track Duration (ms)", "Duration (ms)", "Duration_ms"]),
        isrc: find(&h, &["ISRC"]),
        added_at: find(&h, &["Added At"]),
        added_by: find(&h, &["Added By"]),
        playlist: find(&h, &["Playlist Name"]),
    };
    let watsonbox_named = find(&h, &["Track Duration (ms)", "Album Artist Name(s)", "Artist URI(s)"]).is_some();
    let layout = if c.uri.is_some() && c.title.is_some() {
        if watsonbox_named { "exportify-watsonbox" } else { "exportify-pavelkomarov" }
    } else if c.bare_id.is_some() && c.title.is_some() {
        if find(&h, &["Spotify ID"]).is_some() { "exportify-pavelkomarov-spotify-id" } else { "exportify-track-id" }
    } else if let Some(t) = translated(header, body) {
        return Ok((t, "exportify-watsonbox-translated"));
    } else {
        return Err(format!(
            "not an Exportify CSV: no `Track URI`/`Spotify ID`/`Track ID` and `Track Name` columns in the header ({} columns), and not a translated watsonbox file (quoted fields, spotify:track: URIs in column 1 or 2, an ISRC column)",
            header.fields.len()
        ));
    };
    Ok((c, layout))
}

/// How the rows of one CSV are read: its columns, its header's width (a shorter row is named
/// as short when a field is missing), and how its artist fields are joined.
struct CsvRead<'a> {
    c: &'a Columns,
    width: usize,
    watsonbox: bool,
    semicolon_era: bool,
}

impl CsvRead<'_> {
    /// One row as a track on a playlist (the file's own, `default_playlist`, unless a column
    /// names one), or why it is skipped.
    fn row(&self, r: &Record, default_playlist: &str) -> Result<Row, Skip> {
        let CsvRead { c, width, watsonbox, semicolon_era } = *self;
        let get = |i: Option<usize>| i.and_then(|i| r.fields.get(i)).map(|s| s.trim()).filter(|s| !s.is_empty());
        let uri = match (get(c.uri), get(c.bare_id)) {
            (Some(u), _) => u.to_string(),
            (None, Some(id)) if id.starts_with("spotify:") => id.to_string(),
            (None, Some(id)) => format!("spotify:track:{id}"),
            (None, None) => {
                let reason = if r.fields.len() < width {
                    format!("short row: {} of {} fields, no track URI", r.fields.len(), width)
                } else {
                    "no track URI".to_string()
                };
                return Err(Skip { kind: None, count: None, line: r.line, reason });
            }
        };
        if !is_track_uri(&uri) {
            let reason = if uri.starts_with("spotify:episode:") {
                format!("a podcast episode ({uri}), not a track")
            } else {
                format!("`{uri}` is not a spotify:track: or spotify:local: URI")
            };
            return Err(Skip { kind: None, count: None, line: r.line, reason });
        }
        let local = uri.starts_with("spotify:local:").then(|| local_parts(&uri));
        let title = match get(c.title).map(str::to_string).or_else(|| local.as_ref().map(|l| l.2.clone())) {
            Some(t) if !t.is_empty() => t,
            // A track Spotify no longer names (brianhuster's `樂舒簡.csv` has two): its URI is
            // still a membership, kept with an empty title.
            _ if c.title.is_some_and(|i| i < r.fields.len()) => String::new(),
            _ => {
                let reason = if r.fields.len() < width {
                    format!("short row: {} of {} fields, no track name", r.fields.len(), width)
                } else {
                    "no track name".to_string()
                };
                return Err(Skip { kind: None, count: None, line: r.line, reason });
            }
        };
        // The artist IDs, when the file has them, count the artists: one ID is one name,
        // commas and all; as many names as IDs is a split to trust.
        let ids = get(c.artist_uris).map(|a| a.split([',', ';']).filter(|s| !s.trim().is_empty()).count());
        let (mut artists, mut artists_certain) = match get(c.artists) {
            Some(a) if ids == Some(1) && !watsonbox => (vec![a.to_string()], true),
            Some(a) => split_artists(a, watsonbox, semicolon_era),
            None => (Vec::new(), true),
        };
        if !artists_certain && ids == Some(artists.len()) {
            artists_certain = true;
        }
        if artists.is_empty()
            && let Some(l) = &local
            && !l.0.is_empty()
        {
            artists.push(l.0.clone());
        }
        let artist_uris: Vec<String> = get(c.artist_uris)
            .map(|a| {
                a.split([',', ';'])
                    .map(|s| s.trim())
                    .filter(|s| !s.is_empty())
                    .map(|s| if s.starts_with("spotify:") { s.to_string() } else { format!("spotify:artist:{s}") })
                    .collect()
            })
            .unwrap_or_default();
        let duration_ms = get(c.duration)
            .and_then(|d| d.parse::<f64>().ok())
            .filter(|d| *d >= 0.0)
            .map(|d| d.round() as u64)
            .or_else(|| local.as_ref().and_then(|l| l.3).map(|s| s * 1000));
        let playlist = get(c.playlist)
            .map(|p| if means_liked(p) { LIKED.to_string() } else { p.to_string() })
            .unwrap_or_else(|| default_playlist.to_string());
        let row = Row {
            line: r.line,
            uri,
            title,
            artist_uris: if artist_uris.len() == artists.len() { artist_uris } else { Vec::new() },
            artists,
            artists_certain,
            album: get(c.album)
                .map(str::to_string)
                .or_else(|| local.as_ref().map(|l| l.1.clone()).filter(|a| !a.is_empty())),
            duration_ms,
            isrc: get(c.isrc).and_then(baton_normalize::isrc),
            added_at: get(c.added_at).and_then(real_date).map(str::to_string),
            added_by: get(c.added_by).map(str::to_string),
            playlist,
        };
        Ok(row)
    }
}

/// Splits an artist field, and says whether the split is certain. watsonbox: `, ` separates,
/// `\,` is a comma inside a name (certain). pavelkomarov (exportify.js) joined names with ","
/// until July 2025 (with commas kept in names from April to May and in July, dropped between)
/// and with ";" since (";" dropped from names). So in a file of the ";" era (`semicolon_era`:
/// a ";" in any of its artist fields) only ";" separates (certain). Otherwise a "," separates
/// only when no space follows it: the join never had one, and a comma inside a name mostly
/// does ("Earth, Wind & Fire"), but not always ("KITAKORE(cv. Daisuke Ono,Daisuke Kishio)"):
/// such a split is uncertain.
fn split_artists(field: &str, watsonbox: bool, semicolon_era: bool) -> (Vec<String>, bool) {
    let mut out = Vec::new();
    let mut certain = true;
    if watsonbox {
        let mut cur = String::new();
        let mut chars = field.chars().peekable();
        while let Some(ch) = chars.next() {
            match ch {
                '\\' if chars.peek() == Some(&',') => {
                    chars.next();
                    cur.push(',');
                }
                ',' => out.push(std::mem::take(&mut cur)),
                _ => cur.push(ch),
            }
        }
        out.push(cur);
    } else if semicolon_era || field.contains(';') {
        out = field.split(';').map(str::to_string).collect();
    } else {
        let mut cur = String::new();
        let mut chars = field.chars().peekable();
        while let Some(ch) = chars.next() {
            if ch == ',' && chars.peek() != Some(&' ') {
                certain = false;
                out.push(std::mem::take(&mut cur));
            } else {
                cur.push(ch);
            }
        }
        out.push(cur);
    }
    (out.into_iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect(), certain)
}

/// `spotify:local:<artist>:<album>:<title>:<seconds>` (form-encoded) → its parts.
pub fn local_parts(uri: &str) -> (String, String, String, Option<u64>) {
    let rest = uri.strip_prefix("spotify:local:").unwrap_or(uri);
    let parts: Vec<&str> = rest.splitn(4, ':').collect();
    let dec =
        |i: usize| parts.get(i).map(|s| baton_normalize::percent_decode(&s.replace('+', " "))).unwrap_or_default();
    let secs = parts.get(3).and_then(|s| s.parse::<u64>().ok());
    (dec(0), dec(1), dec(2), secs)
}

fn str_of<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a str> {
    keys.iter().find_map(|k| v.get(*k).and_then(Value::as_str)).map(str::trim).filter(|s| !s.is_empty())
}

/// Reads one account-data JSON file: `Playlist*.json`, `YourLibrary.json`,
/// `StreamingHistory_music_*.json` or `Streaming_History_Audio_*.json`, recognised by content.
pub fn parse_json(text: &str) -> Result<Parsed, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    if let Some(pls) = v.get("playlists").and_then(Value::as_array) {
        return Ok(account_playlists(pls));
    }
    if let Some(tracks) = v.get("tracks").and_then(Value::as_array) {
        let mut out = library_tracks(tracks);
        library_locals(v.get("other"), &mut out);
        library_not_tracks(&v, &mut out);
        return Ok(out);
    }
    if let Some(items) = v.as_array() {
        let first = items.first();
        let extended = first.is_some_and(|f| f.get("ts").is_some() && f.get("ms_played").is_some());
        let simple = first.is_some_and(|f| f.get("endTime").is_some() && f.get("msPlayed").is_some());
        if extended || simple {
            return Ok(streaming_history(items, extended));
        }
        return Err(
            "a JSON array, but not streaming history (no `ts`/`ms_played` or `endTime`/`msPlayed` records)".into()
        );
    }
    Err("JSON, but none of the account-data layouts: no `playlists` (Playlist1.json), `tracks` (YourLibrary.json) or streaming-history array".into())
}

/// `Playlist1.json`: each playlist's name, last change and items.
fn account_playlists(pls: &[Value]) -> Parsed {
    let mut out = Parsed { layout: "spotify-account-playlists".into(), ..Parsed::default() };
    for (pi, p) in pls.iter().enumerate() {
        let Some(name) = str_of(p, &["name", "playlistName", "title"]) else {
            out.skipped.push(Skip {
                kind: None,
                count: None,
                line: pi + 1,
                reason: format!("playlist #{} has no name", pi + 1),
            });
            continue;
        };
        let modified = str_of(p, &["lastModifiedDate", "last_modified", "lastModified"]).map(str::to_string);
        let items = p.get("items").or_else(|| p.get("tracks")).and_then(Value::as_array).cloned().unwrap_or_default();
        let rows = playlist_items(name, &items, &mut out);
        out.playlists.push(Snapshot { name: name.to_string(), modified, rows });
    }
    out
}

/// The items of one playlist of `Playlist1.json` as rows: tracks by URI, local files read
/// from theirs, tracks known by their names only (2020 exports); episodes, audiobooks and
/// items with neither URI nor name are listed as skipped.
fn playlist_items(name: &str, items: &[Value], out: &mut Parsed) -> Vec<Row> {
    let mut rows = Vec::new();
    for (ii, item) in items.iter().enumerate() {
        out.rows += 1;
        let t = item
            .get("track")
            .filter(|t| t.is_object())
            .or_else(|| item.get("localTrack").filter(|t| t.is_object()))
            .unwrap_or(item);
        let uri = str_of(t, &["trackUri", "uri", "track_uri", "spotify_track_uri"]);
        // A local file (`localTrack`) carries only its URI,
        // `spotify:local:<artist>:<album>:<title>:<seconds>`: the rest is read from it,
        // as for a local-file row of a CSV.
        let local = uri.filter(|u| u.starts_with("spotify:local:")).map(local_parts);
        let from_local = |i: usize| local.as_ref().map(|l| [&l.0, &l.1, &l.2][i].clone()).filter(|s| !s.is_empty());
        let title = str_of(t, &["trackName", "name", "track", "title"]).map(str::to_string).or_else(|| from_local(2));
        let line = ii + 1;
        let artist = str_of(t, &["artistName", "artist", "artists"]).map(str::to_string).or_else(|| from_local(0));
        let row = |uri: &str, title: String| Row {
            line,
            uri: uri.to_string(),
            title,
            artists: artist.clone().into_iter().collect(),
            artists_certain: true,
            album: str_of(t, &["albumName", "album"]).map(str::to_string).or_else(|| from_local(1)),
            duration_ms: local.as_ref().and_then(|l| l.3).map(|s| s * 1000),
            // 2020 and 2022 exports have no addedDate: unknown, never the import's time.
            added_at: str_of(item, &["addedDate", "added_at", "addedAt", "dateAdded"])
                .and_then(real_date)
                .map(str::to_string),
            playlist: name.to_string(),
            ..Row::default()
        };
        let other_kind = ["episode", "audiobook"].into_iter().find(|k| item.get(*k).is_some_and(Value::is_object));
        match (uri, title) {
            (Some(u), Some(title)) if is_track_uri(u) => rows.push(row(u, title)),
            _ if other_kind.is_some() => out.skipped.push(Skip {
                kind: None,
                count: None,
                line,
                reason: match other_kind {
                    Some("episode") => format!("playlist `{name}` item {line}: a podcast episode, not a track"),
                    _ => format!("playlist `{name}` item {line}: an audiobook, not a track"),
                },
            }),
            // 2020 exports: a track known by its names only, matched by the import.
            (None, Some(title)) if artist.is_some() => rows.push(row("", title)),
            (Some(u), Some(_)) => out.skipped.push(Skip {
                kind: None,
                count: None,
                line,
                reason: format!("playlist `{name}` item {line}: `{u}` is not a track URI"),
            }),
            _ => out.skipped.push(Skip {
                kind: None,
                count: None,
                line,
                reason: format!("playlist `{name}` item {line}: no track URI or name"),
            }),
        }
    }
    rows
}

/// `YourLibrary.json`'s `tracks`: the Liked Songs.
fn library_tracks(tracks: &[Value]) -> Parsed {
    let mut out = Parsed { layout: "spotify-account-library".into(), ..Parsed::default() };
    let mut rows = Vec::new();
    for (i, t) in tracks.iter().enumerate() {
        out.rows += 1;
        let artist = str_of(t, &["artist", "artistName"]);
        let row = |uri: &str, title: &str| Row {
            line: i + 1,
            uri: uri.to_string(),
            title: title.to_string(),
            artists: artist.map(|a| vec![a.to_string()]).unwrap_or_default(),
            artists_certain: true,
            album: str_of(t, &["album", "albumName"]).map(str::to_string),
            playlist: LIKED.into(),
            ..Row::default()
        };
        match (str_of(t, &["uri", "trackUri"]), str_of(t, &["track", "trackName", "name"])) {
            (Some(u), Some(title)) if is_track_uri(u) => rows.push(row(u, title)),
            // 2020 exports: no `uri`; the names are matched by the import.
            (None, Some(title)) if artist.is_some() => rows.push(row("", title)),
            _ => out.skipped.push(Skip {
                kind: None,
                count: None,
                line: i + 1,
                reason: format!("library track {}: no track URI or name", i + 1),
            }),
        }
    }
    out.playlists.push(Snapshot { name: LIKED.into(), modified: None, rows });
    out
}

/// Local files the library holds (`other`: `spotify:local:…` URIs, as strings or as objects
/// with a `uri`): tracks read from their URI, on no playlist; anything else there is listed as
/// skipped.
fn library_locals(other: Option<&Value>, out: &mut Parsed) {
    let (mut not_local, mut first) = (0usize, None::<String>);
    for (i, o) in other.and_then(Value::as_array).into_iter().flatten().enumerate() {
        let uri = o.as_str().or_else(|| str_of(o, &["uri", "trackUri"]));
        match uri.filter(|u| u.starts_with("spotify:local:")) {
            Some(u) => {
                let (artist, album, title, secs) = local_parts(u);
                out.rows += 1;
                out.local.push(Row {
                    line: i + 1,
                    uri: u.to_string(),
                    title,
                    artists: Some(artist).filter(|a| !a.is_empty()).into_iter().collect(),
                    artists_certain: true,
                    album: Some(album).filter(|a| !a.is_empty()),
                    duration_ms: secs.map(|s| s * 1000),
                    ..Row::default()
                });
            }
            None => {
                not_local += 1;
                first.get_or_insert_with(|| o.to_string().chars().take(80).collect::<String>());
            }
        }
    }
    if not_local > 0 {
        out.skipped.push(Skip {
            line: 0,
            reason: format!(
                "`other`: {not_local} entries that are not local-file URIs, not read (first: {})",
                first.unwrap_or_default()
            ),
            kind: Some("other".into()),
            count: Some(not_local),
        });
    }
}

/// What each key of `YourLibrary.json` other than `tracks` and `other` holds, in words.
const LIBRARY_KINDS: &[(&str, &str)] = &[
    ("albums", "saved albums"),
    ("shows", "followed podcast shows"),
    ("episodes", "saved podcast episodes"),
    ("artists", "followed artists"),
    ("bannedTracks", "tracks hidden from recommendations"),
    ("bannedArtists", "artists hidden from recommendations"),
];

/// The entries of `YourLibrary.json` that are not tracks: one skip per key (`albums`,
/// `shows`, `episodes`, `artists`, `bannedTracks`, `bannedArtists`, and any other list the
/// file holds), with its count, so none is dropped without a word.
fn library_not_tracks(v: &Value, out: &mut Parsed) {
    let Some(obj) = v.as_object() else { return };
    for (key, list) in obj {
        let Some(n) = list.as_array().map(Vec::len).filter(|n| *n > 0) else { continue };
        if key == "tracks" || key == "other" {
            continue;
        }
        let what = LIBRARY_KINDS.iter().find(|(k, _)| k == key).map(|(_, w)| *w).unwrap_or("entries");
        out.skipped.push(Skip {
            line: 0,
            reason: format!("`{key}`: {n} {what}, not tracks: not read"),
            kind: Some(key.clone()),
            count: Some(n),
        });
    }
}

/// What a Spotify account-data file that holds no library data is, by its name (`Wrapped2024.json`,
/// `YourSoundCapsule.json`, …), or None for a name Spotify's data does not use.
pub fn account_file_not_read(name: &str) -> Option<&'static str> {
    let base = name.rsplit('/').next().unwrap_or(name).to_ascii_lowercase();
    let stem = base.strip_suffix(".json")?;
    let named: &[(&str, &str)] = &[
        ("wrapped", "Spotify Wrapped summary, not library data"),
        ("yoursoundcapsule", "Spotify Sound Capsule listening summary, not library data"),
        ("soundcapsule", "Spotify Sound Capsule listening summary, not library data"),
        ("marquee", "Marquee (artists' campaign audiences), not library data"),
        ("searchqueries", "search queries, not library data"),
        ("follow", "followers and following, not library data"),
        ("identifiers", "account identifiers, not library data"),
        ("identity", "account identity, not library data"),
        ("inferences", "advertising inferences, not library data"),
        ("payments", "payment details, not library data"),
        ("userdata", "account details, not library data"),
        ("customerservicehistory", "customer service history, not library data"),
        ("playlistinabottle", "Playlist in a Bottle, not library data"),
        ("duonewfamily", "Duo or Family plan details, not library data"),
    ];
    let folded: String = stem.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    if folded.contains("assistant") || folded.contains("conversation") {
        return Some("assistant conversation log, not library data");
    }
    named.iter().find(|(k, _)| folded.starts_with(k)).map(|(_, what)| *what)
}

/// Streaming history, the extended (`ts`, `ms_played`) or the simple (`endTime`, `msPlayed`)
/// layout: each stream of a music track is a play.
fn streaming_history(items: &[Value], extended: bool) -> Parsed {
    let mut out = Parsed {
        layout: if extended { "spotify-extended-streaming-history" } else { "spotify-streaming-history" }.into(),
        ..Parsed::default()
    };
    for (i, it) in items.iter().enumerate() {
        out.rows += 1;
        let (title, artist, ms, at, uri) = if extended {
            (
                str_of(it, &["master_metadata_track_name"]),
                str_of(it, &["master_metadata_album_artist_name"]),
                it.get("ms_played").and_then(Value::as_u64),
                str_of(it, &["ts"]),
                str_of(it, &["spotify_track_uri"]),
            )
        } else {
            (
                str_of(it, &["trackName"]),
                str_of(it, &["artistName"]),
                it.get("msPlayed").and_then(Value::as_u64),
                str_of(it, &["endTime"]),
                None,
            )
        };
        match (title, artist, ms, at) {
            (Some(t), Some(a), Some(ms), Some(at)) => out.plays.push(Play {
                uri: uri.map(str::to_string),
                title: t.to_string(),
                artist: a.to_string(),
                ms_played: ms,
                at: at.to_string(),
            }),
            // podcast and audiobook streams carry no track name
            _ => out.skipped.push(Skip {
                kind: None,
                count: None,
                line: i + 1,
                reason: format!("stream {}: not a music track (no track name, artist or time)", i + 1),
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_handle_quotes_crlf_and_multiline() {
        let r = records("a,\"b,c\",\"d\"\"e\"\r\n\"x\ny\",z\n\n");
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].fields, vec!["a", "b,c", "d\"e"]);
        assert!(!r[0].all_quoted);
        assert_eq!(r[1].fields, vec!["x\ny", "z"]);
        assert_eq!(r[1].line, 2);
    }

    #[test]
    fn pavelkomarov_with_bom_tabs_semicolons_and_short_rows() {
        let text = "\u{feff}Track URI,Track Name\t,Album Name,Artist Name(s),Release Date,Duration (ms),Popularity,Explicit,Added By,Added At\n\
            spotify:track:4uLU6hMCjMI75M1A2tKUQC,Never Gonna Give You Up,Whenever You Need Somebody,Rick Astley,1987-11-12,213573,80,false,spotify:user:abc,2021-03-01T10:00:00Z\n\
            spotify:track:1111111111111111111111,\"Song, With Comma\",Album,Artist A;Artist B,2020,200000,1,false,u,2021-03-02T10:00:00Z\n\
            spotify:local:Some+Artist:Some+Album:Local+Song:245,Local Song,,,,,,,,2021-03-03T10:00:00Z\n\
            spotify:track:2222222222222222222222\n\
            ,broken\n";
        let p = parse_csv("my_playlist", text).unwrap();
        assert_eq!(p.layout, "exportify-pavelkomarov");
        assert_eq!(p.rows, 5);
        assert_eq!(
            p.skipped,
            vec![
                Skip { kind: None, count: None, line: 5, reason: "short row: 1 of 10 fields, no track name".into() },
                Skip { kind: None, count: None, line: 6, reason: "short row: 2 of 10 fields, no track URI".into() }
            ]
        );
        let rows = &p.playlists[0].rows;
        assert_eq!(p.playlists[0].name, "my playlist");
        assert_eq!(rows[1].artists, vec!["Artist A", "Artist B"]);
        assert_eq!(rows[1].title, "Song, With Comma");
        assert_eq!(rows[0].duration_ms, Some(213573));
        assert_eq!(rows[2].artists, vec!["Some Artist"]);
        assert_eq!(rows[2].duration_ms, Some(245000));
        assert_eq!(rows[2].album.as_deref(), Some("Some Album"));
    }

    #[test]
    fn watsonbox_escaped_commas_and_playlist_column() {
        let text = "\"Playlist Name\",\"Track URI\",\"Track Name\",\"Artist URI(s)\",\"Artist Name(s)\",\"Album URI\",\"Album Name\",\"Album Artist URI(s)\",\"Album Artist Name(s)\",\"Album Release Date\",\"Album Image URL\",\"Disc Number\",\"Track Number\",\"Track Duration (ms)\",\"Track Preview URL\",\"Explicit\",\"Popularity\",\"ISRC\",\"Added By\",\"Added At\",\"Artist Genres\"\n\
            \"Road Trip\",\"spotify:track:3333333333333333333333\",\"Hello\",\"spotify:artist:a1,spotify:artist:a2\",\"Tyler\\, The Creator, Kali Uchis\",\"spotify:album:x\",\"Flower Boy\",\"\",\"\",\"2017\",\"\",\"1\",\"2\",\"180000\",\"\",\"false\",\"50\",\"usum71703085\",\"spotify:user:me\",\"2022-01-01T00:00:00Z\",\"hip hop\"\n";
        let p = parse_csv("whatever", text).unwrap();
        assert_eq!(p.layout, "exportify-watsonbox");
        let r = &p.playlists[0].rows[0];
        assert_eq!(p.playlists[0].name, "Road Trip");
        assert_eq!(r.artists, vec!["Tyler, The Creator", "Kali Uchis"]);
        assert_eq!(r.artist_uris, vec!["spotify:artist:a1", "spotify:artist:a2"]);
        assert_eq!(r.isrc.as_deref(), Some("USUM71703085"));
        assert_eq!(r.duration_ms, Some(180000));
    }

    #[test]
    fn translated_watsonbox_is_recognised_by_content() {
        let text = "\"Nombre de la lista\",\"URI de la canción\",\"Nombre\",\"URI del artista\",\"Artista\",\"URI del álbum\",\"Álbum\",\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"Duración (ms)\",\"g\",\"h\",\"i\",\"ISRC\",\"Añadido por\",\"Añadido el\"\n\
            \"Fiesta\",\"spotify:track:4444444444444444444444\",\"Canción\",\"spotify:artist:b\",\"Artista Uno\",\"spotify:album:y\",\"Disco\",\"\",\"\",\"2019\",\"\",\"1\",\"1\",\"201000\",\"\",\"false\",\"3\",\"ESA011900001\",\"spotify:user:yo\",\"2023-05-05T05:05:05Z\"\n";
        let p = parse_csv("x", text).unwrap();
        assert_eq!(p.layout, "exportify-watsonbox-translated");
        let r = &p.playlists[0].rows[0];
        assert_eq!(p.playlists[0].name, "Fiesta");
        assert_eq!(
            (r.title.as_str(), r.duration_ms, r.isrc.as_deref()),
            ("Canción", Some(201000), Some("ESA011900001"))
        );
        assert_eq!(r.added_at.as_deref(), Some("2023-05-05T05:05:05Z"));
    }

    #[test]
    fn older_headers_and_unknown_files() {
        let p = parse_csv("Liked_Songs", "Spotify ID,Artist IDs,Track Name,Album Name,Artist Name(s),Release Date,Duration (ms),Popularity,Added By,Added At\n5555555555555555555555,a,T,A,X,2000,1000,1,u,2020-01-01T00:00:00Z\n").unwrap();
        assert_eq!(p.layout, "exportify-pavelkomarov-spotify-id");
        assert_eq!(p.playlists[0].name, LIKED);
        assert_eq!(p.playlists[0].rows[0].uri, "spotify:track:5555555555555555555555");
        assert!(parse_csv("x", "a,b,c\n1,2,3\n").unwrap_err().contains("not an Exportify CSV"));
        assert!(parse_json("{\"x\": 1}").unwrap_err().contains("none of the account-data layouts"));
    }

    #[test]
    fn account_json() {
        let p = parse_json(r#"{"playlists":[{"name":"Gym","lastModifiedDate":"2024-01-02","items":[{"track":{"trackName":"A","artistName":"B","albumName":"C","trackUri":"spotify:track:6666666666666666666666"},"episode":null,"localTrack":null,"addedDate":"2023-12-01"},{"track":null,"episode":{"episodeName":"pod"},"addedDate":"2023-12-02"}]}]}"#).unwrap();
        assert_eq!(p.layout, "spotify-account-playlists");
        assert_eq!(p.playlists[0].modified.as_deref(), Some("2024-01-02"));
        assert_eq!(p.playlists[0].rows[0].added_at.as_deref(), Some("2023-12-01"));
        assert_eq!(p.skipped.len(), 1);
        let l =
            parse_json(r#"{"tracks":[{"artist":"B","album":"C","track":"A","uri":"spotify:track:6666666666666666666666"}],"albums":[]}"#)
                .unwrap();
        assert_eq!(l.playlists[0].name, LIKED);
        let h = parse_json(r#"[{"ts":"2024-01-01T00:00:00Z","ms_played":40000,"master_metadata_track_name":"A","master_metadata_album_artist_name":"B","spotify_track_uri":"spotify:track:6666666666666666666666"}]"#).unwrap();
        assert_eq!(h.plays.len(), 1);
    }

    #[test]
    fn pavelkomarov_splits_on_its_joins_and_keeps_commas_inside_names() {
        // No `;` anywhere in the file: a comma and a space is part of the name. Before July 2025
        // the `Track URI` layout joined with "," (no space), names keeping their commas.
        let text = "Track URI,Track Name,Album Name,Artist Name(s),Release Date,Duration (ms),Popularity,Explicit,Added By,Added At\n\
            spotify:track:7777777777777777777777,September,The Best Of,\"Earth, Wind & Fire\",1978,215000,80,false,u,2021-03-01T10:00:00Z\n\
            spotify:track:7777777777777777777778,Boogie,The Best Of,\"Earth, Wind & Fire,The Emotions\",1979,215000,80,false,u,2021-03-01T10:00:00Z\n";
        let p = parse_csv("soul", text).unwrap();
        let artists: Vec<(Vec<String>, bool)> =
            p.playlists[0].rows.iter().map(|r| (r.artists.clone(), r.artists_certain)).collect();
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(artists, [(v(&["Earth, Wind & Fire"]), true), (v(&["Earth, Wind & Fire", "The Emotions"]), false)]);
        // A ";" in any artist field of a file: "," never splits in it (brianhuster's 2026
        // Liked_Songs.csv has "KITAKORE(cv. Daisuke Ono,Daisuke Kishio)" as one artist).
        let semi = format!(
            "{text}spotify:track:7777777777777777777779,Now,Later,\"A;B\",2026,215000,80,false,u,1970-01-01T00:00:00Z\n"
        );
        let p = parse_csv("soul", &semi).unwrap();
        let artists: Vec<(Vec<String>, bool)> =
            p.playlists[0].rows.iter().map(|r| (r.artists.clone(), r.artists_certain)).collect();
        assert_eq!(artists[1], (v(&["Earth, Wind & Fire,The Emotions"]), true));
        assert_eq!(artists[2], (v(&["A", "B"]), true));
        // Spotify's placeholder date is no date.
        assert_eq!(p.playlists[0].rows[2].added_at, None);
        // The older `Track ID` layout (2024-09 to 2025-04) joined artists with ",", and had
        // tabs in its header.
        let old = "Track ID,Track Name,Album Name,Artist Name(s),Release Date,Duration (ms),Popularity,Added By,Added At,Genres,Record Label,\t\t\t\tDanceability\n\
            7777777777777777777777,\"Duet\",\"A\",\"Hal,Ida\",2019,1000,1,me,2024-02-01T00:00:00Z,\"\",\"L\",0.5\n";
        let p = parse_csv("x", old).unwrap();
        assert_eq!(p.layout, "exportify-track-id");
        assert_eq!(p.playlists[0].rows[0].artists, vec!["Hal", "Ida"]);
        assert_eq!(p.playlists[0].rows[0].uri, "spotify:track:7777777777777777777777");
    }

    #[test]
    fn account_json_local_tracks_are_read_from_their_uri() {
        let p = parse_json(r#"{"playlists":[{"name":"Gym","items":[{"track":null,"episode":null,"localTrack":{"uri":"spotify:local:Kay+Kay:Garage+%26+Co:Kappa+Tape:95"},"addedDate":"2024-01-03"}]}]}"#).unwrap();
        assert_eq!(p.skipped, vec![]);
        let r = &p.playlists[0].rows[0];
        assert_eq!(
            (
                r.uri.as_str(),
                r.title.as_str(),
                r.artists.clone(),
                r.album.as_deref(),
                r.duration_ms,
                r.added_at.as_deref()
            ),
            (
                "spotify:local:Kay+Kay:Garage+%26+Co:Kappa+Tape:95",
                "Kappa Tape",
                vec!["Kay Kay".to_string()],
                Some("Garage & Co"),
                Some(95_000),
                Some("2024-01-03")
            )
        );
    }

    #[test]
    fn files_of_no_layout_are_named_with_a_reason() {
        assert_eq!(unrecognised("spot/Road_Trip.CSV"), None);
        assert_eq!(unrecognised("Playlist1.json"), None);
        assert!(unrecognised("notes.txt").unwrap().contains("a .txt file fits no layout"));
        assert!(unrecognised("README").unwrap().contains("no .csv or .json extension"));
        assert!(parse_file("notes.txt", b"hello").unwrap_err().contains("a .txt file fits no layout"));
    }

    #[test]
    fn names_that_mean_liked_songs() {
        for n in [
            "Liked Songs",
            "Liked_Songs",
            "Liked-songs",
            "liked",
            "LIKED SONGS (1)",
            "Your Liked Songs",
            "liked tracks",
        ] {
            assert!(means_liked(n), "{n}");
        }
        for n in ["Liked by Ann", "Songs I liked", "Disliked", "Liked Songs Remix Party"] {
            assert!(!means_liked(n), "{n}");
        }
        assert_eq!(playlist_from_stem("Liked-songs"), LIKED);
    }

    /// A file is what its content is: an Exportify CSV saved without an extension is read as
    /// one; text that is no export is not.
    #[test]
    fn exports_are_recognised_by_content_whatever_their_name() {
        let csv = "Track URI,Track Name,Artist Name(s),Album Name,Duration (ms)\nspotify:track:0AAAAAAAAAAAAAAAAAAAA1,One,Ann,A,200000\n";
        let p = parse_by_content("Road Trip", csv.as_bytes()).unwrap().unwrap();
        assert_eq!(
            (p.layout.as_str(), p.playlists[0].name.as_str(), p.rows),
            ("exportify-pavelkomarov", "Road Trip", 1)
        );
        assert!(parse_by_content("notes", b"just some words\nand more").is_none());
        assert!(parse_by_content("blob", b"\x00\x01\x02").is_none());
    }

    /// `YourLibrary.json`'s `other` holds local files as `spotify:local:` URIs: each is a track
    /// read from its URI (artist, album, title, seconds), on no playlist.
    #[test]
    fn library_local_files_under_other_are_tracks() {
        let text = r#"{"tracks": [], "other": ["spotify:local:Ann+Artist:First+Album:Song+%26+Dance:215", {"uri": "spotify:local:::Bare:"}, 7]}"#;
        let p = parse_json(text).unwrap();
        assert_eq!(p.local.len(), 2);
        let l = &p.local[0];
        assert_eq!(
            (l.uri.as_str(), l.title.as_str(), l.artists.clone(), l.album.as_deref(), l.duration_ms),
            (
                "spotify:local:Ann+Artist:First+Album:Song+%26+Dance:215",
                "Song & Dance",
                vec!["Ann Artist".to_string()],
                Some("First Album"),
                Some(215_000)
            )
        );
        assert_eq!((p.local[1].title.as_str(), p.local[1].artists.len()), ("Bare", 0));
        assert_eq!(p.skipped.len(), 1, "{:?}", p.skipped);
    }

    /// Issue 81: every entry of `YourLibrary.json` that is not a track is named, per key of the
    /// file with its count (the shape of the 2020–2025 exports in shared/realworld); account
    /// files that hold no library data are named for what they are.
    #[test]
    fn library_entries_that_are_not_tracks_are_named_with_their_count() {
        let text = r#"{"tracks": [{"artist": "A", "album": "B", "track": "C", "uri": "spotify:track:1"}],
            "albums": [{"artist": "A", "album": "B", "uri": "spotify:album:1"}, {"artist": "D", "album": "E", "uri": "spotify:album:2"}],
            "shows": [{"name": "S", "publisher": "P", "uri": "spotify:show:1"}],
            "episodes": [{"name": "E1", "show": "S", "uri": "spotify:episode:1"}, {"name": "E2", "show": "S", "uri": "spotify:episode:2"}, {"name": "E3", "show": "S", "uri": "spotify:episode:3"}],
            "bannedTracks": [{"artist": "X", "album": "Y", "track": "Z", "uri": "spotify:track:9"}],
            "artists": [{"name": "A", "uri": "spotify:artist:1"}],
            "bannedArtists": [],
            "other": ["spotify:local:A:B:C:60", "spotify:playlist:x", {"name": "odd"}]}"#;
        let p = parse_json(text).unwrap();
        assert_eq!((p.playlists[0].rows.len(), p.local.len()), (1, 1));
        let mut kinds: Vec<(String, usize)> =
            p.skipped.iter().map(|s| (s.kind.clone().unwrap(), s.count.unwrap())).collect();
        kinds.sort();
        let want: Vec<(String, usize)> =
            [("albums", 2), ("artists", 1), ("bannedTracks", 1), ("episodes", 3), ("other", 2), ("shows", 1)]
                .iter()
                .map(|(k, n)| (k.to_string(), *n))
                .collect();
        assert_eq!(kinds, want);
        let shows = p.skipped.iter().find(|s| s.kind.as_deref() == Some("shows")).unwrap();
        assert_eq!(shows.reason, "`shows`: 1 followed podcast shows, not tracks: not read");
        assert!(p.skipped.iter().any(|s| s.reason.contains("spotify:playlist:x")), "{:?}", p.skipped);

        let named = |name: &str, text: &str| parse_file(name, text.as_bytes()).unwrap_err();
        assert_eq!(
            named("Wrapped2024.json", r#"{"topArtists": {"topArtists": ["x"]}}"#),
            "Spotify Wrapped summary, not library data"
        );
        assert_eq!(
            named("YourSoundCapsule.json", r#"{"highlights": [], "stats": [{"date": "2024-01-01"}]}"#),
            "Spotify Sound Capsule listening summary, not library data"
        );
        assert_eq!(
            named("Spotify Assistant Conversations.json", "[]"),
            "assistant conversation log, not library data (empty)"
        );
        assert_eq!(
            named("Marquee.json", r#"[{"artistName": "A", "segment": "Light listeners"}]"#),
            "Marquee (artists' campaign audiences), not library data"
        );
        assert!(named("Notes.json", r#"{"x": 1}"#).contains("none of the account-data layouts"));
        // Content comes first: a readable layout under such a name is read.
        assert!(parse_file("Wrapped2024.json", br#"{"tracks": []}"#).is_ok());
    }
}
