//! `baton mcp` driven by a real MCP client over stdio: the official Python SDK (`mcp` from
//! PyPI, installed by `./x setup`), running tests/mcp_client.py. Every tool is called, with the
//! errors an agent meets; the answers are checked against the files baton wrote.
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

use crate::support;
use support::{BIN, Home};

/// One scenario of tests/mcp_client.py against `h`, its JSON output (also used by the
/// mailbox tests).
pub(crate) fn client(h: &Home, scenario: &str, env: &[(&str, &str)]) -> Value {
    client_with(h, &[scenario], env)
}

/// The MCP client the tests drive: tests/mcp_client.py, on the official MCP Python SDK.
fn client_script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("mcp_client.py")
}

fn client_with(h: &Home, scenario: &[&str], env: &[(&str, &str)]) -> Value {
    client_in(h, &h.root, scenario, env)
}

/// [`client_with`] on the folder `home` (a home or not) with `h`'s cache and state.
fn client_in(h: &Home, home: &Path, scenario: &[&str], env: &[(&str, &str)]) -> Value {
    let script = client_script();
    let mut c = Command::new("python3");
    c.arg(&script).arg(BIN).arg(home).args(scenario).env("XDG_CACHE_HOME", h.cache_root()).env("BATON_LOG", "warn");
    if let Some(url) = &h.state {
        c.env("BATON_STATE", url);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("python3 runs (./x setup installs the MCP SDK: pip install mcp)");
    assert!(
        out.status.success(),
        "the MCP client failed (is the SDK installed? `./x setup`):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("client output is not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

fn serve(h: &Home) -> Child {
    h.cmd(&["serve"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap()
}

/// The error text of a refused call.
fn error_of(v: &Value) -> String {
    assert_eq!(v["is_error"], true, "expected a refusal: {v}");
    v["text_json"][0]["error"].as_str().unwrap_or_default().to_string()
}

#[test]
fn every_tool_through_the_official_python_sdk() {
    let h = Home::init(&[], "");
    std::fs::create_dir_all(h.dir("Codex", "01_inbox")).unwrap();
    let mut serving = serve(&h);
    let out = client(&h, "claude", &[]);

    // Every tool is listed with a schema; wait_for_return's output admits RETURN and pending.
    let tools = out["tools"].as_object().unwrap();
    for t in [
        "send_task",
        "wait_for_return",
        "inbox",
        "read_handoff",
        "reply",
        "status",
        "show",
        "retry",
        "audit",
        "plugins",
        "ack",
    ] {
        assert_eq!(tools[t]["input"]["type"], "object", "{t}");
    }
    for arg in ["to", "plugin", "action", "params", "title", "body", "reply_to", "correlation_id", "new_agent"] {
        assert!(tools["send_task"]["input"]["properties"].get(arg).is_some(), "send_task lacks {arg}");
    }
    // The RETURN, the pending answer, the ledger's answer for a refused or failed TASK, and an
    // open input request (docs/asking-back.md).
    let outputs = tools["wait_for_return"]["output"]["anyOf"].as_array().unwrap();
    assert_eq!(outputs.len(), 4);
    assert_eq!(outputs[3]["properties"]["status"]["const"], "input_required", "{}", outputs[3]);
    assert_eq!(outputs[2]["properties"]["from"]["const"], "ledger", "{}", outputs[2]);

    // send_task to a plugin → {id, file}, as structured content and as JSON text; wait answers the RETURN.
    let sent = &out["send_plugin"];
    assert_eq!(sent["is_error"], false, "{sent}");
    assert_eq!(sent["structured"], sent["text_json"][0]);
    let file = sent["structured"]["file"].as_str().unwrap();
    assert!(file.contains("__TASK__echo-echo-") && file.ends_with("__Claude.json"), "{file}");
    let ret = &out["wait_plugin"]["structured"];
    assert_eq!(
        (ret["status"].as_str(), ret["in_reply_to"].as_str()),
        (Some("completed"), sent["structured"]["id"].as_str())
    );
    assert_eq!(ret["result"], json!({"n": 7}));
    assert_eq!(
        h.returns("Claude").get(sent["structured"]["id"].as_str().unwrap()),
        None,
        "acknowledged: no longer in the inbox"
    );
    assert_eq!(files_named(&h.dir("Claude", "02_processed"), "__RETURN__echo-echo-"), 1);

    // To an agent: pending while unanswered, listed in its inbox and its resource, readable.
    let aid = out["agent_task_id"].as_str().unwrap().to_string();
    let pending = &out["wait_pending"]["structured"];
    assert_eq!((&pending["pending"], &pending["id"]), (&json!(true), &json!(aid)), "{pending}");
    let expected = h.dir("Claude", "01_inbox").display().to_string();
    assert!(pending["expected"].as_str().unwrap().contains(&expected), "where it was looked for: {pending}");
    assert!(pending["message"].as_str().unwrap().contains(&aid), "{pending}");
    let listed = &out["inbox_codex"]["structured"]["handoffs"];
    assert_eq!(listed[0]["id"], aid.as_str());
    assert_eq!(listed[0]["from"], "Claude");
    assert_eq!(out["inbox_mine"]["structured"]["agent"], "Claude");
    assert_eq!(out["read"]["structured"]["handoff"]["pr"], 42);
    assert_eq!(out["read"]["structured"]["handoff"]["to"], "Codex");
    assert!(out["resources"].as_array().unwrap().contains(&json!("baton://inbox/Codex")));
    assert_eq!(out["resource_codex"]["handoffs"][0]["id"], aid.as_str());

    // Refusals, with the CLI's clear errors.
    assert!(error_of(&out["reply_not_mine"]).contains("addressed to Codex, not to Claude"));
    assert!(error_of(&out["send_unknown"]).contains("did you mean \"Codex\""));
    assert!(error_of(&out["send_as_other"]).contains("no `from`"));
    assert!(error_of(&out["retry_unknown"]).contains("NOPE"));
    // Checked before writing, as the CLI checks: nothing of it reaches baton's inbox.
    assert!(error_of(&out["send_bad_action"]).contains("nothing was written"), "{}", out["send_bad_action"]);
    // A new agent over MCP: `new_agent: true`, as the CLI's --new-agent.
    assert_eq!(out["send_new_agent"]["is_error"], false, "{}", out["send_new_agent"]);
    assert!(h.dir("Cursor", "01_inbox").is_dir());
    // ack: the RETURN read moves to 02_processed/; again, it was already read; unknown: refused.
    assert_eq!(out["ack"]["structured"]["acked"][0]["in_reply_to"], sent["structured"]["id"], "{}", out["ack"]);
    assert_eq!(out["ack_again"]["structured"]["already"].as_array().map(Vec::len), Some(1), "{}", out["ack_again"]);
    assert!(error_of(&out["ack_unknown"]).contains("NOPE"));
    assert!(out["unknown_tool"].get("protocol_error").is_some(), "{}", out["unknown_tool"]);

    // A rejected TASK, then retry puts it back; status, show, plugins, audit answer objects.
    assert_eq!(out["wait_rejected"]["structured"]["status"], "rejected");
    // Refused for its action, unchanged it would be refused again: retry says so and how on.
    let unchanged = error_of(&out["retry_unchanged"]);
    assert!(
        unchanged.contains("unknown_action") && unchanged.contains("--params") && unchanged.contains("--force"),
        "{unchanged}"
    );
    assert_eq!(out["retry"]["is_error"], false, "{}", out["retry"]);
    assert!(out["retry"]["structured"]["message"].as_str().unwrap().contains("moved back"));
    assert!(out["status"]["structured"]["queue"].is_object(), "{}", out["status"]);
    assert_eq!(out["show"]["structured"]["task"]["state"], "completed");
    let plugins = out["plugins"]["structured"].to_string();
    assert!(plugins.contains("\"echo\""), "{plugins}");
    assert_eq!(out["audit"]["is_error"], false, "{}", out["audit"]);
    assert!(out["audit"]["structured"].is_object());

    // The other agent answers through its own server, exactly once.
    let codex = client(&h, "codex", &[("TASK_ID", &aid)]);
    assert_eq!(codex["reply"]["is_error"], false, "{}", codex["reply"]);
    let answered = codex["reply"]["structured"]["file"].as_str().unwrap();
    assert!(Path::new(answered).is_file());
    assert!(error_of(&codex["reply_again"]).contains("already answered"));
    assert_eq!(codex["wait_answered"]["structured"]["summary"], "LGTM");
    assert_eq!(h.returns("Claude")[&aid].len(), 1);
    assert_eq!(h.returns("Claude")[&aid][0]["result"], json!({"approved": true}));
    serving.kill().unwrap();
    serving.wait().unwrap();
}

/// The configurations docs/agents.md gives for Claude Code, Cursor and Codex, launched exactly
/// as written (only `baton` and `BATON_HOME` point at this build and this home).
#[test]
fn the_documented_client_configurations_start_a_working_server() {
    let h = Home::init(&[], "");
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/agents.md");
    let out = client_with(&h, &["docs", doc.to_str().unwrap()], &[]);
    let clients: Vec<(&str, &str)> = out
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["client"].as_str().unwrap(), c["agent"].as_str().unwrap_or("(refused)")))
        .collect();
    assert_eq!(
        clients,
        vec![
            ("Claude Code", "Claude-Code"),
            ("Claude Code", "Claude-Code"),
            ("Cursor", "Cursor"),
            ("Codex", "Codex"),
            ("Codex", "Codex")
        ]
    );
    for c in out.as_array().unwrap() {
        assert_eq!(c["tools"].as_array().unwrap().len(), 12, "{c}");
    }
}

/// A server started with `--state postgres://…` (and no `$BATON_STATE`): the tools that run the
/// binary (`status`, `plugins`) are passed that `--state`, so they read the same PostgreSQL
/// ledger, not the SQLite file a bare `baton status` on the home would open.
#[test]
fn tools_that_run_the_binary_keep_the_servers_postgresql_state() {
    let Some(pg) = support::pg::Pg::start() else { return };
    pg.create_db("mcp_state");
    let url = pg.url("mcp_state");
    let h = Home::init_on(Some(&url), &[], "");
    let script = client_script();
    let out = Command::new("python3")
        .arg(&script)
        .arg(BIN)
        .arg(&h.root)
        .arg("state")
        .env("XDG_CACHE_HOME", h.cache_root())
        .env("BATON_LOG", "warn")
        .env("STATE_URL", &url)
        .env_remove("BATON_STATE")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out["status"]["is_error"], false, "{}", out["status"]);
    assert_eq!(out["status"]["structured"]["ledger"]["backend"], "postgres", "{}", out["status"]);
    assert!(out["plugins"]["structured"].to_string().contains("\"echo\""), "{}", out["plugins"]);
    // Without the server's --state, the same command on this home reads the SQLite default.
    let bare = Command::new(BIN)
        .args(["--home"])
        .arg(&h.root)
        .args(["status", "--json"])
        .env_remove("BATON_STATE")
        .output()
        .unwrap();
    let bare: Value = serde_json::from_slice(&bare.stdout).unwrap_or(Value::Null);
    assert_ne!(bare["ledger"]["backend"], "postgres", "{bare}");
}

/// MCP's tasks extension (SEP-2663), driven by the official Python SDK through its extension
/// interface: a client that declares it gets `send_task` and `wait_for_return` as tasks, polls
/// `tasks/get` for their results, and can `tasks/cancel` a wait. A wait as a task outlasts
/// `--wait-cap` (1 s here): the RETURN comes 2.5 s after the send.
#[test]
fn send_and_wait_run_as_mcp_tasks_for_a_client_that_declares_them() {
    use std::io::BufRead;
    let h = Home::init(&[], "");
    std::fs::create_dir_all(h.dir("Codex", "01_inbox")).unwrap();
    let mut serving = serve(&h);
    let script = client_script();
    let mut c = Command::new("python3");
    c.arg(&script).arg(BIN).arg(&h.root).arg("tasks").env("XDG_CACHE_HOME", h.cache_root()).env("BATON_LOG", "warn");
    if let Some(url) = &h.state {
        c.env("BATON_STATE", url);
    }
    let mut client = c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // The client prints the agent TASK's id on stderr; Codex answers it 2.5 s after.
    let mut lines = std::io::BufReader::new(client.stderr.take().unwrap()).lines();
    let aid = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.len() == 26 && l.bytes().all(|b| b.is_ascii_alphanumeric()))
        .expect("the client printed the TASK id");
    let rest = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>().join("\n"));
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let answered = h.cmd(&["reply", &aid, "--status", "completed", "--summary", "late but done"]).output().unwrap();
    assert!(answered.status.success(), "{}", String::from_utf8_lossy(&answered.stderr));
    let out = client.wait_with_output().unwrap();
    let err = rest.join().unwrap();
    assert!(out.status.success(), "the MCP client failed:\n{err}");
    let out: Value = serde_json::from_slice(&out.stdout).unwrap();

    let tools: Vec<&str> = out["handles"].as_array().unwrap().iter().map(|h| h["tool"].as_str().unwrap()).collect();
    assert_eq!(
        tools,
        ["send_task", "wait_for_return", "send_task", "wait_for_return", "send_task", "send_task"],
        "{out}"
    );
    assert!(out["polls"].as_u64().unwrap() >= 4, "{out}");
    // One id, one task: a send is its own task (`send-ID`, done), the wait is the handoff's
    // (its id), and waiting again on it is that same task as it ended, not a second one.
    let handles = out["handles"].as_array().unwrap();
    assert_eq!(handles[0]["task"]["taskId"], format!("send-{aid}"), "{out}");
    assert_eq!(handles[1]["task"]["taskId"], aid.as_str(), "{out}");
    assert_eq!(
        (out["wait_again"]["taskId"].as_str(), out["wait_again"]["status"].as_str()),
        (Some(aid.as_str()), Some("completed")),
        "{out}"
    );
    // Polled every 500 ms (50 ms made a 4 s wait cost 78 polls): the 2.5 s wait took a handful.
    assert!(handles.iter().all(|h| h["task"]["pollIntervalMs"] == 500), "{out}");
    assert!(out["polls"].as_u64().unwrap() <= 20, "{out}");
    // createdAt is when the TASK was made, the same on every tasks/get.
    let created = &out["created"][aid.as_str()];
    assert_eq!(created.as_array().map(Vec::len), Some(1), "{out}");
    let task_file = std::fs::read_dir(h.dir("Codex", "02_processed"))
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().contains(aid.as_str()));
    let body: Value =
        serde_json::from_slice(&std::fs::read(task_file.expect("the TASK, filed").path()).unwrap()).unwrap();
    assert_eq!(created[0], body["created_at"], "{out}");
    assert_eq!(out["wait_agent"]["structured"]["in_reply_to"], aid.as_str(), "{}", out["wait_agent"]);
    assert_eq!(out["wait_agent"]["structured"]["summary"], "late but done");
    assert_eq!(out["wait_plugin"]["structured"]["result"], json!({"t": 1}));
    assert!(error_of(&out["send_refused"]).contains("no agent \"Nobody\""), "{}", out["send_refused"]);
    assert_eq!(out["before_cancel"]["status"], "working", "{}", out["before_cancel"]);
    assert_eq!(out["after_cancel"]["status"], "cancelled", "{}", out["after_cancel"]);
    serving.kill().unwrap();
    serving.wait().unwrap();
}

