//! Agents speaking baton from the command line, end to end on the real binary: `send` (to a
//! plugin through a running `serve`, and to an agent), `inbox`, `reply`, `wait`, `validate`,
//! `schema`, every bad input refused with nothing written, and a `reply` killed between its two
//! steps finished by the next `reply` (or `serve`).
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support;
use support::Home;

fn home() -> Home {
    Home::init(&[], "")
}

/// `baton ARGS` as agent `from` (none: no `$BATON_AGENT`).
fn run_as(h: &Home, from: Option<&str>, args: &[&str], stdin: Option<&str>) -> Output {
    let mut c = h.cmd(args);
    match from {
        Some(f) => c.env("BATON_AGENT", f),
        None => c.env_remove("BATON_AGENT"),
    };
    if let Some(input) = stdin {
        use std::io::Write;
        c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        return child.wait_with_output().unwrap();
    }
    c.output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The bare id on the last line of stdout.
fn last_line(o: &Output) -> String {
    assert!(o.status.success(), "failed: {}", stderr(o));
    stdout(o).lines().last().unwrap_or_default().to_string()
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.path()).collect();
    v.sort();
    v
}

fn read(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn serve(h: &Home) -> Child {
    h.cmd(&["serve"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap()
}

fn stop(mut c: Child) {
    // SAFETY: a plain signal to our own child.
    unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
    c.wait().unwrap();
}

#[test]
fn send_to_a_plugin_waits_for_its_return_through_a_running_serve() {
    let h = home();
    let serving = serve(&h);
    // --wait --json: stdout is exactly the RETURN object.
    let o = run_as(
        &h,
        Some("Claude"),
        &[
            "send",
            "--plugin",
            "echo",
            "--action",
            "echo",
            "--params",
            r#"{"n": 1}"#,
            "--wait",
            "--timeout",
            "60",
            "--json",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let ret: Value = serde_json::from_slice(&o.stdout).expect("stdout is one JSON object");
    assert_eq!(ret["kind"], "return");
    assert_eq!(ret["status"], "completed");
    assert_eq!(ret["result"], json!({"n": 1}));
    let returns = h.returns("Claude");
    assert_eq!(returns[ret["in_reply_to"].as_str().unwrap()].len(), 1);

    // Without --json the last line is the bare id; the title defaults to <plugin>.<action>;
    // params from a file; `baton wait` on that id prints the same RETURN, and moves nothing.
    let params = h.root.join("params.json");
    std::fs::write(&params, r#"{"from_file": true}"#).unwrap();
    let at = format!("@{}", params.display());
    let id = last_line(&run_as(
        &h,
        Some("Claude"),
        &["send", "--plugin", "echo", "--action", "echo", "--params", &at],
        None,
    ));
    let o = run_as(&h, None, &["wait", &id, "--timeout", "60", "--json"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let ret: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(ret["in_reply_to"], id);
    assert_eq!(ret["result"], json!({"from_file": true}));
    assert_eq!(ret["title"], "Re: echo.echo");
    let before = files(&h.dir("Claude", "01_inbox"));
    let again = run_as(&h, None, &["wait", &id, "--timeout", "5", "--json"], None);
    assert_eq!(serde_json::from_slice::<Value>(&again.stdout).unwrap(), ret);
    assert_eq!(files(&h.dir("Claude", "01_inbox")), before, "wait never moves or changes a RETURN");

    // A handoff sitting in `<agent>/.baton-tmp/` (a send killed before its rename) is never
    // taken for work: the watchers and passes read only `01_inbox/`.
    let stray = h.dir("baton", ".baton-tmp").join("stray.json");
    let body = json!({"schema": "baton.handoff/v1", "id": "STRAY", "kind": "task", "created_at": "2026-01-18T07:09:51Z",
                      "from": "Claude", "title": "stray", "plugin": "echo", "action": "echo", "params": {}});
    std::fs::write(&stray, body.to_string()).unwrap();

    // `send` refuses an action the plugin does not have before writing (exit 2, at once);
    // a TASK dropped by hand with one is rejected, and waiting on it exits 1 (any terminal
    // status other than completed).
    let o = run_as(
        &h,
        Some("Claude"),
        &["send", "--plugin", "echo", "--action", "nope", "--wait", "--timeout", "60", "--json"],
        None,
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("nothing was written"), "{}", stderr(&o));
    let nope = json!({"schema": "baton.handoff/v1", "id": "NOPE-1", "kind": "task", "created_at": "2026-01-18T07:09:51Z",
                      "from": "Claude", "title": "nope", "plugin": "echo", "action": "nope", "params": {}});
    h.drop_file("20260118T070951Z__TASK__Nope__Claude.json", nope.to_string());
    let o = h.run(&["wait", "NOPE-1", "--timeout", "60", "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(serde_json::from_slice::<Value>(&o.stdout).unwrap()["status"], "rejected");
    stop(serving);
    // The temp folder the sends wrote through holds only the stray file, never run, and the
    // spares serve keeps there (each exactly one block of spaces, none left half-used); baton's
    // inbox is drained.
    let (spares, other): (Vec<PathBuf>, Vec<PathBuf>) = files(&h.dir("baton", ".baton-tmp"))
        .into_iter()
        .partition(|p| p.file_name().unwrap().to_string_lossy().starts_with(".baton-spare."));
    assert_eq!(other, vec![stray]);
    assert!(!cfg!(target_os = "linux") || !spares.is_empty(), "serve keeps spares for its senders");
    assert!(spares.iter().all(|p| std::fs::read(p).unwrap() == vec![b' '; 4096]));
    assert!(!h.returns("Claude").contains_key("STRAY"));
    assert!(files(&h.inbox()).is_empty());
}

#[test]
fn agents_send_list_reply_and_wait_without_serve() {
    let h = home();
    // A new agent's inbox is made only on request.
    let o = run_as(
        &h,
        Some("Claude"),
        &[
            "send",
            "--to",
            "Codex-MM1",
            "--title",
            "Review PR 42",
            "--new-agent",
            "--body",
            r#"{"pr": 42}"#,
            "--priority",
            "high",
        ],
        None,
    );
    let id = last_line(&o);
    let task_path = files(&h.dir("Codex-MM1", "01_inbox")).pop().expect("the TASK is in Codex-MM1's inbox");
    assert!(task_path.file_name().unwrap().to_str().unwrap().contains(&id));
    let task = read(&task_path);
    assert_eq!(
        (task["to"].as_str(), task["from"].as_str(), task["pr"].as_i64()),
        (Some("Codex-MM1"), Some("Claude"), Some(42))
    );
    assert_eq!(task["priority"], "high");
    // Validated as the schema says.
    assert_eq!(h.run(&["validate", task_path.to_str().unwrap()]).status.code(), Some(0));

    // A body from stdin, as text.
    let o2 = run_as(
        &h,
        Some("Cursor"),
        &["send", "--to", "Codex-MM1", "--title", "Second", "--body", "-"],
        Some("please look at main.rs\n"),
    );
    let id2 = last_line(&o2);

    // inbox: both TASKs, oldest first, with id, from, title, age and file.
    let listed = h.json(&["inbox", "Codex-MM1", "--json"]);
    let items = listed["handoffs"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{listed}");
    assert_eq!(
        (items[0]["id"].as_str(), items[0]["from"].as_str(), items[0]["kind"].as_str()),
        (Some(id.as_str()), Some("Claude"), Some("task"))
    );
    assert_eq!(items[0]["title"], "Review PR 42");
    assert!(items[0]["age_secs"].as_i64().unwrap() >= 0 && items[0]["file"].as_str().unwrap().ends_with(".json"));
    assert!(items[0]["age"].as_str().unwrap().ends_with('s'), "{}", items[0]);
    assert_eq!(items[1]["id"], id2);
    let human = stdout(&h.ok(&["inbox", "Codex-MM1"]));
    assert!(human.contains(&id) && human.contains("Review PR 42") && human.contains("Claude"), "{human}");

    // Nothing answered yet: a wait times out with 124.
    let o = run_as(&h, None, &["wait", &id, "--timeout", "0.3"], None);
    assert_eq!(o.status.code(), Some(124), "{}", stderr(&o));

    // reply (no BATON_AGENT needed): one RETURN into Claude's inbox, the TASK filed.
    let result = h.root.join("result.json");
    std::fs::write(&result, r#"{"approved": true}"#).unwrap();
    let at = format!("@{}", result.display());
    let o = run_as(
        &h,
        None,
        &[
            "reply",
            &id,
            "--status",
            "completed",
            "--summary",
            "LGTM",
            "--result",
            &at,
            "--artifact",
            "review.md",
            "--artifact",
            "notes.txt",
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let returns = h.returns("Claude");
    assert_eq!(returns[&id].len(), 1);
    let r = &returns[&id][0];
    assert_eq!(
        (r["from"].as_str(), r["to"].as_str(), r["status"].as_str()),
        (Some("Codex-MM1"), Some("Claude"), Some("completed"))
    );
    assert_eq!(r["result"], json!({"approved": true}));
    assert_eq!(r["artifacts"], json!(["review.md", "notes.txt"]));
    assert!(!task_path.exists());
    assert_eq!(
        files(&h.dir("Codex-MM1", "02_processed")),
        vec![h.dir("Codex-MM1", "02_processed").join(task_path.file_name().unwrap())]
    );

    // The answered TASK is no longer waiting; --all still shows it, filed.
    let waiting = h.json(&["inbox", "Codex-MM1", "--json"]);
    assert!(waiting["handoffs"].as_array().unwrap().iter().all(|i| i["id"] != id.as_str()));
    let all = h.json(&["inbox", "Codex-MM1", "--all", "--json"]);
    assert!(
        all["handoffs"].as_array().unwrap().iter().any(|i| i["id"] == id.as_str() && i["state"] == "processed"),
        "{all}"
    );

    // wait prints it; the RETURN stays where it is.
    let o = run_as(&h, None, &["wait", &id, "--json"], None);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(serde_json::from_slice::<Value>(&o.stdout).unwrap()["summary"], "LGTM");
    let claude = h.json(&["inbox", "Claude", "--json"]);
    assert_eq!(claude["handoffs"][0]["kind"], "return");
    assert_eq!(claude["handoffs"][0]["in_reply_to"], id);
    assert_eq!(h.returns("Claude")[&id].len(), 1);

    // A second reply is refused and names the first RETURN's file.
    let o = run_as(&h, None, &["reply", &id, "--status", "failed", "--summary", "again"], None);
    assert_eq!(o.status.code(), Some(2));
    let first =
        files(&h.dir("Claude", "01_inbox")).into_iter().find(|p| p.to_str().unwrap().contains("__RETURN__")).unwrap();
    assert!(
        stderr(&o).contains("already answered") && stderr(&o).contains(first.file_name().unwrap().to_str().unwrap()),
        "{}",
        stderr(&o)
    );
    assert_eq!(h.returns("Claude")[&id].len(), 1);

    // A wait started before the reply wakes when it lands; a failed reply exits 1.
    let waiting = h.cmd(&["wait", &id2, "--timeout", "30", "--json"]).stdout(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let o = run_as(&h, None, &["reply", &id2, "--status", "failed", "--summary", "cannot"], None);
    assert!(o.status.success(), "{}", stderr(&o));
    let started = std::time::Instant::now();
    let out = waiting.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(serde_json::from_slice::<Value>(&out.stdout).unwrap()["status"], "failed");
    assert_eq!(h.returns("Cursor")[&id2].len(), 1, "the RETURN goes to the sender of that TASK");
}

#[test]
fn bad_inputs_are_refused_with_the_fix_and_nothing_is_written() {
    let h = home();
    run_as(&h, Some("Claude"), &["send", "--to", "Codex-MM1", "--title", "x", "--new-agent"], None);
    let inbox = h.dir("Codex-MM1", "01_inbox");
    let before = files(&inbox);
    let refused = |args: &[&str], from: Option<&str>, needle: &str| {
        let o = run_as(&h, from, args, None);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{args:?}: {:?} lacks {needle:?}", stderr(&o));
    };
    // An unknown agent, with the closest known one.
    refused(&["send", "--to", "Codex-MMl", "--title", "x"], Some("Claude"), "did you mean \"Codex-MM1\"");
    refused(&["send", "--to", "Codex-MMl", "--title", "x"], Some("Claude"), "--new-agent");
    // Bad JSON in --params, and params that are not an object.
    refused(&["send", "--plugin", "echo", "--action", "echo", "--params", "{bad"], Some("Claude"), "--params");
    refused(&["send", "--plugin", "echo", "--action", "echo", "--params", "[1]"], Some("Claude"), "JSON object");
    // No sender.
    refused(&["send", "--to", "Codex-MM1", "--title", "x"], None, "BATON_AGENT");
    // An unknown plugin, a TASK for baton itself, no title for an agent, a bad deadline or name.
    refused(&["send", "--plugin", "ecko", "--action", "echo"], Some("Claude"), "did you mean \"echo\"");
    refused(&["send", "--to", "baton", "--title", "x"], Some("Claude"), "--plugin");
    refused(&["send", "--to", "Codex-MM1"], Some("Claude"), "needs a title");
    refused(&["send", "--to", "Codex-MM1", "--title", "x", "--deadline", "friday"], Some("Claude"), "deadline");
    refused(&["send", "--to", "Codex-MM1", "--title", "x", "--reply-to", "../x"], Some("Claude"), "reply_to");
    refused(
        &["send", "--to", "Codex-MM1", "--title", "x", "--body", "{\"from\": \"Mallory\"}"],
        Some("Claude"),
        "`from`",
    );
    refused(&["send", "--to", "Codex-MM1", "--title", "x", "--priority", "asap"], Some("Claude"), "asap");
    // Replies to an unknown id; inbox of an unknown agent; wait for an unknown id.
    refused(&["reply", "NOPE", "--status", "completed", "--summary", "x"], None, "no TASK with id");
    refused(&["inbox", "Codex-MMl"], None, "did you mean");
    refused(&["wait", "NOPE", "--timeout", "1"], None, "no TASK with id");
    // Checked before writing, as `call` checks: an unknown action, params against the action's
    // schema, and a TASK over `max_file_bytes` (with --wait too: refused at once, not a
    // timeout on a file baton rejects one round trip later).
    refused(&["send", "--plugin", "echo", "--action", "ecko"], Some("Claude"), "did you mean \"echo\"");
    refused(&["send", "--plugin", "audit", "--action", "audit", "--params", "{\"path\": 5}"], Some("Claude"), "schema");
    // In the pipeline's words (the same check: baton_handoff::params), each problem located.
    refused(
        &["send", "--plugin", "audit", "--action", "audit", "--params", "{\"path\": 5}"],
        Some("Claude"),
        "(in the params object)",
    );
    let params = r#"{"force": "yes"}"#;
    refused(&["send", "--plugin", "audit", "--action", "audit", "--params", params], Some("Claude"), "(at `/force`)");
    let big = h.root.join("big.json");
    std::fs::write(&big, json!({"message": "x".repeat(11 << 20)}).to_string()).unwrap();
    let at_big = format!("@{}", big.display());
    let started = std::time::Instant::now();
    refused(
        &["send", "--plugin", "echo", "--action", "echo", "--params", &at_big, "--wait", "--timeout", "60"],
        Some("Claude"),
        "max_file_bytes",
    );
    assert!(started.elapsed() < Duration::from_secs(30), "a refusal is said at once, not after --timeout");
    // A negative timeout: refused before anything is written (it used to panic).
    refused(&["send", "--to", "Codex-MM1", "--title", "x", "--wait", "--timeout=-1"], Some("Claude"), "--timeout");
    refused(&["wait", "NOPE", "--timeout=-1"], None, "--timeout");
    assert_eq!(files(&inbox), before, "a refused send writes nothing");
    assert!(files(&h.inbox()).is_empty());
    assert!(files(&h.dir("Codex-MM1", ".baton-tmp")).iter().all(|p| !p.exists()));

    // validate: every problem named, exit 1; schema task|return.
    let bad = h.root.join("bad.json");
    std::fs::write(&bad, r#"{"schema": "baton.handoff/v1", "kind": "task"}"#).unwrap();
    let good = before[0].to_str().unwrap();
    let o = h.run(&["validate", good, bad.to_str().unwrap(), "/nonexistent.json"]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains("ok ") && out.contains("bad.json") && out.contains("`id`") && out.contains("/nonexistent.json"),
        "{out}"
    );
    let task_schema = h.json(&["schema", "task"]);
    assert_eq!(task_schema["properties"]["kind"], json!({"const": "task"}));
    assert_eq!(h.json(&["schema", "return"])["properties"]["kind"], json!({"const": "return"}));
}

#[test]
fn a_reply_killed_between_its_two_steps_is_finished_by_the_next_reply_or_serve() {
    let h = home();
    let send = |title: &str| {
        last_line(&run_as(&h, Some("Claude"), &["send", "--to", "Codex", "--title", title, "--new-agent"], None))
    };
    let (a, b) = (send("one"), send("two"));
    for (id, repair_with_serve) in [(&a, false), (&b, true)] {
        let o = h
            .cmd(&["reply", id, "--status", "completed", "--summary", "first"])
            .env("BATON_FAILPOINT", "reply_between_steps")
            .output()
            .unwrap();
        assert_eq!(o.status.signal(), Some(9), "the failpoint killed reply: {}", stderr(&o));
        // Killed after the RETURN, before the TASK was filed.
        assert_eq!(h.returns("Claude").get(id.as_str()).map(Vec::len), Some(1));
        assert!(files(&h.dir("Codex", "01_inbox")).iter().any(|p| p.to_str().unwrap().contains(id.as_str())));
        if repair_with_serve {
            h.ok(&["serve", "--once"]);
            // serve finished it by itself: the TASK is filed before any second reply.
            assert!(
                !files(&h.dir("Codex", "01_inbox")).iter().any(|p| p.to_str().unwrap().contains(id.as_str())),
                "serve filed the TASK"
            );
            let journal = read(&h.dir("Codex", ".baton-replies").join(format!("{id}.json")));
            assert_eq!(journal["state"], "done");
            let o = run_as(&h, None, &["reply", id, "--status", "failed", "--summary", "second"], None);
            assert_eq!(o.status.code(), Some(2));
            assert!(stderr(&o).contains("already answered") && !stderr(&o).contains("interrupted"), "{}", stderr(&o));
        } else {
            let o = run_as(&h, None, &["reply", id, "--status", "failed", "--summary", "second"], None);
            assert_eq!(o.status.code(), Some(2));
            assert!(stderr(&o).contains("already answered") && stderr(&o).contains("interrupted"), "{}", stderr(&o));
        }
        let returns = h.returns("Claude");
        assert_eq!(returns[id.as_str()].len(), 1, "exactly one RETURN");
        assert_eq!(returns[id.as_str()][0]["summary"], "first", "the journaled RETURN, not the second reply's");
        assert!(
            !files(&h.dir("Codex", "01_inbox")).iter().any(|p| p.to_str().unwrap().contains(id.as_str())),
            "the TASK left the inbox"
        );
        assert!(
            files(&h.dir("Codex", "02_processed")).iter().any(|p| p.to_str().unwrap().contains(id.as_str())),
            "the TASK is filed"
        );
    }
}

/// The first-party plugins `baton init` installs, each action with its params schema, as
/// `plugin inspect --json` reports them.
fn first_party_actions(h: &Home) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for p in ["echo", "audit", "spotify", "djay", "drive-sync"] {
        let r: Value = h.json(&["plugin", "inspect", p, "--json"]);
        let actions = r["actions"].as_array().unwrap_or_else(|| panic!("{p} has no actions: {r}"));
        assert!(!actions.is_empty(), "{p}");
        for a in actions {
            out.push((p.to_string(), a["name"].as_str().unwrap().to_string(), a["params_schema"].clone()));
        }
    }
    out
}

/// `baton call P A --help` lists every param of the action's schema, marking the required ones;
/// `plugin inspect`'s `actions` block starts each line with its action's name.
fn check_help(h: &Home, plugin: &str, action: &str, schema: &Value) {
    let o = run_as(h, None, &["call", plugin, action, "--help"], None);
    assert_eq!(o.status.code(), Some(0), "{plugin} {action} --help: {}", stderr(&o));
    let help = stdout(&o);
    assert!(help.starts_with(&format!("baton call {plugin} {action} ")), "{help}");
    let required: Vec<&str> =
        schema["required"].as_array().map(|r| r.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    for (k, _) in schema["properties"].as_object().into_iter().flatten() {
        let line = help
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("--param {k}=<")))
            .unwrap_or_else(|| panic!("{plugin}.{action}: no --param {k} in\n{help}"));
        assert_eq!(line.contains("(required)"), required.contains(&k.as_str()), "{line}");
    }
}

/// Runs every first-party action with `baton call` (as no agent: `from` is `cli`). An action
/// that needs params is refused before anything is written (exit 2, the param named); every
/// other one gets exactly one RETURN, printed as the RETURN object, recorded in the ledger.
fn call_every_action(h: &Home, actions: &[(String, String, Value)]) {
    let baton_inbox = h.dir("baton", "01_inbox");
    for (plugin, action, schema) in actions {
        let required: Vec<&str> =
            schema["required"].as_array().map(|r| r.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
        let o = run_as(h, None, &["call", plugin, action, "--timeout", "120", "--json"], None);
        if let Some(first) = required.first() {
            assert_eq!(o.status.code(), Some(2), "{plugin}.{action} without its required params: {}", stderr(&o));
            assert!(stderr(&o).contains(first), "{plugin}.{action}: {}", stderr(&o));
            assert!(
                files(&baton_inbox)
                    .iter()
                    .all(|f| !f.to_string_lossy().contains(&format!("__TASK__{plugin}-{action}-"))),
                "nothing written"
            );
            continue;
        }
        let code = o.status.code();
        if (plugin.as_str(), action.as_str()) == ("echo", "ask") {
            // It asks back: the input request, exit 3 (tests/platform/asking.rs follows it through).
            assert_eq!(code, Some(3), "{plugin}.{action}: {}", stderr(&o));
            let req: Value = serde_json::from_slice(&o.stdout).unwrap();
            assert_eq!(req["kind"], "input_request", "{req}");
            continue;
        }
        assert!(matches!(code, Some(0 | 1)), "{plugin}.{action}: exit {code:?}: {}", stderr(&o));
        let ret: Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("{plugin}.{action}: stdout is not the RETURN ({e}): {}", stdout(&o)));
        assert_eq!(ret["kind"], "return");
        assert_eq!(code == Some(0), ret["status"] == "completed", "{ret}");
        let id = ret["in_reply_to"].as_str().unwrap();
        assert_eq!(h.returns("cli")[id].len(), 1, "{plugin}.{action}: one RETURN in cli's inbox");
        // A running serve records the outcome just after it writes the RETURN.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let shown = loop {
            let shown = h.json(&["show", id, "--json"]);
            if shown["task"]["state"] == ret["status"] || std::time::Instant::now() > deadline {
                break shown;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(shown["task"]["state"], ret["status"], "{plugin}.{action}: recorded in the ledger: {shown}");
    }
}

#[test]
fn call_runs_each_first_party_action_from_its_schema_without_a_serve() {
    let h = home();
    let actions = first_party_actions(&h);
    // The inspect text: under `actions`, every line starts with its action's name.
    for p in ["echo", "audit", "spotify", "djay", "drive-sync"] {
        let text = stdout(&h.ok(&["plugin", "inspect", p]));
        let block: Vec<&str> =
            text.lines().skip_while(|l| l.trim() != "actions").skip(1).take_while(|l| l.starts_with("    ")).collect();
        let names: Vec<&str> = actions.iter().filter(|(q, _, _)| q == p).map(|(_, a, _)| a.as_str()).collect();
        assert_eq!(block.len(), 2 * names.len(), "{p}: {text}");
        for line in block {
            assert!(
                names.iter().any(|n| line.trim_start().starts_with(&format!("{n} "))),
                "{p}: {line:?} does not start with an action name"
            );
        }
    }
    for (plugin, action, schema) in &actions {
        check_help(&h, plugin, action, schema);
    }
    call_every_action(&h, &actions);

    // Typed by the schema where it allows any key: JSON where it parses, else text.
    let o = run_as(
        &h,
        Some("Scripts"),
        &[
            "call",
            "echo",
            "echo",
            "--param",
            "n=3",
            "--param",
            "s=hello",
            "--param",
            "ok=true",
            "--param",
            r#"o={"a":1}"#,
            "--json",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let ret: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(ret["result"], json!({"n": 3, "s": "hello", "ok": true, "o": {"a": 1}}));
    assert_eq!(h.returns("Scripts")[ret["in_reply_to"].as_str().unwrap()].len(), 1, "from is $BATON_AGENT");

    // Bad input: exit 2, the fix named.
    let o = run_as(&h, None, &["call", "ecoh", "echo"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("did you mean \"echo\""), "{}", stderr(&o));
    let o = run_as(&h, None, &["call", "echo", "echoo"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no action \"echoo\"") && stderr(&o).contains("\"echo\""), "{}", stderr(&o));
    let o = run_as(&h, None, &["call", "echo", "echo", "--param", "novalue"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("KEY=VALUE"), "{}", stderr(&o));
    let o = run_as(&h, None, &["call", "echo", "echo", "--timeout=-1"], None);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--timeout"), "{}", stderr(&o));
    let o = run_as(&h, None, &["call", "echo", "echo", "--params", "{bad"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--params"), "{}", stderr(&o));
}

#[test]
fn call_goes_through_a_running_serve() {
    let h = home();
    let actions = first_party_actions(&h);
    let serving = serve(&h);
    call_every_action(&h, &actions);
    // The serve answered: no in-process drain said so on stderr.
    let o = run_as(&h, None, &["call", "echo", "echo", "--param", "k=v"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!stderr(&o).contains("drained"), "{}", stderr(&o));
    assert!(stdout(&o).contains("completed"), "{}", stdout(&o));
    // No time to wait: exit 124, and the id to wait for again is named.
    let o = run_as(&h, None, &["call", "echo", "echo", "--timeout", "0"], None);
    assert_eq!(o.status.code(), Some(124), "{}", stderr(&o));
    assert!(stderr(&o).contains("baton wait "), "{}", stderr(&o));
    stop(serving);
}

/// `counts.unread` of `agent` in `status --json`.
fn unread(h: &Home, agent: &str) -> u64 {
    let status = h.json(&["status", "--json"]);
    let a = status["agents"].as_array().unwrap().iter().find(|a| a["agent"] == agent).cloned();
    a.map_or(0, |a| a["counts"]["unread"].as_u64().unwrap())
}

#[test]
fn a_return_is_acknowledged_by_its_id_or_its_tasks_and_a_task_is_read_by_id_with_its_body() {
    let h = home();
    let send = |msg: &str| {
        last_line(&run_as(
            &h,
            Some("claude"),
            &["send", "--plugin", "echo", "--action", "echo", "--params", &json!({"message": msg}).to_string()],
            None,
        ))
    };
    let (t1, t2, t3) = (send("one"), send("two"), send("three"));
    h.ok(&["serve", "--once"]);
    assert_eq!(unread(&h, "claude"), 3);
    // The inbox carries each body; a RETURN's id, or its TASK's, acknowledges it.
    let inbox = h.json(&["inbox", "claude", "--json"]);
    let items = inbox["handoffs"].as_array().unwrap();
    let r1 = items.iter().find(|i| i["in_reply_to"] == t1.as_str()).unwrap();
    assert_eq!(r1["body"]["result"], json!({"message": "one"}), "{r1}");
    let acked = h.json(&["ack", r1["id"].as_str().unwrap(), &t2, "--json"]);
    assert_eq!(acked["acked"].as_array().unwrap().len(), 2, "{acked}");
    assert_eq!(unread(&h, "claude"), 1);
    let processed = h.dir("claude", "02_processed");
    assert_eq!(files(&processed).len(), 2);
    // Again: already read, nothing moves; an unknown id refuses the whole call.
    assert_eq!(h.json(&["ack", &t2, "--json"])["already"].as_array().unwrap().len(), 1);
    let o = h.run(&["ack", &t3, "NOPE"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("NOPE") && stderr(&o).contains("nothing was acknowledged"), "{}", stderr(&o));
    assert_eq!(unread(&h, "claude"), 1, "a refused ack moved nothing");
    h.ok(&["ack", "--all", "claude"]);
    assert_eq!(unread(&h, "claude"), 0);
    assert_eq!(files(&processed).len(), 3);
    // The ledger keeps the acknowledgement in the TASK's history.
    let shown = h.json(&["show", &t1, "--json"]);
    assert!(shown["events"].as_array().unwrap().iter().any(|e| e["event"] == "acknowledged"), "{shown}");

    // An agent-to-agent TASK is found by id, body and all, though baton never ran it.
    let id = last_line(&run_as(
        &h,
        Some("claude"),
        &["send", "--to", "cursor", "--new-agent", "--title", "Review", "--body", "look at src/x.rs"],
        None,
    ));
    let shown = h.json(&["show", &id, "--json"]);
    assert_eq!(shown["body"]["body"], "look at src/x.rs", "{shown}");
    assert_eq!(shown["body"]["to"], "cursor");
    let text = stdout(&h.ok(&["show", &id]));
    assert!(text.contains("look at src/x.rs") && text.contains("cursor/01_inbox"), "{text}");
}

/// A plugin's crash through `call`: the guest's own error first and once, the trap after it,
/// no RUST_BACKTRACE hint (a host variable that changes nothing in the sandbox), and the task
/// id to look it up by.
#[test]
fn a_plugins_crash_is_said_once_guest_error_first_with_the_task_id() {
    let h = home();
    let src = h.root.parent().unwrap().join("testkit.wasm");
    std::fs::write(&src, baton_bundle::get("testkit").expect("testkit is bundled").wasm).unwrap();
    h.ok(&["plugin", "install", src.to_str().unwrap()]);
    // As a user runs it: no BATON_LOG (the tests' `warn` would show the pipeline's own lines).
    let o = h.cmd(&["call", "testkit", "panic"]).env_remove("BATON_LOG").output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let (out, err) = (stdout(&o), stderr(&o));
    let all = format!("{out}{err}");
    assert_eq!(all.matches("testkit panics on purpose").count(), 1, "said once:\n{all}");
    assert!(!all.contains("RUST_BACKTRACE"), "{all}");
    let guest = out.find("testkit panics on purpose").unwrap();
    let trap = out.find("wasm trap").expect("the trap is named");
    assert!(guest < trap, "the guest's error comes first:\n{out}");
    let ret = h.returns("cli");
    let id = ret.values().next().unwrap()[0]["in_reply_to"].as_str().unwrap().to_string();
    assert!(out.contains(&format!("task {id}")), "{out}");
}

/// A file that names an id but is no valid TASK (here a priority the schema does not have) is
/// refused before it runs; its rejection is kept under that id, so `wait ID` answers it at once
/// with its RETURN and `show ID` finds it, instead of "no TASK with id".
#[test]
fn a_refused_file_is_answered_by_the_id_it_names() {
    let h = home();
    let body = json!({"schema": "baton.handoff/v1", "id": "BADPRIO-1", "kind": "task", "created_at": "2026-01-18T07:09:51Z",
                      "from": "claude", "title": "x", "plugin": "echo", "action": "echo", "params": {}, "priority": "asap"});
    h.drop_file("20260118T070951Z__TASK__x__claude.json", body.to_string());
    h.ok(&["serve", "--once"]);
    let started = std::time::Instant::now();
    let o = h.run(&["wait", "BADPRIO-1", "--timeout", "30", "--json"]);
    assert!(started.elapsed() < Duration::from_secs(15), "answered at once, not at the timeout");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let ret: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(ret["status"], "rejected", "{ret}");
    assert!(ret["summary"].as_str().unwrap().contains("priority"), "{ret}");
    let shown = h.json(&["show", "BADPRIO-1", "--json"]);
    let ev = shown["events"].as_array().unwrap();
    assert!(ev.iter().any(|e| e["event"] == "rejected_unparsed"), "{shown}");
}

/// `send --wait` to an agent finds its answer among many unread RETURNs, written by hand in two
/// steps: 300 earlier RETURNs wait unread in the sender's inbox (the wait reads what lands after
/// the TASK, through a watch set before writing it, and lists nothing), and the first read of the
/// answer finds half a file (a writer that is not atomic), so it is read again when it changes.
#[test]
fn send_wait_finds_an_answer_written_in_two_steps_beside_many_unread_returns() {
    use std::io::Write;
    let h = home();
    let inbox = h.dir("Claude", "01_inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    for i in 0..300 {
        let old = json!({"schema": "baton.handoff/v1", "id": format!("OLD{i:04}"), "kind": "return",
            "created_at": "2026-01-01T00:00:00Z", "from": "Cursor", "in_reply_to": format!("T{i}"),
            "status": "completed", "summary": "an earlier answer"});
        std::fs::write(inbox.join(format!("20260101T000000Z__RETURN__OLD{i:04}__Cursor.json")), old.to_string())
            .unwrap();
    }
    let child = h
        .cmd(&["send", "--to", "Cursor", "--new-agent", "--title", "answer me", "--wait", "--timeout", "60", "--json"])
        .env("BATON_AGENT", "Claude")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let task_file = loop {
        let found = files(&h.dir("Cursor", "01_inbox"))
            .into_iter()
            .find(|f| f.file_name().is_some_and(|n| n.to_string_lossy().contains("__TASK__")));
        if let Some(f) = found {
            break f;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no TASK in Cursor's inbox");
        std::thread::sleep(Duration::from_millis(20));
    };
    let task = read(&task_file);
    let id = task["id"].as_str().unwrap().to_string();
    let stamp = task_file.file_name().unwrap().to_string_lossy().split("__").next().unwrap().to_string();
    let answer = json!({"schema": "baton.handoff/v1", "id": "RET1", "kind": "return",
        "created_at": task["created_at"], "from": "Cursor", "title": "answered", "in_reply_to": id,
        "status": "completed", "summary": "done by hand"})
    .to_string();
    let (first, rest) = answer.split_at(answer.len() / 2);
    let mut f = std::fs::File::create(inbox.join(format!("{stamp}__RETURN__RET1__Cursor.json"))).unwrap();
    f.write_all(first.as_bytes()).unwrap();
    f.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    f.write_all(rest.as_bytes()).unwrap();
    drop(f);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let printed = stdout(&out);
    assert!(printed.contains("done by hand") && printed.contains(&id), "the answer is what it printed: {printed}");
}

/// Issue 77: a wait is never silent. With no `serve`, `send --wait` to a plugin says so on
/// stderr within 2 s (naming the home and the fix) and keeps waiting to its timeout; its
/// default timeout is 60 s, not forever. Ctrl-C during the wait prints the TASK's id and the
/// command that waits again, exit 130.
#[test]
fn a_wait_for_a_plugin_with_no_serve_says_so_and_ctrl_c_names_the_task() {
    let h = home();
    let started = std::time::Instant::now();
    let o =
        run_as(&h, Some("Claude"), &["send", "--plugin", "echo", "--action", "echo", "--wait", "--timeout", "3"], None);
    assert_eq!(o.status.code(), Some(124), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("no `baton serve` is running for") && err.contains("baton service install"), "{err}");
    assert_eq!(err.matches("no `baton serve` is running").count(), 1, "said once: {err}");
    assert!(started.elapsed() < Duration::from_secs(20));
    // The same for `wait ID` on that TASK.
    let id = stdout(&o).lines().last().unwrap().to_string();
    let w = h.run(&["wait", &id, "--timeout", "2"]);
    assert_eq!(w.status.code(), Some(124));
    assert!(stderr(&w).contains("no `baton serve` is running"), "{}", stderr(&w));
    // The default timeout is in the help.
    assert!(stdout(&h.run(&["wait", "--help"])).contains("Default 60"));

    // Ctrl-C: the id and how to wait again, exit 130.
    let mut c = h.cmd(&["send", "--plugin", "echo", "--action", "echo", "--wait"]);
    c.env("BATON_AGENT", "Claude").stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = c.spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: a plain signal to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    let id = stdout(&o).lines().last().unwrap_or_default().to_string();
    assert!(
        !id.is_empty() && stderr(&o).contains(&format!("`baton wait {id}` waits again")),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
    assert!(h.inbox().read_dir().unwrap().flatten().any(|e| e.file_name().to_string_lossy().contains(&id)));
}

/// Issue 77: a reply over `max_file_bytes` is refused before anything is written (exit 2), and
/// the TASK can still be answered, by a smaller reply.
#[test]
fn a_reply_over_the_size_cap_is_refused_and_the_task_can_still_be_answered() {
    let h = Home::init(&[("max_file_bytes", "4096")], "");
    let id =
        last_line(&run_as(&h, Some("Claude"), &["send", "--to", "Codex", "--new-agent", "--title", "Do it"], None));
    let big = h.root.join("big.json");
    std::fs::write(&big, json!({"text": "x".repeat(8000)}).to_string()).unwrap();
    let o = run_as(
        &h,
        Some("Codex"),
        &["reply", &id, "--status", "completed", "--summary", "done", "--result", &format!("@{}", big.display())],
        None,
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("max_file_bytes") && stderr(&o).contains("can still be answered"), "{}", stderr(&o));
    assert!(files(&h.dir("Claude", "01_inbox")).is_empty(), "nothing written");
    let o = run_as(&h, Some("Codex"), &["reply", &id, "--status", "completed", "--summary", "done"], None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(files(&h.dir("Claude", "01_inbox")).len(), 1);
}

/// `show` says where a TASK between agents is, from its files (baton never ran it, so the
/// ledger has no row): open in the recipient's inbox, answered with the RETURN's status while
/// the sender has not read it, acknowledged once it has.
#[test]
fn show_says_the_state_of_a_task_between_agents() {
    let h = home();
    std::fs::create_dir_all(h.dir("Codex", "01_inbox")).unwrap();
    let id = last_line(&run_as(&h, Some("Claude"), &["send", "--to", "Codex", "--title", "Review PR 7"], None));
    let state = |h: &Home| h.json(&["show", &id, "--json"])["state"].as_str().unwrap_or_default().to_string();
    assert_eq!(state(&h), "open");
    assert!(stdout(&h.ok(&["show", &id])).contains("  state open"));
    let replied = run_as(&h, Some("Codex"), &["reply", &id, "--status", "completed", "--summary", "Looks good"], None);
    assert!(replied.status.success(), "{}", stderr(&replied));
    assert_eq!(state(&h), "answered (completed), not yet acknowledged");
    let acked = run_as(&h, Some("Claude"), &["ack", "--all", "Claude"], None);
    assert!(acked.status.success(), "{}", stderr(&acked));
    assert_eq!(state(&h), "answered (completed), acknowledged");
}
