//! End-to-end tests of the `catalog` interface (baton:plugin@0.4.0) from a real component:
//! `plugins/testkit`'s `catalog` action runs catalog calls given in its params, through the real
//! `baton` binary on temporary folders and a real SQLite state file. Grants, property owners,
//! `files` limited to folder grants by guest path, schema rename and removal, idempotent
//! upserts, relations both ways, quotas, settings, path mapping, and a change log without gaps
//! across a `kill -9` of `baton serve` in the middle of a large batch.
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support;
use support::Home;
use support::audio::{synth, write_wav};

const TOML: &str = r#"
[plugins.testkit]
grants = { data = "data", out = { path = "out", writable = true } }
catalog = { read = ["files"], write = ["tracks", "artists"] }
time_ms = 20000
[plugins.testkit.settings]
market = "DE"
paging = { size = 50 }

[plugins.other]
grants = { data = "data" }
catalog = { write = ["tracks"] }
catalog_quota = { rows = 5 }
"#;

/// testkit with another name in its `describe()`: the bytes after `@@testkit-name@@`.
fn testkit_named(name: &str) -> Vec<u8> {
    let mut bytes = baton_bundle::get("testkit").expect("testkit is bundled").wasm.to_vec();
    let marker = b"@@testkit-name@@";
    let at = bytes.windows(marker.len()).position(|w| w == marker).expect("the name slot");
    let slot = &mut bytes[at + marker.len()..at + marker.len() + 32];
    slot.fill(0);
    slot[..name.len()].copy_from_slice(name.as_bytes());
    bytes
}

fn install(h: &Home, name: &str) {
    let src = h.root.parent().unwrap().join(format!("{name}.wasm"));
    std::fs::write(&src, testkit_named(name)).unwrap();
    h.ok(&["plugin", "install", src.to_str().unwrap(), "--json", "--yes"]);
}

fn home(toml: &str) -> Home {
    let h = Home::init(&[], toml);
    for d in ["data", "out"] {
        std::fs::create_dir_all(h.root.join(d)).unwrap();
    }
    install(&h, "testkit");
    h
}

static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Runs one TASK with `baton run` and returns its RETURN (completed or not).
fn task(h: &Home, plugin: &str, action: &str, params: Value) -> Value {
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let id = format!("T{n}");
    let body = json!({"schema": "baton.handoff/v1", "id": id, "kind": "task", "created_at": "2026-01-18T07:09:51Z",
                      "from": "Tester-Agent", "title": "catalog", "plugin": plugin, "action": action, "params": params});
    let file = h.root.parent().unwrap().join(format!("20260118T070951Z__TASK__{id}__Tester-Agent.json"));
    std::fs::write(&file, body.to_string()).unwrap();
    let out = h.run(&["run", file.to_str().unwrap()]);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("baton run: {e}: {}", String::from_utf8_lossy(&out.stderr)))
}

/// Runs catalog calls as `plugin` and returns each one's `{"ok"}` or `{"error"}`.
fn calls(h: &Home, plugin: &str, calls: Value) -> Vec<Value> {
    let r = task(h, plugin, "catalog", json!({ "calls": calls }));
    assert_eq!(r["status"], "completed", "{r}");
    r["result"]["results"].as_array().unwrap().clone()
}

fn one(h: &Home, plugin: &str, call: Value) -> Value {
    calls(h, plugin, json!([call])).remove(0)
}

fn ok(v: &Value) -> &Value {
    v.get("ok").unwrap_or_else(|| panic!("expected ok: {v}"))
}

fn err(v: &Value, kind: &str) -> String {
    assert_eq!(v["error"]["kind"], kind, "{v}");
    v["error"]["message"].as_str().unwrap().to_string()
}

/// What the user sees with `baton catalog show COLLECTION --json`.
fn shown(h: &Home, collection: &str) -> Vec<Value> {
    h.json(&["catalog", "show", collection, "--json"])["records"].as_array().unwrap().clone()
}

fn track(key: &str, title: &str, artists: &[&str], ms: u64) -> Value {
    json!({"key": key, "props": {"title": title, "artists": artists, "duration_ms": ms}})
}

