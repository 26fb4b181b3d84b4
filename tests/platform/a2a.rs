//! A2A v1.0 on `baton serve --http`, driven by a real client from the ecosystem: the official
//! Python SDK (`a2a-sdk` from PyPI, installed by `./x setup`) running tests/a2a_client.py. Tasks
//! for a plugin and for an agent (answered with `baton reply`), get, list with its cursor,
//! cancel, subscribe, the errors a client meets, and a kill -9 of `serve` between `SendMessage`
//! and the answer. Every answer is checked against the files baton wrote.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::dashboard::{Serve, free_port, rotate_key};
use crate::support;
use support::{BIN, Home};

pub(crate) fn client(h: &Home, s: &Serve, key: &str, args: &[&str]) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("a2a_client.py");
    let mut c = Command::new("python3");
    c.arg(&script).arg(BIN).arg(&h.root).arg(format!("http://{}", s.addr)).arg(key).args(args);
    c.env("XDG_CACHE_HOME", h.cache_root()).env("BATON_LOG", "warn");
    if let Some(url) = &h.state {
        c.env("BATON_STATE", url);
    }
    let out = c.output().expect("python3 runs (./x setup installs the A2A SDK: pip install a2a-sdk)");
    assert!(
        out.status.success(),
        "the A2A client failed (is the SDK installed? `./x setup`):\n{}\nserve's log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        s.log_text()
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("client output is not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// Every handoff file in an agent's folders (inbox, processed, failed), parsed.
fn handoffs(h: &Home, agent: &str) -> Vec<(PathBuf, Value)> {
    let mut out = Vec::new();
    for folder in ["01_inbox", "02_processed", "03_failed"] {
        for e in std::fs::read_dir(h.dir(agent, folder)).into_iter().flatten().flatten() {
            if let Some(v) = std::fs::read(e.path()).ok().and_then(|b| serde_json::from_slice::<Value>(&b).ok()) {
                out.push((e.path(), v));
            }
        }
    }
    out
}

fn returns_for(h: &Home, id: &str) -> Vec<(PathBuf, Value)> {
    handoffs(h, "a2a").into_iter().filter(|(_, v)| v["kind"] == "return" && v["in_reply_to"] == id).collect()
}

fn last_task(events: &Value) -> &Value {
    &events.as_array().unwrap().last().unwrap()["task"]
}

#[test]
fn plugin_tasks_get_list_and_errors_through_the_official_sdk() {
    let h = Home::init(&[("max_file_bytes", "65536")], "");
    std::fs::create_dir_all(h.dir("Codex", "01_inbox")).unwrap();
    let key = rotate_key(&h);
    let s = Serve::start(&h);
    let out = client(&h, &s, &key, &["plugins", "70000"]);

    // The card: an absolute JSON-RPC url on this address, a skill per plugin action (with its
    // params schema in baton's extension) and per agent; not baton itself, not the a2a inbox.
    let card = &out["card"];
    assert_eq!(card["supportedInterfaces"][0]["url"], format!("http://{}/a2a", s.addr));
    assert_eq!(card["supportedInterfaces"][0]["protocolBinding"], "JSONRPC");
    assert_eq!(card["supportedInterfaces"][0]["protocolVersion"], "1.0");
    let skills: Vec<&str> = card["skills"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    for want in ["echo.echo", "audit.audit", "agent:Codex"] {
        assert!(skills.contains(&want), "{want} in {skills:?}");
    }
    assert!(!skills.iter().any(|s| *s == "agent:a2a" || *s == "agent:baton"), "{skills:?}");
    let ext = &card["capabilities"]["extensions"][0];
    assert_eq!(ext["uri"], "urn:baton:a2a:params-schema:v1");
    assert!(ext["params"]["audit.audit"]["properties"].is_object(), "{ext}");

    // A blocking send answers the finished task: the RETURN's result is its artifact, and the
    // RETURN was filed out of a2a's inbox once delivered.
    let done = last_task(&out["blocking"]);
    let id = done["id"].as_str().unwrap();
    assert_eq!(done["status"]["state"], "TASK_STATE_COMPLETED", "{done}");
    assert_eq!(done["artifacts"][0]["parts"][0]["data"], json!({"message": "hi"}));
    let rets = returns_for(&h, id);
    assert_eq!(rets.len(), 1, "one RETURN: {rets:?}");
    assert!(rets[0].0.starts_with(h.dir("a2a", "02_processed")), "{:?}", rets[0].0);
    assert_eq!(done["metadata"]["baton"]["return"], rets[0].0.to_str().unwrap());
    // Sent again with the same messageId: the same task answers, nothing is written twice
    // (the count of TASKs below says so too).
    assert_eq!(out["again"]["id"], id);
    assert_eq!(out["again"]["status"]["state"], "TASK_STATE_COMPLETED");
    // GetTask, and the handoff id is the task id: `baton show` knows it.
    assert_eq!(out["get"]["id"], id);
    assert_eq!(out["get"]["status"]["state"], "TASK_STATE_COMPLETED");
    assert_eq!(out["get"]["history"][0]["parts"][0]["data"], json!({"message": "hi"}));
    let shown = h.json(&["show", id, "--json"]);
    assert_eq!(shown["task"]["sender"], "a2a");
    assert!(shown["events"].as_array().unwrap().iter().any(|e| e["event"] == "a2a_sent"), "{shown}");

    // Streaming: the task first, its artifact, then the final status, in the same context.
    let streamed = out["streamed"].as_array().unwrap();
    let first = &streamed[0]["task"];
    assert!(
        ["TASK_STATE_SUBMITTED", "TASK_STATE_WORKING"].contains(&first["status"]["state"].as_str().unwrap()),
        "{first}"
    );
    assert_eq!(first["contextId"], done["contextId"]);
    let last = &streamed.last().unwrap()["statusUpdate"];
    assert_eq!(last["status"]["state"], "TASK_STATE_COMPLETED", "{streamed:?}");
    // (Proto JSON has doubles only: the SDK shows the integer 2 as 2.0.)
    assert!(streamed.iter().any(|e| e["artifactUpdate"]["artifact"]["parts"][0]["data"]["n"].as_f64() == Some(2.0)));

    // ListTasks: three tasks, a page at a time, newest first, each once.
    let pages = out["pages"].as_array().unwrap();
    assert_eq!(pages.len(), 3, "{pages:?}");
    let listed: Vec<&str> =
        pages.iter().flat_map(|p| p["ids"].as_array().unwrap()).map(|i| i.as_str().unwrap()).collect();
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[2], id, "oldest last: {listed:?}");
    assert_eq!(listed[1], first["id"].as_str().unwrap());
    assert!(pages.iter().all(|p| p["total"] == 3));
    assert_eq!(pages[2]["next"], "");
    let in_context: Vec<&str> =
        out["in_context"]["tasks"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(in_context, [first["id"].as_str().unwrap(), id]);
    assert!(out["in_context"]["tasks"][0]["artifacts"].is_array(), "includeArtifacts");
    assert_eq!(out["completed_total"], 3);
    assert_eq!(out["failed_total"], 0);

    // Bad requests get A2A's own errors, through the SDK's error classes.
    let err = |k: &str| out["errors"][k]["error"].as_str().unwrap_or_else(|| panic!("{k}: {}", out["errors"][k]));
    assert_eq!(err("unknown_skill"), "InvalidParamsError");
    for k in ["unknown_action", "bad_params"] {
        assert_eq!(err(k), "InvalidParamsError", "{k}");
        let m = out["errors"][k]["message"].as_str().unwrap_or_default();
        assert!(m.contains("nothing was written"), "{k}: {m}");
    }
    assert_eq!(err("no_skill"), "InvalidParamsError");
    assert_eq!(err("agent_path"), "InvalidParamsError", "a path is no agent name");
    assert_eq!(err("unknown_task"), "TaskNotFoundError");
    assert_eq!(err("cancel_done"), "TaskNotCancelableError");
    assert_eq!(err("subscribe_done"), "UnsupportedOperationError");
    assert_eq!(err("push"), "PushNotificationNotSupportedError");
    assert_eq!(err("follow_up"), "UnsupportedOperationError");
    assert_eq!(err("too_large"), "InvalidParamsError");
    assert!(out["errors"]["too_large"]["message"].as_str().unwrap().contains("too_large"), "{}", out["errors"]);
    let code =
        |k: &str| out["raw"][k]["body"]["error"]["code"].as_i64().unwrap_or_else(|| panic!("{k}: {}", out["raw"]));
    assert_eq!(code("no_version"), -32009, "a request without A2A-Version is 0.3");
    assert_eq!(code("parse"), -32700);
    assert_eq!(code("method"), -32601);
    assert_eq!(code("batch"), -32600);
    assert_eq!(code("bad_params"), -32602);
    assert_eq!(code("bad_page"), -32602);
    // JSON-RPC's own errors (with baton's reasons) are in baton's domain, A2A's in A2A's.
    let domain = |k: &str| out["raw"][k]["body"]["error"]["data"][0]["domain"].as_str().unwrap_or_default().to_string();
    assert_eq!(domain("parse"), "baton");
    assert_eq!(domain("no_version"), "a2a-protocol.org");
    assert_eq!(out["raw"]["no_key"]["status"], 401);
    assert_eq!(out["raw"]["foreign_host"]["status"], 421);

    // The refused requests left nothing anywhere: three TASKs from a2a, all answered.
    let sent: Vec<_> =
        handoffs(&h, "baton").into_iter().filter(|(_, v)| v["kind"] == "task" && v["from"] == "a2a").collect();
    assert_eq!(sent.len(), 3, "{sent:?}");
    assert!(sent.iter().all(|(p, _)| p.starts_with(h.dir("baton", "02_processed"))), "{sent:?}");
    assert!(handoffs(&h, "Codex").is_empty());
}

#[test]
fn an_agents_task_is_answered_with_baton_reply_and_another_is_canceled() {
    let h = Home::init(&[], "");
    std::fs::create_dir_all(h.dir("Codex", "01_inbox")).unwrap();
    let key = rotate_key(&h);
    let s = Serve::start(&h);

    let out = client(&h, &s, &key, &["agent", "Codex"]);
    let id = out["sent"]["id"].as_str().unwrap();
    assert_eq!(out["sent"]["status"]["state"], "TASK_STATE_SUBMITTED");
    assert_eq!(out["reply"]["code"], 0, "{}", out["reply"]);
    // The TASK Codex got: the title from the text's first line, the text and data kept.
    let (_, task) = handoffs(&h, "Codex").into_iter().find(|(_, v)| v["id"] == id).expect("the TASK");
    assert_eq!(task["title"], "Review PR 42");
    assert_eq!(task["to"], "Codex");
    assert_eq!(task["from"], "a2a");
    assert_eq!(task["data"], json!({"pr": 42}));
    assert!(task["body"].as_str().unwrap().contains("The parser change."));
    // Subscribed: the task first, then the answer's artifact and the final status.
    let events = out["events"].as_array().unwrap();
    assert_eq!(events[0]["task"]["id"], id);
    assert_eq!(events.last().unwrap()["statusUpdate"]["status"]["state"], "TASK_STATE_COMPLETED", "{events:?}");
    assert!(
        events.iter().any(|e| e["artifactUpdate"]["artifact"]["parts"][0]["data"]["comments"].as_f64() == Some(2.0))
    );
    assert_eq!(out["get"]["status"]["state"], "TASK_STATE_COMPLETED");
    assert_eq!(out["get"]["status"]["message"]["parts"][0]["text"], "Reviewed; two comments");
    assert_eq!(returns_for(&h, id).len(), 1);

    // Canceled before Codex picked it up: the TASK is filed, answered `canceled` once.
    let out = client(&h, &s, &key, &["cancel", "Codex"]);
    let id = out["sent"]["id"].as_str().unwrap();
    assert_eq!(out["canceled"]["status"]["state"], "TASK_STATE_CANCELED", "{out}");
    assert_eq!(out["get"]["status"]["state"], "TASK_STATE_CANCELED");
    assert_eq!(out["again"]["error"], "TaskNotCancelableError");
    let (path, _) = handoffs(&h, "Codex").into_iter().find(|(_, v)| v["id"] == id).expect("the TASK kept");
    assert!(path.starts_with(h.dir("Codex", "02_processed")), "{path:?}");
    let rets = returns_for(&h, id);
    assert_eq!(rets.len(), 1, "{rets:?}");
    assert_eq!(rets[0].1["status"], "canceled");
}

/// An agent that asks back (`baton reply --status input_required`, between agents only files
/// record it) leaves its task `INPUT_REQUIRED`, the question its status message, as a plugin's
/// question does: a message with the taskId answers it into the agent's inbox, and a task
/// waiting for its answer can be canceled (the TCK's CORE-CANCEL-001 and every test that needs a
/// task in `INPUT_REQUIRED` found it `SUBMITTED`, and a blocking send waited past its timeout).
#[test]
fn an_agent_that_asks_back_leaves_its_task_input_required_answered_or_canceled_over_a2a() {
    let h = Home::init(&[], "");
    std::fs::create_dir_all(h.dir("Codex", "01_inbox")).unwrap();
    let key = rotate_key(&h);
    let s = Serve::start(&h);
    let out = client(&h, &s, &key, &["asks", "Codex"]);
    assert!(out["ask"].as_array().unwrap().iter().all(|r| r["code"] == 0), "{}", out["ask"]);
    let (first, second) = (out["ids"][0].as_str().unwrap(), out["ids"][1].as_str().unwrap());

    let asked = &out["asked"];
    assert_eq!(asked["status"]["state"], "TASK_STATE_INPUT_REQUIRED", "{asked}");
    let question = &asked["status"]["message"]["parts"];
    assert_eq!(question[0]["text"], "Which branch?", "{asked}");
    assert_eq!(question[1]["data"]["input_request"]["input_schema"]["required"], json!(["branch"]), "{asked}");

    // The answer is an `input` in Codex's inbox, as `baton answer` delivers it; Codex's reply
    // then completes the task.
    let input = handoffs(&h, "Codex").into_iter().find(|(_, v)| v["kind"] == "input" && v["in_reply_to"] == first);
    assert_eq!(input.expect("the input delivered").1["input"], json!({"branch": "main"}));
    assert_eq!(out["reply"]["code"], 0, "{}", out["reply"]);
    let events = out["answered"].as_array().unwrap();
    assert_eq!(events.last().unwrap()["statusUpdate"]["status"]["state"], "TASK_STATE_COMPLETED", "{events:?}");

    assert_eq!(out["canceled"]["status"]["state"], "TASK_STATE_CANCELED", "{out}");
    let rets = returns_for(&h, second);
    assert_eq!(rets.len(), 1, "{rets:?}");
    assert_eq!(rets[0].1["status"], "canceled");

    // Text alone answers with a JSON string: refused by a schema that wants an object (the
    // refusal names the schema's field), taken by one that wants a string (delivered as it).
    let refused = out["text_to_object"]["message"].as_str().unwrap_or_default();
    assert!(refused.contains("branch") || refused.contains("object"), "{}", out["text_to_object"]);
    let third = out["ids"][2].as_str().unwrap();
    assert_eq!(
        out["text_answered"]["task"]["id"], third,
        "returnImmediately holds for an answer: {}",
        out["text_answered"]
    );
    let input = handoffs(&h, "Codex").into_iter().find(|(_, v)| v["kind"] == "input" && v["in_reply_to"] == third);
    assert_eq!(input.expect("the text answer delivered").1["input"], json!("v1.2"), "{}", out["text_answered"]);
}

#[test]
fn a_task_accepted_over_a2a_survives_a_kill_9_of_serve() {
    let extra = "\n[plugins.testkit]\ngrants = { data = \"data\" }\ntime_ms = 30000\n";
    let h = Home::init(&[], extra);
    std::fs::create_dir_all(h.root.join("data")).unwrap();
    let src = h.root.parent().unwrap().join("testkit.wasm");
    std::fs::write(&src, baton_bundle::get("testkit").expect("testkit is bundled").wasm).unwrap();
    h.ok(&["plugin", "install", src.to_str().unwrap()]);
    let key = rotate_key(&h);
    let port = free_port();
    let mut s = Serve::start_on(&h, port);

    // The task runs until the file `data/go` exists (at most 20 s): the subscriber below creates
    // it once its subscription is live, so the re-run cannot finish before anyone listens.
    let gate = h.root.join("data/go");
    let sent = client(&h, &s, &key, &["send", "testkit.sleep", r#"{"ms": 20000, "until": "/data/go"}"#]);
    let id = sent["id"].as_str().unwrap().to_string();
    // Killed once baton has claimed it and is running it.
    let claims = h.root.join("handoffs/baton/.claims");
    let deadline = Instant::now() + Duration::from_secs(30);
    let claimed = || {
        std::fs::read_dir(&claims).into_iter().flatten().flatten().any(|d| {
            std::fs::read_dir(d.path())
                .into_iter()
                .flatten()
                .flatten()
                .any(|f| f.file_name().to_string_lossy().contains(&id))
        })
    };
    while !claimed() {
        assert!(Instant::now() < deadline, "the TASK was not claimed: {}", s.log_text());
        std::thread::sleep(Duration::from_millis(20));
    }
    s.child.kill().unwrap();
    s.child.wait().unwrap();
    assert!(returns_for(&h, &id).is_empty(), "answered before the kill");

    // After the restart the same task id completes, once; a subscription resumes on it.
    let s = Serve::start_on(&h, port);
    let out = client(&h, &s, &key, &["subscribe", &id, gate.to_str().unwrap()]);
    let events = out["events"].as_array().unwrap();
    assert_eq!(events[0]["task"]["id"], id.as_str(), "{out}");
    assert_ne!(events[0]["task"]["status"]["state"], "TASK_STATE_COMPLETED", "subscribed before the answer: {out}");
    assert_eq!(events.last().unwrap()["statusUpdate"]["status"]["state"], "TASK_STATE_COMPLETED", "{out}");
    let done = &out["get"];
    assert_eq!(done["id"], id.as_str());
    assert_eq!(done["status"]["state"], "TASK_STATE_COMPLETED", "{done}\n{}", s.log_text());
    let rets = returns_for(&h, &id);
    assert_eq!(rets.len(), 1, "exactly one RETURN: {rets:?}");
}

/// Waiting costs no thread: more clients blocked on unanswered tasks than the blocking pool has
/// threads (64) do not stop baton from running a plugin's task meanwhile.
#[test]
fn many_waiting_clients_do_not_starve_the_pipeline() {
    let h = Home::init(&[], "");
    std::fs::create_dir_all(h.dir("Codex", "01_inbox")).unwrap();
    let key = rotate_key(&h);
    let s = Serve::start(&h);
    let out = client(&h, &s, &key, &["crowd", "Codex", "80"]);
    assert_eq!(out["echo_state"], "TASK_STATE_COMPLETED", "{out}");
    assert!(out["echo_secs"].as_f64().unwrap() < 5.0, "the echo waited behind the crowd: {out}");
    assert_eq!(out["crowd"], json!(["still waiting"]), "{out}");
    assert_eq!(handoffs(&h, "Codex").len(), 80);
}

/// `GetTask` answers for any handoff, however it was sent: here a TASK file dropped into baton's
/// inbox by hand, as an agent's script would, and one sent with `baton send`.
#[test]
fn get_task_answers_for_handoffs_sent_without_a2a() {
    let h = Home::init(&[], "");
    let key = rotate_key(&h);
    let s = Serve::start(&h);
    let dropped = json!({"schema": "baton.handoff/v1", "id": "HAND-1", "kind": "task", "created_at": "2026-01-18T07:09:51Z",
                         "from": "Script-Agent", "title": "echo by hand", "plugin": "echo", "action": "echo",
                         "params": {"n": 1}, "correlation_id": "batch-7"});
    h.drop_file("20260118T070951Z__TASK__echo-by-hand-HAND-1__Script-Agent.json", dropped.to_string());
    let done = client(&h, &s, &key, &["wait", "HAND-1", "30"]);
    assert_eq!(done["status"]["state"], "TASK_STATE_COMPLETED", "{done}");
    assert_eq!(done["contextId"], "batch-7", "the correlation id is the context");
    assert_eq!(done["artifacts"][0]["parts"][0]["data"]["n"].as_f64(), Some(1.0), "{done}");
    assert_eq!(done["history"][0]["parts"][0]["data"]["n"].as_f64(), Some(1.0), "{done}");
    // The RETURN went to the sender's inbox, not a2a's, and stays there unread.
    assert!(h.returns("Script-Agent").contains_key("HAND-1"));

    let sent = h
        .cmd(&[
            "send",
            "--plugin",
            "echo",
            "--action",
            "echo",
            "--params",
            r#"{"m": 2}"#,
            "--from",
            "Cli-Agent",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(sent.status.success(), "{}", String::from_utf8_lossy(&sent.stderr));
    let id = serde_json::from_slice::<Value>(&sent.stdout).unwrap()["id"].as_str().unwrap().to_string();
    let done = client(&h, &s, &key, &["wait", &id, "30"]);
    assert_eq!(done["status"]["state"], "TASK_STATE_COMPLETED", "{done}");
    assert_eq!(done["metadata"]["baton"]["from"], "Cli-Agent");
    // Its keys in A2A's JSON spelling, as the TCK checks (DM-SERIAL-001): no snake_case.
    let meta = done["metadata"]["baton"].as_object().unwrap();
    assert!(meta.contains_key("createdAt") && meta.contains_key("ledgerState"), "{done}");
    assert!(!meta.keys().any(|k| k.contains('_')), "{done}");
}

/// Issue 79, what the A2A TCK checks beyond features: `/a2a/` answers as `/a2a` does; proto
/// (snake_case) field names are read as their JSON names (`ListTasks {"context_id"}` lists that
/// context only), while a data part's own keys stay as sent; every error carries a
/// `google.rpc.ErrorInfo`; the card is cacheable, with an ETag that answers 304; and a message
/// naming no skill goes to `[a2a] default_agent` as a TASK, which the agent's `reply` answers.
#[test]
fn proto_names_error_info_a_cacheable_card_and_a_default_agent() {
    let h = Home::init(&[], "");
    let cfg = h.root.join("baton.toml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str("\n[a2a]\ndefault_agent = \"Cursor\"\n");
    std::fs::write(&cfg, text).unwrap();
    std::fs::create_dir_all(h.dir("Cursor", "01_inbox")).unwrap();
    let key = rotate_key(&h);
    let s = Serve::start(&h);
    let out = client(&h, &s, &key, &["conformance"]);

    for k in ["slash", "slash_url"] {
        let body = if k == "slash" { &out[k]["body"] } else { &out[k] };
        assert_eq!(body["error"]["code"], -32001, "{k}: {out}");
        assert_eq!(body["error"]["data"][0]["@type"], "type.googleapis.com/google.rpc.ErrorInfo", "{k}: {out}");
        assert_eq!(body["error"]["data"][0]["reason"], "TASK_NOT_FOUND", "{k}: {out}");
        // An A2A error's ErrorInfo is in A2A's domain (§9.5, the TCK's JSONRPC-ERR-003).
        assert_eq!(body["error"]["data"][0]["domain"], "a2a-protocol.org", "{k}: {out}");
    }
    let sent = &out["snake_sent"]["body"]["result"]["task"];
    assert_eq!(sent["contextId"], "ctx-snake", "context_id read: {out}");
    assert!(sent.get("history").is_none(), "history_length 0 read: {sent}");
    let id = sent["id"].as_str().unwrap();
    let listed = &out["snake_list"]["body"]["result"];
    let ids: Vec<&str> = listed["tasks"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [id], "only that context: {listed}");
    assert_eq!(out["all_list"]["body"]["result"]["tasks"].as_array().unwrap().len(), 2, "every context: {out}");
    let task = handoffs(&h, "baton").into_iter().find(|(_, v)| v["id"] == id).map(|(_, v)| v).unwrap();
    assert_eq!(task["params"], json!({"message_id": "kept as sent"}), "a data part's keys are the sender's");

    let d = &out["default"];
    assert_eq!(d["metadata"]["baton"]["to"], "Cursor", "{out}");
    let did = d["id"].as_str().unwrap();
    assert!(handoffs(&h, "Cursor").iter().any(|(_, v)| v["id"] == did && v["title"] == "Pick a colour"));
    let r = h
        .cmd(&["reply", did, "--status", "completed", "--summary", "teal"])
        .env("BATON_AGENT", "Cursor")
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let done = client(&h, &s, &key, &["wait", did, "10"]);
    assert_eq!(done["status"]["state"], "TASK_STATE_COMPLETED", "{done}");
    assert_eq!(done["status"]["message"]["parts"][0]["text"], "teal");
    assert!(done.get("artifacts").is_none_or(|a| a == &json!([])), "no result, no empty artifact: {done}");

    let card = &out["card"];
    assert_eq!(card["status"], 200);
    assert!(card["cache_control"].as_str().unwrap().contains("max-age"), "{card}");
    assert!(card["etag"].as_str().is_some_and(|e| e.starts_with('"')), "{card}");
    assert_eq!((card["again"].as_u64(), card["again_body"].as_str()), (Some(304), Some("")), "{card}");
}
