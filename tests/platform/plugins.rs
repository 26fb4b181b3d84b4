//! End-to-end tests of plugins as a product: the sandbox (through `plugins/testkit`), grants,
//! retries, pausing, an older-minor-version plugin, and `baton plugin install | list |
//! inspect | remove` with upgrades and hot reload — the real `baton` binary on temp folders.
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};

use crate::support;
use support::Home;
use support::audio::{ffmpeg, synth, write_wav};

/// Small budgets keep the misbehaving tasks fast: each timeout costs 300 ms.
const TESTKIT_TOML: &str = r#"
[plugins.testkit]
grants = { data = "data", out = { path = "out", writable = true } }
time_ms = 300
memory_mb = 32
output_kb = 64
"#;

impl Home {
    /// A home made by `baton init` (see `support::Home::init`), never pausing unless a test
    /// says so, with testkit's `data`/`out` folders.
    fn new(settings: &[(&str, &str)], extra: &str) -> Self {
        let mut all = vec![("pause_after", "100")];
        all.extend_from_slice(settings);
        let h = Home::init(&all, extra);
        std::fs::create_dir_all(h.root.join("data")).unwrap();
        std::fs::create_dir_all(h.root.join("out")).unwrap();
        h
    }

    /// A home with testkit installed through `baton plugin install`.
    fn with_testkit(settings: &[(&str, &str)]) -> Self {
        let h = Home::new(settings, TESTKIT_TOML);
        h.install_bytes("testkit", &testkit("0.1.0"));
        h
    }

    /// Writes a component somewhere outside the home and installs it from there (`--yes`:
    /// replacing an installed one is intended).
    fn install_bytes(&self, label: &str, bytes: &[u8]) -> Value {
        let src = self.root.parent().unwrap().join(format!("{label}.wasm"));
        std::fs::write(&src, bytes).unwrap();
        self.json(&["plugin", "install", src.to_str().unwrap(), "--json", "--yes"])
    }

    fn plugins(&self) -> PathBuf {
        self.root.join("plugins")
    }

    /// Drops a TASK for `plugin`/`action` atomically (temp name, rename).
    fn drop_task(&self, id: &str, plugin: &str, action: &str, params: Value) {
        let body = json!({"schema": "baton.handoff/v1", "id": id, "kind": "task", "created_at": "2026-01-18T07:09:51Z",
                          "from": "Tester-Agent", "title": format!("{plugin} {action} {id}"), "plugin": plugin,
                          "action": action, "params": params});
        self.drop_file(format!("20260118T070951Z__TASK__{id}__Tester-Agent.json"), body.to_string());
    }

    /// Every RETURN for the test agent, by `in_reply_to`.
    fn tester_returns(&self) -> HashMap<String, Vec<Value>> {
        self.returns("Tester-Agent")
    }

    /// The single RETURN for `id`.
    fn ret(&self, id: &str) -> Value {
        let all = self.tester_returns();
        let r = all.get(id).unwrap_or_else(|| panic!("no RETURN for {id}; have {:?}", all.keys().collect::<Vec<_>>()));
        assert_eq!(r.len(), 1, "exactly one RETURN for {id}");
        r[0].clone()
    }

    fn code(&self, id: &str) -> String {
        self.ret(id)["error"]["code"].as_str().unwrap_or("(none)").to_string()
    }

