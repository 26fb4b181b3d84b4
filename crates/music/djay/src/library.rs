//! djay Pro's library as baton sees it: tracks (one per titleID), sessions, plays and
//! playlists, built from YapDatabase rows `(collection, key, data)` of `MediaLibrary.db`.
//!
//! Rows arrive one at a time (the plugin pages through `database2` by rowid), each is decoded
//! on its own, and a row that does not decode is recorded with its collection and key while the
//! rest goes on. Fields this reader does not know are skipped and counted per collection, so a
//! new djay version shows up in the import result instead of silently losing data.
use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{Map, Value as Json, json};

use crate::tsaf::{self, Object};

/// The collections of `database2` this reader uses, with the fields it knows.
pub const COLLECTIONS: &[(&str, &[&str])] = &[
    ("mediaItemTitleIDs", &["uuid", "title", "artist", "duration", "isrc"]),
    (
        "mediaItemUserData",
        &[
            "uuid",
            "titleIDs",
            "titleID",
            "title",
            "artist",
            "duration",
            "playCount",
            "rating",
            "colorIndex",
            "manualBPM",
            "manualGain",
            "tags",
            "cuePoints",
            "loopRegions",
            "startPoint",
            "endPoint",
            "automixStartPoint",
            "automixEndPoint",
            "audioAlignmentFingerprint",
            "timestampIdentifier",
            "userChangedCloudKeys",
        ],
    ),
    (
        "mediaItemAnalyzedData",
        &[
            "uuid",
            "titleIDs",
            "titleID",
            "title",
            "artist",
            "duration",
            "bpm",
            "manualBPM",
            "keySignatureIndex",
            "isStraightGrid",
        ],
    ),
    (
        "localMediaItemLocations",
        &[
            "uuid",
            "titleIDs",
            "titleID",
            "title",
            "artist",
            "duration",
            "isrc",
            "sourceURIs",
            "type",
            "urlBookmarkData",
        ],
    ),
    (
        "globalMediaItemLocations",
        &["uuid", "titleIDs", "titleID", "title", "artist", "duration", "isrc", "sourceURIs", "type"],
    ),
    ("historySessions", &["uuid", "deviceName", "deviceType", "startDate", "endDate", "itemUUIDs"]),
    (
        "historySessionItems",
        &[
            "uuid",
            "sessionUUID",
            "titleID",
            "title",
            "artist",
            "duration",
            "deckNumber",
            "startTime",
            "isrc",
            "originSourceID",
        ],
    ),
    // Playlists and folders (a folder lists its children in `childUUIDs`); a playlist lists its
    // items in order in `itemUUIDs`, and each item (`mediaItemPlaylistItems`) names its playlist
    // and its track (`mediaItemUUID`: the titleID every per-track collection is keyed by).
    ("mediaItemPlaylists", &["uuid", "name", "type", "parentUUID", "itemUUIDs", "childUUIDs"]),
    ("mediaItemPlaylistItems", &["uuid", "playlistUUID", "mediaItemUUID"]),
];

/// The longest record key the catalog takes, in bytes.
pub const MAX_KEY: usize = 1024;

/// Why the catalog would refuse `key` as a record key, if it would.
pub fn key_problem(key: &str) -> Option<&'static str> {
    if key.is_empty() {
        Some("is empty")
    } else if key.len() > MAX_KEY {
        Some("is longer than the catalog's 1,024 bytes")
    } else if key.chars().any(char::is_control) {
        Some("holds a control character")
    } else {
        None
    }
}

/// How many undecodable records the import result lists.
pub const ERRORS_SHOWN: usize = 500;

/// Fields of the nested `ADCMediaItemTitleID`.
const TITLE_ID_FIELDS: &[&str] = &["uuid", "title", "artist", "duration", "isrc"];

