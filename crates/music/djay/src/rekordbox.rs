//! Rekordbox XML (`DJ_PLAYLISTS` › `COLLECTION` › `TRACK`, `PLAYLISTS` › `NODE`), read into a
//! [`Library`] and written from catalog playlists, the format djay, rekordbox and Lexicon
//! import. Sources: pyrekordbox `docs/source/formats/xml.md`, rekordcrate `src/xml.rs`.
//!
//! `Location` is `file://localhost/` and the percent-encoded absolute path: every byte
//! outside the unreserved set and `/` is encoded, so spaces, `#`, `%` and Unicode survive
//! (NFC and NFD spellings stay distinct bytes, as on disk).
use std::collections::{BTreeMap, HashMap};

use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

use crate::library::{Counts, Cue, Library, Playlist, RecordError, Track, Warning};
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

/// One element's attributes, as written (values normalised, borrowed from the document where
/// they need no change): a 50,000-track export has a million of them, and a map of owned
/// strings per element was a third of the reading's time.
struct Attrs<'e>(Vec<(&'e str, std::borrow::Cow<'e, str>)>);

impl Attrs<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| *k == key).map(|(_, v)| v.as_ref())
    }
}

fn attrs<'e>(e: &'e BytesStart) -> Result<Attrs<'e>, RekordboxError> {
    let mut m = Vec::with_capacity(32);
    for a in e.attributes() {
        let a = a.map_err(|err| RekordboxError::Xml { at: 0, detail: err.to_string() })?;
        let v = match a.value {
            // Nothing to normalise (no reference, no whitespace but spaces): the bytes as written.
            std::borrow::Cow::Borrowed(b) if !b.bytes().any(|c| matches!(c, b'&' | b'\t' | b'\r' | b'\n')) => {
                std::borrow::Cow::Borrowed(b)
            }
            _ => std::borrow::Cow::Owned(
                a.normalized_value(XmlVersion::Implicit1_0)
                    .map_err(|err| RekordboxError::Xml { at: 0, detail: err.to_string() })?
                    .into_owned(),
            ),
        };
        m.push((a.key.into_inner(), v));
    }
    Ok(Attrs(m))
}

/// The key prefix of one XML file's records: `rekordbox:<source>:`, so the TrackIDs of two
/// exports (each numbers its own from 1, or reuses rekordbox's database ids) never collide.
pub fn prefix(source: &str) -> String {
    if source.is_empty() { "rekordbox:".to_string() } else { format!("rekordbox:{source}:") }
}

/// Reads a Rekordbox XML document whose relative locations stay as written; see [`read_at`].
pub fn read(xml: &str, source: &str) -> Result<Library, RekordboxError> {
    read_at(xml, source, None)
}

/// Reads a Rekordbox XML document. `source` names the file (its path inside the djay folder):
/// track keys are `rekordbox:<source>:<TrackID>` and playlist keys `rekordbox:<source>:<path
/// of folder names>` (`Folder/Playlist`; a second playlist of the same path gets ` #2`), with
/// their entries in order, repeats included. A `TrackID` shared by several `TRACK`s is a
/// collision, not one track: the first keeps its key, each later one gets
/// `…:<TrackID>@<short hash of its Location>`, and a warning names the TrackID. `base` is the
/// folder the export lies in (a host path): a relative `Location` (`Music/a.mp3`, `../a.mp3`,
/// `file://localhost/./a.mp3`) is resolved against it, as Rekordbox does.
pub fn read_at(xml: &str, source: &str, base: Option<&str>) -> Result<Library, RekordboxError> {
    let mut st = State::new(source, base);
    let mut r = Reader::from_str(xml);
    loop {
        let at = r.buffer_position();
        let ev = r.read_event().map_err(|e| RekordboxError::Xml { at, detail: e.to_string() })?;
        match &ev {
            Event::Start(e) => st.open(e, false)?,
            Event::Empty(e) => st.open(e, true)?,
            Event::End(e) => st.close(e.name().into_inner()),
            Event::Eof => {
                if st.seen_root && !st.closed {
                    return Err(RekordboxError::Xml {
                        at,
                        detail: "the document ends before </DJ_PLAYLISTS>: the file is cut off (export it again from rekordbox)".into(),
                    });
                }
                break;
            }
            _ => {}
        }
    }
    st.finish()
}

