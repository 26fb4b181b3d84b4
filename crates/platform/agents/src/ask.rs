//! Agents ask back (issue 79, between agents): `baton reply ID --status input_required
//! --summary QUESTION --input-schema JSON` sends an input request for a TASK addressed to the
//! agent, into the inbox of the TASK's reply agent, and leaves the TASK where it is (it is not
//! answered: `reply` works as usual afterwards). `baton answer ID` for such a TASK delivers the
//! answer as an `input` handoff into the asking agent's inbox. Nothing here is in the ledger:
//! the files are the record, and each is created without replacing, under a name derived from
//! the TASK and the question, so a question is asked once and answered once.
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};

use baton_handoff::{Body, SCHEMA_ID, input, names, stamp};

use super::{FOLDERS, Tree};

/// A question an agent asked, as its file says.
#[derive(Debug, Clone)]
pub struct Asked {
    pub path: PathBuf,
    pub body: Value,
}

impl Asked {
    fn s(&self, k: &str) -> &str {
        self.body.get(k).and_then(Value::as_str).unwrap_or_default()
    }
}

/// Sends the input request `request_id` (default `ask-N`, N counting this TASK's questions) of
/// TASK `id`, addressed to the calling agent, to the TASK's reply agent. Refused while an
/// earlier question of the TASK is unanswered, or once the TASK is answered.
pub fn ask(tree: &Tree, id: &str, message: &str, schema: &Value, request_id: Option<&str>) -> Result<PathBuf> {
    let Some(found) = tree.find(id, Some("task"), &[FOLDERS[0]]) else {
        bail!(
            "no TASK with id {id:?} waiting in any agent's 01_inbox (`baton inbox AGENT` lists them); nothing was sent"
        );
    };
    if found.agent == tree.baton {
        bail!("TASK {id} is in baton's own inbox: its plugin asks, not `baton reply`");
    }
    let (Body::Task(task), _) =
        baton_handoff::schema::parse_value(found.body.clone()).map_err(|e| anyhow!("{}: {e}", found.path.display()))?
    else {
        bail!("{} is not a TASK", found.path.display());
    };
    input::check_schema(schema).map_err(|e| anyhow!("--input-schema: {e}; nothing was sent"))?;
    let reply_inbox = tree.reply_inbox(task.reply_agent())?;
    let asked = questions(tree, id);
    if let Some(open) = asked.iter().find(|q| answer_of(tree, q).is_none()) {
        bail!(
            "TASK {id} already asks `{}` ({}), not answered yet: one question at a time; nothing was sent",
            open.s("request_id"),
            open.path.display()
        );
    }
    let request_id = request_id.map_or_else(|| format!("ask-{}", asked.len() + 1), str::to_string);
    if !input::is_request_id(&request_id) {
        bail!("--request-id {request_id:?}: use A-Z a-z 0-9 _ - with single dots between parts");
    }
    if asked.iter().any(|q| q.s("request_id") == request_id) {
        bail!("TASK {id} asked `{request_id}` before: name a new question; nothing was sent");
    }
    let now = stamp::now();
    let body = json!({
        "schema": SCHEMA_ID, "id": format!("{id}.q.{request_id}"), "kind": "input_request",
        "created_at": stamp::rfc3339(now), "from": found.agent, "to": task.reply_agent(),
        "title": format!("Input needed: {}", task.title), "in_reply_to": id, "request_id": request_id,
        "message": message, "input_schema": schema,
    });
    let slug = names::slug(&format!("{id}-{request_id}"));
    let name = names::file_name(&stamp::file_stamp(now), "INPUT_REQUEST", &slug, &found.agent);
    crate::write_new(&reply_inbox, &name, &body)
}

/// Every input request of TASK `id` in the agents' folders, oldest first.
pub fn questions(tree: &Tree, id: &str) -> Vec<Asked> {
    let mut out = files_of(tree, "__INPUT_REQUEST__", |b| {
        b.get("kind").and_then(Value::as_str) == Some("input_request")
            && b.get("in_reply_to").and_then(Value::as_str) == Some(id)
    });
    out.sort_by(|a, b| a.s("created_at").cmp(b.s("created_at")));
    out
}

/// The `input` answering `q`, if one was delivered (in the asking agent's folders).
pub fn answer_of(tree: &Tree, q: &Asked) -> Option<Asked> {
    let (task, request) = (q.s("in_reply_to").to_string(), q.s("request_id").to_string());
    files_of(tree, "__INPUT__", |b| {
        b.get("kind").and_then(Value::as_str) == Some("input")
            && b.get("in_reply_to").and_then(Value::as_str) == Some(&task)
            && b.get("request_id").and_then(Value::as_str) == Some(&request)
    })
    .into_iter()
    .next()
}

