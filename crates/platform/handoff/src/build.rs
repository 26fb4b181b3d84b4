//! Building new handoffs: the TASKs agents send (`baton send`, MCP `send_task`) and the RETURNs
//! they answer with (`baton reply`, MCP `reply`). One place fills the v1 envelope, so the
//! command line and the MCP server write the same bodies, and every body is checked against the
//! published schema before anyone writes it.
use serde_json::{Map, Value, json};

use crate::{ErrorCode, Invalid, SCHEMA_ID, Status, TaskBody, names, schema, stamp};

/// Whom a new TASK is for.
#[derive(Debug, Clone)]
pub enum Target {
    /// baton itself: one of its plugins runs `action` with `params`.
    Plugin { plugin: String, action: String, params: Value },
    /// Another agent (its `01_inbox/`).
    Agent { to: String },
}

/// What the sender chose for a new TASK; the envelope (id, times, schema) is filled in here.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub from: String,
    pub target: Target,
    /// Optional for a plugin (default `<plugin>.<action>`), required for an agent.
    pub title: Option<String>,
    pub reply_to: Option<String>,
    pub priority: Option<String>,
    pub deadline: Option<String>,
    pub correlation_id: Option<String>,
    /// More fields for the recipient (a TASK for an agent usually says what to do here).
    pub extra: Map<String, Value>,
}

/// The fields the envelope owns: `extra` may not set them (the flag for each says it instead).
pub const ENVELOPE_KEYS: &[&str] = &[
    "schema",
    "id",
    "kind",
    "created_at",
    "from",
    "title",
    "plugin",
    "action",
    "params",
    "to",
    "reply_to",
    "priority",
    "correlation_id",
    "deadline",
    "in_reply_to",
    "status",
    "summary",
];

fn invalid(message: impl Into<String>) -> Invalid {
    Invalid { code: ErrorCode::Invalid, message: message.into() }
}

/// A new, unique handoff id (a ULID: sortable by time, safe in a file name). Its 80 random
/// bits come from the OS's generator directly: `Ulid::new` first seeds a thread-local ChaCha
/// from it, which a one-shot `baton send` (two ids in its life) paid for at every start.
pub fn new_id() -> String {
    let mut random = [0u8; 16];
    if getrandom::fill(&mut random).is_err() {
        return ulid::Ulid::new().to_string();
    }
    let ms = u64::try_from(stamp::now_ms()).unwrap_or_default();
    ulid::Ulid::from_parts(ms, u128::from_le_bytes(random)).to_string()
}

/// Builds and validates a TASK. Returns its body; its file name is [`task_file_name`].
pub fn task(t: &NewTask) -> Result<Value, Invalid> {
    let mut body = Map::new();
    for (k, v) in &t.extra {
        if ENVELOPE_KEYS.contains(&k.as_str()) {
            return Err(invalid(format!(
                "the body sets `{k}`, which the TASK's envelope owns; pass it with its own option instead"
            )));
        }
        body.insert(k.clone(), v.clone());
    }
    let title = match (&t.title, &t.target) {
        (Some(title), _) => title.clone(),
        (None, Target::Plugin { plugin, action, .. }) => format!("{plugin}.{action}"),
        (None, Target::Agent { to }) => {
            return Err(invalid(format!("a TASK for agent {to} needs a title (say in a line what {to} should do)")));
        }
    };
    let envelope = json!({
        "schema": SCHEMA_ID,
        "id": new_id(),
        "kind": "task",
        "created_at": stamp::rfc3339(stamp::now()),
        "from": t.from,
        "title": title,
    });
    body.extend(envelope.as_object().into_iter().flatten().map(|(k, v)| (k.clone(), v.clone())));
    match &t.target {
        Target::Plugin { plugin, action, params } => {
            body.insert("plugin".into(), json!(plugin));
            body.insert("action".into(), json!(action));
            body.insert("params".into(), params.clone());
        }
        Target::Agent { to } => {
            body.insert("to".into(), json!(to));
        }
    }
    for (k, v) in [
        ("reply_to", &t.reply_to),
        ("priority", &t.priority),
        ("deadline", &t.deadline),
        ("correlation_id", &t.correlation_id),
    ] {
        if let Some(v) = v {
            body.insert(k.into(), json!(v));
        }
    }
    let body = Value::Object(body);
    schema::validate(&body)?;
    if let Some(d) = t.deadline.as_deref()
        && stamp::parse_rfc3339(d).is_none()
    {
        return Err(invalid(format!("/deadline: {d:?} is not an RFC 3339 date-time (e.g. 2026-01-18T17:00:00Z)")));
    }
    Ok(body)
}

/// `<stamp>__TASK__<Title-Slug>-<id>__<from>.json`: the id in the name keeps it unique and lets
/// `baton wait` and `baton reply` find the file without reading every inbox.
pub fn task_file_name(body: &Value) -> String {
    named(body, "TASK")
}

/// `<stamp>__RETURN__<Title-Slug>-<id>__<from>.json`.
pub fn return_file_name(body: &Value) -> String {
    named(body, "RETURN")
}

fn named(body: &Value, kind: &str) -> String {
    let s = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or_default();
    let when = stamp::parse_rfc3339(s("created_at")).unwrap_or_else(stamp::now);
    names::file_name(&stamp::file_stamp(when), kind, &format!("{}-{}", names::slug(s("title")), s("id")), s("from"))
}

