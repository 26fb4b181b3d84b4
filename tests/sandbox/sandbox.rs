//! End-to-end tests of the task budget against a hostile plugin: memory across
//! every memory of a component, output floods (follow-ups, failure messages), kv, progress
//! and log floods, open handles, disk fill and a FIFO — each through `plugins/testkit` and the
//! real `baton serve --once`, checking that the attack ends with its code, that the other
//! tasks of the drain complete, and that the host's peak RSS stays bounded.
use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support;
use support::Home;

/// Host peak RSS allowed in every hostile test.
const MAX_PEAK_RSS_KB: u64 = 600 << 10;

fn testkit_toml(extra: &str) -> String {
    format!(
        r#"
[plugins.testkit]
grants = {{ data = "data", out = {{ path = "out", writable = true }} }}
time_ms = 1000
memory_mb = 64
output_kb = 64
{extra}
"#
    )
}

/// A home with testkit (`bytes`) installed, its folders made, never pausing.
fn home(extra: &str, bytes: &[u8]) -> Home {
    home_with(&testkit_toml(extra), bytes)
}

/// As [`home`], with the plugin sections of baton.toml as given.
fn home_with(toml: &str, bytes: &[u8]) -> Home {
    let h = Home::init(&[("pause_after", "100"), ("max_attempts", "3")], toml);
    std::fs::create_dir_all(h.root.join("data")).unwrap();
    std::fs::create_dir_all(h.root.join("out")).unwrap();
    let src = h.root.parent().unwrap().join("testkit-under-test.wasm");
    std::fs::write(&src, bytes).unwrap();
    h.ok(&["plugin", "install", src.to_str().unwrap(), "--json"]);
    h
}

fn testkit() -> Vec<u8> {
    baton_bundle::get("testkit").expect("testkit is bundled").wasm.to_vec()
}

fn drop_task(h: &Home, id: &str, plugin: &str, action: &str, params: Value) {
    let body = json!({"schema": "baton.handoff/v1", "id": id, "kind": "task", "created_at": "2026-01-18T07:09:51Z",
                      "from": "Tester-Agent", "title": format!("{plugin} {action} {id}"), "plugin": plugin,
                      "action": action, "params": params});
    h.drop_file(format!("20260118T070951Z__TASK__{id}__Tester-Agent.json"), body.to_string());
}

/// Echo tasks beside the attack: they must all complete.
fn drop_bystanders(h: &Home, n: usize) {
    for i in 0..n {
        drop_task(h, &format!("ECHO{i}"), "echo", "echo", json!({"i": i}));
    }
}

fn assert_bystanders_completed(returns: &HashMap<String, Vec<Value>>, n: usize) {
    for i in 0..n {
        let r = &returns[&format!("ECHO{i}")][0];
        assert_eq!(r["status"], "completed", "{r}");
        assert_eq!(r["result"], json!({"i": i}));
    }
}

/// What one `serve --once` drain did, measured from outside.
struct Drain {
    returns: HashMap<String, Vec<Value>>,
    peak_rss_kb: u64,
    stderr_bytes: usize,
    took: Duration,
}

impl Drain {
    fn ret(&self, id: &str) -> &Value {
        let r = self.returns.get(id).unwrap_or_else(|| panic!("no RETURN for {id}"));
        assert_eq!(r.len(), 1, "exactly one RETURN for {id}");
        &r[0]
    }

    fn code(&self, id: &str) -> &str {
        self.ret(id)["error"]["code"].as_str().unwrap_or("(none)")
    }
}

/// Runs `baton serve --once` (with `BATON_LOG=log`), polling the process's peak RSS
/// (`VmHWM`) while it runs. Panics if it does not exit within `limit`.
fn drain(h: &Home, log: &str, limit: Duration) -> Drain {
    let started = Instant::now();
    let mut child =
        h.cmd(&["serve", "--once"]).env("BATON_LOG", log).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let counter =
        std::thread::spawn(move || std::io::copy(&mut std::io::BufReader::new(stderr), &mut std::io::sink()).unwrap());
    let peak = support::wait_measuring_peak_rss(&mut child, started, limit);
    let stderr_bytes = counter.join().unwrap() as usize;
    Drain { returns: h.returns("Tester-Agent"), peak_rss_kb: peak, stderr_bytes, took: started.elapsed() }
}

fn assert_bounded(d: &Drain) {
    assert!(d.peak_rss_kb > 0, "peak RSS was measured");
    assert!(d.peak_rss_kb < MAX_PEAK_RSS_KB, "host peak RSS {} MB", d.peak_rss_kb >> 10);
}

/// testkit with one more core module appended: it owns a memory of `mb` MB, so the component
/// has two linear memories. (Sections of a component may come in any order; the new core
/// instance section instantiates the new module, which imports nothing.)
fn with_second_memory(component: &[u8], mb: u32) -> Vec<u8> {
    fn leb(mut v: u32, out: &mut Vec<u8>) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }
    fn read_leb(b: &[u8], at: &mut usize) -> u32 {
        let (mut v, mut shift) = (0u32, 0);
        loop {
            let byte = b[*at];
            *at += 1;
            v |= u32::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return v;
            }
            shift += 7;
        }
    }
    assert_eq!(&component[..8], b"\0asm\x0d\0\x01\0", "a component");
    // Core modules defined at the top level so far: the new one's index.
    let mut modules = 0;
    let mut at = 8;
    while at < component.len() {
        let id = component[at];
        at += 1;
        let size = read_leb(component, &mut at) as usize;
        if id == 1 {
            modules += 1;
        }
        at += size;
    }
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    let mut memsec = vec![1u8, 0x00];
    leb(mb * 16, &mut memsec); // 64 KiB pages
    module.push(5);
    leb(memsec.len() as u32, &mut module);
    module.extend(memsec);
    let mut out = component.to_vec();
    out.push(1); // core module section
    leb(module.len() as u32, &mut out);
    out.extend(&module);
    let mut inst = vec![1u8, 0x00];
    leb(modules, &mut inst);
    inst.push(0); // no instantiation arguments
    out.push(2); // core instance section
    leb(inst.len() as u32, &mut out);
    out.extend(inst);
    out
}

