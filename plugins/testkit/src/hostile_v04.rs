//! Attacks on the host interfaces of `baton:plugin@0.4.0` (`sqlite`, `catalog`, paths), as a
//! plugin written to break the sandbox would make them. Apart from `hostile.rs` so the 0.4
//! attacks can grow without colliding with the older ones. Every action reports what each call
//! answered, so `tests/hostile_v04.rs` asserts the containment from the task's RETURN.
//!
//! | action | does | expected host reaction |
//! |---|---|---|
//! | `sql-attack` | opens `params.path` and runs each of `params.queries` on it (plus the `params.built` ones, built at runtime) | each refused or bounded; a query past the deadline ends the task `timeout` |
//! | `sql-open-many` | opens `params.path` `params.count` times, keeping every snapshot (`params.drop`: dropping each) | refused past the per-task cap; dropped ones free their slot |
//! | `cat-flood` | upserts `params.count` tiny records into `params.collection`, in calls of `params.batch` | `quota` (or `invalid` over the call's size cap), never a host failure |
//! | `cat-big` | a catalog call with one huge argument: `params.what` = `key`, `filter`, `property`, `cursor` | `invalid` |
//! | `resolve-flood` | `params.count` `resolve-track` calls | bounded by the quota and the task's time |
use serde_json::{Value, json};

use crate::baton::plugin::catalog as cat;
use crate::baton::plugin::sqlite;
use crate::{Failure, Outcome};

pub const ACTIONS: &[(&str, &str)] = &[
    ("sql-attack", "runs hostile SQL on a snapshot"),
    ("sql-open-many", "opens many snapshots of one database"),
    ("cat-flood", "upserts many tiny records"),
    ("cat-big", "a catalog call with a huge argument"),
    ("resolve-flood", "many resolve-track calls"),
];

pub(crate) fn done(summary: &str, result: Value) -> Result<Outcome, Failure> {
    Ok(Outcome { summary: summary.into(), result: result.to_string(), artifacts: vec![] })
}

pub(crate) fn num(params: &Value, key: &str, default: u64) -> u64 {
    params.get(key).and_then(Value::as_u64).unwrap_or(default)
}

fn text(params: &Value, key: &str) -> String {
    params.get(key).and_then(Value::as_str).unwrap_or("").to_string()
}

fn sql_err(e: sqlite::SqliteError) -> Value {
    let (kind, m) = match e {
        sqlite::SqliteError::Denied(m) => ("denied", m),
        sqlite::SqliteError::Invalid(m) => ("invalid", m),
        sqlite::SqliteError::Busy(m) => ("busy", m),
        sqlite::SqliteError::Io(m) => ("io", m),
    };
    json!({ "error": { "kind": kind, "message": m } })
}

pub(crate) fn cat_err(e: cat::CatalogError) -> Value {
    let (kind, m) = match e {
        cat::CatalogError::Denied(m) => ("denied", m),
        cat::CatalogError::Invalid(m) => ("invalid", m),
        cat::CatalogError::Quota(m) => ("quota", m),
        cat::CatalogError::Io(m) => ("io", m),
    };
    // Messages may quote the huge argument: keep the RETURN under the output cap.
    json!({ "error": { "kind": kind, "message": m.chars().take(2000).collect::<String>() } })
}

/// Statements whose text is only assembled here, so no filter on the task's params sees them.
fn built(name: &str) -> Option<String> {
    let word = |codes: &[u8]| codes.iter().map(|&c| c as char).collect::<String>();
    Some(match name {
        // "ATTACH" from its character codes.
        "attach" => format!("{} DATABASE '/etc/passwd' AS p", word(&[65, 84, 84, 65, 67, 72])),
        "attach-memory" => format!("{} ':memory:' AS m", word(&[97, 116, 116, 97, 99, 104])),
        _ => return None,
    })
}

