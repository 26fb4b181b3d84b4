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

use crate::support;
use support::Home;
use support::audio::{ffmpeg, synth, write_wav};
use support::spotify::strip_table;

const T1: &str = "spotify:track:1AAAAAAAAAAAAAAAAAAAAA";
const T2: &str = "spotify:track:2BBBBBBBBBBBBBBBBBBBBB";
const T3: &str = "spotify:track:3CCCCCCCCCCCCCCCCCCCCC";
const T4: &str = "spotify:track:4DDDDDDDDDDDDDDDDDDDDD";
const T5: &str = "spotify:track:5EEEEEEEEEEEEEEEEEEEEE";
const T6: &str = "spotify:track:6FFFFFFFFFFFFFFFFFFFFF";
const T7: &str = "spotify:track:7GGGGGGGGGGGGGGGGGGGGG";
const LOCAL: &str = "spotify:local:Dee+Dee:Home+Tapes:Gamma+Demo:150";
/// A local file in Playlist1.json: Spotify writes only its URI (`localTrack`).
const LOCAL_K: &str = "spotify:local:Kay+Kay:Garage+%26+Co:Kappa+Tape:95";

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

/// Spotify's account data: a track, a podcast episode (skipped) and a local file.
fn playlist1() -> String {
    json!({"playlists": [{"name": "Gym", "lastModifiedDate": "2024-01-02", "items": [
        {"track": {"trackName": "Eta", "artistName": "Eve", "albumName": "Sweat", "trackUri": T6}, "episode": null, "localTrack": null, "addedDate": "2024-01-01"},
        {"track": null, "episode": {"episodeName": "Talk", "showName": "Pod", "episodeUri": "spotify:episode:1"}, "localTrack": null, "addedDate": "2024-01-01"},
        {"track": null, "episode": null, "localTrack": {"uri": LOCAL_K}, "addedDate": "2024-01-03"}
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
    let play = |ts: &str, ms: u64| {
        json!({"ts": ts, "ms_played": ms, "master_metadata_track_name": "Alpha Song",
        "master_metadata_album_artist_name": "Ann Artist", "master_metadata_album_album_name": "First",
        "spotify_track_uri": T1, "reason_start": "clickrow", "reason_end": "trackdone", "shuffle": false, "skipped": false, "offline": false})
    };
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
        ids.iter()
            .map(|(id, action)| all.get(id).unwrap_or_else(|| panic!("no RETURN for {action} ({id})"))[0].clone())
            .collect()
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
        self.write(
            "StreamingHistory_music_0.json",
            &json!([
                {"endTime": "2024-08-02 22:44", "artistName": "Zed", "trackName": "Zeta", "msPlayed": 95000},
                {"endTime": "2024-08-01 10:00", "artistName": "Zed", "trackName": "Zeta", "msPlayed": 4000}
            ])
            .to_string(),
            3,
        );
        self.write("broken.json", "{\"playlists\": [", 3);
        self.write("random.csv", "a,b,c\n1,2,3\n", 3);
        self.write("notes.txt", "not an export", 3);
    }
}

fn names(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap().to_string(), p["added_at"].as_str().unwrap_or("").to_string()))
        .collect()
}

fn uris(v: &Value) -> Vec<&str> {
    v.as_array().unwrap().iter().map(|t| t["uri"].as_str().unwrap()).collect()
}

const THETA: &str = "spotify:track:8HHHHHHHHHHHHHHHHHHHHH";
const IOTA_RUN: &str = "spotify:track:0JJJJJJJJJJJJJJJJJJJJJ";
const IOTA_ALBUM: &str = "spotify:track:9IIIIIIIIIIIIIIIIIIIII";
const IOTA_LIVE: &str = "spotify:track:0LLLLLLLLLLLLLLLLLLLLL";
const DELTA_SINGLE: &str = "spotify:track:3SSSSSSSSSSSSSSSSSSSSS";
const SEPTEMBER: &str = "spotify:track:0SEPTEMBERSEPTEMBERSEP";
const LAMBDA_A: &str = "spotify:track:0LAMBDAAAAAAAAAAAAAAAA";
const LAMBDA_B: &str = "spotify:track:0LAMBDABBBBBBBBBBBBBBB";

/// pavelkomarov's `Track ID` layout (September 2024 to April 2025): bare ids, artists joined
/// with ",", tabs inside the header (a JavaScript line continuation).
fn old_favourites() -> String {
    format!(
        "Track ID,Track Name,Album Name,Artist Name(s),Release Date,Duration (ms),Popularity,Added By,Added At,Genres,Record Label,\t\t\t\tDanceability,Energy\n\
         {},\"Theta\",\"Old Album\",\"Hal,Ida\",2019-01-01,12000,5,me,2024-02-01T00:00:00Z,\"pop\",\"Lbl\",0.5,0.6\n",
        &THETA[14..]
    )
}

/// watsonbox translated (German) without the leading `Playlist Name` column (the playlist is
/// the file's name), an optional genre column: Iota (also on Run, under another URI and with
/// no ISRC: two URIs are two tracks, whatever their names), Delta's single (the ISRC of Chill's Delta:
/// one record), a live Iota (another recording: its own record), and two titles one letter
/// apart, alike to the matcher's fuzzy rung but with two ISRCs (two records).
fn sommer_hits() -> String {
    let row = |uri: &str, title: &str, artist_uris: &str, artists: &str, isrc: &str, at: &str| {
        format!(
            "\"{uri}\",\"{title}\",\"{artist_uris}\",\"{artists}\",\"spotify:album:x\",\"Album\",\"\",\"\",\"2024-01-01\",\"\",\"1\",\"1\",\"12000\",\"\",\"false\",\"10\",\"{isrc}\",\"spotify:user:me\",\"{at}\",\"pop\"\n"
        )
    };
    "\"Track-URI\",\"Titelname\",\"Künstler-URI(s)\",\"Künstlername(n)\",\"Album-URI\",\"Albumname\",\"Albumkünstler-URI(s)\",\"Albumkünstlername(n)\",\"Veröffentlichungsdatum\",\"Albumcover-URL\",\"CD-Nummer\",\"Titelnummer\",\"Titeldauer (ms)\",\"Vorschau-URL\",\"Explizit\",\"Beliebtheit\",\"ISRC\",\"Hinzugefügt von\",\"Hinzugefügt am\",\"Genres\"\n".to_string()
        + &row(IOTA_ALBUM, "Iota", "spotify:artist:ivy", "Ivy", "DEA012400001", "2024-04-01T00:00:00Z")
        + &row(DELTA_SINGLE, "Delta", "spotify:artist:tc,spotify:artist:ku", "Tyler\\, The Creator, Kali Uchis", "USUM71703085", "2024-04-02T00:00:00Z")
        + &row(IOTA_LIVE, "Iota - Live", "spotify:artist:ivy", "Ivy", "DEA012400002", "2024-04-03T00:00:00Z")
        + &row(LAMBDA_A, "Lambda Lights", "spotify:artist:ivy", "Ivy", "DEA012400003", "2024-04-04T00:00:00Z")
        + &row(LAMBDA_B, "Lambda Light", "spotify:artist:ivy", "Ivy", "DEA012400004", "2024-04-05T00:00:00Z")
}

/// The second account-data playlists file.
fn playlist2() -> String {
    json!({"playlists": [{"name": "Run", "lastModifiedDate": "2024-03-01", "items": [
        {"track": {"trackName": "Iota", "artistName": "Ivy", "albumName": "Album", "trackUri": IOTA_RUN}, "episode": null, "localTrack": null, "addedDate": "2024-03-01"}
    ]}]})
    .to_string()
}

/// pavelkomarov today, with no `;` in the file: the comma is the band's own.
fn soul() -> String {
    format!(
        "Track URI,Track Name,Album Name,Artist Name(s),Release Date,Duration (ms),Popularity,Explicit,Added By,Added At,Genres,Record Label\n\
         {SEPTEMBER},September,The Best Of,\"Earth, Wind & Fire\",1978-11-23,215000,80,false,spotify:user:me,2024-05-01T00:00:00Z,soul,Columbia\n"
    )
}

/// One catalog collection: each record's key and properties, in key order.
fn records(env: &Env, collection: &str) -> Vec<(String, Value)> {
    let v = env.h.json(&["catalog", "show", collection, "--json"]);
    v["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["key"].as_str().unwrap().to_string(), r["props"].clone()))
        .collect()
}

/// A Spotify playlist's tracks in playlist order, each with its added_at.
fn members(env: &Env, playlist: &str) -> Vec<(String, String)> {
    let links =
        env.h.json(&["catalog", "links", "playlists", &format!("spotify:playlist:{playlist}"), "tracks", "--json"]);
    links
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["key"].as_str().unwrap().to_string(), l["added_at"].as_str().unwrap_or("").to_string()))
        .collect()
}

#[test]
fn import_reads_both_exportify_lineages_and_account_json_exactly_and_is_idempotent() {
    let env = Env::new();
    env.fixtures();
    env.write("Old_Favourites.csv", &old_favourites(), 3);
    env.write("Sommer_Hits.csv", &sommer_hits(), 3);
    env.write("Playlist2.json", &playlist2(), 3);
    env.write("Soul.csv", &soul(), 3);
    let r = env.task("import", json!({}));
    assert_eq!(r.get("truncated"), None, "{r}");
    let files: BTreeMap<&str, &Value> =
        r["files"].as_array().unwrap().iter().map(|f| (f["path"].as_str().unwrap(), f)).collect();
    // Every file, the one that is no export (notes.txt) included.
    let seen: Vec<(&str, Value, u64)> =
        files.iter().map(|(p, f)| (*p, f["layout"].clone(), f["rows"].as_u64().unwrap())).collect();
    assert_eq!(
        seen,
        vec![
            ("/spotify/Chill.csv", json!("exportify-watsonbox"), 2),
            ("/spotify/Liked_Songs.csv", json!("exportify-pavelkomarov-spotify-id"), 2),
            ("/spotify/Old_Favourites.csv", json!("exportify-track-id"), 1),
            ("/spotify/Playlist1.json", json!("spotify-account-playlists"), 3),
            ("/spotify/Playlist2.json", json!("spotify-account-playlists"), 1),
            ("/spotify/Road_Trip.csv", json!("exportify-pavelkomarov"), 5),
            ("/spotify/Sommer_Hits.csv", json!("exportify-watsonbox-translated"), 5),
            ("/spotify/Soul.csv", json!("exportify-pavelkomarov"), 1),
            ("/spotify/StreamingHistory_music_0.json", json!("spotify-streaming-history"), 2),
            ("/spotify/Streaming_History_Audio_2024_0.json", json!("spotify-extended-streaming-history"), 4),
            ("/spotify/YourLibrary.json", json!("spotify-account-library"), 2),
            ("/spotify/broken.json", Value::Null, 0),
            ("/spotify/fiesta.csv", json!("exportify-watsonbox-translated"), 1),
            ("/spotify/notes.txt", Value::Null, 0),
            ("/spotify/random.csv", Value::Null, 0),
        ],
        "{r}"
    );
    let skipped: BTreeMap<&str, Value> =
        files.iter().map(|(p, f)| (*p, f["skipped"].clone())).filter(|(_, s)| s != &json!([])).collect();
    assert_eq!(
        skipped,
        BTreeMap::from([
            (
                "/spotify/Road_Trip.csv",
                json!([{"line": 5, "reason": "short row: 1 of 12 fields, no track name"},
                                          {"line": 6, "reason": "a podcast episode (spotify:episode:0PPPPPPPPPPPPPPPPPPPPP), not a track"}])
            ),
            (
                "/spotify/Playlist1.json",
                json!([{"line": 2, "reason": "playlist `Gym` item 2: a podcast episode, not a track"}])
            ),
            (
                "/spotify/Streaming_History_Audio_2024_0.json",
                json!([{"line": 4, "reason": "stream 4: not a music track (no track name, artist or time)"}])
            ),
        ]),
        "{r}"
    );
    // Nothing skipped in silence: the three files not read and the four rows skipped, in one
    // list, counted.
    let listed: Vec<(&str, Option<u64>)> =
        r["skipped"].as_array().unwrap().iter().map(|s| (s["path"].as_str().unwrap(), s["line"].as_u64())).collect();
    assert_eq!(listed.len(), 7, "{listed:?}");
    assert_eq!(r["skipped_total"], 7);
    assert!(listed.contains(&("/spotify/notes.txt", None)) && listed.contains(&("/spotify/Road_Trip.csv", Some(6))));
    let errors: BTreeMap<&str, &str> = files.iter().filter_map(|(p, f)| f["error"].as_str().map(|e| (*p, e))).collect();
    assert_eq!(
        errors.keys().copied().collect::<Vec<_>>(),
        vec!["/spotify/broken.json", "/spotify/notes.txt", "/spotify/random.csv"]
    );
    assert!(errors["/spotify/broken.json"].starts_with("not valid JSON: EOF while parsing"), "{r}");
    assert_eq!(
        errors["/spotify/notes.txt"],
        "not an export: a .txt file fits no layout (Exportify writes .csv files, Spotify's account data .json files)"
    );
    assert_eq!(
        errors["/spotify/random.csv"],
        "not an Exportify CSV: no `Track URI`/`Spotify ID`/`Track ID` and `Track Name` columns in the header (3 columns), and not a translated watsonbox file (quoted fields, spotify:track: URIs in column 1 or 2, an ISRC column)"
    );

    // Road Trip, Chill, Fiesta, Liked Songs (YourLibrary.json, then the newer CSV over it),
    // Gym, Old Favourites, Run, Sommer Hits, Soul. 16 tracks: Delta's single is Delta (one
    // ISRC), Iota on Run and Iota on Sommer Hits are two (two URIs are two tracks, whatever
    // their names), the live Iota is another, and so are the two Lambdas; Gone (T7) is a track
    // of the older Liked Songs export.
    assert_eq!(
        (r["playlists"].as_u64(), r["tracks"].as_u64(), r["memberships"].as_u64()),
        (Some(9), Some(16), Some(18)),
        "{r}"
    );
    assert_eq!(r["suspicious"], json!([]), "{r}");
    assert_eq!(r["ambiguous"], json!([]));
    // Per playlist, in name order: what was added (in playlist order); nothing removed.
    let changes: Vec<(&str, Vec<&str>, Value)> = r["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["playlist"].as_str().unwrap(), uris(&c["added"]), c["removed"].clone()))
        .collect();
    assert_eq!(
        changes,
        vec![
            ("Chill", vec![T3, T1], json!([])),
            ("Fiesta", vec![T4], json!([])),
            ("Gym", vec![T6, LOCAL_K], json!([])),
            ("Liked Songs", vec![T2, T5], json!([])),
            ("Old Favourites", vec![THETA], json!([])),
            ("Road Trip", vec![T1, T2, LOCAL], json!([])),
            ("Run", vec![IOTA_RUN], json!([])),
            ("Sommer Hits", vec![IOTA_ALBUM, T3, IOTA_LIVE, LAMBDA_A, LAMBDA_B], json!([])),
            ("Soul", vec![SEPTEMBER], json!([])),
        ],
        "{r}"
    );
    assert_eq!(
        r["changes"][0]["added"][0],
        json!({"key": T3, "uri": T3, "title": "Delta", "artists": ["Tyler, The Creator", "Kali Uchis"]})
    );

    // The catalog holds exactly this: one record per track, merged across files.
    let tracks: BTreeMap<String, Value> = records(&env, "tracks").into_iter().collect();
    let ids: BTreeMap<&str, Value> = tracks.iter().map(|(k, p)| (k.as_str(), p["external_ids"].clone())).collect();
    assert_eq!(
        ids,
        BTreeMap::from([
            (T1, json!([T1])),
            (T2, json!([T2])),
            (T3, json!([T3, DELTA_SINGLE])),
            (T4, json!([T4])),
            (T5, json!([T5])),
            (T6, json!([T6])),
            (THETA, json!([THETA])),
            (IOTA_RUN, json!([IOTA_RUN])),
            (IOTA_ALBUM, json!([IOTA_ALBUM])),
            (IOTA_LIVE, json!([IOTA_LIVE])),
            (SEPTEMBER, json!([SEPTEMBER])),
            (LOCAL, json!([LOCAL])),
            (LOCAL_K, json!([LOCAL_K])),
            (LAMBDA_A, json!([LAMBDA_A])),
            (LAMBDA_B, json!([LAMBDA_B])),
            (T7, json!([T7])),
        ]),
        "{r}"
    );
    let rec = &tracks[T1];
    assert_eq!(rec["title"], "Alpha Song");
    assert_eq!(rec["isrc"], "USAAA2100001", "the ISRC from the watsonbox file fills the pavelkomarov row: {rec}");
    assert_eq!(rec["duration_ms"], 12000);
    assert_eq!(
        (rec["spotify.play_count"].as_u64(), rec["spotify.last_played"].as_str()),
        (Some(2), Some("2024-05-01T10:00:00Z")),
        "{rec}"
    );
    assert_eq!(
        (tracks[T5]["spotify.play_count"].as_u64(), tracks[T5]["spotify.last_played"].as_str()),
        (Some(1), Some("2024-08-02T22:44:00Z"))
    );
    assert_eq!(tracks[T3]["artists"], json!(["Tyler, The Creator", "Kali Uchis"]));
    assert_eq!(tracks[T3]["isrc"], "USUM71703085");
    assert_eq!(tracks[T2]["artists"], json!(["Bob Band", "Cee Crew"]), "{r}");
    assert_eq!(
        (tracks[LOCAL]["artists"].clone(), tracks[LOCAL]["duration_ms"].as_u64()),
        (json!(["Dee Dee"]), Some(150000))
    );
    let k = &tracks[LOCAL_K];
    assert_eq!(
        (k["title"].as_str(), k["artists"].clone(), k["album"].as_str(), k["duration_ms"].as_u64()),
        (Some("Kappa Tape"), json!(["Kay Kay"]), Some("Garage & Co"), Some(95000)),
        "{k}"
    );
    assert_eq!(tracks[T4]["title"], "Épsilon");
    assert_eq!(tracks[THETA]["artists"], json!(["Hal", "Ida"]), "the Track ID layout joined artists with commas");
    assert_eq!(tracks[SEPTEMBER]["artists"], json!(["Earth, Wind & Fire"]), "a comma and a space is inside a name");
    // Two URIs, two tracks: the Run record keeps only what its own export knew.
    let iota = &tracks[IOTA_RUN];
    assert_eq!(
        (iota["isrc"].as_str(), iota["duration_ms"].as_u64(), iota["artist_refs"].clone()),
        (None, None, json!(["spotify:artist:ivy"])),
        "{iota}"
    );
    assert_eq!(tracks[IOTA_ALBUM]["isrc"], "DEA012400001");
    assert_eq!(tracks[IOTA_LIVE]["title"], "Iota - Live");

    let artists: Vec<(String, Value)> =
        records(&env, "artists").into_iter().map(|(k, p)| (k, p["name"].clone())).collect();
    let expect: Vec<(String, Value)> = [
        ("artist:bob band", "Bob Band"),
        ("artist:cee crew", "Cee Crew"),
        ("artist:dee dee", "Dee Dee"),
        ("artist:earth, wind & fire", "Earth, Wind & Fire"),
        ("artist:eve", "Eve"),
        ("artist:hal", "Hal"),
        ("artist:ida", "Ida"),
        ("artist:kay kay", "Kay Kay"),
        ("artist:old", "Old"),
        ("spotify:artist:ann", "Ann Artist"),
        ("spotify:artist:ivy", "Ivy"),
        ("spotify:artist:ku", "Kali Uchis"),
        ("spotify:artist:tc", "Tyler, The Creator"),
        ("spotify:artist:uno", "Artista Uno"),
        ("spotify:artist:zz", "Zed"),
    ]
    .iter()
    .map(|(k, n)| (k.to_string(), json!(n)))
    .collect();
    assert_eq!(artists, expect);
    assert_eq!(tracks[T2]["artist_refs"], json!(["artist:bob band", "artist:cee crew"]));

    // Playlists: membership in playlist order, with added_at.
    let pls: BTreeMap<String, Value> =
        records(&env, "playlists").into_iter().map(|(_, p)| (p["name"].as_str().unwrap().to_string(), p)).collect();
    let members = |name: &str| members(&env, name);
    let m = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter().map(|(k, a)| (k.to_string(), a.to_string())).collect()
    };
    assert_eq!(
        pls.keys().collect::<Vec<_>>(),
        vec!["Chill", "Fiesta", "Gym", "Liked Songs", "Old Favourites", "Road Trip", "Run", "Sommer Hits", "Soul"]
    );
    assert_eq!(
        members("Road Trip"),
        m(&[(T1, "2021-01-10T10:00:00Z"), (T2, "2021-02-10T10:00:00Z"), (LOCAL, "2021-03-10T10:00:00Z")])
    );
    assert_eq!(members("Chill"), m(&[(T3, "2022-03-01T00:00:00Z"), (T1, "2020-05-05T05:00:00Z")]));
    assert_eq!(members("Gym"), m(&[(T6, "2024-01-01"), (LOCAL_K, "2024-01-03")]));
    assert_eq!(members("Liked Songs"), m(&[(T2, "2021-03-01T00:00:00Z"), (T5, "2021-04-01T00:00:00Z")]));
    assert_eq!(
        members("Sommer Hits"),
        m(&[
            (IOTA_ALBUM, "2024-04-01T00:00:00Z"),
            (T3, "2024-04-02T00:00:00Z"),
            (IOTA_LIVE, "2024-04-03T00:00:00Z"),
            (LAMBDA_A, "2024-04-04T00:00:00Z"),
            (LAMBDA_B, "2024-04-05T00:00:00Z")
        ])
    );
    assert_eq!(members("Run"), m(&[(IOTA_RUN, "2024-03-01")]));
    assert_eq!(pls["Gym"]["source"], "spotify");

    // The same exports again: nothing is written.
    let before = env.seq();
    let again = env.task("import", json!({}));
    assert_eq!(env.seq(), before, "a second import with no change wrote to the catalog: {again}");
    assert_eq!((again["changes"].clone(), again["written"].as_u64()), (json!([]), Some(0)));
    assert_eq!((again["tracks"].as_u64(), again["memberships"].as_u64()), (Some(16), Some(18)));

    // A newer export of Road Trip: Beta removed, Zeta added.
    let newer = format!(
        "Track URI,Track Name,Album Name,Artist Name(s),Release Date,Duration (ms),Popularity,Explicit,Added By,Added At\n\
         {T1},Alpha Song,First,Ann Artist,2020-01-01,12000,40,false,spotify:user:me,2021-01-10T10:00:00Z\n\
         {LOCAL},Gamma Demo,Home Tapes,Dee Dee,,150000,0,false,spotify:user:me,2021-03-10T10:00:00Z\n\
         {T5},Zeta,Last,Zed,2020-03-03,12000,10,false,spotify:user:me,2025-06-01T00:00:00Z\n"
    );
    // An older copy of the same playlist under another name loses to it.
    env.write(
        "road_trip (old copy).csv",
        &road_trip().replace("Track URI", "Playlist Name,Track URI").replace("\nspotify:", "\nRoad Trip,spotify:"),
        10,
    );
    env.write("Road_Trip.csv", &newer, 0);
    let changed = env.task("import", json!({}));
    assert_eq!(
        changed["changes"],
        json!([{"playlist": "Road Trip",
        "added": [{"key": T5, "uri": T5, "title": "Zeta", "artists": ["Zed"]}],
        // Beta is still known from the old copy of Road Trip (every export's rows make tracks),
        // which names both artists (Liked_Songs.csv names the first only).
        "removed": [{"key": T2, "uri": T2, "title": "Beta Song", "artists": ["Bob Band", "Cee Crew"]}]}]),
        "{changed}"
    );
    let road = members("Road Trip");
    assert_eq!(
        road,
        [(T1, "2021-01-10T10:00:00Z"), (LOCAL, "2021-03-10T10:00:00Z"), (T5, "2025-06-01T00:00:00Z")]
            .map(|(k, a)| (k.to_string(), a.to_string()))
    );
    assert_eq!(changed["not_in_exports"], json!([]), "{changed}");

    // An export deleted: its playlist stays as it was, and is named.
    let chill = members("Chill");
    std::fs::remove_file(env.spot.join("Chill.csv")).unwrap();
    let gone = env.task("import", json!({}));
    assert_eq!((gone["not_in_exports"].clone(), gone["changes"].clone()), (json!(["Chill"]), json!([])), "{gone}");
    assert_eq!(members("Chill"), chill, "a deleted export never empties its playlist");
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
        // Its record (Playlist1.json) has no duration: the album tag makes the match certain.
        ("Gym/Eve - Eta.flac", 8, &["title=Eta", "artist=Eve", "album=Sweat"]),
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
    let mut found = env
        .completed(&[
            ("playlists-for-track", json!({"uri": T1})),
            ("playlists-for-track", json!({"isrc": "usum-717-03085"})),
            ("playlists-for-track", json!({"title": "Beta Song", "artist": "Bob Band", "duration_ms": 12100})),
            ("playlists-for-track", json!({"path": "/music/inbox/z.ogg"})),
            ("playlists-for-track", json!({"title": "Twin", "artist": "Twins"})),
            // Issue 81: names without a duration, one catalog track of those names.
            ("playlists-for-track", json!({"title": "beta song", "artist": "BOB BAND"})),
        ])
        .into_iter();
    let by_uri = found.next().unwrap();
    assert_eq!(by_uri["track"]["title"], "Alpha Song");
    assert_eq!(by_uri["match"]["method"], "external_id");
    assert_eq!(
        names(&by_uri["playlists"]),
        vec![("Chill".into(), "2020-05-05T05:00:00Z".into()), ("Road Trip".into(), "2021-01-10T10:00:00Z".into())]
    );
    assert_eq!(by_uri["liked"], false);
    let by_isrc = found.next().unwrap();
    assert_eq!(
        (by_isrc["track"]["uri"].as_str(), by_isrc["match"]["method"].as_str()),
        (Some(T3), Some("isrc")),
        "{by_isrc}"
    );
    assert_eq!(names(&by_isrc["playlists"]), vec![("Chill".into(), "2022-03-01T00:00:00Z".into())]);
    let by_text = found.next().unwrap();
    assert_eq!(by_text["track"]["uri"], T2, "{by_text}");
    assert_eq!(names(&by_text["playlists"]), vec![("Road Trip".into(), "2021-02-10T10:00:00Z".into())]);
    assert_eq!(by_text["liked"], true);
    let by_path = found.next().unwrap();
    assert_eq!((by_path["track"]["uri"].as_str(), by_path["liked"].as_bool()), (Some(T5), Some(true)), "{by_path}");
    assert_eq!(by_path["playlists"], json!([]));
    let twin = found.next().unwrap();
    assert_eq!(
        (twin["track"].clone(), twin["match"].clone(), twin["playlists"].clone()),
        (Value::Null, Value::Null, json!([])),
        "{twin}"
    );
    assert_eq!(twin["candidates"].as_array().unwrap().len(), 2, "{twin}");
    let by_names = found.next().unwrap();
    assert_eq!(
        (by_names["track"]["uri"].as_str(), by_names["match"]["method"].as_str(), by_names["liked"].as_bool()),
        (Some(T2), Some("title+artist"), Some(true)),
        "{by_names}"
    );
    assert!(by_names["match"]["score"].as_f64().is_some_and(|s| s > 0.8), "{by_names}");
    assert_eq!(names(&by_names["playlists"]), vec![("Road Trip".into(), "2021-02-10T10:00:00Z".into())]);
    let bad = env.task_raw("playlists-for-track", json!({}));
    assert_eq!(bad["error"]["code"], "invalid_params", "{bad}");

    // The truth table of the plan (primary: the playlist the track was added to first).
    let plans = env.completed(&[("plan", json!({})), ("plan", json!({"primary": ["Road Trip"]}))]);
    let plan = plans[0].clone();
    let moves: BTreeMap<&str, (&str, &str)> = plan["moves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["from"].as_str().unwrap(), (m["to"].as_str().unwrap(), m["reason"].as_str().unwrap())))
        .collect();
    let to: BTreeMap<&str, &str> = moves.iter().map(|(k, v)| (*k, v.0)).collect();
    assert_eq!(
        to,
        BTreeMap::from([
            ("/music/inbox/a.mp3", "/music/Chill/Ann Artist - Alpha Song.mp3"),
            ("/music/inbox/b.flac", "/music/Road Trip/Bob Band, Cee Crew - Beta Song.flac"),
            ("/music/inbox/d.flac", "/music/Chill/Tyler, The Creator, Kali Uchis - Delta.flac"),
            ("/music/inbox/o.flac", "/music/Unassigned/Ghost - Omega.flac"),
            ("/music/inbox/z.ogg", "/music/Liked Songs/Zed - Zeta.ogg"),
        ]),
        "{plan}"
    );
    assert_eq!(plan["unassigned"], json!(["/music/inbox/o.flac"]));
    assert_eq!(plan["unmatched"], json!(["/music/inbox/n.mp3", "/music/inbox/t.flac"]));
    let ranked = plans[1].clone();
    let a = ranked["moves"].as_array().unwrap().iter().find(|m| m["from"] == "/music/inbox/a.mp3").unwrap();
    assert_eq!(a["to"], "/music/Road Trip/Ann Artist - Alpha Song.mp3");
    assert_ne!(ranked["plan_id"], plan["plan_id"]);

    // `primary: "ask"`: the track on two playlists is asked about instead of guessed; the
    // TASK waits for the answer, then plans with it.
    let body = json!({"schema": "baton.handoff/v1", "id": "ASK-PLAN", "kind": "task", "created_at": "2026-01-18T07:09:51Z",
                      "from": "Tester-Agent", "title": "spotify plan", "plugin": "spotify", "action": "plan",
                      "params": {"primary": "ask"}});
    env.h.drop_file("20260118T070951Z__TASK__ASK-PLAN__Tester-Agent.json", body.to_string());
    env.h.ok(&["serve", "--once"]);
    let asked = env.h.json(&["show", "ASK-PLAN", "--json"]);
    assert_eq!(asked["task"]["state"], "input_required", "{asked}");
    let question = asked["input_request"]["message"].as_str().unwrap();
    assert!(
        question.contains("Alpha Song") && question.contains("Chill") && question.contains("Road Trip"),
        "{question}"
    );
    let wrong = env.h.run(&["answer", "ASK-PLAN", "--input", r#"{"playlist": "Gym"}"#]);
    assert_eq!(wrong.status.code(), Some(2), "a playlist the track is not on is refused");
    env.h.ok(&["answer", "ASK-PLAN", "--input", r#"{"playlist": "Road Trip"}"#]);
    env.h.ok(&["serve", "--once"]);
    let r = env.h.returns("Tester-Agent").remove("ASK-PLAN").expect("the asked plan's RETURN").remove(0);
    assert_eq!(r["status"], "completed", "{r}");
    let a = r["result"]["moves"].as_array().unwrap().iter().find(|m| m["from"] == "/music/inbox/a.mp3").unwrap();
    assert_eq!(
        (a["to"].as_str(), a["reason"].as_str()),
        (Some("/music/Road Trip/Ann Artist - Alpha Song.mp3"), Some("chosen by the sender, asked")),
        "{r}"
    );

    // m3u before any move: host paths (the playlists folder is outside the music folder).
    let m = env.task("m3u", json!({}));
    assert_eq!((m["written"].as_array().unwrap().len(), m["tracks_without_file"].as_u64()), (5, Some(3)), "{m}");
    let root = std::fs::canonicalize(&env.music).unwrap();
    let road = std::fs::read_to_string(env.lists.join("Road Trip.m3u8")).unwrap();
    assert_eq!(
        road,
        format!(
            "#EXTM3U\n#EXTINF:12,Ann Artist - Alpha Song\n{r}/inbox/a.mp3\n#EXTINF:12,Bob Band, Cee Crew - Beta Song\n{r}/inbox/b.flac\n# no local file: Dee Dee - Gamma Demo ({LOCAL})\n",
            r = root.display()
        )
    );
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
    // A grant problem has one code across plugins: `grant_missing`.
    assert_eq!(
        (refused["status"].as_str(), refused["error"]["code"].as_str()),
        (Some("failed"), Some("grant_missing")),
        "{refused}"
    );
    let why = refused["error"].to_string();
    assert!(
        why.contains("grant `music` is read-only")
            && why.contains("`music = { path = \\\"/path/to/folder\\\", writable = true }`")
            && why.contains("`baton plugin grant spotify music /path/to/folder --writable`"),
        "the refusal names the fix: {why}"
    );
    assert_eq!(tree(&env.music), before, "a refused apply moves nothing");
    std::fs::write(&toml_path, &writable).unwrap();

    // apply, then undo: the tree comes back byte for byte.
    let applied = env.task("apply", json!({"plan_id": plan_id}));
    assert_eq!((applied["moved"].as_u64(), applied["skipped"].clone()), (Some(5), json!([])), "{applied}");
    assert!(env.music.join("Chill/Ann Artist - Alpha Song.mp3").is_file());
    assert!(!env.music.join("inbox/a.mp3").exists());
    let after = env.task("playlists-for-track", json!({"path": "/music/Chill/Ann Artist - Alpha Song.mp3"}));
    assert_eq!(after["track"]["uri"], T1, "the link follows the move: {after}");
    // So does the catalog's link, without a rescan: the library followed the moved file.
    let t1 = after["track"]["key"].as_str().unwrap().to_string();
    let file_links = |env: &Env| -> Vec<(String, String)> {
        let shown = env.h.json(&["catalog", "links", "tracks", &t1, "files", "--json"]);
        shown
            .as_array()
            .unwrap()
            .iter()
            .map(|l| (l["key"].as_str().unwrap().to_string(), l["method"].as_str().unwrap().to_string()))
            .collect()
    };
    let linked = file_links(&env);
    assert!(linked.len() == 1 && linked[0].0.ends_with("/music/Chill/Ann Artist - Alpha Song.mp3"), "{linked:?}");
    let method = linked[0].1.clone();
    assert_ne!(method, "manual", "the moved file keeps the method it was matched by");
    let m = env.task("m3u", json!({}));
    assert!(m["written"].as_array().unwrap().iter().any(|w| w == "/playlists/Chill.m3u8"), "{m}");
    assert!(
        std::fs::read_to_string(env.lists.join("Chill.m3u8"))
            .unwrap()
            .contains(&format!("{}/Chill/Ann Artist - Alpha Song.mp3\n", root.display()))
    );
    let twice = env.task("apply", json!({"plan_id": plan_id}));
    assert_eq!(twice["moved"], 0, "{twice}");
    let undone = env.task("undo", json!({"plan_id": plan_id}));
    assert_eq!((undone["restored"].as_u64(), undone["skipped"].clone()), (Some(5), json!([])), "{undone}");
    assert_eq!(tree(&env.music), before);
    let linked = file_links(&env);
    assert!(linked.len() == 1 && linked[0].0.ends_with("/music/inbox/a.mp3") && linked[0].1 == method, "{linked:?}");

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

    // The playlists folder inside the (writable) music folder: refused, naming
    // both paths: through the outer grant the plugin could replace the inner folder by a
    // symlink. (Playlists can live in a folder of their own, as above.)
    let toml_path = env.h.root.join("baton.toml");
    let toml = std::fs::read_to_string(&toml_path).unwrap().replace(
        r#"playlists = { path = "lists", writable = true }"#,
        r#"playlists = { path = "music/Playlists", writable = true }"#,
    );
    std::fs::write(&toml_path, toml).unwrap();
    std::fs::create_dir_all(env.music.join("Playlists")).unwrap();
    let m = env.task_raw("m3u", json!({}));
    assert_eq!(m["error"]["code"], "unknown_plugin", "{m}");
    let why = m["error"]["message"].as_str().unwrap();
    assert!(why.contains(&env.music.join("Playlists").display().to_string()) && why.contains("nest"), "{why}");
}

#[test]
fn next_track_walks_the_fallback_chain_and_never_repeats() {
    let env = Env::new();
    env.fixtures();
    // The plugin's settings come from baton.toml.
    let toml_path = env.h.root.join("baton.toml");
    let toml = std::fs::read_to_string(&toml_path).unwrap();
    std::fs::write(
        &toml_path,
        toml + "[plugins.spotify.settings]\next = \"flac\"\nlayout = \"{playlist}/{title} ({artist}).{ext}\"\n",
    )
    .unwrap();
    env.task("import", json!({}));
    // A later page of the stored import result: nothing left on it.
    let p1 = env.task("import", json!({"page": 1}));
    assert_eq!((p1["files"].clone(), p1["changes"].clone(), p1.get("truncated")), (json!([]), json!([]), None), "{p1}");
    let explicit = env.task("next-track", json!({"uri": T4}));
    assert_eq!(
        (explicit["source"].as_str(), explicit["track"]["title"].as_str()),
        (Some("explicit"), Some("Épsilon")),
        "{explicit}"
    );
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
    assert_eq!(seen, vec![LOCAL_K, T6, T3, LOCAL, T2, T1], "newest addition first: {seen:?}");
    assert_eq!(env.task("next-track", json!({}))["source"], "none");
    // A track that changes may come back: a newer export adds Épsilon to another playlist.
    env.write(
        "Road_Trip.csv",
        &road_trip().replace(
            &format!("{LOCAL},"),
            &format!("{T4},Épsilon,Disco,Artista Uno,,201000,0,false,spotify:user:me,2026-01-01T00:00:00Z,,\n{LOCAL},"),
        ),
        0,
    );
    env.task("import", json!({}));
    let n = env.task("next-track", json!({}));
    assert_eq!((n["source"].as_str(), n["track"]["uri"].as_str()), (Some("new"), Some(T4)), "{n}");
    assert_eq!(env.task("next-track", json!({}))["source"], "none");
}

/// Every list of a result holds at most 500 entries, with `"truncated": true` when there are
/// more, and the rest is on `{"page": N}`: 600 unreadable rows in one file (its `skipped`) and
/// 600 tracks added to one playlist (its `changes`).
#[test]
fn import_lists_over_500_entries_continue_on_the_next_page() {
    let env = Env::new();
    let id = |i: usize| format!("spotify:track:{i:022}");
    let mut big = String::from(
        "Track URI,Track Name,Album Name,Artist Name(s),Release Date,Duration (ms),Popularity,Explicit,Added By,Added At\n",
    );
    for i in 0..600 {
        big += &format!("{},Song {i},Album,Artist {i},2020,200000,1,false,me,2024-01-01T00:00:00Z\n", id(i));
    }
    for i in 0..600 {
        big += &format!("{}\n", id(1000 + i));
    }
    env.write("Big.csv", &big, 1);
    env.write("Small.csv", &format!("Track URI,Track Name,Artist Name(s)\n{},Tiny,Tim\n", id(5000)), 1);
    let reasons = |r: &Value| -> Vec<(u64, String)> {
        r["files"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["path"] == "/spotify/Big.csv")
            .flat_map(|f| {
                f["skipped"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| (s["line"].as_u64().unwrap(), s["reason"].as_str().unwrap().to_string()))
            })
            .collect()
    };
    let added = |r: &Value, playlist: &str| -> Vec<String> {
        r["changes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["playlist"] == playlist)
            .flat_map(|c| uris(&c["added"]).into_iter().map(str::to_string))
            .collect()
    };
    let p0 = env.task("import", json!({}));
    assert_eq!(p0["truncated"], true, "{p0}");
    // Page 0: the first 500 entries of each list, inner lists counted (a file with no
    // skipped row counts as one entry, so Small.csv is on page 1).
    assert_eq!(
        p0["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect::<Vec<_>>(),
        vec!["/spotify/Big.csv"]
    );
    let first = reasons(&p0);
    assert_eq!(first.len(), 500);
    assert_eq!(first[0], (602, "short row: 1 of 10 fields, no track name".to_string()));
    let changed: usize = p0["changes"].as_array().unwrap().iter().map(|c| c["added"].as_array().unwrap().len()).sum();
    assert_eq!(changed, 500, "{}", p0["changes"]);
    assert_eq!(added(&p0, "Big"), (0..500).map(id).collect::<Vec<_>>());
    let pages = env.completed(&[("import", json!({"page": 1})), ("import", json!({"page": 2}))]);
    let p1 = &pages[0];
    assert_eq!(p1.get("truncated"), None, "the last page: {p1}");
    assert_eq!(p1["page"], 1);
    // Page 1: the rest, the file and playlist named again with their other fields.
    let rest = reasons(p1);
    assert_eq!(rest.iter().map(|r| r.0).collect::<Vec<_>>(), (1102..1202).collect::<Vec<u64>>());
    assert_eq!(first.len() + rest.len(), 600);
    assert_eq!(
        p1["files"][1],
        json!({"path": "/spotify/Small.csv", "layout": "exportify-pavelkomarov", "rows": 1, "skipped": []})
    );
    let f = &p1["files"].as_array().unwrap()[0];
    assert_eq!(
        (f["path"].as_str(), f["layout"].as_str(), f["rows"].as_u64()),
        (Some("/spotify/Big.csv"), Some("exportify-pavelkomarov"), Some(1200)),
        "{p1}"
    );
    let mut all = added(&p0, "Big");
    all.extend(added(p1, "Big"));
    assert_eq!(
        all,
        (0..600).map(id).collect::<Vec<_>>(),
        "page 1 holds the rest of the added tracks, in playlist order"
    );
    assert_eq!(added(p1, "Small"), vec![id(5000)]);
    assert_eq!(
        p1["changes"].as_array().unwrap().iter().map(|c| c["removed"].clone()).collect::<Vec<_>>(),
        vec![json!([]), json!([])]
    );
    assert_eq!(
        (pages[1]["files"].clone(), pages[1]["changes"].clone(), pages[1].get("truncated")),
        (json!([]), json!([]), None)
    );
}

/// `playlists-for-track {"path"}` of a file not linked yet reads its tags (through the
/// fingerprint interface) and says how it matched; after `link-local` it answers from the
/// link with the method the link was made by, never `manual`. And `plan` with the `newest`
/// primary rule puts a track on two playlists in the one it was added to last.
#[test]
fn a_file_is_matched_by_its_tags_then_by_its_link_and_planned_by_the_newest_rule() {
    let env = Env::new();
    env.fixtures();
    env.task("import", json!({}));
    let wav_dir = env.h.root.join("wav");
    std::fs::create_dir_all(env.music.join("inbox")).unwrap();
    let files: [(&str, u64, &[&str]); 2] = [
        ("inbox/a.mp3", 1, &["title=Alpha Song", "artist=Ann Artist", "ISRC=USAAA2100001"]),
        ("inbox/z.ogg", 4, &["title=Zeta", "artist=Zed"]),
    ];
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
    let ask = || {
        env.completed(&[
            ("playlists-for-track", json!({"path": "/music/inbox/a.mp3"})),
            ("playlists-for-track", json!({"path": "/music/inbox/z.ogg"})),
        ])
    };

    // Not linked yet: by the tags (ISRC for a.mp3; title, artist and duration for z.ogg).
    let tags = ask();
    assert_eq!(
        (tags[0]["track"]["uri"].as_str(), tags[0]["match"].clone()),
        (Some(T1), json!({"method": "isrc", "score": 0.99})),
        "{}",
        tags[0]
    );
    assert_eq!(
        names(&tags[0]["playlists"]),
        vec![("Chill".into(), "2020-05-05T05:00:00Z".into()), ("Road Trip".into(), "2021-01-10T10:00:00Z".into())]
    );
    assert_eq!(
        (tags[1]["track"]["uri"].as_str(), tags[1]["match"]["method"].as_str(), tags[1]["liked"].as_bool()),
        (Some(T5), Some("normalized"), Some(true)),
        "{}",
        tags[1]
    );
    assert!(tags[1]["match"]["score"].as_f64().unwrap() >= 0.9, "{}", tags[1]);
    assert_eq!(tags[1]["match"].get("via"), None);

    let l = env.task("link-local", json!({}));
    assert_eq!((l["linked"].as_u64(), l["coverage"].as_f64()), (Some(2), Some(1.0)), "{l}");
    // Linked: from the link, with the method it was made by.
    let linked = ask();
    for (before, after) in tags.iter().zip(&linked) {
        assert_eq!(after["track"], before["track"]);
        assert_eq!(after["match"]["via"], "link-local", "{after}");
        assert_eq!(
            (&after["match"]["method"], &after["match"]["score"]),
            (&before["match"]["method"], &before["match"]["score"]),
            "{after}"
        );
        assert_eq!(after["playlists"], before["playlists"]);
    }

    // primary: newest: Alpha Song was added to Road Trip last; oldest (the default): Chill.
    let plans = env.completed(&[("plan", json!({"primary": "newest"})), ("plan", json!({}))]);
    let moves = |plan: &Value| -> Vec<(String, String, String)> {
        plan["moves"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["from"].as_str().unwrap().to_string(),
                    m["to"].as_str().unwrap().to_string(),
                    m["reason"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let s = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
    assert_eq!(
        moves(&plans[0]),
        vec![
            s(
                "/music/inbox/a.mp3",
                "/music/Road Trip/Ann Artist - Alpha Song.mp3",
                "added here last, of 2 playlists (2021-01-10T10:00:00Z)"
            ),
            s("/music/inbox/z.ogg", "/music/Liked Songs/Zed - Zeta.ogg", "only in Liked Songs"),
        ],
        "{}",
        plans[0]
    );
    assert_eq!(
        moves(&plans[1])[0],
        s(
            "/music/inbox/a.mp3",
            "/music/Chill/Ann Artist - Alpha Song.mp3",
            "added here first, of 2 playlists (2020-05-05T05:00:00Z)"
        )
    );
    assert_ne!(plans[0]["plan_id"], plans[1]["plan_id"]);
}

/// The catalog's matcher runs between tracks of one import, but takes only a record of this
/// import the track was paired with (a shared artist; the same title, or titles alike word for
/// word with durations within 3 s). "Song 199" by "Artist 1771" is asked because of "Song 1999"
/// by the same artist (2.5 s apart: too far for the matcher's fuzzy rung). Its fuzzy rung once
/// answered "Song 19965" by "Artist 780" and "Artist 1306" (Jaro-Winkler over "199"/"19965"
/// and over "Artist …"), another track; numbers are no typos to it now, and the pairing would
/// refuse that answer too. Four tracks, four records.
#[test]
fn the_matcher_within_one_import_merges_only_tracks_it_was_paired_with() {
    let env = Env::new();
    let (a, b, z, x) = (
        "spotify:track:0AAAAAAAAAAAAAAAAAAAA1",
        "spotify:track:0BBBBBBBBBBBBBBBBBBBB2",
        "spotify:track:0ZZZZZZZZZZZZZZZZZZZZ3",
        "spotify:track:0XXXXXXXXXXXXXXXXXXXX4",
    );
    env.write(
        "A_Old.csv",
        &format!(
            "Track ID,Track Name,Album Name,Artist Name(s),Release Date,Duration (ms),Popularity,Added By,Added At\n\
         {},\"Song 19965\",\"A\",\"Artist 780,Artist 1306\",2020,209301,1,me,2024-01-01T00:00:00Z\n\
         {},\"Song 19966\",\"A\",\"Artist 1306\",2020,206801,1,me,2024-01-02T00:00:00Z\n\
         {},\"Song 1999\",\"A\",\"Artist 1771\",2020,211670,1,me,2024-01-03T00:00:00Z\n",
            &a[14..],
            &b[14..],
            &z[14..]
        ),
        1,
    );
    env.write("B_New.csv", &format!(
        "Track URI,Track Name,Album Name,Artist Name(s),Release Date,Duration (ms),Popularity,Explicit,Added By,Added At\n\
         {x},Song 199,A,Artist 1771,2020,209170,1,false,me,2024-02-01T00:00:00Z\n"), 1);
    let r = env.task("import", json!({}));
    assert_eq!((r["tracks"].as_u64(), r["ambiguous"].clone()), (Some(4), json!([])), "{r}");
    let ids: Vec<(String, Value)> =
        records(&env, "tracks").into_iter().map(|(k, p)| (k, p["external_ids"].clone())).collect();
    let mut expect: Vec<(String, Value)> = [a, b, z, x].iter().map(|u| (u.to_string(), json!([u]))).collect();
    expect.sort_by(|p, q| p.0.cmp(&q.0));
    assert_eq!(ids, expect);
    assert_eq!(members(&env, "B New"), vec![(x.to_string(), "2024-02-01T00:00:00Z".to_string())]);
}

/// Playlists whose names make one file name ("A/B" and "A_B" clean to `A_B.m3u8`; "Chill" and
/// "chill" are one file on a case-insensitive disk) each get their own m3u8: the later one takes
/// " (2)", and none overwrites another.
#[test]
fn playlists_whose_names_clean_to_one_file_name_get_one_m3u8_each() {
    let env = Env::new();
    let row = |playlist: &str, uri: &str, title: &str| {
        format!(
            "\"{playlist}\",\"{uri}\",\"{title}\",\"\",\"Ann Artist\",\"\",\"First\",\"\",\"\",\"2020-01-01\",\"\",\"1\",\"1\",\"12000\",\"\",\"false\",\"40\",\"\",\"spotify:user:me\",\"2021-01-10T10:00:00Z\",\"pop\"\n"
        )
    };
    env.write("slash.csv", &format!("{W_HEADER}\n{}", row("A/B", T1, "Alpha Song")), 1);
    env.write("underscore.csv", &format!("{W_HEADER}\n{}", row("A_B", T2, "Beta Song")), 1);
    env.write("upper.csv", &format!("{W_HEADER}\n{}", row("Chill", T3, "Delta")), 1);
    env.write("lower.csv", &format!("{W_HEADER}\n{}", row("chill", T4, "Epsilon")), 1);
    let imported = env.task("import", json!({}));
    assert_eq!(imported["playlists"], 4, "{imported}");
    let m = env.task("m3u", json!({}));
    let mut written: Vec<&str> = m["written"].as_array().unwrap().iter().map(|w| w.as_str().unwrap()).collect();
    written.sort();
    assert_eq!(written.len(), 4, "{m}");
    let mut names: Vec<String> = std::fs::read_dir(&env.lists)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_lowercase())
        .collect();
    names.sort();
    assert_eq!(names.len(), 4, "four files, none overwritten: {names:?}");
    let all: String =
        std::fs::read_dir(&env.lists).unwrap().flatten().map(|e| std::fs::read_to_string(e.path()).unwrap()).collect();
    for title in ["Alpha Song", "Beta Song", "Delta", "Epsilon"] {
        assert_eq!(
            all.matches(&format!("Ann Artist - {title} (spotify:")).count(),
            1,
            "{title} in exactly one m3u8:\n{all}"
        );
    }
    assert!(names.iter().any(|n| n.ends_with(" (2).m3u8")), "{names:?}");
    // Run again: the same names, nothing rewritten.
    let again = env.task("m3u", json!({}));
    assert_eq!((again["written"].as_array().map(Vec::len), again["unchanged"].as_u64()), (Some(0), Some(4)), "{again}");
}

/// A 2020 `YourLibrary.json` (no `uri`): a name the catalog holds twice (two recordings, two
/// ISRCs) stays unlinked and is listed with its candidates, never guessed; a name it does not
/// hold gets a record of its own; no date means `added_at` unknown, not the import's time.
#[test]
fn tracks_known_by_name_only_are_matched_never_guessed() {
    let env = Env::new();
    let row = |uri: &str, isrc: &str| {
        format!(
            "\"{uri}\",\"Iota\",\"spotify:artist:ivy\",\"Ivy\",\"spotify:album:x\",\"Album\",\"\",\"\",\"2024-01-01\",\"\",\"1\",\"1\",\"200000\",\"\",\"false\",\"10\",\"{isrc}\",\"spotify:user:me\",\"2024-04-01T00:00:00Z\"\n"
        )
    };
    let header = r#""Track URI","Track Name","Artist URI(s)","Artist Name(s)","Album URI","Album Name","Album Artist URI(s)","Album Artist Name(s)","Album Release Date","Album Image URL","Disc Number","Track Number","Track Duration (ms)","Track Preview URL","Explicit","Popularity","ISRC","Added By","Added At""#;
    env.write(
        "Iotas.csv",
        &format!("{header}\n{}{}", row(IOTA_ALBUM, "DEA012400001"), row(IOTA_LIVE, "DE-A01-24-00002")),
        3,
    );
    env.write("YourLibrary.json", &json!({"tracks": [{"artist": "Ivy", "album": "Album", "track": "Iota"}, {"artist": "Zed", "album": "Z", "track": "Zeta"}]}).to_string(), 2);
    let r = env.task("import", json!({}));
    // Two records: their ISRCs differ (one written hyphenated), so the matcher never merges them.
    assert_eq!(members(&env, "Iotas").len(), 2, "{r}");
    let amb = r["ambiguous"].as_array().unwrap();
    assert_eq!(amb.len(), 1, "{r}");
    assert_eq!((amb[0]["title"].as_str(), amb[0]["uri"].clone()), (Some("Iota"), Value::Null));
    let cands: Vec<&str> =
        amb[0]["candidates"].as_array().unwrap().iter().map(|c| c["key"].as_str().unwrap()).collect();
    assert_eq!(cands.len(), 2, "{r}");
    // Neither item is dropped: the one names cannot link with certainty keeps a record of its
    // own, keyed by its names, as the one the catalog does not hold.
    assert_eq!(amb[0]["key"], "spotify:name:ivy:iota", "{r}");
    let mut liked: Vec<String> = members(&env, "Liked Songs").into_iter().map(|(k, _)| k).collect();
    liked.sort();
    assert_eq!(liked, ["spotify:name:ivy:iota", "spotify:name:zed:zeta"], "{r}");
    let links = env.h.json(&["catalog", "links", "playlists", "spotify:playlist:Liked Songs", "tracks", "--json"]);
    assert_eq!(links[0]["added_at"], Value::Null, "no date in the export: unknown");
}

/// Nothing skipped in silence, files known by their content, Liked Songs by its names: an
/// Exportify export saved without an extension is read as one; `Liked-songs.csv` and a file
/// `[plugins.spotify.settings] liked` names are Liked Songs; local files under
/// `YourLibrary.json`'s `other` become tracks linked to the music file that is theirs and are
/// listed under `local_tracks`; a file that is nothing is listed under `skipped`, and the
/// RETURN's summary counts it.
#[test]
fn files_are_read_by_content_and_nothing_is_skipped_in_silence() {
    let env = Env::new();
    let toml_path = env.h.root.join("baton.toml");
    let toml = std::fs::read_to_string(&toml_path).unwrap();
    std::fs::write(&toml_path, format!("{toml}\n[plugins.spotify.settings]\nliked = [\"my-likes.csv\"]\n")).unwrap();
    let header = "Track URI,Track Name,Artist Name(s),Album Name,Duration (ms),Added At";
    let row = |uri: &str, title: &str| format!("{uri},{title},Ann,First,200000,2024-01-01T00:00:00Z\n");
    env.write("Road Trip", &format!("{header}\n{}", row(T1, "Alpha")), 3);
    env.write("Liked-songs.csv", &format!("{header}\n{}", row(T2, "Beta")), 3);
    env.write("my-likes.csv", &format!("{header}\n{}", row(T3, "Gamma")), 3);
    env.write("README", "these are my exports\n", 3);
    // Playlists of other players, as the CLI reads them: a PLS by its extension, an ASX in INI
    // form under no extension (by its content), a script named `.m3u` refused.
    env.write("radio.pls", "[playlist]\nFile1=http://radio.example/live\nTitle1=Live", 3);
    env.write("stations", "[Reference]\r\nRef1=http://radio.example/a\r\n", 3);
    env.write("tool.m3u", "#!/usr/bin/env python3\nimport os\n", 3);
    std::os::unix::fs::symlink(env.spot.join("deleted.csv"), env.spot.join("old.csv")).unwrap();
    let local = "spotify:local:Ann+Artist:First+Album:Song+%26+Dance:4";
    env.write("YourLibrary.json", &json!({"tracks": [], "other": [local]}).to_string(), 3);
    let wav = env.h.root.join("src.wav");
    write_wav(&wav, &synth(3, 4.0, 44100), 44100);
    let song = env.music.join("Ann Artist - Song & Dance.mp3");
    ffmpeg(&["-i", wav.to_str().unwrap(), song.to_str().unwrap()]);
    env.h.ok(&["fp", "scan", env.music.to_str().unwrap()]);
    let ret = env.task_raw("import", json!({}));
    assert_eq!(ret["status"], "completed", "{ret}");
    let r = &ret["result"];
    let road: Vec<String> = members(&env, "Road Trip").into_iter().map(|(k, _)| k).collect();
    assert_eq!(road, [T1], "{r}");
    let mut liked: Vec<String> = members(&env, "Liked Songs").into_iter().map(|(k, _)| k).collect();
    liked.sort();
    let mut want = vec![T2.to_string(), T3.to_string()];
    want.sort();
    assert_eq!(liked, want, "{r}");
    assert_eq!(r["playlists"], 2, "only Road Trip and Liked Songs: {r}");
    let formats: Vec<(&str, &str)> = r["playlist_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["format"].as_str().unwrap()))
        .collect();
    assert_eq!(formats, [("radio", "pls"), ("stations", "asx-ini")], "{r}");
    assert_eq!(r["playlist_files"][0]["unmatched"][0]["kind"], "url", "{r}");
    let skipped: Vec<&str> = r["skipped"].as_array().unwrap().iter().map(|s| s["path"].as_str().unwrap()).collect();
    assert_eq!(skipped, ["/spotify/README", "/spotify/old.csv", "/spotify/tool.m3u"], "{r}");
    let dangling = r["skipped"][1]["reason"].as_str().unwrap();
    assert!(dangling.contains("it is a symlink") && dangling.contains("does not exist"), "{dangling}");
    let tool = r["skipped"][2]["reason"].as_str().unwrap();
    assert!(tool.contains("not a playlist: it looks like a Python script"), "{tool}");
    assert!(ret["summary"].as_str().unwrap_or("").contains("3 skipped"), "{ret}");
    let lt = &r["local_tracks"];
    assert_eq!(lt.as_array().map(Vec::len), Some(1), "{r}");
    assert_eq!((lt[0]["uri"].as_str(), lt[0]["title"].as_str()), (Some(local), Some("Song & Dance")), "{r}");
    assert_eq!(lt[0]["file"], "/music/Ann Artist - Song & Dance.mp3", "{r}");
    let links = env.h.json(&["catalog", "links", "tracks", local, "files", "--json"]);
    assert_eq!(links.as_array().map(Vec::len), Some(1), "{links}");
}

/// A streaming id is identity: two URIs with one title and one artist and no duration (a 2025
/// account export writes none: a studio and a live take) are two tracks, on the playlist both;
/// an item known by its names alone links to a record of the same album, and one of another
/// album is a track of its own.
#[test]
fn two_uris_are_two_tracks_whatever_their_names() {
    let env = Env::new();
    let item = |uri: &str, album: &str| json!({"track": {"trackName": "Nocturne", "artistName": "Ivy", "albumName": album, "trackUri": uri}, "episode": null, "localTrack": null, "addedDate": "2025-01-09"});
    let (studio, live) = ("spotify:track:0NNNNNNNNNNNNNNNNNNNN1", "spotify:track:0NNNNNNNNNNNNNNNNNNNN2");
    env.write(
        "Playlist1.json",
        &json!({"playlists": [{"name": "Night", "lastModifiedDate": "2025-01-10", "items": [item(studio, "Nocturnes"), item(live, "Live in Oslo")]}]}).to_string(),
        3,
    );
    env.write("YourLibrary.json", &json!({"tracks": [{"artist": "Ivy", "album": "Nocturnes", "track": "Nocturne"}, {"artist": "Ivy", "album": "Other", "track": "Nocturne"}]}).to_string(), 2);
    let r = env.task("import", json!({}));
    let mut night: Vec<String> = members(&env, "Night").into_iter().map(|(k, _)| k).collect();
    night.sort();
    assert_eq!(night, [studio, live], "{r}");
    let mut liked: Vec<String> = members(&env, "Liked Songs").into_iter().map(|(k, _)| k).collect();
    liked.sort();
    // The other album's item is keyed by its names and its album (the names alone name the
    // first item, which is the studio take's record).
    assert_eq!(liked, ["spotify:name:ivy:nocturne:other", studio], "{r}");
    assert_eq!(r["ambiguous"], json!([]), "{r}");
}