/// One djay track: a titleID and what the library knows about it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Track {
    pub key: String,
    pub title: String,
    pub artist: String,
    pub duration_ms: Option<i64>,
    pub isrc: Option<String>,
    pub bpm: Option<f64>,
    pub key_index: Option<i64>,
    /// Rekordbox `Tonality` as written, or djay's key index as a key name.
    pub tonality: Option<String>,
    /// The key in one notation (classical: `C`, `F#m`; [`crate::keys::normalize`]), whichever
    /// notation `tonality` is in (classical, Camelot or Open Key). The record's `key` property.
    pub musical_key: Option<String>,
    /// Rekordbox: every `TEMPO` of a track whose tempo changes (or that has a beat grid), in
    /// order, with lower-case keys (`inizio`, `bpm`, `metro`, `battito`) and values as written.
    pub tempo_map: Vec<BTreeMap<String, String>>,
    pub play_count: Option<i64>,
    /// The BPM set by hand in djay (`manualBPM`), which djay plays over the analysed one.
    pub manual_bpm: Option<f64>,
    /// `isStraightGrid`: one fixed tempo for the whole track.
    pub straight_grid: Option<bool>,
    pub rating: Option<i64>,
    pub color: Option<i64>,
    pub tags: Vec<String>,
    /// Hot cues (`cuePoints`; djay's empty pads, time -1, left out) in pad order.
    pub cues: Vec<Cue>,
    /// Saved loops (`loopRegions`).
    pub loops: Vec<Cue>,
    /// Seconds: `startPoint`, `endPoint`, `automixStartPoint`, `automixEndPoint`.
    pub points: BTreeMap<String, f64>,
    /// Bytes of djay's packed audio-alignment fingerprint, when the user data holds one.
    pub fingerprint_bytes: Option<u64>,
    /// `file://` URIs as stored (percent-encoded).
    pub files: Vec<String>,
    /// Streaming URIs (`spotify:track:…`, `beatport:track:…`, `soundcloud:tracks:…`).
    pub streams: Vec<String>,
    /// Where it came from: `djay` or `rekordbox`.
    pub source: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Session {
    pub uuid: String,
    pub device: Option<String>,
    /// CFAbsoluteTime.
    pub start: Option<f64>,
    pub end: Option<f64>,
    pub item_uuids: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Play {
    pub uuid: String,
    pub session: String,
    pub title_id: Option<String>,
    pub title: String,
    pub artist: String,
    pub duration_ms: Option<i64>,
    pub deck: Option<i64>,
    /// CFAbsoluteTime.
    pub start: Option<f64>,
    pub isrc: Option<String>,
    pub origin: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Playlist {
    pub key: String,
    pub name: String,
    /// Track keys in order (each once: the catalog links a track to a playlist once).
    pub tracks: Vec<String>,
    /// Every entry in order, repeats included (a set that played a track twice).
    pub entries: Vec<String>,
    pub folder: bool,
    /// djay: the folders above it, outermost first (`Events/2024`); none at the top.
    pub path: Option<String>,
    /// djay: items whose track is in no per-track collection of the library (pruned, or
    /// undecodable), left out of `tracks` and counted here.
    pub missing: usize,
    /// djay: items naming a track the playlist already holds.
    pub repeats: usize,
    /// djay: the parent folder's key and the ordered item keys, as read.
    #[serde(skip)]
    pub(crate) parent: Option<String>,
    #[serde(skip)]
    pub(crate) items: Vec<String>,
}

/// One `mediaItemPlaylistItems` record: a track's place on a djay playlist.
#[derive(Debug, Clone, Default, PartialEq)]
struct PlaylistItem {
    key: String,
    playlist: String,
    track: String,
}

/// A cue point or a loop: its pad number (1-based, as djay writes it; Rekordbox's `Num`, from
/// 0, -1 for a memory cue), start and end seconds (the end only for loops and ranged cues) and
/// its name; Rekordbox's also their kind (`hot` or `memory`), `Type` and colour.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Cue {
    pub number: Option<i64>,
    pub time: f64,
    pub end: Option<f64>,
    pub name: Option<String>,
    pub color: Option<i64>,
    /// Rekordbox: `hot` (`Num` >= 0) or `memory` (`Num` = -1).
    pub kind: Option<String>,
    /// Rekordbox `Type`: 0 cue, 1 fade-in, 2 fade-out, 3 load, 4 loop.
    pub cue_type: Option<i64>,
    /// Rekordbox `Red`/`Green`/`Blue` as `#rrggbb`.
    pub rgb: Option<String>,
}

/// Per collection: rows read, rows skipped (undecodable), unknown fields skipped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Counts {
    pub read: u64,
    pub skipped: u64,
    pub unknown_fields: u64,
}

/// A record that did not decode (or was not written), and the source file it came from (set
/// by the caller that knows it, after reading that file).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RecordError {
    pub collection: String,
    pub key: String,
    pub error: String,
    pub file: String,
}

/// Something imported but not as written, named so it is never silent: a Rekordbox `TrackID`
/// shared by several `TRACK`s, a playlist whose entries do not fit one property.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Warning {
    pub collection: String,
    pub key: String,
    pub warning: String,
    pub file: String,
}

/// Everything read from one source.
#[derive(Debug, Clone, Default)]
pub struct Library {
    pub tracks: BTreeMap<String, Track>,
    pub sessions: BTreeMap<String, Session>,
    pub plays: Vec<Play>,
    pub playlists: Vec<Playlist>,
    pub counts: BTreeMap<String, Counts>,
    pub errors: Vec<RecordError>,
    pub warnings: Vec<Warning>,
    /// Unknown field names seen, per collection (for the result; at most 20 each).
    pub unknown: BTreeMap<String, BTreeSet<String>>,
    /// djay's playlist items, in the order read; joined to `playlists` by [`Library::finish`].
    items: Vec<PlaylistItem>,
}

