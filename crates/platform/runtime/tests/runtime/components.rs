//! The runtime on its own: versions, the sandbox walls (through `plugins/testkit`), and the
//! compiled-component cache. The end-to-end view through the real binary is tests/plugins.rs.
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use baton_runtime::{
    Allocator, Budget, EngineOptions, Grant, KvError, KvQuota, KvStore, RunError, Runtime, RuntimeConfig, TaskInput,
    WorldVersion,
};
use serde_json::{Value, json};

#[derive(Default)]
struct MemKv(Mutex<HashMap<(String, String), String>>);

impl KvStore for MemKv {
    fn get(&self, plugin: &str, key: &str) -> Option<String> {
        self.0.lock().unwrap().get(&(plugin.into(), key.into())).cloned()
    }
    fn set(&self, plugin: &str, key: &str, value: &str, _: &KvQuota) -> Result<(), KvError> {
        self.0.lock().unwrap().insert((plugin.into(), key.into()), value.into());
        Ok(())
    }
    fn delete(&self, plugin: &str, key: &str) {
        self.0.lock().unwrap().remove(&(plugin.into(), key.into()));
    }
}

fn runtime(dir: &Path, allocator: Allocator) -> Runtime {
    let cfg = RuntimeConfig { cache_dir: Some(dir.join("cache")), lock_dir: dir.join("locks") };
    Runtime::with_options(cfg, Arc::new(MemKv::default()), EngineOptions { allocator, ..EngineOptions::default() })
        .unwrap()
}

fn task(action: &str, params: Value) -> TaskInput {
    TaskInput {
        id: "T1".into(),
        action: action.into(),
        params,
        sender: "Tester".into(),
        title: "t".into(),
        correlation_id: None,
        inputs: serde_json::json!({}),
    }
}