    fn wait_for_return(&self, id: &str, limit: Duration) -> Value {
        let start = Instant::now();
        loop {
            if let Some(r) = self.tester_returns().get(id) {
                return r[0].clone();
            }
            assert!(start.elapsed() < limit, "no RETURN for {id} within {limit:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn serve(&self) -> Served {
        Served(self.cmd(&["serve"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap())
    }
}

/// A running `baton serve`, killed when dropped (also when a test fails).
struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The testkit component, with its `describe` version patched to `version` (same length as
/// "0.1.0"): a genuinely different component, as a new release would be, without a second
/// build of the plugin.
fn testkit(version: &str) -> Vec<u8> {
    let mut bytes = baton_bundle::get("testkit").expect("testkit is bundled").wasm.to_vec();
    let at: Vec<usize> = bytes.windows(5).enumerate().filter(|(_, w)| *w == b"0.1.0").map(|(i, _)| i).collect();
    assert_eq!(at.len(), 1, "the version string occurs once in testkit.wasm");
    assert_eq!(version.len(), 5);
    bytes[at[0]..at[0] + 5].copy_from_slice(version.as_bytes());
    bytes
}

#[test]
fn every_sandbox_failure_is_contained_and_recorded_while_other_tasks_complete() {
    let h = Home::with_testkit(&[]);
    // Held by the test, as another process would: `block` waits on it inside a host call.
    let lock = baton_runtime::lock_path(&h.root.join("state/locks"), "testkit", "held");
    std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
    let held = std::fs::File::create(&lock).unwrap();
    held.lock().unwrap();

    let cases: &[(&str, &str, Value, &str)] = &[
        ("SPIN", "spin", json!({}), "timeout"),
        ("SLEEP", "sleep", json!({}), "timeout"),
        ("BLOCK", "block", json!({"name": "held"}), "timeout"),
        ("ALLOC", "alloc", json!({}), "out_of_memory"),
        ("PANIC", "panic", json!({}), "trap"),
        // 1 MB: above the 64 KB output cap, well below the 32 MB memory cap.
        ("BIG", "big", json!({"bytes": 1 << 20}), "output_too_large"),
    ];
    for (id, action, params, _) in cases {
        h.drop_task(id, "testkit", action, params.clone());
    }
    for i in 0..6 {
        h.drop_task(&format!("ECHO{i}"), "echo", "echo", json!({"i": i}));
    }
    let started = Instant::now();
    h.ok(&["serve", "--once"]);
    let took = started.elapsed();

    for (id, _, _, code) in cases {
        let r = h.ret(id);
        assert_eq!(r["status"], "failed", "{id}: {r}");
        assert_eq!(h.code(id), *code, "{id}: {}", r["error"]["message"]);
        assert_eq!(r["plugin"]["name"], "testkit");
        // The original is kept in 03_failed with its error record.
        let failed =
            h.root.join(format!("handoffs/baton/03_failed/20260118T070951Z__TASK__{id}__Tester-Agent.json.error.json"));
        let rec: Value = serde_json::from_slice(&std::fs::read(&failed).unwrap()).unwrap();
        assert_eq!(rec["code"], *code);
    }
    for i in 0..6 {
        let r = h.ret(&format!("ECHO{i}"));
        assert_eq!(r["status"], "completed");
        assert_eq!(r["result"], json!({"i": i}));
    }
    // Budgets, not luck: four 300 ms timeouts on two cores, plus start-up.
    assert!(took < Duration::from_secs(15), "{took:?}");
    // The ledger has each failure with its code, and the log of the blocked task survived.
    let shown = h.json(&["show", "BLOCK", "--json"]);
    assert_eq!(shown["task"]["error_code"], "timeout");
    assert!(shown.to_string().contains("waiting for lock"), "{shown}");
    // After all that the host still serves the same plugin.
    h.drop_task("OK", "testkit", "ok", json!({"fine": true}));
    h.ok(&["serve", "--once"]);
    assert_eq!(h.ret("OK")["status"], "completed");
    drop(held);
}

#[test]
fn grants_are_enforced() {
    let h = Home::with_testkit(&[]);
    std::fs::write(h.root.join("data/inside.txt"), "granted").unwrap();
    let secret = h.root.join("secret.txt");
    std::fs::write(&secret, "not granted").unwrap();
    std::os::unix::fs::symlink(&secret, h.root.join("data/escape")).unwrap();

    h.drop_task("READ-IN", "testkit", "read", json!({"path": "/data/inside.txt"}));
    let outside = [
        ("READ-DOTDOT", "/data/../secret.txt".to_string()),
        ("READ-ETC", "/etc/passwd".to_string()),
        ("READ-HOSTPATH", secret.display().to_string()),
        ("READ-SYMLINK", "/data/escape".to_string()),
        ("READ-OTHER", "/out/../../secret.txt".to_string()),
    ];
    for (id, path) in &outside {
        h.drop_task(id, "testkit", "read", json!({ "path": path }));
    }
    h.drop_task("WRITE-RO", "testkit", "write", json!({"path": "/data/new.txt"}));
    h.drop_task("WRITE-OVER", "testkit", "write", json!({"path": "/data/inside.txt"}));
    h.drop_task("WRITE-RW", "testkit", "write", json!({"path": "/out/new.txt", "text": "hello"}));
    h.ok(&["serve", "--once"]);

    assert_eq!(h.ret("READ-IN")["result"]["text"], "granted");
    for (id, _) in &outside {
        let r = h.ret(id);
        assert_eq!(h.code(id), "plugin_error", "{id}: {r}");
        assert!(r["error"]["message"].as_str().unwrap().starts_with("denied"), "{id}: {r}");
        assert!(!r.to_string().contains("not granted"), "{id} leaked the secret: {r}");
    }
    for id in ["WRITE-RO", "WRITE-OVER"] {
        assert_eq!(h.code(id), "plugin_error", "{}", h.ret(id));
    }
    assert!(!h.root.join("data/new.txt").exists());
    assert_eq!(std::fs::read_to_string(h.root.join("data/inside.txt")).unwrap(), "granted");
    assert_eq!(h.ret("WRITE-RW")["status"], "completed");
    assert_eq!(std::fs::read_to_string(h.root.join("out/new.txt")).unwrap(), "hello");
    // inspect says what was wanted and what was granted.
    let inspected = h.json(&["plugin", "inspect", "testkit", "--json"]);
    let folders = inspected["folders"].as_array().unwrap();
    let data = folders.iter().find(|f| f["name"] == "data").unwrap();
    assert_eq!((data["wants_write"].as_bool(), data["access"].as_str()), (Some(true), Some("read-only")));
    let out = folders.iter().find(|f| f["name"] == "out").unwrap();
    assert_eq!(out["access"], "read-write");
}

#[test]
fn transient_failures_are_retried_with_backoff_until_they_succeed_or_run_out() {
    let h = Home::with_testkit(&[("max_attempts", "4")]);
    h.drop_task("FLAKY", "testkit", "transient", json!({"key": "flaky", "fails": 2}));
    h.drop_task("BROKEN", "testkit", "transient", json!({"key": "broken", "fails": 100}));
    h.ok(&["serve", "--once"]);
    let r = h.ret("FLAKY");
    assert_eq!(r["status"], "completed", "{r}");
    assert_eq!(r["attempts"], 3);
    assert_eq!(r["result"]["attempts_seen"], 3, "the count lives in the plugin's kv store");
    let r = h.ret("BROKEN");
    assert_eq!(h.code("BROKEN"), "retries_exhausted", "{r}");
    assert_eq!(r["attempts"], 4);
    assert_eq!(r["result"]["history"].as_array().unwrap().len(), 4);
}

#[test]
fn repeated_sandbox_failures_pause_the_plugin_and_status_says_so() {
    let h = Home::with_testkit(&[("pause_after", "2")]);
    h.drop_task("P1", "testkit", "panic", json!({}));
    h.drop_task("P2", "testkit", "spin", json!({}));
    h.ok(&["serve", "--once"]);
    assert_eq!((h.code("P1"), h.code("P2")), ("trap".into(), "timeout".into()));
    h.drop_task("AFTER", "testkit", "ok", json!({}));
    h.drop_task("OTHER", "echo", "echo", json!({}));
    h.ok(&["serve", "--once"]);
    assert_eq!(h.code("AFTER"), "plugin_paused");
    assert_eq!(h.ret("OTHER")["status"], "completed", "other plugins are not paused");
    let status = h.json(&["status", "--json"]);
    let paused = status["paused_plugins"].as_array().unwrap();
    assert_eq!(paused.len(), 1, "{status}");
    assert_eq!(paused[0]["plugin"], "testkit");
    assert_eq!(paused[0]["failures"], 2);
    let text = String::from_utf8(h.ok(&["status"]).stdout).unwrap();
    assert!(text.contains("PAUSED plugin \"testkit\""), "{text}");
}

#[test]
fn plugins_built_against_older_minor_versions_still_load_and_run() {
    let h = Home::new(&[], "");
    let installed = h.install_bytes("legacy", baton_bundle::get("legacy-echo").unwrap().wasm);
    assert_eq!(installed["plugin"]["world"], "0.1.x");
    let installed = h.install_bytes("legacy-v0-2", baton_bundle::get("legacy-v0-2").unwrap().wasm);
    assert_eq!(installed["plugin"]["world"], "0.2.x");
    h.drop_task("OLD", "legacy-echo", "echo", json!({"from": "0.1"}));
    h.drop_task("MID", "legacy-v0-2", "echo", json!({"from": "0.2"}));
    let installed = h.install_bytes("legacy-v0-3", baton_bundle::get("legacy-v0-3").unwrap().wasm);
    assert_eq!(installed["plugin"]["world"], "0.3.x");
    h.drop_task("V03", "legacy-v0-3", "echo", json!({"from": "0.3"}));
    // testkit is built against the frozen 0.4.0 (the music interfaces still in baton:plugin);
    // echo against 0.6.0 through the SDK.
    let installed = h.install_bytes("testkit", baton_bundle::get("testkit").unwrap().wasm);
    assert_eq!(installed["plugin"]["world"], "0.4.x");
    h.drop_task("V04", "testkit", "ok", json!({}));
    h.drop_task("NEW", "echo", "echo", json!({"from": "0.5"}));
    h.ok(&["serve", "--once"]);
    let r = h.ret("OLD");
    assert_eq!(r["status"], "completed", "{r}");
    assert_eq!(r["result"], json!({"from": "0.1"}));
    assert_eq!(r["summary"], "echoed (run 1)", "kv works through the 0.1 host imports");
    assert_eq!(h.ret("MID")["result"], json!({"from": "0.2"}), "{}", h.ret("MID"));
    assert_eq!(h.ret("NEW")["status"], "completed");
    let shown = h.json(&["show", "OLD", "--json"]);
    assert!(shown.to_string().contains("hello from baton:plugin@0.1.0"), "0.1 log import reaches the ledger: {shown}");
    let shown = h.json(&["show", "MID", "--json"]).to_string();
    assert!(shown.contains("legacy-v0-2: ") && shown.contains(" ms left"), "0.2 remaining-ms import: {shown}");
    assert_eq!(h.ret("V03")["result"], json!({"from": "0.3"}), "{}", h.ret("V03"));
    let shown = h.json(&["show", "V03", "--json"]).to_string();
    assert!(shown.contains("legacy-v0-3: ") && shown.contains("fingerprint denied"), "0.3 fingerprint import: {shown}");
    let list = h.json(&["plugin", "list", "--json"]);
    let worlds: HashMap<String, String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap().to_string(), p["world"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(worlds["legacy-echo"], "0.1.x");
    assert_eq!(worlds["legacy-v0-2"], "0.2.x");
    assert_eq!(worlds["legacy-v0-3"], "0.3.x");
    assert_eq!(worlds["testkit"], "0.4.x");
    assert_eq!(worlds["echo"], "0.6.x");
    assert_eq!(h.ret("V04")["status"], "completed", "{}", h.ret("V04"));
}

/// A plugin built with the SDK against `baton:music@0.5.0` (the music interfaces out of
/// `baton:plugin` since the split) reaches all three under their 0.5.0 names, answered by the
/// host crates (the runtime binds none of them): the catalog lists what it was granted, the
/// fingerprint service refuses a path outside its grants, a granted SQLite file is read.
#[test]
fn a_music_plugin_built_against_0_5_reaches_the_catalog_fingerprints_and_sqlite() {
    let h = Home::new(&[], "\n[plugins.music-v0-5]\ngrants = { data = \"data\" }\ncatalog = { read = [\"tracks\"] }\n");
    let db = rusqlite::Connection::open(h.root.join("data/lib.db")).unwrap();
    db.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1), (2);").unwrap();
    drop(db);
    let installed = h.install_bytes("music-v0-5", baton_bundle::get("music-v0-5").unwrap().wasm);
    // Built with today's SDK: the core at 0.6.0, the music interfaces as 0.5.0 published them.
    assert_eq!(installed["plugin"]["world"], "0.6.x", "{installed}");
    h.drop_task("PROBE", "music-v0-5", "probe", json!({"tags_path": "/etc/passwd", "db_path": "/data/lib.db"}));
    h.ok(&["serve", "--once"]);
    let r = h.ret("PROBE");
    assert_eq!(r["status"], "completed", "{r}");
    assert_eq!(r["result"]["rows"], 2, "{r}");
    assert!(r["result"]["tags"].as_str().unwrap().starts_with("denied: "), "{r}");
    let names: Vec<&str> = r["result"]["collections"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    assert!(names.contains(&"tracks"), "{r}");
}

/// The `fingerprint` interface (0.3.0) through testkit: the same fingerprint as `baton fp
/// print`, tags, library matches limited to the plugin's grants and named by guest path, and
/// every path outside the grant refused.
#[test]
fn plugins_fingerprint_files_inside_their_grants_and_match_the_library() {
    // Decoding 40 s of audio in a worker is real work: the 300 ms budget of the misbehaving
    // tasks is too tight on a loaded 2-core machine (it failed `timeout` there).
    let h = Home::new(&[], &TESTKIT_TOML.replace("time_ms = 300", "time_ms = 10000"));
    h.install_bytes("testkit", &testkit("0.1.0"));
    let data = h.root.join("data");
    let elsewhere = h.root.parent().unwrap().join("elsewhere");
    let song = synth(7, 40.0, 44100);
    write_wav(&data.join("a.wav"), &song, 44100);
    write_wav(&data.join("other.wav"), &synth(8, 40.0, 44100), 44100);
    std::fs::create_dir_all(data.join("sub")).unwrap();
    ffmpeg(&[
        "-i",
        data.join("a.wav").to_str().unwrap(),
        "-ss",
        "3",
        "-metadata",
        "title=Song A",
        "-metadata",
        "artist=Tester",
        data.join("sub/a_trimmed.flac").to_str().unwrap(),
    ]);
    // The same recording outside the grant: scanned into the library, but not the plugin's to see.
    write_wav(&elsewhere.join("a_copy.wav"), &song, 44100);
    std::os::unix::fs::symlink(elsewhere.join("a_copy.wav"), data.join("escape.wav")).unwrap();
    std::fs::write(data.join("broken.mp3"), b"ID3 this is not audio").unwrap();
    let scanned = h.json(&["fp", "scan", data.to_str().unwrap(), elsewhere.to_str().unwrap(), "--json"]);
    // 5: the scan follows data/escape.wav to the copy; the plugin must not learn of it.
    assert_eq!(scanned["fingerprinted"], 5, "{scanned}");

    h.drop_task("PRINT", "testkit", "fp-print", json!({"path": "/data/a.wav"}));
    h.drop_task("TAGS", "testkit", "fp-tags", json!({"path": "/data/sub/a_trimmed.flac"}));
    h.drop_task("MATCH", "testkit", "fp-match", json!({"path": "/data/a.wav", "min_similarity": 0.8, "limit": 10}));
    h.drop_task("MATCH-1", "testkit", "fp-match", json!({"path": "/data/a.wav", "min_similarity": 0.8, "limit": 1}));
    let denied = [
        ("DENY-DOTDOT", "/data/../../elsewhere/a_copy.wav".to_string()),
        ("DENY-HOSTPATH", elsewhere.join("a_copy.wav").display().to_string()),
        ("DENY-SYMLINK", "/data/escape.wav".to_string()),
        ("DENY-ETC", "/etc/passwd".to_string()),
        ("DENY-RELATIVE", "data/a.wav".to_string()),
    ];
    for (id, path) in &denied {
        h.drop_task(id, "testkit", "fp-print", json!({ "path": path }));
    }
    h.drop_task("BROKEN", "testkit", "fp-print", json!({"path": "/data/broken.mp3"}));
    h.drop_task("MISSING", "testkit", "fp-tags", json!({"path": "/data/nope.flac"}));
    h.ok(&["serve", "--once"]);

    // Bit for bit what `baton fp print --json` (and so fpcalc's algorithm) gives on the host.
    let printed = h.ret("PRINT");
    assert_eq!(printed["status"], "completed", "{printed}");
    let host = h.json(&["fp", "print", "--json", data.join("a.wav").to_str().unwrap()]);
    let guest = &printed["result"];
    assert!(guest["fingerprint"].as_array().unwrap().len() > 300, "{guest}");
    assert_eq!(guest["fingerprint"], host["fingerprint"]);
    assert_eq!(guest["compressed"], host["compressed"]);
    assert_eq!(guest["duration"], host["duration"]);

    let tags = h.ret("TAGS")["result"].clone();
    assert_eq!((tags["codec"].as_str(), tags["lossless"].as_bool()), (Some("flac"), Some(true)), "{tags}");
    assert_eq!(
        (tags["tags"]["title"].as_str(), tags["tags"]["artist"].as_str()),
        (Some("Song A"), Some("Tester")),
        "{tags}"
    );
    assert!((tags["duration"].as_f64().unwrap() - 37.0).abs() < 0.1, "{tags}");

    // a.wav itself and its trimmed FLAC, by guest path; the copy outside the grant never shows.
    let matched = h.ret("MATCH");
    let matches = matched["result"]["matches"].as_array().unwrap_or_else(|| panic!("{matched}"));
    let paths: Vec<&str> = matches.iter().map(|m| m["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["/data/a.wav", "/data/sub/a_trimmed.flac"], "{matched}");
    assert!(matches[0]["score"].as_f64().unwrap() > 0.999);
    assert!(
        (matches[1]["offset_seconds"].as_f64().unwrap() + 3.0).abs() < 0.2,
        "the trimmed copy starts 3 s in: {matched}"
    );
    assert_eq!(matches[1]["tags"]["title"], "Song A");
    assert_eq!(h.ret("MATCH-1")["result"]["matches"].as_array().unwrap().len(), 1);

    let root = h.root.parent().unwrap().display().to_string();
    for (id, _) in &denied {
        let r = h.ret(id);
        assert_eq!(h.code(id), "plugin_error", "{id}: {r}");
        assert!(r["error"]["message"].as_str().unwrap().starts_with("denied: "), "{id}: {r}");
    }
    let broken = h.ret("BROKEN");
    let msg = broken["error"]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("corrupt: /data/broken.mp3") || msg.starts_with("unsupported: /data/broken.mp3"),
        "{broken}"
    );
    let missing = h.ret("MISSING");
    assert!(missing["error"]["message"].as_str().unwrap().starts_with("io: /data/nope.flac"), "{missing}");
    for id in ["BROKEN", "MISSING", "DENY-SYMLINK", "MATCH"] {
        assert!(!h.ret(id).to_string().contains(&root), "{id} names a host path: {}", h.ret(id));
    }
}

fn cache_entries(h: &Home) -> Vec<(String, SystemTime)> {
    let mut v: Vec<(String, SystemTime)> = std::fs::read_dir(h.cache_root().join("baton"))
        .unwrap()
        .flatten()
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.metadata().unwrap().modified().unwrap()))
        .collect();
    v.sort();
    v
}

#[test]
fn install_upgrade_downgrade_remove_and_clear_errors() {
    // Counts what is in the cache: its own, not the one the run's homes share.
    let h = Home::init_own_cache(&[("pause_after", "100")], TESTKIT_TOML);
    std::fs::create_dir_all(h.root.join("data")).unwrap();
    std::fs::create_dir_all(h.root.join("out")).unwrap();
    let first = h.install_bytes("testkit-1", &testkit("0.1.0"));
    assert_eq!(first["action"], "installed");
    assert_eq!(first["plugin"]["version"], "0.1.0");
    let sha1 = first["plugin"]["sha256"].as_str().unwrap().to_string();
    assert_eq!(sha1.len(), 64);
    assert!(h.plugins().join("testkit.wasm").is_file());
    // Installing compiled it into the on-disk cache: a cold start of the host does not
    // recompile (no new or rewritten cache entry).
    let cached = cache_entries(&h);
    assert!(cached.iter().any(|(n, _)| n.starts_with(&sha1)), "{cached:?}");
    h.drop_task("V1", "testkit", "ok", json!({}));
    h.ok(&["serve", "--once"]);
    let after = cache_entries(&h);
    for entry in &cached {
        assert!(after.contains(entry), "serve loaded testkit from the cache, untouched: {entry:?} in {after:?}");
    }
    // (That first start compiled `baton init`'s echo and audit; the next one compiles nothing.)
    h.ok(&["serve", "--once"]);
    assert_eq!(cache_entries(&h), after, "a cold start recompiles nothing");
    assert_eq!(h.ret("V1")["plugin"]["sha256"], sha1.as_str());

    // The same bytes again: nothing to do.
    assert_eq!(h.install_bytes("testkit-1b", &testkit("0.1.0"))["action"], "unchanged");
    // Other bytes replace an installed plugin only with --yes: it inherits the grants.
    let src = h.root.parent().unwrap().join("testkit-2-noyes.wasm");
    std::fs::write(&src, testkit("0.1.1")).unwrap();
    let out = h.run(&["plugin", "install", src.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("re-run with --yes")
            && err.contains("inherits the grants of [plugins.testkit]")
            && err.contains("out →"),
        "{err}"
    );
    assert_eq!(std::fs::read(h.plugins().join("testkit.wasm")).unwrap(), testkit("0.1.0"), "nothing changed");
    // A newer version replaces it; the old one is kept aside.
    let up = h.install_bytes("testkit-2", &testkit("0.1.1"));
    assert_eq!(up["action"], "upgraded");
    assert_eq!(up["previous"]["version"], "0.1.0");
    let kept = PathBuf::from(up["previous"]["kept_at"].as_str().unwrap());
    assert!(kept.starts_with(h.plugins().join(".removed")) && kept.is_file());
    // An older one is refused unless forced.
    let src = h.root.parent().unwrap().join("old.wasm");
    std::fs::write(&src, testkit("0.0.9")).unwrap();
    let out = h.run(&["plugin", "install", src.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("older than the installed 0.1.1") && err.contains("--force"), "{err}");
    let list = h.json(&["plugin", "list", "--json"]);
    let tk = list.as_array().unwrap().iter().find(|p| p["name"] == "testkit").unwrap();
    assert_eq!(tk["version"], "0.1.1");
    let inspected = h.json(&["plugin", "inspect", "testkit", "--json"]);
    assert_eq!(inspected["version"], "0.1.1");
    assert!(
        inspected["actions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["name"] == "spin" && a["params_schema"]["type"] == "object")
    );
    assert_eq!(inspected["budget"]["time_ms"], 300);
    let text = String::from_utf8(h.ok(&["plugin", "inspect", "testkit"]).stdout).unwrap();
    assert!(text.contains("sha256") && text.contains("folders"), "{text}");

    // Remove moves it aside, never deletes; tasks for it are then refused.
    let out = h.ok(&["plugin", "remove", "testkit"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(".removed"));
    assert!(!h.plugins().join("testkit.wasm").exists());
    let removed: Vec<String> = std::fs::read_dir(h.plugins().join(".removed"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(removed.len(), 2, "the 0.1.0 kept at upgrade and the removed 0.1.1: {removed:?}");
    h.drop_task("GONE", "testkit", "ok", json!({}));
    h.ok(&["serve", "--once"]);
    assert_eq!(h.code("GONE"), "unknown_plugin");
    let out = h.run(&["plugin", "remove", "testkit"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no plugin `testkit` is installed"));
    // The journal records every change.
    let journal = std::fs::read_to_string(h.plugins().join(".journal.jsonl")).unwrap();
    let ops: Vec<String> = journal
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l["name"] == "testkit")
        .map(|l| l["op"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ops, ["installed", "upgraded", "remove"]);

    // Clear errors, naming the file and the fix.
    let dir = h.root.parent().unwrap();
    let cases: &[(&str, &[u8], &str)] = &[
        ("text.wasm", b"hello, not wasm", "not a WebAssembly file"),
        ("core.wasm", b"\0asm\x01\0\0\0", "core WebAssembly module, not a component"),
        // An empty component: valid, but not the baton:plugin world.
        ("empty.wasm", b"\0asm\x0d\0\x01\0", "does not export the baton:plugin"),
    ];
    for (name, bytes, expect) in cases {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let out = h.run(&["plugin", "install", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expect) && err.contains(path.to_str().unwrap()), "{name}: {err}");
    }
    let out = h.run(&["plugin", "install", dir.join("missing.wasm").to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("wasm32-wasip2"));
    assert!(!h.plugins().join("testkit.wasm").exists(), "nothing half-installed");
}

#[test]
fn a_running_host_hot_reloads_and_tasks_in_flight_finish_on_the_old_version() {
    let h = Home::new(&[], &TESTKIT_TOML.replace("time_ms = 300", "time_ms = 10000"));
    h.install_bytes("testkit-1", &testkit("0.1.0"));
    let _serve = h.serve();
    // A slow task on 0.1.0 …
    h.drop_task("SLOW", "testkit", "sleep", json!({"ms": 1500}));
    let start = Instant::now();
    while std::fs::read_dir(h.inbox()).unwrap().count() > 0 {
        assert!(start.elapsed() < Duration::from_secs(10), "the host never claimed SLOW");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(100));
    // … while 0.1.1 is installed from another process.
    assert_eq!(h.install_bytes("testkit-2", &testkit("0.1.1"))["action"], "upgraded");
    let slow = h.wait_for_return("SLOW", Duration::from_secs(15));
    assert_eq!(slow["status"], "completed", "{slow}");
    assert_eq!(slow["plugin"]["version"], "0.1.0", "the task in flight finished on the old version");
    h.drop_task("NEXT", "testkit", "ok", json!({}));
    assert_eq!(h.wait_for_return("NEXT", Duration::from_secs(10))["plugin"]["version"], "0.1.1");

    // A changed component dropped into the plugins folder by hand is not loaded by a running
    // host (its bytes may have come through a plugin's grant); 0.1.1 keeps running.
    let tmp = h.plugins().join(".drop.tmp");
    std::fs::write(&tmp, testkit("0.2.0")).unwrap();
    std::fs::rename(&tmp, h.plugins().join("testkit.wasm")).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let mut n = 0;
    h.drop_task("DROPPED", "testkit", "ok", json!({}));
    let r = h.wait_for_return("DROPPED", Duration::from_secs(10));
    assert_eq!(r["plugin"]["version"], "0.1.1", "the dropped component was not loaded: {r}");
    let journal: Vec<Value> = std::fs::read_to_string(h.plugins().join(".journal.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|l: &Value| l["name"] == "testkit")
        .collect();
    assert!(!journal.iter().any(|l| l["op"] == "reloaded" || l["op"] == "adopted"), "{journal:?}");
    let upgraded = journal.iter().find(|l| l["op"] == "upgraded").unwrap();
    let previous_copy = PathBuf::from(upgraded["archived"].as_str().unwrap());
    assert_eq!(std::fs::read(&previous_copy).unwrap(), testkit("0.1.1"), "0.1.1 can be put back");

    // Remove while serving: the plugin is unloaded without a restart.
    h.ok(&["plugin", "remove", "testkit"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        n += 1;
        let id = format!("REMOVED{n}");
        h.drop_task(&id, "testkit", "ok", json!({}));
        let r = h.wait_for_return(&id, Duration::from_secs(10));
        if r["error"]["code"] == "unknown_plugin" {
            break;
        }
        assert!(Instant::now() < deadline, "the removed plugin was never unloaded: {r}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The other plugins were never disturbed.
    h.drop_task("ECHO", "echo", "echo", json!({"still": "serving"}));
    assert_eq!(h.wait_for_return("ECHO", Duration::from_secs(10))["result"], json!({"still": "serving"}));
}

#[test]
fn init_journals_and_archives_the_plugins_it_installs_and_serve_adopts_nothing() {
    let h = Home::new(&[], "");
    let lines = |h: &Home| -> Vec<Value> {
        std::fs::read_to_string(h.plugins().join(".journal.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let journal = lines(&h);
    let bundled: Vec<&str> = baton_bundle::first_party().map(|p| p.name).collect();
    assert!(bundled.contains(&"echo") && bundled.contains(&"audit"), "{bundled:?}");
    // The test plugins are a test build's extra (baton-bundle's `test-fixtures` feature): never
    // first-party, never installed by init.
    let fixtures: Vec<&str> = baton_bundle::FIXTURES.iter().map(|p| p.name).collect();
    assert_eq!(fixtures, ["legacy-echo", "legacy-v0-2", "legacy-v0-3", "music-v0-5", "testkit"]);
    assert!(
        fixtures.iter().all(|f| !bundled.contains(f) && !h.plugins().join(format!("{f}.wasm")).exists()),
        "{bundled:?}"
    );
    for name in bundled.iter().copied() {
        let line = journal
            .iter()
            .find(|l| l["name"] == name)
            .unwrap_or_else(|| panic!("no journal line for {name}: {journal:?}"));
        assert_eq!(line["op"], "installed", "{line}");
        assert_eq!(line["from"], format!("<bundled>/{name}.wasm"), "{line}");
        let sha = line["sha256"].as_str().unwrap();
        let bytes = std::fs::read(h.plugins().join(format!("{name}.wasm"))).unwrap();
        assert_eq!(sha, hex_sha256(&bytes), "the journal records the installed bytes");
        let archived = PathBuf::from(line["archived"].as_str().unwrap());
        assert!(archived.starts_with(h.plugins().join(".archive")), "{line}");
        assert_eq!(std::fs::read(&archived).unwrap(), bytes, "a copy is kept, so a replacement can be undone");
    }
    assert_eq!(journal.len(), bundled.len(), "{journal:?}");
    // The first serve finds their record: nothing is adopted, nothing more is archived.
    h.drop_task("E", "echo", "echo", json!({"x": 1}));
    h.ok(&["serve", "--once"]);
    assert_eq!(h.ret("E")["status"], "completed");
    assert_eq!(lines(&h), journal, "serve journaled nothing new");
    assert_eq!(std::fs::read_dir(h.plugins().join(".archive")).unwrap().count(), bundled.len());
    // A second init changes nothing.
    h.ok(&["init"]);
    assert_eq!(lines(&h), journal);
}

fn hex_sha256(bytes: &[u8]) -> String {
    let out = std::process::Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(bytes)?;
            c.wait_with_output()
        })
        .unwrap();
    String::from_utf8(out.stdout).unwrap().split_whitespace().next().unwrap().to_string()
}

/// `serve --once` loads only the plugins its TASKs name (start-up no longer reads, hashes and
/// describes every installed component), and what it does load behaves as at a full start-up:
/// bytes never installed are adopted (journaled, archived), a broken file is refused and
/// recorded, and the answer for a plugin that is not installed lists every installed one.
#[test]
fn serve_once_loads_only_the_plugins_its_tasks_name() {
    let h = Home::new(&[], TESTKIT_TOML);
    // Dropped in by hand: testkit (never journaled) and a file that is no component at all.
    std::fs::write(h.plugins().join("testkit.wasm"), testkit("0.1.0")).unwrap();
    std::fs::write(h.plugins().join("broken.wasm"), b"not a component").unwrap();
    let adopted = |h: &Home| -> Vec<Value> {
        std::fs::read_to_string(h.plugins().join(".journal.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|l| l["op"] == "adopted")
            .collect()
    };

    h.drop_task("E", "echo", "echo", json!({"x": 1}));
    h.drop_task("NOSUCH", "nosuch", "run", json!({}));
    h.ok(&["serve", "--once"]);
    assert_eq!(h.ret("E")["status"], "completed");
    assert_eq!(h.code("NOSUCH"), "unknown_plugin");
    let why = h.ret("NOSUCH")["error"]["message"].as_str().unwrap().to_string();
    assert!(
        why.contains("no plugin `nosuch` is installed") && why.contains("testkit") && why.contains("broken"),
        "{why}"
    );
    // Neither testkit nor the broken file was touched: nothing adopted, nothing refused.
    assert!(adopted(&h).is_empty(), "{:?}", adopted(&h));
    assert!(h.json(&["status", "--json"])["refused_plugins"].as_array().unwrap().is_empty());

    h.drop_task("TK", "testkit", "ok", json!({}));
    h.drop_task("BROKEN", "broken", "run", json!({}));
    h.ok(&["serve", "--once"]);
    assert_eq!(h.ret("TK")["status"], "completed", "{}", h.ret("TK"));
    assert_eq!(h.ret("TK")["plugin"]["version"], "0.1.0");
    let adopted = adopted(&h);
    assert!(adopted.len() == 1 && adopted[0]["name"] == "testkit", "{adopted:?}");
    assert_eq!(h.code("BROKEN"), "unknown_plugin");
    let why = h.ret("BROKEN")["error"]["message"].as_str().unwrap().to_string();
    assert!(why.contains("refused when baton loaded it") && why.contains("broken.wasm"), "{why}");
    let status = h.json(&["status", "--json"]);
    let refused = status["refused_plugins"].as_array().unwrap();
    assert!(refused.len() == 1 && refused[0]["name"] == "broken", "{status}");
}

/// `~` in a grant is the user's home; `plugin inspect` prints each grant's resolved
/// absolute path; a granted folder that is missing is a warning naming the key and the path,
/// at start-up and in `inspect`; djay's advice names `grants` (the table baton.toml has).
#[test]
fn grants_expand_tilde_and_missing_folders_are_warned_at_start_up_and_in_inspect() {
    let user = tempfile::tempdir().unwrap();
    let music = user.path().join("Music-here");
    std::fs::create_dir(&music).unwrap();
    let h = Home::new(&[], "\n[plugins.djay]\ngrants = { music = \"~/Music-here\", djay = \"~/No-Such-djay\" }\n");
    let out = h.cmd(&["plugin", "inspect", "djay"]).env("HOME", user.path()).output().unwrap();
    let (text, err) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{err}");
    let missing = user.path().join("No-Such-djay");
    assert!(text.contains(&format!("music      {} (read-only)", music.display())), "{text}");
    assert!(text.contains(&format!("djay       {} (read-only)", missing.display())), "{text}");
    let warning = format!("grant `djay` of plugin `djay`: {} does not exist", missing.display());
    assert!(text.contains(&warning) && err.contains(&warning), "{text}\n{err}");
    assert!(!text.contains("`music` of plugin"), "an existing grant is not warned about: {text}");
    let json: Value = serde_json::from_slice(
        &h.cmd(&["plugin", "inspect", "djay", "--json"]).env("HOME", user.path()).output().unwrap().stdout,
    )
    .unwrap();
    let grants = json["grants"].as_array().or_else(|| json[0]["grants"].as_array()).cloned().unwrap_or_default();
    assert!(
        grants.iter().any(|g| g["name"] == "music" && g["path"] == music.to_str().unwrap() && g["exists"] == true),
        "{json}"
    );
    // At start-up: serve checks every granted folder as it loads the plugin.
    h.drop_task("DJ", "djay", "import", json!({}));
    let out = h.cmd(&["serve", "--once"]).env("HOME", user.path()).env("BATON_LOG", "warn").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains(&warning), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(h.code("DJ"), "grant_missing");

    // Without a djay grant, the plugin's advice is the `grants` table.
    let bare = Home::new(&[], "");
    bare.drop_task("DJ2", "djay", "import", json!({}));
    bare.ok(&["serve", "--once"]);
    let r = bare.ret("DJ2");
    let message = r["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("`djay = \"/path/to/folder\"` to [plugins.djay] grants"), "{r}");
    assert!(message.contains("`baton plugin grant djay djay /path/to/folder`"), "{r}");
    // One error code for a grant problem, whoever finds it: the host (above) or a plugin.
    assert_eq!(bare.code("DJ2"), "grant_missing", "{r}");
}

/// One Exportify playlist (pavelkomarov's layout) with two tracks.
fn exportify_csv() -> String {
    "Track URI,Track Name,Album Name,Artist Name(s),Release Date,Duration (ms),Popularity,Explicit,Added By,Added At,Genres,Record Label\n\
     spotify:track:1AAAAAAAAAAAAAAAAAAAAA,Alpha Song,First,Ann Artist,2020-01-01,12000,40,false,spotify:user:me,2021-01-10T10:00:00Z,pop,Label\n\
     spotify:track:2BBBBBBBBBBBBBBBBBBBBB,Beta Song,Second,Bob Band,2020-02-02,12000,41,false,spotify:user:me,2021-02-10T10:00:00Z,,\n"
        .to_string()
}

#[test]
fn first_party_music_plugins_get_their_catalog_grants_built_in_and_an_explicit_catalog_wins() {
    // A fresh home, as `baton init` writes it: the spotify table is only a comment there.
    let user = tempfile::tempdir().unwrap();
    let h = Home::init(&[], "");
    assert!(!std::fs::read_to_string(h.root.join("baton.toml")).unwrap().contains("\n[plugins.spotify]"));
    // Without a folder, the task fails on the folder grant, with the grant message, not on the catalog.
    h.drop_task("SP1", "spotify", "import", json!({}));
    h.ok(&["serve", "--once"]);
    let r = h.ret("SP1");
    let message = r["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("grant `spotify` is missing") && !message.contains("catalog"), "{r}");
    // The fix, both ways: the line for baton.toml and the command that writes it.
    assert!(message.contains("`spotify = \"/path/to/folder\"` to [plugins.spotify] grants in baton.toml"), "{r}");
    assert!(message.contains("or run `baton plugin grant spotify spotify /path/to/folder`"), "{r}");
    assert_eq!(h.code("SP1"), "grant_missing", "{r}");
    // `plugin inspect` shows the default as granted, and says where it comes from.
    let text = String::from_utf8(h.ok(&["plugin", "inspect", "spotify"]).stdout).unwrap();
    assert!(text.contains("built-in default"), "{text}");
    let i = h.json(&["plugin", "inspect", "spotify", "--json"]);
    let access = |i: &Value, name: &str| {
        i["collections"].as_array().unwrap().iter().find(|c| c["name"] == name).map(|c| c["access"].clone())
    };
    assert_eq!(access(&i, "tracks"), Some(json!("read-write")), "{i}");

    // The user grants the folder (nothing else) and the import reaches the catalog.
    let exports = user.path().join("exports");
    std::fs::create_dir(&exports).unwrap();
    std::fs::write(exports.join("road_trip.csv"), exportify_csv()).unwrap();
    h.ok(&["plugin", "grant", "spotify", "spotify", exports.to_str().unwrap()]);
    h.drop_task("SP2", "spotify", "import", json!({}));
    h.ok(&["serve", "--once"]);
    let r = h.ret("SP2");
    assert_eq!(r["status"], "completed", "{r}");
    let tracks = h.json(&["catalog", "show", "tracks", "--json"]);
    let keys: Vec<&str> = tracks["records"].as_array().unwrap().iter().filter_map(|r| r["key"].as_str()).collect();
    assert!(
        keys.contains(&"spotify:track:1AAAAAAAAAAAAAAAAAAAAA")
            && keys.contains(&"spotify:track:2BBBBBBBBBBBBBBBBBBBBB"),
        "{tracks}"
    );

    // A `catalog` the user writes replaces the default whole: read-only tracks cannot import.
    let toml_path = h.root.join("baton.toml");
    let mut toml = std::fs::read_to_string(&toml_path).unwrap();
    toml.push_str("catalog = { read = [\"tracks\"] }\n");
    std::fs::write(&toml_path, toml).unwrap();
    let text = String::from_utf8(h.ok(&["plugin", "inspect", "spotify"]).stdout).unwrap();
    assert!(text.contains("granted in baton.toml") && !text.contains("built-in default"), "{text}");
    assert_eq!(access(&h.json(&["plugin", "inspect", "spotify", "--json"]), "tracks"), Some(json!("read-only")));
    h.drop_task("SP3", "spotify", "import", json!({}));
    h.ok(&["serve", "--once"]);
    let r = h.ret("SP3");
    assert_eq!(r["status"], "failed", "{r}");
    let message = r["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("denied") && message.contains("`spotify` may not"), "{r}");
    // The fix is the host's, said once: the SDK passes the refusal on without adding its own.
    let fix = "(grant it in baton.toml: [plugins.spotify] catalog = { ";
    assert_eq!(message.matches(fix).count(), 1, "the fix, once: {message}");
    assert_eq!(message.matches("grant it").count(), 1, "no second fix: {message}");
    assert_eq!(message.matches("[plugins.spotify]").count(), 1, "no second fix: {message}");
}

#[test]
fn plugin_grant_edits_baton_toml_keeping_comments_with_a_backup_and_refuses_what_load_refuses() {
    let user = tempfile::tempdir().unwrap();
    let h = Home::init(&[], "");
    let toml_path = h.root.join("baton.toml");
    let bak = h.root.join("baton.toml.bak");
    let orig = std::fs::read_to_string(&toml_path).unwrap();
    let grant =
        |args: &[&str]| h.cmd(&[&["plugin", "grant"][..], args].concat()).env("HOME", user.path()).output().unwrap();

    // --dry-run: the diff, nothing written.
    let out = grant(&["djay", "djay", "~/Music/djay", "--dry-run"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let diff = String::from_utf8_lossy(&out.stdout);
    assert!(diff.contains("+[plugins.djay]") && diff.contains("+grants = { djay = \"~/Music/djay\" }"), "{diff}");
    assert_eq!(std::fs::read_to_string(&toml_path).unwrap(), orig);
    assert!(!bak.exists());

    // Into an existing inline table (audit's), then a new table, writable, as JSON.
    let out = grant(&["audit", "repos", "/srv/app"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(&bak).unwrap(), orig, "the previous file is kept");
    let out = grant(&["spotify", "music", "~/Music", "--writable", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((v["changed"].as_bool(), v["writable"].as_bool()), (Some(true), Some(true)), "{v}");
    assert_eq!(v["resolved"], user.path().join("Music").to_str().unwrap(), "{v}");
    let text = std::fs::read_to_string(&toml_path).unwrap();
    for line in orig.lines().filter(|l| l.trim_start().starts_with('#')) {
        assert!(text.contains(line), "comment lost: {line}");
    }
    assert!(
        text.contains(
            r#"grants = { plans = "plans", reports = { path = "reports", writable = true }, repos = "/srv/app" }"#
        ),
        "{text}"
    );
    assert!(text.contains("[plugins.spotify]\ngrants = { music = { path = \"~/Music\", writable = true } }"), "{text}");
    // baton reads the result as the user meant it.
    let out = h.cmd(&["plugin", "inspect", "spotify", "--json"]).env("HOME", user.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let inspect: Value = serde_json::from_slice(&out.stdout).unwrap();
    let grants = inspect["grants"].as_array().or_else(|| inspect[0]["grants"].as_array()).cloned().unwrap_or_default();
    assert!(
        grants.iter().any(|g| g["name"] == "music" && g["path"] == user.path().join("Music").to_str().unwrap()),
        "{inspect}"
    );
    // The same grant again changes nothing.
    let out = grant(&["spotify", "music", "~/Music", "--writable", "--json"]);
    assert_eq!(serde_json::from_slice::<Value>(&out.stdout).unwrap()["changed"], false);

    // Refused, the file untouched: a grant inside the home's state/, and one nesting in a
    // writable grant of the same plugin.
    let before = std::fs::read(&toml_path).unwrap();
    let before_bak = std::fs::read(&bak).unwrap();
    for (args, says) in [
        (&["spotify", "cache", "state/x", "--writable"][..], "state folder"),
        (&["spotify", "spotify", "~/Music/exports"][..], "nest"),
    ] {
        let out = grant(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?} was not refused");
        assert!(err.contains(says) && err.contains("baton.toml") && err.contains("unchanged"), "{args:?}: {err}");
        assert_eq!(std::fs::read(&toml_path).unwrap(), before, "{args:?} changed baton.toml");
        assert_eq!(std::fs::read(&bak).unwrap(), before_bak, "{args:?} changed the backup");
    }
    let leftovers: Vec<_> = std::fs::read_dir(&h.root)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".baton.toml"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");

    // A baton.toml kept elsewhere behind a symlink stays a symlink; the file it points to is edited.
    let kept = user.path().join("dotfiles-baton.toml");
    std::fs::rename(&toml_path, &kept).unwrap();
    std::os::unix::fs::symlink(&kept, &toml_path).unwrap();
    let out = grant(&["djay", "djay", "~/Music/djay"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("inside the writable grant `music` of plugin `spotify`"), "{err}");
    let out = grant(&["djay", "djay", "~/djay-library"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::symlink_metadata(&toml_path).unwrap().file_type().is_symlink());
    assert!(std::fs::read_to_string(&kept).unwrap().contains("[plugins.djay]\ngrants = { djay = \"~/djay-library\" }"));
    assert_eq!(std::fs::read(user.path().join("dotfiles-baton.toml.bak")).unwrap(), before);
}

/// A new plugin copied into `plugins/` by hand while `serve` runs is loaded once the
/// copy is complete (a half-written copy fails to load and is looked at again when it
/// changes), adopted like at start-up (journaled, archived). A name that was installed before
/// still loads only what `baton plugin install` put in place: a hand copy never replaces it (see
/// `a_running_host_hot_reloads_and_tasks_in_flight_finish_on_the_old_version`).
#[test]
fn a_new_plugin_copied_in_by_hand_is_loaded_once_the_copy_is_complete() {
    let h = Home::new(&[], TESTKIT_TOML);
    let _serve = h.serve();
    // The serve is up once echo answers.
    h.drop_task("UP", "echo", "echo", json!({}));
    assert_eq!(h.wait_for_return("UP", Duration::from_secs(20))["status"], "completed");

    let bytes = testkit("0.1.0");
    let target = h.plugins().join("testkit.wasm");
    let (head, tail) = bytes.split_at(bytes.len() / 2);
    std::fs::write(&target, head).unwrap();
    // Long enough for a pass to see (and refuse) the half-written file.
    std::thread::sleep(Duration::from_millis(1500));
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(&target).unwrap();
        f.write_all(tail).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut n = 0;
    let done = loop {
        n += 1;
        let id = format!("COPIED{n}");
        h.drop_task(&id, "testkit", "ok", json!({}));
        let r = h.wait_for_return(&id, Duration::from_secs(60));
        if r["status"] == "completed" {
            break r;
        }
        assert_eq!(r["error"]["code"], "unknown_plugin", "only `not loaded yet` may come first: {r}");
        assert!(Instant::now() < deadline, "the copied plugin was never loaded: {r}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(done["plugin"]["version"], "0.1.0", "{done}");
    let journal = std::fs::read_to_string(h.plugins().join(".journal.jsonl")).unwrap();
    let adopted: Vec<Value> = journal
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l["name"] == "testkit" && l["op"] == "adopted")
        .collect();
    assert_eq!(adopted.len(), 1, "{journal}");
    assert!(PathBuf::from(adopted[0]["kept_at"].as_str().unwrap()).is_file(), "a copy is archived: {journal}");
}

/// `baton cache`: the compiled-plugin cache shows each entry with the installed plugin it
/// belongs to, and `prune` deletes what no plugin of the home uses (another engine's entries;
/// unused ones after `--unused-for` days), listing first with `--dry-run`, never the entries of
/// installed plugins.
#[test]
fn the_cache_shows_its_entries_and_prunes_only_what_no_installed_plugin_uses() {
    let h = Home::init_own_cache(&[], "");
    let dir = h.cache_root().join("baton");
    let shown = h.json(&["cache", "show", "--json"]);
    let entries = shown["entries"].as_array().unwrap().clone();
    assert!(!entries.is_empty(), "init compiles the bundled plugins: {shown}");
    assert!(entries.iter().all(|e| e["this_engine"] == true && e["plugin"].is_string()), "{shown}");
    assert!(entries.iter().any(|e| e["plugin"] == "echo"), "{shown}");
    // Two entries nothing uses: one of another engine, one of a component no longer installed,
    // last used 30 days ago.
    let tag = entries[0]["path"].as_str().unwrap().rsplit_once('-').unwrap().1.trim_end_matches(".cwasm").to_string();
    let other_engine = dir.join(format!("{}-0000000000000000.cwasm", "a".repeat(64)));
    let unused = dir.join(format!("{}-{tag}.cwasm", "b".repeat(64)));
    for f in [&other_engine, &unused] {
        std::fs::write(f, b"compiled code").unwrap();
        let old = SystemTime::now() - Duration::from_secs(30 * 86_400);
        let times = std::fs::FileTimes::new().set_accessed(old).set_modified(old);
        std::fs::File::options().append(true).open(f).unwrap().set_times(times).unwrap();
    }
    let dry = h.json(&["cache", "prune", "--dry-run", "--json"]);
    let listed: Vec<&str> = dry["entries"].as_array().unwrap().iter().map(|e| e["path"].as_str().unwrap()).collect();
    assert_eq!(listed.len(), 2, "{dry}");
    assert!(listed.contains(&other_engine.to_str().unwrap()) && listed.contains(&unused.to_str().unwrap()), "{dry}");
    assert!(other_engine.exists() && unused.exists(), "a dry run deletes nothing");
    // Used within the last 60 days: only the other engine's entry goes.
    let kept = h.json(&["cache", "prune", "--unused-for", "60", "--json"]);
    assert_eq!(kept["entries"].as_array().unwrap().len(), 1, "{kept}");
    assert!(!other_engine.exists() && unused.exists());
    let pruned = h.json(&["cache", "prune", "--json"]);
    assert_eq!(pruned["entries"].as_array().unwrap().len(), 1, "{pruned}");
    assert!(!unused.exists());
    let after = h.json(&["cache", "show", "--json"]);
    assert_eq!(
        after["entries"].as_array().unwrap().len(),
        entries.len(),
        "the installed plugins' entries stay: {after}"
    );
    // A plugin whose entry was pruned with --all compiles again when it next runs.
    h.ok(&["cache", "prune", "--all"]);
    assert_eq!(h.json(&["cache", "show", "--json"])["entries"].as_array().unwrap().len(), 0);
    let out = h.ok(&["call", "echo", "echo", "--param", "k=v"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("completed"), "{}", String::from_utf8_lossy(&out.stdout));
}
