//! Issue 81, point 2, for the sources beside djay and Rekordbox: a playlist is an ordered list
//! that may repeat. A Spotify account export's playlist and playlist files (m3u, PLS, XSPF)
//! keep every entry in order, repeats included, in the catalog (`entries`, `file_entries`),
//! in `baton catalog show`, and in `baton catalog export --format m3u|rekordbox`, with
//! `counts.playlist_entries`, `playlist_tracks` (distinct) and `playlist_items_repeated`; an
//! exported m3u imported again gives the same entries. Everything through the real binary and
//! the real spotify plugin.
use crate::support;

use serde_json::{Value, json};
use support::audio::{synth, write_wav};
use support::spotify::SpotifyHome;

/// `(track, position)` of a record's entries list.
fn entries(v: &Value) -> Vec<(String, u64)> {
    v.as_array()
        .unwrap_or_else(|| panic!("no entries: {v}"))
        .iter()
        .map(|e| (e["track"].as_str().unwrap().to_string(), e["position"].as_u64().unwrap()))
        .collect()
}

#[test]
fn a_spotify_playlist_keeps_its_entries_in_order_with_repeats() {
    let s = SpotifyHome::new();
    let item = |id: &str, name: &str| {
        json!({"track": {"trackName": name, "artistName": "Ivy", "albumName": "Nocturnes",
                         "trackUri": format!("spotify:track:{id}")}, "episode": null, "localTrack": null,
               "addedDate": "2025-01-09"})
    };
    let (a, b, c) = ("0AAAAAAAAAAAAAAAAAAAA1", "0BBBBBBBBBBBBBBBBBBBB2", "0CCCCCCCCCCCCCCCCCCCC3");
    // A set that plays A three times: A B A C A.
    let night = [item(a, "Alpha"), item(b, "Beta"), item(a, "Alpha"), item(c, "Gamma"), item(a, "Alpha")];
    let export = json!({"playlists": [
        {"name": "Night", "lastModifiedDate": "2025-01-10", "items": night},
        {"name": "Once", "lastModifiedDate": "2025-01-10", "items": [item(b, "Beta")]},
    ]});
    std::fs::write(s.spot.join("Playlist1.json"), export.to_string()).unwrap();
    let r = s.task("import", json!({}));
    assert_eq!(
        r["counts"],
        json!({"playlists": 2, "playlist_tracks": 4, "playlist_entries": 6, "playlist_items_repeated": 2}),
        "{r}"
    );
    assert_eq!(r["memberships"], 4, "{r}");
    let pls = s.records("playlists");
    let key = |id: &str| format!("spotify:track:{id}");
    assert_eq!(
        entries(&pls["spotify:playlist:Night"]["entries"]),
        [(key(a), 1), (key(b), 2), (key(a), 3), (key(c), 4), (key(a), 5)]
    );
    assert_eq!(pls["spotify:playlist:Night"]["tracks"], json!([key(a), key(b), key(c)]), "the distinct set");
    assert_eq!(entries(&pls["spotify:playlist:Once"]["entries"]), [(key(b), 1)]);

    // `catalog show playlists KEY`: the entries in order, in text and JSON.
    let shown = s.h.json(&["catalog", "show", "playlists", "spotify:playlist:Night", "--json"]);
    let pl = &shown["playlist"];
    assert_eq!((pl["name"].as_str(), pl["property"].as_str()), (Some("Night"), Some("entries")));
    assert_eq!((pl["tracks"].as_u64(), pl["repeated"].as_u64()), (Some(3), Some(2)));
    let titles: Vec<(u64, &str)> = pl["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["position"].as_u64().unwrap(), e["title"].as_str().unwrap()))
        .collect();
    assert_eq!(titles, [(1, "Alpha"), (2, "Beta"), (3, "Alpha"), (4, "Gamma"), (5, "Alpha")]);
    let text = String::from_utf8(s.h.ok(&["catalog", "show", "playlists", "spotify:playlist:Night"]).stdout).unwrap();
    assert!(text.contains("5 entries (3 tracks, 2 repeated) in `entries` of tracks"), "{text}");
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("Ivy - ")).collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert!(lines[2].trim_start().starts_with("3  spotify:track:0AAA") && lines[2].contains("Ivy - Alpha"), "{text}");

    // A streaming playlist has no files: the m3u export says so for every entry, never a
    // silently empty list.
    let out = s.h.run(&["catalog", "export", "Night", "--format", "m3u"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "#EXTM3U\n#PLAYLIST:Night\n");
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.matches("has no file and is not in the m3u").count(), 5, "{err}");

    // The same export again: nothing changes.
    let again = s.task("import", json!({}));
    assert_eq!(again["counts"], r["counts"]);
    assert_eq!(again["changes"], json!([]), "{again}");
}

