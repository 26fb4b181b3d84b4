//! `testkit`: a plugin that misbehaves on purpose, for the host's end-to-end tests only
//! (listed in `baton_bundle::TEST_ONLY`, never installed by `baton init`).
//!
//! Each action exercises one wall of the sandbox, so a test can check that the host contains
//! it and records the right error code:
//!
//! | action | does | expected host reaction |
//! |---|---|---|
//! | `ok` | returns its params | completed |
//! | `spin` | loops forever in wasm | `timeout` (epoch deadline) |
//! | `sleep` | `std::thread::sleep(ms)`: blocks in a WASI poll host call | `timeout` (async timeout) |
//! | `block` | `lock-acquire(name)` with a huge timeout on a lock the test holds | `timeout` |
//! | `alloc` | allocates and touches memory without bound | `out_of_memory` |
//! | `read` | reads `params.path` | completed if granted, else `plugin_error` "denied: …" |
//! | `write` | writes `params.path` | completed if writable, else `plugin_error` "denied: …" |
//! | `panic` | panics (`panic = "abort"` → `unreachable`) | `trap` |
//! | `big` | returns `params.bytes` bytes of output | `output_too_large` above the cap |
//! | `transient` | fails transiently `params.fails` times (count in kv), then succeeds | retried, completed |
//! | `remaining` | returns `host.remaining-ms` (new in 0.2.0) | completed |
//! | `fp-print` | `fingerprint.fingerprint-file(params.path)` (new in 0.3.0) | completed if granted, else `plugin_error` "denied: …" |
//! | `fp-tags` | `fingerprint.read-tags(params.path)` | as `fp-print` |
//! | `fp-match` | fingerprints `params.path`, then `fingerprint.best-matches` | completed, matches inside the grants only |

wit_bindgen::generate!({ path: "../../wit", world: "plugin" });

use baton::plugin::fingerprint::{self, FpError, Tags};
use baton::plugin::host;
use baton::plugin::types::{ActionInfo, FolderRequest, Level};
use serde_json::{json, Value};

struct Testkit;

const ACTIONS: &[(&str, &str)] = &[
    ("ok", "Returns its params."),
    ("spin", "Loops forever without calling the host."),
    ("sleep", "Sleeps params.ms milliseconds (default: forever) inside a WASI poll."),
    ("block", "Waits on the named lock params.name (default `held`) with a huge timeout."),
    ("alloc", "Allocates without bound."),
    ("read", "Reads params.path and returns its length."),
    ("write", "Writes params.path."),
    ("panic", "Panics."),
    ("big", "Returns params.bytes bytes of output."),
    ("transient", "Fails transiently params.fails times for params.key, then succeeds."),
    ("remaining", "Returns host.remaining-ms (baton:plugin@0.2.0)."),
    ("fp-print", "Fingerprints params.path (baton:plugin@0.3.0)."),
    ("fp-tags", "Reads the tags of params.path."),
    ("fp-match", "Fingerprints params.path and returns the best library matches (params.min_similarity, params.limit)."),
];

/// A fingerprint-service error as a task failure: "denied: …", "corrupt: …", …
fn fp_failure(e: FpError) -> Failure {
    let (kind, m) = match e {
        FpError::Denied(m) => ("denied", m),
        FpError::Unsupported(m) => ("unsupported", m),
        FpError::Corrupt(m) => ("corrupt", m),
        FpError::Io(m) => ("io", m),
    };
    Failure::Permanent(format!("{kind}: {m}"))
}

fn tags_json(t: &Tags) -> Value {
    json!({ "title": t.title, "artist": t.artist, "album": t.album, "isrc": t.isrc })
}

fn param<'a>(params: &'a Value, key: &str) -> Option<&'a Value> {
    params.get(key)
}

impl Guest for Testkit {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "testkit".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Misbehaves on purpose; for baton's tests only.".into(),
            actions: ACTIONS
                .iter()
                .map(|(n, d)| ActionInfo { name: (*n).into(), description: (*d).into(), params_schema: r#"{"type":"object"}"#.into() })
                .collect(),
            folders: vec![
                // Asks for writing to both; the tests grant `data` read-only.
                FolderRequest { name: "data".into(), writable: true, purpose: "files to read (and try to write)".into() },
                FolderRequest { name: "out".into(), writable: true, purpose: "files to write".into() },
            ],
        }
    }