/// The open question of TASK `id` asked into `inbox` (the TASK's reply agent's): the newest input
/// request there that no `input` answers yet, looked for in the asking agent's `01_inbox/` and
/// `02_processed/`. A2A reads it on each look at a task, so it lists that inbox and those two
/// folders only, never every agent's (`a2a`'s `02_processed/` keeps one RETURN per task sent).
pub fn open_question(tree: &Tree, id: &str, inbox: &Path) -> Option<Asked> {
    let mut asked = Vec::new();
    for e in std::fs::read_dir(inbox).ok()?.flatten() {
        if !e.file_name().to_string_lossy().contains("__INPUT_REQUEST__") {
            continue;
        }
        if let Some(body) = crate::read_handoff(&e.path()).filter(|b| {
            b.get("kind").and_then(Value::as_str) == Some("input_request")
                && b.get("in_reply_to").and_then(Value::as_str) == Some(id)
        }) {
            asked.push(Asked { path: e.path(), body });
        }
    }
    let q = asked.into_iter().max_by(|a, b| a.s("created_at").cmp(b.s("created_at")))?;
    if !names::is_valid_name(q.s("from")) {
        return Some(q);
    }
    for folder in &FOLDERS[..2] {
        let Ok(entries) = std::fs::read_dir(tree.root.join(q.s("from")).join(folder)) else { continue };
        for e in entries.flatten() {
            if !e.file_name().to_string_lossy().contains("__INPUT__") {
                continue;
            }
            let answers = crate::read_handoff(&e.path()).is_some_and(|b| {
                b.get("kind").and_then(Value::as_str) == Some("input")
                    && b.get("in_reply_to").and_then(Value::as_str) == Some(id)
                    && b.get("request_id").and_then(Value::as_str) == Some(q.s("request_id"))
            });
            if answers {
                return None;
            }
        }
    }
    Some(q)
}

/// The handoffs whose file name contains `part` in every agent's inbox and `02_processed/`
/// that `keep` keeps.
fn files_of(tree: &Tree, part: &str, keep: impl Fn(&Value) -> bool) -> Vec<Asked> {
    let mut out = Vec::new();
    for agent in tree.agents() {
        for folder in &FOLDERS[..2] {
            let Ok(entries) = std::fs::read_dir(tree.root.join(&agent).join(folder)) else { continue };
            for e in entries.flatten() {
                if !e.file_name().to_string_lossy().contains(part) {
                    continue;
                }
                if let Some(body) = crate::read_handoff(&e.path()).filter(|b| keep(b)) {
                    out.push(Asked { path: e.path(), body });
                }
            }
        }
    }
    out
}

/// Answers the open question of TASK `id` between agents (or the question `id` names):
/// `Ok(Ok(file))` the `input` delivered into the asking agent's inbox; `Ok(Err((code, why)))`
/// refused (2: the input does not match, 1: nothing to answer, or answered already).
pub fn answer(tree: &Tree, id: &str, value: &Value, from: Option<&str>) -> Result<Result<PathBuf, (i32, String)>> {
    let asked: Vec<Asked> = files_of(tree, "__INPUT_REQUEST__", |b| {
        b.get("kind").and_then(Value::as_str) == Some("input_request")
            && (b.get("in_reply_to").and_then(Value::as_str) == Some(id)
                || b.get("request_id").and_then(Value::as_str) == Some(id))
    });
    let Some(q) = asked.iter().max_by(|a, b| a.s("created_at").cmp(b.s("created_at"))) else {
        return Ok(Err((1, format!("no TASK with id {id:?} asks for input (`baton status` lists those waiting)"))));
    };
    let task = q.s("in_reply_to").to_string();
    if let Some(first) = answer_of(tree, q) {
        return Ok(Err((
            1,
            format!(
                "the request `{}` of TASK {task} was already answered by {} at {} ({}); an answer is given once",
                q.s("request_id"),
                first.s("from"),
                first.s("created_at"),
                first.path.display()
            ),
        )));
    }
    let schema = q.body.get("input_schema").cloned().unwrap_or_default();
    if let Err(e) = input::check_input(&schema, value) {
        return Ok(Err((2, format!("{e} (request `{}` of TASK {task}); nothing was written", q.s("request_id")))));
    }
    let from = from.unwrap_or(q.s("to")).to_string();
    let asker = q.s("from").to_string();
    let now = stamp::now();
    let body = json!({
        "schema": SCHEMA_ID, "id": baton_handoff::build::new_id(), "kind": "input",
        "created_at": stamp::rfc3339(now), "from": from, "title": format!("Input for {task}"),
        "in_reply_to": task, "request_id": q.s("request_id"), "input": value,
    });
    // One name per question (the request's own stamp): of two answers, one is created.
    let stamp_of = q.path.file_name().and_then(|n| n.to_str()).and_then(names::parse_file_name).map(|p| p.stamp);
    let name = names::file_name(
        stamp_of.unwrap_or(&stamp::file_stamp(now)),
        "INPUT",
        &names::slug(&format!("{task}-{}", q.s("request_id"))),
        &from.replace('/', "+"),
    );
    let inbox = tree.reply_inbox(&asker)?;
    crate::write_new(&inbox, &name, &body).map(Ok).with_context(|| format!("answering TASK {task}"))
}