#[test]
fn playlist_files_keep_their_entries_and_an_exported_m3u_imports_the_same() {
    let h = support::Home::init(&[], "");
    let lib = h.root.join("lib");
    for (i, name) in ["a.wav", "b.wav", "c d.wav"].iter().enumerate() {
        write_wav(&lib.join(name), &synth(60 + i as u64, 3.0, 22050), 22050);
    }
    h.ok(&["fp", "scan", lib.to_str().unwrap()]);
    let p = |n: &str| lib.join(n).display().to_string();
    // a b a (missing) c a: five matched entries, one unmatched, a three times.
    std::fs::write(
        lib.join("set.m3u8"),
        "#EXTM3U\n#EXTINF:3,X - A\na.wav\nb.wav\na.wav\ngone.mp3\n#EXTINF:3,Y - C D\nc d.wav\na.wav\n",
    )
    .unwrap();
    std::fs::write(lib.join("set.pls"), "[playlist]\nFile1=b.wav\nFile2=b.wav\nFile3=a.wav\nNumberOfEntries=3\n")
        .unwrap();
    std::fs::write(
        lib.join("set.xspf"),
        "<?xml version=\"1.0\"?><playlist version=\"1\" xmlns=\"http://xspf.org/ns/0/\"><trackList>\
         <track><location>c%20d.wav</location></track><track><location>a.wav</location></track>\
         <track><location>c%20d.wav</location></track></trackList></playlist>",
    )
    .unwrap();
    let r = h.json(&["catalog", "import-playlist", "--json", &p("set.m3u8"), &p("set.pls"), &p("set.xspf")]);
    let counts: Vec<&Value> = r.as_array().unwrap().iter().map(|f| &f["counts"]).collect();
    assert_eq!(
        counts,
        [
            &json!({"playlist_entries": 5, "playlist_tracks": 3, "playlist_items_repeated": 2}),
            &json!({"playlist_entries": 3, "playlist_tracks": 2, "playlist_items_repeated": 1}),
            &json!({"playlist_entries": 3, "playlist_tracks": 2, "playlist_items_repeated": 1}),
        ],
        "{r}"
    );
    assert_eq!(r[0]["entries"], 6, "every entry of the file, the unmatched one included: {r}");
    let pls = h.json(&["catalog", "show", "playlists", "--json"]);
    let rec = |k: &str| pls["records"].as_array().unwrap().iter().find(|r| r["key"] == k).unwrap()["props"].clone();
    let m3u = rec(&p("set.m3u8"));
    // Each entry at its place in the file: the unmatched 4th leaves its place empty.
    assert_eq!(
        entries(&m3u["file_entries"]),
        [(p("a.wav"), 1), (p("b.wav"), 2), (p("a.wav"), 3), (p("c d.wav"), 5), (p("a.wav"), 6)]
    );
    assert_eq!(m3u["files"], json!([p("a.wav"), p("b.wav"), p("c d.wav")]), "the distinct set");
    assert_eq!(entries(&rec(&p("set.pls"))["file_entries"]), [(p("b.wav"), 1), (p("b.wav"), 2), (p("a.wav"), 3)]);
    assert_eq!(entries(&rec(&p("set.xspf"))["file_entries"]), [(p("c d.wav"), 1), (p("a.wav"), 2), (p("c d.wav"), 3)]);

    // Exported as m3u (by key), never over an existing file without --force, and imported
    // again: the same files in the same order.
    let out = h.root.join("out.m3u");
    std::fs::write(&out, "keep me").unwrap();
    let argv = ["catalog", "export", "playlists", &p("set.m3u8"), "--format", "m3u", "--out", out.to_str().unwrap()];
    let refused = h.run(&argv);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("pass --force"), "{refused:?}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "keep me", "an existing file is never overwritten");
    let mut forced = argv.to_vec();
    forced.extend(["--force", "--json"]);
    let done = h.json(&forced);
    assert_eq!((done["entries"].as_u64(), done["written"].as_u64()), (Some(5), Some(5)), "{done}");
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.starts_with("#EXTM3U\n#PLAYLIST:set\n#EXTINF:3,"), "{text}");
    assert_eq!(text.lines().filter(|l| !l.starts_with('#')).count(), 5, "{text}");
    let back = h.json(&["catalog", "import-playlist", "--json", out.to_str().unwrap()]);
    assert_eq!(back[0]["counts"], json!({"playlist_entries": 5, "playlist_tracks": 3, "playlist_items_repeated": 2}));
    let again = h.json(&["catalog", "show", "playlists", out.to_str().unwrap(), "--json"]);
    let tracks = |v: &Value| -> Vec<String> {
        v["playlist"]["entries"].as_array().unwrap().iter().map(|e| e["track"].as_str().unwrap().to_string()).collect()
    };
    let first = h.json(&["catalog", "show", "playlists", &p("set.m3u8"), "--json"]);
    assert_eq!(tracks(&again), tracks(&first));
    assert_eq!(again["playlist"]["property"], "file_entries");

    // The Rekordbox export of the same playlist: each file once in the COLLECTION, every
    // entry by its TrackID in order.
    // By name, `set` is each of the files' playlists: refused, each named.
    let ambiguous = h.run(&["catalog", "export", "set", "--format", "rekordbox"]);
    assert!(!ambiguous.status.success());
    let err = String::from_utf8_lossy(&ambiguous.stderr);
    assert!(err.contains("names 4 playlists") && err.contains("set.xspf"), "{err}");
    let xml =
        String::from_utf8(h.ok(&["catalog", "export", "playlists", &p("set.m3u8"), "--format", "rekordbox"]).stdout)
            .unwrap();
    assert!(xml.contains("<COLLECTION Entries=\"3\">"), "{xml}");
    assert!(xml.contains("Location=\"file://localhost") && xml.contains("c%20d.wav\""), "{xml}");
    let keys: Vec<&str> = xml.lines().filter(|l| l.contains("<TRACK Key=")).map(str::trim).collect();
    assert_eq!(
        keys,
        ["<TRACK Key=\"1\"/>", "<TRACK Key=\"2\"/>", "<TRACK Key=\"1\"/>", "<TRACK Key=\"3\"/>", "<TRACK Key=\"1\"/>"]
    );
}