/// A cue or loop object; None for djay's empty pads (time -1) and objects without a time.
fn cue(c: &Object, start: &str, end: &str) -> Option<Cue> {
    let time = c.num(start).filter(|t| *t >= 0.0)?;
    Some(Cue {
        number: c.int("number"),
        time,
        end: c.num(end).filter(|t| *t >= 0.0),
        name: nonempty(c.str("comment")).or_else(|| nonempty(c.str("name"))),
        color: c.int("colorIndex"),
        ..Cue::default()
    })
}

/// djay's `keySignatureIndex` as a key name: chromatic from C, each major key followed by its
/// relative minor (0 C, 1 Am, 2 Db, 3 Bbm, … 22 B, 23 G#m). Algoriddim does not document it;
/// this is the mapping ArloL/music-stuff (`lib_djay.py`) uses and checks against Essentia's keys.
pub fn key_name(index: i64) -> String {
    const MAJOR: [&str; 12] = ["C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"];
    const MINOR: [&str; 12] = ["Am", "Bbm", "Bm", "Cm", "C#m", "Dm", "Ebm", "Em", "Fm", "F#m", "Gm", "G#m"];
    let i = index.rem_euclid(24) as usize;
    if i.is_multiple_of(2) { MAJOR[i / 2] } else { MINOR[i / 2] }.to_string()
}

fn known(collection: &str) -> Option<&'static [&'static str]> {
    COLLECTIONS.iter().find(|(c, _)| *c == collection).map(|(_, f)| *f)
}

fn ms(seconds: f64) -> Option<i64> {
    (seconds.is_finite() && seconds >= 0.0).then(|| (seconds * 1000.0).round() as i64)
}

/// An ISRC in the catalog's form (`CC-XXX-YY-NNNNN` → `CCXXXYYNNNNN`), or None when the text
/// is not one: the catalog refuses a malformed ISRC, and one bad value must not fail the batch.
/// The catalog's own rule (`baton_normalize::isrc`), so the two can never disagree.
pub fn normalize_isrc(s: &str) -> Option<String> {
    baton_normalize::isrc(s)
}

fn nonempty(s: Option<&str>) -> Option<String> {
    s.map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
}

/// What a row says of the track it is about, from its own fields else its nested title ID:
/// title, artist, duration and ISRC.
struct Named {
    title: Option<String>,
    artist: Option<String>,
    duration: Option<i64>,
    isrc: Option<String>,
}

impl Named {
    fn of(o: &Object, nested: Option<&Object>) -> Self {
        let title = nonempty(o.str("title")).or_else(|| nested.and_then(|n| nonempty(n.str("title"))));
        let artist = nonempty(o.str("artist")).or_else(|| nested.and_then(|n| nonempty(n.str("artist"))));
        let duration = o.num("duration").or_else(|| nested.and_then(|n| n.num("duration"))).and_then(ms);
        let isrc = nonempty(o.str("isrc"))
            .or_else(|| nested.and_then(|n| nonempty(n.str("isrc"))))
            .and_then(|i| normalize_isrc(&i));
        Named { title, artist, duration, isrc }
    }

    /// Fills what the track lacks (an earlier row of another collection may have set it).
    fn fill(&self, t: &mut Track) {
        if t.title.is_empty()
            && let Some(s) = &self.title
        {
            t.title = s.clone();
        }
        if t.artist.is_empty()
            && let Some(s) = &self.artist
        {
            t.artist = s.clone();
        }
        if t.duration_ms.is_none() {
            t.duration_ms = self.duration;
        }
        if t.isrc.is_none() {
            t.isrc = self.isrc.clone();
        }
    }
}

impl Library {
    pub fn new() -> Library {
        Library::default()
    }

    pub fn count(&mut self, collection: &str) -> &mut Counts {
        self.counts.entry(collection.to_string()).or_default()
    }

    fn note_unknown(&mut self, collection: &str, o: &Object, fields: &[&str]) {
        let mut n = u64::from(o.stray);
        let mut names = Vec::new();
        for (k, _) in &o.fields {
            if !fields.contains(&k.as_str()) {
                n += 1;
                names.push(k.clone());
            }
        }
        if n > 0 {
            self.count(collection).unknown_fields += n;
            let set = self.unknown.entry(collection.to_string()).or_default();
            for k in names {
                if set.len() < 20 {
                    set.insert(k);
                }
            }
        }
    }

    fn track(&mut self, key: &str) -> &mut Track {
        self.tracks.entry(key.to_string()).or_insert_with(|| Track {
            key: key.to_string(),
            source: "djay".into(),
            ..Track::default()
        })
    }

