//! End to end, the `spotify` plugin through the real `baton` binary and `baton serve --once` on
//! real TASK files: fixtures written from the published layouts of both Exportify lineages and
//! Spotify's account-data JSON (BOM, stray tabs, `\,`, short rows, local files, translated
//! watsonbox headers, older `Spotify ID` headers), imported with exact expectations; re-import
//! idempotence (the catalog's change log does not move); a playlist change between two exports;
//! a library of ffmpeg-made, tagged audio files scanned with `baton fp scan`, linked, planned,
//! applied and undone (the tree byte-identical afterwards); `playlists-for-track` by every key;
//! exact m3u8 output.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

mod support;
use support::Home;
use support::audio::{ffmpeg, synth, write_wav};

const T1: &str = "spotify:track:1AAAAAAAAAAAAAAAAAAAAA";
const T2: &str = "spotify:track:2BBBBBBBBBBBBBBBBBBBBB";
const T3: &str = "spotify:track:3CCCCCCCCCCCCCCCCCCCCC";
const T4: &str = "spotify:track:4DDDDDDDDDDDDDDDDDDDDD";
const T5: &str = "spotify:track:5EEEEEEEEEEEEEEEEEEEEE";
const T6: &str = "spotify:track:6FFFFFFFFFFFFFFFFFFFFF";
const T7: &str = "spotify:track:7GGGGGGGGGGGGGGGGGGGGG";
const LOCAL: &str = "spotify:local:Dee+Dee:Home+Tapes:Gamma+Demo:150";

/// pavelkomarov/exportify: a BOM, a stray tab in the header, artists joined with `;`, a local
/// file, a short row (line 5) and a podcast episode (line 6).
fn road_trip() -> String {
    format!(
        "\u{feff}Track URI,Track Name\t,Album Name,Artist Name(s),Release Date,Duration (ms),Popularity,Explicit,Added By,Added At,Genres,Record Label\n\
         {T1},Alpha Song,First,Ann Artist,2020-01-01,12000,40,false,spotify:user:me,2021-01-10T10:00:00Z,pop,Label\n\
         {T2},Beta Song,Second,Bob Band;Cee Crew,2020-02-02,12000,41,false,spotify:user:me,2021-02-10T10:00:00Z,,\n\
         {LOCAL},Gamma Demo,Home Tapes,Dee Dee,,150000,0,false,spotify:user:me,2021-03-10T10:00:00Z,,\n\
         spotify:track:9ZZZZZZZZZZZZZZZZZZZZZ\n\
         spotify:episode:0PPPPPPPPPPPPPPPPPPPPP,A Podcast,Show,Host,2020-01-01,60000,1,false,spotify:user:me,2021-03-11T10:00:00Z,,\n"
    )
}

const W_HEADER: &str = r#""Playlist Name","Track URI","Track Name","Artist URI(s)","Artist Name(s)","Album URI","Album Name","Album Artist URI(s)","Album Artist Name(s)","Album Release Date","Album Image URL","Disc Number","Track Number","Track Duration (ms)","Track Preview URL","Explicit","Popularity","ISRC","Added By","Added At","Artist Genres""#;

/// watsonbox/exportify: every field quoted, a `Playlist Name` column, `\,` inside an artist.
fn chill() -> String {
    format!(
        "{W_HEADER}\n\
         \"Chill\",\"{T3}\",\"Delta\",\"spotify:artist:tc,spotify:artist:ku\",\"Tyler\\, The Creator, Kali Uchis\",\"spotify:album:d\",\"Flower\",\"\",\"\",\"2017-07-21\",\"\",\"1\",\"3\",\"12000\",\"\",\"false\",\"70\",\"USUM71703085\",\"spotify:user:me\",\"2022-03-01T00:00:00Z\",\"hip hop\"\n\
         \"Chill\",\"{T1}\",\"Alpha Song\",\"spotify:artist:ann\",\"Ann Artist\",\"spotify:album:a\",\"First\",\"\",\"\",\"2020-01-01\",\"\",\"1\",\"1\",\"12000\",\"\",\"false\",\"40\",\"USAAA2100001\",\"spotify:user:me\",\"2020-05-05T05:00:00Z\",\"pop\"\n"
    )
}

