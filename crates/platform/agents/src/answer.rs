//! `baton answer ID --input JSON`: answers the open input request of a TASK that asked back
//! (issue 79). The input is checked against the request's schema first (refused with exit 2,
//! nothing written); then the answer is applied in the ledger, exactly once
//! ([`baton_pipeline::asking::apply`]: the TASK is `queued`), and an `input` handoff carrying it
//! is dropped into baton's inbox, which wakes a running `serve` (and is the record of who
//! answered what). With `serve` down the TASK runs when it starts.
use anyhow::{Context, Result};
use serde_json::{Value, json};

use baton_cli::Ctx;
use baton_cli::text::esc;
use baton_handoff::{SCHEMA_ID, build, names, stamp};
use baton_pipeline::asking::{self, Applied, Refused};

#[derive(clap::Args, Debug)]
pub struct AnswerArgs {
    /// The TASK's id, or its open request's `request_id` (when only one waiting TASK has it).
    pub id: String,
    /// The answer, matching the request's `input_schema`: JSON inline, `@file` or `-` (stdin).
    #[arg(long, value_name = "JSON|@FILE|-")]
    pub input: String,
    /// Who answers (an agent name); default: the agent the request was addressed to.
    #[arg(long)]
    pub from: Option<String>,
    /// Print `{id, request_id, state, input_id, file}`.
    #[arg(long)]
    pub json: bool,
}

/// `baton answer`. Exit 0 applied, 1 refused for the TASK's state (not waiting, or answered
/// already: the message names the first answer), 2 bad input (not JSON, or not what the
/// request's schema asks: the message names the field).
pub fn run(ctx: &Ctx, a: AnswerArgs) -> Result<i32> {
    let tree = crate::Tree::open(ctx)?;
    let input = match crate::json_arg(&a.input, "--input") {
        Ok(v) => v,
        Err(e) => return refuse(2, &format!("{e:#}")),
    };
    let mut ledger = ctx.connect()?;
    let (task_id, request) = match find(&ledger, &a.id)? {
        Ok(found) => found,
        // Not one of baton's TASKs: one an agent asked about (`reply --status input_required`).
        Err(_) if ledger.task(&a.id)?.is_none() && asking::waiting_for(&ledger, Some(&a.id))?.is_empty() => {
            return between_agents(&tree, &a, &input);
        }
        Err(why) => return refuse(1, &why),
    };
    let from = a.from.clone().unwrap_or_else(|| request.to.clone());
    let (handoff_id, file) = match give(&tree, &mut ledger, &task_id, &request, &input, &from)? {
        Ok(given) => given,
        Err((code, why)) => return refuse(code, &why),
    };
    if a.json {
        println!(
            "{}",
            json!({"id": task_id, "request_id": request.request_id, "state": "queued", "input_id": handoff_id, "file": file})
        );
    } else {
        println!(
            "answered `{}` of TASK {task_id}: it runs again with the answer (`baton wait {task_id}` for its RETURN)",
            esc(&request.request_id)
        );
    }
    Ok(0)
}

/// `baton answer` for a TASK an agent asked about: the `input` into the asking agent's inbox.
fn between_agents(tree: &crate::Tree, a: &AnswerArgs, input: &Value) -> Result<i32> {
    match crate::ask::answer(tree, &a.id, input, a.from.as_deref())? {
        Ok(file) => {
            if a.json {
                println!("{}", json!({"id": a.id, "file": file}));
            } else {
                println!("INPUT {}", file.display());
            }
            Ok(0)
        }
        Err((code, why)) => refuse(code, &why),
    }
}

