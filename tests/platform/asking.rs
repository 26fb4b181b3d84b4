//! A TASK can ask back (issue 79), end to end on the real binary with the echo plugin's `ask`
//! action: the input request in the reply agent's inbox (never a RETURN), the TASK
//! `input_required` in `status` and `show`, a schema-invalid answer refused with nothing
//! written, a valid one applied once and the TASK answered with one RETURN; the same across a
//! `kill -9` of serve; an input handoff dropped into the inbox; an unanswered request that
//! expires (`input_timeout`).
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support;
use support::Home;

fn serve(h: &Home) -> Child {
    h.cmd(&["serve"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap()
}

fn signal(c: &mut Child, sig: i32) {
    // SAFETY: a plain signal to our own child.
    unsafe { libc::kill(c.id() as i32, sig) };
    c.wait().unwrap();
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "{what}: not after {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

fn files(dir: &Path, part: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().contains(part) && !n.to_string_lossy().ends_with(".error.json"))
        })
        .collect();
    v.sort();
    v
}

/// `send` an echo `ask` TASK from `claude` (no wait); its id.
fn ask(h: &Home) -> String {
    let o = h.ok(&["send", "--from", "claude", "--plugin", "echo", "--action", "ask", "--params", "{}"]);
    text(&o.stdout).lines().last().unwrap().trim().to_string()
}

/// The TASK's state in the ledger ("" while `show` cannot find it: between the inbox and
/// baton's claim, say).
fn state(h: &Home, id: &str) -> String {
    let o = h.run(&["show", id, "--json"]);
    let shown: Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
    shown["task"]["state"].as_str().unwrap_or_default().to_string()
}

fn waiting_for_input(h: &Home, id: &str) {
    wait_until("the TASK asks back", Duration::from_secs(30), || state(h, id) == "input_required");
}

fn answer(h: &Home, id: &str, input: &str) -> Output {
    h.run(&["answer", id, "--input", input])
}

/// The events of `id` named `event`.
fn events(h: &Home, id: &str, event: &str) -> Vec<Value> {
    let shown = h.json(&["show", id, "--json"]);
    shown["events"].as_array().unwrap().iter().filter(|e| e["event"] == event).cloned().collect()
}

