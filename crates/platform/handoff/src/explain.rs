//! Rejection messages that explain themselves: every missing or invalid field of a
//! `baton.handoff/v1` body named in one or two sentences, never the document echoed back.
//! The JSON Schema stays the judge ([`crate::schema::validate`]); this only says why, in the
//! schema's own terms, so the two cannot drift far (a test walks the schema's fields).
use serde_json::{Map, Value};

use crate::{SCHEMA_ID, names, stamp};

const BASE: [&str; 6] = ["schema", "id", "kind", "created_at", "from", "title"];
const RETURN_REQUIRED: [&str; 3] = ["in_reply_to", "status", "summary"];

/// A short, quoted rendering of a value (strings cut at 40 characters; containers by type).
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) if s.chars().count() > 40 => format!("{:?}…", s.chars().take(40).collect::<String>()),
        Value::String(s) => format!("{s:?}"),
        Value::Object(_) => "an object".into(),
        Value::Array(_) => "a list".into(),
        other => other.to_string(),
    }
}

fn check_name(o: &Map<String, Value>, k: &str, bad: &mut Vec<String>) {
    match o.get(k) {
        Some(Value::String(s)) if names::is_valid_name(s) => {}
        Some(v) => {
            bad.push(format!("`{k}` ({} is not a name: ASCII letters, digits, `_`, `-`, single dots)", shown(v)))
        }
        None => {}
    }
}

/// Who sends or gets an answer (`from`, `reply_to`, a RETURN's `to`): a name, or a Claude Code
/// team's agent as `TEAM/AGENT`.
fn check_agent(o: &Map<String, Value>, k: &str, bad: &mut Vec<String>) {
    match o.get(k) {
        Some(Value::String(s)) if names::is_valid_agent(s) => {}
        Some(v) => bad.push(format!(
            "`{k}` ({} is not an agent: a name of ASCII letters, digits, `_`, `-`, single dots, or TEAM/AGENT)",
            shown(v)
        )),
        None => {}
    }
}

fn check_time(o: &Map<String, Value>, k: &str, bad: &mut Vec<String>) {
    match o.get(k) {
        Some(Value::String(s)) if stamp::parse_rfc3339(s).is_some() => {}
        Some(Value::Null) if matches!(k, "started_at" | "finished_at") => {}
        Some(v) => bad.push(format!("`{k}` ({} is not an RFC 3339 date-time such as 2026-01-18T07:09:51Z)", shown(v))),
        None => {}
    }
}

fn check_enum(o: &Map<String, Value>, k: &str, allowed: &[&str], bad: &mut Vec<String>) {
    match o.get(k) {
        Some(Value::String(s)) if allowed.contains(&s.as_str()) => {}
        Some(v) => bad.push(format!("`{k}` ({} is not one of {})", shown(v), allowed.join(", "))),
        None => {}
    }
}

