//! A hostile plugin against the host interfaces of `baton:plugin@0.4.0` (plugins written
//! to break the sandbox): `plugins/testkit`'s `hostile_v04` actions attack the
//! `sqlite` snapshots, the `catalog`, `host-path`/`guest-path` and `settings` through the real
//! `baton` binary on temporary folders. Each test asserts the containment from outside: the
//! error kind in the RETURN, the other tasks of the same drain completing, the host's peak RSS
//! bounded, and files outside the grants untouched.
use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support;
use support::Home;

/// Host peak RSS allowed in every hostile test (as `tests/sandbox.rs`).
const MAX_PEAK_RSS_KB: u64 = 600 << 10;

fn home(toml: &str) -> Home {
    let h = Home::init(&[("pause_after", "100"), ("max_attempts", "1")], toml);
    std::fs::create_dir_all(h.root.join("data")).unwrap();
    std::fs::create_dir_all(h.root.join("out")).unwrap();
    let src = h.root.parent().unwrap().join("testkit-under-test.wasm");
    std::fs::write(&src, baton_bundle::get("testkit").expect("testkit is bundled").wasm).unwrap();
    h.ok(&["plugin", "install", src.to_str().unwrap(), "--json", "--yes"]);
    h
}

fn drop_task(h: &Home, id: &str, plugin: &str, action: &str, params: Value) {
    let body = json!({"schema": "baton.handoff/v1", "id": id, "kind": "task", "created_at": "2026-01-18T07:09:51Z",
                      "from": "Tester-Agent", "title": format!("{plugin} {action} {id}"), "plugin": plugin,
                      "action": action, "params": params});
    h.drop_file(format!("20260118T070951Z__TASK__{id}__Tester-Agent.json"), body.to_string());
}

fn drop_bystanders(h: &Home, n: usize) {
    for i in 0..n {
        drop_task(h, &format!("ECHO{i}"), "echo", "echo", json!({"i": i}));
    }
}

