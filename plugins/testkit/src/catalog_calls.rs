//! The `catalog` action: catalog calls (baton:plugin@0.4.0) described as JSON, so an
//! end-to-end test can drive every function of the interface from a TASK's params and read
//! each answer, or the refusal's kind and text exactly as the host gave it, in the RETURN.
use serde_json::{Value, json};

use crate::baton::plugin::catalog as cat;

/// One catalog call described as JSON: `{"op": "upsert", "collection": "tracks", "records": [...]}`.
/// Returns `{"ok": ...}` or `{"error": {"kind": "denied" | "invalid" | "quota" | "io", "message"}}`.
pub(crate) fn catalog_call(c: &Value) -> Value {
    let s = |k: &str| text(c, k);
    let opt = |k: &str| c.get(k).and_then(Value::as_str).map(str::to_string);
    let answer = |r: Result<Value, cat::CatalogError>| r.map(|v| json!({ "ok": v })).unwrap_or_else(error);
    let r = match s("op").as_str() {
        "collections" => cat::collections().map(|all| collections_json(&all)),
        "ensure" => cat::ensure_collection(&s("collection"), &property_specs(c)).map(|()| json!(true)),
        "rename" => cat::rename_property(&s("collection"), &s("property"), &s("name")).map(|()| json!(true)),
        "remove" => cat::remove_property(&s("collection"), &s("property")).map(|()| json!(true)),
        "upsert" => cat::upsert(&s("collection"), &upsert_records(c))
            .map(|r| json!({ "inserted": r.inserted, "updated": r.updated, "unchanged": r.unchanged })),
        "get" => cat::get(&s("collection"), &s("key"), c.get("archived").and_then(Value::as_bool).unwrap_or(false))
            .map(|r| r.map(parse).unwrap_or(Value::Null)),
        "query" => {
            let limit = c.get("limit").and_then(Value::as_u64).unwrap_or(1000) as u32;
            cat::query(&s("collection"), &s("filter"), opt("cursor").as_deref(), limit)
                .map(|p| json!({ "records": parse(p.records), "next": p.next }))
        }
        "links" => cat::links(&s("collection"), &s("key"), &s("property")).map(|l| {
            json!(l.iter().map(|l| json!({"key": l.key, "position": l.position, "added_at": l.added_at, "method": l.method.map(method_name)})).collect::<Vec<_>>())
        }),
        "link" => {
            let m = match method_of(opt("method").as_deref()) {
                Ok(m) => m,
                Err(other) => return testkit_error(format!("unknown method `{other}`")),
            };
            cat::link(&s("collection"), &s("key"), &s("property"), &s("target"), opt("added_at").as_deref(), m)
                .map(|b| json!(b))
        }
        "unlink" => cat::unlink(&s("collection"), &s("key"), &s("property"), &s("target")).map(|b| json!(b)),
        "changes" => changes(c),
        "match" => cat::match_track(&track_query(c)).map(outcome_json),
        "resolve" => cat::resolve_track(&track_query(c), &json_text(c, "record"))
            .map(|r| json!({ "key": r.key, "created": r.created, "outcome": outcome_json(r.outcome) })),
        // A pause between calls, so a test can kill the host at a known point in a long run.
        "sleep" => {
            let ms = c.get("ms").and_then(Value::as_u64).unwrap_or(0);
            std::thread::sleep(std::time::Duration::from_millis(ms));
            Ok(json!({ "ms": ms }))
        }
        other => return testkit_error(format!("unknown catalog op `{other}`")),
    };
    answer(r)
}

fn text(c: &Value, k: &str) -> String {
    c.get(k).and_then(Value::as_str).unwrap_or("").to_string()
}

/// A param given as JSON or as JSON text, as text.
fn json_text(c: &Value, k: &str) -> String {
    c.get(k).map(|v| if let Value::String(t) = v { t.clone() } else { v.to_string() }).unwrap_or_default()
}

/// Text the host gave back, as JSON where it is JSON.
fn parse(t: String) -> Value {
    serde_json::from_str::<Value>(&t).unwrap_or(Value::String(t))
}

/// The host's refusal, its message untouched (tests read the host's own words).
fn error(e: cat::CatalogError) -> Value {
    let (kind, m) = match e {
        cat::CatalogError::Denied(m) => ("denied", m),
        cat::CatalogError::Invalid(m) => ("invalid", m),
        cat::CatalogError::Quota(m) => ("quota", m),
        cat::CatalogError::Io(m) => ("io", m),
    };
    json!({ "error": { "kind": kind, "message": m } })
}

/// A call the test described wrongly: never sent to the host.
fn testkit_error(message: String) -> Value {
    json!({ "error": { "kind": "testkit", "message": message } })
}

/// `upsert`'s records: `records`, or one record `key` whose title is `pad_bytes` long (a call
/// over the host's size cap).
fn upsert_records(c: &Value) -> String {
    match c.get("pad_bytes").and_then(Value::as_u64) {
        Some(n) => json!([{"key": text(c, "key"), "props": {"title": "x".repeat(n as usize)}}]).to_string(),
        None => json_text(c, "records"),
    }
}

