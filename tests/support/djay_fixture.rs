//! A djay Pro `MediaLibrary.db` writer for the tests: a real SQLite file in WAL mode with the
//! YapDatabase table `database2(rowid, collection, key, data, metadata)` whose `data` values are
//! TSAF blobs encoded as chrisle/djay-connect `docs/FORMAT.md` describes (and as the real blobs
//! captured there are laid out: strings interned and referenced with `05 <n>`, doubles and
//! dates aligned to 8 bytes, arrays with a 4-aligned count and boxed `21 … 00` items).
//!
//! [`build`] makes a library with a known truth: which catalog track each djay track is, and
//! by which rung of the ladder it can be found. Written independently of the plugin's decoder
//! (plugins/djay uses crates/music/djay), so a mistake on one side does not hide in both.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One TSAF blob being written.
pub struct Tsaf {
    buf: Vec<u8>,
    strings: Vec<String>,
}

impl Default for Tsaf {
    fn default() -> Self {
        Self::new()
    }
}

impl Tsaf {
    pub fn new() -> Tsaf {
        let mut buf = b"TSAF".to_vec();
        buf.extend([3, 0, 3, 0]);
        buf.extend(3u32.to_le_bytes());
        buf.extend(0u32.to_le_bytes());
        buf.extend(0u32.to_le_bytes()); // string count, patched by finish()
        Tsaf { buf, strings: Vec::new() }
    }

    /// A string token: a reference when the blob already has it (and its index fits a byte).
    fn string(&mut self, s: &str) {
        if let Some(i) = self.strings.iter().position(|x| x == s).filter(|&i| i < 256) {
            self.buf.extend([0x05, i as u8]);
        } else {
            self.buf.push(0x08);
            self.buf.extend(s.as_bytes());
            self.buf.push(0);
            self.strings.push(s.to_string());
        }
    }

    pub fn begin(&mut self, class: &str) -> &mut Self {
        self.buf.push(0x2B);
        self.string(class);
        self
    }

    /// Ends an object; `key` names it when it is a field of the enclosing object.
    pub fn end(&mut self, key: Option<&str>) -> &mut Self {
        self.buf.push(0);
        if let Some(k) = key {
            self.string(k);
        }
        self
    }

    pub fn str(&mut self, key: &str, v: &str) -> &mut Self {
        self.string(v);
        self.string(key);
        self
    }

    fn f64_at(&mut self, tag: u8, v: f64) {
        self.buf.push(tag);
        while !self.buf.len().is_multiple_of(8) {
            self.buf.push(0);
        }
        self.buf.extend(v.to_le_bytes());
    }

    pub fn num(&mut self, key: &str, v: f64) -> &mut Self {
        self.f64_at(0x14, v);
        self.string(key);
        self
    }

    /// A date: CFAbsoluteTime seconds.
    pub fn date(&mut self, key: &str, cf: f64) -> &mut Self {
        self.f64_at(0x30, cf);
        self.string(key);
        self
    }

    fn array_head(&mut self, n: usize) {
        self.buf.push(0x0B);
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
        self.buf.extend((n as u32).to_le_bytes());
    }

    /// An array of boxed strings (`sourceURIs`, `itemUUIDs`).
    pub fn strings(&mut self, key: &str, items: &[String]) -> &mut Self {
        self.array_head(items.len());
        for s in items {
            self.buf.push(0x21);
            self.string(s);
            self.buf.push(0);
        }
        self.string(key);
        self
    }

    /// A nested `ADCMediaItemTitleID` as history items carry it (`titleID`) or as an array of
    /// one as the per-title collections do (`titleIDs`).
    pub fn title_id(&mut self, key: &str, t: &Title, array: bool) -> &mut Self {
        if array {
            self.array_head(1);
        }
        self.begin("ADCMediaItemTitleID").str("uuid", &t.id).str("title", &t.title).str("artist", &t.artist);
        self.num("duration", t.duration_ms as f64 / 1000.0);
        self.buf.push(0);
        self.string(key);
        self
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(0); // end of the top-level object
        let n = (self.strings.len() as u32).to_le_bytes();
        self.buf[16..20].copy_from_slice(&n);
        self.buf
    }
}