#[test]
fn a_task_asks_back_is_answered_once_and_returns_once() {
    let h = Home::init(&[], "");
    let mut serving = serve(&h);
    let id = ask(&h);
    waiting_for_input(&h, &id);

    // The request is in the reply agent's inbox, named and shaped as no RETURN is.
    let requests = files(&h.dir("claude", "01_inbox"), "__INPUT_REQUEST__");
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert!(files(&h.dir("claude", "01_inbox"), "__RETURN__").is_empty(), "no RETURN yet");
    let request: Value = serde_json::from_slice(&std::fs::read(&requests[0]).unwrap()).unwrap();
    assert_eq!(request["kind"], "input_request");
    assert_eq!(request["in_reply_to"], json!(id));
    assert_eq!(request["request_id"], "name");
    assert_eq!(request["input_schema"]["properties"]["name"]["type"], "string");
    assert!(h.ok(&["validate", requests[0].to_str().unwrap()]).status.success(), "a valid v1 handoff");

    // `status` counts it and lists it; `show` names the question.
    let status = h.json(&["status", "--json"]);
    assert_eq!(status["counts"]["input_required"], 1, "{}", status["counts"]);
    assert_eq!(status["input_required"][0]["id"], json!(id));
    assert_eq!(status["input_required"][0]["request_id"], "name");
    let shown = h.json(&["show", &id, "--json"]);
    assert_eq!(shown["input_request"]["message"], "What is your name?");
    let printed = text(&h.ok(&["show", &id]).stdout);
    assert!(printed.contains("input required") && printed.contains("baton answer"), "{printed}");

    // A schema-invalid answer: exit 2, the field named, nothing written.
    let o = answer(&h, &id, r#"{"name": 5}"#);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("/name"), "{}", text(&o.stderr));
    assert!(
        files(&h.inbox(), "__INPUT__").is_empty() && files(&h.dir("baton", "02_processed"), "__INPUT__").is_empty()
    );
    assert_eq!(state(&h, &id), "input_required");
    assert!(events(&h, &id, "input_answered").is_empty());

    // A valid answer, by the request's id: the TASK runs again and RETURNs once.
    let o = answer(&h, "name", r#"{"name": "Ada"}"#);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = h.run(&["wait", &id, "--timeout", "30", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let ret: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(ret["result"], json!({"greeting": "hello Ada"}));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(h.returns("claude")[&id].len(), 1, "exactly one RETURN");

    // A second answer is refused, naming the first.
    let o = answer(&h, &id, r#"{"name": "Bob"}"#);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("answered by claude"), "{}", text(&o.stderr));
    assert_eq!(events(&h, &id, "input_answered").len(), 1);
    assert_eq!(h.json(&["status", "--json"])["input_required"], json!([]));
    signal(&mut serving, libc::SIGTERM);
}

#[test]
fn a_waiting_task_survives_kill_9_and_an_answer_given_while_serve_is_down_is_applied_once() {
    let h = Home::init(&[], "");
    let mut serving = serve(&h);
    let id = ask(&h);
    waiting_for_input(&h, &id);
    signal(&mut serving, libc::SIGKILL);

    // Answered while no serve runs: recorded (the TASK is queued), a second answer refused.
    let o = answer(&h, &id, r#"{"name": "Grace"}"#);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(state(&h, &id), "queued");
    let o = answer(&h, &id, r#"{"name": "Linus"}"#);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));

    let mut serving = serve(&h);
    let o = h.run(&["wait", &id, "--timeout", "30", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let ret: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(ret["result"], json!({"greeting": "hello Grace"}));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(h.returns("claude")[&id].len(), 1, "exactly one RETURN");
    assert_eq!(events(&h, &id, "input_answered").len(), 1, "the answer applied once");
    assert_eq!(events(&h, &id, "input_requested").len(), 1, "asked once");
    assert_eq!(files(&h.dir("claude", "01_inbox"), "__INPUT_REQUEST__").len(), 1, "one request delivered");
    // The input handoff `answer` wrote is filed, not failed.
    wait_until("the input handoff filed", Duration::from_secs(10), || {
        files(&h.dir("baton", "02_processed"), "__INPUT__").len() == 1
    });
    assert!(files(&h.dir("baton", "03_failed"), "__INPUT__").is_empty());
    signal(&mut serving, libc::SIGTERM);
}

#[test]
fn an_input_handoff_dropped_into_the_inbox_answers_and_a_bad_one_is_filed_failed() {
    let h = Home::init(&[], "");
    let mut serving = serve(&h);
    let id = ask(&h);
    waiting_for_input(&h, &id);
    let input = |iid: &str, name: Value| {
        json!({"schema": "baton.handoff/v1", "id": iid, "kind": "input", "created_at": "2026-11-29T05:00:00Z",
               "from": "claude", "title": "my name", "in_reply_to": id, "request_id": "name", "input": {"name": name}})
    };
    h.drop_file("bad__INPUT__x__claude.json", serde_json::to_vec(&input("in-1", json!(7))).unwrap());
    wait_until("the bad input filed", Duration::from_secs(20), || {
        files(&h.dir("baton", "03_failed"), "bad__INPUT__").len() == 1
    });
    assert_eq!(state(&h, &id), "input_required", "a refused answer changes nothing");
    h.drop_file("good__INPUT__x__claude.json", serde_json::to_vec(&input("in-2", json!("Ada"))).unwrap());
    let o = h.run(&["wait", &id, "--timeout", "30", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let ret: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(ret["result"], json!({"greeting": "hello Ada"}));
    signal(&mut serving, libc::SIGTERM);
}

#[test]
fn an_unanswered_request_fails_its_task_input_timeout() {
    let h = Home::init(&[], "");
    let mut serving = serve(&h);
    let task = json!({"schema": "baton.handoff/v1", "id": "ask-timeout-1", "kind": "task",
                      "created_at": "2026-11-29T05:00:00Z", "from": "claude", "title": "ask",
                      "plugin": "echo", "action": "ask", "params": {}, "input_timeout_secs": 1});
    h.drop_file("20261129T050000Z__TASK__ask__claude.json", serde_json::to_vec(&task).unwrap());
    let o = h.run(&["wait", "ask-timeout-1", "--until", "final", "--timeout", "30", "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let ret: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (ret["status"].as_str(), ret["error"]["code"].as_str()),
        (Some("failed"), Some("input_timeout")),
        "{ret}"
    );
    assert_eq!(h.returns("claude")["ask-timeout-1"].len(), 1);
    signal(&mut serving, libc::SIGTERM);
}

#[test]
fn send_wait_wait_and_call_end_at_an_open_request_with_exit_3() {
    let h = Home::init(&[], "");
    // `call` with no serve runs the TASK in this process: it asks, so `call` prints the
    // request and exits 3; the answer queues the TASK for the next `serve`.
    let o = h.run(&["call", "echo", "ask", "--json", "--timeout", "30"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    let req: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!((req["kind"].as_str(), req["request_id"].as_str()), (Some("input_request"), Some("name")), "{req}");
    let called = req["in_reply_to"].as_str().unwrap().to_string();
    assert_eq!(state(&h, &called), "input_required");
    assert!(answer(&h, &called, r#"{"name": "Call"}"#).status.success());

    let mut serving = serve(&h);
    let o = h.run(&["wait", &called, "--timeout", "30", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(serde_json::from_slice::<Value>(&o.stdout).unwrap()["result"]["greeting"], "hello Call");

    // `send --wait`: the request, exit 3; `wait`: the same while it is open.
    let o = h.run(&["send", "--from", "claude", "--plugin", "echo", "--action", "ask", "--params", "{}", "--wait"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("input required: `name`: What is your name?"), "{out}");
    let id = out.lines().last().unwrap().trim().to_string();
    let o = h.run(&["wait", &id, "--timeout", "30", "--json"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    assert_eq!(serde_json::from_slice::<Value>(&o.stdout).unwrap()["in_reply_to"], json!(id));
    // `--until final` waits through it.
    let mut waiting = h
        .cmd(&["wait", &id, "--until", "final", "--timeout", "30", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(waiting.try_wait().unwrap().is_none(), "still waiting through the request");
    assert!(answer(&h, &id, r#"{"name": "Ada"}"#).status.success());
    let o = waiting.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(serde_json::from_slice::<Value>(&o.stdout).unwrap()["result"]["greeting"], "hello Ada");
    // Answered, `wait` no longer stops at the old request.
    let o = h.run(&["wait", &id, "--timeout", "30", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    signal(&mut serving, libc::SIGTERM);
}

#[test]
fn an_agent_asks_back_by_replying_and_gets_the_answer_in_its_inbox() {
    let h = Home::init(&[], "");
    let o = h.ok(&["send", "--from", "alice", "--to", "bob", "--title", "Deploy it", "--new-agent"]);
    let id = text(&o.stdout).lines().last().unwrap().trim().to_string();
    let schema = r#"{"type": "object", "required": ["branch"], "properties": {"branch": {"type": "string"}}}"#;
    let o =
        h.run(&["reply", &id, "--status", "input_required", "--summary", "Which branch?", "--input-schema", schema]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let requests = files(&h.dir("alice", "01_inbox"), "__INPUT_REQUEST__");
    assert_eq!(requests.len(), 1);
    let request: Value = serde_json::from_slice(&std::fs::read(&requests[0]).unwrap()).unwrap();
    assert_eq!((request["from"].as_str(), request["message"].as_str()), (Some("bob"), Some("Which branch?")));
    assert_eq!(files(&h.dir("bob", "01_inbox"), "__TASK__").len(), 1, "the TASK stays in bob's inbox");
    // One question at a time.
    let o = h.run(&["reply", &id, "--status", "input_required", "--summary", "And?", "--input-schema", schema]);
    assert!(!o.status.success() && text(&o.stderr).contains("one question at a time"), "{}", text(&o.stderr));

    let o = h.run(&["answer", &id, "--input", r#"{"branch": 1}"#]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(files(&h.dir("bob", "01_inbox"), "__INPUT__").is_empty(), "nothing written");
    let o = h.run(&["answer", &id, "--input", r#"{"branch": "main"}"#]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let inputs = files(&h.dir("bob", "01_inbox"), "__INPUT__");
    assert_eq!(inputs.len(), 1);
    let input: Value = serde_json::from_slice(&std::fs::read(&inputs[0]).unwrap()).unwrap();
    assert_eq!((input["kind"].as_str(), input["input"]["branch"].as_str()), (Some("input"), Some("main")));
    let o = h.run(&["answer", &id, "--input", r#"{"branch": "dev"}"#]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("already answered"), "{}", text(&o.stderr));

    // Then `reply` works as usual: one RETURN to alice.
    h.ok(&["reply", &id, "--status", "completed", "--summary", "deployed main"]);
    assert_eq!(h.returns("alice")[&id].len(), 1);
}

#[test]
fn over_mcp_wait_for_return_says_input_required_and_the_tool_answer_answers() {
    let h = Home::init(&[], "");
    let mut serving = serve(&h);
    let out = crate::mcp::client(&h, "ask", &[]);
    let asked = &out["wait_asked"]["structured"];
    assert_eq!(asked["status"], "input_required", "{out}");
    assert_eq!(asked["input_request"]["request_id"], "name", "{asked}");
    assert_eq!(out["answer_bad"]["is_error"], true, "{out}");
    assert!(out["answer_bad"].to_string().contains("/name"), "{}", out["answer_bad"]);
    assert_eq!(out["answer"]["is_error"], false, "{}", out["answer"]);
    assert_eq!(out["answer"]["structured"]["state"], "queued", "{}", out["answer"]);
    let done = &out["wait_done"]["structured"];
    assert_eq!(
        (done["status"].as_str(), done["result"]["greeting"].as_str()),
        (Some("completed"), Some("hello Ada")),
        "{out}"
    );
    assert_eq!(out["answer_again"]["is_error"], true, "{}", out["answer_again"]);
    signal(&mut serving, libc::SIGTERM);
}

#[test]
fn over_a2a_the_task_goes_input_required_and_a_message_with_its_task_id_answers() {
    let h = Home::init(&[], "");
    let key = crate::dashboard::rotate_key(&h);
    let s = crate::dashboard::Serve::start(&h);
    let out = crate::a2a::client(&h, &s, &key, &["ask"]);
    let asked = &out["asked"];
    assert_eq!(asked["status"]["state"], "TASK_STATE_INPUT_REQUIRED", "{out}");
    let parts = &asked["status"]["message"]["parts"];
    assert_eq!(parts[0]["text"], "What is your name?", "{asked}");
    assert_eq!(parts[1]["data"]["input_request"]["request_id"], "name", "{asked}");
    assert!(out["bad"]["error"].is_string() && out["bad"]["message"].to_string().contains("/name"), "{}", out["bad"]);
    let done = &out["answered"];
    assert_eq!(done["status"]["state"], "TASK_STATE_COMPLETED", "{out}");
    assert_eq!(done["artifacts"][0]["parts"][0]["data"]["greeting"], "hello Ada", "{done}");
}