fn collections_json(all: &[cat::CollectionInfo]) -> Value {
    json!(all.iter().map(|c| json!({
        "name": c.name, "owner": c.owner, "records": c.records, "read_only": c.read_only,
        "properties": c.properties.iter().map(|p| json!({"id": p.id, "name": p.name, "owner": p.owner, "archived": p.archived})).collect::<Vec<_>>(),
    })).collect::<Vec<_>>())
}

/// `ensure`'s `properties`: `{"id", "name", "kind", "target", "inverse", "integer"}` each.
fn property_specs(c: &Value) -> Vec<cat::PropertySpec> {
    let all = c.get("properties").and_then(Value::as_array).cloned().unwrap_or_default();
    all.iter()
        .map(|p| cat::PropertySpec {
            id: p.get("id").and_then(Value::as_str).unwrap_or("").into(),
            name: p.get("name").and_then(Value::as_str).map(str::to_string),
            kind: match p.get("kind").and_then(Value::as_str).unwrap_or("text") {
                "number" => cat::PropertyKind::Number,
                "date" => cat::PropertyKind::Date,
                "bool" => cat::PropertyKind::Bool,
                "select" => cat::PropertyKind::Select,
                "multi-select" => cat::PropertyKind::MultiSelect,
                "url" => cat::PropertyKind::Url,
                "relation" => cat::PropertyKind::Relation,
                _ => cat::PropertyKind::Text,
            },
            target: p.get("target").and_then(Value::as_str).map(str::to_string),
            inverse: p.get("inverse").and_then(Value::as_str).map(str::to_string),
            integer: p.get("integer").and_then(Value::as_bool).unwrap_or(false),
        })
        .collect()
}

/// `changes`: `since`, `limit`; with `seqs`, only the sequence numbers (a long log fits the
/// task's output).
fn changes(c: &Value) -> Result<Value, cat::CatalogError> {
    let since = c.get("since").and_then(Value::as_u64).unwrap_or(0);
    let limit = c.get("limit").and_then(Value::as_u64).unwrap_or(10_000) as u32;
    let all = cat::changes_since(since, limit)?;
    if c.get("seqs").and_then(Value::as_bool) == Some(true) {
        return Ok(json!(all.iter().map(|ch| ch.seq).collect::<Vec<_>>()));
    }
    Ok(json!(all.iter().map(|ch| json!({
        "seq": ch.seq, "collection": ch.collection, "key": ch.key, "op": ch.op, "actor": ch.actor, "detail": parse(ch.detail.clone()),
    })).collect::<Vec<_>>()))
}

fn method_name(m: cat::MatchMethod) -> &'static str {
    match m {
        cat::MatchMethod::ExternalId => "external_id",
        cat::MatchMethod::Isrc => "isrc",
        cat::MatchMethod::Normalized => "normalized",
        cat::MatchMethod::Fuzzy => "fuzzy",
        cat::MatchMethod::Fingerprint => "fingerprint",
        cat::MatchMethod::Manual => "manual",
    }
}

/// `link`'s `method` by name (none: a data link); an unknown name is given back.
fn method_of(name: Option<&str>) -> Result<Option<cat::MatchMethod>, String> {
    Ok(Some(match name {
        None => return Ok(None),
        Some("external_id") => cat::MatchMethod::ExternalId,
        Some("isrc") => cat::MatchMethod::Isrc,
        Some("normalized") => cat::MatchMethod::Normalized,
        Some("fuzzy") => cat::MatchMethod::Fuzzy,
        Some("fingerprint") => cat::MatchMethod::Fingerprint,
        Some("manual") => cat::MatchMethod::Manual,
        Some(other) => return Err(other.to_string()),
    }))
}

fn outcome_json(o: cat::MatchOutcome) -> Value {
    json!({
        "verdict": match o.verdict {
            cat::Verdict::Match => "match",
            cat::Verdict::Ambiguous => "ambiguous",
            cat::Verdict::None => "none",
        },
        "candidates": o.candidates.iter().map(|c| json!({
            "key": c.key, "title": c.title, "artists": c.artists, "duration_ms": c.duration_ms,
            "score": c.score, "method": method_name(c.method), "reasons": c.reasons,
        })).collect::<Vec<_>>(),
    })
}

/// `match` and `resolve`'s `query`: `{"title", "artists", "duration_ms", "isrc", "external_ids", "path"}`.
fn track_query(c: &Value) -> cat::TrackQuery {
    let q = c.get("query").cloned().unwrap_or_default();
    let strs = |k: &str| {
        q.get(k)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default()
    };
    cat::TrackQuery {
        title: q.get("title").and_then(Value::as_str).unwrap_or("").into(),
        artists: strs("artists"),
        duration_ms: q.get("duration_ms").and_then(Value::as_u64),
        isrc: q.get("isrc").and_then(Value::as_str).map(str::to_string),
        external_ids: strs("external_ids"),
        path: q.get("path").and_then(Value::as_str).map(str::to_string),
    }
}
