//! The djay plugin: the fixture `MediaLibrary.db` (tests/support/djay_fixture.rs) read by the
//! plugin's core, and end to end through the real `baton` binary with real TASK files.
use crate::support;

use std::path::Path;

use baton_djay::library::Library;
use support::djay_fixture::{self, Truth};

/// Reads every row of `database2` the way the plugin pages through it.
fn read_back(db: &rusqlite::Connection) -> Library {
    let mut lib = Library::new();
    let mut st = db.prepare("SELECT collection, key, data FROM database2 ORDER BY rowid").unwrap();
    let rows = st
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, Option<Vec<u8>>>(2)?)))
        .unwrap();
    for row in rows {
        let (c, k, d) = row.unwrap();
        lib.add_row(&c, &k, d.as_deref());
    }
    // As the plugin does once every row is read: playlists joined with their items, folders
    // and the root dropped.
    lib.finish();
    lib.sort_plays();
    lib
}

/// The fixture writer and the plugin's decoder are written apart; they agree on every record.
#[test]
fn the_fixture_library_decodes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let music = dir.path().join("music");
    let mut fx = djay_fixture::truth(2000, &music);
    let db_path = dir.path().join("djay/djay Media Library.djayMediaLibrary/MediaLibrary.db");
    let db = djay_fixture::write_db(&db_path, &mut fx, 30, 50);
    assert!(Path::new(&format!("{}-wal", db_path.display())).exists(), "djay's WAL is still there");

    // The truth mix of the issue: 60 / 15 / 15 / 5 / 5.
    let n = |t| fx.expected(t);
    assert_eq!(n(Truth::ExternalId), 1200);
    assert_eq!(n(Truth::Isrc), 300);
    assert_eq!(n(Truth::Normalized) + n(Truth::Fuzzy), 300);
    assert_eq!(n(Truth::Fingerprint), 100);
    assert_eq!(n(Truth::None) + n(Truth::Ambiguous), 100);

    let lib = read_back(&db);
    assert_eq!(lib.tracks.len(), 2000);
    assert_eq!(lib.sessions.len(), 30);
    assert_eq!(lib.plays.len(), 1500);
    assert_eq!(lib.playlists.len(), 2, "the root is not a playlist");
    assert_eq!(lib.errors.len(), 1);
    assert_eq!(lib.errors[0].collection, "historySessionItems");
    assert_eq!(lib.errors[0].key, fx.bad_item);
    assert_eq!(lib.counts["historySessionItems"].read, 1500);
    assert_eq!(lib.counts["historySessionItems"].skipped, 1);
    assert_eq!(lib.counts["mediaItemUserData"].unknown_fields, fx.unknown_fields["mediaItemUserData"]);
    assert!(fx.unknown_fields["mediaItemUserData"] > 0);
    assert!(!lib.counts.contains_key("databaseInfo"), "collections the plugin does not use are not read");

    for e in &fx.entries {
        let t = &lib.tracks[&e.djay.id];
        assert_eq!(t.title, e.djay.title);
        assert_eq!(t.artist, e.djay.artist, "NFD stays NFD: {}", e.djay.id);
        assert_eq!(t.duration_ms, Some(e.djay.duration_ms));
        assert_eq!(t.isrc, e.isrc);
        assert_eq!(t.streams, e.streams);
        assert_eq!(t.files, e.files);
        assert_eq!(t.play_count, e.play_count);
        assert!(t.bpm.is_some() && t.key_index.is_some());
    }
    // Play order comes from startTime within each session, not from row order.
    for (session, order) in &fx.plays {
        let got: Vec<(String, String)> = lib
            .plays
            .iter()
            .filter(|p| &p.session == session)
            .map(|p| (p.uuid.clone(), p.title_id.clone().unwrap()))
            .collect();
        assert_eq!(&got, order, "session {session}");
    }
}