/// How a djay track can be found in the catalog (the truth of the fixture).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Truth {
    ExternalId,
    Isrc,
    Normalized,
    Fuzzy,
    Fingerprint,
    /// No catalog track.
    None,
    /// Two catalog tracks equally close: must be reported, never guessed.
    Ambiguous,
}

impl Truth {
    pub fn method(self) -> Option<&'static str> {
        Some(match self {
            Truth::ExternalId => "external_id",
            Truth::Isrc => "isrc",
            Truth::Normalized => "normalized",
            Truth::Fuzzy => "fuzzy",
            Truth::Fingerprint => "fingerprint",
            Truth::None | Truth::Ambiguous => return None,
        })
    }
}

#[derive(Debug, Clone)]
pub struct Title {
    pub id: String,
    pub title: String,
    pub artist: String,
    pub duration_ms: i64,
}

/// One djay track and its truth.
#[derive(Debug, Clone)]
pub struct Entry {
    pub djay: Title,
    pub truth: Truth,
    /// The catalog key it must link to (None for None/Ambiguous).
    pub catalog: Option<String>,
    pub isrc: Option<String>,
    pub streams: Vec<String>,
    pub files: Vec<String>,
    pub play_count: Option<i64>,
}

/// A catalog track to import (`baton catalog import tracks`).
#[derive(Debug, Clone)]
pub struct CatalogTrack {
    pub key: String,
    pub title: String,
    pub artists: Vec<String>,
    pub duration_ms: i64,
    pub isrc: Option<String>,
    pub external_ids: Vec<String>,
    /// Host paths of library files (`tracks.files`).
    pub files: Vec<String>,
}

pub struct Fixture {
    pub entries: Vec<Entry>,
    pub catalog: Vec<CatalogTrack>,
    pub sessions: usize,
    /// Plays per session key, in play order: (item uuid, titleID).
    pub plays: BTreeMap<String, Vec<(String, String)>>,
    pub bad_item: String,
    /// (djay copy, library original) of the fingerprint-only tracks: the caller writes the audio.
    pub audio: Vec<(PathBuf, PathBuf, u64)>,
    /// Unknown fields written on purpose, per collection.
    pub unknown_fields: BTreeMap<&'static str, u64>,
}

impl Fixture {
    pub fn expected(&self, t: Truth) -> usize {
        self.entries.iter().filter(|e| e.truth == t).count()
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() as usize) % xs.len()]
    }
}

const WORDS: &[&str] = &[
    "midnight",
    "shadows",
    "electric",
    "horizon",
    "velvet",
    "crystal",
    "thunder",
    "golden",
    "falling",
    "silence",
    "burning",
    "paradise",
    "ocean",
    "running",
    "hollow",
    "neon",
    "summer",
    "echoes",
    "wildfire",
    "gravity",
    "lanterns",
    "serenade",
    "voltage",
    "harbour",
    "meridian",
    "spectrum",
    "tempest",
    "lullaby",
    "mirage",
    "satellite",
];
const NAMES: &[&str] = &[
    "Kaskade",
    "Nora",
    "Fjord",
    "Lumen",
    "Arcadia",
    "Solace",
    "Vortex",
    "Marlow",
    "Tessellate",
    "Orion",
    "Helix",
    "Juno",
    "Kestrel",
    "Lyra",
    "Monarch",
    "Nimbus",
    "Oberon",
    "Pallas",
    "Quasar",
    "Rhea",
];
/// Names with accents, in NFC; the djay side writes them in NFD.
const ACCENTED: &[(&str, &str)] = &[
    ("Beyonc\u{e9}", "Beyonce\u{301}"),
    ("Sigur R\u{f3}s", "Sigur Ro\u{301}s"),
    ("Mot\u{f6}rhead", "Moto\u{308}rhead"),
    ("Ang\u{e8}le", "Ange\u{300}le"),
    ("R\u{f6}yksopp", "Ro\u{308}yksopp"),
    ("Andr\u{e9} Heller", "Andre\u{301} Heller"),
];

fn hex32(r: &mut Rng) -> String {
    format!("{:016x}{:016x}", r.next() << 31 ^ r.next(), r.next() << 31 ^ r.next())[..32].to_string()
}