/// Runs `baton serve --once`, polling its peak RSS; returns the RETURNs by task id and the peak.
fn drain(h: &Home, limit: Duration) -> (HashMap<String, Value>, u64) {
    let started = Instant::now();
    let mut child = h.cmd(&["serve", "--once"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let peak = support::wait_measuring_peak_rss(&mut child, started, limit);
    let returns = h.returns("Tester-Agent").into_iter().map(|(id, mut v)| (id, v.remove(0))).collect();
    (returns, peak)
}

fn check_bounded(returns: &HashMap<String, Value>, peak: u64, bystanders: usize) {
    for i in 0..bystanders {
        let r = &returns[&format!("ECHO{i}")];
        assert_eq!(r["status"], "completed", "{r}");
    }
    assert!(peak > 0, "peak RSS was measured");
    assert!(peak < MAX_PEAK_RSS_KB, "host peak RSS {} MB", peak >> 10);
}

fn make_db(path: &std::path::Path) {
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT); INSERT INTO t(name) VALUES ('a'), ('b');")
        .unwrap();
}

fn kind(v: &Value) -> &str {
    v["error"]["kind"].as_str().unwrap_or_else(|| panic!("expected an error: {v}"))
}

const SQL_TOML: &str = r#"
[plugins.testkit]
grants = { data = "data", out = { path = "out", writable = true } }
time_ms = 3000
memory_mb = 64
"#;

/// Every hostile statement is refused (or fails within the limits), an endless query ends the
/// task `timeout`, and nothing outside the grant is written.
#[test]
fn sqlite_statements_are_refused_or_bounded() {
    let h = home(SQL_TOML);
    make_db(&h.root.join("data/lib.db"));
    let outside = h.root.join("vacuumed.db");
    let written = h.root.join("written.txt");
    let queries = [
        format!("VACUUM INTO '{}'", outside.display()),
        "PRAGMA writable_schema=1".into(),
        "PRAGMA journal_mode=DELETE".into(),
        "SELECT load_extension('/usr/lib/x86_64-linux-gnu/libm.so.6')".into(),
        "SELECT fts3_tokenizer('simple')".into(),
        "SELECT readfile('/etc/passwd')".into(),
        format!("SELECT writefile('{}', 'x')", written.display()),
        "SELECT zeroblob(2000000000)".into(),
        "SELECT length(randomblob(1000000000))".into(),
        "SELECT length(printf('%.*c', 1000000000, 'x'))".into(),
        "SELECT randomblob(10000000), randomblob(10000000), randomblob(10000000)".into(),
        "DELETE FROM t".into(),
        "CREATE TABLE x(a)".into(),
        "BEGIN".into(),
        "SELECT count(*) FROM t".into(),
    ];
    drop_task(
        &h,
        "SQL",
        "testkit",
        "sql-attack",
        json!({"path": "/data/lib.db", "queries": queries, "built": ["attach", "attach-memory"]}),
    );
    let endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c";
    drop_task(&h, "ENDLESS", "testkit", "sql-attack", json!({"path": "/data/lib.db", "queries": [endless]}));
    // An endless CTE feeding an aggregate that outgrows SQLITE_LIMIT_LENGTH: SQLite notes the
    // overflow but reports it only at the end, so this too stops at the deadline, within memory.
    let growing = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT length(group_concat(printf('%.1000c', 'x'))) FROM c";
    drop_task(&h, "GROWING", "testkit", "sql-attack", json!({"path": "/data/lib.db", "queries": [growing]}));
    drop_bystanders(&h, 3);
    let (returns, peak) = drain(&h, Duration::from_secs(60));
    check_bounded(&returns, peak, 3);

    let r = &returns["SQL"];
    assert_eq!(r["status"], "completed", "{r}");
    let results = r["result"]["results"].as_array().unwrap();
    assert_eq!(results.len(), queries.len() + 2, "{r}");
    let by: HashMap<&str, &Value> =
        queries.iter().map(String::as_str).chain(["attach", "attach-memory"]).zip(results).collect();
    for (q, v) in &by {
        if *q == "SELECT count(*) FROM t" {
            assert_eq!(v["ok"]["rows"], 1, "{q}: {v}");
        } else if q.contains("printf") {
            // SQLite's printf() stops at SQLITE_LIMIT_LENGTH: bounded, with or without an error.
            assert!(v["ok"]["rows"] == 1 || kind(v) == "invalid", "{q}: {v}");
        } else if q.starts_with("SELECT zeroblob") || q.contains("randomblob") {
            // Over SQLITE_LIMIT_LENGTH (or over what one call returns): refused, not allocated.
            assert_eq!(kind(v), "invalid", "{q}: {v}");
            assert!(
                v["error"]["message"].as_str().unwrap().contains("too big")
                    || v["error"]["message"].as_str().unwrap().contains("bytes"),
                "{q}: {v}"
            );
        } else if q.contains("readfile") || q.contains("writefile") {
            // Not in this build: no such function. Denied by name if it were.
            assert!(["denied", "invalid"].contains(&kind(v)), "{q}: {v}");
        } else {
            assert_eq!(kind(v), "denied", "{q}: {v}");
        }
    }
    assert!(!outside.exists(), "VACUUM INTO wrote outside the grant");
    assert!(!written.exists(), "writefile wrote outside the grant");
    // The original is unchanged (still two rows, no table x).
    let c = rusqlite::Connection::open(h.root.join("data/lib.db")).unwrap();
    assert_eq!(c.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0)).unwrap(), 2);
    assert_eq!(
        c.query_row("SELECT count(*) FROM sqlite_master WHERE name = 'x'", [], |r| r.get::<_, i64>(0)).unwrap(),
        0
    );

    for id in ["ENDLESS", "GROWING"] {
        let e = &returns[id];
        assert_eq!(e["status"], "failed", "{e}");
        assert_eq!(e["error"]["code"], "timeout", "{e}");
    }
}