/// How many files in `dir` have `part` in their name.
fn files_named(dir: &Path, part: &str) -> usize {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(part))
        .count()
}

/// A server started on a folder that is not a home, or with an agent name that cannot be one,
/// does not die at start (the client would show only "Connection closed"): it initializes, and
/// every tool answers the error and its fix, in the CLI's words.
#[test]
fn start_up_errors_are_answered_to_the_client_with_their_fix() {
    let h = Home::init(&[], "");
    let out = client_in(&h, &h.root.join("nowhere"), &["broken"], &[]);
    for tool in ["status", "send_task"] {
        let e = error_of(&out[tool]);
        assert!(e.contains("baton init --home"), "{tool}: {e}");
    }
    let out = client(&h, "broken", &[("AGENT", "Zoë")]);
    let e = error_of(&out["send_task"]);
    assert!(e.contains("not a valid agent name (ASCII letters") && e.contains("--agent"), "{e}");
}

/// MCP task ids are handoff ids: after `baton mcp` restarts, `tasks/get` answers a task of the
/// earlier process from the handoffs (working while unanswered, completed with the RETURN once
/// answered) and `tasks/cancel` is kept in the ledger.
#[test]
fn mcp_task_ids_survive_a_restart_of_the_server() {
    let h = Home::init(&[], "");
    std::fs::create_dir_all(h.dir("Codex", "01_inbox")).unwrap();
    let first = client(&h, "restart1", &[]);
    let (t1, t2) = (first["t1"].as_str().unwrap(), first["t2"].as_str().unwrap());
    assert_eq!(first["wait_task_id"], t1, "the task id is the handoff id: {first}");
    let answered = h.cmd(&["reply", t1, "--status", "completed", "--summary", "done meanwhile"]).output().unwrap();
    assert!(answered.status.success(), "{}", String::from_utf8_lossy(&answered.stderr));
    let second = client(&h, "restart2", &[("T1", t1), ("T2", t2)]);
    assert_eq!(second["t1"]["status"], "completed", "{second}");
    assert_eq!(second["t1"]["result"]["structuredContent"]["summary"], "done meanwhile", "{second}");
    assert_eq!(second["t2_before"]["status"], "working", "{second}");
    assert_eq!(second["t2_after"]["status"], "cancelled", "{second}");
    assert!(second["nope"].get("protocol_error").is_some(), "{second}");
    let events = h.json(&["show", t2, "--json"])["events"].clone();
    assert!(events.as_array().unwrap().iter().any(|e| e["event"] == "mcp_task_cancelled"), "{events}");
}

