//! Rekordbox XML (`DJ_PLAYLISTS` › `COLLECTION` › `TRACK`, `PLAYLISTS` › `NODE`), read into a
//! [`Library`] and written from catalog playlists, the format djay, rekordbox and Lexicon
//! import. Sources: pyrekordbox `docs/source/formats/xml.md`, rekordcrate `src/xml.rs`.
//!
//! `Location` is `file://localhost/` and the percent-encoded absolute path: every byte
//! outside the unreserved set and `/` is encoded, so spaces, `#`, `%` and Unicode survive
//! (NFC and NFD spellings stay distinct bytes, as on disk).
use std::collections::HashMap;

use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

use crate::library::{Counts, Library, Playlist, RecordError, Track};
use crate::location::location_from_path;

/// Why a document is not Rekordbox XML.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RekordboxError {
    #[error("not Rekordbox XML: {0}")]
    NotRekordbox(String),
    #[error("XML error at byte {at}: {detail}")]
    Xml { at: u64, detail: String },
}

/// Whether `head` (the first bytes of a file) looks like Rekordbox XML.
pub fn sniff(head: &[u8]) -> bool {
    let s = String::from_utf8_lossy(head);
    s.trim_start_matches('\u{feff}').trim_start().starts_with('<') && s.contains("<DJ_PLAYLISTS")
}

fn attrs(e: &BytesStart) -> Result<HashMap<String, String>, RekordboxError> {
    let mut m = HashMap::new();
    for a in e.attributes() {
        let a = a.map_err(|err| RekordboxError::Xml { at: 0, detail: err.to_string() })?;
        let k = a.key.into_inner().to_string();
        let v = a
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|err| RekordboxError::Xml { at: 0, detail: err.to_string() })?;
        m.insert(k, v.into_owned());
    }
    Ok(m)
}

/// The key prefix of one XML file's records: `rekordbox:<source>:`, so the TrackIDs of two
/// exports (each numbers its own from 1, or reuses rekordbox's database ids) never collide.
pub fn prefix(source: &str) -> String {
    if source.is_empty() { "rekordbox:".to_string() } else { format!("rekordbox:{source}:") }
}

