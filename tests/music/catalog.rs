//! End-to-end tests of `baton catalog …`: the real `baton` binary on temporary folders with a
//! real SQLite state file. CSV import and export round-trip, a dry run writes nothing, the
//! `--json` shapes, a removed property stays removed, and a `kill -9` during a large import
//! leaves the catalog with all of the batch or none of it, and a gap-free change log. And two
//! machines (two homes) with `--state postgres://…` share one catalog on a real PostgreSQL
//! server, while the fingerprint library stays in each machine's own file.
use crate::support::{self, pg};

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use support::BIN;

/// A temporary home with its state database.
struct Env {
    dir: tempfile::TempDir,
    home: PathBuf,
    state: PathBuf,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let state = dir.path().join("state").join("baton.sqlite");
        support::init_home(&home, Some(&state));
        Env { dir, home, state }
    }

    /// A machine of its own (its own home) whose state is `state`, a path or a URL.
    fn on(state: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        support::init_home(&home, Some(Path::new(state)));
        Env { dir, home, state: PathBuf::from(state) }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--home").arg(&self.home).arg("--state").arg(&self.state).arg("catalog").args(args);
        c.env_remove("BATON_STATE").env_remove("BATON_HOME");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "baton catalog {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&o.stderr),
            String::from_utf8_lossy(&o.stdout)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("baton catalog {args:?}: not JSON ({e}): {out}"))
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn count(&self, collection: &str) -> u64 {
        let cols = self.json(&["collections", "--json"]);
        cols.as_array().unwrap().iter().find(|c| c["name"] == collection).unwrap()["records"].as_u64().unwrap()
    }
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

const TRACKS: &str = "\
key,title,artists,album,duration_ms,isrc,external_ids
t1,Levels,Avicii,Levels,199000,SEUM71100326,spotify:track:5UqCQaDshqbIk3pkhy4Pjg
t2,Strobe,deadmau5,For Lack of a Better Name,637000,,
t3,\"Titanium (feat. Sia)\",David Guetta;Sia,\"Nothing but the Beat\",245000,GB28K1100036,spotify:track:0TDLuuLlV54CkRRUOahJb4;djay:titleID:abc
";

