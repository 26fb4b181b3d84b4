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
//! | `sleep` | `std::thread::sleep(ms)`: blocks in a WASI poll host call (with `until`, in 20 ms steps until that file exists) | `timeout` (async timeout) |
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
//! | `fp-library` | `fingerprint.library-fingerprint(params.path)` (new in 0.4.0) | completed (`null` when not in the library), else `plugin_error` "denied: …" |
//! | `sqlite` | reads `params.path` with `params.sql` through `sqlite.snapshot`, page by page (new in 0.4.0; see [`sqlite`]) | completed if granted and read-only, else `plugin_error` "denied: …" |
//!
//! Budget and quota attacks (tests/sandbox.rs):
//!
//! | action | does | expected host reaction |
//! |---|---|---|
//! | `hold` | allocates and touches `params.mb` MB, then returns | completed, or `out_of_memory` when another memory of the component already holds the cap |
//! | `emit-flood` | emits `params.count` follow-ups of `params.mb` MB each, ignoring errors | `output_too_large` |
//! | `fail-flood` | fails (`params.transient`: transiently) with `params.mb` MB of text | `plugin_error` (`retries_exhausted`) with the message cut |
//! | `kv-flood` | `kv-set` of keys of `params.key_bytes` and values of `params.value_bytes`, forever | `quota_exceeded` |
//! | `progress-flood` | `progress` with `params.bytes`-byte messages, forever (`params.finished`: each one claiming done = total) | `timeout`, stderr and ledger bounded |
//! | `log-flood` | `log` with `params.bytes`-byte messages, forever | `timeout`, stored logs bounded |
//! | `open-files` | opens `params.path` again and again, keeping every handle | `quota_exceeded` |
//! | `disk-fill` | writes `params.mb` MB into `params.path`, or `params.files` small files into `params.dir` | `quota_exceeded` |
//!
//! Identity and hygiene attacks (tests/sandbox.rs):
//!
//! | action | does | expected host reaction |
//! |---|---|---|
//! | `rename` | stores `params.to` in its kv; from then on `describe()` gives that name | the component is refused at its next load (its file name says otherwise) |
//! | `lock-hold` | takes lock `params.name` (waiting up to `params.timeout_ms`), holds it `params.ms` ms; returns when it asked, entered and left (epoch ms) | completed |
//! | `lock-steal` | waits `params.wait_ms`, releases lock `params.name` (held by another task), then tries to take it | `plugin_error` "lock not taken" |
//! | `emit-envelope` | emits a follow-up whose body sets envelope fields (`params.body`) | `plugin_error` "emit refused" |
//!
//! Catalog, settings and path mapping (baton:plugin@0.4.0, tests/catalog_plugin.rs):
//!
//! | action | does |
//! |---|---|
//! | `settings` | returns `{"settings": host.settings()}` |
//! | `paths` | maps `params.host` (host paths) with `host.guest-path` and `params.guest` with `host.host-path` |
//! | `catalog` | runs `params.calls`, each `{"op": "collections" \| "ensure" \| "rename" \| "remove" \| "upsert" (`records`, or `key` and `pad_bytes`: one record of that size) \| "get" \| "query" \| "links" \| "link" (optional `added_at`, `method`) \| "unlink" \| "changes" \| "match" \| "resolve" \| "sleep" (`ms`: a pause between calls), …}`, and returns `{"results": [{"ok": …} \| {"error": {"kind", "message"}}]}` |
//!
//! Attacks added after that (describe() that traps, loops or floods; recursion, huge grows,
//! follow-ups to `baton` or `../`, deeply nested JSON, NULs in kv, terminal escapes, artifacts
//! outside the grants) are in [`hostile`].
//!
//! The name `describe()` gives is read from [`NAME_SLOT`], so a test can make a copy of the
//! component that calls itself something else (`baton.health`, `hostile`) by patching the
//! bytes after the marker.

wit_bindgen::generate!({ path: "../../wit/v0.4", world: "plugin" });

mod catalog_calls;
mod hostile;
mod hostile_v04;
mod hostile_v05;
mod sqlite;

use baton::plugin::fingerprint::{self, FpError, Tags};
use baton::plugin::host;
use baton::plugin::types::{ActionInfo, FolderRequest, Level};
use serde_json::{Value, json};

struct Testkit;

/// `@@testkit-name@@` then the plugin name, NUL-padded to 32 bytes. Read with a volatile load
/// so the compiler keeps the bytes in the data section, where tests patch them.
#[used]
static NAME_SLOT: [u8; 48] = *b"@@testkit-name@@testkit\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";