#[test]
fn the_memory_cap_covers_every_memory_of_the_component_together() {
    // 40 MB in a second memory, then 30 MB in testkit's own: 70 MB over a 64 MB cap.
    let h = home("", &with_second_memory(&testkit(), 40));
    drop_task(&h, "HOLD-30", "testkit", "hold", json!({"mb": 30}));
    drop_task(&h, "HOLD-1", "testkit", "hold", json!({"mb": 1}));
    drop_bystanders(&h, 4);
    let d = drain(&h, "warn", Duration::from_secs(60));
    assert_eq!(d.code("HOLD-30"), "out_of_memory", "{}", d.ret("HOLD-30"));
    assert_eq!(d.ret("HOLD-1")["status"], "completed", "the second memory alone fits: {}", d.ret("HOLD-1"));
    assert_bystanders_completed(&d.returns, 4);
    assert_bounded(&d);
}

#[test]
fn follow_up_and_failure_floods_stay_within_the_output_cap() {
    let h = home("", &testkit());
    // 40 follow-ups of 8 MB each; a 20 MB permanent failure; 20 MB transient failures, 3 times.
    drop_task(&h, "EMIT", "testkit", "emit-flood", json!({"count": 40, "mb": 8}));
    drop_task(&h, "FAIL", "testkit", "fail-flood", json!({"mb": 20}));
    drop_task(&h, "FAIL-T", "testkit", "fail-flood", json!({"mb": 20, "transient": true}));
    drop_bystanders(&h, 4);
    let d = drain(&h, "warn", Duration::from_secs(60));
    assert_eq!(d.code("EMIT"), "output_too_large", "{}", d.ret("EMIT"));
    let flood_inbox = h.dir("Flood-Agent", "01_inbox");
    let emitted = std::fs::read_dir(&flood_inbox).map(|d| d.count()).unwrap_or(0);
    assert_eq!(emitted, 0, "a failed task emits nothing");
    assert_eq!(d.code("FAIL"), "plugin_error");
    assert_eq!(d.code("FAIL-T"), "retries_exhausted");
    assert_eq!(d.ret("FAIL-T")["attempts"], 3);
    // Every file baton wrote for them is small: the message was cut, on every attempt.
    let limit = 64 << 10;
    for dir in [h.dir("Tester-Agent", "01_inbox"), h.dir("baton", "03_failed")] {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let len = e.metadata().unwrap().len();
            assert!(len < limit, "{} is {len} bytes", e.path().display());
        }
    }
    let msg = d.ret("FAIL")["error"]["message"].as_str().unwrap();
    assert!(msg.len() <= 4096 && msg.contains("truncated, 20971520 bytes"), "{}", &msg[msg.len().saturating_sub(80)..]);
    let db = std::fs::metadata(h.root.join("state/baton.sqlite")).unwrap().len()
        + std::fs::metadata(h.root.join("state/baton.sqlite-wal")).map(|m| m.len()).unwrap_or(0);
    assert!(db < 8 << 20, "state database {db} bytes");
    assert_bystanders_completed(&d.returns, 4);
    assert_bounded(&d);
}