/// The fixture's truth against the catalog's own matcher (no fingerprint rung here): every
/// track is found by the rung the fixture says, and by no other.
#[test]
fn the_fixture_truth_holds_for_the_catalog_matcher() {
    use baton_catalog::matcher::{MatchIndex, TrackEntry, TrackQuery, Verdict};
    let dir = tempfile::tempdir().unwrap();
    let fx = djay_fixture::truth(2000, &dir.path().join("music"));
    let index = MatchIndex::build(
        fx.catalog
            .iter()
            .map(|c| TrackEntry {
                key: c.key.clone(),
                title: c.title.clone(),
                artists: c.artists.clone(),
                duration_ms: Some(c.duration_ms),
                isrc: c.isrc.clone(),
                external_ids: c.external_ids.clone(),
                album: None,
            })
            .collect(),
    );
    let mut wrong = Vec::new();
    for e in &fx.entries {
        let t = baton_djay::library::Track {
            key: e.djay.id.clone(),
            title: e.djay.title.clone(),
            artist: e.djay.artist.clone(),
            duration_ms: Some(e.djay.duration_ms),
            isrc: e.isrc.clone(),
            streams: e.streams.clone(),
            files: e.files.clone(),
            ..Default::default()
        };
        let q = baton_djay::sync::query_for(&t, None);
        let out = index.match_track(&TrackQuery {
            title: q.title,
            artists: q.artists,
            duration_ms: q.duration_ms.map(|d| d as i64),
            isrc: q.isrc,
            external_ids: q.external_ids,
            file: None,
            album: None,
        });
        let ok = match e.truth.method() {
            Some(m) if e.truth != Truth::Fingerprint => {
                out.verdict == Verdict::Match
                    && out.candidates[0].key == *e.catalog.as_ref().unwrap()
                    && out.candidates[0].method.as_str() == m
            }
            _ if e.truth == Truth::Ambiguous => out.verdict == Verdict::Ambiguous,
            _ => out.verdict == Verdict::None,
        };
        if !ok {
            wrong.push(format!("{:?} {:?} {:?} -> {:?}", e.truth, e.djay.title, e.djay.artist, out.candidates.first()));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of 2000 not as the truth says:\n{}",
        wrong.len(),
        wrong[..wrong.len().min(20)].join("\n")
    );
}

mod end_to_end {
    //! The real `baton` binary, `baton serve --once`, real TASK files and the real wasm
    //! component, on the fixture library.
    use std::collections::HashMap;
    use std::path::PathBuf;

    use serde_json::{Value, json};

    use super::support::Home;
    use super::support::audio::{synth, write_wav};
    use super::support::djay_fixture::{self, Fixture, Truth};

    pub struct Env {
        pub h: Home,
        pub fx: Fixture,
        pub djay: PathBuf,
        pub exports: PathBuf,
        /// djay's own connection, WAL open, as while djay runs.
        pub _db: rusqlite::Connection,
        n: u32,
    }

    /// A baton home with the djay grants, the fixture library (live and an older backup), the
    /// catalog it links to, and (with `audio`) the fingerprint-only tracks' audio scanned.
    pub fn setup(tracks: usize, sessions: usize, per_session: usize, audio: bool) -> Env {
        let h = Home::init(&[], "");
        let base = h.root.parent().unwrap().to_path_buf();
        let (djay, music, exports) = (base.join("Music/djay"), base.join("Music/music"), base.join("Music/exports"));
        for d in [&djay, &music, &exports] {
            std::fs::create_dir_all(d).unwrap();
        }
        let toml_path = h.root.join("baton.toml");
        let mut toml = std::fs::read_to_string(&toml_path).unwrap();
        toml.push_str(&format!(
            "\n[plugins.djay]\ngrants = {{ djay = {:?}, music = {:?}, exports = {{ path = {:?}, writable = true }} }}\n\
             catalog = {{ read = [\"playlists\", \"files\"], write = [\"tracks\"] }}\ntime_ms = 120000\noutput_kb = 16384\n",
            djay.to_str().unwrap(),
            music.to_str().unwrap(),
            exports.to_str().unwrap()
        ));
        std::fs::write(&toml_path, toml).unwrap();

        let mut fx = djay_fixture::truth(tracks, &music);
        let live = djay.join("djay Media Library.djayMediaLibrary/MediaLibrary.db");
        // An older daily backup beside it: found, and left alone.
        let backup = djay.join("Backups/2025-01-01/djay Media Library/MediaLibrary.db");
        drop(djay_fixture::write_db(&backup, &mut djay_fixture::truth(10, &music), 1, 3));
        let db = djay_fixture::write_db(&live, &mut fx, sessions, per_session);
        if !audio {
            // Their catalog tracks keep files that do not exist: drop them (and the rung).
            for c in &mut fx.catalog {
                c.files.clear();
            }
            fx.audio.clear();
        }
        for (copy, original, seed) in &fx.audio {
            let pcm = synth(1000 + seed, 8.0, 11_025);
            for p in [copy, original] {
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                write_wav(p, &pcm, 11_025);
            }
        }
        if !fx.audio.is_empty() {
            let s: Value =
                serde_json::from_slice(&h.ok(&["fp", "scan", "--json", music.to_str().unwrap()]).stdout).unwrap();
            assert_eq!(s["failed"], 0, "{s}");
        }
        let csv = base.join("catalog.csv");
        std::fs::write(&csv, djay_fixture::catalog_csv(&fx)).unwrap();
        h.ok(&["catalog", "import", "tracks", csv.to_str().unwrap(), "--key", "_key"]);
        Env { h, fx, djay, exports, _db: db, n: 0 }
    }

    impl Env {
        /// Drops one TASK, runs `baton serve --once`, returns the RETURN body.
        pub fn task(&mut self, action: &str, params: Value) -> Value {
            self.n += 1;
            djay_fixture::run_task(&self.h, &format!("DJAY-{}-{action}", self.n), action, params)
        }

        pub fn ok(&mut self, action: &str, params: Value) -> Value {
            let r = self.task(action, params);
            assert_eq!(r["status"], "completed", "{action}: {r}");
            r["result"].clone()
        }

        /// Every record of a collection, by key.
        pub fn records(&self, collection: &str) -> HashMap<String, Value> {
            let v: Value =
                serde_json::from_slice(&self.h.ok(&["catalog", "show", collection, "--json"]).stdout).unwrap();
            let list = v.as_array().cloned().or_else(|| v["records"].as_array().cloned()).unwrap_or_default();
            list.into_iter().map(|r| (r["key"].as_str().unwrap().to_string(), r)).collect()
        }
    }

    fn written(r: &Value, c: &str) -> (u64, u64, u64) {
        let w = &r["written"][c];
        (w["inserted"].as_u64().unwrap(), w["updated"].as_u64().unwrap(), w["unchanged"].as_u64().unwrap())
    }

    /// An import is one transaction (`catalog.upsert-many`). Over the catalog quota
    /// at its third collection (plays), it fails and writes nothing: not the tracks and
    /// sessions before it. Within the quota, the same import is written whole, in one call.
    #[test]
    fn an_import_that_fails_midway_writes_nothing() {
        let mut env = setup(200, 5, 10, false);
        let toml_path = env.h.root.join("baton.toml");
        let toml = std::fs::read_to_string(&toml_path).unwrap();
        // 200 tracks and 5 sessions fit; the 50 plays after them do not.
        std::fs::write(&toml_path, format!("{toml}catalog_quota = {{ rows = 230 }}\n")).unwrap();
        let r = env.task("import", json!({}));
        assert_eq!(r["status"], "failed", "{r}");
        assert!(r["error"]["message"].as_str().is_some_and(|m| m.contains("quota")), "{r}");
        for c in ["djay.djay_tracks", "djay.dj_sessions", "djay.dj_plays", "djay.dj_playlists"] {
            assert!(env.records(c).is_empty(), "{c} was written by a failed import");
        }

        std::fs::write(&toml_path, format!("{toml}catalog_quota = {{ rows = 1000 }}\n")).unwrap();
        let r = env.ok("import", json!({}));
        assert_eq!((r["atomic"].as_bool(), r["write_calls"].as_u64()), (Some(true), Some(1)), "{r}");
        assert_eq!(env.records("djay.djay_tracks").len(), 200);
        assert_eq!(env.records("djay.dj_plays").len(), 50);
    }

    #[test]
    fn import_sessions_id_sync_and_activity() {
        let mut env = setup(2000, 30, 50, true);
        let fx_linkable: usize = env.fx.entries.iter().filter(|e| e.truth.method().is_some()).count();

        // import: exact counts; the undecodable item named; the backup left alone.
        let r = env.ok("import", json!({}));
        assert_eq!(
            r["counts"],
            json!({"tracks": 2000, "sessions": 30, "plays": 1500, "playlists": 2, "playlist_tracks": 0, "playlist_entries": 0, "playlist_items_missing": 0, "playlist_items_repeated": 0}),
            "{r}"
        );
        assert_eq!(r["read"]["historySessionItems"]["read"], 1500);
        assert_eq!(r["read"]["historySessionItems"]["skipped"], 1);
        assert_eq!(r["read"]["mediaItemTitleIDs"]["read"], 2000);
        assert_eq!(r["read"]["mediaItemUserData"]["unknown_fields"], env.fx.unknown_fields["mediaItemUserData"]);
        assert_eq!(r["errors"][0]["collection"], "historySessionItems");
        assert_eq!(r["errors"][0]["key"], env.fx.bad_item.as_str());
        assert_eq!(r["sources"].as_array().unwrap().len(), 1, "{r}");
        assert!(
            r["sources"][0]["path"].as_str().unwrap().ends_with("djay Media Library.djayMediaLibrary/MediaLibrary.db")
        );
        assert!(r["ignored"][0]["path"].as_str().unwrap().contains("Backups/2025-01-01"), "{r}");
        assert_eq!(written(&r, "djay.djay_tracks"), (2000, 0, 0));
        assert_eq!(written(&r, "djay.dj_plays"), (1500, 0, 0));
        // The issue's short names reach the plugin's collections on the CLI.
        let short = env.h.ok(&["catalog", "export", "djay_tracks", "--csv"]).stdout;
        assert_eq!(short, env.h.ok(&["catalog", "export", "djay.djay_tracks", "--csv"]).stdout);
        assert_eq!(env.records("dj_plays").len(), 1500);

        // Again, unchanged: nothing written.
        let r = env.ok("import", json!({}));
        for c in ["djay.djay_tracks", "djay.dj_sessions", "djay.dj_plays", "djay.dj_playlists"] {
            let (i, u, _) = written(&r, c);
            assert_eq!((i, u), (0, 0), "{c}: {r}");
        }

        // Sessions before any link: real track counts, nothing linked.
        let s = env.ok("sessions", json!({}));
        assert_eq!(s["totals"]["sessions"], 30);
        assert_eq!(s["totals"]["plays"], 1500);
        assert_eq!(s["totals"]["linked_plays"], 0);
        for sess in s["sessions"].as_array().unwrap() {
            assert_eq!(sess["plays"], 50, "{}", sess["id"]);
            assert_eq!(sess["tracks"].as_array().unwrap().len(), 50);
            assert_eq!(sess["linked"], 0);
            let order: Vec<&str> =
                sess["tracks"].as_array().unwrap().iter().map(|t| t["key"].as_str().unwrap()).collect();
            let want: Vec<&str> = env.fx.plays[sess["id"].as_str().unwrap()].iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(order, want, "play order from startTime");
        }

        // A link made by hand, on purpose to another track than the truth's.
        let manual = env.fx.entries.iter().find(|e| e.truth == Truth::ExternalId).unwrap().djay.id.clone();
        env.h.ok(&["catalog", "link", "djay.djay_tracks", &manual, "track", "cat00001"]);

        // id-sync, a dry run: exact per-rule counts, nothing written.
        let counts: HashMap<Truth, u64> = [
            Truth::ExternalId,
            Truth::Isrc,
            Truth::Normalized,
            Truth::Fuzzy,
            Truth::Fingerprint,
            Truth::None,
            Truth::Ambiguous,
        ]
        .into_iter()
        .map(|t| (t, env.fx.expected(t) as u64))
        .collect();
        let want = |t: Truth| counts[&t];
        let d = env.ok("id-sync", json!({}));
        assert_eq!(d["total"], 2000);
        assert_eq!(d["linked"]["external_id"], want(Truth::ExternalId) - 1, "{}", d["linked"]);
        assert_eq!(d["linked"]["isrc"], want(Truth::Isrc));
        assert_eq!(d["linked"]["normalized"], want(Truth::Normalized));
        assert_eq!(d["linked"]["fuzzy"], want(Truth::Fuzzy));
        assert_eq!(d["linked"]["fingerprint"], want(Truth::Fingerprint));
        assert_eq!(d["manual"], 1);
        assert_eq!(d["ambiguous"].as_array().unwrap().len() as u64, want(Truth::Ambiguous));
        assert_eq!(d["unmatched"].as_array().unwrap().len() as u64, want(Truth::None));
        for a in d["ambiguous"].as_array().unwrap() {
            assert_eq!(a["candidates"].as_array().unwrap().len(), 2, "{a}");
        }
        assert!(d["coverage"].as_f64().unwrap() >= 0.90, "{d}");
        assert_eq!(d["execute"], false);
        assert!(
            env.records("djay.djay_tracks")
                .values()
                .filter(|r| r["props"]["track"].as_array().is_some_and(|a| !a.is_empty()))
                .count()
                == 1
        );

        // Execute: links written; the manual one survives.
        let x = env.ok("id-sync", json!({"execute": true}));
        assert_eq!(x["linked"], d["linked"]);
        let recs = env.records("djay.djay_tracks");
        let (mut linked, mut correct) = (0, 0);
        for e in &env.fx.entries {
            let t = recs[&e.djay.id]["props"]["track"].as_array().cloned().unwrap_or_default();
            if e.djay.id == manual {
                assert_eq!(t, vec![json!("cat00001")], "the manual link stays");
                continue;
            }
            if let Some(k) = t.first() {
                linked += 1;
                correct += usize::from(e.catalog.as_deref() == k.as_str());
            }
        }
        let precision = correct as f64 / linked as f64;
        let coverage = (linked + 1) as f64 / 2000.0;
        eprintln!("id-sync on the fixture: coverage {coverage:.4}, precision {precision:.4}, linkable {fx_linkable}");
        assert!(precision >= 0.99 && coverage >= 0.90, "precision {precision}, coverage {coverage}");
        // Once more: everything already linked, nothing written.
        let again = env.ok("id-sync", json!({"execute": true}));
        assert_eq!(again["written"]["updated"], 0, "{}", again["written"]);

        // Sessions now link their plays; activity lands on catalog tracks.
        let s = env.ok("sessions", json!({}));
        let link_of: HashMap<&str, Option<&str>> = env
            .fx
            .entries
            .iter()
            .map(|e| (e.djay.id.as_str(), if e.djay.id == manual { Some("cat00001") } else { e.catalog.as_deref() }))
            .collect();
        let want_linked: u64 =
            env.fx.plays.values().flatten().filter(|(_, tid)| link_of[tid.as_str()].is_some()).count() as u64;
        assert_eq!(s["totals"]["linked_plays"], want_linked, "{}", s["totals"]);
        let a = env.ok("activity", json!({}));
        assert_eq!(a["totals"]["session_plays"], want_linked);
        let tracks = env.records("tracks");
        let some = a["tracks"][0].clone();
        let t = &tracks[some["track"].as_str().unwrap()]["props"];
        assert_eq!(t["djay.session_plays"], some["session_plays"]);
        assert_eq!(t["djay.play_count"], some["play_count"]);
        let recent = env.ok("activity", json!({"since": "2025-03-01T00:00:00Z"}));
        assert!(recent["totals"]["session_plays"].as_u64().unwrap() < want_linked);
        let bad = env.task("activity", json!({"since": "last tuesday"}));
        // The host checks params against the action's schema (`format: date-time`) first.
        assert_eq!(bad["status"], "rejected", "{bad}");
        assert!(
            bad["error"]["message"].as_str().unwrap().contains("since: `last tuesday` is not an RFC 3339 time"),
            "{bad}"
        );
    }
}

mod rekordbox_round_trip {
    use serde_json::{Value, json};

    use super::end_to_end::setup;
    use super::support::djay_fixture::Truth;

    /// `%XX` back to bytes, written here so the check does not lean on the plugin's decoder.
    fn unpercent(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn export_rekordbox_then_import_it_back() {
        let mut env = setup(80, 2, 5, true);
        let fp: Vec<_> = env.fx.entries.iter().filter(|e| e.truth == Truth::Fingerprint).cloned().collect();
        assert_eq!(fp.len(), 4);
        // A catalog playlist: the tracks with local files, in a chosen order, and one without.
        let no_file = env.fx.entries.iter().find(|e| e.truth == Truth::Isrc).unwrap().catalog.clone().unwrap();
        let order: Vec<String> = fp.iter().rev().map(|e| e.catalog.clone().unwrap()).chain([no_file.clone()]).collect();
        let csv = env.h.root.parent().unwrap().join("playlists.csv");
        std::fs::write(
            &csv,
            format!("_key,name,source,tracks\npl1,\"Round trip \u{fc}n\u{ef}code\",user,\"{}\"\n", order.join(";")),
        )
        .unwrap();
        env.h.ok(&["catalog", "import", "playlists", csv.to_str().unwrap(), "--key", "_key"]);

        let r = env.ok("export-rekordbox", json!({"playlists": ["Round trip \u{fc}n\u{ef}code"]}));
        assert_eq!((r["playlists"].as_u64(), r["tracks"].as_u64()), (Some(1), Some(4)), "{r}");
        assert_eq!(r["skipped"][0]["track"], no_file.as_str(), "{r}");
        let written = std::fs::read_dir(&env.exports)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "xml"))
            .unwrap();
        let xml = std::fs::read_to_string(&written).unwrap();
        assert!(xml.contains("<DJ_PLAYLISTS Version=\"1.0.0\">") && xml.contains("KeyType=\"0\""), "{xml}");
        // Locations: file://localhost/ + the percent-encoded absolute path, ASCII only.
        let locs: Vec<&str> = xml.split("Location=\"").skip(1).map(|s| &s[..s.find('"').unwrap()]).collect();
        assert_eq!(locs.len(), 4);
        for loc in &locs {
            assert!(loc.is_ascii() && !loc.contains(' ') && !loc.contains('#'), "{loc}");
            let path = unpercent(loc.strip_prefix("file://localhost").unwrap());
            assert!(env.fx.audio.iter().any(|(_, original, _)| original.to_str() == Some(path.as_str())), "{path}");
        }

        // An independent reader: Python's own XML parser and URL unquoting (pyrekordbox reads
        // Rekordbox XML the same way; it is left out of CI for its size).
        let script = r#"
import sys, os, urllib.parse, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "DJ_PLAYLISTS", root.tag
tracks = {t.get("TrackID"): t for t in root.find("COLLECTION")}
for t in tracks.values():
    loc = t.get("Location")
    assert loc.startswith("file://localhost/"), loc
    path = urllib.parse.unquote(loc[len("file://localhost"):])
    assert os.path.isfile(path), path
    print(t.get("TrackID"), int(t.get("TotalTime")) > 0, path)
for node in root.iter("NODE"):
    if node.get("Type") == "1":
        print("playlist", node.get("Name"), [k.get("Key") for k in node])
"#;
        let out = std::process::Command::new("python3").arg("-c").arg(script).arg(&written).output().expect("python3");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("playlist Round trip \u{fc}n\u{ef}code ['1', '2', '3', '4']"), "{text}");
        assert_eq!(text.lines().filter(|l| l.contains(" True /")).count(), 4, "{text}");

        // Back through import: the export is found by its content under the djay folder.
        std::fs::create_dir_all(env.djay.join("rekordbox")).unwrap();
        std::fs::copy(&written, env.djay.join("rekordbox/collection.xml")).unwrap();
        let i = env.ok("import", json!({}));
        assert_eq!(i["counts"]["tracks"], 84, "{i}");
        assert!(i["sources"].as_array().unwrap().iter().any(|s| s["layout"] == "rekordbox"), "{i}");
        let recs = env.records("djay.djay_tracks");
        let pls = env.records("djay.dj_playlists");
        let pl = pls.values().find(|p| p["props"]["source"] == "rekordbox").unwrap();
        let members: Vec<String> =
            pl["props"]["tracks"].as_array().unwrap().iter().map(|k| k.as_str().unwrap().to_string()).collect();
        assert_eq!(members.len(), 4);
        let x = env.ok("id-sync", json!({"execute": true}));
        assert_eq!(x["total"], 84);
        let recs2 = env.records("djay.djay_tracks");
        let back: Vec<Value> = members.iter().map(|k| recs2[k]["props"]["track"][0].clone()).collect();
        let want: Vec<Value> = order[..4].iter().map(|k| json!(k)).collect();
        assert_eq!(back, want, "each exported track links back to its catalog track, in order");
        assert_eq!(recs.len(), 84);
    }
}