/// watsonbox since 2024: the header translated (Spanish here), recognised by content.
fn fiesta() -> String {
    format!(
        "\"Nombre de la lista\",\"URI de la canción\",\"Nombre de la canción\",\"URI del artista\",\"Nombre del artista\",\"URI del álbum\",\"Nombre del álbum\",\"URI del artista del álbum\",\"Artista del álbum\",\"Fecha de lanzamiento\",\"Imagen\",\"Disco\",\"Pista\",\"Duración (ms)\",\"Vista previa\",\"Explícito\",\"Popularidad\",\"ISRC\",\"Añadido por\",\"Añadido el\"\n\
         \"Fiesta\",\"{T4}\",\"Épsilon\",\"spotify:artist:uno\",\"Artista Uno\",\"spotify:album:e\",\"Disco\",\"\",\"\",\"2019-01-01\",\"\",\"1\",\"1\",\"201000\",\"\",\"false\",\"3\",\"ESA011900001\",\"spotify:user:yo\",\"2023-05-05T05:05:05Z\"\n"
    )
}

/// pavelkomarov's older header, named like Exportify names Liked Songs.
fn liked() -> String {
    format!(
        "Spotify ID,Artist IDs,Track Name,Album Name,Artist Name(s),Release Date,Duration (ms),Popularity,Added By,Added At\n\
         {},bb,Beta Song,Second,Bob Band,2020-02-02,12000,41,spotify:user:me,2021-03-01T00:00:00Z\n\
         {},zz,Zeta,Last,Zed,2020-03-03,12000,10,spotify:user:me,2021-04-01T00:00:00Z\n",
        &T2[14..],
        &T5[14..]
    )
}

fn playlist1() -> String {
    json!({"playlists": [{"name": "Gym", "lastModifiedDate": "2024-01-02", "items": [
        {"track": {"trackName": "Eta", "artistName": "Eve", "albumName": "Sweat", "trackUri": T6}, "episode": null, "localTrack": null, "addedDate": "2024-01-01"},
        {"track": null, "episode": {"episodeName": "Talk", "showName": "Pod", "episodeUri": "spotify:episode:1"}, "localTrack": null, "addedDate": "2024-01-01"}
    ]}]})
    .to_string()
}

/// An older account export of Liked Songs: the CSV above is newer and wins.
fn your_library() -> String {
    json!({"tracks": [{"artist": "Zed", "album": "Last", "track": "Zeta", "uri": T5}, {"artist": "Old", "album": "Old", "track": "Gone", "uri": T7}],
           "albums": [], "shows": [], "episodes": [], "bannedTracks": [], "artists": []})
    .to_string()
}

/// Two plays of Alpha Song, a skip under 30 s (not a play) and a podcast stream.
fn extended_history() -> String {
    let play = |ts: &str, ms: u64| json!({"ts": ts, "ms_played": ms, "master_metadata_track_name": "Alpha Song",
        "master_metadata_album_artist_name": "Ann Artist", "master_metadata_album_album_name": "First",
        "spotify_track_uri": T1, "reason_start": "clickrow", "reason_end": "trackdone", "shuffle": false, "skipped": false, "offline": false});
    json!([play("2024-03-01T10:00:00Z", 200000), play("2024-05-01T10:00:00Z", 180000), play("2024-06-01T10:00:00Z", 5000),
           {"ts": "2024-06-02T10:00:00Z", "ms_played": 600000, "master_metadata_track_name": null, "episode_name": "Talk", "spotify_track_uri": null}])
    .to_string()
}

struct Env {
    h: Home,
    spot: PathBuf,
    music: PathBuf,
    lists: PathBuf,
    n: std::cell::Cell<u32>,
}

impl Env {
    fn new() -> Env {
        let grants = r#"
[plugins.spotify]
grants = { spotify = "spot", music = { path = "music", writable = true }, playlists = { path = "lists", writable = true } }
catalog = { read = ["files"], write = ["tracks", "artists", "playlists"] }
"#;
        let h = Home::init(&[], "");
        // `baton init` may already write a [plugins.spotify] table: replace it with this test's.
        let toml_path = h.root.join("baton.toml");
        let toml = std::fs::read_to_string(&toml_path).unwrap();
        std::fs::write(&toml_path, strip_table(&toml, "plugins.spotify") + grants).unwrap();
        let (spot, music, lists) = (h.root.join("spot"), h.root.join("music"), h.root.join("lists"));
        for d in [&spot, &music, &lists] {
            std::fs::create_dir_all(d).unwrap();
        }
        Env { h, spot, music, lists, n: std::cell::Cell::new(0) }
    }

    /// Runs one task through `baton serve --once`; returns its RETURN's result (completed).
    fn task(&self, action: &str, params: Value) -> Value {
        let r = self.task_raw(action, params);
        assert_eq!(r["status"], "completed", "{action}: {r}");
        r["result"].clone()
    }