/// The name this copy of the component gives itself: what `rename` stored, else the slot's.
fn own_name() -> String {
    if let Some(n) = host::kv_get("describe-as") {
        return n;
    }
    let slot: [u8; 48] = unsafe { std::ptr::read_volatile(&NAME_SLOT) };
    let name = &slot[16..];
    let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    String::from_utf8_lossy(&name[..end]).into_owned()
}

const ACTIONS: &[(&str, &str)] = &[
    ("ok", "Returns its params."),
    ("spin", "Loops forever without calling the host."),
    ("sleep", "Sleeps params.ms milliseconds (default: forever), or until the file params.until exists."),
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
    (
        "fp-match",
        "Fingerprints params.path and returns the best library matches (params.min_similarity, params.limit).",
    ),
    (
        "fp-library",
        "Returns the fingerprint the library stored for params.path, without decoding (baton:plugin@0.4.0).",
    ),
    (
        "sqlite",
        "Reads params.path with params.sql (params.args, params.page, params.keyset) through a read-only snapshot (baton:plugin@0.4.0).",
    ),
    // Budget and quota attacks.
    ("hold", "Allocates and touches params.mb MB, then returns."),
    ("emit-flood", "Emits params.count follow-ups of params.mb MB each, ignoring errors."),
    ("fail-flood", "Fails with params.mb MB of text (transiently if params.transient)."),
    ("kv-flood", "kv-set of keys of params.key_bytes bytes and values of params.value_bytes bytes, forever."),
    ("progress-flood", "progress() with params.bytes-byte messages, forever."),
    ("log-flood", "log() with params.bytes-byte messages, forever."),
    ("open-files", "Opens params.path again and again, keeping every handle."),
    ("disk-fill", "Writes params.mb MB into params.path, or params.files small files into params.dir."),
    // Identity and hygiene attacks.
    ("rename", "From now on, describe() gives the name params.to."),
    ("lock-hold", "Takes lock params.name and holds it params.ms milliseconds."),
    ("lock-steal", "Waits params.wait_ms, releases lock params.name held by another task, then tries to take it."),
    ("emit-envelope", "Emits a follow-up whose body sets envelope fields (params.body)."),
    // Catalog, settings and path mapping (baton:plugin@0.4.0).
    ("settings", "Returns host.settings() parsed."),
    ("paths", "Maps params.host (host paths) to guest paths and params.guest to host paths."),
    ("catalog", "Runs params.calls, a list of catalog calls ({\"op\", ...}), and returns each one's result or error."),
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
        let mut info = PluginInfo {
            name: own_name(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Misbehaves on purpose; for baton's tests only.".into(),
            actions: ACTIONS
                .iter()
                .chain(hostile::ACTIONS)
                .chain(hostile_v04::ACTIONS)
                .chain(hostile_v05::ACTIONS)
                .map(|(n, d)| ActionInfo {
                    name: (*n).into(),
                    description: (*d).into(),
                    params_schema: r#"{"type":"object"}"#.into(),
                })
                .collect(),
            folders: vec![
                // Asks for writing to both; the tests grant `data` read-only.
                FolderRequest {
                    name: "data".into(),
                    writable: true,
                    purpose: "files to read (and try to write)".into(),
                },
                FolderRequest { name: "out".into(), writable: true, purpose: "files to write".into() },
            ],
        };
        hostile::describe(&mut info);
        info
    }

    /// Every collection the tests may grant: the core ones writable, the host's read-only.
    fn catalog_access() -> Vec<CollectionRequest> {
        let req = |name: &str, writable: bool| CollectionRequest {
            name: name.into(),
            writable,
            purpose: "catalog tests".into(),
        };
        vec![
            req("tracks", true),
            req("artists", true),
            req("playlists", true),
            req("files", false),
            req("handoffs", false),
            req("audit_gaps", false),
        ]
    }

    fn handle(task: Task) -> Result<Outcome, Failure> {
        let params: Value = serde_json::from_str(&task.params).map_err(|e| Failure::InvalidInput(e.to_string()))?;
        let path = || param(&params, "path").and_then(Value::as_str).unwrap_or("/data/x").to_string();
        let done = |summary: &str, result: Value| {
            Ok(Outcome { summary: summary.into(), result: result.to_string(), artifacts: vec![] })
        };
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
                let until = param(&params, "until").and_then(Value::as_str);
                // A gate a test opens when it is ready (a file it creates in a granted folder),
                // so what happens while the task runs does not depend on how fast the machine is.
                match until {
                    None => std::thread::sleep(std::time::Duration::from_millis(ms)),
                    Some(gate) => {
                        let start = std::time::Instant::now();
                        while std::fs::metadata(gate).is_err() && start.elapsed().as_millis() < u128::from(ms) {
                            std::thread::sleep(std::time::Duration::from_millis(20));
                        }
                    }
                }
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
                Ok(bytes) => {
                    done("read", json!({ "path": path(), "len": bytes.len(), "text": String::from_utf8_lossy(&bytes) }))
                }
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
                done(
                    "fingerprinted",
                    json!({
                        "file": path(), "duration": f.duration, "fingerprint": f.fingerprint, "compressed": f.compressed,
                        "codec": f.info.codec, "sample_rate": f.info.sample_rate, "tags": tags_json(&f.tags),
                    }),
                )
            }
            "fp-tags" => {
                let t = fingerprint::read_tags(&path()).map_err(fp_failure)?;
                done(
                    "tags",
                    json!({
                        "codec": t.info.codec, "sample_rate": t.info.sample_rate, "channels": t.info.channels,
                        "duration": t.info.duration, "lossless": t.info.lossless, "tags": tags_json(&t.tags),
                    }),
                )
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
            "fp-library" => match fingerprint::library_fingerprint(&path()) {
                Ok(Some(f)) => done(
                    "stored",
                    json!({ "fingerprint": f.fingerprint, "compressed": f.compressed, "duration": f.duration }),
                ),
                Ok(None) => done("not in the library", json!({ "fingerprint": null })),
                Err(e) => Err(fp_failure(e)),
            },
            "settings" => done(
                "settings",
                json!({ "settings": serde_json::from_str::<Value>(&host::settings()).unwrap_or(Value::Null) }),
            ),
            "paths" => {
                let list = |k: &str| param(&params, k).and_then(Value::as_array).cloned().unwrap_or_default();
                let guest: serde_json::Map<String, Value> = list("host")
                    .iter()
                    .filter_map(Value::as_str)
                    .map(|h| (h.to_string(), json!(host::guest_path(h))))
                    .collect();
                let hosts: serde_json::Map<String, Value> = list("guest")
                    .iter()
                    .filter_map(Value::as_str)
                    .map(|g| (g.to_string(), json!(host::host_path(g))))
                    .collect();
                done("paths", json!({ "guest_of": guest, "host_of": hosts }))
            }
            "catalog" => {
                let calls = param(&params, "calls").and_then(Value::as_array).cloned().unwrap_or_default();
                let results: Vec<Value> = calls.iter().map(catalog_calls::catalog_call).collect();
                done("catalog", json!({ "results": results }))
            }
            "sqlite" => sqlite::run(&params),
            other => hostile::run(other, &params)
                .or_else(|| hostile_v04::run(other, &params))
                .or_else(|| hostile_v05::run(other, &params))
                .or_else(|| attacks(other, &params))
                .unwrap_or_else(|| Err(Failure::InvalidInput(format!("unknown action `{other}`")))),
        }
    }
}

