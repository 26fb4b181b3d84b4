//! Moving to PostgreSQL, end to end with the real binary and a real server: `baton migrate`
//! copies a SQLite state that a real `serve` wrote (with a catalog imported by `baton catalog
//! import`) onto an empty database, refuses while a serve runs and into a database that holds
//! data, and the copy works as a state afterwards (the change log's and the events' numbers
//! continue). And TLS: a server with `ssl=on` and a certificate for `localhost` signed by a CA
//! made here (the `openssl` command, installed by `./x setup`) serves a TASK through
//! `sslmode=verify-full&sslrootcert=CA`, while a wrong CA or a wrong host name is refused.
use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::Home;
use support::pg::Pg;

const SENDER: &str = "Claude-Code-Agent";

fn task(id: &str, plugin: &str) -> Value {
    json!({"schema": "baton.handoff/v1", "id": id, "kind": "task", "created_at": "2026-01-18T07:09:51Z",
           "from": SENDER, "title": format!("Echo {id}"), "plugin": plugin, "action": "echo", "params": {"n": id}})
}

fn drop_task(h: &Home, i: usize, plugin: &str) {
    let id = format!("m-{i}");
    h.drop_file(format!("20260118T070951Z__TASK__M{i:04}__{SENDER}.json"), task(&id, plugin).to_string());
}

const TRACKS: &str = "\
key,title,artists,album,duration_ms,isrc
t1,Levels,Avicii,Levels,199000,SEUM71100326
t2,Strobe,deadmau5,For Lack of a Better Name,637000,
t3,\"Titanium (feat. Sia)\",David Guetta;Sia,\"Nothing but the Beat\",245000,GB28K1100036
";

fn output(mut c: Command) -> (bool, String, String) {
    let o = c.output().unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn migrate(h: &Home, source: &Path, url: &str, extra: &[&str]) -> (bool, String, String) {
    let mut c = h.cmd(&["migrate", "--from", "sqlite", source.to_str().unwrap(), "--to", url]);
    c.args(extra);
    output(c)
}

fn sqlite_count(state: &Path, table: &str) -> u64 {
    let c = rusqlite::Connection::open(state).unwrap();
    c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get::<_, i64>(0)).unwrap() as u64
}

fn table<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == name)
        .unwrap_or_else(|| panic!("no table {name} in {report}"))
}