    fn task_raw(&self, action: &str, params: Value) -> Value {
        self.batch(&[(action, params)]).remove(0)
    }

    /// Independent (read-only) tasks in one `serve --once`; their RETURNs, in order.
    fn batch(&self, tasks: &[(&str, Value)]) -> Vec<Value> {
        let mut ids = Vec::new();
        for (action, params) in tasks {
            self.n.set(self.n.get() + 1);
            let id = format!("SPOT-{:03}", self.n.get());
            let body = json!({"schema": "baton.handoff/v1", "id": id, "kind": "task", "created_at": "2026-01-18T07:09:51Z",
                              "from": "Tester-Agent", "title": format!("spotify {action}"), "plugin": "spotify",
                              "action": action, "params": params});
            self.h.drop_file(format!("20260118T070951Z__TASK__{id}__Tester-Agent.json"), body.to_string());
            ids.push((id, *action));
        }
        self.h.ok(&["serve", "--once"]);
        let all = self.h.returns("Tester-Agent");
        ids.iter().map(|(id, action)| all.get(id).unwrap_or_else(|| panic!("no RETURN for {action} ({id})"))[0].clone()).collect()
    }

    fn completed(&self, tasks: &[(&str, Value)]) -> Vec<Value> {
        self.batch(tasks)
            .into_iter()
            .zip(tasks)
            .map(|(r, (action, _))| {
                assert_eq!(r["status"], "completed", "{action}: {r}");
                r["result"].clone()
            })
            .collect()
    }

    /// The catalog's last change-log sequence number.
    fn seq(&self) -> i64 {
        let state = self.h.root.join("state").join("baton.sqlite");
        baton_catalog::Catalog::open(&state).unwrap().last_seq().unwrap()
    }

    fn write(&self, name: &str, text: &str, age_days: u64) {
        let p = self.spot.join(name);
        std::fs::write(&p, text).unwrap();
        let f = std::fs::File::options().write(true).open(&p).unwrap();
        f.set_modified(SystemTime::now() - Duration::from_secs(age_days * 86400)).unwrap();
    }

    fn fixtures(&self) {
        self.write("Road_Trip.csv", &road_trip(), 3);
        self.write("Chill.csv", &chill(), 3);
        self.write("fiesta.csv", &fiesta(), 3);
        self.write("Liked_Songs.csv", &liked(), 2);
        self.write("YourLibrary.json", &your_library(), 30);
        self.write("Playlist1.json", &playlist1(), 3);
        self.write("Streaming_History_Audio_2024_0.json", &extended_history(), 3);
        self.write("StreamingHistory_music_0.json", &json!([
            {"endTime": "2024-08-02 22:44", "artistName": "Zed", "trackName": "Zeta", "msPlayed": 95000},
            {"endTime": "2024-08-01 10:00", "artistName": "Zed", "trackName": "Zeta", "msPlayed": 4000}
        ]).to_string(), 3);
        self.write("broken.json", "{\"playlists\": [", 3);
        self.write("random.csv", "a,b,c\n1,2,3\n", 3);
        self.write("notes.txt", "not an export", 3);
    }
}

/// `toml` without the table `[name]` (and its sub-tables).
fn strip_table(toml: &str, name: &str) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for line in toml.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            let inner = t.trim_matches(|c| c == '[' || c == ']');
            skipping = inner == name || inner.starts_with(&format!("{name}."));
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn names(v: &Value) -> Vec<(String, String)> {
    v.as_array().unwrap().iter().map(|p| (p["name"].as_str().unwrap().to_string(), p["added_at"].as_str().unwrap_or("").to_string())).collect()
}

fn uris(v: &Value) -> Vec<&str> {
    v.as_array().unwrap().iter().map(|t| t["uri"].as_str().unwrap()).collect()
}