    /// Reads one row of `database2`. Rows of other collections are ignored (not counted).
    pub fn add_row(&mut self, collection: &str, key: &str, data: Option<&[u8]>) {
        let Some(fields) = known(collection) else { return };
        let decoded = match data {
            Some(b) => tsaf::decode(b).map_err(|e| e.to_string()),
            None => Err("no data (NULL blob)".to_string()),
        };
        let o = match decoded {
            Ok(o) => o,
            Err(error) => {
                self.count(collection).skipped += 1;
                self.errors.push(RecordError {
                    collection: collection.into(),
                    key: key.into(),
                    error,
                    ..RecordError::default()
                });
                return;
            }
        };
        self.count(collection).read += 1;
        self.note_unknown(collection, &o, fields);
        let nested = o.object("titleIDs").or_else(|| o.object("titleID")).cloned();
        if let Some(n) = &nested {
            self.note_unknown(collection, n, TITLE_ID_FIELDS);
        }
        let named = Named::of(&o, nested.as_ref());
        match collection {
            "mediaItemTitleIDs" => {
                let t = self.track(key);
                // The title ID record is the authority on title and artist.
                if let Some(s) = &named.title {
                    t.title = s.clone();
                }
                if let Some(s) = &named.artist {
                    t.artist = s.clone();
                }
                named.fill(t);
            }
            "mediaItemUserData" => self.add_user_data(key, &o, &named),
            "mediaItemAnalyzedData" => self.add_analysis(key, &o, &named),
            "localMediaItemLocations" | "globalMediaItemLocations" => self.add_locations(key, &o, &named),
            "historySessions" => {
                let s = Session {
                    uuid: nonempty(o.str("uuid")).unwrap_or_else(|| key.to_string()),
                    device: nonempty(o.str("deviceName")),
                    start: o.date("startDate"),
                    end: o.date("endDate"),
                    item_uuids: o.strings("itemUUIDs"),
                };
                self.sessions.insert(key.to_string(), s);
            }
            "historySessionItems" => self.add_play(key, &o, nested.as_ref(), named),
            "mediaItemPlaylists" => {
                let name = nonempty(o.str("name")).unwrap_or_default();
                self.playlists.push(Playlist {
                    key: key.to_string(),
                    name,
                    // The root ("Playlists") and the folders hold playlists, not tracks.
                    folder: key == "mediaItemPlaylist-root" || o.get("childUUIDs").is_some(),
                    parent: nonempty(o.str("parentUUID")),
                    items: o.strings("itemUUIDs"),
                    ..Playlist::default()
                });
            }
            "mediaItemPlaylistItems" => {
                let (Some(playlist), Some(track)) = (nonempty(o.str("playlistUUID")), nonempty(o.str("mediaItemUUID")))
                else {
                    self.count(collection).read -= 1;
                    self.count(collection).skipped += 1;
                    let error = "a playlist item without `playlistUUID` or `mediaItemUUID`".to_string();
                    self.errors.push(RecordError {
                        collection: collection.into(),
                        key: key.into(),
                        error,
                        ..RecordError::default()
                    });
                    return;
                };
                self.items.push(PlaylistItem { key: key.to_string(), playlist, track });
            }
            _ => {}
        }
    }

    /// A `mediaItemUserData` row: the user's marks on a track (start/end and automix points,
    /// cues, loops, play count, rating, colour, manual BPM, tags) and the size of its audio
    /// fingerprint.
    fn add_user_data(&mut self, key: &str, o: &Object, named: &Named) {
        let mut points = BTreeMap::new();
        for name in ["startPoint", "endPoint", "automixStartPoint", "automixEndPoint"] {
            let at = match o.get(name) {
                Some(tsaf::Value::Object(c)) => c.num("time"),
                Some(v) => v.as_f64(),
                None => None,
            };
            if let Some(at) = at.filter(|t| *t >= 0.0) {
                points.insert(name.to_string(), at);
            }
        }
        let cues = o.objects("cuePoints").into_iter().filter_map(|c| cue(c, "time", "endTime")).collect();
        let loops = o.objects("loopRegions").into_iter().filter_map(|c| cue(c, "startTime", "endTime")).collect();
        let fingerprint =
            o.object("audioAlignmentFingerprint").or_else(|| o.object("timestampIdentifier")).and_then(|f| {
                f.fields.iter().find_map(|(_, v)| match v {
                    tsaf::Value::Data(d) => Some(d.len() as u64),
                    _ => None,
                })
            });
        let (pc, rating, color, manual, tags) =
            (o.int("playCount"), o.int("rating"), o.int("colorIndex"), o.num("manualBPM"), o.strings("tags"));
        let t = self.track(key);
        named.fill(t);
        t.play_count = pc.filter(|n| *n >= 0);
        t.rating = rating.filter(|r| (1..=5).contains(r));
        t.color = color.filter(|c| *c > 0);
        if let Some(m) = manual.filter(|b| *b > 0.0) {
            t.manual_bpm = Some(m);
        }
        t.tags = tags;
        t.cues = cues;
        t.loops = loops;
        t.points = points;
        t.fingerprint_bytes = fingerprint;
    }