/// Opening what is not a plain database inside the grant: refused with a clear kind, never a
/// hang (a FIFO) and never a read outside the grant (symlinks, `..`, a `-wal` symlink).
#[test]
fn sqlite_opens_of_hostile_files() {
    let h = home(SQL_TOML);
    let data = h.root.join("data");
    make_db(&data.join("lib.db"));
    make_db(&h.root.join("secret.db"));
    let fifo = data.join("fifo.db");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    std::os::unix::fs::symlink(h.root.join("secret.db"), data.join("out.db")).unwrap();
    std::fs::write(data.join("empty.db"), b"").unwrap();
    std::fs::write(data.join("text.db"), "not a database at all, just some text that is long enough".repeat(100))
        .unwrap();
    std::fs::create_dir(data.join("dir.db")).unwrap();
    make_db(&data.join("w.db"));
    std::os::unix::fs::symlink("/etc/passwd", data.join("w.db-wal")).unwrap();
    let cases = [
        ("FIFO", "/data/fifo.db"),
        ("LINKOUT", "/data/out.db"),
        ("EMPTY", "/data/empty.db"),
        ("TEXT", "/data/text.db"),
        ("DIR", "/data/dir.db"),
        ("WAL", "/data/w.db"),
        ("DOTDOT", "/data/../secret.db"),
        ("ESCAPE", "/data/../../../../etc/passwd"),
        ("PROC", "/proc/self/root/etc/passwd"),
        ("NUL", "/data/lib.db\0x"),
    ];
    for (id, path) in cases {
        drop_task(
            &h,
            id,
            "testkit",
            "sql-attack",
            json!({"path": path, "queries": ["SELECT count(*) FROM sqlite_master"]}),
        );
    }
    drop_task(&h, "MANY", "testkit", "sql-open-many", json!({"path": "/data/lib.db", "count": 100}));
    drop_task(&h, "MANYDROP", "testkit", "sql-open-many", json!({"path": "/data/lib.db", "count": 40, "drop": true}));
    drop_bystanders(&h, 3);
    let (returns, peak) = drain(&h, Duration::from_secs(60));
    check_bounded(&returns, peak, 3);
    let open = |id: &str| {
        let r = &returns[id];
        assert_eq!(r["status"], "completed", "{id}: {r}");
        r["result"]["open"].clone()
    };
    assert_eq!(kind(&open("FIFO")), "invalid", "a FIFO is not a regular file");
    assert_eq!(kind(&open("LINKOUT")), "denied");
    // A 0-byte file is an empty database to SQLite: by design it opens, with no tables.
    assert_eq!(open("EMPTY")["ok"], true);
    assert_eq!(returns["EMPTY"]["result"]["results"][0]["ok"]["rows"], 1);
    assert_eq!(kind(&open("TEXT")), "invalid");
    assert_eq!(kind(&open("DIR")), "invalid");
    assert_eq!(kind(&open("WAL")), "denied", "a -wal symlink leading out is refused");
    for id in ["DOTDOT", "ESCAPE", "PROC", "NUL"] {
        assert!(["denied", "invalid", "io"].contains(&kind(&open(id))), "{id}: {}", returns[id]);
    }
    // At most 4 snapshots held at once; dropped ones free their slot; leaked ones go with the task.
    let many = &returns["MANY"]["result"];
    assert_eq!(many["opened"], 4, "{many}");
    assert!(many["first_error"]["error"]["message"].as_str().unwrap().contains("at most 4"), "{many}");
    assert_eq!(returns["MANYDROP"]["result"]["opened"], 40, "{}", returns["MANYDROP"]);
}

const CAT_TOML: &str = r#"
[plugins.testkit]
grants = { data = "data", out = { path = "out", writable = true } }
catalog = { read = ["files"], write = ["tracks", "artists"] }
catalog_quota = { rows = 5000 }
time_ms = 20000
memory_mb = 128
[plugins.testkit.settings]
market = "DE"

[plugins.other]
grants = { data = "data" }
[plugins.other.settings]
token = "s3cret-of-other"
"#;