fn small() -> Budget {
    Budget { time: Duration::from_millis(300), memory_bytes: 32 << 20, output_bytes: 64 << 10, ..Budget::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_bundled_plugin_loads_with_its_world_version() {
    let dir = tempfile::tempdir().unwrap();
    for allocator in [Allocator::OnDemand, Allocator::Pooling] {
        let rt = runtime(dir.path(), allocator);
        for (name, minor) in [("echo", 6), ("testkit", 4), ("legacy-v0-3", 3), ("legacy-v0-2", 2), ("legacy-echo", 1)] {
            let wasm = baton_bundle::get(name).unwrap().wasm;
            let p = rt.prepare(Path::new(name), wasm, &[]).await.unwrap();
            assert_eq!(p.info.name, name);
            assert_eq!(p.world, WorldVersion { major: 0, minor }, "{name}");
            let exec = rt.handle(&p, &task("echo", json!({"hi": 1})), small()).await;
            if name != "testkit" {
                assert_eq!(exec.outcome.unwrap().result, json!({"hi": 1}));
            }
        }
    }
}

/// 0.6.0's `needs-input`: echo's `ask` asks its question (schema parsed), and answers once the
/// answer is in the task's `inputs`; a question with a bad id is the plugin's mistake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_asks_back_and_answers_with_the_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), Allocator::OnDemand);
    let p = rt.prepare(Path::new("echo"), baton_bundle::get("echo").unwrap().wasm, &[]).await.unwrap();
    let exec = rt.handle(&p, &task("ask", json!({})), small()).await;
    match exec.outcome {
        Err(baton_runtime::RunError::NeedsInput(r)) => {
            assert_eq!((r.request_id.as_str(), r.message.as_str()), ("name", "What is your name?"));
            assert_eq!(r.input_schema["required"], json!(["name"]));
        }
        other => panic!("{other:?}"),
    }
    let mut answered = task("ask", json!({}));
    answered.inputs = json!({"name": {"name": "Ada"}});
    let exec = rt.handle(&p, &answered, small()).await;
    assert_eq!(exec.outcome.unwrap().result, json!({"greeting": "hello Ada"}));
}

/// The runtime binds the core WIT only: a plugin built against the music world loads where the
/// host crates linked `baton:music` (the end-to-end tests), and a runtime without them refuses
/// it at load, naming the import, rather than loading what every call would refuse.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_music_plugin_is_refused_at_load_by_a_runtime_without_the_music_interfaces() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), Allocator::Pooling);
    let wasm = baton_bundle::get("music-v0-5").unwrap().wasm;
    let Err(e) = rt.prepare(Path::new("music-v0-5"), wasm, &[]).await else {
        panic!("a music plugin loaded without the music interfaces")
    };
    let e = e.to_string();
    assert!(e.contains("its imports do not match") && e.contains("baton:music/"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_minor_plugin_runs_with_its_host_imports() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), Allocator::Pooling);
    let p = rt.prepare(Path::new("legacy"), baton_bundle::get("legacy-echo").unwrap().wasm, &[]).await.unwrap();
    for run in 1..=2 {
        let exec = rt.handle(&p, &task("echo", json!({"x": run})), Budget::default()).await;
        let out = exec.outcome.unwrap();
        assert_eq!(out.summary, format!("echoed (run {run})"), "kv works through the 0.1 imports");
        assert!(exec.logs.iter().any(|l| l.message.contains("baton:plugin@0.1.0")));
    }
    let p = rt.prepare(Path::new("legacy"), baton_bundle::get("legacy-v0-2").unwrap().wasm, &[]).await.unwrap();
    let exec = rt.handle(&p, &task("echo", json!({"x": 2})), Budget::default()).await;
    assert_eq!(exec.outcome.unwrap().result, json!({"x": 2}));
    let left: u64 = exec.logs[0].message.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!((1..=30_000).contains(&left), "remaining-ms through the 0.2 imports: {left}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_contains_every_testkit_behaviour() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = dir.path().join("out");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(data.join("x"), "inside").unwrap();
    std::fs::write(dir.path().join("secret"), "outside").unwrap();
    let grants = [
        Grant { name: "data".into(), host_path: data.clone(), writable: false },
        Grant { name: "out".into(), host_path: out.clone(), writable: true },
    ];
    let rt = runtime(dir.path(), Allocator::Pooling);
    let p = rt.prepare(Path::new("testkit"), baton_bundle::get("testkit").unwrap().wasm, &grants).await.unwrap();
    let run = |action: &'static str, params: Value| {
        let rt = &rt;
        let p = &p;
        async move { rt.handle(p, &task(action, params), small()).await.outcome }
    };
    assert!(matches!(run("spin", json!({})).await, Err(RunError::Timeout(_))));
    assert!(matches!(run("sleep", json!({})).await, Err(RunError::Timeout(_))));
    let r = run("alloc", json!({})).await;
    assert!(matches!(r, Err(RunError::OutOfMemory(_))), "{r:?}");
    assert!(matches!(run("panic", json!({})).await, Err(RunError::Trap(_))));
    assert!(matches!(run("big", json!({"bytes": 1 << 20})).await, Err(RunError::OutputTooLarge { .. })));
    assert_eq!(run("read", json!({"path": "/data/x"})).await.unwrap().result["text"], "inside");
    for path in ["/secret", "/data/../secret", "/etc/passwd", dir.path().join("secret").to_str().unwrap()] {
        let r = run("read", json!({ "path": path })).await;
        assert!(matches!(&r, Err(RunError::Permanent(m)) if m.starts_with("denied")), "{path}: {r:?}");
    }
    let r = run("write", json!({"path": "/data/y"})).await;
    assert!(matches!(&r, Err(RunError::Permanent(m)) if m.starts_with("denied")), "{r:?}");
    assert!(!data.join("y").exists());
    run("write", json!({"path": "/out/y"})).await.unwrap();
    assert!(out.join("y").exists());
    let left = run("remaining", json!({})).await.unwrap().result["remaining_ms"].as_u64().unwrap();
    assert!(left > 0 && left <= 300, "remaining-ms (0.2.0) counts down the budget: {left}");
    // And after all that, the same runtime still serves.
    assert_eq!(run("ok", json!({"still": "here"})).await.unwrap().result, json!({"still": "here"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_blocked_in_a_host_call_is_timed_out() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), Allocator::Pooling);
    let p = rt.prepare(Path::new("testkit"), baton_bundle::get("testkit").unwrap().wasm, &[]).await.unwrap();
    // The test holds the lock (a plain flock on baton's lock file, as another process
    // would); the plugin waits in `lock-acquire` with a huge timeout and must be cut off.
    let path = baton_runtime::lock_path(&dir.path().join("locks"), "testkit", "held");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let held = std::fs::File::create(&path).unwrap();
    held.lock().unwrap();
    let started = std::time::Instant::now();
    let exec = rt.handle(&p, &task("block", json!({"name": "held"})), small()).await;
    assert!(matches!(exec.outcome, Err(RunError::Timeout(_))), "{:?}", exec.outcome);
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    assert!(exec.logs.iter().any(|l| l.message.contains("waiting for lock")), "logs survive a timeout");
    // Released by the test: now the plugin gets it.
    drop(held);
    let exec = rt.handle(&p, &task("block", json!({"name": "held"})), small()).await;
    assert!(exec.outcome.is_ok(), "{:?}", exec.outcome);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_runtime_loads_compiled_components_from_the_disk_cache() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = baton_bundle::get("echo").unwrap().wasm;
    let t0 = std::time::Instant::now();
    let rt = runtime(dir.path(), Allocator::Pooling);
    rt.prepare(Path::new("echo"), wasm, &[]).await.unwrap();
    let cold = t0.elapsed();
    let entries = || -> Vec<std::fs::DirEntry> {
        std::fs::read_dir(dir.path().join("cache"))
            .unwrap()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
            .collect()
    };
    let cached = entries();
    assert_eq!(cached.len(), 1, "one compiled entry");
    assert!(cached[0].path().with_extension("cwasm.mac").is_file(), "with its HMAC");
    let mtime = cached[0].metadata().unwrap().modified().unwrap();
    drop(rt);
    let t1 = std::time::Instant::now();
    let rt = runtime(dir.path(), Allocator::Pooling);
    rt.prepare(Path::new("echo"), wasm, &[]).await.unwrap();
    let warm = t1.elapsed();
    let again = entries();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].metadata().unwrap().modified().unwrap(), mtime, "not recompiled");
    eprintln!("load: cold {cold:?}, from cache {warm:?}");
}

