//! The handoffs baton writes: RETURN bodies, `.error.json` records and follow-up TASKs, and
//! their file names, all derived from the claim so that a re-run recreates the same names.
use serde_json::{Value, json};

use baton_handoff::{ErrorCode, PluginRef, ReturnBody, ReturnError, SCHEMA_ID, Status, names, stamp};

use crate::claims::Claim;

/// The RETURN's file name: `<claim stamp>__RETURN__<Title-Slug>-<claim nonce>__<baton>.json`.
pub fn return_file_name(claim: &Claim, title: &str, self_agent: &str) -> String {
    names::file_name(claim.stamp(), "RETURN", &format!("{}-{}", names::slug(title), claim.nonce()), self_agent)
}

/// The RETURN's id: derived from the claim, unique like it.
pub fn return_id(claim: &Claim) -> String {
    return_id_of(&claim.id)
}

/// The RETURN id of the claim `claim_id` (the part of a claim key before `~`).
pub fn return_id_of(claim_id: &str) -> String {
    format!("{claim_id}.r")
}

/// What a finished task answers.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: Status,
    pub summary: String,
    pub result: Value,
    pub artifacts: Vec<String>,
    pub error: Option<ReturnError>,
    pub started_at: Option<String>,
    pub attempts: u32,
    pub plugin: Option<PluginRef>,
}

impl Answer {
    pub fn completed(summary: String, result: Value) -> Self {
        Answer {
            status: Status::Completed,
            summary,
            result,
            artifacts: vec![],
            error: None,
            started_at: None,
            attempts: 1,
            plugin: None,
        }
    }

    pub fn refused(code: ErrorCode, message: impl Into<String>) -> Self {
        let message = message.into();
        Answer {
            status: if code.is_rejection() {
                Status::Rejected
            } else if matches!(code, ErrorCode::DeadlinePassed | ErrorCode::Canceled) {
                Status::Canceled
            } else {
                Status::Failed
            },
            summary: format!("{code}: {message}"),
            result: json!({}),
            artifacts: vec![],
            error: Some(ReturnError { code, message }),
            started_at: None,
            attempts: 0,
            plugin: None,
        }
    }
}

/// The RETURN body answering `task` (or, when the file did not parse, answering the file).
pub fn return_body(
    claim: &Claim,
    self_agent: &str,
    to: &str,
    in_reply_to: &str,
    title: &str,
    correlation_id: Option<&str>,
    answer: &Answer,
) -> ReturnBody {
    let now = stamp::rfc3339(stamp::now());
    ReturnBody {
        schema: SCHEMA_ID.into(),
        id: return_id(claim),
        kind: "return".into(),
        created_at: now.clone(),
        from: self_agent.into(),
        to: Some(to.into()),
        title: format!("Re: {title}"),
        in_reply_to: in_reply_to.into(),
        status: answer.status,
        summary: answer.summary.clone(),
        result: answer.result.clone(),
        artifacts: answer.artifacts.clone(),
        error: answer.error.clone(),
        started_at: answer.started_at.clone(),
        finished_at: Some(now),
        attempts: answer.attempts,
        plugin: answer.plugin.clone(),
        correlation_id: correlation_id.map(str::to_string),
    }
}

/// The `.error.json` record filed beside a failed or rejected original.
pub fn error_record(
    claim: &Claim,
    task_id: Option<&str>,
    code: ErrorCode,
    message: &str,
    history: &[Value],
    return_name: Option<&str>,
) -> Value {
    json!({
        "schema": "baton.error/v1",
        "file": claim.original.to_string_lossy(),
        "claim": claim.key(),
        "task_id": task_id,
        "code": code,
        "message": message,
        "history": history,
        "return": return_name,
        "at": stamp::rfc3339(stamp::now()),
        "undo": "move the file back into 01_inbox/ (or run `baton retry ID`) to run it again",
    })
}

/// A follow-up TASK emitted by a plugin while running task `parent_id`, addressed with `to`.
/// Its correlation id is the plugin's, else the parent's, else the parent's id.
pub fn follow_up(
    claim: &Claim,
    self_agent: &str,
    parent_id: &str,
    parent_correlation: Option<&str>,
    f: &baton_runtime::FollowUp,
) -> (String, Value) {
    let id = baton_runtime::follow_up_id(parent_id, f.seq);
    let file = names::file_name(
        claim.stamp(),
        "TASK",
        &format!("{}-{}f{}", names::slug(&f.title), claim.nonce(), f.seq),
        self_agent,
    );
    let mut body = serde_json::Map::new();
    for (k, v) in &f.body {
        body.insert(k.clone(), v.clone());
    }
    // The envelope is the host's: a plugin cannot forge the sender or the id.
    let envelope = json!({
        "schema": SCHEMA_ID,
        "id": id,
        "kind": "task",
        "created_at": stamp::rfc3339(stamp::now()),
        "from": self_agent,
        "to": f.to,
        "reply_to": self_agent,
        "title": f.title,
        "correlation_id": f.correlation_id.as_deref().or(parent_correlation).unwrap_or(parent_id),
    });
    for (k, v) in envelope.as_object().into_iter().flatten() {
        body.insert(k.clone(), v.clone());
    }
    for k in ["plugin", "action", "params"] {
        body.remove(k);
    }
    (file, Value::Object(body))
}
