//! Asking back (issue 79): a TASK answered, before its RETURN, by an input request. What the
//! ledger keeps of it (the `input_requested` and `input_answered` events of the TASK, its state
//! `input_required`, then `queued`), the request's handoff as its reply agent gets it, and the
//! one way an answer is applied, exactly once, inside one ledger transaction: by `baton answer`
//! and by an `input` handoff dropped into baton's inbox alike.
//!
//! The TASK stays claimed while it waits: intake finds its state and leaves it (or fails it
//! `input_timeout`); once answered, the next run hands the plugin every answer so far.
use serde_json::{Map, Value, json};

use baton_handoff::{SCHEMA_ID, input, names, stamp};
use baton_ledger::{Batch, Event, LedgerError, TaskRow, TaskState};

use crate::claims::Claim;

/// The ledger event of a question asked; its detail is a [`Request`].
pub const ASKED: &str = "input_requested";
/// The ledger event of an answer applied: `{request_id, input, by, id, at}`.
pub const ANSWERED: &str = "input_answered";

/// One question of a TASK, as its `input_requested` event records it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Request {
    /// The request handoff's own id.
    pub id: String,
    pub request_id: String,
    pub message: String,
    pub input_schema: Value,
    /// Who was asked (the TASK's reply agent).
    pub to: String,
    /// The request handoff's file name in that agent's inbox.
    pub file: String,
    pub asked_at: String,
    /// When the TASK fails `input_timeout` if this is still unanswered.
    pub expires_at: String,
}

impl Request {
    /// The request as its handoff (`kind: input_request`).
    pub fn body(&self, me: &str, task_id: &str, title: &str, correlation_id: Option<&str>) -> Value {
        let mut body = json!({
            "schema": SCHEMA_ID, "id": self.id, "kind": "input_request", "created_at": self.asked_at,
            "from": me, "to": self.to, "title": format!("Input needed: {title}"), "in_reply_to": task_id,
            "request_id": self.request_id, "message": self.message, "input_schema": self.input_schema,
            "expires_at": self.expires_at,
        });
        if let Some(c) = correlation_id {
            body["correlation_id"] = json!(c);
        }
        body
    }
}

/// The request `request_id` of the TASK claimed as `claim`, asked of `to` now, waiting
/// `timeout` for its answer. Its id and file name are derived from the claim and the request
/// id, so asking again after a crash delivers the same file, once.
pub fn new_request(
    claim: &Claim,
    me: &str,
    to: &str,
    title: &str,
    asked: &baton_runtime::InputRequest,
    timeout: std::time::Duration,
) -> Request {
    let now = stamp::now();
    let expires = now + time::Duration::seconds(i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX / 2));
    let slug = format!("{}-{}-{}", names::slug(title), claim.nonce(), names::slug(&asked.request_id));
    Request {
        id: format!("{}.q.{}", claim.id, asked.request_id),
        request_id: asked.request_id.clone(),
        message: asked.message.clone(),
        input_schema: asked.input_schema.clone(),
        to: to.to_owned(),
        file: names::file_name(claim.stamp(), "INPUT_REQUEST", &slug, me),
        asked_at: stamp::rfc3339(now),
        expires_at: stamp::rfc3339(expires),
    }
}

/// The events of the TASK's current run: those after its last `baton retry` claim.
fn this_run(events: &[Event]) -> &[Event] {
    let since = events.iter().rposition(|e| e.event == "claimed" && e.detail["retry"] == json!(true));
    &events[since.map_or(0, |i| i + 1)..]
}

/// The question asked last in this run, if it is still unanswered.
pub fn open_request(events: &[Event]) -> Option<Request> {
    let run = this_run(events);
    let i = run.iter().rposition(|e| e.event == ASKED)?;
    let asked: Request = serde_json::from_value(run[i].detail.clone()).ok()?;
    let answered = run[i..].iter().any(|e| e.event == ANSWERED && e.detail["request_id"] == json!(asked.request_id));
    (!answered).then_some(asked)
}

/// Every answer of this run, `{request_id: input}`, in the order they were given.
pub fn inputs(events: &[Event]) -> Value {
    let mut out = Map::new();
    for e in this_run(events).iter().filter(|e| e.event == ANSWERED) {
        if let Some(id) = e.detail["request_id"].as_str() {
            out.insert(id.to_owned(), e.detail["input"].clone());
        }
    }
    Value::Object(out)
}

/// The answer already applied to `request_id` in this run, if any (its event's detail).
fn answered(events: &[Event], request_id: &str) -> Option<Value> {
    this_run(events)
        .iter()
        .find(|e| e.event == ANSWERED && e.detail["request_id"] == json!(request_id))
        .map(|e| e.detail.clone())
}

/// An answer for a TASK's question.
#[derive(Debug, Clone)]
pub struct Answer<'a> {
    pub task_id: &'a str,
    /// The question it answers; `None`: the open one.
    pub request_id: Option<&'a str>,
    pub input: &'a Value,
    /// Who answers (an agent name, `baton answer`'s `--from`).
    pub by: &'a str,
    /// The `input` handoff that carries it (its id): applying the same one twice is one answer.
    pub handoff_id: &'a str,
}

/// What applying an answer did.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// Recorded: the TASK is `queued` and runs again with it. Its claim key and request.
    Now { claim: String, request: Request },
    /// This very handoff was applied before (the `baton answer` that wrote it): nothing new.
    /// `file`: the answered request's file name, as its `input_requested` event says.
    Before { claim: String, request_id: String, file: Option<String> },
}

impl Applied {
    /// The claim of the TASK answered, and the file name of the request answered.
    pub fn woken(self) -> (String, Option<String>) {
        match self {
            Applied::Now { claim, request } => (claim, Some(request.file)),
            Applied::Before { claim, file, .. } => (claim, file),
        }
    }
}