#[test]
fn grants_owners_files_settings_paths_and_quota() {
    let h = home(TOML);
    install(&h, "other");
    let data = h.root.join("data");
    let elsewhere = h.root.parent().unwrap().join("elsewhere");
    write_wav(&data.join("a.wav"), &synth(3, 12.0, 11025), 11025);
    write_wav(&elsewhere.join("b.wav"), &synth(4, 12.0, 11025), 11025);
    h.ok(&["fp", "scan", data.to_str().unwrap()]);
    h.ok(&["fp", "scan", elsewhere.to_str().unwrap()]);

    // Not granted: playlists (neither read nor write), a write to `files`, a read of another
    // plugin's collection. Each refusal names the collection; nothing is written.
    let r = calls(
        &h,
        "testkit",
        json!([
            {"op": "upsert", "collection": "playlists", "records": [{"key": "p1", "props": {"name": "Mine"}}]},
            {"op": "query", "collection": "playlists"},
            {"op": "get", "collection": "playlists", "key": "p1"},
            {"op": "upsert", "collection": "files", "records": [{"key": "/data/a.wav", "props": {"title": "x"}}]},
        ]),
    );
    for (i, res) in r.iter().enumerate() {
        let m = err(res, "denied");
        assert!(m.contains(if i == 3 { "files" } else { "playlists" }), "{m}");
    }
    // The refusal says how to grant it, once (0.4.0's calls are adapted up to 0.5.0's: the
    // host's message passes both unchanged). Not even readable, playlists needs a read grant
    // first, for the upsert as for the query.
    let fix = "(grant it in baton.toml: [plugins.testkit] catalog = { read = [\"playlists\"] })";
    for res in &r[..2] {
        let m = err(res, "denied");
        assert_eq!((m.matches(fix).count(), m.matches("grant it").count()), (1, 1), "{m}");
    }
    assert!(shown(&h, "playlists").is_empty(), "nothing written");

    // A refused batch writes nothing of itself: one good record, one with an unknown property.
    let r = one(
        &h,
        "testkit",
        json!({"op": "upsert", "collection": "tracks",
        "records": [track("t1", "Levels", &["Avicii"], 199_000), {"key": "t2", "props": {"bpm": 126}}]}),
    );
    let m = err(&r, "invalid");
    assert!(m.contains("tracks/t2") && m.contains("`bpm`"), "names collection, key and property: {m}");
    assert!(shown(&h, "tracks").is_empty());

    // Own properties: testkit declares `testkit.bpm`; `other` may not write it.
    let r = calls(
        &h,
        "testkit",
        json!([
            {"op": "ensure", "collection": "tracks", "properties": [{"id": "testkit.bpm", "kind": "number"}]},
            {"op": "upsert", "collection": "tracks", "records": [{"key": "t1", "props": {"title": "Levels", "artists": ["Avicii"], "duration_ms": 199000, "testkit.bpm": 126}}]},
            {"op": "ensure", "collection": "tracks", "properties": [{"id": "other.bpm", "kind": "number"}]},
        ]),
    );
    ok(&r[0]);
    assert_eq!(ok(&r[1])["inserted"], 1);
    assert!(err(&r[2], "denied").contains("other.bpm"), "{}", r[2]);
    let r = one(
        &h,
        "other",
        json!({"op": "upsert", "collection": "tracks", "records": [{"key": "t1", "props": {"testkit.bpm": 1}}]}),
    );
    let m = err(&r, "denied");
    assert!(m.contains("testkit.bpm") && m.contains("tracks/t1"), "{m}");
    assert_eq!(shown(&h, "tracks")[0]["props"]["testkit.bpm"], 126, "unchanged");

    // `files`: only the library files inside the grant, by guest path; outside is denied.
    let r = calls(
        &h,
        "testkit",
        json!([
            {"op": "query", "collection": "files"},
            {"op": "get", "collection": "files", "key": "/data/a.wav"},
            {"op": "get", "collection": "files", "key": elsewhere.join("b.wav").to_str().unwrap()},
            {"op": "get", "collection": "files", "key": "/data/../../elsewhere/b.wav"},
            {"op": "upsert", "collection": "tracks", "records": [{"key": "t1", "props": {"files": ["/data/a.wav"]}}]},
            {"op": "upsert", "collection": "tracks", "records": [{"key": "t1", "props": {"files": [elsewhere.join("b.wav").to_str().unwrap()]}}]},
            {"op": "get", "collection": "tracks", "key": "t1"},
            {"op": "collections"},
        ]),
    );
    let files = ok(&r[0])["records"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(
        (files[0]["key"].as_str(), files[0]["props"]["path"].as_str()),
        (Some("/data/a.wav"), Some("/data/a.wav"))
    );
    assert_eq!(ok(&r[1])["key"], "/data/a.wav");
    err(&r[2], "denied");
    err(&r[3], "denied");
    assert_eq!(ok(&r[4])["updated"], 1);
    err(&r[5], "denied");
    assert_eq!(ok(&r[6])["props"]["files"], json!(["/data/a.wav"]), "links to files by guest path");
    let cols = ok(&r[7]).as_array().unwrap();
    assert_eq!(cols.iter().find(|c| c["name"] == "files").unwrap()["records"], 1);
    assert!(!cols.iter().any(|c| c["name"] == "playlists"), "only what it may read: {cols:?}");
    // What the host answered on its own (not echoing a path the plugin gave) names no host path.
    let text = serde_json::to_string(&[&r[0], &r[1], &r[6], &r[7]]).unwrap();
    assert!(
        !text.contains(&elsewhere.display().to_string()) && !text.contains(&data.display().to_string()),
        "no host path leaks: {text}"
    );

    // A library file moved inside a grant (as `spotify apply` moves them): a link to its new
    // path has the library follow it (same size and mtime, old path gone), without a rescan,
    // but only through a grant the plugin may write: `data` is read-only for testkit.
    let out = h.root.join("out");
    write_wav(&out.join("c.wav"), &synth(5, 12.0, 11025), 11025);
    h.ok(&["fp", "scan", out.to_str().unwrap()]);
    std::fs::rename(data.join("a.wav"), data.join("a-moved.wav")).unwrap();
    std::fs::create_dir_all(out.join("sub")).unwrap();
    std::fs::rename(out.join("c.wav"), out.join("sub/c.wav")).unwrap();
    let r = calls(
        &h,
        "testkit",
        json!([
            {"op": "link", "collection": "tracks", "key": "t1", "property": "files", "target": "/data/a-moved.wav"},
            {"op": "link", "collection": "tracks", "key": "t1", "property": "files", "target": "/out/sub/c.wav"},
            {"op": "get", "collection": "files", "key": "/out/sub/c.wav"},
            {"op": "get", "collection": "files", "key": "/out/c.wav"},
            {"op": "get", "collection": "files", "key": "/data/a.wav"},
        ]),
    );
    assert!(err(&r[0], "denied").contains("/data/a-moved.wav"), "{}", r[0]);
    assert_eq!(ok(&r[1]), &json!(true), "{}", r[1]);
    assert_eq!(ok(&r[2])["props"]["fingerprinted"], true, "the row followed, fingerprint and all: {}", r[2]);
    assert_eq!((ok(&r[3]), ok(&r[4])["key"].as_str()), (&Value::Null, Some("/data/a.wav")), "{r:?}");
    std::fs::rename(data.join("a-moved.wav"), data.join("a.wav")).unwrap();

    // Settings arrive as JSON; path mapping both ways, outside every grant → none.
    let s = task(&h, "testkit", "settings", json!({}));
    assert_eq!(s["result"]["settings"], json!({"market": "DE", "paging": {"size": 50}}), "{s}");
    assert_eq!(task(&h, "other", "settings", json!({}))["result"]["settings"], json!({}));
    let a = data.join("a.wav");
    let hosts = [
        a.to_str().unwrap().to_string(),
        data.join("new/c.wav").display().to_string(),
        elsewhere.join("b.wav").display().to_string(),
        format!("{}/../../elsewhere/b.wav", data.display()),
    ];
    let p = task(
        &h,
        "testkit",
        "paths",
        json!({"host": hosts, "guest": ["/data/a.wav", "/out/x", "/data/../elsewhere/b.wav", "/nope/a"]}),
    );
    let g = &p["result"]["guest_of"];
    assert_eq!(g[&hosts[0]], "/data/a.wav");
    assert_eq!(g[&hosts[1]], "/data/new/c.wav");
    assert_eq!((&g[&hosts[2]], &g[&hosts[3]]), (&Value::Null, &Value::Null), "{p}");
    let back = &p["result"]["host_of"];
    assert_eq!(back["/data/a.wav"], a.to_str().unwrap());
    assert_eq!(back["/out/x"], h.root.join("out/x").to_str().unwrap());
    assert_eq!((&back["/data/../elsewhere/b.wav"], &back["/nope/a"]), (&Value::Null, &Value::Null), "{p}");

    // The library's fingerprint by guest path, without decoding: the one `baton fp print` gives.
    let printed = h.json(&["fp", "print", "--json", a.to_str().unwrap()]);
    let stored = task(&h, "testkit", "fp-library", json!({"path": "/data/a.wav"}));
    assert_eq!(stored["result"]["fingerprint"], printed["fingerprint"], "{stored}");
    assert_eq!(
        task(&h, "testkit", "fp-library", json!({"path": "/data/none.wav"}))["result"]["fingerprint"],
        Value::Null
    );
    let outside = task(&h, "testkit", "fp-library", json!({"path": elsewhere.join("b.wav").to_str().unwrap()}));
    assert!(outside["error"]["message"].as_str().unwrap_or("").contains("denied"), "{outside}");

    // Quota: `other` may own 5 rows; a batch of 6 is refused whole.
    let six: Vec<Value> = (0..6).map(|i| track(&format!("o{i}"), &format!("Song {i}"), &["X"], 100_000)).collect();
    let r = one(&h, "other", json!({"op": "upsert", "collection": "tracks", "records": six}));
    assert!(err(&r, "quota").contains("other"), "{r}");
    assert_eq!(shown(&h, "tracks").len(), 1, "nothing of the batch written");
    assert_eq!(
        ok(&one(&h, "other", json!({"op": "upsert", "collection": "tracks", "records": &six[..5]})))["inserted"],
        5
    );

    // plugin inspect shows the collections asked for against the grants.
    let i = h.json(&["plugin", "inspect", "testkit", "--json"]);
    let access =
        |name: &str| i["collections"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap()["access"].clone();
    assert_eq!(
        (access("tracks"), access("files"), access("playlists")),
        (json!("read-write"), json!("read-only"), json!("not granted")),
        "{i}"
    );
    let text = String::from_utf8(h.ok(&["plugin", "inspect", "testkit"]).stdout).unwrap();
    assert!(
        text.contains("catalog  (wanted → granted in baton.toml)") && text.contains(r#"write = ["playlists"]"#),
        "{text}"
    );
    let list = h.json(&["plugin", "list", "--json"]);
    let other = list.as_array().unwrap().iter().find(|p| p["name"] == "other").unwrap();
    let got: Vec<(&str, &str)> = other["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["access"].as_str().unwrap()))
        .collect();
    assert!(got.contains(&("tracks", "read-write")) && got.contains(&("files", "not granted")), "{got:?}");
}

#[test]
fn schema_changes_idempotent_upserts_relations_and_matching() {
    let h = home(TOML);
    let tracks = json!([
        track("t1", "Levels", &["Avicii"], 199_000),
        track("t2", "Titanium", &["David Guetta", "Sia"], 245_000)
    ]);
    let r = calls(
        &h,
        "testkit",
        json!([
            {"op": "upsert", "collection": "artists", "records": [{"key": "a1", "props": {"name": "Avicii"}}]},
            {"op": "upsert", "collection": "tracks", "records": tracks},
            {"op": "changes", "since": 0},
            {"op": "upsert", "collection": "tracks", "records": tracks},
            {"op": "changes", "since": 0},
        ]),
    );
    assert_eq!(ok(&r[1])["inserted"], 2);
    assert_eq!(ok(&r[3]), &json!({"inserted": 0, "updated": 0, "unchanged": 2}), "the second run changes nothing");
    assert_eq!(ok(&r[2]), ok(&r[4]), "and logs nothing");

    // Relations both ways: a track's artist refs, the artist's tracks (derived side).
    let r = calls(
        &h,
        "testkit",
        json!([
            {"op": "link", "collection": "tracks", "key": "t1", "property": "artist_refs", "target": "a1", "added_at": "2026-01-02T03:04:05Z"},
            {"op": "links", "collection": "tracks", "key": "t1", "property": "artist_refs"},
            {"op": "links", "collection": "artists", "key": "a1", "property": "tracks"},
            {"op": "get", "collection": "artists", "key": "a1"},
            {"op": "link", "collection": "tracks", "key": "t1", "property": "artist_refs", "target": "a1"},
            {"op": "link", "collection": "tracks", "key": "t1", "property": "artist_refs", "target": "missing"},
            {"op": "unlink", "collection": "tracks", "key": "t2", "property": "artist_refs", "target": "a1"},
        ]),
    );
    assert_eq!(ok(&r[0]), &json!(true));
    let fwd = ok(&r[1]).as_array().unwrap();
    assert_eq!(
        (fwd.len(), fwd[0]["key"].as_str(), fwd[0]["added_at"].as_str()),
        (1, Some("a1"), Some("2026-01-02T03:04:05Z"))
    );
    let back = ok(&r[2]).as_array().unwrap();
    assert_eq!((back.len(), back[0]["key"].as_str()), (1, Some("t1")));
    assert_eq!(ok(&r[3])["props"]["tracks"], json!(["t1"]));
    assert_eq!(ok(&r[4]), &json!(false), "already linked");
    assert!(err(&r[5], "invalid").contains("missing"));
    assert_eq!(ok(&r[6]), &json!(false));

    // Rename and removal through a plugin keep every value.
    let r = calls(
        &h,
        "testkit",
        json!([
            {"op": "ensure", "collection": "tracks", "properties": [{"id": "testkit.energy", "name": "Energy", "kind": "number"}]},
            {"op": "upsert", "collection": "tracks", "records": [{"key": "t1", "props": {"testkit.energy": 7}}, {"key": "t2", "props": {"testkit.energy": 9}}]},
            {"op": "rename", "collection": "tracks", "property": "testkit.energy", "name": "Energy level"},
            {"op": "get", "collection": "tracks", "key": "t1"},
            {"op": "remove", "collection": "tracks", "property": "testkit.energy"},
            {"op": "get", "collection": "tracks", "key": "t1"},
            {"op": "get", "collection": "tracks", "key": "t1", "archived": true},
            {"op": "ensure", "collection": "tracks", "properties": [{"id": "testkit.energy", "kind": "number"}]},
            {"op": "get", "collection": "tracks", "key": "t2"},
            {"op": "rename", "collection": "tracks", "property": "title", "name": "Name"},
        ]),
    );
    for i in [0, 1, 2, 4, 7] {
        ok(&r[i]);
    }
    assert_eq!(ok(&r[3])["props"]["testkit.energy"], 7, "renamed: same id, same value");
    assert!(ok(&r[5])["props"].get("testkit.energy").is_none(), "removed: not live");
    assert_eq!(ok(&r[6])["archived"]["testkit.energy"], 7, "but kept");
    assert_eq!(ok(&r[8])["props"]["testkit.energy"], 9, "declared again: back with its values");
    err(&r[9], "denied");

    // Matching, and resolve-track: match, create when none, nothing when ambiguous.
    let r = calls(
        &h,
        "testkit",
        json!([
            {"op": "match", "query": {"title": "Titanium (feat. Sia)", "artists": ["David Guetta"], "duration_ms": 245500}},
            {"op": "resolve", "query": {"title": "LEVELS", "artists": ["avicii"], "duration_ms": 199_500}, "record": {"key": "new", "props": {"title": "x"}}},
            {"op": "resolve", "query": {"title": "Wake Me Up", "artists": ["Avicii"], "duration_ms": 247_000}, "record": {"key": "t3", "props": {"title": "Wake Me Up", "artists": ["Avicii"], "duration_ms": 247000}}},
            {"op": "resolve", "query": {"title": "Wake Me Up", "artists": ["Avicii"], "duration_ms": 247_000}, "record": {"key": "t4", "props": {"title": "Wake Me Up"}}},
        ]),
    );
    let m = ok(&r[0]);
    assert_eq!((m["verdict"].as_str(), m["candidates"][0]["key"].as_str()), (Some("match"), Some("t2")), "{m}");
    assert_eq!(ok(&r[2])["created"], true);
    assert_eq!(ok(&r[2])["key"], "t3");
    assert_eq!(
        (ok(&r[3])["key"].as_str(), ok(&r[3])["created"].as_bool()),
        (Some("t3"), Some(false)),
        "found, not created again"
    );
    let keys: Vec<String> = shown(&h, "tracks").iter().map(|t| t["key"].as_str().unwrap().to_string()).collect();
    assert!(!keys.contains(&"t4".to_string()) && keys.contains(&"t3".to_string()), "{keys:?}");
    assert_eq!((ok(&r[1])["key"].as_str(), ok(&r[1])["created"].as_bool()), (Some("t1"), Some(false)), "{}", r[1]);

    // Two tracks too close to call: ambiguous, and nothing created.
    let r = calls(
        &h,
        "testkit",
        json!([
            {"op": "upsert", "collection": "tracks", "records": [track("d1", "Same Song", &["Dup"], 200_000), track("d2", "Same Song", &["Dup"], 200_000)]},
            {"op": "resolve", "query": {"title": "Same Song", "artists": ["Dup"], "duration_ms": 200_000}, "record": {"key": "d3", "props": {"title": "Same Song"}}},
        ]),
    );
    let res = ok(&r[1]);
    assert_eq!(
        (&res["key"], &res["created"], res["outcome"]["verdict"].as_str()),
        (&Value::Null, &json!(false), Some("ambiguous")),
        "{res}"
    );
    assert!(!shown(&h, "tracks").iter().any(|t| t["key"] == "d3"));
}

/// How a link was made travels with it: a plugin's link after `match-track` carries that
/// method, a data link carries none, a plugin cannot claim `manual`, and the user's manual link
/// is never overwritten. `added_at` is recorded on either side of a relation and logged `link`.
#[test]
fn link_methods_added_at_and_manual_links() {
    let h = home(TOML);
    let r = calls(
        &h,
        "testkit",
        json!([
            {"op": "upsert", "collection": "artists", "records": [{"key": "a1", "props": {"name": "Avicii"}}, {"key": "a2", "props": {"name": "Aloe Blacc"}}]},
            {"op": "upsert", "collection": "tracks", "records": [track("m1", "Levels", &["Avicii"], 199_000), track("m2", "Wake Me Up", &["Avicii"], 247_000)]},
            {"op": "match", "query": {"title": "LEVELS (Original Mix)", "artists": ["avicii"], "duration_ms": 199_500}},
        ]),
    );
    let m = ok(&r[2]);
    assert_eq!((m["verdict"].as_str(), m["candidates"][0]["key"].as_str()), (Some("match"), Some("m1")), "{m}");
    let method = m["candidates"][0]["method"].as_str().unwrap().to_string();
    assert_eq!(method, "normalized", "{m}");

    let r = calls(
        &h,
        "testkit",
        json!([
            // 0: the match, linked with its method.
            {"op": "link", "collection": "tracks", "key": "m1", "property": "artist_refs", "target": "a1", "method": method},
            // 1: a plugin may not make a manual link.
            {"op": "link", "collection": "tracks", "key": "m1", "property": "artist_refs", "target": "a2", "method": "manual"},
            // 2: a data link, from the derived side, with its added_at.
            {"op": "link", "collection": "artists", "key": "a2", "property": "tracks", "target": "m1", "added_at": "2025-05-05T10:00:00Z"},
            {"op": "links", "collection": "tracks", "key": "m1", "property": "artist_refs"},
            {"op": "links", "collection": "artists", "key": "a1", "property": "tracks"},
            // 5: a new added_at on an existing link (stored side) is recorded; the method stays.
            {"op": "link", "collection": "tracks", "key": "m1", "property": "artist_refs", "target": "a1", "added_at": "2024-01-01", "method": method},
            {"op": "links", "collection": "tracks", "key": "m1", "property": "artist_refs"},
            // 7: an upsert of the same relation values keeps each link's method.
            {"op": "upsert", "collection": "tracks", "records": [{"key": "m1", "props": {"artist_refs": ["a1"]}}]},
            {"op": "links", "collection": "tracks", "key": "m1", "property": "artist_refs"},
            {"op": "changes", "since": 0},
        ]),
    );
    assert_eq!(ok(&r[0]), &json!(true));
    let msg = err(&r[1], "denied");
    assert!(msg.contains("manual") && msg.contains("m1") && msg.contains("artist_refs"), "{msg}");
    assert_eq!(ok(&r[2]), &json!(true));
    let fwd = ok(&r[3]).as_array().unwrap();
    assert_eq!(fwd.len(), 2, "{fwd:?}");
    assert_eq!((fwd[0]["key"].as_str(), fwd[0]["method"].as_str()), (Some("a1"), Some("normalized")));
    assert_eq!(
        (fwd[1]["key"].as_str(), &fwd[1]["method"], fwd[1]["added_at"].as_str()),
        (Some("a2"), &Value::Null, Some("2025-05-05T10:00:00Z")),
        "derived side: added_at kept, no method"
    );
    let back = ok(&r[4]).as_array().unwrap();
    assert_eq!(
        (back[0]["key"].as_str(), back[0]["method"].as_str()),
        (Some("m1"), Some("normalized")),
        "the method shows from both sides"
    );
    assert_eq!(ok(&r[5]), &json!(true), "a changed added_at is a change");
    let a1 = ok(&r[6]).as_array().unwrap().iter().find(|l| l["key"] == "a1").unwrap().clone();
    assert_eq!((a1["added_at"].as_str(), a1["method"].as_str()), (Some("2024-01-01"), Some("normalized")));
    let a1 = ok(&r[8]).as_array().unwrap().iter().find(|l| l["key"] == "a1").unwrap().clone();
    assert_eq!(
        (a1["added_at"].as_str(), a1["method"].as_str()),
        (Some("2024-01-01"), Some("normalized")),
        "re-upserted: method and added_at kept"
    );
    // Every link call above was logged `link` on the stored side (tracks/m1), never `update`.
    let ops: Vec<(String, Value)> = ok(&r[9])
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["collection"] == "tracks" && c["key"] == "m1" && c["op"] != "insert")
        .map(|c| (c["op"].as_str().unwrap().to_string(), c["detail"].clone()))
        .collect();
    let names: Vec<&str> = ops.iter().map(|(o, _)| o.as_str()).collect();
    assert_eq!(&names[..3], &["link", "link", "link"], "{ops:?}");
    assert_eq!(
        (ops[1].1["target_key"].as_str(), ops[1].1["added_at"].as_str(), &ops[1].1["method"]),
        (Some("a2"), Some("2025-05-05T10:00:00Z"), &Value::Null)
    );
    assert_eq!((ops[2].1["added_at"].as_str(), ops[2].1["method"].as_str()), (Some("2024-01-01"), Some("normalized")));

    // The user's manual link: the plugin cannot overwrite it, neither by `link` nor by upsert.
    h.ok(&["catalog", "link", "tracks", "m2", "artist_refs", "a1"]);
    let r = calls(
        &h,
        "testkit",
        json!([
            {"op": "link", "collection": "tracks", "key": "m2", "property": "artist_refs", "target": "a1", "method": "isrc"},
            {"op": "upsert", "collection": "tracks", "records": [{"key": "m2", "props": {"artist_refs": ["a1"]}}]},
            {"op": "unlink", "collection": "tracks", "key": "m2", "property": "artist_refs", "target": "a1"},
            {"op": "links", "collection": "tracks", "key": "m2", "property": "artist_refs"},
        ]),
    );
    assert!(err(&r[0], "invalid").contains("by hand"), "{}", r[0]);
    assert!(r[2].get("error").is_some(), "a plugin's unlink of a manual link is refused: {}", r[2]);
    let l = ok(&r[3]).as_array().unwrap();
    assert_eq!((l.len(), l[0]["key"].as_str(), l[0]["method"].as_str()), (1, Some("a1"), Some("manual")), "{l:?}");
    // And the CLI shows how each link was made.
    let shown = h.json(&["catalog", "links", "tracks", "m1", "artist_refs", "--json"]);
    let methods: Vec<&Value> = shown.as_array().unwrap().iter().map(|l| &l["method"]).collect();
    assert_eq!(methods, [&json!("normalized")], "{shown}");
    let shown = h.json(&["catalog", "links", "tracks", "m2", "artist_refs", "--json"]);
    assert_eq!(shown[0]["method"], "manual", "{shown}");
}

/// The 8 MiB per-call cap, end to end: an upsert over it is refused as `invalid` naming the
/// cap, writes nothing, and the task's other calls go on.
#[test]
fn an_upsert_over_the_per_call_cap_is_refused_and_the_task_goes_on() {
    let h = home(TOML);
    let r = calls(
        &h,
        "testkit",
        json!([
            {"op": "upsert", "collection": "tracks", "records": [track("c1", "Before", &["A"], 100_000)]},
            {"op": "upsert", "collection": "tracks", "key": "huge", "pad_bytes": 9 << 20},
            {"op": "get", "collection": "tracks", "key": "huge"},
            {"op": "upsert", "collection": "tracks", "records": [track("c2", "After", &["A"], 100_000)]},
            {"op": "upsert", "collection": "tracks", "key": "c3", "pad_bytes": 60_000},
        ]),
    );
    assert_eq!(ok(&r[0])["inserted"], 1);
    let m = err(&r[1], "invalid");
    assert!(m.contains("per-call cap") && m.contains(&(8u64 << 20).to_string()) && m.contains("tracks"), "{m}");
    assert_eq!(ok(&r[2]), &Value::Null, "nothing written");
    assert_eq!(ok(&r[3])["inserted"], 1, "the next call works");
    assert_eq!(ok(&r[4])["inserted"], 1, "the same op under the cap works");
    let keys: Vec<String> = shown(&h, "tracks").iter().map(|t| t["key"].as_str().unwrap().to_string()).collect();
    assert_eq!(keys, ["c1", "c2", "c3"]);
}

/// `files` over a 100,000-file library of which 200 are in the plugin's grant: one `query`
/// page and one `collections`, timed. Not a CI test:
/// `cargo test -p baton-cli --test catalog_plugin -- --ignored bench_files --nocapture`
/// (`BATON_BIN=path` times another build of `baton`).
#[test]
#[ignore = "benchmark"]
fn bench_files_query_in_a_100k_library() {
    let h = home(TOML);
    let data = h.root.join("data");
    write_wav(&data.join("seed.wav"), &synth(3, 2.0, 11025), 11025);
    h.ok(&["fp", "scan", data.to_str().unwrap()]);
    let db = rusqlite::Connection::open(h.root.join("state").join("baton.sqlite")).unwrap();
    let t = db.unchecked_transaction().unwrap();
    {
        let mut ins = t
            .prepare("INSERT INTO fp_files (path, size, mtime_ns, title, lossless, scanned_at) VALUES (?1, 1000, 0, ?2, 0, 0)")
            .unwrap();
        let outside = h.root.parent().unwrap().join("library");
        for i in 0..99_800 {
            let p = outside.join(format!("{:03}/{i:06}.flac", i % 997));
            ins.execute(rusqlite::params![p.to_str().unwrap(), format!("Song {i}")]).unwrap();
        }
        for i in 0..200 {
            ins.execute(rusqlite::params![data.join(format!("g{i:04}.flac")).to_str().unwrap(), format!("Mine {i}")])
                .unwrap();
        }
    }
    t.commit().unwrap();
    drop(db);
    let bin = std::env::var("BATON_BIN").unwrap_or_else(|_| support::BIN.to_string());
    let body = json!({"schema": "baton.handoff/v1", "id": "B1", "kind": "task", "created_at": "2026-01-18T07:09:51Z",
                      "from": "Tester-Agent", "title": "catalog", "plugin": "testkit", "action": "catalog",
                      "params": {"calls": [{"op": "query", "collection": "files", "limit": 50}, {"op": "collections"}]}});
    let file = h.root.parent().unwrap().join("20260118T070951Z__TASK__B1__Tester-Agent.json");
    std::fs::write(&file, body.to_string()).unwrap();
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        let out = std::process::Command::new(&bin)
            .arg("--home")
            .arg(&h.root)
            .args(["run", file.to_str().unwrap()])
            .env("XDG_CACHE_HOME", h.cache_root())
            .env("BATON_LOG", "warn")
            .output()
            .unwrap();
        best = best.min(start.elapsed());
        let r: Value = serde_json::from_slice(&out.stdout).unwrap();
        let res = &r["result"]["results"];
        assert_eq!(res[0]["ok"]["records"].as_array().map(Vec::len), Some(50), "{r}");
        let files = res[1]["ok"].as_array().unwrap().iter().find(|c| c["name"] == "files").unwrap()["records"].clone();
        assert_eq!(files, 201, "the grant's files only");
    }
    println!(
        "files: query (50) + collections over 100,000 library files, 201 in the grant: best of 3 `baton run` {:.0} ms ({bin})",
        best.as_secs_f64() * 1000.0
    );
}

/// A `kill -9` of `baton serve` while a plugin upserts batch after batch: every batch is all
/// there or not at all, and the change log has no gap, before and after the task is run again.
#[test]
fn the_change_log_has_no_gap_across_a_kill_9_during_a_large_batch() {
    // Every collection readable, so the plugin sees the whole change log.
    let h = home(&TOML.replace(r#"write = ["tracks", "artists"]"#, r#"write = ["tracks", "artists", "playlists"]"#));
    let mut batches: Vec<Value> = (0..12)
        .map(|b| {
            let records: Vec<Value> = (0..1500)
                .map(|i| track(&format!("k{b:02}-{i:04}"), &format!("Song {b} {i}"), &["Artist"], 180_000 + i))
                .collect();
            json!({"op": "upsert", "collection": "tracks", "records": records})
        })
        .collect();
    // The last batch waits behind a pause longer than the task's time budget, so the kill
    // always lands before it, however fast the first eleven are written (on a fast machine
    // they all were, before the first poll saw any).
    batches.insert(11, json!({"op": "sleep", "ms": 600_000}));
    let body = json!({"schema": "baton.handoff/v1", "id": "BIG", "kind": "task", "created_at": "2026-01-18T07:09:51Z",
                      "from": "Tester-Agent", "title": "big", "plugin": "testkit", "action": "catalog", "params": {"calls": batches}});
    let seqs = |h: &Home| -> Vec<u64> {
        let r = one(h, "testkit", json!({"op": "changes", "since": 0, "limit": 10000, "seqs": true}));
        let mut all: Vec<u64> = ok(&r).as_array().unwrap().iter().map(|c| c.as_u64().unwrap()).collect();
        let mut since = *all.last().unwrap_or(&0);
        loop {
            let r = one(h, "testkit", json!({"op": "changes", "since": since, "limit": 10000, "seqs": true}));
            let more: Vec<u64> = ok(&r).as_array().unwrap().iter().map(|c| c.as_u64().unwrap()).collect();
            let Some(&last) = more.last() else { break };
            all.extend(more);
            since = last;
        }
        all
    };
    let contiguous = |s: &[u64]| s.iter().enumerate().all(|(i, &q)| q == i as u64 + 1);
    // The core schema's own entries, written when the catalog was created.
    let baseline = seqs(&h).len() as u64;
    h.drop_file("20260118T070951Z__TASK__BIG__Tester-Agent.json", body.to_string());
    let mut serve = h.cmd(&["serve"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let count = |h: &Home| -> u64 {
        let out = h.run(&["catalog", "collections", "--json"]);
        serde_json::from_slice::<Value>(&out.stdout)
            .ok()
            .and_then(|c| c.as_array()?.iter().find(|c| c["name"] == "tracks")?["records"].as_u64())
            .unwrap_or(0)
    };
    let start = Instant::now();
    while count(&h) == 0 {
        assert!(start.elapsed() < Duration::from_secs(60), "the batch never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    serve.kill().unwrap();
    serve.wait().unwrap();
    let after_kill = count(&h);
    assert_eq!(after_kill % 1500, 0, "whole batches only: {after_kill}");
    assert!(after_kill < 18_000, "killed during the batch: {after_kill}");

    let before = seqs(&h);
    assert_eq!(before.len() as u64, baseline + after_kill, "one change per inserted record");
    assert!(contiguous(&before), "no gap after the kill");

    // A new process writes on: what is in stays unchanged, and the log goes on without a gap.
    let r = task(
        &h,
        "testkit",
        "catalog",
        json!({"calls": [
            {"op": "upsert", "collection": "tracks", "records": [track("k00-0000", "Song 0 0", &["Artist"], 180_000)]},
            {"op": "upsert", "collection": "tracks", "records": [track("after", "After", &["Artist"], 1_000)]},
        ]}),
    );
    assert_eq!(r["result"]["results"][0]["ok"]["unchanged"], 1, "{r}");
    assert_eq!(r["result"]["results"][1]["ok"]["inserted"], 1, "{r}");
    let all = seqs(&h);
    assert!(contiguous(&all), "no gap after the restart");
    assert_eq!(all.len() as u64, baseline + after_kill + 1);
}
