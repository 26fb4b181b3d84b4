//! Attacks on host work a plugin triggers, which the host must bound (`tests/hostile_v05.rs`):
//! SQLite snapshot memory and temporary storage, catalog calls that make the host read, build
//! or compute far more than they return, and the change log against the catalog quota. Each
//! action reports what every call answered, so the test asserts the containment from the
//! task's RETURN.
//!
//! | action | does | expected host reaction |
//! |---|---|---|
//! | `sql-hog` | runs `params.sql` (a big sort) on a snapshot of `params.path`, then `kv-set` and `kv-get` | the query fails `out of memory` within the task's own SQLite budget; the kv write is saved |
//! | `cat-fat` | upserts `params.count` records of `params.pad_bytes` into its own `testkit.fat`, in calls of `params.batch`, `params.rounds` times with new content | `quota` once over the catalog quota (records and change log) |
//! | `cat-scan` | one `query` of `testkit.fat` with `params.filter` (`limit` 1,000) | a page built within the per-call read cap: fewer records and a `next` cursor |
//! | `cat-changes` | one `changes-since(params.since, 10,000)` | at most the per-call cap of bytes, never an error for volume |
//! | `cat-match-repeat` | `match-track` with one external id listed `params.count` times | `invalid` (over the input cap), at once |
use serde_json::{Value, json};

use crate::baton::plugin::catalog as cat;
use crate::baton::plugin::host;
use crate::baton::plugin::sqlite;
use crate::hostile_v04::{cat_err, done, num};
use crate::{Failure, Outcome};

pub const ACTIONS: &[(&str, &str)] = &[
    ("sql-hog", "a snapshot query that needs a lot of SQLite memory, then a kv write"),
    ("cat-fat", "upserts many padded records into its own collection"),
    ("cat-scan", "one catalog query over big records"),
    ("cat-changes", "one changes-since over a big change log"),
    ("cat-match-repeat", "match-track with one external id repeated"),
];

fn text(params: &Value, key: &str, default: &str) -> String {
    params.get(key).and_then(Value::as_str).unwrap_or(default).to_string()
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Properties of `testkit.fat`'s padding.
const PADS: usize = 4;

fn fat_props(round: u64, pad: &str) -> Value {
    Value::Object((0..PADS).map(|i| (format!("testkit.pad{i}"), json!(format!("{round:04}{pad}")))).collect())
}

pub fn run(action: &str, params: &Value) -> Option<Result<Outcome, Failure>> {
    Some(match action {
        "sql-hog" => {
            let path = text(params, "path", "/data/small.db");
            let sql = text(params, "sql", "SELECT 1");
            let query = match sqlite::Snapshot::open(&path) {
                Ok(s) => match s.query(&sql, &[], 1) {
                    Ok(rows) => json!({ "rows": rows.rows.len() }),
                    Err(e) => json!({ "error": format!("{e:?}") }),
                },
                Err(e) => json!({ "open_error": format!("{e:?}") }),
            };
            host::kv_set("after-hog", "saved");
            done("sql-hog", json!({ "query": query, "kv": host::kv_get("after-hog") }))
        }
        "cat-fat" => {
            let count = num(params, "count", 100);
            let batch = num(params, "batch", 10).max(1);
            // A text value holds at most 64 KiB: the padding is spread over four properties.
            let pad = "x".repeat((num(params, "pad_bytes", 1000) as usize / PADS).min(60_000));
            let specs: Vec<cat::PropertySpec> = (0..PADS)
                .map(|i| cat::PropertySpec {
                    id: format!("testkit.pad{i}"),
                    name: None,
                    kind: cat::PropertyKind::Text,
                    target: None,
                    inverse: None,
                    integer: false,
                })
                .collect();
            let ensure = cat::ensure_collection("testkit.fat", &specs);
            if let Err(e) = ensure {
                return Some(done("ensure refused", json!({ "ensure": cat_err(e) })));
            }
            // Each round rewrites every record with new content: the records stay the same size,
            // the change log grows by a record's worth per record.
            let rounds = num(params, "rounds", 1);
            let mut written = 0;
            let mut last = Value::Null;
            'rounds: for round in 0..rounds {
                let mut i = 0;
                while i < count {
                    let n = batch.min(count - i);
                    let records: Vec<Value> = (i..i + n)
                        .map(|k| json!({ "key": format!("r{k:08}"), "props": fat_props(round, &pad) }))
                        .collect();
                    match cat::upsert("testkit.fat", &Value::Array(records).to_string()) {
                        Ok(_) => written += n,
                        Err(e) => {
                            last = cat_err(e);
                            break 'rounds;
                        }
                    }
                    i += n;
                }
            }
            done("cat-fat", json!({ "written": written, "error": last }))
        }
        "cat-scan" => {
            let filter = text(params, "filter", "");
            let started = now_ms();
            let r = match cat::query("testkit.fat", &filter, params.get("cursor").and_then(Value::as_str), 1000) {
                Ok(page) => {
                    let n = serde_json::from_str::<Value>(&page.records)
                        .ok()
                        .and_then(|v| v.as_array().map(Vec::len))
                        .unwrap_or(0);
                    json!({ "records": n, "bytes": page.records.len(), "next": page.next })
                }
                Err(e) => cat_err(e),
            };
            done("cat-scan", json!({ "page": r, "ms": now_ms() - started }))
        }
        "cat-changes" => {
            let started = now_ms();
            let r = match cat::changes_since(num(params, "since", 0), 10_000) {
                Ok(changes) => json!({
                    "changes": changes.len(),
                    "bytes": changes.iter().map(|c| c.detail.len()).sum::<usize>(),
                    "last": changes.last().map(|c| c.seq),
                }),
                Err(e) => cat_err(e),
            };
            done("cat-changes", json!({ "answer": r, "ms": now_ms() - started }))
        }
        "cat-match-repeat" => {
            let count = num(params, "count", 12_000) as usize;
            let q = cat::TrackQuery {
                title: "Repeated".into(),
                artists: vec!["Someone".into()],
                duration_ms: None,
                isrc: None,
                external_ids: vec!["spotify:track:repeated".to_string(); count],
                path: None,
            };
            let started = now_ms();
            let r = match cat::match_track(&q) {
                Ok(o) => json!({ "candidates": o.candidates.len() }),
                Err(e) => cat_err(e),
            };
            done("cat-match-repeat", json!({ "answer": r, "ms": now_ms() - started }))
        }
        _ => return None,
    })
}