/// The reader's place in the document and what it has read so far.
struct State<'a> {
    pre: String,
    base: Option<&'a str>,
    lib: Library,
    seen_root: bool,
    closed: bool,
    in_collection: bool,
    in_playlists: bool,
    /// The collection TRACK being read (its key), for its TEMPO and POSITION_MARK children.
    track: Option<String>,
    /// Folder names from the root down; the root NODE itself is `ROOT`.
    folders: Vec<String>,
    current: Option<(Playlist, i64)>,
    /// `Location` as written → the key of the first TRACK with it.
    by_location: HashMap<String, String>,
    /// `TrackID` → the keys of every TRACK with it, in document order.
    ids: HashMap<String, Vec<String>>,
    playlist_keys: HashMap<String, u32>,
    counts: Counts,
    playlist_counts: Counts,
}

impl<'a> State<'a> {
    fn new(source: &str, base: Option<&'a str>) -> Self {
        State {
            pre: prefix(source),
            base,
            lib: Library::new(),
            seen_root: false,
            closed: false,
            in_collection: false,
            in_playlists: false,
            track: None,
            folders: Vec::new(),
            current: None,
            by_location: HashMap::new(),
            ids: HashMap::new(),
            playlist_keys: HashMap::new(),
            counts: Counts::default(),
            playlist_counts: Counts::default(),
        }
    }

    fn close(&mut self, name: &str) {
        match name {
            "DJ_PLAYLISTS" => self.closed = true,
            "COLLECTION" => self.in_collection = false,
            "PLAYLISTS" => self.in_playlists = false,
            "TRACK" if self.in_collection => self.track = None,
            "NODE" if self.in_playlists => {
                if let Some((p, _)) = self.current.take() {
                    self.push_playlist(p);
                } else {
                    self.folders.pop();
                }
            }
            _ => {}
        }
    }

    fn open(&mut self, e: &BytesStart, empty: bool) -> Result<(), RekordboxError> {
        let name = e.name().into_inner();
        if !self.seen_root {
            if name != "DJ_PLAYLISTS" {
                return Err(RekordboxError::NotRekordbox(format!("the root element is <{name}>, not <DJ_PLAYLISTS>")));
            }
            self.seen_root = true;
            self.closed = empty;
            return Ok(());
        }
        match name {
            "COLLECTION" => self.in_collection = !empty,
            "PLAYLISTS" => self.in_playlists = !empty,
            "TRACK" if self.in_collection => self.collection_track(&attrs(e)?, empty),
            "POSITION_MARK" if self.in_collection => self.position_mark(&attrs(e)?),
            "TEMPO" if self.in_collection => self.tempo(&attrs(e)?),
            "NODE" if self.in_playlists => self.node(&attrs(e)?, empty),
            "TRACK" if self.in_playlists => self.entry(&attrs(e)?),
            _ => {}
        }
        Ok(())
    }