    fn handle(task: Task) -> Result<Outcome, Failure> {
        let params: Value = serde_json::from_str(&task.params).map_err(|e| Failure::InvalidInput(e.to_string()))?;
        let path = || param(&params, "path").and_then(Value::as_str).unwrap_or("/data/x").to_string();
        let done = |summary: &str, result: Value| Ok(Outcome { summary: summary.into(), result: result.to_string(), artifacts: vec![] });
        match task.action.as_str() {
            "ok" => done("ok", params.clone()),
            "spin" => {
                let mut x: u64 = 0;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            "sleep" => {
                let ms = param(&params, "ms").and_then(Value::as_u64).unwrap_or(u64::MAX / 2_000_000);
                std::thread::sleep(std::time::Duration::from_millis(ms));
                done("slept", json!({ "ms": ms }))
            }
            "block" => {
                let name = param(&params, "name").and_then(Value::as_str).unwrap_or("held");
                host::log(Level::Info, &format!("waiting for lock `{name}`"));
                match host::lock_acquire(name, u32::MAX) {
                    Ok(()) => done("got the lock", json!({})),
                    Err(e) => Err(Failure::Permanent(e)),
                }
            }
            "alloc" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    // Touch every page so nothing can be optimised away.
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "read" => match std::fs::read(path()) {
                Ok(bytes) => done("read", json!({ "path": path(), "len": bytes.len(), "text": String::from_utf8_lossy(&bytes) })),
                Err(e) => Err(Failure::Permanent(format!("denied: reading {}: {e}", path()))),
            },
            "write" => {
                let text = param(&params, "text").and_then(Value::as_str).unwrap_or("written by testkit");
                match std::fs::write(path(), text) {
                    Ok(()) => done("wrote", json!({ "path": path() })),
                    Err(e) => Err(Failure::Permanent(format!("denied: writing {}: {e}", path()))),
                }
            }
            "panic" => panic!("testkit panics on purpose"),
            "big" => {
                let n = param(&params, "bytes").and_then(Value::as_u64).unwrap_or(1 << 20) as usize;
                done("big", json!({ "blob": "x".repeat(n) }))
            }
            "transient" => {
                let key = format!("transient:{}", param(&params, "key").and_then(Value::as_str).unwrap_or("default"));
                let fails = param(&params, "fails").and_then(Value::as_u64).unwrap_or(2);
                let seen: u64 = host::kv_get(&key).and_then(|v| v.parse().ok()).unwrap_or(0);
                host::kv_set(&key, &(seen + 1).to_string());
                if seen < fails {
                    Err(Failure::Transient(format!("attempt {} of {} fails on purpose", seen + 1, fails + 1)))
                } else {
                    done("succeeded after transient failures", json!({ "attempts_seen": seen + 1 }))
                }
            }
            "remaining" => done("remaining", json!({ "remaining_ms": host::remaining_ms() })),
            "fp-print" => {
                let f = fingerprint::fingerprint_file(&path()).map_err(fp_failure)?;
                done("fingerprinted", json!({
                    "file": path(), "duration": f.duration, "fingerprint": f.fingerprint, "compressed": f.compressed,
                    "codec": f.info.codec, "sample_rate": f.info.sample_rate, "tags": tags_json(&f.tags),
                }))
            }
            "fp-tags" => {
                let t = fingerprint::read_tags(&path()).map_err(fp_failure)?;
                done("tags", json!({
                    "codec": t.info.codec, "sample_rate": t.info.sample_rate, "channels": t.info.channels,
                    "duration": t.info.duration, "lossless": t.info.lossless, "tags": tags_json(&t.tags),
                }))
            }
            "fp-match" => {
                let f = fingerprint::fingerprint_file(&path()).map_err(fp_failure)?;
                let min = param(&params, "min_similarity").and_then(Value::as_f64).unwrap_or(0.85);
                let limit = param(&params, "limit").and_then(Value::as_u64).unwrap_or(10) as u32;
                let found = fingerprint::best_matches(&f.fingerprint, min, limit).map_err(fp_failure)?;
                let matches: Vec<Value> = found
                    .iter()
                    .map(|m| json!({ "path": m.path, "score": m.score, "offset_seconds": m.offset_seconds, "duration": m.duration, "tags": tags_json(&m.tags) }))
                    .collect();
                done("matched", json!({ "matches": matches }))
            }
            other => Err(Failure::InvalidInput(format!("unknown action `{other}`"))),
        }
    }
}

export!(Testkit);
