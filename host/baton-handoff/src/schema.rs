//! Parsing and validation against the published schema (`handoffs/schema/handoff.v1.json`),
//! which is compiled into the binary so the file on disk and the check can never disagree.
use std::sync::OnceLock;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{model::Body, ErrorCode};

/// The schema text, as published in `handoffs/schema/`.
pub const SCHEMA_JSON: &str = include_str!("../../../handoffs/schema/handoff.v1.json");

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

fn validator() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| {
        let schema: Value = serde_json::from_str(SCHEMA_JSON).expect("the bundled schema is JSON");
        jsonschema::validator_for(&schema).expect("the bundled schema compiles")
    })
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
        _ => serde_json::from_value(value.clone()).map(Body::Return),
    }
    .map_err(|e| Invalid::new(format!("does not match the handoff schema: {e}")))?;
    Ok((body, value))
}

/// Validates a JSON value against the schema; the message lists up to five problems,
/// each with the JSON path it concerns.
pub fn validate(value: &Value) -> Result<(), Invalid> {
    let errors: Vec<String> = validator()
        .iter_errors(value)
        .take(5)
        .map(|e| {
            let path = e.instance_path.to_string();
            let at = if path.is_empty() { "(root)".to_string() } else { path };
            format!("{at}: {e}")
        })
        .collect();
    if errors.is_empty() {
        if let Some(ts) = value.get("created_at").and_then(Value::as_str)
            && crate::stamp::parse_rfc3339(ts).is_none() {
                return Err(Invalid::new(format!("/created_at: {ts:?} is not an RFC 3339 date-time")));
            }
        return Ok(());
    }
    // Named field by field (crate::explain), never the document echoed back; the schema's own
    // paths only where that check finds nothing to say.
    let why = crate::explain::problems(value);
    let why = if why.is_empty() { errors.iter().map(|e| e.split(':').next().unwrap_or(e)).collect::<Vec<_>>().join(", ") } else { why };
    Err(Invalid::new(format!("not a valid {} handoff: {why}", crate::SCHEMA_ID)))
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
        for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../handoffs/examples")).unwrap() {
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

    #[test]
    fn hash_ignores_key_order_and_whitespace() {
        let a: Value = serde_json::from_str(r#"{"a":1,"b":[1,{"y":2,"x":3}]}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{ "b": [1, {"x":3, "y":2}], "a": 1 }"#).unwrap();
        assert_eq!(content_hash(&a), content_hash(&b));
        assert_ne!(content_hash(&a), content_hash(&task()));
    }
}