    /// A `TRACK` of the collection: a track, under a key of its own even when its TrackID is
    /// another's.
    fn collection_track(&mut self, a: &Attrs, empty: bool) {
        let Some(id) = a.get("TrackID").map(|s| s.trim()).filter(|s| !s.is_empty()) else {
            self.counts.skipped += 1;
            self.lib.errors.push(RecordError {
                collection: "COLLECTION".into(),
                key: format!("TRACK #{}", self.counts.read + self.counts.skipped),
                error: "a TRACK without TrackID".into(),
                ..RecordError::default()
            });
            return;
        };
        self.counts.read += 1;
        let location = a.get("Location").filter(|s| !s.is_empty());
        let first = format!("{}{id}", self.pre);
        let mut key = first.clone();
        if self.lib.tracks.contains_key(&key) {
            key = format!("{first}@{}", short_hash(location.unwrap_or("")));
            let mut n = 1;
            while self.lib.tracks.contains_key(&key) {
                n += 1;
                key = format!("{first}@{}-{n}", short_hash(location.unwrap_or("")));
            }
        }
        self.ids.entry(id.to_string()).or_default().push(key.clone());
        let num = |k: &str| a.get(k).and_then(|v| v.trim().parse::<f64>().ok()).filter(|v| v.is_finite());
        let tonality = a.get("Tonality").map(|s| s.trim()).filter(|s| !s.is_empty()).map(str::to_string);
        let mut t = Track {
            key: key.clone(),
            title: a.get("Name").unwrap_or_default().to_string(),
            artist: a.get("Artist").unwrap_or_default().to_string(),
            duration_ms: num("TotalTime").map(|s| (s * 1000.0).round() as i64),
            bpm: num("AverageBpm").filter(|b| *b > 0.0),
            musical_key: tonality.as_deref().and_then(crate::keys::normalize),
            tonality,
            play_count: num("PlayCount").map(|n| n.round() as i64),
            source: "rekordbox".into(),
            ..Track::default()
        };
        if let Some(loc) = location {
            self.by_location.entry(loc.to_string()).or_insert_with(|| key.clone());
            t.files.push(resolve_location(loc, self.base));
        }
        self.lib.tracks.insert(key.clone(), t);
        self.track = (!empty).then_some(key);
    }

    /// A `POSITION_MARK`: a hot cue (`Num` >= 0) or a memory cue (`Num` = -1) of the track
    /// being read. An empty one (no `Start`) is no cue.
    fn position_mark(&mut self, a: &Attrs) {
        let Some(t) = self.track.as_ref().and_then(|k| self.lib.tracks.get_mut(k)) else { return };
        let num = |k: &str| a.get(k).and_then(|v| v.trim().parse::<f64>().ok()).filter(|v| v.is_finite());
        let Some(start) = num("Start").filter(|s| *s >= 0.0) else { return };
        let number = num("Num").map(|n| n.round() as i64);
        let rgb = match (num("Red"), num("Green"), num("Blue")) {
            (Some(r), Some(g), Some(b)) => Some(format!(
                "#{:02x}{:02x}{:02x}",
                r.clamp(0.0, 255.0) as u8,
                g.clamp(0.0, 255.0) as u8,
                b.clamp(0.0, 255.0) as u8
            )),
            _ => None,
        };
        t.cues.push(Cue {
            number,
            time: start,
            end: num("End").filter(|e| *e >= 0.0),
            name: a.get("Name").map(|s| s.trim()).filter(|s| !s.is_empty()).map(str::to_string),
            color: None,
            kind: Some(if number.is_some_and(|n| n >= 0) { "hot" } else { "memory" }.into()),
            cue_type: num("Type").map(|n| n.round() as i64),
            rgb,
        });
    }

    /// A `TEMPO` of the track being read: one entry of its tempo map, values as written.
    fn tempo(&mut self, a: &Attrs) {
        let Some(t) = self.track.as_ref().and_then(|k| self.lib.tracks.get_mut(k)) else { return };
        let entry: BTreeMap<String, String> = ["Inizio", "Bpm", "Metro", "Battito"]
            .into_iter()
            .filter_map(|k| a.get(k).map(|v| (k.to_ascii_lowercase(), v.trim().to_string())))
            .collect();
        if !entry.is_empty() {
            t.tempo_map.push(entry);
        }
    }

    /// A playlist `NODE` (`Type="1"`) opens a playlist; any other opens a folder.
    fn node(&mut self, a: &Attrs, empty: bool) {
        let node_name = a.get("Name").unwrap_or_default().to_string();
        if a.get("Type") != Some("1") {
            if !empty {
                self.folders.push(node_name);
            }
            return;
        }
        self.playlist_counts.read += 1;
        let path: Vec<&str> = self.folders.iter().skip(1).map(String::as_str).chain([node_name.as_str()]).collect();
        let key_type = a.get("KeyType").and_then(|k| k.parse::<i64>().ok()).unwrap_or(0);
        let mut pkey = format!("{}{}", self.pre, path.join("/"));
        let n = self.playlist_keys.entry(pkey.clone()).or_insert(0u32);
        *n += 1;
        if *n > 1 {
            pkey = format!("{pkey} #{n}");
        }
        let p = Playlist { key: pkey, name: node_name, ..Playlist::default() };
        if empty {
            self.push_playlist(p);
        } else {
            self.current = Some((p, key_type));
        }
    }