/// Gives `input` as the answer to `request` of baton's TASK `task_id`, from `from`: checked
/// against the request's schema (`Err((2, why))`, nothing written), applied once in the ledger
/// (`Err((1, why))` when the TASK waits for no answer or was answered), then carried by an
/// `input` handoff into baton's inbox, which wakes a running `serve`. The handoff's id and file.
/// `baton answer`, MCP's `answer` and A2A's answering `SendMessage` all come here.
pub fn give(
    tree: &crate::Tree,
    ledger: &mut baton_ledger::Ledger,
    task_id: &str,
    request: &asking::Request,
    input: &Value,
    from: &str,
) -> Result<Result<(String, std::path::PathBuf), (i32, String)>> {
    // Checked before anything is written (apply checks it again, inside its transaction).
    if let Err(e) = baton_handoff::input::check_input(&request.input_schema, input) {
        let why = format!("{e} (request `{}` of TASK {task_id}); nothing was written", request.request_id);
        return Ok(Err((2, why)));
    }
    if !names::is_valid_agent(from) {
        return Ok(Err((2, format!("{from:?} is not a valid agent name to answer as"))));
    }
    let handoff_id = build::new_id();
    let applying =
        asking::Answer { task_id, request_id: Some(&request.request_id), input, by: from, handoff_id: &handoff_id };
    match ledger.batch(|b| asking::apply(b, &applying))? {
        Ok(Applied::Now { .. } | Applied::Before { .. }) => {}
        Err(Refused::Invalid(why)) => return Ok(Err((2, format!("{why}; nothing was written")))),
        Err(why) => return Ok(Err((1, why.to_string()))),
    }
    let now = stamp::now();
    let body = json!({
        "schema": SCHEMA_ID, "id": handoff_id, "kind": "input", "created_at": stamp::rfc3339(now),
        "from": from, "title": format!("Input for {task_id}"), "in_reply_to": task_id,
        "request_id": request.request_id, "input": input,
    });
    let inbox = tree.root.join(&tree.baton).join(baton_home::config::INBOX);
    let slug = names::slug(&format!("{task_id}-{}", request.request_id));
    let name = names::file_name(&stamp::file_stamp(now), "INPUT", &slug, &from.replace('/', "+"));
    let file = crate::write_new(&inbox, &name, &body).with_context(|| {
        format!("the answer was recorded (TASK {task_id} is queued), but its input handoff was not written")
    })?;
    Ok(Ok((handoff_id, file)))
}

/// The TASK `id` names (its id, else the open request id of exactly one waiting TASK) and its
/// open request; `Err(why)` when there is none or several.
fn find(ledger: &baton_ledger::Ledger, id: &str) -> Result<Result<(String, asking::Request), String>> {
    if let Some(row) = ledger.task(id)? {
        let events = ledger.events(id)?;
        return Ok(match asking::open_request(&events) {
            Some(open) if row.state == baton_ledger::TaskState::InputRequired => Ok((row.id, open)),
            _ => Err(match events.iter().rev().find(|e| e.event == asking::ANSWERED) {
                Some(first) => format!(
                    "TASK {id} waits for no input (it is {}); its last request, `{}`, was answered by {} at {} (input {})",
                    row.state,
                    first.detail["request_id"].as_str().unwrap_or("?"),
                    first.detail["by"].as_str().unwrap_or("?"),
                    first.detail["at"].as_str().unwrap_or("?"),
                    first.detail["id"].as_str().unwrap_or("?"),
                ),
                None => format!("TASK {id} waits for no input (it is {})", row.state),
            }),
        });
    }
    let waiting = asking::waiting_for(ledger, Some(id))?;
    Ok(match waiting.as_slice() {
        [(row, open)] => Ok((row.id.clone(), open.clone())),
        [] => Err(format!(
            "no TASK with id {id:?} and no TASK waiting for an answer to a request {id:?} (`baton status` lists those waiting)"
        )),
        many => Err(format!(
            "{} TASKs wait for an answer to a request {id:?}: {}; answer one by its TASK id",
            many.len(),
            many.iter().map(|(r, _)| r.id.as_str()).collect::<Vec<_>>().join(", ")
        )),
    })
}

fn refuse(code: i32, why: &str) -> Result<i32> {
    eprintln!("baton answer: {}", esc(why));
    Ok(code)
}

/// The open request of a waiting TASK as `status`, `show` and `wait` print it.
pub fn request_json(task_id: &str, r: &asking::Request) -> Value {
    json!({
        "kind": "input_request", "id": r.id, "in_reply_to": task_id, "request_id": r.request_id,
        "message": r.message, "input_schema": r.input_schema, "to": r.to, "asked_at": r.asked_at,
        "expires_at": r.expires_at, "file": r.file,
    })
}
