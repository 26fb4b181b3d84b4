//! A hand-written check of the published v1 schema, so a one-shot command (`baton send --wait`,
//! `baton wait`) does not pay for compiling the JSON Schema validator (25–40 ms of CPU: the
//! draft 2020-12 meta-schema is compiled and checked first) just to accept a well-formed handoff.
//!
//! The schema stays the judge: [`crate::schema::validate`] accepts on this check alone and asks
//! the compiled schema only when this check says no (for its messages). A test compares the two
//! on thousands of generated documents (`agrees_with_the_schema` in `schema.rs`), so a change to
//! `handoffs/schema/handoff.v1.json` that this file does not follow fails the build's tests.
use serde_json::{Map, Value};

/// Whether `v` is valid under `handoffs/schema/handoff.v1.json`, exactly as the compiled schema
/// decides it (the RFC 3339 calendar check on `created_at` stays in `schema::validate`).
pub fn conforms(v: &Value) -> bool {
    let Some(o) = v.as_object() else { return false };
    let required = ["schema", "id", "kind", "created_at", "from", "title"];
    if !required.iter().all(|k| o.contains_key(*k)) {
        return false;
    }
    let top = o.get("schema").and_then(Value::as_str) == Some(crate::SCHEMA_ID)
        && opt(o, "id", id)
        && opt(o, "created_at", timestamp)
        && opt(o, "from", agent)
        && opt(o, "title", |t| t.as_str().is_some_and(|s| (1..=500).contains(&chars(s))))
        && opt(o, "correlation_id", |c| c.as_str().is_some_and(|s| chars(s) <= 200));
    if !top {
        return false;
    }
    match o.get("kind").and_then(Value::as_str) {
        Some("task") => task(o),
        Some("return") => ret(o),
        _ => false,
    }
}

/// `$defs/task`.
fn task(o: &Map<String, Value>) -> bool {
    let props = opt(o, "plugin", name)
        && opt(o, "action", name)
        && opt(o, "params", Value::is_object)
        && opt(o, "to", name)
        && opt(o, "reply_to", agent)
        && opt(o, "priority", |p| one_of_str(p, &["low", "normal", "high", "urgent"]))
        && opt(o, "deadline", timestamp);
    let has = |k: &str| o.contains_key(k);
    // `oneOf`: the two branches exclude each other (one needs `to` absent, the other present).
    let for_plugin = has("plugin") && has("action") && has("params") && !has("to");
    let for_agent = has("to") && !has("plugin");
    props && (for_plugin || for_agent)
}

/// `$defs/return`.
fn ret(o: &Map<String, Value>) -> bool {
    ["in_reply_to", "status", "summary"].iter().all(|k| o.contains_key(*k))
        && opt(o, "to", agent)
        && opt(o, "in_reply_to", |s| s.as_str().is_some_and(|s| (1..=128).contains(&chars(s))))
        && opt(o, "status", |s| one_of_str(s, &["completed", "failed", "rejected", "canceled"]))
        && opt(o, "summary", Value::is_string)
        && opt(o, "result", Value::is_object)
        && opt(o, "artifacts", |a| a.as_array().is_some_and(|a| a.iter().all(Value::is_string)))
        && opt(o, "error", |e| e.is_null() || strings_object(e, &["code", "message"]))
        && opt(o, "started_at", |t| t.is_null() || timestamp(t))
        && opt(o, "finished_at", |t| t.is_null() || timestamp(t))
        && opt(o, "attempts", non_negative_integer)
        && opt(o, "plugin", |p| p.is_null() || strings_object(p, &["name", "version", "sha256"]))
}

/// A property that, where present, passes `check` (absent passes: `properties` never requires).
fn opt(o: &Map<String, Value>, k: &str, check: impl Fn(&Value) -> bool) -> bool {
    o.get(k).is_none_or(check)
}

/// JSON Schema's `maxLength`/`minLength` count characters, not bytes.
fn chars(s: &str) -> usize {
    s.chars().count()
}

fn one_of_str(v: &Value, allowed: &[&str]) -> bool {
    v.as_str().is_some_and(|s| allowed.contains(&s))
}

/// An object whose `keys` are all present and strings (other keys are free).
fn strings_object(v: &Value, keys: &[&str]) -> bool {
    v.as_object().is_some_and(|o| keys.iter().all(|k| o.get(*k).is_some_and(Value::is_string)))
}

/// `"type": "integer", "minimum": 0`: JSON Schema counts 2.0 as an integer.
fn non_negative_integer(v: &Value) -> bool {
    match v {
        Value::Number(n) => {
            n.as_u64().is_some() || n.as_f64().is_some_and(|f| f.fract() == 0.0 && f >= 0.0 && f.is_finite())
        }
        _ => false,
    }
}

/// `$defs/name`: `^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`, at most 128 characters.
fn name(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.len() <= 128 && dotted(s))
}

/// `$defs/agent`: a name, or two names joined by one `/` (`TEAM/AGENT`, a Claude Code team's
/// agent), at most 128 characters.
fn agent(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        s.len() <= 128
            && match s.split_once('/') {
                Some((team, agent)) => dotted(team) && dotted(agent),
                None => dotted(s),
            }
    })
}

/// `$defs/id`: the same pattern, 1 to 128 characters.
fn id(v: &Value) -> bool {
    name(v)
}

/// Runs of `[A-Za-z0-9_-]` joined by single dots (so never empty, never a leading, trailing or
/// doubled dot). Everything it admits is ASCII, so bytes and characters count alike.
fn dotted(s: &str) -> bool {
    s.split('.')
        .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
}

/// `$defs/timestamp`:
/// `^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$`.
fn timestamp(v: &Value) -> bool {
    let Some(s) = v.as_str() else { return false };
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let at = |i: usize, allowed: &[u8]| b.get(i).is_some_and(|c| allowed.contains(c));
    let head = digits(0..4)
        && at(4, b"-")
        && digits(5..7)
        && at(7, b"-")
        && digits(8..10)
        && at(10, b"Tt ")
        && digits(11..13)
        && at(13, b":")
        && digits(14..16)
        && at(16, b":")
        && digits(17..19);
    if !head {
        return false;
    }
    let mut i = 19;
    if at(i, b".") {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match b.get(i) {
        Some(b'Z' | b'z') => i + 1 == b.len(),
        Some(b'+' | b'-') => i + 6 == b.len() && digits(i + 1..i + 3) && at(i + 3, b":") && digits(i + 4..i + 6),
        _ => false,
    }
}