#[test]
fn import_reads_both_exportify_lineages_and_account_json_exactly_and_is_idempotent() {
    let env = Env::new();
    env.fixtures();
    let r = env.task("import", json!({}));
    let files: BTreeMap<&str, &Value> = r["files"].as_array().unwrap().iter().map(|f| (f["path"].as_str().unwrap(), f)).collect();
    let layout = |p: &str| files[p]["layout"].clone();
    assert_eq!(files.len(), 10, "{r}");
    assert_eq!(layout("/spotify/Streaming_History_Audio_2024_0.json"), "spotify-extended-streaming-history");
    assert_eq!(layout("/spotify/StreamingHistory_music_0.json"), "spotify-streaming-history");
    assert_eq!(files["/spotify/Streaming_History_Audio_2024_0.json"]["skipped"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(layout("/spotify/Road_Trip.csv"), "exportify-pavelkomarov");
    assert_eq!(layout("/spotify/Chill.csv"), "exportify-watsonbox");
    assert_eq!(layout("/spotify/fiesta.csv"), "exportify-watsonbox-translated");
    assert_eq!(layout("/spotify/Liked_Songs.csv"), "exportify-pavelkomarov-spotify-id");
    assert_eq!(layout("/spotify/Playlist1.json"), "spotify-account-playlists");
    assert_eq!(layout("/spotify/YourLibrary.json"), "spotify-account-library");
    assert_eq!(layout("/spotify/broken.json"), Value::Null);
    assert!(files["/spotify/broken.json"]["error"].as_str().unwrap().contains("not valid JSON"), "{r}");
    assert!(files["/spotify/random.csv"]["error"].as_str().unwrap().contains("not an Exportify CSV"), "{r}");
    assert_eq!(files["/spotify/Road_Trip.csv"]["rows"], 5);
    assert_eq!(
        files["/spotify/Road_Trip.csv"]["skipped"],
        json!([{"line": 5, "reason": "short row: 1 of 12 fields, no track name"},
               {"line": 6, "reason": "a podcast episode (spotify:episode:0PPPPPPPPPPPPPPPPPPPPP), not a track"}])
    );
    assert_eq!(files["/spotify/Playlist1.json"]["skipped"].as_array().unwrap().len(), 1);
    // Road Trip, Chill, Fiesta, Liked Songs (the newer CSV, not YourLibrary.json), Gym.
    assert_eq!((r["playlists"].as_u64(), r["tracks"].as_u64(), r["memberships"].as_u64()), (Some(5), Some(7), Some(9)), "{r}");
    let changes: BTreeMap<&str, &Value> = r["changes"].as_array().unwrap().iter().map(|c| (c["playlist"].as_str().unwrap(), c)).collect();
    assert_eq!(uris(&changes["Road Trip"]["added"]), vec![T1, T2, LOCAL]);
    assert_eq!(uris(&changes["Chill"]["added"]), vec![T3, T1]);
    assert_eq!(uris(&changes["Liked Songs"]["added"]), vec![T2, T5]);

    // The catalog holds exactly this: one record per track, merged across files.
    let t1 = env.h.json(&["catalog", "show", "tracks", "--where", &format!("external_ids~{T1}"), "--json"]);
    let rec = &t1["records"][0];
    assert_eq!(t1["records"].as_array().unwrap().len(), 1, "{t1}");
    assert_eq!(rec["props"]["title"], "Alpha Song");
    assert_eq!(rec["props"]["isrc"], "USAAA2100001", "the ISRC from the watsonbox file fills the pavelkomarov row: {rec}");
    assert_eq!(rec["props"]["duration_ms"], 12000);
    assert_eq!((rec["props"]["spotify.play_count"].as_u64(), rec["props"]["spotify.last_played"].as_str()), (Some(2), Some("2024-05-01T10:00:00Z")), "{rec}");
    let t5 = env.h.json(&["catalog", "show", "tracks", "--where", &format!("external_ids~{T5}"), "--json"]);
    assert_eq!((t5["records"][0]["props"]["spotify.play_count"].as_u64(), t5["records"][0]["props"]["spotify.last_played"].as_str()), (Some(1), Some("2024-08-02T22:44:00Z")));
    let t3 = env.h.json(&["catalog", "show", "tracks", "--where", &format!("external_ids~{T3}"), "--json"]);
    assert_eq!(t3["records"][0]["props"]["artists"], json!(["Tyler, The Creator", "Kali Uchis"]));
    let t2 = env.h.json(&["catalog", "show", "tracks", "--where", &format!("external_ids~{T2}"), "--json"]);
    assert_eq!(t2["records"][0]["props"]["artists"], json!(["Bob Band", "Cee Crew"]), "{t2} {r}");
    let local = env.h.json(&["catalog", "show", "tracks", "--where", "title=Gamma Demo", "--json"]);
    assert_eq!(local["records"][0]["props"]["artists"], json!(["Dee Dee"]));
    assert_eq!(local["records"][0]["props"]["duration_ms"], 150000);
    let t4 = env.h.json(&["catalog", "show", "tracks", "--where", "isrc=ESA011900001", "--json"]);
    assert_eq!(t4["records"][0]["props"]["title"], "Épsilon");
    let t7 = env.h.json(&["catalog", "show", "tracks", "--where", &format!("external_ids~{T7}"), "--json"]);
    assert_eq!(t7["records"].as_array().unwrap().len(), 0, "the older YourLibrary.json lost to Liked_Songs.csv: {t7}");
    let pls = env.h.json(&["catalog", "show", "playlists", "--json"]);
    let mut pl_names: Vec<&str> = pls["records"].as_array().unwrap().iter().map(|p| p["props"]["name"].as_str().unwrap()).collect();
    pl_names.sort();
    assert_eq!(pl_names, vec!["Chill", "Fiesta", "Gym", "Liked Songs", "Road Trip"]);

    // The same exports again: nothing is written.
    let before = env.seq();
    let again = env.task("import", json!({}));
    assert_eq!(env.seq(), before, "a second import with no change wrote to the catalog: {again}");
    assert_eq!(again["changes"], json!([]));
    assert_eq!((again["tracks"].as_u64(), again["memberships"].as_u64()), (Some(7), Some(9)));

    // A newer export of Road Trip: Beta removed, Zeta added.
    let newer = format!(
        "Track URI,Track Name,Album Name,Artist Name(s),Release Date,Duration (ms),Popularity,Explicit,Added By,Added At\n\
         {T1},Alpha Song,First,Ann Artist,2020-01-01,12000,40,false,spotify:user:me,2021-01-10T10:00:00Z\n\
         {LOCAL},Gamma Demo,Home Tapes,Dee Dee,,150000,0,false,spotify:user:me,2021-03-10T10:00:00Z\n\
         {T5},Zeta,Last,Zed,2020-03-03,12000,10,false,spotify:user:me,2025-06-01T00:00:00Z\n"
    );
    // An older copy of the same playlist under another name loses to it.
    env.write("road_trip (old copy).csv", &road_trip().replace("Track URI", "Playlist Name,Track URI").replace("\nspotify:", "\nRoad Trip,spotify:"), 10);
    env.write("Road_Trip.csv", &newer, 0);
    let changed = env.task("import", json!({}));
    assert_eq!(changed["changes"].as_array().unwrap().len(), 1, "{changed}");
    let c = &changed["changes"][0];
    assert_eq!(c["playlist"], "Road Trip");
    assert_eq!(uris(&c["added"]), vec![T5]);
    assert_eq!(uris(&c["removed"]), vec![T2]);
    let rt = env.h.json(&["catalog", "show", "playlists", "--where", "name=Road Trip", "--json"]);
    assert_eq!(rt["records"][0]["props"]["tracks"].as_array().unwrap().len(), 3, "{rt}");
}

/// Hash of every file and the set of folders below `root`.
fn tree(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    fn walk(root: &Path, d: &Path, out: &mut BTreeMap<String, String>) {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            if p.is_dir() {
                out.insert(rel + "/", String::new());
                walk(root, &p, out);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                let h = bytes.iter().fold(0xcbf29ce484222325u64, |h, b| (h ^ *b as u64).wrapping_mul(0x100000001b3));
                out.insert(rel, format!("{h:016x}:{}", bytes.len()));
            }
        }
    }
    walk(root, root, &mut out);
    out
}

#[test]
fn a_tagged_library_is_linked_planned_applied_undone_and_written_as_m3u() {
    let env = Env::new();
    env.fixtures();
    // Tracks on no Spotify playlist: one to be Unassigned, two alike (ambiguous).
    let extra = env.h.root.join("extra.csv");
    std::fs::write(&extra, "key,title,artists,duration_ms,isrc\nmine:omega,Omega,Ghost,12000,GBXXX2400001\nmine:twin1,Twin,Twins,12000,\nmine:twin2,Twin,Twins,12000,\n").unwrap();
    env.h.ok(&["catalog", "import", "tracks", extra.to_str().unwrap()]);
    env.task("import", json!({}));

    // The library: 12 s recordings, tagged as a downloader would, in an inbox folder.
    let inbox = env.music.join("inbox");
    let wav_dir = env.h.root.join("wav");
    let files: [(&str, u64, &[&str]); 8] = [
        ("inbox/a.mp3", 1, &["title=Alpha Song", "artist=Ann Artist", "ISRC=USAAA2100001"]),
        ("inbox/b.flac", 2, &["title=Beta Song", "artist=Bob Band"]),
        ("inbox/d.flac", 3, &["title=Delta", "artist=Tyler, The Creator", "ISRC=USUM71703085"]),
        ("inbox/z.ogg", 4, &["title=Zeta", "artist=Zed"]),
        ("inbox/o.flac", 5, &["title=Omega", "artist=Ghost", "ISRC=GBXXX2400001"]),
        ("inbox/t.flac", 6, &["title=Twin", "artist=Twins"]),
        ("inbox/n.mp3", 7, &["title=Nothing Here", "artist=Nobody"]),
        ("Gym/Eve - Eta.flac", 8, &["title=Eta", "artist=Eve"]),
    ];
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::create_dir_all(env.music.join("Gym")).unwrap();
    for (name, seed, tags) in files {
        let wav = wav_dir.join(format!("{seed}.wav"));
        write_wav(&wav, &synth(seed, 12.0, 22050), 22050);
        let mut args = vec!["-i".to_string(), wav.display().to_string()];
        for t in tags {
            args.extend(["-metadata".to_string(), t.to_string()]);
        }
        args.push(env.music.join(name).display().to_string());
        ffmpeg(&args.iter().map(String::as_str).collect::<Vec<_>>());
    }
    env.h.ok(&["fp", "scan", env.music.to_str().unwrap()]);

    let l = env.task("link-local", json!({}));
    assert_eq!(l["linked"], 6, "{l}");
    assert_eq!(l["unmatched"], json!(["/music/inbox/n.mp3"]), "{l}");
    assert_eq!(l["ambiguous"].as_array().unwrap().len(), 1, "{l}");
    assert_eq!(l["ambiguous"][0]["path"], "/music/inbox/t.flac");
    assert_eq!(l["coverage"], 0.75);

    // playlists-for-track by every key.
    let mut found = env.completed(&[
        ("playlists-for-track", json!({"uri": T1})),
        ("playlists-for-track", json!({"isrc": "usum-717-03085"})),
        ("playlists-for-track", json!({"title": "Beta Song", "artist": "Bob Band", "duration_ms": 12100})),
        ("playlists-for-track", json!({"path": "/music/inbox/z.ogg"})),
        ("playlists-for-track", json!({"title": "Twin", "artist": "Twins"})),
    ])
    .into_iter();
    let by_uri = found.next().unwrap();
    assert_eq!(by_uri["track"]["title"], "Alpha Song");
    assert_eq!(by_uri["match"]["method"], "external_id");
    assert_eq!(names(&by_uri["playlists"]), vec![("Chill".into(), "2020-05-05T05:00:00Z".into()), ("Road Trip".into(), "2021-01-10T10:00:00Z".into())]);
    assert_eq!(by_uri["liked"], false);
    let by_isrc = found.next().unwrap();
    assert_eq!((by_isrc["track"]["uri"].as_str(), by_isrc["match"]["method"].as_str()), (Some(T3), Some("isrc")), "{by_isrc}");
    assert_eq!(names(&by_isrc["playlists"]), vec![("Chill".into(), "2022-03-01T00:00:00Z".into())]);
    let by_text = found.next().unwrap();
    assert_eq!(by_text["track"]["uri"], T2, "{by_text}");
    assert_eq!(names(&by_text["playlists"]), vec![("Road Trip".into(), "2021-02-10T10:00:00Z".into())]);
    assert_eq!(by_text["liked"], true);
    let by_path = found.next().unwrap();
    assert_eq!((by_path["track"]["uri"].as_str(), by_path["liked"].as_bool()), (Some(T5), Some(true)), "{by_path}");
    assert_eq!(by_path["playlists"], json!([]));
    let twin = found.next().unwrap();
    assert_eq!((twin["track"].clone(), twin["match"].clone(), twin["playlists"].clone()), (Value::Null, Value::Null, json!([])), "{twin}");
    assert_eq!(twin["candidates"].as_array().unwrap().len(), 2, "{twin}");
    let bad = env.task_raw("playlists-for-track", json!({}));
    assert_eq!(bad["error"]["code"], "invalid_params", "{bad}");

    // The truth table of the plan (primary: the playlist the track was added to first).
    let plans = env.completed(&[("plan", json!({})), ("plan", json!({"primary": ["Road Trip"]}))]);
    let plan = plans[0].clone();
    let moves: BTreeMap<&str, (&str, &str)> = plan["moves"].as_array().unwrap().iter()
        .map(|m| (m["from"].as_str().unwrap(), (m["to"].as_str().unwrap(), m["reason"].as_str().unwrap()))).collect();
    let to: BTreeMap<&str, &str> = moves.iter().map(|(k, v)| (*k, v.0)).collect();
    assert_eq!(to, BTreeMap::from([
        ("/music/inbox/a.mp3", "/music/Chill/Ann Artist - Alpha Song.mp3"),
        ("/music/inbox/b.flac", "/music/Road Trip/Bob Band, Cee Crew - Beta Song.flac"),
        ("/music/inbox/d.flac", "/music/Chill/Tyler, The Creator, Kali Uchis - Delta.flac"),
        ("/music/inbox/o.flac", "/music/Unassigned/Ghost - Omega.flac"),
        ("/music/inbox/z.ogg", "/music/Liked Songs/Zed - Zeta.ogg"),
    ]), "{plan}");
    assert_eq!(plan["unassigned"], json!(["/music/inbox/o.flac"]));
    assert_eq!(plan["unmatched"], json!(["/music/inbox/n.mp3", "/music/inbox/t.flac"]));
    let ranked = plans[1].clone();
    let a = ranked["moves"].as_array().unwrap().iter().find(|m| m["from"] == "/music/inbox/a.mp3").unwrap();
    assert_eq!(a["to"], "/music/Road Trip/Ann Artist - Alpha Song.mp3");
    assert_ne!(ranked["plan_id"], plan["plan_id"]);

    // m3u before any move: host paths (the playlists folder is outside the music folder).
    let m = env.task("m3u", json!({}));
    assert_eq!((m["written"].as_array().unwrap().len(), m["tracks_without_file"].as_u64()), (5, Some(2)), "{m}");
    let root = std::fs::canonicalize(&env.music).unwrap();
    let road = std::fs::read_to_string(env.lists.join("Road Trip.m3u8")).unwrap();
    assert_eq!(road, format!(
        "#EXTM3U\n#EXTINF:12,Ann Artist - Alpha Song\n{r}/inbox/a.mp3\n#EXTINF:12,Bob Band, Cee Crew - Beta Song\n{r}/inbox/b.flac\n# no local file: Dee Dee - Gamma Demo ({LOCAL})\n",
        r = root.display()
    ));
    let again = env.task("m3u", json!({}));
    assert_eq!((again["written"].clone(), again["unchanged"].as_u64()), (json!([]), Some(5)));

    // apply without a writable `music` grant: refused, naming the fix; nothing moves.
    let toml_path = env.h.root.join("baton.toml");
    let writable = std::fs::read_to_string(&toml_path).unwrap();
    let read_only = writable.replace(r#"music = { path = "music", writable = true }"#, r#"music = "music""#);
    assert_ne!(read_only, writable);
    std::fs::write(&toml_path, read_only).unwrap();
    let before = tree(&env.music);
    let plan_id = plan["plan_id"].as_str().unwrap();
    let refused = env.task_raw("apply", json!({"plan_id": plan_id}));
    assert_eq!((refused["status"].as_str(), refused["error"]["code"].as_str()), (Some("failed"), Some("plugin_error")), "{refused}");
    let why = refused["error"].to_string();
    assert!(why.contains("`music` folder granted writable") && why.contains("writable = true"), "the refusal names the fix: {why}");
    assert_eq!(tree(&env.music), before, "a refused apply moves nothing");
    std::fs::write(&toml_path, &writable).unwrap();

    // apply, then undo: the tree comes back byte for byte.
    let applied = env.task("apply", json!({"plan_id": plan_id}));
    assert_eq!((applied["moved"].as_u64(), applied["skipped"].clone()), (Some(5), json!([])), "{applied}");
    assert!(env.music.join("Chill/Ann Artist - Alpha Song.mp3").is_file());
    assert!(!env.music.join("inbox/a.mp3").exists());
    let after = env.task("playlists-for-track", json!({"path": "/music/Chill/Ann Artist - Alpha Song.mp3"}));
    assert_eq!(after["track"]["uri"], T1, "the link follows the move: {after}");
    let m = env.task("m3u", json!({}));
    assert!(m["written"].as_array().unwrap().iter().any(|w| w == "/playlists/Chill.m3u8"), "{m}");
    assert!(std::fs::read_to_string(env.lists.join("Chill.m3u8")).unwrap().contains(&format!("{}/Chill/Ann Artist - Alpha Song.mp3\n", root.display())));
    let twice = env.task("apply", json!({"plan_id": plan_id}));
    assert_eq!(twice["moved"], 0, "{twice}");
    let undone = env.task("undo", json!({"plan_id": plan_id}));
    assert_eq!((undone["restored"].as_u64(), undone["skipped"].clone()), (Some(5), json!([])), "{undone}");
    assert_eq!(tree(&env.music), before);

    // A file that vanished is skipped; a target that exists is never overwritten.
    std::fs::remove_file(env.music.join("inbox/n.mp3")).unwrap();
    std::fs::create_dir_all(env.music.join("Liked Songs")).unwrap();
    std::fs::write(env.music.join("Liked Songs/Zed - Zeta.ogg"), b"someone else's file").unwrap();
    let p2 = env.task("plan", json!({}));
    let z = p2["moves"].as_array().unwrap().iter().find(|m| m["from"] == "/music/inbox/z.ogg").unwrap();
    assert_eq!(z["to"], "/music/Liked Songs/Zed - Zeta (2).ogg", "{p2}");
    std::fs::remove_file(env.music.join("inbox/b.flac")).unwrap();
    let a2 = env.task("apply", json!({"plan_id": p2["plan_id"]}));
    assert_eq!(a2["moved"], 4, "{a2}");
    assert_eq!(a2["skipped"][0]["from"], "/music/inbox/b.flac");
    assert_eq!(std::fs::read(env.music.join("Liked Songs/Zed - Zeta.ogg")).unwrap(), b"someone else's file");
    let missing = env.task_raw("apply", json!({"plan_id": "plan-nope"}));
    assert_eq!(missing["error"]["code"], "invalid_params", "{missing}");

    // The playlists folder inside the music folder: paths relative to it; a deleted file is
    // a comment like a track with no file.
    let toml_path = env.h.root.join("baton.toml");
    let toml = std::fs::read_to_string(&toml_path).unwrap().replace(r#"playlists = { path = "lists", writable = true }"#, r#"playlists = { path = "music/Playlists", writable = true }"#);
    std::fs::write(&toml_path, toml).unwrap();
    std::fs::create_dir_all(env.music.join("Playlists")).unwrap();
    let m = env.task("m3u", json!({}));
    assert_eq!(m["written"].as_array().unwrap().len(), 5, "{m}");
    assert_eq!(
        std::fs::read_to_string(env.music.join("Playlists/Road Trip.m3u8")).unwrap(),
        format!("#EXTM3U\n#EXTINF:12,Ann Artist - Alpha Song\n../Chill/Ann Artist - Alpha Song.mp3\n# no local file: Bob Band, Cee Crew - Beta Song ({T2})\n# no local file: Dee Dee - Gamma Demo ({LOCAL})\n")
    );
}

#[test]
fn next_track_walks_the_fallback_chain_and_never_repeats() {
    let env = Env::new();
    env.fixtures();
    // The plugin's settings come from baton.toml.
    let toml_path = env.h.root.join("baton.toml");
    let toml = std::fs::read_to_string(&toml_path).unwrap();
    std::fs::write(&toml_path, toml + "[plugins.spotify.settings]\next = \"flac\"\nlayout = \"{playlist}/{title} ({artist}).{ext}\"\n").unwrap();
    env.task("import", json!({}));
    // A later page of the stored import result: nothing left on it.
    let p1 = env.task("import", json!({"page": 1}));
    assert_eq!((p1["files"].clone(), p1["changes"].clone(), p1.get("truncated")), (json!([]), json!([]), None), "{p1}");
    let explicit = env.task("next-track", json!({"uri": T4}));
    assert_eq!((explicit["source"].as_str(), explicit["track"]["title"].as_str()), (Some("explicit"), Some("Épsilon")), "{explicit}");
    assert_eq!(explicit["planned_path"], "/music/Fiesta/Épsilon (Artista Uno).flac");
    // New: every track added to a playlist, newest addition first, none twice.
    let mut seen = Vec::new();
    loop {
        let n = env.task("next-track", json!({}));
        if n["source"] != "new" {
            // then the liked songs without a local file: Zeta (Beta was returned as new)
            assert_eq!((n["source"].as_str(), n["track"]["uri"].as_str()), (Some("liked"), Some(T5)), "{n}");
            assert_eq!(n["planned_path"], "/music/Liked Songs/Zeta (Zed).flac");
            break;
        }
        seen.push(n["track"]["uri"].as_str().unwrap().to_string());
        assert!(seen.len() < 10, "{seen:?}");
    }
    // Épsilon was returned (explicitly) already.
    assert_eq!(seen, vec![T6, T3, LOCAL, T2, T1], "newest addition first: {seen:?}");
    assert_eq!(env.task("next-track", json!({}))["source"], "none");
    // A track that changes may come back: a newer export adds Épsilon to another playlist.
    env.write("Road_Trip.csv", &road_trip().replace(&format!("{LOCAL},"), &format!("{T4},Épsilon,Disco,Artista Uno,,201000,0,false,spotify:user:me,2026-01-01T00:00:00Z,,\n{LOCAL},")), 0);
    env.task("import", json!({}));
    let n = env.task("next-track", json!({}));
    assert_eq!((n["source"].as_str(), n["track"]["uri"].as_str()), (Some("new"), Some(T4)), "{n}");
    assert_eq!(env.task("next-track", json!({}))["source"], "none");
}