/// Reads a Rekordbox XML document. `source` names the file (its path inside the djay folder):
/// track keys are `rekordbox:<source>:<TrackID>` and playlist keys `rekordbox:<source>:<path
/// of folder names>` (`Folder/Playlist`; a second playlist of the same path gets ` #2`), with
/// their tracks in order. A TrackID given twice in one file keeps its last TRACK.
pub fn read(xml: &str, source: &str) -> Result<Library, RekordboxError> {
    let pre = prefix(source);
    let mut lib = Library::new();
    let mut r = Reader::from_str(xml);
    let mut seen_root = false;
    let mut closed = false;
    let mut in_collection = false;
    let mut in_playlists = false;
    // Folder names from the root down; the root NODE itself is `ROOT`.
    let mut folders: Vec<String> = Vec::new();
    let mut current: Option<(Playlist, i64)> = None;
    let mut by_location: HashMap<String, String> = HashMap::new();
    let mut playlist_keys: HashMap<String, u32> = HashMap::new();
    let mut counts = Counts::default();
    let mut playlist_counts = Counts::default();
    loop {
        let at = r.buffer_position();
        let ev = r.read_event().map_err(|e| RekordboxError::Xml { at, detail: e.to_string() })?;
        let (e, empty) = match &ev {
            Event::Start(e) => (Some(e.clone()), false),
            Event::Empty(e) => (Some(e.clone()), true),
            Event::End(e) => {
                match e.name().into_inner() {
                    "DJ_PLAYLISTS" => closed = true,
                    "COLLECTION" => in_collection = false,
                    "PLAYLISTS" => in_playlists = false,
                    "NODE" if in_playlists => {
                        if let Some((p, _)) = current.take() {
                            lib.playlists.push(p);
                        } else {
                            folders.pop();
                        }
                    }
                    _ => {}
                }
                (None, false)
            }
            Event::Eof => {
                if seen_root && !closed {
                    return Err(RekordboxError::Xml {
                        at,
                        detail: "the document ends before </DJ_PLAYLISTS>: the file is cut off (export it again from rekordbox)".into(),
                    });
                }
                break;
            }
            _ => (None, false),
        };
        let Some(e) = e else { continue };
        let name = e.name().into_inner().to_string();
        if !seen_root {
            if name != "DJ_PLAYLISTS" {
                return Err(RekordboxError::NotRekordbox(format!(
                    "the root element is <{}>, not <DJ_PLAYLISTS>",
                    name
                )));
            }
            seen_root = true;
            closed = empty;
            continue;
        }
        match name.as_str() {
            "COLLECTION" => in_collection = !empty,
            "PLAYLISTS" => in_playlists = !empty,
            "TRACK" if in_collection => {
                let a = attrs(&e)?;
                let Some(id) = a.get("TrackID").filter(|s| !s.trim().is_empty()) else {
                    counts.skipped += 1;
                    lib.errors.push(RecordError {
                        collection: "COLLECTION".into(),
                        key: format!("TRACK #{}", counts.read + counts.skipped),
                        error: "a TRACK without TrackID".into(),
                    });
                    continue;
                };
                counts.read += 1;
                let key = format!("{pre}{}", id.trim());
                let num = |k: &str| a.get(k).and_then(|v| v.trim().parse::<f64>().ok()).filter(|v| v.is_finite());
                let mut t = Track {
                    key: key.clone(),
                    title: a.get("Name").cloned().unwrap_or_default(),
                    artist: a.get("Artist").cloned().unwrap_or_default(),
                    duration_ms: num("TotalTime").map(|s| (s * 1000.0).round() as i64),
                    bpm: num("AverageBpm").filter(|b| *b > 0.0),
                    tonality: a.get("Tonality").filter(|s| !s.is_empty()).cloned(),
                    play_count: num("PlayCount").map(|n| n.round() as i64),
                    source: "rekordbox".into(),
                    ..Track::default()
                };
                if let Some(loc) = a.get("Location").filter(|s| !s.is_empty()) {
                    by_location.insert(loc.clone(), key.clone());
                    t.files.push(loc.clone());
                }
                lib.tracks.insert(key, t);
            }
            "NODE" if in_playlists => {
                let a = attrs(&e)?;
                let node_name = a.get("Name").cloned().unwrap_or_default();
                match a.get("Type").map(String::as_str) {
                    Some("1") => {
                        playlist_counts.read += 1;
                        let path: Vec<&str> =
                            folders.iter().skip(1).map(String::as_str).chain([node_name.as_str()]).collect();
                        let key_type = a.get("KeyType").and_then(|k| k.parse::<i64>().ok()).unwrap_or(0);
                        let mut pkey = format!("{pre}{}", path.join("/"));
                        let n = playlist_keys.entry(pkey.clone()).or_insert(0u32);
                        *n += 1;
                        if *n > 1 {
                            pkey = format!("{pkey} #{n}");
                        }
                        let p = Playlist { key: pkey, name: node_name, ..Playlist::default() };
                        if empty {
                            lib.playlists.push(p);
                        } else {
                            current = Some((p, key_type));
                        }
                    }
                    _ => {
                        if !empty {
                            folders.push(node_name);
                        }
                    }
                }
            }
            "TRACK" if in_playlists => {
                if let Some((p, key_type)) = current.as_mut() {
                    let a = attrs(&e)?;
                    if let Some(k) = a.get("Key") {
                        let key = if *key_type == 1 {
                            by_location.get(k).cloned()
                        } else {
                            Some(format!("{pre}{}", k.trim()))
                        };
                        match key {
                            Some(key) if lib.tracks.contains_key(&key) => p.tracks.push(key),
                            _ => playlist_counts.unknown_fields += 1,
                        }
                    }
                }
            }
            _ => {}
        }
    }
    if !seen_root {
        return Err(RekordboxError::NotRekordbox("no <DJ_PLAYLISTS> element".into()));
    }
    lib.counts.insert("COLLECTION".into(), counts);
    lib.counts.insert("PLAYLISTS".into(), playlist_counts);
    Ok(lib)
}

/// One track to write.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExportTrack {
    /// The absolute host path of the local file.
    pub path: String,
    pub title: String,
    pub artist: String,
    pub album: Option<String>,
    pub duration_ms: Option<i64>,
    pub bpm: Option<f64>,
    pub tonality: Option<String>,
    pub play_count: Option<i64>,
}