/// Why an answer was refused; nothing was written. The message says why and names the fix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refused {
    #[error("no TASK with id `{0}` (`baton status` lists the TASKs waiting for input)")]
    NoTask(String),
    #[error("{0}")]
    NotWaiting(String),
    #[error("{0}")]
    AlreadyAnswered(String),
    /// The input does not match the request's schema (the message names the field).
    #[error("{0}")]
    Invalid(String),
}

/// Applies `answer` exactly once, in `b`'s transaction: checks that its TASK waits for this
/// question and that the input matches the question's schema, then records the answer and
/// queues the TASK. A second answer to one question is refused, naming the first.
pub fn apply(b: &Batch<'_>, answer: &Answer<'_>) -> Result<Result<Applied, Refused>, LedgerError> {
    let Some(row) = b.task(answer.task_id)? else { return Ok(Err(Refused::NoTask(answer.task_id.to_owned()))) };
    let events = b.events(answer.task_id)?;
    let wanted = match (answer.request_id, open_request(&events)) {
        (Some(id), _) => id.to_owned(),
        (None, Some(open)) => open.request_id,
        (None, None) => return Ok(Err(not_waiting(&row, &events, None))),
    };
    if let Some(first) = answered(&events, &wanted) {
        if first["id"] == json!(answer.handoff_id) {
            let file = this_run(&events)
                .iter()
                .rev()
                .find(|e| e.event == ASKED && e.detail["request_id"] == json!(wanted))
                .and_then(|e| e.detail["file"].as_str().map(str::to_string));
            return Ok(Ok(Applied::Before { claim: row.claim, request_id: wanted, file }));
        }
        return Ok(Err(Refused::AlreadyAnswered(format!(
            "the request `{wanted}` of TASK {} was already answered by {} at {} (input handoff {}); an answer is \
             applied once",
            answer.task_id,
            first["by"].as_str().unwrap_or("?"),
            first["at"].as_str().unwrap_or("?"),
            first["id"].as_str().unwrap_or("?"),
        ))));
    }
    let open = match open_request(&events) {
        Some(open) if open.request_id == wanted && row.state == TaskState::InputRequired => open,
        _ => return Ok(Err(not_waiting(&row, &events, Some(&wanted)))),
    };
    if let Err(e) = input::check_input(&open.input_schema, answer.input) {
        return Ok(Err(Refused::Invalid(format!("{e} (request `{wanted}` of TASK {})", answer.task_id))));
    }
    let now = stamp::rfc3339(stamp::now());
    let detail =
        json!({"request_id": wanted, "input": answer.input, "by": answer.by, "id": answer.handoff_id, "at": now});
    b.event(answer.task_id, &now, ANSWERED, &detail)?;
    b.finish(answer.task_id, TaskState::Queued, None, None, &now, row.duration_ms.unwrap_or(0.0))?;
    Ok(Ok(Applied::Now { claim: row.claim, request: open }))
}

/// Why a TASK does not wait for (this) answer.
fn not_waiting(row: &TaskRow, events: &[Event], wanted: Option<&str>) -> Refused {
    let asked = this_run(events).iter().any(|e| e.event == ASKED);
    let what = match wanted {
        Some(id) if asked => format!("has no open request `{id}`"),
        Some(id) => format!("never asked `{id}`"),
        None => "waits for no input".to_owned(),
    };
    Refused::NotWaiting(format!("TASK {} {what} (it is {})", row.id, row.state))
}

/// The TASKs waiting for input whose open request is `request_id` (for `baton answer
/// REQUEST_ID`), newest first, from the ledger's recent `input_requested` events.
pub fn waiting_for(
    ledger: &baton_ledger::Ledger,
    request_id: Option<&str>,
) -> Result<Vec<(TaskRow, Request)>, LedgerError> {
    let mut out: Vec<(TaskRow, Request)> = Vec::new();
    for (_, task_id, _) in ledger.events_named(ASKED, None, 1000)? {
        if out.iter().any(|(t, _)| t.id == task_id) {
            continue;
        }
        let Some(row) = ledger.task(&task_id)?.filter(|r| r.state == TaskState::InputRequired) else { continue };
        let Some(open) = open_request(&ledger.events(&task_id)?) else { continue };
        if request_id.is_none_or(|id| id == open.request_id) {
            out.push((row, open));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(event: &str, detail: Value) -> Event {
        Event { at: "2026-11-29T00:00:00Z".into(), event: event.into(), detail }
    }

    fn asked(id: &str) -> Value {
        json!({"id": format!("c.q.{id}"), "request_id": id, "message": "?", "input_schema": {"type": "object"},
               "to": "claude", "file": "f.json", "asked_at": "2026-11-29T00:00:00Z", "expires_at": "2026-11-30T00:00:00Z"})
    }

    #[test]
    fn the_open_request_and_the_inputs_are_those_of_this_run() {
        let mut events = vec![ev("claimed", json!({})), ev(ASKED, asked("a"))];
        assert_eq!(open_request(&events).map(|r| r.request_id), Some("a".into()));
        events.push(ev(ANSWERED, json!({"request_id": "a", "input": {"x": 1}})));
        assert_eq!(open_request(&events), None);
        events.push(ev(ASKED, asked("b")));
        assert_eq!(open_request(&events).map(|r| r.request_id), Some("b".into()));
        events.push(ev(ANSWERED, json!({"request_id": "b", "input": 2})));
        assert_eq!(inputs(&events), json!({"a": {"x": 1}, "b": 2}));
        events.push(ev("claimed", json!({"retry": true})));
        assert_eq!(inputs(&events), json!({}), "a `baton retry` starts over");
        assert_eq!(open_request(&events), None);
    }
}