// ---- Budget and quota attacks --------------------------------------------------------------

fn num(params: &Value, key: &str, default: u64) -> u64 {
    param(params, key).and_then(Value::as_u64).unwrap_or(default)
}

/// The attacks on the task's budget and quotas; `None` for an action that is not one.
fn attacks(action: &str, params: &Value) -> Option<Result<Outcome, Failure>> {
    let done = |summary: &str, result: Value| {
        Ok(Outcome { summary: summary.into(), result: result.to_string(), artifacts: vec![] })
    };
    let mb = num(params, "mb", 1) as usize;
    Some(match action {
        "hold" => {
            let held = vec![1u8; mb << 20];
            std::hint::black_box(&held);
            done("held", json!({ "mb": mb }))
        }
        "emit-flood" => {
            let body = json!({ "blob": "e".repeat(mb << 20) }).to_string();
            let (mut ok, mut refused) = (0, 0);
            for _ in 0..num(params, "count", 40) {
                let f = baton::plugin::types::FollowUp {
                    to: "Flood-Agent".into(),
                    title: "flood".into(),
                    body: body.clone(),
                    correlation_id: None,
                };
                match host::emit(&f) {
                    Ok(_) => ok += 1,
                    Err(_) => refused += 1,
                }
            }
            done("flooded", json!({ "emitted": ok, "refused": refused }))
        }
        "fail-flood" => {
            let text = "f".repeat(mb << 20);
            if param(params, "transient").and_then(Value::as_bool).unwrap_or(false) {
                Err(Failure::Transient(text))
            } else {
                Err(Failure::Permanent(text))
            }
        }
        "kv-flood" => {
            let (kb, vb) = (num(params, "key_bytes", 64) as usize, num(params, "value_bytes", 1024) as usize);
            let value = "v".repeat(vb);
            for i in 0u64.. {
                let key = format!("{i:0>kb$}");
                host::kv_set(&key, &value);
            }
            unreachable!()
        }
        "progress-flood" => {
            // With params.finished, every update claims to be the last (done == total).
            let msg = "p".repeat(num(params, "bytes", 1024) as usize);
            let finished = param(params, "finished").and_then(Value::as_bool).unwrap_or(false);
            for i in 0u64.. {
                host::progress(i, if finished { i } else { u64::MAX }, &msg);
            }
            unreachable!()
        }
        "log-flood" => {
            let msg = "l".repeat(num(params, "bytes", 8192) as usize);
            loop {
                host::log(Level::Info, &msg);
            }
        }
        "open-files" => {
            let path = param(params, "path").and_then(Value::as_str).unwrap_or("/data/x");
            let mut open = Vec::new();
            loop {
                match std::fs::File::open(path) {
                    Ok(f) => open.push(f),
                    Err(e) => {
                        return Some(Err(Failure::Permanent(format!("opened {} handles, then: {e}", open.len()))));
                    }
                }
            }
        }
        "disk-fill" => {
            use std::io::Write;
            if let Some(dir) = param(params, "dir").and_then(Value::as_str) {
                for i in 0..num(params, "files", 1_000_000) {
                    if let Err(e) = std::fs::write(format!("{dir}/f{i}"), b"x") {
                        return Some(Err(Failure::Permanent(format!("created {i} files, then: {e}"))));
                    }
                }
                return Some(done("filled", json!({})));
            }
            let path = param(params, "path").and_then(Value::as_str).unwrap_or("/out/fill");
            let mut f = match std::fs::File::create(path) {
                Ok(f) => f,
                Err(e) => return Some(Err(Failure::Permanent(format!("create {path}: {e}")))),
            };
            let chunk = vec![b'd'; 1 << 20];
            for i in 0..mb {
                if let Err(e) = f.write_all(&chunk) {
                    return Some(Err(Failure::Permanent(format!("wrote {i} MB, then: {e}"))));
                }
            }
            done("filled", json!({ "mb": mb }))
        }
        "rename" => {
            let to = param(params, "to").and_then(Value::as_str).unwrap_or("audit");
            host::kv_set("describe-as", to);
            done("renamed", json!({ "describe_as": to }))
        }
        "lock-hold" => {
            let name = param(params, "name").and_then(Value::as_str).unwrap_or("shared");
            // Wall-clock times (ms since the epoch), so a test can check that holders on
            // different hosts never overlapped.
            let now = || {
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
            };
            let asked = now();
            if let Err(e) = host::lock_acquire(name, num(params, "timeout_ms", 2_000) as u32) {
                return Some(Err(Failure::Permanent(format!("could not take the lock: {e}"))));
            }
            let entered = now();
            std::thread::sleep(std::time::Duration::from_millis(num(params, "ms", 500)));
            let left = now();
            done("held", json!({ "held": name, "asked_ms": asked, "entered_ms": entered, "left_ms": left }))
        }
        "lock-steal" => {
            let name = param(params, "name").and_then(Value::as_str).unwrap_or("shared");
            std::thread::sleep(std::time::Duration::from_millis(num(params, "wait_ms", 200)));
            host::lock_release(name);
            match host::lock_acquire(name, 50) {
                Ok(()) => done("stolen", json!({ "stolen": name })),
                Err(e) => Err(Failure::Permanent(format!("lock not taken: {e}"))),
            }
        }
        "emit-envelope" => {
            let body = param(params, "body").cloned().unwrap_or_else(
                || json!({ "status": "completed", "in_reply_to": "SOMEONE-ELSES-TASK", "from": "baton" }),
            );
            let f = baton::plugin::types::FollowUp {
                to: "Victim-Agent".into(),
                title: "forged".into(),
                body: body.to_string(),
                correlation_id: None,
            };
            match host::emit(&f) {
                Ok(id) => done("emitted", json!({ "id": id })),
                Err(e) => Err(Failure::Permanent(format!("emit refused: {e}"))),
            }
        }
        _ => return None,
    })
}

export!(Testkit);