    /// A `mediaItemAnalyzedData` row: djay's analysis (BPM, key, straight grid).
    fn add_analysis(&mut self, key: &str, o: &Object, named: &Named) {
        let (bpm, ki, manual, straight) =
            (o.num("bpm"), o.int("keySignatureIndex"), o.num("manualBPM"), o.bool("isStraightGrid"));
        let t = self.track(key);
        named.fill(t);
        t.bpm = bpm.filter(|b| *b > 0.0);
        t.key_index = ki.filter(|k| (0..24).contains(k));
        if t.tonality.is_none() {
            t.tonality = t.key_index.map(key_name);
        }
        if t.musical_key.is_none() {
            t.musical_key = t.key_index.map(key_name);
        }
        if let Some(m) = manual.filter(|b| *b > 0.0) {
            t.manual_bpm = Some(m);
        }
        t.straight_grid = straight;
    }

    /// A `localMediaItemLocations` or `globalMediaItemLocations` row: where a track's file or
    /// stream is.
    fn add_locations(&mut self, key: &str, o: &Object, named: &Named) {
        let mut uris = o.strings("sourceURIs");
        // macOS: a Music-library track's URI is `com.apple.iTunes:<id>` and the file is
        // only in the security-scoped bookmark; its path is read from there.
        if let Some(tsaf::Value::Data(d)) = o.get("urlBookmarkData")
            && let Some(path) = crate::bookmark::path(d)
        {
            uris.push(crate::location::location_from_path(&path));
        }
        let t = self.track(key);
        named.fill(t);
        for u in uris {
            let list = if u.starts_with("file:") { &mut t.files } else { &mut t.streams };
            if !list.contains(&u) {
                list.push(u);
            }
        }
    }

    /// A `historySessionItems` row: one play in a session, which also names the track it
    /// played (its title ID record is filled from it).
    fn add_play(&mut self, key: &str, o: &Object, nested: Option<&Object>, named: Named) {
        let title_id = nested.and_then(|n| nonempty(n.str("uuid")));
        if let Some(tid) = &title_id {
            named.fill(self.track(tid));
        }
        let p = Play {
            uuid: nonempty(o.str("uuid")).unwrap_or_else(|| key.to_string()),
            session: nonempty(o.str("sessionUUID")).unwrap_or_default(),
            title_id,
            title: named.title.unwrap_or_default(),
            artist: named.artist.unwrap_or_default(),
            duration_ms: named.duration,
            deck: o.num("deckNumber").map(|n| n.round() as i64),
            start: o.date("startTime"),
            isrc: named.isrc,
            origin: nonempty(o.str("originSourceID")),
        };
        self.plays.push(p);
    }

    /// Joins djay's playlist items to their playlists, once every row is read: each playlist's
    /// tracks in the order of its `itemUUIDs`, then the items that name the playlist but are not
    /// in that list (djay keeps the order in a view too; a list may lag), in the order read. A
    /// track is a djay track key (its titleID, in any case); an item whose track the library
    /// does not hold is counted as `missing`, one naming a track already there as a repeat. The
    /// folders and the root are dropped, each playlist keeping its folder path.
    pub fn finish(&mut self) {
        let items: BTreeMap<&str, &PlaylistItem> = self.items.iter().map(|i| (i.key.as_str(), i)).collect();
        let mut by_playlist: BTreeMap<&str, Vec<&PlaylistItem>> = BTreeMap::new();
        for i in &self.items {
            by_playlist.entry(i.playlist.as_str()).or_default().push(i);
        }
        // Made on first need only: a Rekordbox library's entries name their tracks exactly.
        let mut lower: Option<BTreeMap<String, &str>> = None;
        let names: BTreeMap<&str, (&str, Option<&str>, bool)> =
            self.playlists.iter().map(|p| (p.key.as_str(), (p.name.as_str(), p.parent.as_deref(), p.folder))).collect();
        let mut done = Vec::with_capacity(self.playlists.len());
        for p in &self.playlists {
            if p.folder {
                continue;
            }
            // A playlist read with its entries (Rekordbox's) keeps them; djay's items follow.
            let mut out = Playlist {
                key: p.key.clone(),
                name: p.name.clone(),
                entries: p.entries.clone(),
                missing: p.missing,
                ..Playlist::default()
            };
            let listed: Vec<&PlaylistItem> = p.items.iter().filter_map(|k| items.get(k.as_str()).copied()).collect();
            let listed_keys: BTreeSet<&str> = listed.iter().map(|i| i.key.as_str()).collect();
            let rest =
                by_playlist.get(p.key.as_str()).into_iter().flatten().filter(|i| !listed_keys.contains(i.key.as_str()));
            for i in listed.iter().copied().chain(rest.copied()) {
                let key = if self.tracks.contains_key(&i.track) {
                    Some(i.track.as_str())
                } else {
                    lower
                        .get_or_insert_with(|| self.tracks.keys().map(|k| (k.to_lowercase(), k.as_str())).collect())
                        .get(&i.track.to_lowercase())
                        .copied()
                };
                match key {
                    Some(k) => out.entries.push(k.to_string()),
                    None => out.missing += 1,
                }
            }
            // The distinct tracks in first-seen order; every other entry is a repeat.
            let mut seen: BTreeSet<&str> = BTreeSet::new();
            out.tracks = out.entries.iter().filter(|k| seen.insert(k.as_str())).cloned().collect();
            out.repeats = out.entries.len() - out.tracks.len();
            // Item keys listed by the playlist whose item record is not in the library.
            out.missing += p.items.len() - listed.len();
            // The folders above, outermost first (a cycle or a missing folder ends the walk).
            let mut path = Vec::new();
            let mut at = p.parent.as_deref();
            while let Some(k) = at {
                let Some((name, parent, true)) = names.get(k).copied() else { break };
                if k == "mediaItemPlaylist-root" || path.len() > 32 {
                    break;
                }
                path.push(name.to_string());
                at = parent;
            }
            path.reverse();
            out.path = (!path.is_empty()).then(|| path.join("/"));
            done.push(out);
        }
        self.playlists = done;
        self.items.clear();
    }