/// Issue 77, "lists that scale": MCP `inbox` over 1,000 RETURNs and `status` over 60 open
/// handoffs answer pages (default limit 50; `limit`), each under 20,000 characters, cursor
/// after cursor, the pages together holding every item once; a bad cursor or limit is refused.
#[test]
fn inbox_and_status_answer_pages_that_together_hold_every_item() {
    let h = Home::init(&[], "");
    let inbox = h.dir("Claude", "01_inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    // Long summaries: 50 of them are over the page's characters, so the page is cut shorter.
    let summary = "reviewed; ".repeat(60);
    for i in 0..1000 {
        let body = json!({"schema": "baton.handoff/v1", "id": format!("R{i:04}"), "kind": "return",
            "created_at": format!("2026-02-01T{:02}:{:02}:{:02}Z", i / 3600, i / 60 % 60, i % 60),
            "from": "Codex", "to": "Claude", "title": format!("Re: task {i}"), "in_reply_to": format!("EARLIER-{i:04}"),
            "status": "completed", "summary": summary});
        std::fs::write(inbox.join(format!("20260201T000000Z__RETURN__r{i:04}__Codex.json")), body.to_string()).unwrap();
    }
    let codex = h.dir("Codex", "01_inbox");
    std::fs::create_dir_all(&codex).unwrap();
    for i in 0..60 {
        let body = json!({"schema": "baton.handoff/v1", "id": format!("T{i:04}"), "kind": "task",
            "created_at": format!("2026-02-02T00:{:02}:00Z", i), "from": "Claude", "to": "Codex", "title": format!("task {i}")});
        std::fs::write(codex.join(format!("20260202T00{i:02}00Z__TASK__t{i:04}__Claude.json")), body.to_string())
            .unwrap();
    }
    // `serve` records the handoffs between agents it sees.
    let mut s = serve(&h);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while h.json(&["status", "--json"])["open_handoffs"].as_array().map_or(0, Vec::len) < 60 {
        assert!(std::time::Instant::now() < deadline, "serve never recorded the 60 open handoffs");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    s.kill().unwrap();
    s.wait().unwrap();
    let out = client(&h, "pages", &[]);
    for (tool, total, per_page) in [("inbox", 1000, 50), ("status", 60, 7)] {
        let pages = out[tool].as_array().unwrap();
        let mut ids: Vec<&str> = Vec::new();
        for p in pages {
            assert!(p["chars"].as_u64().unwrap() < 20_000, "{tool}: {p}");
            assert_eq!(p["total"], total, "{tool}: {p}");
            let n = p["ids"].as_array().unwrap().len();
            assert!(n >= 1 && n <= per_page, "{tool}: {n} items");
            ids.extend(p["ids"].as_array().unwrap().iter().map(|i| i.as_str().unwrap()));
        }
        assert!(pages.last().unwrap()["next_cursor"].is_null());
        let unique: std::collections::BTreeSet<&str> = ids.iter().copied().collect();
        assert_eq!((ids.len(), unique.len()), (total, total), "{tool}: every item, once");
    }
    // The long RETURNs: pages cut below 50 by their size.
    assert!(out["inbox"][0]["ids"].as_array().unwrap().len() < 50, "{}", out["inbox"][0]);
    assert!(error_of(&out["bad_cursor"]).contains("next_cursor"), "{}", out["bad_cursor"]);
    assert!(error_of(&out["bad_limit"]).contains("limit"), "{}", out["bad_limit"]);
}
