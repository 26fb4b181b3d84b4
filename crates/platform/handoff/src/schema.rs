//! Parsing and validation against the published schema (`handoffs/schema/handoff.v1.json`),
//! which is compiled into the binary so the file on disk and the check can never disagree.
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{ErrorCode, model::Body};

/// The schema text, as published in `handoffs/schema/`.
pub const SCHEMA_JSON: &str = include_str!("../../../../handoffs/schema/handoff.v1.json");

/// Why a file is not a valid handoff.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Invalid {
    pub code: ErrorCode,
    pub message: String,
}

impl Invalid {
    fn new(message: impl Into<String>) -> Self {
        Invalid { code: ErrorCode::Invalid, message: message.into() }
    }
}

/// The published schema, compiled into Rust when baton is built (`jsonschema`'s `validator`
/// macro): a one-shot command (`baton send --wait`, `baton wait`) checks a handoff without
/// compiling a validator at run time, and the file (tracked by the macro) stays the only judge.
/// Its patterns are plain (no look-around, no back-reference), so they use the `regex` engine:
/// each process compiles them once, and going through `fancy-regex`'s own parser first was
/// 0.1–0.2 ms of a `send --wait`'s 3.3 ms of CPU (`agrees_with_the_schema` holds either way).
#[jsonschema::validator(path = "../../../handoffs/schema/handoff.v1.json", pattern_options = { engine = regex })]
struct HandoffV1;

/// Whether `value` is valid under `handoffs/schema/handoff.v1.json` (the RFC 3339 calendar check
/// on `created_at`, which the schema's pattern cannot make, is [`validate`]'s).
pub fn conforms(value: &Value) -> bool {
    HandoffV1::is_valid(value)
}

/// Parses raw bytes into a schema-valid handoff, plus the raw JSON value (kept for hashing).
pub fn parse(bytes: &[u8]) -> Result<(Body, Value), Invalid> {
    let value: Value = crate::strict::parse(bytes).map_err(|e| match e {
        crate::strict::StrictError::Syntax(e) => Invalid::new(format!("not valid JSON: {e}")),
        crate::strict::StrictError::DuplicateKey(m) => Invalid::new(m),
    })?;
    parse_value(value)
}

/// [`parse`] for JSON already parsed (the inbox's readiness check parses each file once).
pub fn parse_value(value: Value) -> Result<(Body, Value), Invalid> {
    validate(&value)?;
    let kind = value.get("kind").and_then(Value::as_str);
    let body = match kind {
        Some("task") => serde_json::from_value(value.clone()).map(Body::Task),
        Some("input_request") => serde_json::from_value(value.clone()).map(Body::InputRequest),
        Some("input") => serde_json::from_value(value.clone()).map(Body::Input),
        _ => serde_json::from_value(value.clone()).map(Body::Return),
    }
    .map_err(|e| Invalid::new(format!("does not match the handoff schema: {e}")))?;
    Ok((body, value))
}

/// Validates a JSON value against the schema; the message lists up to five problems,
/// each with the JSON path it concerns.
pub fn validate(value: &Value) -> Result<(), Invalid> {
    if conforms(value) {
        return created_at_is_a_date(value);
    }
    let errors: Vec<String> = HandoffV1::iter_errors(value)
        .take(5)
        .map(|e| {
            let path = e.instance_path().to_string();
            let at = if path.is_empty() { "(root)".to_string() } else { path };
            format!("{at}: {e}")
        })
        .collect();
    if errors.is_empty() {
        return created_at_is_a_date(value);
    }
    // Named field by field (crate::explain), never the document echoed back; the schema's own
    // paths only where that check finds nothing to say.
    let why = crate::explain::problems(value);
    let why = if why.is_empty() {
        errors.iter().map(|e| e.split(':').next().unwrap_or(e)).collect::<Vec<_>>().join(", ")
    } else {
        why
    };
    Err(Invalid::new(format!("not a valid {} handoff: {why}", crate::SCHEMA_ID)))
}

/// The schema's pattern admits month 13; a handoff's `created_at` must also be a real date.
fn created_at_is_a_date(value: &Value) -> Result<(), Invalid> {
    if let Some(ts) = value.get("created_at").and_then(Value::as_str)
        && crate::stamp::parse_rfc3339(ts).is_none()
    {
        return Err(Invalid::new(format!("/created_at: {ts:?} is not an RFC 3339 date-time")));
    }
    Ok(())
}