    /// Sets aside, as errors, the records whose key the catalog would refuse (empty, over
    /// [`MAX_KEY`] bytes, or holding a control character: `baton-catalog`'s rule), and drops
    /// playlist links to such tracks. Called before the first write: one such key would refuse
    /// its whole batch, and a refusal in a later collection would leave the earlier ones
    /// written. `names` are the catalog collections the records go to (tracks, sessions, plays,
    /// playlists), as the errors name them. Returns how many were set aside.
    pub fn set_aside_bad_keys(&mut self, names: [&str; 4]) -> usize {
        let mut errors = Vec::new();
        let mut check = |collection: &str, key: &str| -> bool {
            match key_problem(key) {
                None => true,
                Some(why) => {
                    let shown: String = key.chars().take(120).flat_map(char::escape_default).collect();
                    errors.push(RecordError {
                        collection: collection.into(),
                        key: shown,
                        error: format!("not written: the key {why}"),
                        ..RecordError::default()
                    });
                    false
                }
            }
        };
        let before = self.tracks.len();
        self.tracks.retain(|k, _| check(names[0], k));
        let dropped_tracks = before != self.tracks.len();
        self.sessions.retain(|_, v| check(names[1], &v.uuid));
        self.plays.retain(|p| check(names[2], &p.uuid));
        self.playlists.retain(|p| check(names[3], &p.key));
        if dropped_tracks {
            let tracks = &self.tracks;
            for p in &mut self.playlists {
                let n = p.entries.len();
                p.tracks.retain(|k| tracks.contains_key(k));
                p.entries.retain(|k| tracks.contains_key(k));
                p.missing += n - p.entries.len();
                p.repeats = p.entries.len() - p.tracks.len();
            }
        }
        let n = errors.len();
        self.errors.extend(errors);
        n
    }

    /// Plays of each session in play order (`startTime`, then item uuid).
    pub fn sort_plays(&mut self) {
        self.plays.sort_by(|a, b| {
            a.session
                .cmp(&b.session)
                .then(a.start.unwrap_or(f64::MAX).total_cmp(&b.start.unwrap_or(f64::MAX)))
                .then(a.uuid.cmp(&b.uuid))
        });
    }

    /// The import result's `read` part: per collection read / skipped / unknown fields, and
    /// the records that did not decode (collection, key, reason).
    pub fn summary(&self) -> Json {
        let mut per = Map::new();
        for (c, n) in &self.counts {
            let mut v = json!({"read": n.read, "skipped": n.skipped, "unknown_fields": n.unknown_fields});
            if let Some(u) = self.unknown.get(c) {
                v["unknown_names"] = json!(u);
            }
            per.insert(c.clone(), v);
        }
        // The first 500 records that did not decode (the rest are in the task's log): a
        // damaged library must not push the RETURN past the plugin's output cap.
        let shown = &self.errors[..self.errors.len().min(ERRORS_SHOWN)];
        json!({"collections": per, "errors": shown, "errors_total": self.errors.len()})
    }
}

/// The record of one djay track in the plugin's `djay_tracks` collection.
/// A track's catalog record (`{"key", "props"}`), as a JSON value.
pub fn track_record(t: &Track) -> Json {
    serde_json::to_value(TrackRecord::of(t)).unwrap_or(Json::Null)
}

/// A track's catalog record as JSON text, appended to `out`: what the import sends, made
/// without building a JSON value first (for a 50,000-track library that value was most of the
/// plugin's time making records, one map and a string per property per track).
pub fn write_track_record(t: &Track, out: &mut Vec<u8>) {
    // Serialising plain strings, numbers and maps into a Vec cannot fail.
    let _ = serde_json::to_writer(out, &TrackRecord::of(t));
}

/// [`track_record`]'s shape, borrowed from the track: each property is left out when the
/// track has none. `tempo_map`, `cues` and `loops` are JSON texts of their own (text
/// properties), written as they always were: their text decides whether an import changed them.
#[derive(Serialize)]
struct TrackRecord<'a> {
    key: &'a str,
    props: TrackProps<'a>,
}