/// Identity: `describe()` runs as the plugin it is loaded as, with its real kv, and
/// must give that name; `baton` and `baton.*` are never plugin names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_is_loaded_only_under_the_name_it_gives_itself() {
    let dir = tempfile::tempdir().unwrap();
    let kv = Arc::new(MemKv::default());
    let cfg = RuntimeConfig { cache_dir: Some(dir.path().join("cache")), lock_dir: dir.path().join("locks") };
    let rt = Runtime::new(cfg, kv.clone()).unwrap();
    let wasm = baton_bundle::get("testkit").unwrap().wasm;
    let p = rt.prepare_as(Path::new("testkit.wasm"), wasm, &[], "testkit").await.unwrap();
    assert_eq!(p.info.name, "testkit");
    // Under another file name: refused, naming both.
    let e = rt.prepare_as(Path::new("plugins/echo.wasm"), wasm, &[], "echo").await.unwrap_err().to_string();
    assert!(e.contains("says its name is `testkit`") && e.contains("installed as `echo`"), "{e}");
    let e =
        rt.prepare_as(Path::new("plugins/baton.health.wasm"), wasm, &[], "baton.health").await.unwrap_err().to_string();
    assert!(e.contains("reserved"), "{e}");
    // What its kv says decides what it answers — in a check exactly as in a load.
    kv.set("testkit", "describe-as", "audit", &KvQuota::default()).unwrap();
    let e = rt.prepare_as(Path::new("plugins/testkit.wasm"), wasm, &[], "testkit").await.unwrap_err().to_string();
    assert!(e.contains("says its name is `audit`"), "{e}");
    kv.set("testkit", "describe-as", "baton", &KvQuota::default()).unwrap();
    let e = rt.prepare(Path::new("x.wasm"), wasm, &[]).await.map(|p| p.info.name).unwrap();
    assert_eq!(e, "testkit", "an unnamed check sees no kv");
    let e = rt.prepare_as(Path::new("plugins/testkit.wasm"), wasm, &[], "testkit").await.unwrap_err().to_string();
    assert!(e.contains("`baton` is reserved"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn params_are_validated_against_the_schema_and_envelope_fields_refused() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), Allocator::Pooling);
    let audit = rt.prepare(Path::new("audit"), baton_bundle::get("audit").unwrap().wasm, &[]).await.unwrap();
    // What the host itself sends to the audit plugin passes its schema.
    let host_params =
        json!({"followup_agent": "Claude-Code-Agent", "force": false, "display_roots": [["/plans", "/home/me/plans"]]});
    audit.check_params("audit", &host_params).unwrap();
    audit.check_params("audit", &json!({"followup_agent": null})).unwrap();
    let e = audit.check_params("audit", &json!({"force": "yes"})).unwrap_err().to_string();
    assert!(e.contains("params_schema of `audit`") && e.contains("/force"), "{e}");
    assert!(audit.check_params("audit", &json!({"display_roots": [["/only-one"]]})).is_err());
    assert!(audit.check_params("audit", &json!({"nope": 1})).is_err());
    // Refused before the plugin runs: invalid input, no logs.
    let exec = rt.handle(&audit, &task("audit", json!({"force": 3})), small()).await;
    assert!(
        matches!(&exec.outcome, Err(RunError::InvalidInput(m)) if m.contains("params_schema")),
        "{:?}",
        exec.outcome
    );
    assert!(exec.logs.is_empty());

    let tk = rt.prepare(Path::new("testkit"), baton_bundle::get("testkit").unwrap().wasm, &[]).await.unwrap();
    let exec =
        rt.handle(&tk, &task("emit-envelope", json!({"body": {"in_reply_to": "X", "note": "n"}})), small()).await;
    assert!(
        matches!(&exec.outcome, Err(RunError::Permanent(m)) if m.contains("envelope fields (in_reply_to)")),
        "{:?}",
        exec.outcome
    );
    assert!(exec.follow_ups.is_empty());
    let exec = rt.handle(&tk, &task("emit-envelope", json!({"body": {"note": "n"}})), small()).await;
    assert!(exec.outcome.is_ok(), "{:?}", exec.outcome);
    assert_eq!(exec.follow_ups.len(), 1);
}