#[test]
fn kv_floods_end_at_the_plugins_quota() {
    // A budget long enough for 50 synced writes on a busy disk: the quota, not the clock, ends it.
    let h =
        home_with(&testkit_toml("kv_keys = 50\nkv_mb = 1").replace("time_ms = 1000", "time_ms = 10000"), &testkit());
    drop_task(&h, "KV-KEYS", "testkit", "kv-flood", json!({"key_bytes": 16, "value_bytes": 10}));
    drop_bystanders(&h, 3);
    let d = drain(&h, "warn", Duration::from_secs(60));
    assert_eq!(d.code("KV-KEYS"), "quota_exceeded", "{}", d.ret("KV-KEYS"));
    assert!(
        d.ret("KV-KEYS")["error"]["message"].as_str().unwrap().contains("more than 50 keys"),
        "{}",
        d.ret("KV-KEYS")
    );
    assert!(d.took < Duration::from_secs(30), "ended by the quota, not the clock: {:?}", d.took);
    assert_bystanders_completed(&d.returns, 3);
    assert_bounded(&d);
    // Bytes and key length: the quota holds across tasks (the 50 keys are still there).
    drop_task(&h, "KV-BYTES", "testkit", "kv-flood", json!({"key_bytes": 16, "value_bytes": 100000}));
    drop_task(&h, "KV-LONGKEY", "testkit", "kv-flood", json!({"key_bytes": 5000, "value_bytes": 1}));
    let d = drain(&h, "warn", Duration::from_secs(60));
    assert_eq!(d.code("KV-BYTES"), "quota_exceeded", "{}", d.ret("KV-BYTES"));
    assert!(d.ret("KV-BYTES")["error"]["message"].as_str().unwrap().contains("bytes"), "{}", d.ret("KV-BYTES"));
    assert_eq!(d.code("KV-LONGKEY"), "quota_exceeded", "{}", d.ret("KV-LONGKEY"));
    assert!(d.ret("KV-LONGKEY")["error"]["message"].as_str().unwrap().contains("a key of 5000 bytes"));
    let conn = baton_ledger::rusqlite::Connection::open(h.root.join("state/baton.sqlite")).unwrap();
    let (keys, bytes): (i64, i64) = conn
        .query_row(
            "SELECT COUNT(*), COALESCE(SUM(length(key) + length(value)), 0) FROM kv WHERE plugin = 'testkit'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(keys <= 50 && bytes <= 1 << 20, "{keys} keys, {bytes} bytes");
    let usage: (i64, i64) = conn
        .query_row("SELECT keys, bytes FROM kv_usage WHERE plugin = 'testkit'", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    assert_eq!(usage, (keys, bytes), "the usage kept by triggers matches the table");
}

#[test]
fn progress_and_log_floods_are_rate_limited_and_truncated() {
    let h = home("", &testkit());
    drop_task(&h, "PROGRESS", "testkit", "progress-flood", json!({"bytes": 4096}));
    drop_task(&h, "PROGRESS-DONE", "testkit", "progress-flood", json!({"bytes": 4096, "finished": true}));
    drop_task(&h, "LOGS", "testkit", "log-flood", json!({"bytes": 8192}));
    drop_bystanders(&h, 3);
    // At info level, where every progress call used to reach stderr.
    let d = drain(&h, "info", Duration::from_secs(60));
    assert_eq!(d.code("PROGRESS"), "timeout");
    assert_eq!(d.code("PROGRESS-DONE"), "timeout");
    assert_eq!(d.code("LOGS"), "timeout");
    assert!(d.stderr_bytes < 256 << 10, "stderr got {} bytes", d.stderr_bytes);
    let logs = |id: &str| h.json(&["show", id, "--json"])["logs"].as_array().cloned().unwrap_or_default();
    // Progress: one line per 100 ms at most, each cut to 512 bytes of message.
    let ran_ms = d.took.as_millis() as usize;
    for id in ["PROGRESS", "PROGRESS-DONE"] {
        let progress = logs(id);
        assert!(
            !progress.is_empty() && progress.len() <= ran_ms / 100 + 2,
            "{id}: {} progress lines in {ran_ms} ms",
            progress.len()
        );
        assert!(progress.iter().all(|l| l["message"].as_str().unwrap().len() < 700));
    }
    // Logs: a quarter of the 64 KB output cap, then one line saying how many were dropped.
    let kept = logs("LOGS");
    let stored: usize = kept.iter().map(|l| l["message"].as_str().unwrap().len()).sum();
    assert!(stored <= 16 << 10, "{stored} bytes of logs kept for a 64 KB output cap");
    assert!(kept.last().unwrap()["message"].as_str().unwrap().contains("log lines dropped"), "{kept:?}");
    assert_bystanders_completed(&d.returns, 3);
    assert_bounded(&d);
}

#[test]
fn a_task_cannot_hold_more_than_1024_open_handles() {
    let h = home("", &testkit());
    std::fs::write(h.root.join("data/x"), "x").unwrap();
    drop_task(&h, "OPEN", "testkit", "open-files", json!({"path": "/data/x"}));
    drop_bystanders(&h, 3);
    let d = drain(&h, "warn", Duration::from_secs(60));
    assert_eq!(d.code("OPEN"), "quota_exceeded", "{}", d.ret("OPEN"));
    assert!(d.ret("OPEN")["error"]["message"].as_str().unwrap().contains("1024 open handles"), "{}", d.ret("OPEN"));
    assert_bystanders_completed(&d.returns, 3);
    assert_bounded(&d);
}

fn dir_usage(dir: &Path) -> (u64, usize) {
    let mut bytes = 0;
    let mut files = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        bytes += e.metadata().unwrap().len();
        files += 1;
    }
    (bytes, files)
}

#[test]
fn writable_grants_have_disk_quotas() {
    let h = home("disk_mb = 4\ndisk_files = 50", &testkit());
    drop_task(&h, "FILL", "testkit", "disk-fill", json!({"path": "/out/fill", "mb": 100}));
    drop_task(&h, "FILES", "testkit", "disk-fill", json!({"dir": "/out", "files": 100000}));
    drop_task(&h, "SMALL", "testkit", "disk-fill", json!({"path": "/out/small", "mb": 1}));
    drop_bystanders(&h, 3);
    let d = drain(&h, "warn", Duration::from_secs(60));
    for id in ["FILL", "FILES"] {
        assert_eq!(d.code(id), "quota_exceeded", "{}", d.ret(id));
        assert!(d.ret(id)["error"]["message"].as_str().unwrap().contains("grant `out`"), "{}", d.ret(id));
    }
    assert_eq!(d.ret("SMALL")["status"], "completed", "{}", d.ret("SMALL"));
    let (bytes, files) = dir_usage(&h.root.join("out"));
    assert!(bytes <= (4 << 20) * 3, "{bytes} bytes in out/");
    assert!(files <= 50 + 2, "{files} files in out/");
    assert!(std::fs::metadata(h.root.join("out/fill")).unwrap().len() <= 4 << 20);
    assert_bystanders_completed(&d.returns, 3);
    assert_bounded(&d);
}

#[test]
fn a_fifo_in_a_grant_is_refused_and_serve_once_exits() {
    let h = home("", &testkit());
    let fifo = h.root.join("data/fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    drop_task(&h, "FIFO", "testkit", "read", json!({"path": "/data/fifo"}));
    drop_bystanders(&h, 3);
    // A 1 s time budget; a blocked read would keep serve --once from ever exiting.
    let d = drain(&h, "warn", Duration::from_secs(30));
    assert_eq!(d.code("FIFO"), "plugin_error", "{}", d.ret("FIFO"));
    assert!(d.ret("FIFO")["error"]["message"].as_str().unwrap().contains("denied"), "{}", d.ret("FIFO"));
    assert_bystanders_completed(&d.returns, 3);
    assert_bounded(&d);
}

// ---- Identity and hygiene ------------------------------------------------------------------

/// testkit with another name in its `describe()`: the bytes after `@@testkit-name@@`.
fn testkit_named(name: &str) -> Vec<u8> {
    let mut bytes = testkit();
    let marker = b"@@testkit-name@@";
    let at: Vec<usize> =
        bytes.windows(marker.len()).enumerate().filter(|(_, w)| *w == marker).map(|(i, _)| i).collect();
    assert_eq!(at.len(), 1, "the name slot occurs once in testkit.wasm");
    let slot = &mut bytes[at[0] + marker.len()..at[0] + marker.len() + 32];
    assert!(name.len() < 32);
    slot.fill(0);
    slot[..name.len()].copy_from_slice(name.as_bytes());
    bytes
}

fn install(h: &Home, label: &str, bytes: &[u8]) -> std::process::Output {
    let src = h.root.parent().unwrap().join(format!("{label}.wasm"));
    std::fs::write(&src, bytes).unwrap();
    h.run(&["plugin", "install", src.to_str().unwrap()])
}

#[test]
fn a_plugin_that_changes_its_name_after_install_is_refused_at_load() {
    let h = home("", &testkit());
    let out = install(&h, "hostile-src", &testkit_named("hostile"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(h.root.join("plugins/hostile.wasm").is_file());
    // Its first task makes every later describe() say `echo` (kept in its own kv store).
    drop_task(&h, "RENAME", "hostile", "rename", json!({"to": "echo"}));
    let d = drain(&h, "warn", Duration::from_secs(60));
    assert_eq!(d.ret("RENAME")["status"], "completed", "{}", d.ret("RENAME"));

    // The next start describes it again, with its real kv: it now claims to be echo.
    drop_task(&h, "AS-HOSTILE", "hostile", "ok", json!({}));
    drop_task(&h, "TK", "testkit", "ok", json!({"still": "here"}));
    drop_bystanders(&h, 3);
    let d = drain(&h, "warn", Duration::from_secs(60));
    assert_eq!(d.code("AS-HOSTILE"), "unknown_plugin", "{}", d.ret("AS-HOSTILE"));
    // The RETURN says why: the refusal recorded at load, and the fix.
    let why = d.ret("AS-HOSTILE")["error"]["message"].as_str().unwrap();
    assert!(
        why.contains("plugin `hostile` is installed")
            && why.contains("hostile.wasm")
            && why.contains("refused when baton loaded it"),
        "{why}"
    );
    assert!(why.contains("says its name is `echo`") && why.contains("baton plugin remove hostile"), "{why}");
    // Tasks for echo reach the real echo (testkit has no `echo` action).
    assert_bystanders_completed(&d.returns, 3);
    assert_eq!(d.ret("TK")["status"], "completed");
    assert_bounded(&d);

    // The refusal is recorded and shown.
    let status = h.json(&["status", "--json"]);
    let refused = status["refused_plugins"].as_array().unwrap();
    assert_eq!(refused.len(), 1, "{status}");
    assert_eq!(refused[0]["name"], "hostile");
    let reason = refused[0]["reason"].as_str().unwrap();
    assert!(reason.contains("says its name is `echo`") && reason.contains("hostile.wasm"), "{reason}");
    let text = String::from_utf8(h.ok(&["status"]).stdout).unwrap();
    assert!(text.contains("REFUSED plugin hostile"), "{text}");
    let list = h.json(&["plugin", "list", "--json"]);
    let entry = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["error"].as_str().is_some_and(|e| e.contains("hostile.wasm")))
        .unwrap();
    assert_eq!(entry["refused"], true);
    assert!(entry["error"].as_str().unwrap().contains("`echo`"));
    assert!(list.as_array().unwrap().iter().any(|p| p["name"] == "echo"), "echo is still itself: {list}");
}

#[test]
fn a_plugin_named_baton_health_is_refused_and_host_health_is_out_of_reach() {
    let h = home("", &testkit());
    let out = install(&h, "health-src", &testkit_named("baton.health"));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`baton.health` is reserved"), "{err}");
    assert!(!h.root.join("plugins/baton.health.wasm").exists());
    // Dropped into the plugins folder by hand, it is refused at load too.
    std::fs::write(h.root.join("plugins/baton.health.wasm"), testkit_named("baton.health")).unwrap();
    // A plugin writing into the namespace the host once used cannot pause anyone.
    let forged = json!({"consecutive_failures": 99, "paused_until": "2099-01-01T00:00:00Z", "last_error": "forged"});
    drop_task(&h, "HEALTH", "baton.health", "ok", json!({}));
    drop_bystanders(&h, 3);
    let d = drain(&h, "warn", Duration::from_secs(60));
    assert_eq!(d.code("HEALTH"), "unknown_plugin", "{}", d.ret("HEALTH"));
    let why = d.ret("HEALTH")["error"]["message"].as_str().unwrap();
    assert!(
        why.contains("refused when baton loaded it") && why.contains("reserved") && why.contains("another name"),
        "{why}"
    );
    assert_bystanders_completed(&d.returns, 3);
    let db = rusqlite_open(&h);
    db.execute("INSERT INTO kv(plugin, key, value) VALUES ('baton.health', 'echo', ?1)", [forged.to_string()]).unwrap();
    drop(db);
    drop_task(&h, "AFTER", "echo", "echo", json!({"after": true}));
    let d = drain(&h, "warn", Duration::from_secs(60));
    assert_eq!(d.ret("AFTER")["status"], "completed", "the forged kv row pauses nothing");
    let status = h.json(&["status", "--json"]);
    assert!(status["paused_plugins"].as_array().unwrap().is_empty(), "{status}");
    let refused = status["refused_plugins"].as_array().unwrap();
    assert!(refused.iter().any(|r| r["reason"].as_str().unwrap().contains("reserved")), "{status}");
}

fn rusqlite_open(h: &Home) -> baton_ledger::rusqlite::Connection {
    baton_ledger::rusqlite::Connection::open(h.root.join("state/baton.sqlite")).unwrap()
}

#[test]
fn a_lock_is_released_only_by_the_task_that_holds_it() {
    let h = home("", &testkit());
    // Run in file-name order: A-HOLD takes the lock and holds it 0.7 s (the budget is 1 s);
    // B-STEAL, running beside it, releases it (not its own) after 200 ms and tries to take it.
    drop_task(&h, "A-HOLD", "testkit", "lock-hold", json!({"name": "shared", "ms": 700}));
    drop_task(&h, "B-STEAL", "testkit", "lock-steal", json!({"name": "shared", "wait_ms": 200}));
    drop_bystanders(&h, 3);
    let d = drain(&h, "warn", Duration::from_secs(60));
    assert_eq!(d.ret("A-HOLD")["status"], "completed", "{}", d.ret("A-HOLD"));
    assert_eq!(d.code("B-STEAL"), "plugin_error", "{}", d.ret("B-STEAL"));
    assert!(d.ret("B-STEAL")["error"]["message"].as_str().unwrap().contains("lock not taken"));
    assert_bystanders_completed(&d.returns, 3);
    // Released by its holder at the end of the task: the lock file is gone.
    let lock = baton_runtime::lock_path(&h.root.join("state/locks"), "testkit", "shared");
    assert!(!lock.exists(), "{} left behind", lock.display());
    assert_bounded(&d);
}

#[test]
fn follow_ups_that_set_envelope_fields_are_refused() {
    let h = home("", &testkit());
    drop_task(&h, "ENVELOPE", "testkit", "emit-envelope", json!({}));
    drop_task(&h, "STATUS-ONLY", "testkit", "emit-envelope", json!({"body": {"note": "fine", "status": "completed"}}));
    drop_task(&h, "PLAIN", "testkit", "emit-envelope", json!({"body": {"note": "an ordinary follow-up"}}));
    drop_bystanders(&h, 3);
    let d = drain(&h, "warn", Duration::from_secs(60));
    assert_eq!(d.code("ENVELOPE"), "plugin_error", "{}", d.ret("ENVELOPE"));
    let msg = d.ret("ENVELOPE")["error"]["message"].as_str().unwrap();
    assert!(msg.contains("envelope fields (from, in_reply_to, status)"), "{msg}");
    assert_eq!(d.code("STATUS-ONLY"), "plugin_error");
    assert_eq!(d.ret("PLAIN")["status"], "completed", "{}", d.ret("PLAIN"));
    // Only the ordinary follow-up reached the victim's inbox, without any forged field.
    let inbox: Vec<_> = std::fs::read_dir(h.dir("Victim-Agent", "01_inbox")).unwrap().flatten().collect();
    assert_eq!(inbox.len(), 1);
    let body: Value = serde_json::from_slice(&std::fs::read(inbox[0].path()).unwrap()).unwrap();
    assert_eq!(body["note"], "an ordinary follow-up");
    assert_eq!(body["from"], "baton");
    assert!(body.get("status").is_none() && body.get("in_reply_to").is_none());
    assert_bystanders_completed(&d.returns, 3);
    assert_bounded(&d);
}

#[test]
fn params_are_checked_against_the_actions_schema_before_the_plugin_runs() {
    let h = home("", &testkit());
    drop_task(&h, "BAD-AUDIT", "audit", "audit", json!({"force": "yes", "unknown": 1}));
    drop_bystanders(&h, 2);
    let d = drain(&h, "warn", Duration::from_secs(60));
    assert_eq!(d.code("BAD-AUDIT"), "invalid_params", "{}", d.ret("BAD-AUDIT"));
    let msg = d.ret("BAD-AUDIT")["error"]["message"].as_str().unwrap();
    assert!(msg.contains("params_schema of `audit`"), "{msg}");
    assert_bystanders_completed(&d.returns, 2);
}

// ---- Attacks not seen while the sandbox was built ------------------------------------------

/// testkit calling itself `name`, whose `describe()` misbehaves as `mode` says (the bytes
/// after `@@testkit-mode@@`: `trap`, `loop`, `alloc`, `huge`).
fn testkit_variant(name: &str, mode: &str) -> Vec<u8> {
    let mut bytes = testkit_named(name);
    let marker = b"@@testkit-mode@@";
    let at: Vec<usize> =
        bytes.windows(marker.len()).enumerate().filter(|(_, w)| *w == marker).map(|(i, _)| i).collect();
    assert_eq!(at.len(), 1, "the mode slot occurs once in testkit.wasm");
    let slot = &mut bytes[at[0] + marker.len()..at[0] + marker.len() + 32];
    slot.fill(0);
    slot[..mode.len()].copy_from_slice(mode.as_bytes());
    bytes
}

fn message<'a>(d: &'a Drain, id: &str) -> &'a str {
    d.ret(id)["error"]["message"].as_str().unwrap_or("")
}

#[test]
fn a_describe_that_traps_loops_floods_or_answers_too_much_is_refused_in_bounded_time() {
    let h = home("", &testkit());
    // `plugin install` refuses each, naming why, within the 5 s describe budget.
    for (mode, why) in
        [("huge", "over the cap of 65536 bytes"), ("trap", "describe() failed"), ("alloc", "describe() failed")]
    {
        let started = Instant::now();
        let out = install(&h, &format!("tk-{mode}-src"), &testkit_variant(&format!("tk-{mode}"), mode));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{mode}: {err}");
        assert!(err.contains(why), "{mode}: {err}");
        assert!(started.elapsed() < Duration::from_secs(20), "{mode}: install took {:?}", started.elapsed());
        assert!(!h.root.join(format!("plugins/tk-{mode}.wasm")).exists());
    }
    // The 64 KiB cap is on the answer as JSON: 100 KB of description is refused, not printed.
    let out = install(&h, "tk-huge-src", &testkit_variant("tk-huge", "huge"));
    assert!(out.stdout.len() + out.stderr.len() < 8 << 10, "{} bytes printed", out.stdout.len() + out.stderr.len());
    // Dropped in by hand (with one that loops forever): `plugin list` and start-up refuse
    // them within the describe budget, and everything else runs.
    for mode in ["huge", "trap", "alloc", "loop"] {
        std::fs::write(h.root.join(format!("plugins/tk-{mode}.wasm")), testkit_variant(&format!("tk-{mode}"), mode))
            .unwrap();
    }
    let started = Instant::now();
    let list = h.json(&["plugin", "list", "--json"]);
    assert!(started.elapsed() < Duration::from_secs(30), "plugin list took {:?}", started.elapsed());
    let refused: Vec<&Value> = list.as_array().unwrap().iter().filter(|p| p["refused"] == true).collect();
    assert_eq!(refused.len(), 4, "{list}");
    assert!(list.as_array().unwrap().iter().any(|p| p["name"] == "testkit"), "{list}");
    for mode in ["huge", "trap", "alloc", "loop"] {
        drop_task(&h, &format!("TK-{}", mode.to_uppercase()), &format!("tk-{mode}"), "ok", json!({}));
    }
    drop_task(&h, "TK", "testkit", "ok", json!({"fine": true}));
    drop_bystanders(&h, 3);
    let d = drain(&h, "warn", Duration::from_secs(60));
    for (mode, why) in
        [("huge", "65536 bytes"), ("trap", "describe() failed"), ("alloc", "describe() failed"), ("loop", "describe()")]
    {
        let id = format!("TK-{}", mode.to_uppercase());
        assert_eq!(d.code(&id), "unknown_plugin", "{}", d.ret(&id));
        let m = message(&d, &id);
        assert!(m.contains("refused when baton loaded it") && m.contains(why), "{mode}: {m}");
    }
    assert_eq!(d.ret("TK")["status"], "completed");
    assert_bystanders_completed(&d.returns, 3);
    assert_bounded(&d);
}

#[test]
fn deep_recursion_huge_grows_and_oversized_initial_memories_are_contained() {
    // `fat` owns a second memory of 100 MB from the start: over its 64 MB task cap (its
    // describe() at install has the 256 MB describe budget).
    let h = home("\n[plugins.fat]\nmemory_mb = 64\n", &testkit());
    let out = install(&h, "fat-src", &with_second_memory(&testkit_named("fat"), 100));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    drop_task(&h, "RECURSE", "testkit", "recurse", json!({}));
    drop_task(&h, "GROW", "testkit", "grow-huge", json!({}));
    drop_task(&h, "FAT", "fat", "ok", json!({}));
    drop_bystanders(&h, 3);
    let d = drain(&h, "warn", Duration::from_secs(60));
    assert_eq!(d.code("RECURSE"), "trap", "{}", d.ret("RECURSE"));
    assert_eq!(d.code("GROW"), "out_of_memory", "{}", d.ret("GROW"));
    assert_eq!(d.code("FAT"), "out_of_memory", "{}", d.ret("FAT"));
    assert_bystanders_completed(&d.returns, 3);
    assert_bounded(&d);
}

#[test]
fn follow_ups_to_baton_or_to_names_that_leave_the_handoffs_tree_are_refused() {
    let h = home("", &testkit());
    let names = [
        "baton",
        "BATON",
        "Baton.health",
        "../escape",
        "a/b",
        "Agent\u{1b}[31m",
        "",
        "x".repeat(200).as_str(),
        "Fine-Agent",
    ]
    .map(String::from);
    drop_task(&h, "EMIT-TO", "testkit", "emit-to", json!({"to": names}));
    // Titles and correlation ids the handoff schema would refuse, or with terminal escapes.
    let bad = [
        ("BAD-TITLE", json!({"to": ["Fine-Agent"], "title": "\u{1b}[2J\r\nrm -rf"}), "title"),
        ("EMPTY-TITLE", json!({"to": ["Fine-Agent"], "title": ""}), "title"),
        ("LONG-TITLE", json!({"to": ["Fine-Agent"], "title": "t".repeat(501)}), "title"),
        ("LONG-CORR", json!({"to": ["Fine-Agent"], "correlation_id": "c".repeat(201)}), "correlation_id"),
    ];
    for (id, params, _) in &bad {
        drop_task(&h, id, "testkit", "emit-to", params.clone());
    }
    drop_bystanders(&h, 3);
    let d = drain(&h, "warn", Duration::from_secs(60));
    for (id, _, what) in &bad {
        let r = d.ret(id);
        assert_eq!(r["status"], "completed", "{r}");
        assert_eq!(r["result"]["accepted"], json!([]), "{r}");
        assert!(r["result"]["refused"][0]["error"].as_str().unwrap().contains(what), "{r}");
    }
    let r = d.ret("EMIT-TO");
    assert_eq!(r["status"], "completed", "{r}");
    assert_eq!(r["result"]["accepted"], json!(["Fine-Agent"]), "{r}");
    let refused = r["result"]["refused"].as_array().unwrap();
    assert_eq!(refused.len(), names.len() - 1, "{r}");
    assert!(refused.iter().filter(|x| x["error"].as_str().unwrap().contains("baton itself")).count() == 3, "{r}");
    // Only Fine-Agent got a file; its name carries no control character from the title.
    let inbox: Vec<_> = std::fs::read_dir(h.dir("Fine-Agent", "01_inbox")).unwrap().flatten().collect();
    assert_eq!(inbox.len(), 1);
    let name = inbox[0].file_name().into_string().unwrap();
    assert!(!name.chars().any(char::is_control), "{name:?}");
    assert!(!h.root.join("escape").exists() && !h.root.join("handoffs/escape").exists());
    let baton_inbox: Vec<_> = std::fs::read_dir(h.dir("baton", "01_inbox")).unwrap().flatten().collect();
    assert!(baton_inbox.is_empty(), "nothing was sent to baton: {baton_inbox:?}");
    assert_bystanders_completed(&d.returns, 3);
    assert_bounded(&d);
}

#[test]
fn results_and_follow_ups_nested_100000_deep_fail_cleanly() {
    // An output cap that lets 200 KB of brackets through to the parser.
    let h = home_with(&testkit_toml("").replace("output_kb = 64", "output_kb = 1024"), &testkit());
    drop_task(&h, "DEEP", "testkit", "deep-result", json!({"depth": 100000}));
    drop_task(&h, "DEEP-EMIT", "testkit", "deep-emit", json!({"depth": 100000}));
    drop_task(&h, "SHALLOW", "testkit", "deep-result", json!({"depth": 50}));
    drop_bystanders(&h, 3);
    let d = drain(&h, "warn", Duration::from_secs(60));
    assert_eq!(d.code("DEEP"), "plugin_error", "{}", d.ret("DEEP"));
    assert!(message(&d, "DEEP").contains("recursion limit"), "{}", message(&d, "DEEP"));
    // A follow-up body nested as deep is refused by the same depth limit.
    assert_eq!(d.code("DEEP-EMIT"), "plugin_error", "{}", d.ret("DEEP-EMIT"));
    assert!(
        message(&d, "DEEP-EMIT").contains("emit refused") && message(&d, "DEEP-EMIT").contains("recursion limit"),
        "{}",
        message(&d, "DEEP-EMIT")
    );
    assert_eq!(d.ret("SHALLOW")["status"], "completed", "{}", d.ret("SHALLOW"));
    assert_bystanders_completed(&d.returns, 3);
    assert_bounded(&d);
}

#[test]
fn kv_keys_and_values_full_of_nuls_count_every_byte() {
    let h = home("kv_mb = 1", &testkit());
    drop_task(&h, "KV-NUL", "testkit", "kv-nul", json!({"value_bytes": 65536}));
    drop_bystanders(&h, 2);
    let d = drain(&h, "warn", Duration::from_secs(60));
    assert_eq!(d.code("KV-NUL"), "quota_exceeded", "{}", d.ret("KV-NUL"));
    let conn = rusqlite_open(&h);
    let bytes: i64 = conn
        .query_row("SELECT COALESCE(SUM(length(CAST(key AS BLOB)) + length(CAST(value AS BLOB))), 0) FROM kv WHERE plugin = 'testkit'", [], |r| r.get(0))
        .unwrap();
    assert!(bytes > 512 << 10 && bytes <= 1 << 20, "{bytes} bytes stored under a 1 MB quota");
    let usage: i64 = conn.query_row("SELECT bytes FROM kv_usage WHERE plugin = 'testkit'", [], |r| r.get(0)).unwrap();
    assert_eq!(usage, bytes, "NULs are counted like any byte");
    assert_bystanders_completed(&d.returns, 2);
    assert_bounded(&d);
}

#[test]
fn terminal_escapes_from_a_plugin_reach_no_terminal() {
    let h = home("", &testkit());
    drop_task(&h, "ESC", "testkit", "escapes", json!({}));
    drop_task(&h, "ESC-FAIL", "testkit", "escapes", json!({"fail": true}));
    drop_bystanders(&h, 2);
    let d = drain(&h, "info", Duration::from_secs(60));
    assert_eq!(d.ret("ESC")["status"], "completed", "{}", d.ret("ESC"));
    assert_eq!(d.code("ESC-FAIL"), "plugin_error");
    let unsafe_char = |c: char| (c.is_control() && c != '\n') || ('\u{202a}'..='\u{202e}').contains(&c);
    for args in [&["show", "ESC"][..], &["show", "ESC-FAIL"][..], &["status"][..]] {
        let out = h.ok(args);
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(!text.chars().any(unsafe_char), "{args:?} printed a control character: {text:?}");
        if args[0] == "show" {
            assert!(text.contains("\\u{1b}]0;pwned"), "{args:?} shows the text, escaped: {text}");
        }
    }
    // The JSON keeps the text as it was (JSON escapes it).
    let logs = h.json(&["show", "ESC", "--json"])["logs"].clone();
    assert!(logs.to_string().contains("\\u001b]0;pwned"), "{logs}");
    assert_bystanders_completed(&d.returns, 2);
}

#[test]
fn artifacts_must_be_paths_inside_the_tasks_grants() {
    let h = home("", &testkit());
    let cases = [
        ("ART-OK", json!(["/out/report.md", "/data/in.txt"]), true),
        ("ART-UP", json!(["/out/../../etc/passwd"]), false),
        ("ART-ABS", json!(["/etc/passwd"]), false),
        ("ART-REL", json!(["report.md"]), false),
        ("ART-CTRL", json!(["/out/a\u{1b}[2J"]), false),
        ("ART-PREFIX", json!(["/outside/x"]), false),
    ];
    for (id, artifacts, _) in &cases {
        drop_task(&h, id, "testkit", "artifacts", json!({"artifacts": artifacts}));
    }
    drop_bystanders(&h, 2);
    let d = drain(&h, "warn", Duration::from_secs(60));
    for (id, artifacts, ok) in &cases {
        if *ok {
            assert_eq!(d.ret(id)["status"], "completed", "{}", d.ret(id));
            assert_eq!(&d.ret(id)["artifacts"], artifacts);
        } else {
            assert_eq!(d.code(id), "plugin_error", "{}", d.ret(id));
            assert!(message(&d, id).contains("not a file inside the task's folder grants"), "{}", message(&d, id));
            assert!(d.ret(id)["artifacts"].as_array().is_none_or(|a| a.is_empty()), "{}", d.ret(id));
        }
    }
    assert_bystanders_completed(&d.returns, 2);
}

/// Takes a write lease on `file` (Linux): until the lease is given up, or the kernel breaks
/// it after `/proc/sys/fs/lease-break-time` seconds, any other `open` of the file blocks in
/// the kernel. A regular file on a local disk whose `open` blocks: the honest stand-in for
/// a hung network or FUSE mount.
#[cfg(target_os = "linux")]
fn write_lease(file: &Path) -> std::fs::File {
    use std::os::fd::AsRawFd;
    // The lease holder is told with SIGIO, whose default action ends the process.
    unsafe { libc::signal(libc::SIGIO, libc::SIG_IGN) };
    let f = std::fs::File::open(file).unwrap();
    let r = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_SETLEASE, libc::F_WRLCK as libc::c_int) };
    assert_eq!(r, 0, "F_SETLEASE: {}", std::io::Error::last_os_error());
    f
}

