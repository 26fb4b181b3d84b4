//! The `spotify` plugin on real exports people published (`../shared/realworld/exportify` and
//! `spotify-account`, read in place and copied into a temporary home, never into this
//! repository), through the real `baton` binary. Every expected number here was counted from
//! the files themselves (with a script independent of baton: Python's csv and json modules),
//! and each test says what is odd about the file it reads.
use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

mod support;
use support::realworld;
use support::spotify::SpotifyHome;

fn exportify(name: &str) -> std::path::PathBuf {
    realworld().join("exportify").join(name)
}

fn account(name: &str) -> std::path::PathBuf {
    realworld().join("spotify-account").join(name)
}

/// Item 1 of issue 29: a 2020 `YourLibrary.json` (no `uri` on any track) imported after
/// `Liked_Songs.csv` removed every Liked Songs membership. Now an export removes more than half
/// of a playlist only with `accept_shrink`, and a withheld shrink is listed under `suspicious`,
/// never under `changes[].removed`.
#[test]
fn a_newer_export_never_silently_empties_liked_songs() {
    let s = SpotifyHome::new();
    // LiamWhitenack's 2026 Liked Songs: 706 rows, 706 distinct URIs, no ISRC column.
    s.copy(&exportify("Liked_Songs.csv"), "Liked_Songs.csv", 10);
    let r = s.task("import", json!({}));
    let liked: BTreeSet<String> = s.members("Liked Songs").into_iter().map(|(k, _)| k).collect();
    assert_eq!(r["changes"][0]["playlist"], "Liked Songs");
    // 698 records: the matcher takes 8 pairs of URIs (a single and its album track: one title,
    // one artist, durations within 3 s, no ISRC in this layout) for one recording each.
    let first = liked.len();
    assert_eq!((first, r["memberships"].as_u64()), (698, Some(698)));

    // ashleyjmurray's 2020 YourLibrary.json, newer on disk: 2906 tracks without a URI.
    s.copy(&account("ashleyjmurray-2020-YourLibrary.json"), "YourLibrary.json", 0);
    let r = s.task("import", json!({}));
    let after: BTreeSet<String> = s.members("Liked Songs").into_iter().map(|(k, _)| k).collect();
    assert!(after.is_superset(&liked), "Liked Songs lost {} tracks", liked.difference(&after).count());
    let sus = r["suspicious"].as_array().unwrap();
    assert_eq!(sus.len(), 1, "{:?}", r["suspicious"]);
    assert_eq!((sus[0]["playlist"].as_str(), sus[0]["path"].as_str(), sus[0]["before"].as_u64()), (Some("Liked Songs"), Some("/spotify/YourLibrary.json"), Some(698)));
    // 38 of the library's names are songs of the CSV's Liked Songs (the matcher links them by
    // title and artist); the other 660 would go.
    assert!(sus[0]["reason"].as_str().unwrap().starts_with("the export would remove 660 of its 698 tracks"), "{}", sus[0]["reason"]);
    // 660 withheld: 500 on this page, the rest on the next.
    assert_eq!((sus[0]["withheld"].as_array().unwrap().len(), r["truncated"].as_bool()), (500, Some(true)));
    let more = s.task("import", json!({"page": 1}));
    assert_eq!(more["suspicious"][0]["withheld"].as_array().map(Vec::len), Some(160));
    let changes = r["changes"].as_array().unwrap();
    assert!(changes.iter().all(|c| c["removed"] == json!([])), "a withheld shrink is never under changes[].removed");

    // Accepted: the newer export wins, and the removals are listed.
    let r = s.task("import", json!({"accept_shrink": true}));
    assert_eq!(r["suspicious"], json!([]));
    let liked = &r["changes"].as_array().unwrap().iter().find(|c| c["playlist"] == "Liked Songs").unwrap()["removed"];
    assert_eq!(liked.as_array().map(Vec::len), Some(500), "the first page of 698 removed");
}

/// A header-only export (thisispivi's Italian `america.csv`: an empty playlist) newer than a
/// full one of the same playlist reads no track: it never empties the playlist, and says so.
#[test]
fn an_export_that_yields_no_track_removes_nothing() {
    let s = SpotifyHome::new();
    // thisispivi's `aurora_+_andrea.csv`: Italian watsonbox header, 50 rows, 50 distinct URIs.
    s.copy(&exportify("thisispivi-it-aurora_+_andrea.csv"), "america.csv", 5);
    s.task("import", json!({}));
    let before = s.members("america");
    assert_eq!(before.len(), 50);
    s.copy(&exportify("thisispivi-it-america-header-only.csv"), "america.csv", 0);
    let r = s.task("import", json!({"accept_shrink": true}));
    assert_eq!(s.members("america"), before, "{r}");
    assert_eq!(r["files"][0]["layout"], "exportify-watsonbox-translated", "{r}");
    assert_eq!(r["suspicious"][0]["reason"], "the export yields no track for this playlist: it never empties one", "{r}");
    assert_eq!(r["changes"], json!([]), "{r}");
    // On its own, the header-only file is an empty playlist, not an error.
    let s = SpotifyHome::new();
    s.copy(&exportify("thisispivi-it-america-header-only.csv"), "america.csv", 0);
    let r = s.task("import", json!({}));
    assert_eq!((r["files"][0]["error"].clone(), r["files"][0]["rows"].as_u64(), r["playlists"].as_u64()), (Value::Null, Some(0), Some(1)), "{r}");
    assert_eq!(s.records("playlists")["spotify:playlist:america"]["name"], "america");
}
