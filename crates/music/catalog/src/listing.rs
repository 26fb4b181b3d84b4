//! One playlist read whole, for people and for other players: its entries in order, repeats
//! included, each with its track's title, artists, duration and file (`baton catalog show
//! COLLECTION KEY`), and the same list written as an extended m3u or as a Rekordbox XML
//! (`baton catalog export PLAYLIST --format m3u|rekordbox`).
//!
//! A playlist is a record of a collection with an entries property ([`Kind::Entries`]): the
//! core `playlists` (`entries` of tracks, `file_entries` of library files) or a plugin's own
//! (djay's `dj_playlists`). An entry's file is the library file itself, a core track's first
//! linked file, or a djay track's first `file://` location; an entry with none (a streaming
//! track) cannot be written to a file list, and the export names it instead of dropping it
//! silently.
use serde::Serialize;
use serde_json::{Map, Value};

use crate::schema::{FILES, Kind};
use crate::{Access, Catalog, CatalogError, Filter, Result};

/// One entry of a playlist with what is known of its track.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntryView {
    pub position: i64,
    pub track: String,
    pub title: Option<String>,
    pub artists: Vec<String>,
    pub duration_ms: Option<i64>,
    pub album: Option<String>,
    pub bpm: Option<f64>,
    pub key: Option<String>,
    /// The file the entry plays (a host path), when it has one.
    pub location: Option<String>,
}

/// A playlist with its entries in order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlaylistView {
    pub collection: String,
    pub key: String,
    pub name: String,
    /// The entries property read (`entries`, `file_entries`, …).
    pub property: String,
    /// Where the entries point (`tracks`, `files`, `djay.djay_tracks`, …).
    pub target: String,
    pub entries: Vec<EntryView>,
    /// The distinct tracks among the entries.
    pub tracks: usize,
    /// The entries beyond the first of a track.
    pub repeated: usize,
}

/// What an export wrote: the text and the entries it could not write (no file).
#[derive(Debug, Clone, PartialEq)]
pub struct Exported {
    pub text: String,
    pub written: usize,
    pub without_file: Vec<EntryView>,
}

impl Catalog {
    /// The playlist `wanted` (a record key, else a `name`) among the readable collections that
    /// keep entries (only `collection` when given). None found or several: an error naming
    /// them and the fix.
    pub fn find_playlist(&self, access: &Access, collection: Option<&str>, wanted: &str) -> Result<(String, String)> {
        let with_entries: Vec<String> = self
            .collections(access)?
            .into_iter()
            .filter(|c| c.properties.iter().any(|p| p.kind == Kind::Entries && !p.archived))
            .map(|c| c.name)
            .filter(|n| collection.is_none_or(|c| c == n))
            .collect();
        if let Some(c) = collection
            && with_entries.is_empty()
        {
            return Err(CatalogError::Schema {
                collection: c.into(),
                detail: "keeps no ordered entries (not a collection of playlists)".into(),
            });
        }
        let mut by_key = Vec::new();
        let mut by_name = Vec::new();
        for c in &with_entries {
            if self.get(access, c, wanted, false)?.is_some() {
                by_key.push((c.clone(), wanted.to_string()));
            }
            // Collections of playlists are small (hundreds of records): read whole.
            for r in self.query(access, c, &Filter::default(), false, None, 100_000)?.records {
                if r.props.get("name").and_then(Value::as_str) == Some(wanted) {
                    by_name.push((c.clone(), r.key));
                }
            }
        }
        let found = if by_key.is_empty() { by_name } else { by_key };
        match found.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(CatalogError::Virtual(format!(
                "no playlist `{wanted}` (by key or name) in {}; `baton catalog show playlists` lists them",
                if with_entries.is_empty() { "the catalog".to_string() } else { with_entries.join(", ") }
            ))),
            many => Err(CatalogError::Virtual(format!(
                "`{wanted}` names {} playlists: {}; give the collection and the key",
                many.len(),
                many.iter().map(|(c, k)| format!("{c} {k}")).collect::<Vec<_>>().join(", ")
            ))),
        }
    }

    /// Playlist `key` of `collection` with its entries in order (the first entries property
    /// that holds any, else the first one), or None when there is no such record.
    pub fn playlist_view(&self, access: &Access, collection: &str, key: &str) -> Result<Option<PlaylistView>> {
        let Some(rec) = self.get(access, collection, key, false)? else { return Ok(None) };
        let schema = self.schema(access, collection)?;
        let lists: Vec<_> = schema.iter().filter(|p| p.kind == Kind::Entries && !p.archived).collect();
        let Some(first) = lists.first() else {
            return Err(CatalogError::Schema {
                collection: collection.into(),
                detail: "keeps no ordered entries (not a collection of playlists)".into(),
            });
        };
        let p =
            lists.iter().find(|p| rec.props.get(&p.id).is_some_and(|v| v.as_array().is_some_and(|a| !a.is_empty())));
        let p = p.unwrap_or(first);
        let target = p.target.clone().unwrap_or_default();
        let list = self.entries(access, collection, key, &p.id)?.unwrap_or_default();
        let mut seen: std::collections::HashMap<String, Option<Map<String, Value>>> = Default::default();
        let mut entries = Vec::with_capacity(list.len());
        for e in list {
            if !seen.contains_key(&e.track) {
                let props = self.get(access, &target, &e.track, false)?.map(|r| r.props);
                seen.insert(e.track.clone(), props);
            }
            let props = seen.get(&e.track).cloned().flatten().unwrap_or_default();
            entries.push(entry_view(e.position, e.track, &target, &props));
        }
        let tracks = seen.len();
        let name = rec.props.get("name").and_then(Value::as_str).unwrap_or(key).to_string();
        let repeated = entries.len() - tracks;
        Ok(Some(PlaylistView {
            collection: collection.into(),
            key: key.into(),
            name,
            property: p.id.clone(),
            target,
            entries,
            tracks,
            repeated,
        }))
    }
}