    /// One entry of the playlist being read: a TrackID (`KeyType` 0) or a Location (1). An
    /// entry naming no track of the collection is counted under `unknown_fields`.
    fn entry(&mut self, a: &Attrs) {
        let Some((p, key_type)) = self.current.as_mut() else { return };
        let Some(k) = a.get("Key") else { return };
        let key =
            if *key_type == 1 { self.by_location.get(k).cloned() } else { Some(format!("{}{}", self.pre, k.trim())) };
        match key {
            Some(key) if self.lib.tracks.contains_key(&key) => p.entries.push(key),
            _ => self.playlist_counts.unknown_fields += 1,
        }
    }

    /// A playlist read to its end: its distinct tracks in first-seen order, and its repeats.
    fn push_playlist(&mut self, mut p: Playlist) {
        let mut seen = std::collections::HashSet::new();
        p.tracks = p.entries.iter().filter(|k| seen.insert(k.as_str())).cloned().collect();
        p.repeats = p.entries.len() - p.tracks.len();
        self.lib.playlists.push(p);
    }

    fn finish(mut self) -> Result<Library, RekordboxError> {
        if !self.seen_root {
            return Err(RekordboxError::NotRekordbox("no <DJ_PLAYLISTS> element".into()));
        }
        let mut shared: Vec<(&String, &Vec<String>)> = self.ids.iter().filter(|(_, keys)| keys.len() > 1).collect();
        shared.sort();
        for (id, keys) in shared {
            self.lib.warnings.push(Warning {
                collection: "COLLECTION".into(),
                key: keys[0].clone(),
                warning: format!(
                    "TrackID {id} is shared by {} TRACKs: the first keeps {}, the others are imported as {}",
                    keys.len(),
                    keys[0],
                    keys[1..].join(", ")
                ),
                ..Warning::default()
            });
        }
        self.lib.counts.insert("COLLECTION".into(), self.counts);
        self.lib.counts.insert("PLAYLISTS".into(), self.playlist_counts);
        Ok(self.lib)
    }
}

/// Eight hex digits of FNV-1a over `s`: short, stable across runs and platforms.
fn short_hash(s: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:08x}", (h ^ (h >> 32)) as u32)
}

/// A `Location` as an absolute `file://localhost/` URI where it is relative (no scheme, or
/// `file://localhost/` followed by `./` or `../`) and the export's folder is known; any
/// other location as written.
pub fn resolve_location(loc: &str, base: Option<&str>) -> String {
    let Some(base) = base else { return loc.to_string() };
    let rel = if let Some(rest) = loc.strip_prefix("file://") {
        let rest = rest.strip_prefix("localhost").unwrap_or(rest);
        match rest.strip_prefix('/') {
            Some(r) if r.starts_with("./") || r.starts_with("../") => r.to_string(),
            _ => return loc.to_string(),
        }
    } else {
        let scheme = loc
            .split_once(':')
            .is_some_and(|(s, _)| s.len() > 1 && s.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)));
        let drive = loc.as_bytes().get(1) == Some(&b':');
        if scheme || drive || loc.starts_with('/') || loc.starts_with('\\') {
            return if scheme { loc.to_string() } else { file_uri(loc) };
        }
        loc.to_string()
    };
    let rel = percent_encoding::percent_decode_str(&rel).decode_utf8_lossy().replace('\\', "/");
    let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
    for seg in rel.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    let drive = parts.first().is_some_and(|p| p.len() == 2 && p.ends_with(':'));
    let joined = parts.join("/");
    file_uri(&if drive { joined } else { format!("/{joined}") })
}