#[derive(Serialize)]
struct TrackProps<'a> {
    title: &'a str,
    artist: &'a str,
    source: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    isrc: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bpm: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_index: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tonality: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    play_count: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    manual_bpm: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    straight_grid: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rating: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    color: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fingerprint_bytes: Option<u64>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    tags: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tempo_map: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cues: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    loops: Option<String>,
    #[serde(flatten)]
    points: BTreeMap<&'static str, f64>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    files: &'a [String],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    streams: &'a [String],
}

/// One cue or loop inside the `cues`/`loops` text, its keys in the order the text has always
/// had them (alphabetical, nulls kept). Rekordbox's cues also carry their kind, type and
/// colour; djay's keep their shape.
#[derive(Serialize)]
struct CueText<'a> {
    color: Option<i64>,
    end: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'a str>,
    name: Option<&'a str>,
    number: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rgb: Option<Option<&'a str>>,
    time: f64,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    cue_type: Option<Option<i64>>,
}

impl<'a> TrackRecord<'a> {
    fn of(t: &'a Track) -> Self {
        let round2 = |v: f64| (v * 100.0).round() / 100.0;
        let round = |v: f64| (v * 1000.0).round() / 1000.0;
        let cue = |c: &'a Cue| {
            let rekordbox = c.kind.is_some();
            CueText {
                color: c.color,
                end: c.end.map(round),
                kind: c.kind.as_deref(),
                name: c.name.as_deref(),
                number: c.number,
                rgb: rekordbox.then_some(c.rgb.as_deref()),
                time: round(c.time),
                cue_type: rekordbox.then_some(c.cue_type),
            }
        };
        let cues = |list: &'a [Cue]| {
            (!list.is_empty())
                .then(|| serde_json::to_string(&list.iter().map(cue).collect::<Vec<_>>()).unwrap_or_default())
        };
        let points = t
            .points
            .iter()
            .map(|(k, v)| {
                let name = match k.as_str() {
                    "startPoint" => "start_point",
                    "endPoint" => "end_point",
                    "automixStartPoint" => "automix_start",
                    _ => "automix_end",
                };
                (name, round(*v))
            })
            .collect();
        TrackRecord {
            key: &t.key,
            props: TrackProps {
                title: &t.title,
                artist: &t.artist,
                source: &t.source,
                duration_ms: t.duration_ms,
                isrc: t.isrc.as_deref(),
                bpm: t.bpm.map(round2),
                key_index: t.key_index,
                tonality: t.tonality.as_deref(),
                play_count: t.play_count,
                manual_bpm: t.manual_bpm.map(round2),
                straight_grid: t.straight_grid,
                rating: t.rating,
                color: t.color,
                fingerprint_bytes: t.fingerprint_bytes,
                tags: &t.tags,
                key: t.musical_key.as_deref(),
                tempo_map: (!t.tempo_map.is_empty()).then(|| serde_json::to_string(&t.tempo_map).unwrap_or_default()),
                cues: cues(&t.cues),
                loops: cues(&t.loops),
                points,
                files: &t.files,
                streams: &t.streams,
            },
        }
    }
}

pub fn session_record(s: &Session, plays: usize) -> Json {
    let mut p = Map::new();
    if let Some(d) = &s.device {
        p.insert("device".into(), json!(d));
    }
    if let Some(t) = s.start {
        p.insert("start".into(), json!(tsaf::cf_to_rfc3339(t)));
    }
    if let Some(t) = s.end {
        p.insert("end".into(), json!(tsaf::cf_to_rfc3339(t)));
    }
    p.insert("plays".into(), json!(plays));
    json!({"key": s.uuid, "props": p})
}