/// The benchmark of bench/README.md: `import` and `id-sync` of 15,540 djay tracks and 200
/// sessions through `baton serve --once`, start-up included (no audio: the fingerprint rung
/// has nothing to find here, the e2e test above covers it).
#[test]
#[ignore = "benchmark: cargo test -p baton-cli --test djay -- --ignored bench --nocapture"]
fn bench_import_and_id_sync_15540() {
    use serde_json::json;
    use std::time::Instant;
    let t = Instant::now();
    let mut env = end_to_end::setup(15_540, 200, 75, false);
    eprintln!("setup (fixture, catalog import): {:.2} s", t.elapsed().as_secs_f64());
    // Wall time of `serve --once` (start-up included), and the task's own time from its RETURN.
    let in_task = |r: &serde_json::Value| {
        let ms = |k: &str| baton_djay::tsaf::parse_rfc3339(r[k].as_str().unwrap()).unwrap();
        (ms("finished_at") - ms("started_at")) as f64 / 1000.0
    };
    let t = Instant::now();
    let r = env.task("import", json!({}));
    let import = t.elapsed().as_secs_f64();
    assert_eq!(r["result"]["counts"]["tracks"], 15_540, "{r}");
    let t = Instant::now();
    let x = env.task("id-sync", json!({"execute": true}));
    let sync = t.elapsed().as_secs_f64();
    let d = &x["result"];
    eprintln!("inside the tasks: import {:.2} s, id-sync {:.2} s", in_task(&r), in_task(&x));
    eprintln!("id-sync phases (ms, when the plugin reports them): {}", d["timings_ms"]);
    eprintln!(
        "import {import:.2} s + id-sync (execute) {sync:.2} s = {:.2} s; coverage {}, linked {}",
        import + sync,
        d["coverage"],
        d["linked"]
    );
    // Speed-ups must not change what is linked: the per-rule counts are the fixture's truth
    // (no audio here, so its fingerprint-only tracks stay unmatched), and every stored link is
    // the truth's catalog track with the truth's method.
    let want = |t: Truth| env.fx.expected(t) as u64;
    let expect = json!({
        "external_id": want(Truth::ExternalId), "isrc": want(Truth::Isrc), "normalized": want(Truth::Normalized),
        "fuzzy": want(Truth::Fuzzy), "fingerprint": 0,
    });
    assert_eq!(d["linked"], expect, "{}", d["linked"]);
    assert_eq!(
        d["linked"],
        json!({"external_id": 9332, "isrc": 2328, "normalized": 1552, "fuzzy": 776, "fingerprint": 0})
    );
    assert_eq!(d["coverage"], 0.9001);
    let links = stored_links(&env.h.root);
    let mut wrong = Vec::new();
    for e in &env.fx.entries {
        let want = match (e.truth.method(), &e.catalog) {
            (Some(m), Some(k)) if e.truth != Truth::Fingerprint => Some((k.clone(), m.to_string())),
            _ => None,
        };
        if links.get(&e.djay.id) != want.as_ref() {
            wrong.push(format!("{}: {:?}, want {want:?}", e.djay.id, links.get(&e.djay.id)));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} stored links differ from the truth:\n{}",
        wrong.len(),
        wrong[..wrong.len().min(10)].join("\n")
    );
    assert_eq!(links.len() as u64, expect.as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum::<u64>());
}

/// The stored `djay.djay_tracks.track` links (djay key -> (catalog key, method)), read from the
/// state database itself, not through the plugin.
fn stored_links(home: &Path) -> std::collections::HashMap<String, (String, String)> {
    let db = rusqlite::Connection::open(home.join("state/baton.sqlite")).unwrap();
    let mut st = db
        .prepare("SELECT key, target_key, method FROM cat_links WHERE collection = 'djay.djay_tracks' AND property = 'track' AND removed = 0")
        .unwrap();
    st.query_map([], |r| Ok((r.get::<_, String>(0)?, (r.get::<_, String>(1)?, r.get::<_, String>(2)?))))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}
