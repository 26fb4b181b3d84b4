//! End-to-end tests of `baton:plugin/sqlite` with the real `baton` binary and the real testkit
//! component: a plugin reads a granted WAL-mode database (with writes still in its `-wal`) page
//! by page from a snapshot; a path outside its grants and `ATTACH` are denied; the original's
//! bytes and mtimes are unchanged and no copy is left behind.
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::support;
use support::Home;

fn home() -> Home {
    home_with(&[])
}

fn home_with(settings: &[(&str, &str)]) -> Home {
    let mut all = vec![("pause_after", "100"), ("max_attempts", "1")];
    all.extend_from_slice(settings);
    let h = Home::init(&all, "\n[plugins.testkit]\ngrants = { data = \"data\" }\ntime_ms = 20000\n");
    std::fs::create_dir_all(h.root.join("data")).unwrap();
    let wasm = h.root.parent().unwrap().join("testkit.wasm");
    std::fs::write(&wasm, baton_bundle::get("testkit").expect("testkit is bundled").wasm).unwrap();
    h.ok(&["plugin", "install", wasm.to_str().unwrap()]);
    h
}

fn drop_task(h: &Home, id: &str, params: Value) {
    let body = json!({"schema": "baton.handoff/v1", "id": id, "kind": "task", "created_at": "2026-01-18T07:09:51Z",
                      "from": "Tester-Agent", "title": id, "plugin": "testkit", "action": "sqlite", "params": params});
    h.drop_file(format!("20260118T070951Z__TASK__{id}__Tester-Agent.json"), body.to_string());
}

fn ret(h: &Home, id: &str) -> Value {
    let all = h.returns("Tester-Agent");
    let r = all.get(id).unwrap_or_else(|| panic!("no RETURN for {id}; have {:?}", all.keys().collect::<Vec<_>>()));
    r[0].clone()
}

/// Bytes and mtime of a database's three files (`None` for one that is not there).
fn files(db: &Path) -> Vec<Option<(Vec<u8>, i64, i64)>> {
    ["", "-wal", "-shm"]
        .iter()
        .map(|s| {
            let mut p = db.as_os_str().to_owned();
            p.push(s);
            let p = PathBuf::from(p);
            let m = std::fs::metadata(&p).ok()?;
            Some((std::fs::read(&p).unwrap(), m.mtime(), m.mtime_nsec()))
        })
        .collect()
}

#[test]
fn a_plugin_reads_a_granted_wal_database_page_by_page_and_nothing_else() {
    let h = home();
    let db = h.root.join("data/MediaLibrary.db");
    // Another program has the library open in WAL mode; its last writes are not checkpointed.
    let writer = baton_store::sqlite::open_wal(&db, "NORMAL").unwrap();
    writer
        .execute_batch("PRAGMA wal_autocheckpoint = 0; CREATE TABLE titles(id INTEGER PRIMARY KEY, title TEXT);")
        .unwrap();
    writer.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
    let mut insert = String::from("BEGIN;");
    for i in 1..=25 {
        insert.push_str(&format!("INSERT INTO titles(title) VALUES ('Track {i}');"));
    }
    insert.push_str("COMMIT;");
    writer.execute_batch(&insert).unwrap();
    assert!(std::fs::metadata(h.root.join("data/MediaLibrary.db-wal")).unwrap().len() > 0, "the rows are in the -wal");
    let outside = h.root.join("outside.db");
    baton_store::sqlite::open_wal(&outside, "NORMAL")
        .unwrap()
        .execute_batch("CREATE TABLE secret(x); INSERT INTO secret VALUES (42);")
        .unwrap();
    std::os::unix::fs::symlink(&outside, h.root.join("data/escape.db")).unwrap();
    let before = files(&db);

    let page = json!({"path": "/data/MediaLibrary.db", "sql": "SELECT id, title FROM titles WHERE id > ?1 ORDER BY id", "args": [0], "page": 10, "keyset": true});
    drop_task(&h, "PAGES", page);
    // A plugin that never drops its snapshot: the copy goes with the task.
    drop_task(&h, "LEAK", json!({"path": "/data/MediaLibrary.db", "sql": "SELECT count(*) FROM titles", "leak": true}));
    drop_task(&h, "DOTDOT", json!({"path": "/data/../outside.db", "sql": "SELECT x FROM secret"}));
    drop_task(&h, "SYMLINK", json!({"path": "/data/escape.db", "sql": "SELECT x FROM secret"}));
    drop_task(
        &h,
        "ATTACH",
        json!({"path": "/data/MediaLibrary.db", "sql": format!("ATTACH DATABASE '{}' AS o", outside.display())}),
    );
    drop_task(&h, "WRITE", json!({"path": "/data/MediaLibrary.db", "sql": "DELETE FROM titles"}));
    h.ok(&["serve", "--once"]);

    let r = ret(&h, "PAGES");
    assert_eq!(r["status"], "completed", "{r}");
    let rows = r["result"]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 25, "every row, including those only in the -wal: {r}");
    assert_eq!(rows[24], json!([25, "Track 25"]));
    assert_eq!(r["result"]["columns"], json!(["id", "title"]));
    assert_eq!(r["result"]["pages"], 3, "10 + 10 + 5 rows");
    let r = ret(&h, "LEAK");
    assert_eq!((r["status"].as_str(), &r["result"]["rows"]), (Some("completed"), &json!([[25]])), "{r}");
    for (id, word) in [("DOTDOT", ""), ("SYMLINK", ""), ("ATTACH", "ATTACH"), ("WRITE", "DELETE")] {
        let r = ret(&h, id);
        assert_eq!(r["status"], "failed", "{id}: {r}");
        let m = r["error"]["message"].as_str().unwrap();
        assert!(m.starts_with("denied: ") && m.contains(word), "{id}: {m}");
        assert!(!m.contains(h.root.to_str().unwrap()) || id == "ATTACH", "{id}: a host path reached the plugin: {m}");
    }
    assert_eq!(before, files(&db), "the original's bytes or mtimes changed");
    assert_eq!(writer.query_row("SELECT count(*) FROM titles", [], |r| r.get::<_, i64>(0)).unwrap(), 25);
    // Every copy is gone once its task ended, the leaked one too.
    let copies = h.cache_root().join("baton/sqlite");
    let left: Vec<_> = std::fs::read_dir(&copies).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "snapshot copies left behind: {left:?}");
}

#[test]
fn the_copy_limit_is_set_in_baton_toml_and_named_when_reached() {
    let h = home_with(&[("copy_mb", "0")]);
    let db = h.root.join("data/small.db");
    baton_store::sqlite::open_wal(&db, "NORMAL")
        .unwrap()
        .execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1);")
        .unwrap();
    drop_task(&h, "BIG", json!({"path": "/data/small.db", "sql": "SELECT x FROM t"}));
    h.ok(&["serve", "--once"]);
    let r = ret(&h, "BIG");
    let m = r["error"]["message"].as_str().unwrap_or_default();
    assert!(r["status"] == "failed" && m.starts_with("io: /data/small.db") && m.contains("copy_mb"), "{r}");
}