/// [`location_from_path`], keeping a Windows drive's colon as Rekordbox writes it
/// (`file://localhost/D:/Music/a.mp3`).
fn file_uri(path: &str) -> String {
    let p = path.replace('\\', "/");
    let b = p.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        let rest = location_from_path(&p[2..]);
        return format!("file://localhost/{}:/{}", &p[..1], rest["file://localhost/".len()..].trim_start_matches('/'));
    }
    location_from_path(&p)
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

    /// The shapes of public exports (rekordbox 5/6/7 as pyrekordbox, rekordcrate and
    /// DJ-Tools publish them): a TrackID shared by three TRACKs, hot and memory cues with
    /// colours, a loop, a tempo map, Open Key, Camelot and classical keys, relative locations,
    /// and a playlist that plays one track twice.
    #[test]
    fn collisions_cues_tempo_keys_repeats_and_relative_locations() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<DJ_PLAYLISTS Version="1.0.0"><PRODUCT Name="rekordbox" Version="6.6.2" Company="AlphaTheta"/>
<COLLECTION Entries="5">
<TRACK TrackID="7" Name="A" Artist="X" Kind="MP3 File" TotalTime="300" AverageBpm="120.00" Tonality="12m" Location="file://localhost/C:/Music/a.mp3">
  <TEMPO Inizio="0.025" Bpm="120.00" Metro="4/4" Battito="1"/>
  <TEMPO Inizio="48.026" Bpm="122.50" Metro="4/4" Battito="2"/>
  <TEMPO/>
  <POSITION_MARK Name="Drop" Type="0" Start="5.727" Num="0" Red="255" Green="55" Blue="111"/>
  <POSITION_MARK Name="" Type="4" Start="16.025" End="24.025" Num="1" Red="69" Green="172" Blue="219"/>
  <POSITION_MARK Name="" Type="0" Start="0.025" Num="-1"/>
  <POSITION_MARK/>