/// Floods, huge arguments and forged names against the catalog: each call is refused with a
/// kind, the plugin's rows stay within its quota, and the other tasks of the drain complete.
#[test]
fn catalog_floods_and_forgeries_are_contained() {
    let h = home(CAT_TOML);
    drop_task(&h, "FLOOD1", "testkit", "cat-flood", json!({"collection": "tracks", "count": 1_000_000}));
    drop_task(&h, "FLOOD2", "testkit", "cat-flood", json!({"collection": "tracks", "count": 1_000_000, "batch": 1000}));
    drop_task(&h, "BIGKEY", "testkit", "cat-big", json!({"collection": "tracks", "what": "key"}));
    drop_task(&h, "BIGUPKEY", "testkit", "cat-big", json!({"collection": "tracks", "what": "upsert-key"}));
    drop_task(&h, "FILTER", "testkit", "cat-big", json!({"collection": "tracks", "what": "filter", "size": 10_000}));
    drop_task(&h, "CURSOR", "testkit", "cat-big", json!({"collection": "tracks", "what": "cursor"}));
    drop_task(&h, "PROP", "testkit", "cat-big", json!({"collection": "tracks", "what": "property"}));
    drop_task(&h, "RESOLVE", "testkit", "resolve-flood", json!({"count": 6000}));
    let calls = json!([
        {"op": "ensure", "collection": "djay.x", "properties": []},
        {"op": "ensure", "collection": "handoffs", "properties": []},
        {"op": "ensure", "collection": "tracks", "properties": [{"id": "../x"}]},
        {"op": "ensure", "collection": "tracks", "properties": [{"id": "testkit.a\u{0}b"}]},
        {"op": "ensure", "collection": "tracks", "properties": [{"id": "testkit.x\u{202e}"}]},
        {"op": "ensure", "collection": "tracks", "properties": [{"id": "djay.stolen"}]},
        {"op": "ensure", "collection": "tracks", "properties": [{"id": "testkit.rel", "kind": "relation", "target": "handoffs"}]},
        {"op": "upsert", "collection": "files", "records": [{"key": "/data/a.wav", "props": {"title": "x"}}]},
        {"op": "upsert", "collection": "handoffs", "records": [{"key": "h1"}]},
        {"op": "query", "collection": "handoffs", "filter": ""},
        {"op": "query", "collection": "tracks", "filter": "", "cursor": "' OR 1=1 --"},
        {"op": "query", "collection": "tracks", "filter": "", "cursor": "files:/etc/passwd"},
        {"op": "query", "collection": "tracks", "filter": "title~%_[.*\\(?"},
        {"op": "query", "collection": "tracks", "filter": "duration_ms>1e400"},
        {"op": "changes", "since": u64::MAX, "limit": u32::MAX, "seqs": true},
    ]);
    drop_task(&h, "CAT", "testkit", "catalog", json!({"calls": calls}));
    drop_bystanders(&h, 3);
    let (returns, peak) = drain(&h, Duration::from_secs(120));
    check_bounded(&returns, peak, 3);
    let res = |id: &str| {
        let r = &returns[id];
        assert_eq!(r["status"], "completed", "{id}: {r}");
        r["result"].clone()
    };
    // One call of 1,000,000 records is over the per-call size cap; many calls hit the quota.
    let f1 = res("FLOOD1");
    assert_eq!(kind(&f1["error"]), "invalid", "{f1}");
    let f2 = res("FLOOD2");
    assert_eq!(kind(&f2["error"]), "quota", "{f2}");
    assert!(f2["written"].as_u64().unwrap() <= 5000, "{f2}");
    // A 1 MB key or property id is refused; looking one up finds nothing.
    for id in ["BIGUPKEY", "PROP"] {
        assert_eq!(kind(&res(id)["outcome"]), "invalid", "{id}: {}", returns[id]);
    }
    assert_eq!(res("BIGKEY")["outcome"]["ok"], true);
    // A cursor is a position in the collection's key order (keyset paging), never SQL: a
    // forged one only starts the page elsewhere in the same collection.
    assert!(res("CURSOR")["outcome"]["ok"].is_number(), "{}", returns["CURSOR"]);
    let f = res("FILTER")["outcome"].clone();
    assert!(f["ok"].is_number() || kind(&f) == "invalid", "{f}");
    // Thousands of resolve-track calls end at the quota, or at the task's time when they run
    // before the flood has used the quota up.
    let r = &returns["RESOLVE"];
    match r["status"].as_str() {
        Some("completed") => assert!(r["result"]["error"].is_null() || kind(&r["result"]["error"]) == "quota", "{r}"),
        _ => assert_eq!(r["error"]["code"], "timeout", "{r}"),
    }
    let c = res("CAT");
    let results = c["results"].as_array().unwrap();
    let expect =
        ["invalid", "invalid", "invalid", "invalid", "invalid", "denied", "invalid", "denied", "denied", "denied"];
    for (i, k) in expect.iter().enumerate() {
        assert_eq!(kind(&results[i]), *k, "call {i}: {}", results[i]);
    }
    for i in [10, 11] {
        let records = results[i]["ok"]["records"].as_array().unwrap_or_else(|| panic!("{}", results[i]));
        assert!(
            records.iter().all(|r| r["key"].as_str().unwrap().starts_with(['f', 'r'])),
            "only tracks: {}",
            results[i]
        );
    }
    assert!(results[12]["ok"].is_object(), "regex metacharacters are plain text: {}", results[12]);
    assert!(results[13]["ok"].is_object() || kind(&results[13]) == "invalid", "{}", results[13]);
    assert_eq!(results[14]["ok"], json!([]), "{}", results[14]);
    // The plugin's rows stay within its quota, whatever ran at once.
    let cat = rusqlite::Connection::open(h.root.join("state/baton.sqlite")).unwrap();
    let n: i64 =
        cat.query_row("SELECT count(*) FROM cat_records WHERE collection = 'tracks'", [], |r| r.get(0)).unwrap();
    assert!(n > 0 && n <= 5000, "{n} rows");
}