/// The problems with `value` as a `baton.handoff/v1` body, in one or two sentences; empty if
/// this check finds none (the schema may still, and then says so itself).
pub fn problems(value: &Value) -> String {
    let Value::Object(o) = value else {
        return format!("the body is {}, not a JSON object", shown(value));
    };
    let kind = o.get("kind").and_then(Value::as_str);
    let mut missing: Vec<&str> = BASE.iter().copied().filter(|k| !o.contains_key(*k)).collect();
    let mut bad: Vec<String> = Vec::new();
    match o.get("schema") {
        Some(Value::String(s)) if s == SCHEMA_ID => {}
        Some(v) => bad.push(format!("`schema` ({} must be \"{SCHEMA_ID}\")", shown(v))),
        None => {}
    }
    match o.get("id") {
        Some(Value::String(s)) if names::is_valid_name(s) => {}
        Some(v) => bad.push(format!(
            "`id` ({} is not an id: ASCII letters, digits, `_`, `-`, single dots, at most 128)",
            shown(v)
        )),
        None => {}
    }
    check_enum(o, "kind", &["task", "return", "input_request", "input"], &mut bad);
    check_time(o, "created_at", &mut bad);
    check_agent(o, "from", &mut bad);
    match o.get("title") {
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= 500 => {}
        Some(v) => bad.push(format!("`title` ({} must be a string of 1 to 500 characters)", shown(v))),
        None => {}
    }
    let mut hint = String::new();
    match kind {
        Some("task") => {
            for k in ["plugin", "action", "to"] {
                check_name(o, k, &mut bad);
            }
            check_agent(o, "reply_to", &mut bad);
            if o.get("params").is_some_and(|p| !p.is_object()) {
                bad.push(format!("`params` ({} must be an object)", shown(&o["params"])));
            }
            check_enum(o, "priority", &["low", "normal", "high", "urgent"], &mut bad);
            check_time(o, "deadline", &mut bad);
            let has = |k: &str| o.contains_key(k);
            if has("to") && (has("plugin") || has("action") || has("params")) {
                bad.push("`to` together with `plugin`/`action`/`params` (a TASK is for baton or for another agent, not both)".into());
            } else if !has("to") {
                let gone: Vec<&str> = ["plugin", "action", "params"].into_iter().filter(|k| !has(k)).collect();
                if gone.len() == 3 {
                    hint =
                        " A TASK names `plugin`, `action` and `params` (for baton) or `to` (for another agent).".into();
                } else {
                    missing.extend(gone);
                }
            }
        }
        Some("return") => {
            missing.extend(RETURN_REQUIRED.iter().copied().filter(|k| !o.contains_key(*k)));
            check_agent(o, "to", &mut bad);
            check_enum(o, "status", &["completed", "failed", "rejected", "canceled"], &mut bad);
            for k in ["started_at", "finished_at"] {
                check_time(o, k, &mut bad);
            }
        }
        Some("input_request") => {
            let asked = ["in_reply_to", "request_id", "message", "input_schema"];
            missing.extend(asked.into_iter().filter(|k| !o.contains_key(*k)));
        }
        Some("input") => {
            missing.extend(["in_reply_to", "request_id", "input"].into_iter().filter(|k| !o.contains_key(*k)));
        }
        _ => {}
    }
    let list = |v: &[&str]| v.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
    let mut out = Vec::new();
    if !missing.is_empty() {
        out.push(format!("missing {}", list(&missing)));
    }
    if !bad.is_empty() {
        out.push(format!("invalid {}", bad.join("; ")));
    }
    if out.is_empty() {
        return hint.trim().to_string();
    }
    format!("{}.{hint}", out.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_every_missing_field_and_never_asks_a_task_without_kind_for_return_fields() {
        let m = problems(
            &json!({"handoff_id": "x", "source_agent": "Cursor MM1 Agent", "required_action": "a".repeat(3000)}),
        );
        for k in ["`schema`", "`id`", "`kind`", "`created_at`", "`from`", "`title`"] {
            assert!(m.contains(k), "{k} in {m}");
        }
        for k in ["in_reply_to", "status", "summary", "aaaa"] {
            assert!(!m.contains(k), "{k} in {m}");
        }
        assert!(m.len() < 200, "{m}");
    }

    #[test]
    fn names_invalid_fields_with_a_short_reason() {
        let m = problems(&json!({"schema": "baton.handoff/v1", "id": "a b", "kind": "task", "created_at": "yesterday",
            "from": "Claude Code Agent", "title": "t", "plugin": "echo", "action": "echo"}));
        assert!(
            m.contains("missing `params`") && m.contains("`id`") && m.contains("`created_at`") && m.contains("`from`"),
            "{m}"
        );
        let m = problems(
            &json!({"schema": "baton.handoff/v1", "id": "r", "kind": "return", "created_at": "2026-01-18T07:09:51Z",
            "from": "baton", "title": "t", "status": "done"}),
        );
        assert!(m.contains("`in_reply_to`") && m.contains("`summary`") && m.contains("`status` (\"done\""), "{m}");
    }
}