</TRACK>
<TRACK TrackID="7" Name="A" Artist="X" Kind="WAV File" Tonality="4d" Location="Music/a.wav"/>
<TRACK TrackID="7" Name="A" Artist="X" Kind="FLAC File" Tonality="8A" Location="file://localhost/../Lossless/a.flac"/>
<TRACK TrackID="8" Name="B" Artist="Y" Tonality="C#m" Location="file://localhost/Users/me/b.mp3"/>
<TRACK TrackID="9" Name="C" Artist="Z" Tonality="Unknown"/>
</COLLECTION>
<PLAYLISTS><NODE Type="0" Name="ROOT" Count="1">
<NODE Name="Set" Type="1" KeyType="0" Entries="5"><TRACK Key="8"/><TRACK Key="7"/><TRACK Key="8"/><TRACK Key="8"/><TRACK Key="404"/></NODE>
<NODE Name="ByPath" Type="1" KeyType="1" Entries="2"><TRACK Key="Music/a.wav"/><TRACK Key="Music/a.wav"/></NODE>
</NODE></PLAYLISTS></DJ_PLAYLISTS>"#;
        let lib = read_at(xml, "x/rb.xml", Some("/home/dj/exports")).unwrap();
        assert_eq!(lib.counts["COLLECTION"], Counts { read: 5, skipped: 0, unknown_fields: 0 });
        assert_eq!(lib.tracks.len(), 5, "{:?}", lib.tracks.keys());
        let wav = format!("rekordbox:x/rb.xml:7@{}", short_hash("Music/a.wav"));
        let flac = format!("rekordbox:x/rb.xml:7@{}", short_hash("file://localhost/../Lossless/a.flac"));
        assert_ne!(wav, flac);
        assert_eq!(lib.tracks["rekordbox:x/rb.xml:7"].files, ["file://localhost/C:/Music/a.mp3"]);
        assert_eq!(lib.tracks[&wav].files, ["file://localhost/home/dj/exports/Music/a.wav"]);
        assert_eq!(lib.tracks[&flac].files, ["file://localhost/home/dj/Lossless/a.flac"]);
        assert_eq!(lib.warnings.len(), 1, "{:?}", lib.warnings);
        let w = &lib.warnings[0];
        assert_eq!(w.key, "rekordbox:x/rb.xml:7");
        assert!(w.warning.starts_with("TrackID 7 is shared by 3 TRACKs") && w.warning.contains(&wav), "{}", w.warning);
        assert!(lib.errors.is_empty());

        let keys: Vec<(Option<&str>, Option<&str>)> = ["7", "8", "9"]
            .iter()
            .map(|id| &lib.tracks[&format!("rekordbox:x/rb.xml:{id}")])
            .map(|t| (t.tonality.as_deref(), t.musical_key.as_deref()))
            .collect();
        assert_eq!(keys, [(Some("12m"), Some("Dm")), (Some("C#m"), Some("C#m")), (Some("Unknown"), None)]);
        assert_eq!(
            (lib.tracks[&wav].musical_key.as_deref(), lib.tracks[&flac].musical_key.as_deref()),
            (Some("A"), Some("Am"))
        );

        let a = &lib.tracks["rekordbox:x/rb.xml:7"];
        assert_eq!(a.bpm, Some(120.0));
        let tempo: Vec<Vec<(&str, &str)>> =
            a.tempo_map.iter().map(|m| m.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()).collect();
        assert_eq!(
            tempo,
            [
                [("battito", "1"), ("bpm", "120.00"), ("inizio", "0.025"), ("metro", "4/4")],
                [("battito", "2"), ("bpm", "122.50"), ("inizio", "48.026"), ("metro", "4/4")]
            ]
        );
        let cues: Vec<(Option<i64>, &str, Option<i64>, f64, Option<f64>, Option<&str>, Option<&str>)> = a
            .cues
            .iter()
            .map(|c| {
                (c.number, c.kind.as_deref().unwrap(), c.cue_type, c.time, c.end, c.name.as_deref(), c.rgb.as_deref())
            })
            .collect();
        assert_eq!(
            cues,
            [
                (Some(0), "hot", Some(0), 5.727, None, Some("Drop"), Some("#ff376f")),
                (Some(1), "hot", Some(4), 16.025, Some(24.025), None, Some("#45acdb")),
                (Some(-1), "memory", Some(0), 0.025, None, None, None),
            ]
        );
        assert!(lib.tracks[&wav].cues.is_empty() && lib.tracks[&wav].tempo_map.is_empty());

        let set = &lib.playlists[0];
        let short = |v: &[String]| {
            v.iter().map(|k| k.trim_start_matches("rekordbox:x/rb.xml:").to_string()).collect::<Vec<_>>()
        };
        assert_eq!(short(&set.entries), ["8", "7", "8", "8"]);
        assert_eq!(short(&set.tracks), ["8", "7"]);
        assert_eq!(set.repeats, 2);
        let by_path = &lib.playlists[1];
        assert_eq!(
            (by_path.entries.clone(), by_path.tracks.len(), by_path.repeats),
            (vec![wav.clone(), wav.clone()], 1, 1)
        );
        assert_eq!(lib.counts["PLAYLISTS"], Counts { read: 2, skipped: 0, unknown_fields: 1 });

        // Without the export's folder, relative locations stay as written.
        let lib = read(xml, "x/rb.xml").unwrap();
        assert_eq!(lib.tracks[&wav].files, ["Music/a.wav"]);
    }

    #[test]
    fn relative_locations_resolve_against_the_export() {
        let r = |loc: &str| resolve_location(loc, Some("/m/ex ports"));
        assert_eq!(r("a%20b.mp3"), "file://localhost/m/ex%20ports/a%20b.mp3");
        assert_eq!(r("./sub/../c.mp3"), "file://localhost/m/ex%20ports/c.mp3");
        assert_eq!(r("../../../up.mp3"), "file://localhost/up.mp3");
        assert_eq!(r("file://localhost/./d.mp3"), "file://localhost/m/ex%20ports/d.mp3");
        assert_eq!(r("file://localhost/m/abs.mp3"), "file://localhost/m/abs.mp3");
        assert_eq!(r("/abs/e.mp3"), "file://localhost/abs/e.mp3");
        assert_eq!(r("D:\\Music\\f.mp3"), "file://localhost/D:/Music/f.mp3");
        assert_eq!(r("https://example.com/x.mp3"), "https://example.com/x.mp3");
        assert_eq!(resolve_location("../a.mp3", Some("C:/DJ/xml")), "file://localhost/C:/DJ/a.mp3");
    }
}