pub fn run(action: &str, params: &Value) -> Option<Result<Outcome, Failure>> {
    Some(match action {
        "sql-attack" => {
            let path = text(params, "path");
            let snap = match sqlite::Snapshot::open(&path) {
                Ok(s) => s,
                Err(e) => return Some(done("open refused", json!({ "open": sql_err(e) }))),
            };
            let mut queries: Vec<String> = params
                .get("queries")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                .unwrap_or_default();
            for b in params.get("built").and_then(Value::as_array).cloned().unwrap_or_default() {
                if let Some(q) = b.as_str().and_then(built) {
                    queries.push(q);
                }
            }
            let max_rows = num(params, "max_rows", 10) as u32;
            let results: Vec<Value> = queries
                .iter()
                .map(|q| match snap.query(q, &[], max_rows) {
                    Ok(r) => json!({ "ok": { "columns": r.columns, "rows": r.rows.len(), "more": r.more } }),
                    Err(e) => sql_err(e),
                })
                .collect();
            done("queried", json!({ "open": { "ok": true }, "results": results }))
        }
        "sql-open-many" => {
            let path = text(params, "path");
            let count = num(params, "count", 100);
            let drop_each = params.get("drop").and_then(Value::as_bool).unwrap_or(false);
            let mut kept = Vec::new();
            let mut opened = 0;
            let mut first_error = Value::Null;
            for _ in 0..count {
                match sqlite::Snapshot::open(&path) {
                    Ok(s) => {
                        opened += 1;
                        if !drop_each {
                            kept.push(s);
                        }
                    }
                    Err(e) => {
                        if first_error.is_null() {
                            first_error = sql_err(e);
                        }
                    }
                }
            }
            // A leaked one: the host must reclaim it with the task.
            std::mem::forget(kept);
            done("opened", json!({ "opened": opened, "first_error": first_error }))
        }
        "cat-flood" => {
            let collection = text(params, "collection");
            let count = num(params, "count", 1000);
            let batch = num(params, "batch", count).max(1);
            let mut written = 0u64;
            let mut calls = 0u64;
            let mut error = Value::Null;
            let mut i = 0;
            while i < count {
                let n = batch.min(count - i);
                let mut records = String::with_capacity(n as usize * 24);
                records.push('[');
                for k in i..i + n {
                    if k > i {
                        records.push(',');
                    }
                    records.push_str(&format!("{{\"key\":\"f{k}\"}}"));
                }
                records.push(']');
                calls += 1;
                match cat::upsert(&collection, &records) {
                    Ok(r) => written += r.inserted + r.updated + r.unchanged,
                    Err(e) => {
                        error = cat_err(e);
                        break;
                    }
                }
                i += n;
            }
            done("flooded", json!({ "written": written, "calls": calls, "error": error }))
        }
        "cat-big" => {
            let collection = text(params, "collection");
            let size = num(params, "size", 1 << 20) as usize;
            let r = match text(params, "what").as_str() {
                "key" => cat::get(&collection, &"k".repeat(size), false).map(|_| json!(true)),
                "upsert-key" => {
                    cat::upsert(&collection, &format!("[{{\"key\":\"{}\"}}]", "k".repeat(size))).map(|_| json!(true))
                }
                "filter" => {
                    let f = (0..size).map(|i| format!("title~a{i}")).collect::<Vec<_>>().join(",");
                    cat::query(&collection, &f, None, 10).map(|p| json!(p.records.len()))
                }
                "property" => cat::ensure_collection(
                    &collection,
                    &[cat::PropertySpec {
                        id: format!("testkit.{}", "p".repeat(size)),
                        name: None,
                        kind: cat::PropertyKind::Text,
                        target: None,
                        inverse: None,
                        integer: false,
                    }],
                )
                .map(|()| json!(true)),
                "cursor" => cat::query(&collection, "", Some(&"c".repeat(size)), 10).map(|p| json!(p.records.len())),
                other => return Some(Err(Failure::InvalidInput(format!("cat-big: unknown `what` {other}")))),
            };
            done("called", json!({ "outcome": r.map(|v| json!({ "ok": v })).unwrap_or_else(cat_err) }))
        }
        "resolve-flood" => {
            let count = num(params, "count", 1000);
            let mut created = 0u64;
            let mut error = Value::Null;
            for i in 0..count {
                let q = cat::TrackQuery {
                    title: format!("flood {i}"),
                    artists: vec!["Flood".into()],
                    duration_ms: Some(1000 + i),
                    isrc: None,
                    external_ids: vec![],
                    path: None,
                };
                let rec = json!({ "key": format!("r{i}"), "props": { "title": format!("flood {i}"), "artists": ["Flood"], "duration_ms": 1000 + i } });
                match cat::resolve_track(&q, &rec.to_string()) {
                    Ok(r) if r.created => created += 1,
                    Ok(_) => {}
                    Err(e) => {
                        error = cat_err(e);
                        break;
                    }
                }
            }
            done("resolved", json!({ "created": created, "error": error }))
        }
        _ => return None,
    })
}