fn uuid(r: &mut Rng) -> String {
    let h = hex32(r).to_uppercase();
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

fn base62(r: &mut Rng, n: usize) -> String {
    const A: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    (0..n).map(|_| A[(r.next() % 62) as usize] as char).collect()
}

fn swap_letters(w: &str) -> String {
    let mut c: Vec<char> = w.chars().collect();
    // The middle pair of different letters (swapping "ll" would change nothing).
    let mid = c.len() / 2;
    let i = (0..c.len() - 1).filter(|&i| c[i] != c[i + 1]).min_by_key(|&i| i.abs_diff(mid)).unwrap_or(0);
    c.swap(i, i + 1);
    c.into_iter().collect()
}

fn pct(path: &str) -> String {
    let mut out = String::new();
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Builds the truth: `n` djay tracks, mixed 60% spotify id / 15% ISRC / 15% text (normalised and
/// fuzzy) / 5% fingerprint / 5% none (half of those ambiguous), and the catalog they link to.
/// `music` is the host folder of the `music` grant (fingerprint-only tracks live there).
pub fn truth(n: usize, music: &Path) -> Fixture {
    let mut r = Rng(0x00d1_a7ee);
    let mut entries = Vec::new();
    let mut catalog = Vec::new();
    let mut audio = Vec::new();
    for i in 0..n {
        let id = hex32(&mut r);
        let w1 = r.pick(WORDS);
        let w2 = r.pick(WORDS);
        // Every title is unique: the index keeps two draws apart.
        let base = format!("{} {} {}", cap(w1), cap(w2), roman(i));
        let artist = r.pick(NAMES).to_string();
        let dur = 150_000 + (r.next() % 240_000) as i64;
        let key = format!("cat{i:05}");
        let slot = i % 40;
        let truth = match slot {
            0..24 => Truth::ExternalId,
            24..30 => Truth::Isrc,
            30..34 => Truth::Normalized,
            34..36 => Truth::Fuzzy,
            36..38 => Truth::Fingerprint,
            38 => Truth::None,
            _ => Truth::Ambiguous,
        };
        let mut e = Entry {
            djay: Title { id: id.clone(), title: base.clone(), artist: artist.clone(), duration_ms: dur },
            truth,
            catalog: Some(key.clone()),
            isrc: None,
            streams: Vec::new(),
            files: Vec::new(),
            play_count: None,
        };
        let mut c = CatalogTrack {
            key: key.clone(),
            title: base.clone(),
            artists: vec![artist.clone()],
            duration_ms: dur,
            isrc: None,
            external_ids: Vec::new(),
            files: Vec::new(),
        };
        let isrc = format!("QZ{}{:02}{:05}", ["ES4", "DA2", "HN7"][i % 3], 20 + i % 6, i);
        match truth {
            Truth::ExternalId => {
                let sp = format!("spotify:track:{}", base62(&mut r, 22));
                e.streams.push(sp.clone());
                if i % 5 == 0 {
                    e.streams.push(format!("beatport:track:{}", 10_000_000 + i));
                }
                // Titles drift between services; the id still holds.
                if i % 3 == 0 {
                    c.title = format!("{base} - Radio Edit");
                }
                if i % 2 == 0 {
                    e.isrc = Some(isrc.clone());
                    c.isrc = Some(isrc.clone());
                }
                c.external_ids.push(sp);
            }
            Truth::Isrc => {
                e.streams.push(format!("beatport:track:{}", 20_000_000 + i));
                e.isrc = Some(isrc.clone());
                // The catalog spells the ISRC with dashes, calls the title something else and
                // knows another service's id.
                c.isrc = Some(format!("{}-{}-{}-{}", &isrc[..2], &isrc[2..5], &isrc[5..7], &isrc[7..]));
                c.title = format!("{base} (Extended Mix)");
                c.external_ids.push(format!("spotify:track:{}", base62(&mut r, 22)));
            }
            Truth::Normalized => {
                match i % 4 {
                    0 => {
                        // NFD on the djay side (macOS), NFC in the catalog.
                        let (nfc, nfd) = ACCENTED[(i / 40) % ACCENTED.len()];
                        e.djay.artist = nfd.to_string();
                        c.artists = vec![nfc.to_string()];
                    }
                    1 => {
                        // "feat." inside djay's title; the catalog lists both artists.
                        let guest = r.pick(NAMES);
                        e.djay.title = format!("{base} (feat. {guest})");
                        c.artists = vec![artist.clone(), guest.to_string()];
                    }
                    2 => {
                        // Case and the "(Original Mix)" suffix.
                        e.djay.title = format!("{} (Original Mix)", base.to_uppercase());
                    }
                    _ => {
                        // A remix: the catalog also has the original, which must not be taken.
                        let remixer = r.pick(NAMES);
                        e.djay.title = format!("{base} ({remixer} Remix)");
                        c.title = e.djay.title.clone();
                        catalog.push(CatalogTrack {
                            key: format!("{key}o"),
                            title: base.clone(),
                            artists: vec![artist.clone()],
                            duration_ms: dur + 1000,
                            isrc: None,
                            external_ids: Vec::new(),
                            files: Vec::new(),
                        });
                    }
                }
                e.djay.duration_ms = dur + 1200;
                e.files.push(format!("file:///Users/dj/Music/Local%20Files/{}.mp3", pct(&e.djay.title)));
            }
            Truth::Fuzzy => {
                // One typo in the first word, half a second apart.
                let longest = if w1.len() >= w2.len() { cap(w1) } else { cap(w2) };
                e.djay.title = base.replacen(&longest, &swap_letters(&longest), 1);
                e.djay.duration_ms = dur + 400;
                e.files.push(format!("file:///Users/dj/Music/Local%20Files/{}.mp3", pct(&e.djay.title)));
            }
            Truth::Fingerprint => {
                // Nothing in common but the sound: djay knows a ripped file by its file name.
                e.djay.title = format!("Track {:02}", i % 97);
                e.djay.artist = String::new();
                let djay_copy = music.join("djay rips").join(format!("Track {i:04} \u{e9}.wav"));
                let original = music.join("library").join(format!("Sigur R\u{f3}s \u{2013} {key} (live) #1.wav"));
                e.files.push(format!("file://{}", pct(&djay_copy.to_string_lossy())));
                c.files.push(original.to_string_lossy().into_owned());
                audio.push((djay_copy, original, i as u64));
            }
            Truth::None => {
                e.catalog = None;
                e.streams.push(format!("soundcloud:tracks:{}", 1_100_000_000 + i));
            }
            Truth::Ambiguous => {
                // The catalog has the same song twice (a duplicate nobody merged).
                e.catalog = None;
                e.streams.push(format!("soundcloud:tracks:{}", 1_200_000_000 + i));
                catalog.push(CatalogTrack { key: format!("{key}b"), ..c.clone() });
            }
        }
        if truth != Truth::None {
            catalog.push(c);
        }
        entries.push(e);
    }
    Fixture {
        entries,
        catalog,
        sessions: 0,
        plays: BTreeMap::new(),
        bad_item: String::new(),
        audio,
        unknown_fields: BTreeMap::new(),
    }
}

fn cap(w: &str) -> String {
    let mut c = w.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

/// A distinct word per index (so no two titles collide): base-20 syllables.
fn roman(i: usize) -> String {
    const S: &[&str] = &[
        "ka", "lo", "mi", "nu", "pe", "ra", "si", "to", "vu", "ze", "ba", "de", "fi", "go", "hu", "ja", "ke", "li",
        "mo", "ny",
    ];
    format!("{}{}{}", cap(S[i / 400 % 20]), S[i / 20 % 20], S[i % 20])
}

/// Writes `MediaLibrary.db` at `path` (WAL mode; the returned connection keeps djay's WAL
/// open, as a running djay would) with `sessions` sessions of `per_session` plays each, one
/// undecodable history item, and unknown fields on a few records.
pub fn write_db(path: &Path, fx: &mut Fixture, sessions: usize, per_session: usize) -> rusqlite::Connection {
    let db = create_db(path);
    let mut r = Rng(0x5e55_10de);
    let tx = db.unchecked_transaction().unwrap();
    {
        let mut ins = tx.prepare("INSERT INTO database2 (collection, key, data) VALUES (?1, ?2, ?3)").unwrap();
        let mut put = |c: &str, k: &str, d: Vec<u8>| {
            ins.execute(rusqlite::params![c, k, d]).unwrap();
        };
        put("databaseInfo", "formatVersion", b"bplist00 not TSAF: never read".to_vec());
        // Plays first, so play counts follow them.
        let mut plays_of: BTreeMap<usize, i64> = BTreeMap::new();
        let mut history = Vec::new();
        let cf0 = 757_382_400.0; // 2025-01-01T00:00:00Z
        for s in 0..sessions {
            let suuid = uuid(&mut r);
            let start = cf0 + s as f64 * 86_400.0 * 3.0 + 72_000.0;
            let mut items = Vec::new();
            let mut order = Vec::new();
            for j in 0..per_session {
                let ti = (r.next() as usize) % fx.entries.len();
                *plays_of.entry(ti).or_default() += 1;
                let iu = uuid(&mut r);
                items.push(iu.clone());
                order.push((iu.clone(), fx.entries[ti].djay.id.clone()));
                history.push((iu, suuid.clone(), ti, start + j as f64 * 213.5, (j % 2) as f64 + 1.0));
            }
            let bad = (s == sessions / 2).then(|| uuid(&mut r));
            if let Some(b) = &bad {
                items.push(b.clone());
                fx.bad_item = b.clone();
            }
            let mut t = Tsaf::new();
            t.begin("ADCHistorySession")
                .str("uuid", &suuid)
                .str("deviceName", if s % 3 == 0 { "Club Mac" } else { "dj-laptop" });
            t.num("deviceType", 1.0)
                .date("startDate", start)
                .date("endDate", start + per_session as f64 * 213.5 + 300.0);
            t.strings("itemUUIDs", &items);
            put("historySessions", &suuid, t.finish());
            fx.plays.insert(suuid.clone(), order);
            if let Some(b) = bad {
                // Cut off mid-string: undecodable; reported with its collection and key.
                let mut t = Tsaf::new();
                t.begin("ADCHistorySessionItem").str("uuid", &b).str("sessionUUID", &suuid);
                let mut blob = t.finish();
                blob.truncate(blob.len() - 9);
                put("historySessionItems", &b, blob);
            }
        }
        fx.sessions = sessions;
        // Shuffled insertion order: play order must come from startTime.
        let len = history.len();
        for k in 0..len {
            let j = k + (r.next() as usize) % (len - k);
            history.swap(k, j);
        }
        for (iu, su, ti, start, deck) in &history {
            let e = &fx.entries[*ti];
            let mut t = Tsaf::new();
            t.begin("ADCHistorySessionItem").str("uuid", iu).str("sessionUUID", su);
            t.title_id("titleID", &e.djay, false);
            t.num("deckNumber", *deck).date("startTime", *start);
            if let Some(i) = &e.isrc {
                t.str("isrc", i);
            }
            let origin = if e.streams.iter().any(|s| s.starts_with("spotify:")) {
                "spotify"
            } else if e.streams.iter().any(|s| s.starts_with("beatport:")) {
                "beatport"
            } else if e.streams.iter().any(|s| s.starts_with("soundcloud:")) {
                "soundcloud"
            } else {
                "explorer"
            };
            t.str("originSourceID", origin);
            put("historySessionItems", iu, t.finish());
        }
        let mut unknown: BTreeMap<&'static str, u64> = BTreeMap::new();
        for (i, e) in fx.entries.iter_mut().enumerate() {
            let d = &e.djay;
            let mut t = Tsaf::new();
            t.begin("ADCMediaItemTitleID").str("uuid", &d.id).str("title", &d.title).str("artist", &d.artist);
            t.num("duration", d.duration_ms as f64 / 1000.0);
            put("mediaItemTitleIDs", &d.id, t.finish());

            let mut t = Tsaf::new();
            t.begin("ADCMediaItemAnalyzedData").str("uuid", &d.id).title_id("titleIDs", d, true);
            t.num("bpm", 100.0 + (i % 50) as f64 + 0.5)
                .num("keySignatureIndex", (i % 24) as f64)
                .num("isStraightGrid", 1.0);
            put("mediaItemAnalyzedData", &d.id, t.finish());

            let played = plays_of.get(&i).copied().unwrap_or(0);
            if played > 0 || i % 7 == 0 {
                let pc = played + (i % 3) as i64;
                e.play_count = Some(pc);
                let mut t = Tsaf::new();
                t.begin("ADCMediaItemUserData").str("uuid", &d.id).title_id("titleIDs", d, true);
                t.num("playCount", pc as f64);
                if i % 200 == 0 {
                    t.num("moodVector", 4.0); // a field this reader does not know: skipped and counted
                    *unknown.entry("mediaItemUserData").or_default() += 1;
                }
                put("mediaItemUserData", &d.id, t.finish());
            }
            if !e.files.is_empty() {
                let mut t = Tsaf::new();
                t.begin("ADCMediaItemLocation").str("uuid", &d.id).title_id("titleIDs", d, true);
                t.strings("sourceURIs", &e.files);
                put("localMediaItemLocations", &d.id, t.finish());
            }
            if !e.streams.is_empty() {
                let mut t = Tsaf::new();
                t.begin("ADCMediaItemLocation").str("uuid", &d.id).title_id("titleIDs", d, true);
                if let Some(i) = &e.isrc {
                    t.str("isrc", i);
                }
                t.strings("sourceURIs", &e.streams).num("type", 1.0);
                put("globalMediaItemLocations", &d.id, t.finish());
            }
        }
        for (k, name) in [
            ("mediaItemPlaylist-root", "Playlists"),
            ("A1B2C3D4-0000-0000-0000-000000000001", "Friday warm-up"),
            ("A1B2C3D4-0000-0000-0000-000000000002", "Peak time \u{1f525}"),
        ] {
            let mut t = Tsaf::new();
            t.begin("ADCMediaItemPlaylist").str("uuid", k).str("name", name).num("type", 0.0);
            put("mediaItemPlaylists", k, t.finish());
        }
        fx.unknown_fields = unknown;
    }
    tx.commit().unwrap();
    db
}

/// An empty YapDatabase `MediaLibrary.db` as FORMAT.md describes it (`database2` keyed by
/// `(collection, key)`, the `yap2` registry), in WAL mode and left open as a running djay keeps it.
pub fn create_db(path: &Path) -> rusqlite::Connection {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let db = rusqlite::Connection::open(path).unwrap();
    db.pragma_update(None, "journal_mode", "wal").unwrap();
    db.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
    db.execute_batch(
        "CREATE TABLE database2 (rowid INTEGER PRIMARY KEY, collection CHAR NOT NULL, key CHAR NOT NULL, data BLOB, metadata BLOB);
         CREATE UNIQUE INDEX true_primary_key ON database2 (collection, key);
         CREATE TABLE yap2 (extension CHAR NOT NULL, key CHAR NOT NULL, data BLOB, PRIMARY KEY (extension, key));",
    )
    .unwrap();
    db
}

/// A `MediaLibrary.db` holding exactly `rows` (collection, key, TSAF blob), in that order.
pub fn write_rows(path: &Path, rows: &[(String, String, Vec<u8>)]) -> rusqlite::Connection {
    let db = create_db(path);
    {
        let mut ins = db.prepare("INSERT INTO database2 (collection, key, data) VALUES (?1, ?2, ?3)").unwrap();
        for (c, k, d) in rows {
            ins.execute(rusqlite::params![c, k, d]).unwrap();
        }
    }
    db
}

/// Drops one TASK for the djay plugin (id `id`) into `h`'s inbox, runs `baton serve --once`, and
/// returns its RETURN body, checking there is exactly one.
pub fn run_task(h: &super::Home, id: &str, action: &str, params: serde_json::Value) -> serde_json::Value {
    let body = serde_json::json!({"schema": "baton.handoff/v1", "id": id, "kind": "task", "created_at": "2026-01-18T07:09:51Z",
                      "from": "Tester-Agent", "title": id, "plugin": "djay", "action": action, "params": params});
    h.drop_file(format!("20260118T070951Z__TASK__{id}__Tester-Agent.json"), body.to_string());
    h.ok(&["serve", "--once"]);
    let all = h.returns("Tester-Agent");
    let r = all.get(id).unwrap_or_else(|| panic!("no RETURN for {id}"));
    assert_eq!(r.len(), 1, "exactly one RETURN for {id}");
    r[0].clone()
}

/// `baton catalog import tracks` CSV for the fixture's catalog.
pub fn catalog_csv(fx: &Fixture) -> String {
    let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let mut out = String::from("_key,title,artists,duration_ms,isrc,external_ids,files\n");
    for c in &fx.catalog {
        out.push_str(&format!(
            "{},{},{},{},{},{},{}\n",
            q(&c.key),
            q(&c.title),
            q(&c.artists.join(";")),
            c.duration_ms,
            q(c.isrc.as_deref().unwrap_or("")),
            q(&c.external_ids.join(";")),
            q(&c.files.join(";"))
        ));
    }
    out
}