/// One entry with its track's properties as the catalog keeps them (core `tracks`: `artists`
/// and a `files` relation; djay: `artist` and `file://` URIs in `files`; `files`: the path).
fn entry_view(position: i64, track: String, target: &str, p: &Map<String, Value>) -> EntryView {
    let text = |k: &str| p.get(k).and_then(Value::as_str).map(str::to_string);
    let artists = match p.get("artists") {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        _ => text("artist").into_iter().filter(|a| !a.is_empty()).collect(),
    };
    let location = if target == FILES {
        Some(track.clone())
    } else {
        p.get("files")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().filter_map(Value::as_str).next())
            .and_then(|f| if f.starts_with("file:") { file_uri_path(f) } else { Some(f.to_string()) })
    };
    EntryView {
        position,
        title: text("title"),
        artists,
        duration_ms: p.get("duration_ms").and_then(Value::as_i64),
        album: text("album"),
        bpm: p.get("bpm").and_then(Value::as_f64),
        key: text("key").or_else(|| text("tonality")),
        location,
        track,
    }
}

/// The path of a `file://` URI (`file:///a/b%20c.mp3`, `file://localhost/…`), percent-decoded;
/// None when it does not decode to UTF-8.
pub fn file_uri_path(uri: &str) -> Option<String> {
    let rest = uri.strip_prefix("file://")?;
    let rest = rest.strip_prefix("localhost").unwrap_or(rest);
    let bytes = rest.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// A path as Rekordbox writes a `Location`: `file://localhost` and the path percent-encoded
/// (every byte but unreserved characters and `/`).
pub fn location_uri(path: &str) -> String {
    let mut out = String::from("file://localhost");
    if !path.starts_with('/') {
        out.push('/');
    }
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// "Artist, Artist - Title", or whichever is known.
fn shown(e: &EntryView) -> String {
    let artists = e.artists.join(", ");
    match (&e.title, artists.is_empty()) {
        (Some(t), false) => format!("{artists} - {t}"),
        (Some(t), true) => t.clone(),
        (None, false) => artists,
        (None, true) => e.track.clone(),
    }
}

/// The playlist as an extended m3u: `#EXTM3U`, `#PLAYLIST:` its name, then per entry in
/// order (repeats included) `#EXTINF:<seconds>,<Artist - Title>` and its file's path (-1
/// seconds when the duration is unknown). Entries without a file are left out and returned.
pub fn to_m3u(pl: &PlaylistView) -> Exported {
    let mut text = format!("#EXTM3U\n#PLAYLIST:{}\n", one_line(&pl.name));
    let mut without_file = Vec::new();
    let mut written = 0;
    for e in &pl.entries {
        let Some(loc) = &e.location else {
            without_file.push(e.clone());
            continue;
        };
        let secs = e.duration_ms.map_or(-1, |ms| (ms + 500) / 1000);
        text.push_str(&format!("#EXTINF:{secs},{}\n{}\n", one_line(&shown(e)), one_line(loc)));
        written += 1;
    }
    Exported { text, written, without_file }
}

/// A value on one line (a new line inside a name would start another m3u line).
fn one_line(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}

/// An XML attribute value.
fn attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

/// The playlist as a Rekordbox XML (`DJ_PLAYLISTS Version="1.0.0"`): a `COLLECTION` of one
/// `TRACK` per distinct track (`TrackID` 1, 2, … in first-entry order, `Name`, `Artist`,
/// `Album`, `TotalTime` in whole seconds, `AverageBpm`, `Tonality`, `Location` as
/// `file://localhost/` and the percent-encoded path), and under `PLAYLISTS` a `ROOT` folder
/// holding one playlist node (`Type="1"`, `KeyType="0"`) whose `TRACK Key=` children are the
/// entries in order, repeats included. Entries without a file are left out and returned.
pub fn to_rekordbox(pl: &PlaylistView, product_version: &str) -> Exported {
    let mut ids: std::collections::HashMap<&str, usize> = Default::default();
    let mut tracks = String::new();
    let mut keys = String::new();
    let mut without_file = Vec::new();
    let mut written = 0;
    for e in &pl.entries {
        let Some(loc) = &e.location else {
            without_file.push(e.clone());
            continue;
        };
        let next = ids.len() + 1;
        let id = *ids.entry(e.track.as_str()).or_insert_with(|| {
            let mut t = format!(
                "    <TRACK TrackID=\"{next}\" Name=\"{}\" Artist=\"{}\" Album=\"{}\"",
                attr(e.title.as_deref().unwrap_or("")),
                attr(&e.artists.join(", ")),
                attr(e.album.as_deref().unwrap_or(""))
            );
            if let Some(ms) = e.duration_ms {
                t.push_str(&format!(" TotalTime=\"{}\"", (ms + 500) / 1000));
            }
            if let Some(bpm) = e.bpm {
                t.push_str(&format!(" AverageBpm=\"{bpm:.2}\""));
            }
            if let Some(k) = &e.key {
                t.push_str(&format!(" Tonality=\"{}\"", attr(k)));
            }
            t.push_str(&format!(" Location=\"{}\"/>\n", attr(&location_uri(loc))));
            tracks.push_str(&t);
            next
        });
        keys.push_str(&format!("        <TRACK Key=\"{id}\"/>\n"));
        written += 1;
    }
    let text = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DJ_PLAYLISTS Version=\"1.0.0\">\n  <PRODUCT Name=\"baton\" Version=\"{}\" Company=\"baton\"/>\n  <COLLECTION Entries=\"{}\">\n{tracks}  </COLLECTION>\n  <PLAYLISTS>\n    <NODE Type=\"0\" Name=\"ROOT\" Count=\"1\">\n      <NODE Name=\"{}\" Type=\"1\" KeyType=\"0\" Entries=\"{written}\">\n{keys}      </NODE>\n    </NODE>\n  </PLAYLISTS>\n</DJ_PLAYLISTS>\n",
        attr(product_version),
        ids.len(),
        attr(&pl.name),
    );
    Exported { text, written, without_file }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(pos: i64, track: &str, loc: Option<&str>) -> EntryView {
        EntryView {
            position: pos,
            track: track.into(),
            title: Some(format!("Song {track}")),
            artists: vec!["A & B".into()],
            duration_ms: Some(199_400),
            album: None,
            bpm: Some(128.0),
            key: Some("8A".into()),
            location: loc.map(str::to_string),
        }
    }

    fn view() -> PlaylistView {
        PlaylistView {
            collection: "playlists".into(),
            key: "p".into(),
            name: "Friday \"late\"".into(),
            property: "entries".into(),
            target: "tracks".into(),
            entries: vec![
                entry(1, "t1", Some("/m/a b.mp3")),
                entry(2, "t2", None),
                entry(3, "t3", Some("/m/ü.flac")),
                entry(4, "t1", Some("/m/a b.mp3")),
            ],
            tracks: 3,
            repeated: 1,
        }
    }

    #[test]
    fn m3u_keeps_order_and_repeats_and_names_entries_without_a_file() {
        let out = to_m3u(&view());
        assert_eq!(
            out.text,
            "#EXTM3U\n#PLAYLIST:Friday \"late\"\n#EXTINF:199,A & B - Song t1\n/m/a b.mp3\n#EXTINF:199,A & B - Song t3\n/m/ü.flac\n#EXTINF:199,A & B - Song t1\n/m/a b.mp3\n"
        );
        assert_eq!(out.written, 3);
        assert_eq!(out.without_file.iter().map(|e| e.position).collect::<Vec<_>>(), [2]);
    }

    #[test]
    fn rekordbox_lists_each_track_once_and_every_entry_by_key() {
        let out = to_rekordbox(&view(), "1");
        assert!(out.text.contains("<COLLECTION Entries=\"2\">"), "{}", out.text);
        assert!(out.text.contains("Location=\"file://localhost/m/a%20b.mp3\""), "{}", out.text);
        assert!(out.text.contains("Location=\"file://localhost/m/%C3%BC.flac\""), "{}", out.text);
        assert!(out.text.contains("Artist=\"A &amp; B\"") && out.text.contains("Name=\"Friday &quot;late&quot;\""));
        let keys: Vec<&str> = out.text.lines().filter(|l| l.contains("TRACK Key=")).map(str::trim).collect();
        assert_eq!(keys, ["<TRACK Key=\"1\"/>", "<TRACK Key=\"2\"/>", "<TRACK Key=\"1\"/>"]);
        assert!(out.text.contains("Type=\"1\" KeyType=\"0\" Entries=\"3\""));
    }

    #[test]
    fn file_uris_decode_and_encode() {
        assert_eq!(file_uri_path("file:///m/a%20b.mp3").as_deref(), Some("/m/a b.mp3"));
        assert_eq!(file_uri_path("file://localhost/m/%C3%BC.flac").as_deref(), Some("/m/ü.flac"));
        assert_eq!(file_uri_path("/m/x"), None);
        assert_eq!(location_uri("/m/a b.mp3"), "file://localhost/m/a%20b.mp3");
    }
}