/// One playlist to write: its name and indexes into the track list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExportPlaylist {
    pub name: String,
    pub tracks: Vec<usize>,
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

/// Writes a Rekordbox XML document: every track once in `COLLECTION` (TrackID = index + 1),
/// every playlist under `ROOT` with `KeyType="0"` (keys are TrackIDs).
pub fn write(tracks: &[ExportTrack], playlists: &[ExportPlaylist]) -> String {
    let mut x = String::new();
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DJ_PLAYLISTS Version=\"1.0.0\">\n");
    x.push_str("  <PRODUCT Name=\"baton\" Version=\"");
    x.push_str(env!("CARGO_PKG_VERSION"));
    x.push_str("\" Company=\"baton\"/>\n");
    x.push_str(&format!("  <COLLECTION Entries=\"{}\">\n", tracks.len()));
    for (i, t) in tracks.iter().enumerate() {
        x.push_str(&format!(
            "    <TRACK TrackID=\"{}\" Name=\"{}\" Artist=\"{}\"",
            i + 1,
            esc(&t.title),
            esc(&t.artist)
        ));
        if let Some(a) = &t.album {
            x.push_str(&format!(" Album=\"{}\"", esc(a)));
        }
        let kind =
            t.path.rsplit('.').next().filter(|e| e.len() <= 5 && !e.contains('/')).unwrap_or("").to_ascii_uppercase();
        if !kind.is_empty() {
            x.push_str(&format!(" Kind=\"{} File\"", esc(&kind)));
        }
        if let Some(ms) = t.duration_ms {
            x.push_str(&format!(" TotalTime=\"{}\"", (ms as f64 / 1000.0).round() as i64));
        }
        if let Some(b) = t.bpm {
            x.push_str(&format!(" AverageBpm=\"{b:.2}\""));
        }
        if let Some(k) = &t.tonality {
            x.push_str(&format!(" Tonality=\"{}\"", esc(k)));
        }
        x.push_str(&format!(" PlayCount=\"{}\"", t.play_count.unwrap_or(0)));
        x.push_str(&format!(" Location=\"{}\"/>\n", esc(&location_from_path(&t.path))));
    }
    x.push_str("  </COLLECTION>\n  <PLAYLISTS>\n");
    x.push_str(&format!("    <NODE Type=\"0\" Name=\"ROOT\" Count=\"{}\">\n", playlists.len()));
    for p in playlists {
        x.push_str(&format!(
            "      <NODE Name=\"{}\" Type=\"1\" KeyType=\"0\" Entries=\"{}\">\n",
            esc(&p.name),
            p.tracks.len()
        ));
        for &i in &p.tracks {
            x.push_str(&format!("        <TRACK Key=\"{}\"/>\n", i + 1));
        }
        x.push_str("      </NODE>\n");
    }
    x.push_str("    </NODE>\n  </PLAYLISTS>\n</DJ_PLAYLISTS>\n");
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::location::path_from_location;

    #[test]
    fn locations_round_trip_with_unicode_and_spaces() {
        for p in ["/Users/me/Music/Beyonce\u{301} – Halo #1 (100%).mp3", "/a b/Ünïcode/c&d's.flac", "/x/y.wav"] {
            let loc = location_from_path(p);
            assert!(loc.starts_with("file://localhost/"), "{loc}");
            assert!(!loc[17..].contains(' ') && !loc[17..].contains('#') && loc.is_ascii(), "{loc}");
            assert_eq!(path_from_location(&loc).as_deref(), Some(p));
        }
        assert_eq!(location_from_path("/a b/c.mp3"), "file://localhost/a%20b/c.mp3");
        assert_eq!(
            path_from_location("file:///D:%5CNP3-TEST-MP3%5CVoodoo.mp3").as_deref(),
            Some("D:/NP3-TEST-MP3/Voodoo.mp3")
        );
        assert_eq!(path_from_location("file://localhost/C:/Music/a.mp3").as_deref(), Some("C:/Music/a.mp3"));
        assert_eq!(path_from_location("spotify:track:1"), None);
    }

    #[test]
    fn writes_and_reads_back() {
        let tracks = vec![
            ExportTrack {
                path: "/m/Sigur Ro\u{301}s/Hoppípolla & <live>.flac".into(),
                title: "Hoppípolla & \"live\"".into(),
                artist: "Sigur Rós".into(),
                duration_ms: Some(268_400),
                bpm: Some(84.5),
                play_count: Some(3),
                ..ExportTrack::default()
            },
            ExportTrack { path: "/m/b.mp3".into(), title: "B".into(), artist: "X".into(), ..ExportTrack::default() },
        ];
        let xml = write(&tracks, &[ExportPlaylist { name: "Set <1>".into(), tracks: vec![1, 0] }]);
        assert!(sniff(xml.as_bytes()));
        let lib = read(&xml, "").unwrap();
        assert_eq!(lib.tracks.len(), 2);
        let t = &lib.tracks["rekordbox:1"];
        assert_eq!(t.title, "Hoppípolla & \"live\"");
        assert_eq!(t.duration_ms, Some(268_000));
        assert_eq!(t.bpm, Some(84.5));
        assert_eq!(t.play_count, Some(3));
        assert_eq!(path_from_location(&t.files[0]).as_deref(), Some("/m/Sigur Ro\u{301}s/Hoppípolla & <live>.flac"));
        assert_eq!(lib.playlists.len(), 1);
        assert_eq!(lib.playlists[0].name, "Set <1>");
        assert_eq!(lib.playlists[0].tracks, ["rekordbox:2", "rekordbox:1"]);
    }

    #[test]
    fn reads_folders_and_location_keys() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<DJ_PLAYLISTS Version="1.0.0"><PRODUCT Name="rekordbox" Version="6.8.5" Company="AlphaTheta"/>