/// `host-path`/`guest-path` never map a path out of the grants (`..`, symlinks, `/proc`, NULs,
/// 1 MB paths answered at once), and `settings` are the plugin's own only.
#[test]
fn paths_and_settings_stay_inside() {
    let h = home(CAT_TOML);
    let data = h.root.join("data");
    std::os::unix::fs::symlink("/etc", data.join("link")).unwrap();
    std::fs::write(data.join("in.txt"), b"x").unwrap();
    let long = format!("/data/{}", "a/".repeat(100_000));
    let host_long = format!("{}/{}", data.display(), "a/".repeat(100_000));
    let hosts = json!([
        "/etc/passwd",
        format!("{}/../../etc/passwd", data.display()),
        format!("{}/link/passwd", data.display()),
        host_long,
        format!("{}/in.txt", data.display())
    ]);
    let guests = json!([
        "/data/../../etc/passwd",
        "/data/link/passwd",
        "/proc/self/root/etc/passwd",
        long,
        "/data/in.txt\u{0}/../../etc",
        "/data/in.txt"
    ]);
    drop_task(&h, "PATHS", "testkit", "paths", json!({"host": hosts, "guest": guests}));
    drop_task(&h, "SETTINGS", "testkit", "settings", json!({}));
    drop_bystanders(&h, 2);
    let started = Instant::now();
    let (returns, peak) = drain(&h, Duration::from_secs(60));
    check_bounded(&returns, peak, 2);
    assert!(started.elapsed() < Duration::from_secs(30), "{:?}", started.elapsed());
    let p = &returns["PATHS"];
    assert_eq!(p["status"], "completed", "{p}");
    let guest_of = p["result"]["guest_of"].as_object().unwrap();
    let host_of = p["result"]["host_of"].as_object().unwrap();
    for (k, v) in guest_of {
        if k.ends_with("/in.txt") {
            assert_eq!(v, "/data/in.txt");
        } else {
            assert!(v.is_null(), "{} → {v}", &k[..k.len().min(80)]);
        }
    }
    for (k, v) in host_of {
        if k == "/data/in.txt" {
            assert_eq!(v.as_str().unwrap(), data.join("in.txt").to_str().unwrap());
        } else {
            assert!(v.is_null(), "{} → {v}", &k[..k.len().min(80)]);
        }
    }
    assert_eq!(guest_of.len(), 5);
    assert_eq!(host_of.len(), 6);
    let s = &returns["SETTINGS"];
    assert_eq!(s["result"]["settings"], json!({"market": "DE"}), "{s}");
    assert!(!s.to_string().contains("s3cret"), "{s}");
}