#[cfg(target_os = "linux")]
#[test]
fn a_task_blocked_in_a_file_open_is_cut_off_at_its_budget_and_serve_once_exits() {
    let break_secs: u64 =
        std::fs::read_to_string("/proc/sys/fs/lease-break-time").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0);
    if break_secs < 15 {
        eprintln!(
            "skipped: /proc/sys/fs/lease-break-time is {break_secs} s, too short to tell a cut-off from a lease break"
        );
        return;
    }
    let h = home("", &testkit());
    let file = h.root.join("data/leased");
    std::fs::write(&file, "held").unwrap();
    let lease = write_lease(&file);
    // Opening it from another process blocks: the premise of the test.
    let probe = std::process::Command::new("timeout").args(["1", "cat"]).arg(&file).output().unwrap();
    assert_eq!(probe.status.code(), Some(124), "open blocks on a leased file");

    drop_task(&h, "BLOCKED", "testkit", "read", json!({"path": "/data/leased"}));
    drop_task(&h, "BLOCKED-2", "testkit", "read", json!({"path": "/data/leased"}));
    drop_bystanders(&h, 3);
    // A 1 s budget; the kernel would hold the opens for {break_secs} s.
    let d = drain(&h, "warn", Duration::from_secs(break_secs - 5));
    for id in ["BLOCKED", "BLOCKED-2"] {
        assert_eq!(d.code(id), "timeout", "{}", d.ret(id));
    }
    assert!(d.took < Duration::from_secs(10), "serve --once took {:?}", d.took);
    let logs = h.json(&["show", "BLOCKED", "--json"])["logs"].to_string();
    assert!(logs.contains("the task was abandoned"), "{logs}");
    assert_bystanders_completed(&d.returns, 3);
    assert_bounded(&d);
    drop(lease);
}