#[test]
fn migrate_moves_a_served_sqlite_state_and_the_copy_carries_on() {
    let Some(pg) = Pg::start() else { return };
    let h = Home::init(&[], "");
    let state = h.root.join("state").join("baton.sqlite");
    // A real state: TASKs served (one for a plugin that does not exist: rejected), a catalog.
    for i in 0..6 {
        drop_task(&h, i, if i == 5 { "no-such-plugin" } else { "echo" });
    }
    h.ok(&["serve", "--once"]);
    let csv = h.root.join("tracks.csv");
    std::fs::write(&csv, TRACKS).unwrap();
    h.ok(&["catalog", "import", "tracks", csv.to_str().unwrap()]);
    {
        // Plugin data with text SQLite stores loosely (a number as text) and non-ASCII keys.
        let c = rusqlite::Connection::open(&state).unwrap();
        c.execute_batch("INSERT INTO kv(plugin, key, value) VALUES ('echo', 'größe', '12'), ('echo', 'Ω', 'x\ny')")
            .unwrap();
    }
    for t in ["tasks", "events", "cat_records", "cat_changes", "kv", "stat_counts"] {
        assert!(sqlite_count(&state, t) > 0, "the served state has no {t} rows to copy");
    }

    // Refused while a serve uses the state, naming it and the fix.
    pg.create_db("one");
    let url = pg.url("one");
    let mut serve = h.cmd(&["serve"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let claims = h.root.join("handoffs").join("baton").join(".claims");
    // Wait until it holds its lock (its claims folder's `<instance>.lock`).
    let started = Instant::now();
    while !std::fs::read_dir(&claims)
        .is_ok_and(|d| d.flatten().any(|e| e.file_name().to_string_lossy().ends_with(".lock")))
    {
        assert!(started.elapsed() < Duration::from_secs(30), "serve did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (ok, _, refused) = migrate(&h, &state, &url, &[]);
    assert!(!ok && refused.contains("baton serve"), "{refused}");
    assert!(refused.contains(&serve.id().to_string()) && refused.contains("Stop it first"), "{refused}");
    assert_eq!(
        pg.psql("one", "SELECT to_regclass('tasks') IS NULL").stdout,
        b"t\n",
        "a refused migrate wrote to the server"
    );
    unsafe { libc::kill(serve.id() as i32, libc::SIGTERM) };
    assert!(serve.wait().unwrap().success());

    // A stopped serve's claimed file still waiting in its claims folder: refused too (with the
    // PostgreSQL state nothing would ever run it), naming the folder and the fix.
    let left = claims.join("4242-01JDEADPROCESS");
    std::fs::create_dir_all(&left).unwrap();
    std::fs::write(left.join("20260118T070951Z-01J~late.json"), task("late", "echo").to_string()).unwrap();
    let (ok, _, err) = migrate(&h, &state, &url, &[]);
    assert!(!ok && err.contains("4242-01JDEADPROCESS") && err.contains("serve --once"), "{err}");
    std::fs::remove_dir_all(&left).unwrap();

    // A dry run counts and writes nothing (not even the schema).
    let (ok, out, err) = migrate(&h, &state, &url, &["--dry-run", "--json"]);
    assert!(ok, "{err}");
    let dry: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(dry["dry_run"], true);
    assert_eq!(table(&dry, "tasks")["rows"], sqlite_count(&state, "tasks"));
    assert_eq!(table(&dry, "cat_records")["rows"], 3);
    // Left on this machine: the fingerprint library, the SQLite file's own identity (the
    // state guard's `state_meta`, which names this file; a PostgreSQL ledger has none), its
    // schema versions (`baton_migrations`; the server records its own) and its full-text
    // indexes (`task_search_*`, FTS5; the server indexes the copied `task_text` itself).
    let left: Vec<&str> = dry["not_copied"].as_array().unwrap().iter().map(|t| t["table"].as_str().unwrap()).collect();
    assert!(
        left.iter().all(|t| t.starts_with("fp_")
            || t.starts_with("task_search_")
            || ["state_meta", "baton_migrations"].contains(t)),
        "{dry}"
    );
    assert!(left.contains(&"task_search_words") && left.contains(&"task_search_mark"), "{dry}");
    assert!(left.contains(&"state_meta"), "a served state carries its id: {dry}");
    assert!(left.contains(&"baton_migrations"), "{dry}");
    assert_eq!(pg.psql("one", "SELECT to_regclass('tasks') IS NULL").stdout, b"t\n", "a dry run wrote to the server");

    // The copy: every table, its rows, and one ordered hash on both sides.
    let (ok, out, err) = migrate(&h, &state, &url, &["--json"]);
    assert!(ok, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    for t in report["tables"].as_array().unwrap() {
        let name = t["table"].as_str().unwrap();
        assert_eq!(t["match"], true, "{t}");
        assert_eq!(t["source_hash"], t["target_hash"]);
        assert_eq!(t["rows"], sqlite_count(&state, name), "{name}");
        let on_server = String::from_utf8(pg.psql("one", &format!("SELECT count(*) FROM \"{name}\"")).stdout).unwrap();
        assert_eq!(on_server.trim(), t["rows"].to_string(), "{name} on the server");
    }
    for name in [
        "tasks",
        "task_text",
        "events",
        "logs",
        "kv",
        "kv_usage",
        "cat_collections",
        "cat_properties",
        "cat_records",
        "cat_changes",
        "stat_counts",
    ] {
        let _ = table(&report, name);
    }
    let max_seq: i64 = {
        let c = rusqlite::Connection::open(&state).unwrap();
        c.query_row("SELECT max(seq) FROM cat_changes", [], |r| r.get(0)).unwrap()
    };
    assert_eq!(report["catalog_seq"], max_seq);
    assert_eq!(
        String::from_utf8(pg.psql("one", "SELECT seq FROM cat_counter").stdout).unwrap().trim(),
        max_seq.to_string()
    );
    // The tasks' search text came along, and the server's own index finds it (echo's RETURN
    // summary, "echoed N bytes of params").
    let found = pg.psql(
        "one",
        "SELECT count(*) FROM task_text WHERE to_tsvector('simple', body) @@ plainto_tsquery('simple', 'echoed')",
    );
    assert_eq!(String::from_utf8(found.stdout).unwrap().trim(), "5", "the five echo tasks");
    let kv = String::from_utf8(pg.psql("one", "SELECT value FROM kv WHERE key = 'größe'").stdout).unwrap();
    assert_eq!(kv, "12\n");
    // The plain-text report prints the hashes too.
    assert_eq!(table(&report, "tasks")["source_hash"].as_str().unwrap().len(), 64);

    // Into a database that holds data: refused, and it is left as it was.
    let (ok, _, err) = migrate(&h, &state, &url, &[]);
    assert!(!ok && err.contains("already holds data") && err.contains("tasks"), "{err}");

    // The copy is a working state: what was there shows, and new rows get new numbers (the
    // catalog's change log after max(seq), events after the copied ones).
    let st = h.json(&["--state", &url, "status", "--json"]);
    let shown = h.json(&["--state", &url, "show", "m-0", "--json"]);
    assert!(st.to_string().contains("m-") || shown["task"]["state"].is_string(), "{st}");
    assert_eq!(shown["task"]["state"], "completed", "{shown}");
    let more = h.root.join("more.csv");
    std::fs::write(&more, "key,title,artists,duration_ms\nt4,Animals,Martin Garrix,303000\n").unwrap();
    h.ok(&["--state", &url, "catalog", "import", "tracks", more.to_str().unwrap()]);
    let next: i64 =
        String::from_utf8(pg.psql("one", "SELECT max(seq) FROM cat_changes").stdout).unwrap().trim().parse().unwrap();
    assert!(next > max_seq, "the change log did not continue: {next} after {max_seq}");
    drop_task(&h, 7, "echo");
    h.ok(&["--state", &url, "serve", "--once"]);
    assert_eq!(h.json(&["--state", &url, "show", "m-7", "--json"])["task"]["state"], "completed");

    // The hash follows the content: one more TASK served on the SQLite state changes the
    // tasks' hash and leaves the catalog's alone.
    drop_task(&h, 8, "echo");
    h.ok(&["serve", "--once"]);
    pg.create_db("two");
    let (ok, out, err) = migrate(&h, &state, &pg.url("two"), &["--json"]);
    assert!(ok, "{err}");
    let second: Value = serde_json::from_str(&out).unwrap();
    assert_ne!(table(&second, "tasks")["source_hash"], table(&report, "tasks")["source_hash"]);
    assert_eq!(table(&second, "cat_records")["source_hash"], table(&report, "cat_records")["source_hash"]);
}

// ---- TLS ----

/// Runs `openssl` with `args` in `dir`.
fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("the `openssl` command (./x setup installs it)");
    assert!(o.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

/// A CA (`<name>-ca.crt`) and, when `server` is set, a server certificate for `localhost` it
/// signed (`server.crt`, `server.key`).
fn make_ca(dir: &Path, name: &str, server: bool) -> PathBuf {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let (key, crt) = (format!("{name}-ca.key"), format!("{name}-ca.crt"));
    let mut a = vec!["req", "-x509"];
    a.extend(ec);
    a.extend(["-keyout", &key, "-out", &crt, "-days", "2", "-subj"]);
    let subj = format!("/CN=baton test CA {name}");
    a.push(&subj);
    openssl(dir, &a);
    if server {
        let mut a = vec!["req"];
        a.extend(ec);
        a.extend(["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"]);
        openssl(dir, &a);
        std::fs::write(
            dir.join("ext.cnf"),
            "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                &crt,
                "-CAkey",
                &key,
                "-CAcreateserial",
                "-out",
                "server.crt",
                "-days",
                "2",
                "-extfile",
                "ext.cnf",
            ],
        );
    }
    dir.join(crt)
}

#[test]
fn tls_verify_full_serves_a_task_and_refuses_a_wrong_ca_or_host() {
    let certs = tempfile::tempdir().unwrap();
    let ca = make_ca(certs.path(), "good", true);
    let wrong_ca = make_ca(certs.path(), "other", false);
    let (crt, key) = (
        std::fs::read(certs.path().join("server.crt")).unwrap(),
        std::fs::read(certs.path().join("server.key")).unwrap(),
    );
    let Some(pg) = Pg::start_tls(&crt, &key) else { return };
    pg.create_db("tls");
    let port = pg.tls_port();
    let url = |host: &str, ca: &Path| {
        format!("postgres://postgres@{host}:{port}/tls?sslmode=verify-full&sslrootcert={}", ca.display())
    };

    // A TASK end to end over TLS, host name and CA checked.
    let h = Home::init(&[], "");
    let good = url("localhost", &ca);
    drop_task(&h, 1, "echo");
    let (ok, _, err) = output(h.cmd(&["--state", &good, "serve", "--once"]));
    assert!(ok, "serve over TLS: {err}");
    let returns = h.returns(SENDER);
    assert_eq!(returns.get("m-1").map(Vec::len), Some(1), "{returns:?}");
    assert_eq!(h.json(&["--state", &good, "show", "m-1", "--json"])["task"]["state"], "completed");
    // The server saw TLS sessions (and none in plain text) from baton.
    let (ok, out, err) = output(h.cmd(&["--state", &good, "catalog", "collections", "--json"]));
    assert!(ok, "the catalog over TLS: {err}");
    assert!(out.contains("tracks"), "{out}");

    // A CA that did not sign the server's certificate: refused, saying why and what to check.
    // (`status` reports an unreachable ledger on stdout, and fails.)
    let said = |(ok, out, err): (bool, String, String)| (ok, out + &err);
    let (ok, err) = said(output(h.cmd(&["--state", &url("localhost", &wrong_ca), "status"])));
    assert!(!ok, "a certificate from an unknown CA was accepted");
    assert!(err.contains("UnknownIssuer"), "{err}");
    assert!(err.contains("certificate") && err.contains("sslrootcert") && err.contains("other-ca.crt"), "{err}");
    // The right CA but a host name the certificate does not carry (it names `localhost`).
    let (ok, err) = said(output(h.cmd(&["--state", &url("127.0.0.1", &ca), "status"])));
    assert!(!ok, "a certificate for another host name was accepted");
    assert!(err.contains("certificate") && err.contains("not valid for name"), "{err}");
    // A CA file that is not there: named, with the fix.
    let (ok, err) = said(output(h.cmd(&["--state", &url("localhost", &certs.path().join("missing.crt")), "status"])));
    assert!(!ok && err.contains("missing.crt") && err.contains("PEM"), "{err}");
}