<COLLECTION Entries="2">
<TRACK TrackID="101" Name="Levels" Artist="Avicii" TotalTime="199" AverageBpm="126.00" Tonality="C#m" PlayCount="7" Location="file://localhost/Users/me/Music/Levels.mp3"><TEMPO Inizio="0.025" Bpm="126.00" Metro="4/4" Battito="1"/></TRACK>
<TRACK TrackID="102" Name="Strobe" Artist="deadmau5" TotalTime="637" Location="file://localhost/Users/me/Music/Strobe%20(Club).mp3"/>
</COLLECTION>
<PLAYLISTS><NODE Type="0" Name="ROOT" Count="1"><NODE Type="0" Name="Gigs" Count="2">
<NODE Name="Friday" Type="1" KeyType="1" Entries="2"><TRACK Key="file://localhost/Users/me/Music/Strobe%20(Club).mp3"/><TRACK Key="file://localhost/missing.mp3"/></NODE>
<NODE Name="Empty" Type="1" KeyType="0" Entries="0"/>
</NODE></NODE></PLAYLISTS></DJ_PLAYLISTS>"#;
        let lib = read(xml, "a/b.xml").unwrap();
        assert_eq!(lib.tracks["rekordbox:a/b.xml:101"].tonality.as_deref(), Some("C#m"));
        assert_eq!(lib.tracks["rekordbox:a/b.xml:101"].play_count, Some(7));
        let names: Vec<(&str, &str)> = lib.playlists.iter().map(|p| (p.key.as_str(), p.name.as_str())).collect();
        assert_eq!(names, [("rekordbox:a/b.xml:Gigs/Friday", "Friday"), ("rekordbox:a/b.xml:Gigs/Empty", "Empty")]);
        assert_eq!(lib.playlists[0].tracks, ["rekordbox:a/b.xml:102"]);
        assert_eq!(lib.counts["PLAYLISTS"].unknown_fields, 1, "the entry whose Location is not in the collection");
        assert!(matches!(read("<NML VERSION=\"19\"/>", "x"), Err(RekordboxError::NotRekordbox(_))));
        assert!(matches!(read("<DJ_PLAYLISTS><COLLECTION><TRACK TrackID=\"1", "x"), Err(RekordboxError::Xml { .. })));
        let cut = &xml[..xml.find("<PLAYLISTS>").unwrap()];
        assert!(matches!(read(cut, "x"), Err(RekordboxError::Xml { detail, .. }) if detail.contains("cut off")));
    }
}