#[test]
fn import_export_round_trip_and_json_shapes() {
    let env = Env::new();
    let csv1 = env.file("tracks.csv", TRACKS);
    let r = env.json(&["import", "tracks", p(&csv1), "--json"]);
    assert_eq!(
        (r["inserted"].as_u64(), r["updated"].as_u64(), r["unchanged"].as_u64()),
        (Some(3), Some(0), Some(0)),
        "{r}"
    );
    assert_eq!(r["dry_run"], false);

    // show --json: the records with typed values.
    let s = env.json(&["show", "tracks", "--json"]);
    assert_eq!(s["collection"], "tracks");
    let recs = s["records"].as_array().unwrap();
    assert_eq!(recs.iter().map(|r| r["key"].as_str().unwrap()).collect::<Vec<_>>(), ["t1", "t2", "t3"]);
    assert_eq!(recs[2]["props"]["artists"], serde_json::json!(["David Guetta", "Sia"]));
    assert_eq!(recs[2]["props"]["duration_ms"], 245000);
    assert!(recs[1]["props"].get("isrc").is_none(), "an empty cell became a value: {}", recs[1]);

    // --where.
    let s = env.json(&["show", "tracks", "--where", "duration_ms>240000,artists~sia", "--json"]);
    let keys: Vec<&str> = s["records"].as_array().unwrap().iter().map(|r| r["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["t3"]);

    // A playlist with tracks in order, then export both.
    let pl = env.file("playlists.csv", "key,name,source,tracks\np1,Peak Time,spotify,t3;t1\n");
    env.ok(&["import", "playlists", p(&pl)]);
    let exported = env.ok(&["export", "playlists", "--csv"]);
    let mut lines = exported.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("_key,Name,Source"), "{header}");
    assert!(header.contains("Tracks"), "{header}");
    assert!(exported.contains("p1,Peak Time,spotify,") && exported.contains("t3;t1"), "{exported}");

    // Export tracks, re-import into a fresh catalog: the same records come back.
    let out = env.ok(&["export", "tracks", "--csv"]);
    assert!(out.starts_with("_key,Title,Artists,Album,Duration (ms),ISRC,External IDs"), "{out}");
    let env2 = Env::new();
    let csv2 = env2.file("export.csv", &out);
    let r = env2.json(&["import", "tracks", p(&csv2), "--json"]);
    assert_eq!(r["inserted"], 3, "{r}");
    let a = env.json(&["show", "tracks", "--json"]);
    let b = env2.json(&["show", "tracks", "--json"]);
    let strip = |v: &Value| -> Vec<(Value, Value)> {
        v["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let mut props = r["props"].as_object().unwrap().clone();
                props.remove("playlists"); // the derived side of playlists.tracks, not in env2
                (r["key"].clone(), Value::Object(props))
            })
            .collect()
    };
    assert_eq!(strip(&a), strip(&b), "export → import did not round-trip");
    // Importing the export into the catalog it came from changes nothing.
    let again = env.file("again.csv", &out);
    let r = env.json(&["import", "tracks", p(&again), "--json"]);
    assert_eq!(
        (r["inserted"].as_u64(), r["updated"].as_u64(), r["unchanged"].as_u64()),
        (Some(0), Some(0), Some(3)),
        "{r}"
    );

    // collections --json.
    let cols = env.json(&["collections", "--json"]);
    let tracks = cols.as_array().unwrap().iter().find(|c| c["name"] == "tracks").unwrap();
    assert_eq!(tracks["records"], 3);
    assert!(tracks["properties"].as_array().unwrap().iter().any(|p| p["id"] == "duration_ms" && p["kind"] == "number"));
    assert!(cols.as_array().unwrap().iter().any(|c| c["name"] == "files" && c["read_only"] == true));

    // history --json: the insert, with its sequence number.
    let h = env.json(&["history", "tracks", "t1", "--json"]);
    let h = h.as_array().unwrap();
    assert_eq!(h.len(), 1, "{h:?}");
    assert_eq!(h[0]["op"], "insert");
    assert_eq!(h[0]["actor"], "user");
    assert!(h[0]["seq"].as_i64().unwrap() > 0);

    // match --json: exit 0 and the shape the issue spells.
    let o = env.run(&["match", "Avicii - Levels", "--duration", "199", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let m: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(m["verdict"], "match");
    let c = &m["candidates"][0];
    for f in ["key", "title", "artists", "duration_ms", "score", "method", "reasons"] {
        assert!(c.get(f).is_some(), "candidate without `{f}`: {c}");
    }
    assert_eq!(c["key"], "t1");
    // A lowercase hyphenated ISRC is normalised and matches by ISRC.
    let o = env.run(&["match", "Someone - Something Else", "--isrc", "gb-28k-11-00036", "--json"]);
    let m: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (o.status.code(), m["candidates"][0]["key"].as_str(), m["candidates"][0]["method"].as_str()),
        (Some(0), Some("t3"), Some("isrc")),
        "{m}"
    );
    // A malformed ISRC is ignored with a warning; nothing like it: exit 1, verdict none.
    let o = env.run(&["match", "Nobody - Nothing At All", "--isrc", "nope", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("malformed ISRC"), "{}", String::from_utf8_lossy(&o.stderr));
    let m: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(m["verdict"], "none");
}

/// Issue 81: a lookup by title and artist with no duration answers the one catalog track with
/// those names (`"match": {"method": "title+artist"}`), as lookups did before the identity
/// rule made the matcher unsure of names alone; two tracks with those names stay ambiguous,
/// both listed. (The regression: d549505 turned every match by names without a duration or
/// album into `ambiguous`, lookups included.)
#[test]
fn match_by_title_and_artist_without_a_duration() {
    let env = Env::new();
    let csv = env.file(
        "tracks.csv",
        "key,title,artists,album,duration_ms\nt1,Levels,Avicii,Levels,199000\nw1,Twin,Twins,A,120000\nw2,Twin,Twins,B,200000\nc1,Levels (Live),Avicii,,\n",
    );
    env.ok(&["import", "tracks", p(&csv)]);
    let o = env.run(&["match", "AVICII - levels", "--json"]);
    let m: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(o.status.code(), Some(0), "{m}");
    assert_eq!(m["verdict"], "match", "{m}");
    assert_eq!(m["match"]["method"], "title+artist", "{m}");
    assert!(m["match"]["score"].as_f64().is_some_and(|s| s > 0.8 && s < 1.0), "{m}");
    assert_eq!(m["candidates"].as_array().map(Vec::len), Some(1), "{m}");
    assert_eq!(m["candidates"][0]["key"], "t1", "{m}");
    let text = env.run(&["match", "Avicii - Levels"]);
    assert!(String::from_utf8_lossy(&text.stdout).starts_with("match (title+artist)\n"), "{text:?}");

    let o = env.run(&["match", "Twins - Twin", "--json"]);
    let m: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!((o.status.code(), m["verdict"].as_str()), (Some(1), Some("ambiguous")), "{m}");
    assert!(m.get("match").is_none(), "{m}");
    let mut keys: Vec<&str> = m["candidates"].as_array().unwrap().iter().map(|c| c["key"].as_str().unwrap()).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["w1", "w2"], "{m}");
    // With a duration, the matcher's own rule, as before.
    let o = env.run(&["match", "Twins - Twin", "--duration", "120", "--json"]);
    let m: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!((o.status.code(), m["candidates"][0]["key"].as_str()), (Some(0), Some("w1")), "{m}");
    assert!(m.get("match").is_none(), "{m}");
}

#[test]
fn dry_run_writes_nothing_and_bad_rows_refuse_the_batch() {
    let env = Env::new();
    let csv1 = env.file("tracks.csv", TRACKS);
    env.ok(&["import", "tracks", p(&csv1)]);
    let h_before = env.json(&["history", "tracks", "t1", "--json"]);

    let changed = env.file(
        "changed.csv",
        "key,title,duration_ms\nt1,Levels (Radio Edit),199000\nt4,Opus,543000\nt2,Strobe,637000\n",
    );
    for flag in ["--dry-run", "-p", "--pretend"] {
        let r = env.json(&["import", "tracks", p(&changed), flag, "--json"]);
        assert_eq!(
            (r["inserted"].as_u64(), r["updated"].as_u64(), r["unchanged"].as_u64()),
            (Some(1), Some(1), Some(1)),
            "{flag}: {r}"
        );
        assert_eq!(r["dry_run"], true);
    }
    let text = env.ok(&["import", "tracks", p(&changed), "--dry-run"]);
    assert!(text.contains("nothing written"), "{text}");
    assert_eq!(env.count("tracks"), 3, "a dry run inserted a record");
    assert_eq!(env.json(&["history", "tracks", "t1", "--json"]), h_before, "a dry run changed the history");
    let s = env.json(&["show", "tracks", "--where", "_key=t1", "--json"]);
    assert_eq!(s["records"][0]["props"]["title"], "Levels");

    // An unknown column: the file and the fix are named, nothing is written.
    let bad = env.file("bad.csv", "key,title,bpm\nt9,New,128\n");
    let o = env.run(&["import", "tracks", p(&bad)]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2));
    assert!(err.contains("bad.csv") && err.contains("`bpm`") && err.contains("property id"), "{err}");
    // A bad value on row 3: the file, line, key and column are named; row 2 is not written.
    let bad = env.file("bad2.csv", "key,title,duration_ms\nt8,Fine,1000\nt9,Broken,three minutes\n");
    let o = env.run(&["import", "tracks", p(&bad)]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bad2.csv:3") && err.contains("tracks/t9") && err.contains("duration_ms"), "{err}");
    // A relation to a missing key is refused by the catalog, for the whole batch.
    let bad = env.file("bad3.csv", "key,name,tracks\np1,Ok,t1\np2,Dangling,t404\n");
    let o = env.run(&["import", "playlists", p(&bad)]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bad3.csv") && err.contains("t404") && err.contains("nothing was written"), "{err}");
    assert_eq!(env.count("tracks"), 3);
    assert_eq!(env.count("playlists"), 0, "a refused batch was partly written");
    // A missing key column names the columns and --key.
    let nokey = env.file("nokey.csv", "id,title\nx,Y\n");
    let err = String::from_utf8_lossy(&env.run(&["import", "tracks", p(&nokey)]).stderr).into_owned();
    assert!(err.contains("nokey.csv") && err.contains("--key"), "{err}");
    env.ok(&["import", "tracks", p(&nokey), "--key", "id"]);
    assert_eq!(env.count("tracks"), 4);
}

#[test]
fn link_property_rename_and_remove_survive_reopen() {
    let env = Env::new();
    let csv1 = env.file("tracks.csv", TRACKS);
    env.ok(&["import", "tracks", p(&csv1)]);
    let pl = env.file("playlists.csv", "key,name\np1,Warmup\n");
    env.ok(&["import", "playlists", p(&pl)]);

    env.ok(&["link", "playlists", "p1", "tracks", "t2"]);
    let s = env.json(&["show", "playlists", "--json"]);
    assert_eq!(s["records"][0]["props"]["tracks"], serde_json::json!(["t2"]));
    let s = env.json(&["show", "tracks", "--where", "_key=t2", "--json"]);
    assert_eq!(
        s["records"][0]["props"]["playlists"],
        serde_json::json!(["p1"]),
        "the other side of the link is missing"
    );
    let h = env.json(&["history", "tracks", "t2", "--json"]);
    assert!(h.as_array().unwrap().iter().any(|c| c["op"] == "link"), "{h}");
    env.ok(&["unlink", "playlists", "p1", "tracks", "t2"]);
    let s = env.json(&["show", "playlists", "--json"]);
    assert!(s["records"][0]["props"].get("tracks").is_none(), "{s}");

    env.ok(&["property", "rename", "tracks", "album", "Release"]);
    let out = env.ok(&["export", "tracks", "--csv"]);
    assert!(out.lines().next().unwrap().contains(",Release,"), "{out}");
    env.ok(&["property", "remove", "tracks", "album"]);
    // Every later command reopens the catalog: the core property stays removed.
    let cols = env.json(&["collections", "--json"]);
    let tracks = cols.as_array().unwrap().iter().find(|c| c["name"] == "tracks").unwrap();
    let album = tracks["properties"].as_array().unwrap().iter().find(|p| p["id"] == "album").unwrap();
    assert_eq!(album["archived"], true, "the removed core property came back on reopen: {album}");
    let s = env.json(&["show", "tracks", "--where", "_key=t1", "--json"]);
    assert!(s["records"][0]["props"].get("album").is_none());
    let s = env.json(&["show", "tracks", "--where", "_key=t1", "--archived", "--json"]);
    assert_eq!(s["records"][0]["archived"]["album"], "Levels", "the archived value was lost");
    assert!(!env.ok(&["export", "tracks", "--csv"]).lines().next().unwrap().contains("Release"));
    // Unknown things are named.
    let o = env.run(&["show", "nosuch"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("nosuch"));
    assert_eq!(o.status.code(), Some(2));
}

/// A big CSV: `n` tracks.
fn big_csv(path: &Path, n: usize, tag: &str) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(f, "key,title,artists,duration_ms,isrc").unwrap();
    for i in 0..n {
        writeln!(f, "k{i:06},Track {i} {tag},Artist {};Guest {},{},", i % 977, i % 31, 120_000 + (i % 240_000))
            .unwrap();
    }
}

#[test]
fn kill_9_during_a_large_import_leaves_all_or_nothing() {
    const N: usize = 25_000;
    let env = Env::new();
    let small = env.file("small.csv", TRACKS);
    env.ok(&["import", "tracks", p(&small)]);
    let big = env.dir.path().join("big.csv");
    big_csv(&big, N, "a");
    let wal = PathBuf::from(format!("{}-wal", env.state.display()));
    let wal_before = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);

    // Kill once the import's transaction has spilled pages into the WAL (mid-batch).
    let mut child =
        env.cmd(&["import", "tracks", p(&big)]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let t0 = Instant::now();
    let killed_mid = loop {
        if let Some(st) = child.try_wait().unwrap() {
            panic!("the import finished ({st}) before it could be killed; raise N");
        }
        let grown = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0) > wal_before + 256 * 1024;
        if grown || t0.elapsed() > Duration::from_secs(15) {
            child.kill().unwrap(); // SIGKILL
            break grown;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let st = child.wait().unwrap();
    assert!(!st.success());
    assert!(killed_mid, "the WAL never grew within 15 s; the import was killed before it wrote anything");

    // Nothing of the batch is visible, and the log is gap-free.
    assert_eq!(env.count("tracks"), 3, "a killed import left a partial batch");
    let h = env.json(&["history", "tracks", "t1", "--json"]);
    assert_eq!(h.as_array().unwrap().len(), 1);

    // The same import then runs to the end: all of it, once.
    let r = env.json(&["import", "tracks", p(&big), "--json"]);
    assert_eq!(r["inserted"].as_u64(), Some(N as u64), "{r}");
    assert_eq!(env.count("tracks"), 3 + N as u64);
    // The change log has no gaps: the sequence numbers of the rows run on one by one.
    let first = env.json(&["history", "tracks", "k000000", "--json"])[0]["seq"].as_i64().unwrap();
    let last = env.json(&["history", "tracks", &format!("k{:06}", N - 1), "--json"])[0]["seq"].as_i64().unwrap();
    assert_eq!(last - first, N as i64 - 1, "the change log has gaps across the kill");
    let t3 = env.json(&["history", "tracks", "t3", "--json"])[0]["seq"].as_i64().unwrap();
    assert_eq!(first, t3 + 1, "the change log has a gap where the killed batch was");
}

/// `baton` itself (not `baton catalog`) on this environment's home and state.
fn baton(env: &Env, args: &[&str]) -> Output {
    let mut c = Command::new(BIN);
    c.arg("--home").arg(&env.home).arg("--state").arg(&env.state).args(args);
    c.env_remove("BATON_STATE").env_remove("BATON_HOME").env_remove("BATON_FAILPOINT").env("BATON_LOG", "warn");
    c.env("XDG_CACHE_HOME", env.dir.path().join("xdg-cache"));
    let o = c.output().unwrap();
    assert!(o.status.success(), "baton {args:?} failed: {}", String::from_utf8_lossy(&o.stderr));
    o
}

#[test]
fn handoffs_and_audit_gaps_are_read_only_views_of_the_hosts_own_data() {
    let env = Env::new();
    baton(&env, &["init"]);
    let inbox = env.home.join("handoffs/baton/01_inbox");
    let task = |id: &str, plugin: &str| {
        serde_json::json!({"schema": "baton.handoff/v1", "id": id, "kind": "task", "created_at": "2026-01-18T07:09:51Z",
                           "from": "Claude-Code-Agent", "title": format!("Echo {id}"), "plugin": plugin, "action": "echo",
                           "params": {"n": id}})
    };
    for (n, (id, plugin)) in [("H1", "echo"), ("H2", "no_such_plugin")].into_iter().enumerate() {
        let tmp = env.dir.path().join("drop.tmp");
        std::fs::write(&tmp, task(id, plugin).to_string()).unwrap();
        std::fs::rename(&tmp, inbox.join(format!("20260118T07095{n}Z__TASK__{id}__Claude-Code-Agent.json"))).unwrap();
    }
    baton(&env, &["serve", "--once"]);

    let shown = env.json(&["show", "handoffs", "--json"]);
    assert_eq!(shown["collection"], "handoffs");
    let recs = shown["records"].as_array().unwrap();
    let by_key = |k: &str| recs.iter().find(|r| r["key"] == k).unwrap_or_else(|| panic!("{k} not shown: {shown}"));
    let h1 = &by_key("H1")["props"];
    assert_eq!(
        (h1["status"].as_str(), h1["from"].as_str(), h1["to"].as_str(), h1["title"].as_str()),
        (Some("completed"), Some("Claude-Code-Agent"), Some("echo"), Some("Echo H1")),
        "{h1}"
    );
    assert!(h1["finished"].is_string() && h1["created"].is_string() && h1["seq"].is_i64(), "{h1}");
    let h2 = &by_key("H2")["props"];
    assert_ne!(h2["status"], "completed", "{h2}");
    assert!(h2["error_code"].is_string(), "a refused TASK shows its error code: {h2}");
    let failed = env.json(&["show", "handoffs", "--where", "status=completed", "--json"]);
    assert_eq!(failed["records"].as_array().unwrap().len(), 1);

    let cols = env.json(&["collections", "--json"]);
    let h = cols.as_array().unwrap().iter().find(|c| c["name"] == "handoffs").expect("handoffs listed");
    assert_eq!((h["read_only"].as_bool(), h["records"].as_u64()), (Some(true), Some(2)));
    assert!(cols.as_array().unwrap().iter().any(|c| c["name"] == "audit_gaps" && c["read_only"] == true));

    let csv = env.ok(&["export", "handoffs", "--csv"]);
    let mut lines = csv.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("_key,Sequence,ID,From,To,") && header.contains("Status"), "{header}");
    assert!(lines.any(|l| l.starts_with("H1,") && l.contains(",completed,")), "{csv}");

    // Writes are refused, naming the collection and what keeps it; nothing changes.
    let f = env.file("h.csv", "key,title\nH9,Forged\n");
    let o = env.run(&["import", "handoffs", p(&f)]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("handoffs") && err.contains("read-only"), "{err}");
    assert_eq!(env.count("handoffs"), 2);

    // audit_gaps: the latest report in the audit's reports folder (baton.toml's grant); `serve`
    // wrote one without gaps (no plans), this one is named later.
    let report = serde_json::json!({"schema": "baton.plans-audit/v1", "generated_at": "2026-01-18T08:00:00Z",
        "generated_unix": 1_768_723_200, "fingerprint": "f", "plans_dirs": [], "repo_dirs": [], "plans": [],
        "false_claims": [{"plan": "PLAN.md", "path": "src/a.py", "status": "missing", "reason": null}],
        "gaps": [{"key": "PLAN.md::src/a.py", "plan": "PLAN.md", "path": "src/a.py", "group": "Core", "status": "missing",
                  "reason": null, "claimed_done": true, "first_seen": "2026-01-18T08:00:00Z", "new": true, "emitted": null}],
        "changes": null, "errors": []});
    std::fs::write(env.home.join("reports/PLANS_AUDIT_REPORT_20991231_235959.json"), report.to_string()).unwrap();
    let gaps = env.json(&["show", "audit_gaps", "--json"]);
    let g = &gaps["records"][0];
    assert_eq!(
        (g["key"].as_str(), g["props"]["false_claim"].as_bool(), g["props"]["status"].as_str()),
        (Some("PLAN.md::src/a.py"), Some(true), Some("missing")),
        "{gaps}"
    );
}

/// A plugin reads `handoffs` and `audit_gaps` through the catalog interface only when granted.
#[test]
fn a_plugin_sees_handoffs_and_audit_gaps_only_when_granted() {
    let env = Env::new();
    baton(&env, &["init"]);
    let toml = env.home.join("baton.toml");
    let base = std::fs::read_to_string(&toml).unwrap();
    let grant = |read: &str| {
        std::fs::write(
            &toml,
            format!("{base}\n[plugins.testkit]\ngrants = {{}}\ncatalog = {{ read = [{read}] }}\ntime_ms = 20000\n"),
        )
        .unwrap();
    };
    grant("\"handoffs\", \"audit_gaps\"");
    let wasm = env.dir.path().join("testkit.wasm");
    std::fs::write(&wasm, baton_bundle::get("testkit").expect("testkit is bundled").wasm).unwrap();
    baton(&env, &["plugin", "install", wasm.to_str().unwrap(), "--yes"]);
    let report = serde_json::json!({"schema": "baton.plans-audit/v1", "generated_at": "2099-12-31T23:59:59Z",
        "generated_unix": 4_102_444_799_i64, "fingerprint": "f", "plans_dirs": [], "repo_dirs": [], "plans": [], "false_claims": [],
        "gaps": [{"key": "PLAN.md::b.py", "plan": "PLAN.md", "path": "b.py", "group": "Core", "status": "stub",
                  "reason": "TODO only", "claimed_done": false, "first_seen": "2099-12-31T23:59:59Z", "new": true, "emitted": null}],
        "changes": null, "errors": []});
    std::fs::create_dir_all(env.home.join("reports")).unwrap();
    std::fs::write(env.home.join("reports/PLANS_AUDIT_REPORT_20991231_235959.json"), report.to_string()).unwrap();
    let run = |id: &str, action: &str, params: serde_json::Value| -> Value {
        let body = serde_json::json!({"schema": "baton.handoff/v1", "id": id, "kind": "task", "created_at": "2026-01-18T07:09:51Z",
                                      "from": "Tester-Agent", "title": id, "plugin": "testkit", "action": action, "params": params});
        let file = env.dir.path().join(format!("20260118T070951Z__TASK__{id}__Tester-Agent.json"));
        std::fs::write(&file, body.to_string()).unwrap();
        serde_json::from_slice(&baton(&env, &["run", file.to_str().unwrap()]).stdout).unwrap()
    };
    // A TASK through the inbox is in the ledger (`baton run` runs one without recording it).
    let first = serde_json::json!({"schema": "baton.handoff/v1", "id": "FIRST", "kind": "task", "created_at": "2026-01-18T07:09:51Z",
                                   "from": "Tester-Agent", "title": "first", "plugin": "testkit", "action": "ok", "params": {}});
    std::fs::write(
        env.home.join("handoffs/baton/01_inbox/20260118T070951Z__TASK__FIRST__Tester-Agent.json"),
        first.to_string(),
    )
    .unwrap();
    baton(&env, &["serve", "--once"]);
    let calls = serde_json::json!({"calls": [
        {"op": "query", "collection": "handoffs", "filter": "status=completed"},
        {"op": "get", "collection": "audit_gaps", "key": "PLAN.md::b.py"},
        {"op": "upsert", "collection": "handoffs", "records": [{"key": "X", "props": {"title": "forged"}}]},
    ]});
    let r = run("READ", "catalog", calls.clone());
    assert_eq!(r["status"], "completed", "{r}");
    let res = &r["result"]["results"];
    let first = res[0]["ok"]["records"].as_array().unwrap_or_else(|| panic!("{r}"));
    assert!(first.iter().any(|h| h["key"] == "FIRST" && h["props"]["to"] == "testkit"), "{r}");
    assert_eq!(res[1]["ok"]["props"]["status"], "stub", "{r}");
    assert_eq!(res[2]["error"]["kind"], "denied", "a write to handoffs is refused: {r}");

    // Without the grant, the same calls are denied.
    grant("\"tracks\"");
    let r = run("DENIED", "catalog", calls);
    let res = &r["result"]["results"];
    for i in [0, 1] {
        assert_eq!(res[i]["error"]["kind"], "denied", "{r}");
    }
}

#[test]
fn two_machines_share_one_catalog_on_postgres() {
    let Some(pg) = pg::Pg::start() else { return };
    pg.create_db("catalog");
    let url = pg.url("catalog");
    let (a, b) = (Env::on(&url), Env::on(&url));
    let csv = a.file("tracks.csv", TRACKS);
    let r = a.json(&["import", "tracks", p(&csv), "--json"]);
    assert_eq!(r["inserted"].as_u64(), Some(3), "{r}");
    // The other machine sees the same records, and writes to them.
    let s = b.json(&["show", "tracks", "--json"]);
    let keys: Vec<&str> = s["records"].as_array().unwrap().iter().map(|r| r["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["t1", "t2", "t3"]);
    let pl = b.file("playlists.csv", "key,name,source,tracks\np1,Peak Time,spotify,t3;t1\n");
    b.ok(&["import", "playlists", p(&pl)]);
    assert!(a.ok(&["export", "playlists", "--csv"]).contains("t3;t1"));
    // One change log, numbered in commit order: the history a reads of t1 includes b's update.
    let upd = b.file("t1.csv", "key,album\nt1,Levels (Remixes)\n");
    b.ok(&["import", "tracks", p(&upd)]);
    let h = a.json(&["history", "tracks", "t1", "--json"]);
    let ops: Vec<&str> = h.as_array().unwrap().iter().map(|c| c["op"].as_str().unwrap()).collect();
    assert_eq!(ops, ["insert", "update"], "{h}");
    assert_eq!(h[1]["detail"]["props"]["album"][1], "Levels (Remixes)", "{h}");
    let seqs: Vec<i64> = h.as_array().unwrap().iter().map(|c| c["seq"].as_i64().unwrap()).collect();
    assert!(seqs[0] < seqs[1], "{h}");
    // The records are on the server, not in either machine's own file.
    let out = pg.psql("catalog", "SELECT count(*) FROM cat_records WHERE collection = 'tracks'");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "3", "{}", String::from_utf8_lossy(&out.stderr));
    for env in [&a, &b] {
        let local = env.home.join("state").join("fp.sqlite");
        if let Ok(conn) = rusqlite::Connection::open_with_flags(&local, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY) {
            let n: i64 = conn
                .query_row("SELECT count(*) FROM sqlite_master WHERE name LIKE 'cat_%'", [], |r| r.get(0))
                .unwrap_or(0);
            assert_eq!(n, 0, "the catalog's tables were created in this machine's own file {}", local.display());
        }
    }
}