/// What an agent answers to a TASK addressed to it.
#[derive(Debug, Clone)]
pub struct NewReturn {
    pub status: Status,
    pub summary: String,
    /// An object (default `{}`).
    pub result: Option<Value>,
    pub artifacts: Vec<String>,
}

/// The one RETURN answering `task`, written by `agent` (the TASK's recipient) for the TASK's
/// reply agent (`reply_to`, else `from`). Validated against the schema.
pub fn reply(task: &TaskBody, agent: &str, r: &NewReturn) -> Result<Value, Invalid> {
    let now = stamp::rfc3339(stamp::now());
    let result = r.result.clone().unwrap_or_else(|| json!({}));
    if !result.is_object() {
        return Err(invalid("/result: the result must be a JSON object, e.g. {\"pr\": 42}"));
    }
    let mut body = json!({
        "schema": SCHEMA_ID,
        "id": new_id(),
        "kind": "return",
        "created_at": now,
        "from": agent,
        "to": task.reply_agent(),
        "title": format!("Re: {}", task.title),
        "in_reply_to": task.id,
        "status": r.status.as_str(),
        "summary": r.summary,
        "result": result,
        "artifacts": r.artifacts,
        "error": null,
        "started_at": null,
        "finished_at": now,
        "attempts": 1,
        "plugin": null,
    });
    if let Some(c) = &task.correlation_id {
        body["correlation_id"] = json!(c);
    }
    schema::validate(&body)?;
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An id is a ULID of this millisecond: 26 characters, its time part now, never repeated.
    #[test]
    fn ids_are_ulids_of_now_and_unique() {
        let before = stamp::now_ms();
        let ids: std::collections::HashSet<String> = (0..10_000).map(|_| new_id()).collect();
        let after = stamp::now_ms();
        assert_eq!(ids.len(), 10_000);
        for id in &ids {
            let u = ulid::Ulid::from_string(id).unwrap();
            assert_eq!(id.len(), 26);
            assert!((before..=after).contains(&(u.timestamp_ms() as i64)), "{id}");
        }
    }

    fn plugin_task() -> NewTask {
        NewTask {
            from: "Claude".into(),
            target: Target::Plugin { plugin: "echo".into(), action: "echo".into(), params: json!({"m": 1}) },
            title: None,
            reply_to: None,
            priority: Some("high".into()),
            deadline: None,
            correlation_id: Some("c-1".into()),
            extra: Map::new(),
        }
    }

    #[test]
    fn a_plugin_task_gets_a_default_title_and_a_unique_name() {
        let a = task(&plugin_task()).unwrap();
        let b = task(&plugin_task()).unwrap();
        assert_eq!(a["title"], "echo.echo");
        assert_ne!(a["id"], b["id"]);
        let name = task_file_name(&a);
        assert!(name.ends_with("__Claude.json") && name.contains("__TASK__echo-echo-"), "{name}");
        assert!(name.contains(a["id"].as_str().unwrap()));
        assert!(schema::parse(a.to_string().as_bytes()).is_ok());
    }

    #[test]
    fn bad_inputs_are_refused_before_anything_is_written() {
        let mut t = plugin_task();
        t.from = "../etc".into();
        assert!(task(&t).unwrap_err().message.contains("`from`"));
        let mut t = plugin_task();
        t.target = Target::Plugin { plugin: "echo".into(), action: "echo".into(), params: json!([1]) };
        assert!(task(&t).unwrap_err().message.contains("`params`"));
        let mut t = plugin_task();
        t.extra.insert("from".into(), json!("Mallory"));
        assert!(task(&t).unwrap_err().message.contains("`from`"));
        let mut t = plugin_task();
        t.target = Target::Agent { to: "Codex".into() };
        assert!(task(&t).unwrap_err().message.contains("needs a title"));
        let mut t = plugin_task();
        t.priority = Some("asap".into());
        assert!(task(&t).unwrap_err().message.contains("`priority`"));
        let mut t = plugin_task();
        t.deadline = Some("tomorrow".into());
        assert!(task(&t).unwrap_err().message.contains("`deadline`"));
    }

    #[test]
    fn a_reply_answers_the_reply_agent() {
        let mut t = plugin_task();
        t.target = Target::Agent { to: "Codex".into() };
        t.title = Some("Review".into());
        t.reply_to = Some("Cursor".into());
        let body = task(&t).unwrap();
        let Ok((crate::Body::Task(tb), _)) = schema::parse(body.to_string().as_bytes()) else { panic!() };
        let r = reply(
            &tb,
            "Codex",
            &NewReturn {
                status: Status::Completed,
                summary: "ok".into(),
                result: None,
                artifacts: vec!["a.txt".into()],
            },
        )
        .unwrap();
        assert_eq!(r["to"], "Cursor");
        assert_eq!(r["in_reply_to"], tb.id);
        assert_eq!(r["correlation_id"], "c-1");
        assert!(schema::parse(r.to_string().as_bytes()).is_ok());
        let bad = NewReturn { status: Status::Failed, summary: "x".into(), result: Some(json!(3)), artifacts: vec![] };
        assert!(reply(&tb, "Codex", &bad).is_err());
    }
}