/// SHA-256 of the value's canonical form (object keys sorted, no whitespace), so that the
/// same handoff re-saved by another editor still counts as the same content.
pub fn content_hash(value: &Value) -> String {
    let mut out = Vec::with_capacity(256);
    write_canonical(value, &mut out);
    hex::encode(Sha256::digest(&out))
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(Value::String(k.clone()).to_string().as_bytes());
                out.push(b':');
                write_canonical(&map[k], out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(v, out);
            }
            out.push(b']');
        }
        other => out.extend_from_slice(other.to_string().as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn task() -> Value {
        json!({"schema": "baton.handoff/v1", "id": "01J0", "kind": "task",
               "created_at": "2026-01-18T07:09:51Z", "from": "Claude-Code-Agent",
               "title": "Echo", "plugin": "echo", "action": "echo", "params": {"a": 1}})
    }

    #[test]
    fn accepts_a_task_and_the_examples() {
        let (body, _) = parse(task().to_string().as_bytes()).unwrap();
        assert!(matches!(body, Body::Task(t) if t.reply_agent() == "Claude-Code-Agent"));
        for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../handoffs/examples")).unwrap() {
            let path = entry.unwrap().path();
            parse(&std::fs::read(&path).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
    }

    #[test]
    fn rejects_bad_inputs_with_reasons() {
        let e = parse(b"{not json").unwrap_err();
        assert!(e.message.contains("not valid JSON"), "{e}");
        let mut t = task();
        t.as_object_mut().unwrap().remove("title");
        assert!(parse(t.to_string().as_bytes()).unwrap_err().message.contains("title"));
        let mut t = task();
        t["reply_to"] = json!("../../x");
        assert!(parse(t.to_string().as_bytes()).unwrap_err().message.contains("`reply_to`"));
        let mut t = task();
        t.as_object_mut().unwrap().remove("plugin");
        assert!(parse(t.to_string().as_bytes()).is_err());
        let mut t = task();
        t["created_at"] = json!("2026-13-45T99:00:00Z");
        assert!(parse(t.to_string().as_bytes()).is_err());
    }

    /// Values that sit on either side of each rule of the schema.
    fn probes() -> Vec<Value> {
        let long = |n: usize| json!("a".repeat(n));
        vec![
            Value::Null,
            json!(true),
            json!(0),
            json!(-1),
            json!(2),
            json!(2.0),
            json!(2.5),
            json!(-0.0),
            json!(1e300),
            json!(""),
            json!("a"),
            json!("Codex-MM1"),
            json!("a.b"),
            json!("a..b"),
            json!(".a"),
            json!("a."),
            json!("a/b"),
            json!("a.b/c-d"),
            json!("a/b/c"),
            json!("a/"),
            json!("/a"),
            json!("a/.b"),
            json!("a//b"),
            json!("a b"),
            json!("é"),
            json!("a\n"),
            json!("ab\n"),
            long(128),
            long(129),
            long(200),
            long(201),
            long(500),
            long(501),
            json!("é".repeat(500)),
            json!("é".repeat(501)),
            json!("é".repeat(128)),
            json!("é".repeat(129)),
            json!("2026-01-18T07:09:51Z"),
            json!("2026-01-18t07:09:51z"),
            json!("2026-01-18 07:09:51+01:00"),
            json!("2026-01-18T07:09:51.123456-05:30"),
            json!("2026-01-18T07:09:51."),
            json!("2026-01-18T07:09:51"),
            json!("2026-01-18T07:09:51Z\n"),
            json!("2026-01-18T07:09:51+0100"),
            json!("2026-1-18T07:09:51Z"),
            json!("２０２６-01-18T07:09:51Z"),
            json!("2026-01-18X07:09:51Z"),
            json!("baton.handoff/v1"),
            json!("baton.handoff/v2"),
            json!("task"),
            json!("return"),
            json!("low"),
            json!("urgent"),
            json!("completed"),
            json!("canceled"),
            json!("cancelled"),
            json!({}),
            json!({"a": 1}),
            json!([]),
            json!(["x"]),
            json!([1]),
            json!(["x", null]),
            json!({"code": "Invalid", "message": "m"}),
            json!({"code": "Invalid"}),
            json!({"code": 1, "message": "m"}),
            json!({"name": "echo", "version": "1", "sha256": "ab"}),
            json!({"name": "echo", "version": "1"}),
            json!({"name": "echo", "version": 1, "sha256": "ab", "x": 2}),
        ]
    }

    fn bases() -> Vec<Value> {
        let agent = json!({"schema": "baton.handoff/v1", "id": "01J1", "kind": "task", "created_at": "2026-01-18T07:09:51Z",
            "from": "Cursor-Agent", "title": "Review", "to": "Codex-MM1", "reply_to": "Cursor-Agent", "priority": "high",
            "deadline": "2026-01-19T00:00:00Z", "correlation_id": "c-1", "body": "free"});
        let ret = json!({"schema": "baton.handoff/v1", "id": "01J2", "kind": "return", "created_at": "2026-01-18T07:09:52Z",
            "from": "baton", "title": "Echo", "to": "Claude-Code-Agent", "in_reply_to": "01J0", "status": "completed",
            "summary": "ok", "result": {"a": 1}, "artifacts": ["x.txt"], "error": null, "started_at": "2026-01-18T07:09:51Z",
            "finished_at": null, "attempts": 1, "plugin": {"name": "echo", "version": "0.1.0", "sha256": "ab"}});
        vec![task(), agent, ret]
    }

    const KEYS: &[&str] = &[
        "schema",
        "id",
        "kind",
        "created_at",
        "from",
        "title",
        "correlation_id",
        "plugin",
        "action",
        "params",
        "to",
        "reply_to",
        "priority",
        "deadline",
        "in_reply_to",
        "status",
        "summary",
        "result",
        "artifacts",
        "error",
        "started_at",
        "finished_at",
        "attempts",
        "other",
    ];

    /// The schema compiled at run time, as `params::compile` compiles a plugin's.
    fn compiled_at_run_time() -> jsonschema::Validator {
        let schema: Value = serde_json::from_str(SCHEMA_JSON).expect("the bundled schema is JSON");
        jsonschema::validator_for(&schema).expect("the bundled schema compiles")
    }

    /// The validator generated at build time and the schema compiled at run time (two
    /// implementations in `jsonschema`) decide every document alike: each field of each base
    /// removed or set to each probe, then random documents of several changes.
    #[test]
    fn agrees_with_the_schema() {
        let mut docs: Vec<Value> = vec![json!([]), json!("task"), Value::Null];
        let probes = probes();
        for base in bases() {
            docs.push(base.clone());
            for k in KEYS {
                let mut d = base.clone();
                d.as_object_mut().unwrap().remove(*k);
                docs.push(d);
                for p in &probes {
                    let mut d = base.clone();
                    d[*k] = p.clone();
                    docs.push(d);
                }
            }
        }
        // A small deterministic generator: a few changes at once, so the `oneOf` and `if`
        // branches meet each other's fields.
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let bases = bases();
        for _ in 0..20_000 {
            let mut d = bases[next(bases.len())].clone();
            for _ in 0..1 + next(3) {
                let k = KEYS[next(KEYS.len())];
                if next(4) == 0 {
                    d.as_object_mut().unwrap().remove(k);
                } else {
                    d[k] = probes[next(probes.len())].clone();
                }
            }
            docs.push(d);
        }
        let (mut valid, mut invalid) = (0, 0);
        let compiled = compiled_at_run_time();
        for d in &docs {
            let schema_says = compiled.is_valid(d);
            assert_eq!(conforms(d), schema_says, "the generated validator and the compiled schema disagree on {d}");
            if schema_says { valid += 1 } else { invalid += 1 }
        }
        assert!(valid > 500 && invalid > 500, "a corpus that tests both sides: {valid} valid, {invalid} invalid");
    }

    #[test]
    fn hash_ignores_key_order_and_whitespace() {
        let a: Value = serde_json::from_str(r#"{"a":1,"b":[1,{"y":2,"x":3}]}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{ "b": [1, {"x":3, "y":2}], "a": 1 }"#).unwrap();
        assert_eq!(content_hash(&a), content_hash(&b));
        assert_ne!(content_hash(&a), content_hash(&task()));
    }
}