pub fn play_record(p: &Play, position: usize) -> Json {
    let mut m = Map::new();
    m.insert("session".into(), json!(p.session));
    m.insert("position".into(), json!(position));
    m.insert("title".into(), json!(p.title));
    m.insert("artist".into(), json!(p.artist));
    let opt = |m: &mut Map<String, Json>, k: &str, v: Option<Json>| {
        if let Some(v) = v {
            m.insert(k.into(), v);
        }
    };
    opt(&mut m, "title_id", p.title_id.clone().map(Json::from));
    opt(&mut m, "duration_ms", p.duration_ms.map(|v| json!(v)));
    opt(&mut m, "deck", p.deck.map(|v| json!(v)));
    opt(&mut m, "start", p.start.map(|t| json!(tsaf::cf_to_rfc3339(t))));
    opt(&mut m, "isrc", p.isrc.clone().map(Json::from));
    opt(&mut m, "origin", p.origin.clone().map(Json::from));
    json!({"key": p.uuid, "props": m})
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The record's text is what the import sends, its value what other actions read: the
    /// same record. The cues' and tempo map's texts are stored as written, so an import after
    /// an upgrade finds them unchanged only if their text is byte for byte what it was (keys
    /// in alphabetical order, nulls kept; Rekordbox's cues with kind, rgb and type).
    #[test]
    fn a_track_record_as_text_is_its_value_and_keeps_the_cue_texts() {
        let mut points = BTreeMap::new();
        points.insert("startPoint".to_string(), 0.12345);
        let t = Track {
            key: "rekordbox:a.xml:1".into(),
            title: "Intro \"live\"".into(),
            artist: "A".into(),
            duration_ms: Some(180_000),
            bpm: Some(127.996),
            tonality: Some("8A".into()),
            musical_key: Some("Am".into()),
            tempo_map: vec![BTreeMap::from([
                ("bpm".to_string(), "128.00".to_string()),
                ("inizio".to_string(), "0.025".to_string()),
            ])],
            cues: vec![
                Cue {
                    number: Some(0),
                    time: 32.0254,
                    name: Some("Drop".into()),
                    kind: Some("hot".into()),
                    cue_type: Some(0),
                    rgb: Some("#28e214".into()),
                    ..Cue::default()
                },
                Cue { number: None, time: 0.025, kind: Some("memory".into()), ..Cue::default() },
            ],
            loops: vec![Cue {
                number: Some(1),
                time: 1.5,
                end: Some(3.25),
                name: Some("L".into()),
                color: Some(2),
                ..Cue::default()
            }],
            points,
            files: vec!["file:///m/a.mp3".into()],
            source: "rekordbox".into(),
            ..Track::default()
        };
        let mut text = Vec::new();
        write_track_record(&t, &mut text);
        let parsed: Json = serde_json::from_slice(&text).unwrap();
        assert_eq!(parsed, track_record(&t));
        let p = &parsed["props"];
        assert_eq!(p["bpm"], json!(128.0));
        assert_eq!(p["key"], "Am");
        assert_eq!(p["start_point"], json!(0.123));
        assert_eq!(p["tempo_map"], r#"[{"bpm":"128.00","inizio":"0.025"}]"#);
        assert_eq!(
            p["cues"],
            r##"[{"color":null,"end":null,"kind":"hot","name":"Drop","number":0,"rgb":"#28e214","time":32.025,"type":0},{"color":null,"end":null,"kind":"memory","name":null,"number":null,"rgb":null,"time":0.025,"type":null}]"##
        );
        assert_eq!(p["loops"], r#"[{"color":2,"end":3.25,"name":"L","number":1,"time":1.5}]"#);
        for absent in ["isrc", "play_count", "tags", "streams", "rating"] {
            assert!(p.get(absent).is_none(), "{absent}: {p}");
        }
    }

    #[test]
    fn key_names_follow_the_index() {
        let names: Vec<String> = [0, 1, 2, 3, 13, 15, 22, 23].into_iter().map(key_name).collect();
        assert_eq!(names, ["C", "Am", "Db", "Bbm", "Ebm", "Em", "B", "G#m"]);
    }

    #[test]
    fn keys_the_catalog_refuses_are_set_aside_before_any_write() {
        let mut lib = Library::new();
        for k in ["good", "bad\nkey"] {
            lib.track(k).title = k.into();
        }
        lib.sessions.insert("s".into(), Session { uuid: "s\u{0}".into(), ..Session::default() });
        lib.plays.push(Play { uuid: "p".repeat(MAX_KEY + 1), ..Play::default() });
        lib.plays.push(Play { uuid: "p1".into(), ..Play::default() });
        lib.playlists.push(Playlist {
            key: "l".into(),
            tracks: vec!["good".into(), "bad\nkey".into()],
            entries: vec!["good".into(), "bad\nkey".into(), "good".into()],
            ..Playlist::default()
        });
        assert_eq!(lib.set_aside_bad_keys(["t", "s", "p", "l"]), 3);
        assert_eq!(lib.tracks.keys().collect::<Vec<_>>(), ["good"]);
        assert!(lib.sessions.is_empty());
        assert_eq!(lib.plays.len(), 1);
        let p = &lib.playlists[0];
        assert_eq!((p.tracks.clone(), p.entries.len(), p.missing, p.repeats), (vec!["good".to_string()], 2, 1, 1));
        let e: Vec<(&str, &str)> = lib.errors.iter().map(|e| (e.collection.as_str(), e.error.as_str())).collect();
        assert_eq!(
            e,
            [
                ("t", "not written: the key holds a control character"),
                ("s", "not written: the key holds a control character"),
                ("p", "not written: the key is longer than the catalog's 1,024 bytes")
            ]
        );
        assert_eq!(lib.errors[0].key, "bad\\nkey");
    }

    #[test]
    fn isrcs_are_normalised_or_dropped() {
        assert_eq!(normalize_isrc("gb-smu-14-29088").as_deref(), Some("GBSMU1429088"));
        assert_eq!(normalize_isrc("not an isrc"), None);
    }
}
