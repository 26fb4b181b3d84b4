//! Other agents' mailboxes through the real binary: Claude Code team inboxes and folder
//! mailboxes in `status --json`, recorded in the ledger and found by `show`; delivery with
//! `send --to TEAM/AGENT` and its receipt in `show` and `wait --until read`; folders that look
//! like mailboxes listed when nothing reads them; and observing that changes no byte or mtime.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use crate::support::{ClaudeCode, Home, claude_code_does};

const LEAD_INBOX: &str = r#"[
  {"from": "worker", "text": "Done with the parser.", "summary": "Parser done", "timestamp": "2026-02-22T16:20:01.123Z", "read": true},
  {"from": "worker", "text": "{\"type\":\"idle_notification\",\"from\":\"worker\",\"timestamp\":\"2026-02-22T16:25:22.959Z\",\"idleReason\":\"available\"}", "timestamp": "2026-02-22T16:25:22.959Z", "color": "blue", "read": false}
]"#;
const WORKER_INBOX: &str = r#"[
  {"from": "team-lead", "text": "{\"type\":\"task_assignment\",\"taskId\":\"1\",\"subject\":\"Write the parser\",\"assignedBy\":\"team-lead\"}", "timestamp": "2026-02-22T16:00:00.000Z", "read": true}
]"#;
const CONFIG: &str = r#"{"name": "alpha", "leadAgentId": "team-lead@alpha", "members": [
  {"agentId": "team-lead@alpha", "name": "team-lead", "agentType": "team-lead", "model": "opus", "cwd": "/src"},
  {"agentId": "worker@alpha", "name": "worker", "agentType": "general-purpose", "model": "haiku", "cwd": "/src"}]}"#;

fn write(p: &Path, s: &str) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, s).unwrap();
}

/// A teams folder (team `alpha` with a roster, team `solo` without) and a folder mailbox.
fn fixtures(base: &Path) -> (PathBuf, PathBuf) {
    let teams = base.join("teams");
    write(&teams.join("alpha/config.json"), CONFIG);
    write(&teams.join("alpha/inboxes/team-lead.json"), LEAD_INBOX);
    write(&teams.join("alpha/inboxes/worker.json"), WORKER_INBOX);
    write(&teams.join("solo/inboxes/helper.json"), "[]");
    let boxes = base.join("boxes");
    write(
        &boxes.join("agent one/inbox/20260118-0930_task.md"),
        "**agent_4 → agent one**\n\n# Rebuild the index\nplease\n",
    );
    write(&boxes.join("agent one/inbox/.gitkeep"), "");
    write(&boxes.join("agent one/inbox/old.txt.done"), "Subject: old\n");
    write(&boxes.join("agent one/done/filed.json"), r#"{"from": "a", "subject": "filed", "timestamp": 1700000000.5}"#);
    write(&boxes.join("agent one/outbox/reply.txt"), "To: agent_4\nSubject: Re: index\n");
    (teams, boxes)
}

/// Every file and folder under `root` with its bytes and mtime.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, (Vec<u8>, SystemTime)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let m = std::fs::symlink_metadata(e.path()).unwrap();
            let bytes = if m.is_dir() {
                stack.push(e.path());
                Vec::new()
            } else {
                std::fs::read(e.path()).unwrap()
            };
            out.insert(e.path(), (bytes, m.modified().unwrap()));
        }
    }
    out
}

fn agent<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["agent"] == name)
        .unwrap_or_else(|| panic!("no agent {name} in {}", status["agents"]))
}

fn mailbox_home() -> (Home, PathBuf, PathBuf) {
    let h = Home::init(&[], "");
    let (teams, boxes) = fixtures(h.root.parent().unwrap());
    h.ok(&["mailbox", "add", "claude-team", teams.to_str().unwrap()]);
    h.ok(&["mailbox", "add", "folders", boxes.to_str().unwrap(), "--zone", "America/New_York"]);
    (h, teams, boxes)
}

#[test]
fn status_lists_mailbox_agents_and_observing_changes_nothing() {
    let (h, teams, boxes) = mailbox_home();
    let toml = std::fs::read_to_string(h.root.join("baton.toml")).unwrap();
    assert!(toml.contains("[mailboxes.claude]\nkind = \"claude-team\""), "{toml}");
    assert!(toml.contains("[mailboxes.boxes]\nkind = \"folders\""), "{toml}");
    // Old mtimes, so a touch would show.
    let old = SystemTime::now() - Duration::from_secs(3 * 86_400);
    for p in snapshot(&teams).keys().chain(snapshot(&boxes).keys()) {
        std::fs::File::open(p).unwrap().set_modified(old).unwrap();
    }
    let before = (snapshot(&teams), snapshot(&boxes));
    let s = h.json(&["status", "--json"]);
    let _ = h.ok(&["status"]);
    assert_eq!((snapshot(&teams), snapshot(&boxes)), before, "observing changed a mailbox file");

    let lead = agent(&s, "alpha/team-lead");
    assert_eq!(lead["kind"], "claude-team");
    assert_eq!((lead["counts"]["unread"].as_u64(), lead["counts"]["read"].as_u64()), (Some(1), Some(1)));
    let idle = &lead["unread"][0];
    assert_eq!(idle["kind"], "idle_notification");
    assert_eq!(idle["title"], "idle_notification: available");
    assert_eq!(idle["file"], "team-lead.json");
    assert_eq!(idle["from"], "worker");
    assert_eq!(idle["created_at"], "2026-02-22T16:25:22.959Z");
    assert_eq!(lead["read"][0]["title"], "Parser done");
    assert_eq!(lead["member"]["model"], "opus");
    let worker = agent(&s, "alpha/worker");
    assert_eq!(worker["read"][0]["title"], "task_assignment: Write the parser");
    assert_eq!(agent(&s, "solo/helper")["counts"]["unread"], 0, "a team without config.json is read");

    let one = agent(&s, "agent one");
    assert_eq!(one["kind"], "folders");
    assert_eq!(one["counts"]["open"], 1);
    let task = &one["open"][0];
    assert_eq!(task["title"], "Rebuild the index");
    assert_eq!((task["from"].as_str(), task["to"].as_str()), (Some("agent_4"), Some("agent one")));
    // 09:30 in New York (from the file name) is 14:30 UTC.
    assert_eq!(task["created_at"], "2026-01-18T14:30:00.000Z");
    assert_eq!(task["date_source"], "file_name");
    let done: Vec<&str> = one["done"].as_array().unwrap().iter().map(|d| d["file"].as_str().unwrap()).collect();
    assert_eq!(done, vec!["filed.json", "old.txt.done"]);
    assert_eq!(one["done"][0]["created_at"], "2023-11-14T22:13:20.500Z");
    assert_eq!(one["sent"][0]["file"], "reply.txt");
    assert_eq!(one["counts"]["unreadable"], 0, "the .gitkeep is no message and not unreadable");
    for a in s["agents"].as_array().unwrap().iter().filter(|a| a.get("mailbox").is_some()) {
        for list in ["unread", "read", "open", "done", "sent"] {
            for item in a[list].as_array().unwrap() {
                assert!(item["file"].is_string(), "{item}");
                let at = item["created_at"].as_str().unwrap();
                assert!(
                    time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).is_ok(),
                    "{at}"
                );
            }
        }
    }

    // Acknowledging a mailbox message is recorded in the ledger only.
    let id = idle["id"].as_str().unwrap().to_string();
    let before = (snapshot(&teams), snapshot(&boxes));
    let acked = h.json(&["ack", &id, "--json"]);
    assert_eq!(acked["acked"][0]["id"], id.as_str());
    assert_eq!(h.json(&["ack", &id, "--json"])["already"][0]["id"], id.as_str());
    assert_eq!((snapshot(&teams), snapshot(&boxes)), before, "ack changed a mailbox file");

    // Recorded when first seen: `show` finds the message after Claude Code dropped the inbox.
    std::fs::remove_file(teams.join("alpha/inboxes/team-lead.json")).unwrap();
    let shown = h.json(&["show", &id, "--json"]);
    let seen = shown["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "mailbox_seen")
        .expect("a mailbox_seen event");
    assert_eq!(seen["detail"]["agent"], "alpha/team-lead");
    assert_eq!(seen["detail"]["protocol"], "idle_notification");
    assert!(shown["events"].as_array().unwrap().iter().any(|e| e["event"] == "acknowledged"));
    assert!(shown.get("delivery").is_none(), "a message baton did not deliver has no receipt");
}

fn last_line(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().to_string()
}

/// Claude Code takes the message with `text` for its agent: its `read` flag set, under its lock.
fn set_read(inbox: &Path, text: &str) {
    claude_code_does(inbox, ClaudeCode::Notices(text));
}

#[test]
fn send_to_a_team_agent_delivers_with_a_receipt() {
    let (h, teams, _) = mailbox_home();
    let inbox = teams.join("alpha/inboxes/worker.json");
    let out = h.ok(&[
        "send",
        "--to",
        "alpha/worker",
        "--from",
        "team-lead",
        "--title",
        "Ship it",
        "--body",
        "Please ship the parser.",
    ]);
    let id = last_line(&out);
    assert!(id.starts_with("cm-"), "the id alone on the last line: {id:?}");
    let v: Vec<Value> = serde_json::from_slice(&std::fs::read(&inbox).unwrap()).unwrap();
    let m = v.last().unwrap();
    assert_eq!(
        (m["from"].as_str(), m["text"].as_str(), m["summary"].as_str()),
        (Some("team-lead"), Some("Please ship the parser."), Some("Ship it"))
    );
    assert_eq!(m["read"], false);
    assert!(!teams.join("alpha/inboxes/worker.json.lock").exists(), "the lock is released");
    assert_eq!(h.json(&["show", &id, "--json"])["delivery"], "written");
    let w = h.run(&["wait", &id, "--until", "read", "--timeout", "0.3"]);
    assert_eq!(w.status.code(), Some(124), "not read yet");

    // Claude Code marks it read; the agent answers into the sender's inbox.
    set_read(&inbox, "Please ship the parser.");
    let w = h.run(&["wait", &id, "--until", "read", "--timeout", "5"]);
    assert_eq!(w.status.code(), Some(0), "{}", String::from_utf8_lossy(&w.stdout));
    // `read` is still taken, as `noticed`, with a note that says so.
    assert!(String::from_utf8_lossy(&w.stderr).contains("--until noticed"), "{}", String::from_utf8_lossy(&w.stderr));
    assert_eq!(String::from_utf8_lossy(&w.stdout).trim(), format!("{id}: noticed"));
    assert_eq!(h.json(&["show", &id, "--json"])["delivery"], "noticed");
    claude_code_does(&teams.join("alpha/inboxes/team-lead.json"), ClaudeCode::Writes("worker", "Shipped."));
    assert_eq!(h.json(&["show", &id, "--json"])["delivery"], "answered");
    // Claude Code clears the inbox: what was answered stays answered.
    claude_code_does(&inbox, ClaudeCode::Clears);
    assert_eq!(h.json(&["show", &id, "--json"])["delivery"], "answered");

    // A message that leaves the file unread is lost.
    let id2 = last_line(&h.ok(&["send", "--to", "alpha/worker", "--from", "team-lead", "--body", "second"]));
    claude_code_does(&inbox, ClaudeCode::Clears);
    assert_eq!(h.json(&["show", &id2, "--json"])["delivery"], "lost");
    assert_eq!(h.run(&["wait", &id2, "--until", "noticed"]).status.code(), Some(1));

    // Unknown agents and teams are refused by name.
    let e = h.run(&["send", "--to", "alpha/nobody", "--from", "x", "--body", "b"]);
    assert!(String::from_utf8_lossy(&e.stderr).contains("worker"), "{}", String::from_utf8_lossy(&e.stderr));
    let e = h.run(&["send", "--to", "beta/worker", "--from", "x", "--body", "b"]);
    assert!(String::from_utf8_lossy(&e.stderr).contains("alpha"), "{}", String::from_utf8_lossy(&e.stderr));
}

/// Issue 77: Claude Code's side is a Node process locking with `proper-lockfile`, as Claude
/// Code's own inbox writes do, rewriting the inbox in place and marking baton's messages read
/// while `baton send` delivers into the same inbox and `baton show` looks at a receipt (without
/// the lock, as a reader does). None lost or doubled; no receipt says `lost` for a message that
/// is there (a look in the middle of Claude Code's rewrite meets an empty or cut-off file); once
/// Claude Code took them, every one is `noticed`; no lock is left behind.
#[test]
fn deliveries_interleave_with_claude_codes_own_writes_under_its_lock() {
    const NODE: usize = 120;
    const BATON: usize = 40;
    let (h, teams, _) = mailbox_home();
    let inbox = teams.join("alpha/inboxes/worker.json");
    let before = messages(&inbox).len();
    let first = last_line(&h.ok(&["send", "--from", "beta/reviewer", "--to", "alpha/worker", "--body", "baton 0"]));
    let node = crate::support::claude_side(&inbox, NODE, "team-lead", 3);
    let done = std::sync::atomic::AtomicBool::new(false);
    let ids = std::thread::scope(|s| {
        let looker = s.spawn(|| {
            let mut looks = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let d = h.json(&["show", &first, "--json"])["delivery"].as_str().unwrap_or_default().to_string();
                assert!(d == "written" || d == "noticed", "a receipt said {d:?} while the message was there");
                looks += 1;
            }
            looks
        });
        let mut ids = vec![first.clone()];
        for i in 1..BATON {
            let body = format!("baton {i}");
            ids.push(last_line(&h.ok(&["send", "--from", "beta/reviewer", "--to", "alpha/worker", "--body", &body])));
        }
        let out = node.wait_with_output().unwrap();
        assert!(out.status.success(), "Claude Code's side failed: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), NODE.to_string());
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(looker.join().unwrap() > 3, "the receipt was looked at while both wrote");
        ids
    });
    // One more turn of Claude Code's: it takes what baton delivered after its last one.
    let last = crate::support::claude_side(&inbox, 1, "last-turn", 0).wait_with_output().unwrap();
    assert!(last.status.success(), "{}", String::from_utf8_lossy(&last.stderr));
    let all = messages(&inbox);
    assert_eq!(all.len(), before + NODE + 1 + BATON, "messages lost or doubled");
    for i in 0..BATON {
        let n = all.iter().filter(|m| m["text"] == format!("baton {i}").as_str()).count();
        assert_eq!(n, 1, "baton {i} appears {n} times");
    }
    for i in 0..NODE {
        let n = all.iter().filter(|m| m["text"] == format!("team-lead {i}").as_str()).count();
        assert_eq!(n, 1, "team-lead {i} appears {n} times");
    }
    for id in &ids {
        assert_eq!(h.json(&["show", id, "--json"])["delivery"], "noticed", "{id}");
    }
    assert!(!teams.join("alpha/inboxes/worker.json.lock").exists(), "no lock is left behind");
}

#[test]
fn folders_that_look_like_mailboxes_are_listed_with_the_table_that_reads_them() {
    let h = Home::init(&[], "");
    write(&h.root.join("handoffs/agent_1/inbox/task.txt"), "Subject: hi\n");
    write(&h.root.join("handoffs/agent_1/outbox/r.txt"), "x");
    let before = snapshot(&h.root.join("handoffs/agent_1"));
    let s = h.json(&["status", "--json"]);
    let u = &s["unmatched"][0];
    assert!(u["path"].as_str().unwrap().ends_with("handoffs/agent_1"), "{u}");
    assert_eq!(u["seen"], json!(["inbox/", "outbox/"]));
    assert!(u["table"].as_str().unwrap().contains("kind = \"folders\""), "{u}");
    let text = String::from_utf8_lossy(&h.ok(&["status"]).stdout).into_owned();
    assert!(text.contains("NOT READ") && text.contains("agent_1"), "{text}");
    let adopt = h.json(&["adopt", h.root.join("handoffs").to_str().unwrap(), "--json"]);
    assert_eq!(adopt["unmatched"][0]["seen"], json!(["inbox/", "outbox/"]));
    assert_eq!(snapshot(&h.root.join("handoffs/agent_1")), before);
    // A table that would not load is refused and the file left as it was.
    let toml_before = std::fs::read(h.root.join("baton.toml")).unwrap();
    let e = h.run(&["mailbox", "add", "folders", "/x", "--zone", "Nowhere/City"]);
    assert_eq!(e.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&e.stderr).contains("Nowhere/City"), "{}", String::from_utf8_lossy(&e.stderr));
    assert_eq!(std::fs::read(h.root.join("baton.toml")).unwrap(), toml_before);
    // The table it suggests reads it.
    let table = u["table"].as_str().unwrap();
    let mut toml = std::fs::read_to_string(h.root.join("baton.toml")).unwrap();
    toml.push('\n');
    toml.push_str(table);
    std::fs::write(h.root.join("baton.toml"), toml).unwrap();
    let s = h.json(&["status", "--json"]);
    assert_eq!(s["unmatched"], json!([]));
    assert_eq!(agent(&s, "agent_1")["open"][0]["title"], "hi");
}

#[test]
fn mcp_send_task_to_a_team_agent_delivers_into_its_inbox() {
    let (h, teams, _) = mailbox_home();
    team_tasks(teams.parent().unwrap());
    let v = crate::mcp::client(&h, "mailbox", &[]);
    let sent = &v["send_team"]["structured"];
    assert_eq!(sent["delivery"], "written", "{v}");
    assert_eq!(sent["claude_task"], "alpha#1", "{v}");
    assert_eq!(v["send_team_no_task"]["is_error"], true, "{v}");
    assert!(v["send_team_no_task"].to_string().contains("no task alpha#9"), "{v}");
    let id = sent["id"].as_str().unwrap();
    let inbox: Vec<Value> =
        serde_json::from_slice(&std::fs::read(teams.join("alpha/inboxes/worker.json")).unwrap()).unwrap();
    let m = inbox.last().unwrap();
    assert_eq!(
        (m["from"].as_str(), m["text"].as_str(), m["summary"].as_str()),
        (Some("Claude"), Some("Hello from MCP."), Some("From MCP"))
    );
    assert_eq!(h.json(&["show", id, "--json"])["delivery"], "written");
    assert_eq!(v["send_team_unknown"]["is_error"], true, "{v}");
    assert_eq!(inbox.iter().filter(|m| m["text"] == "y").count(), 0, "a refused send delivers nothing");
    assert_eq!(h.json(&["show", "alpha#1", "--json"])["messages"], json!([id]));
}

/// A team's task list as Claude Code 2.1.x keeps it (`~/.claude/tasks/<team>/<N>.json` beside
/// its `.lock` and `.highwatermark`), with one file that does not parse.
fn team_tasks(claude: &Path) -> PathBuf {
    let dir = claude.join("tasks/alpha");
    let task = |id: &str, subject: &str, status: &str, owner: &str, blocks: &[&str], blocked_by: &[&str]| {
        json!({"id": id, "subject": subject, "description": format!("{subject}, with tests."),
               "activeForm": format!("{subject}ing"), "status": status, "owner": owner,
               "blocks": blocks, "blockedBy": blocked_by, "metadata": {}})
        .to_string()
    };
    write(&dir.join("1.json"), &task("1", "Write the parser", "in_progress", "worker", &["2"], &[]));
    write(&dir.join("2.json"), &task("2", "Review the parser", "pending", "", &[], &["1"]));
    write(&dir.join("3.json"), "{\"id\": \"3\", \"subject\": \"half wri");
    write(&dir.join(".lock"), "");
    write(&dir.join(".highwatermark"), "3");
    dir
}

/// Issue 77: a team's task list in `status --json` (tasks, counts per status, the file that
/// does not parse named with its reason; the lock and counter files never tasks), `show TEAM#N`
/// with the changes baton saw, and `send --claude-task` linking a message to a task so that
/// `show` of either names the other. A task that is not there is refused, nothing delivered.
#[test]
fn team_tasks_are_listed_shown_with_their_history_and_linked_to_messages() {
    let (h, teams, _) = mailbox_home();
    let dir = team_tasks(teams.parent().unwrap());
    let s = h.json(&["status", "--json"]);
    let claude = s["mailboxes"].as_array().unwrap().iter().find(|m| m["kind"] == "claude-team").unwrap();
    assert_eq!(claude["error"], Value::Null, "{claude}");
    let alpha = claude["teams"].as_array().unwrap().iter().find(|t| t["team"] == "alpha").unwrap();
    let tasks = alpha["tasks"].as_array().unwrap();
    let ids: Vec<&str> = tasks.iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["1", "2"], "{alpha}");
    assert_eq!(
        (tasks[0]["status"].as_str(), tasks[0]["owner"].as_str(), &tasks[0]["blocks"]),
        (Some("in_progress"), Some("worker"), &json!(["2"]))
    );
    assert_eq!((&tasks[1]["owner"], &tasks[1]["blocked_by"]), (&Value::Null, &json!(["1"])));
    assert_eq!(alpha["counts"], json!({"in_progress": 1, "pending": 1}), "{alpha}");
    let unreadable = alpha["unreadable"].as_array().unwrap();
    assert_eq!(unreadable.len(), 1, "{alpha}");
    assert!(unreadable[0].to_string().contains("3.json") && unreadable[0].to_string().contains("not JSON"), "{alpha}");

    // The task's history: each change of status baton saw.
    let shown = h.json(&["show", "alpha#2", "--json"]);
    assert_eq!(shown["task"]["subject"], "Review the parser");
    let mut t2: Value = serde_json::from_slice(&std::fs::read(dir.join("2.json")).unwrap()).unwrap();
    t2["status"] = json!("in_progress");
    t2["owner"] = json!("team-lead");
    std::fs::write(dir.join("2.json"), t2.to_string()).unwrap();
    let shown = h.json(&["show", "alpha#2", "--json"]);
    let seen: Vec<&str> = shown["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "mailbox_seen")
        .map(|e| e["detail"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(seen, ["pending", "in_progress"], "{shown}");

    // A message about the task: each names the other.
    let id = last_line(&h.ok(&[
        "send",
        "--from",
        "alpha/team-lead",
        "--to",
        "alpha/worker",
        "--body",
        "Take the review.",
        "--claude-task",
        "alpha#2",
    ]));
    assert_eq!(h.json(&["show", &id, "--json"])["claude_task"], "alpha#2");
    assert_eq!(h.json(&["show", "alpha#2", "--json"])["messages"], json!([id]));
    let text = String::from_utf8_lossy(&h.ok(&["show", "alpha#2"]).stdout).into_owned();
    assert!(text.contains(&format!("messages about it: {id}")) && text.contains("owner team-lead"), "{text}");
    let text = String::from_utf8_lossy(&h.ok(&["show", &id]).stdout).into_owned();
    assert!(text.contains("about the team task alpha#2"), "{text}");

    // No such task, or no task reference at all: refused with the fix, nothing delivered.
    let inbox = teams.join("alpha/inboxes/worker.json");
    let before = std::fs::read(&inbox).unwrap();
    for bad in ["alpha#9", "alpha-2"] {
        let out =
            h.run(&["send", "--from", "alpha/team-lead", "--to", "alpha/worker", "--body", "x", "--claude-task", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("baton status --json"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(std::fs::read(&inbox).unwrap(), before, "a refused send delivers nothing");
}

#[test]
fn init_names_claude_code_teams_and_adds_nothing() {
    let h = Home::init(&[], "");
    let user = h.root.parent().unwrap().join("user");
    std::fs::create_dir_all(user.join(".claude/teams/alpha/inboxes")).unwrap();
    let toml_before = std::fs::read(h.root.join("baton.toml")).unwrap();
    let out = h.cmd(&["init"]).env("HOME", &user).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(".claude/teams") && err.contains("baton mailbox add claude-team"), "{err}");
    assert_eq!(std::fs::read(h.root.join("baton.toml")).unwrap(), toml_before, "init adds no table by itself");
    // Once read, it is not said again.
    h.ok(&["mailbox", "add", "claude-team", user.join(".claude/teams").to_str().unwrap()]);
    let out = h.cmd(&["init"]).env("HOME", &user).output().unwrap();
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("baton mailbox add"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_dashboard_shows_mailbox_agents_team_rosters_and_stale_unread_messages() {
    let (h, _, _) = mailbox_home();
    let key = crate::dashboard::rotate_key(&h);
    let s = crate::dashboard::Serve::start(&h);
    let v = s.get("/api/handoffs", Some(&key)).json();
    let m = &v["mailboxes"];
    let claude = m["mailboxes"].as_array().unwrap().iter().find(|x| x["kind"] == "claude-team").unwrap();
    let alpha = claude["teams"].as_array().unwrap().iter().find(|t| t["team"] == "alpha").unwrap();
    assert_eq!(alpha["roster"]["lead"], "team-lead");
    assert_eq!(alpha["roster"]["members"][1]["model"], "haiku");
    let lead = m["agents"].as_array().unwrap().iter().find(|a| a["agent"] == "alpha/team-lead").unwrap();
    // The unread idle notification is from February: past the 48 h stale age, flagged.
    assert_eq!(lead["counts"]["unread"], 1);
    assert_eq!(lead["counts"]["stale"], 1);
    assert_eq!(lead["stale"][0]["kind"], "idle_notification");
}

/// `serve` records mailbox messages as they come: a message that lands in a Claude inbox and is
/// gone again before anyone runs `baton status` is still found by `show`.
#[test]
fn serve_records_a_message_that_is_gone_before_status_runs() {
    let (h, teams, _boxes) = mailbox_home();
    let quiet = std::process::Stdio::null;
    let mut serving = h.cmd(&["serve"]).stdout(quiet()).stderr(quiet()).spawn().unwrap();
    let ts = "2026-02-22T16:20:01.123Z";
    let text = "a message that does not stay";
    let inbox = teams.join("solo/inboxes/helper.json");
    write(&inbox, &json!([{"from": "lead", "text": text, "timestamp": ts, "read": false}]).to_string());
    let id = baton_mailbox::claude::message_id("solo/helper", "lead", ts, text);
    // Watched through the ledger itself: `show` and `status` would record the message too.
    let location = match &h.state {
        Some(url) => baton_ledger::Location::parse(url).unwrap(),
        None => baton_ledger::Location::Sqlite(h.root.join("state/baton.sqlite")),
    };
    let started = std::time::Instant::now();
    loop {
        let ledger = baton_ledger::Ledger::open_at(&location).unwrap();
        if ledger.events(&id).unwrap().iter().any(|e| e.event == "mailbox_seen") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "serve never recorded {id}");
        std::thread::sleep(Duration::from_millis(300));
    }
    serving.kill().unwrap();
    serving.wait().unwrap();
    // The inbox emptied (as Claude Code clears it): the message is still found, with its text.
    claude_code_does(&inbox, ClaudeCode::Clears);
    let shown = h.json(&["show", &id, "--json"]);
    let seen = shown["events"].as_array().unwrap().iter().find(|e| e["event"] == "mailbox_seen").cloned();
    assert_eq!(seen.map(|e| e["detail"]["text"].clone()), Some(json!(text)), "{shown}");
}

/// A TASK for baton from a Claude Code team's lead, answered to one of its agents.
fn task_replying_to(id: &str, from: &str, reply_to: Option<&str>) -> String {
    let mut t = json!({"schema": "baton.handoff/v1", "id": id, "kind": "task", "created_at": "2026-01-18T07:09:51Z",
                       "from": from, "title": format!("Echo {id}"), "plugin": "echo", "action": "echo", "params": {"n": id}});
    if let Some(r) = reply_to {
        t["reply_to"] = json!(r);
    }
    t.to_string()
}

fn messages(inbox: &Path) -> Vec<Value> {
    serde_json::from_slice(&std::fs::read(inbox).unwrap()).expect("the inbox stays a JSON array")
}

/// Issue 49: a TASK whose `reply_to` is `TEAM/AGENT` is answered by one message appended to
/// that agent's Claude inbox (not a file in a folder `handoffs/TEAM/AGENT/`), once however
/// often serve drains; `show TASK --json` follows the message's receipt.
#[test]
fn a_task_replying_to_a_team_agent_is_answered_in_its_claude_inbox() {
    let (h, teams, _) = mailbox_home();
    let inbox = teams.join("alpha/inboxes/worker.json");
    let before = messages(&inbox);
    h.drop_file(
        "20260118T070951Z__TASK__Echo-RT1__team-lead.json",
        task_replying_to("RT1", "team-lead", Some("alpha/worker")),
    );
    h.ok(&["serve", "--once"]);
    h.ok(&["serve", "--once"]); // a second drain changes nothing
    let after = messages(&inbox);
    assert_eq!(after.len(), before.len() + 1, "exactly one message: {after:?}");
    assert_eq!(&after[..before.len()], &before[..], "earlier messages unchanged");
    let m = after.last().unwrap();
    assert_eq!((m["from"].as_str(), m["read"].as_bool()), (Some("baton"), Some(false)), "{m}");
    let ret: Value = serde_json::from_str(m["text"].as_str().unwrap()).expect("the text is the RETURN's JSON");
    assert_eq!((ret["in_reply_to"].as_str(), ret["status"].as_str()), (Some("RT1"), Some("completed")), "{ret}");
    assert_eq!(ret["to"], "alpha/worker");
    assert!(m["summary"].as_str().unwrap().starts_with("Re: Echo RT1"), "{m}");
    assert!(!teams.join("alpha/inboxes/worker.json.lock").exists(), "the lock is released");
    assert!(!h.root.join("handoffs/alpha").exists(), "no folder handoffs/alpha/ is made");
    assert_eq!(std::fs::read_dir(h.dir("baton", "02_processed")).unwrap().count(), 1, "the TASK is filed");
    assert!(h.dir("baton", ".outbox").read_dir().unwrap().next().is_none(), "the outbox is emptied");

    let shown = h.json(&["show", "RT1", "--json"]);
    assert_eq!(shown["task"]["state"], "completed", "{shown}");
    assert_eq!(shown["delivery"], "written", "{shown}");
    let link = shown["events"].as_array().unwrap().iter().find(|e| e["event"] == "return_delivered").unwrap();
    let id = link["detail"]["message"].as_str().unwrap().to_string();
    assert_eq!(
        id,
        baton_mailbox::claude::message_id(
            "alpha/worker",
            "baton",
            m["timestamp"].as_str().unwrap(),
            m["text"].as_str().unwrap()
        )
    );
    let message = h.json(&["show", &id, "--json"]);
    let delivered = message["events"].as_array().unwrap().iter().find(|e| e["event"] == "delivered").unwrap();
    assert_eq!(delivered["detail"]["agent"], "alpha/worker");
    assert_eq!(delivered["detail"]["text"], m["text"]);

    // Claude Code marks it read.
    set_read(&inbox, m["text"].as_str().unwrap());
    assert_eq!(h.json(&["show", "RT1", "--json"])["delivery"], "noticed");
    assert_eq!(h.json(&["show", &id, "--json"])["delivery"], "noticed");

    // The same through `baton send --reply-to TEAM/AGENT`.
    let sent = h.json(&[
        "send",
        "--plugin",
        "echo",
        "--action",
        "echo",
        "--params",
        "{}",
        "--from",
        "team-lead",
        "--reply-to",
        "alpha/worker",
        "--json",
    ]);
    h.ok(&["serve", "--once"]);
    let last = messages(&inbox).pop().unwrap();
    let ret: Value = serde_json::from_str(last["text"].as_str().unwrap()).unwrap();
    assert_eq!(ret["in_reply_to"], sent["id"]);
    assert_eq!(messages(&inbox).len(), before.len() + 2);
    assert!(!h.root.join("handoffs/alpha").exists(), "no folder handoffs/alpha/ is made");
}

/// A `TEAM/AGENT` that no claude-team mailbox has is refused before running, naming it,
/// baton.toml and the fix; no folder `handoffs/TEAM/` is made.
#[test]
fn a_task_replying_to_an_unknown_team_agent_is_rejected_with_the_fix() {
    let (h, teams, _) = mailbox_home();
    h.drop_file(
        "20260118T070951Z__TASK__Echo-U1__team-lead.json",
        task_replying_to("U1", "team-lead", Some("alpha/nobody")),
    );
    h.drop_file("20260118T070951Z__TASK__Echo-U2__worker.json", task_replying_to("U2", "beta/worker", None));
    h.ok(&["serve", "--once"]);
    for (id, who) in [("U1", "alpha/nobody"), ("U2", "beta/worker")] {
        let shown = h.json(&["show", id, "--json"]);
        assert_eq!(shown["task"]["state"], "rejected", "{shown}");
        assert_eq!(shown["task"]["error_code"], "unknown_recipient", "{shown}");
        let message = shown["task"]["error_message"].as_str().unwrap();
        assert!(message.contains(&format!("{who:?}")), "{message}");
        assert!(message.contains("baton mailbox add claude-team [PATH]"), "{message}");
        assert!(message.contains(&h.root.join("baton.toml").display().to_string()), "{message}");
        assert!(shown.get("delivery").is_none(), "{shown}");
    }
    // The sender of U1 is a plain agent: it gets the rejection; U2's sender is the unknown one.
    let returns = h.returns("team-lead");
    assert_eq!(returns["U1"][0]["error"]["code"], "unknown_recipient");
    assert_eq!(std::fs::read_dir(h.dir("baton", "03_failed")).unwrap().count(), 4, "two originals, two records");
    for folder in ["alpha", "beta"] {
        assert!(!h.root.join("handoffs").join(folder).exists(), "handoffs/{folder} was made");
    }
    assert_eq!(messages(&teams.join("alpha/inboxes/worker.json")).len(), 1, "nothing appended");
    assert!(!teams.join("alpha/inboxes/nobody.json").exists());
    // `baton send` refuses it before writing anything.
    let e = h.run(&[
        "send",
        "--plugin",
        "echo",
        "--action",
        "echo",
        "--params",
        "{}",
        "--from",
        "lead",
        "--reply-to",
        "alpha/nobody",
    ]);
    assert_eq!(e.status.code(), Some(2), "{}", String::from_utf8_lossy(&e.stderr));
    assert!(String::from_utf8_lossy(&e.stderr).contains("worker"), "{}", String::from_utf8_lossy(&e.stderr));
    assert!(!h.root.join("handoffs/alpha").exists() && !h.root.join("handoffs/lead").exists());
}

/// A TASK refused at intake is answered at once by every way of waiting, from the ledger's
/// row (state, code and reason), instead of a timeout or A2A's WORKING: `U1` replies to an
/// unknown `TEAM/AGENT` (its rejection went to its plain sender's folder, not where a wait for
/// `alpha/nobody` looks), `U2` comes from one (its rejection went nowhere). A rejected TASK
/// whose rejection RETURN reached a folder agent is still answered by that RETURN file.
#[test]
fn waiting_on_a_rejected_task_answers_the_rejection_at_once() {
    let (h, _teams, _) = mailbox_home();
    h.drop_file(
        "20260118T070951Z__TASK__Echo-U1__team-lead.json",
        task_replying_to("U1", "team-lead", Some("alpha/nobody")),
    );
    h.drop_file("20260118T070951Z__TASK__Echo-U2__worker.json", task_replying_to("U2", "beta/worker", None));
    let mut bad = serde_json::from_str::<Value>(&task_replying_to("F1", "lead", None)).unwrap();
    bad["action"] = json!("nope");
    h.drop_file("20260118T070951Z__TASK__Echo-F1__lead.json", bad.to_string());
    h.ok(&["serve", "--once"]);

    let started = std::time::Instant::now();
    let out = h.run(&["wait", "U1", "--json", "--timeout", "30"]);
    assert_eq!(out.status.code(), Some(1), "a rejection, not a timeout: {}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(15), "answered at once: {:?}", started.elapsed());
    let ret: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((ret["in_reply_to"].as_str(), ret["status"].as_str()), (Some("U1"), Some("rejected")), "{ret}");
    assert_eq!(ret["error"]["code"], "unknown_recipient", "{ret}");
    assert!(ret["summary"].as_str().unwrap().contains("\"alpha/nobody\""), "{ret}");

    let out = h.run(&["wait", "U2", "--timeout", "30"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("rejected: ") && text.contains("unknown_recipient"), "{text}");
    assert!(text.contains("no RETURN: the ledger's record of TASK U2"), "{text}");

    // A folder agent's rejection RETURN is the answer, as before (a file, with its own id).
    let out = h.run(&["wait", "F1", "--json", "--timeout", "30"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let ret: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((ret["status"].as_str(), ret["from"].as_str()), (Some("rejected"), Some("baton")), "{ret}");
    assert!(ret["id"].is_string(), "the RETURN file, not the ledger's row: {ret}");

    // MCP, through the official SDK: the rejection is the result, not a pending answer.
    let v = crate::mcp::client(&h, "rejected_wait", &[("REJECTED_ID", "U1")]);
    let got = &v["wait_rejected"]["structured"];
    assert!(got.get("pending").is_none(), "{v}");
    assert_eq!(
        (got["status"].as_str(), got["error"]["code"].as_str()),
        (Some("rejected"), Some("unknown_recipient")),
        "{v}"
    );

    // A2A, through the official SDK: GetTask says REJECTED, not WORKING.
    let key = crate::dashboard::rotate_key(&h);
    let s = crate::dashboard::Serve::start(&h);
    for id in ["U1", "U2"] {
        let got = crate::a2a::client(&h, &s, &key, &["wait", id, "10"]);
        assert_eq!(got["status"]["state"], "TASK_STATE_REJECTED", "{id}: {got}");
    }
    // One GetTask, and one MCP `tasks/get` (a look, not a wait), right after the refusal, inside
    // the 2 s a waiter gives the RETURN file: the rejection with its reason already, not WORKING.
    let refuse = |id: &str| {
        h.drop_file(
            format!("20260118T070951Z__TASK__Echo-{id}__worker.json"),
            task_replying_to(id, "beta/worker", None),
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let refused = || {
            let out = h.run(&["show", id, "--json"]);
            out.status.success()
                && serde_json::from_slice::<Value>(&out.stdout).is_ok_and(|v| v["task"]["state"] == "rejected")
        };
        while !refused() {
            assert!(std::time::Instant::now() < deadline, "serve --http never refused {id}:\n{}", s.log_text());
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    refuse("U4");
    let v = crate::mcp::client(&h, "get", &[("TASK_ID", "U4")]);
    let got = &v["got"];
    assert_eq!(got["status"], "completed", "answered, not working: {v}");
    assert_eq!(got["result"]["structuredContent"]["status"], "rejected", "{v}");
    refuse("U3");
    let got = crate::a2a::client(&h, &s, &key, &["wait", "U3", "0"]);
    assert_eq!(got["status"]["state"], "TASK_STATE_REJECTED", "{got}");
    let text = got["status"]["message"]["parts"][0]["text"].as_str().unwrap_or_default();
    assert!(text.starts_with("unknown_recipient: ") && text.contains("\"beta/worker\""), "the code and reason: {got}");
    assert!(got.get("artifacts").is_none_or(|a| a == &json!([])), "no result of a TASK never run: {got}");
}

/// A `send --wait` whose TASK is refused at intake with nowhere to put the refusal (its reply
/// agent's team left between the send and the intake) answers the refusal from the ledger's
/// row, once the RETURN has had its grace, instead of a timeout: the waiter of a TASK it wrote
/// does not ask the row in that grace, and must still ask it after.
#[test]
fn send_wait_on_a_task_refused_with_nowhere_to_answer_reads_the_refusal_from_the_ledger() {
    let (h, teams, _) = mailbox_home();
    let send = h
        .cmd(&["send", "--plugin", "echo", "--action", "echo", "--params", "{}", "--reply-to", "alpha/worker"])
        .args(["--wait", "--timeout", "60", "--json"])
        .env("BATON_AGENT", "team-lead")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::fs::read_dir(h.inbox()).unwrap().next().is_none() {
        assert!(std::time::Instant::now() < deadline, "the send never wrote its TASK");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::fs::rename(teams.join("alpha"), teams.join("alpha-left")).unwrap();
    h.ok(&["serve", "--once"]);
    let refused = std::time::Instant::now();
    let out = send.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "a refusal, not a timeout: {}", stderr(&out));
    assert!(refused.elapsed() < Duration::from_secs(15), "answered once the grace passed: {:?}", refused.elapsed());
    let ret: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
    assert_eq!(
        (ret["status"].as_str(), ret["error"]["code"].as_str()),
        (Some("rejected"), Some("unknown_recipient")),
        "{ret}"
    );
    assert!(ret["summary"].as_str().is_some_and(|s| s.contains("alpha/worker")), "{ret}");
}

/// `status` lists a TASK answered into a Claude inbox whose RETURN message is still unread past
/// the stale age (`[handoffs] stale_after`), and stops once Claude Code marks it read.
#[test]
fn status_lists_returns_left_unread_in_a_claude_inbox() {
    let (h, teams, _) = mailbox_home();
    let inbox = teams.join("alpha/inboxes/worker.json");
    let toml = h.root.join("baton.toml");
    let cfg = std::fs::read_to_string(&toml).unwrap();
    assert!(!cfg.contains("stale_after"), "{cfg}");
    let plain = "\nhandoffs = \"handoffs\"\n";
    assert!(cfg.contains(plain), "{cfg}");
    let cfg = cfg.replacen(plain, "\nhandoffs = { path = \"handoffs\", stale_after = \"1s\" }\n", 1);
    std::fs::write(&toml, cfg).unwrap();
    h.drop_file(
        "20260118T070951Z__TASK__Echo-S1__team-lead.json",
        task_replying_to("S1", "team-lead", Some("alpha/worker")),
    );
    h.ok(&["serve", "--once"]);
    std::thread::sleep(Duration::from_millis(2100));

    let status = h.json(&["status", "--json"]);
    let unread = status["unread_returns"].as_array().unwrap_or_else(|| panic!("{status}"));
    assert_eq!(unread.len(), 1, "{unread:?}");
    let u = &unread[0];
    assert_eq!(
        (u["task"].as_str(), u["status"].as_str(), u["agent"].as_str()),
        (Some("S1"), Some("completed"), Some("alpha/worker"))
    );
    let link = h.json(&["show", "S1", "--json"])["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "return_delivered")
        .cloned()
        .unwrap();
    assert_eq!(u["message"], link["detail"]["message"], "{u}");
    assert!(u["age_secs"].as_i64().unwrap() >= 1, "{u}");
    let text = String::from_utf8_lossy(&h.ok(&["status"]).stdout).into_owned();
    assert!(text.contains("UNREAD RETURN of TASK S1 (completed) in the Claude inbox of alpha/worker"), "{text}");

    set_read(&inbox, return_message_text(&inbox, "S1").as_str());
    assert_eq!(h.json(&["status", "--json"])["unread_returns"], json!([]));
}

/// The `text` of the message in a Claude inbox that is the RETURN answering `id`.
fn return_message_text(inbox: &Path, id: &str) -> String {
    messages(inbox)
        .iter()
        .filter_map(|m| m["text"].as_str().map(str::to_string))
        .find(|t| serde_json::from_str::<Value>(t).is_ok_and(|r| r["in_reply_to"] == id))
        .unwrap_or_else(|| panic!("no RETURN for {id} in {inbox:?}"))
}

/// Killed between the append and its mark (`.sent`, then the ledger): the re-run finds the
/// message in the inbox and appends nothing, and the TASK is filed once, completed.
#[test]
fn a_rerun_after_a_crash_between_append_and_mark_appends_nothing() {
    use std::os::unix::process::ExitStatusExt;
    let (h, teams, _) = mailbox_home();
    let inbox = teams.join("solo/inboxes/helper.json");
    h.drop_file("20260118T070951Z__TASK__Echo-C1__lead.json", task_replying_to("C1", "solo/helper", None));
    let out = h.cmd(&["serve", "--once"]).env("BATON_FAILPOINT", "after_mailbox_append").output().unwrap();
    assert_eq!(
        out.status.signal(),
        Some(9),
        "the failpoint killed the process: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first = messages(&inbox);
    assert_eq!(first.len(), 1, "appended before the crash: {first:?}");
    h.ok(&["serve", "--once"]);
    h.ok(&["serve", "--once"]);
    let after = messages(&inbox);
    assert_eq!(after, first, "the re-run appended nothing");
    let ret: Value = serde_json::from_str(after[0]["text"].as_str().unwrap()).unwrap();
    assert_eq!((ret["in_reply_to"].as_str(), ret["status"].as_str()), (Some("C1"), Some("completed")));
    let shown = h.json(&["show", "C1", "--json"]);
    assert_eq!(shown["task"]["state"], "completed", "{shown}");
    assert_eq!(shown["delivery"], "written", "{shown}");
    let delivered: Vec<&Value> =
        shown["events"].as_array().unwrap().iter().filter(|e| e["event"] == "return_delivered").collect();
    assert_eq!(delivered.len(), 1, "{shown}");
    assert_eq!(std::fs::read_dir(h.dir("baton", "02_processed")).unwrap().count(), 1);
    assert!(h.dir("baton", ".outbox").read_dir().unwrap().next().is_none(), "the outbox is emptied");
    assert!(!h.root.join("handoffs/solo").exists());
}

/// The `return_delivered` events of TASK `id` and the `delivered` events of the message they
/// name, counted.
fn delivery_records(h: &Home, id: &str) -> (usize, usize, Value) {
    let shown = h.json(&["show", id, "--json"]);
    let links: Vec<Value> =
        shown["events"].as_array().unwrap().iter().filter(|e| e["event"] == "return_delivered").cloned().collect();
    let Some(message) = links.first().and_then(|l| l["detail"]["message"].as_str()) else {
        return (0, 0, shown);
    };
    let m = h.json(&["show", message, "--json"]);
    let delivered = m["events"].as_array().unwrap().iter().filter(|e| e["event"] == "delivered").count();
    (links.len(), delivered, shown)
}

/// `serve`'s start-up repair of a `baton reply` killed half-way records the delivery into the
/// Claude inbox as `reply` does (`show` has its `delivery`), once however often it runs, and
/// never appends again a message the ledger knows was appended, even after Claude Code cleared
/// the inbox.
#[test]
fn serve_repairs_an_interrupted_reply_to_a_team_agent_and_records_it_once() {
    use std::os::unix::process::ExitStatusExt;
    let (h, teams, _) = mailbox_home();
    let inbox = teams.join("alpha/inboxes/worker.json");
    let task = |id: &str| {
        json!({"schema": "baton.handoff/v1", "id": id, "kind": "task", "created_at": "2026-01-18T07:09:51Z",
               "from": "alpha/worker", "to": "bob", "title": format!("Review {id}")})
        .to_string()
    };
    let reply_killed_at = |id: &str, point: &str| {
        let out = h
            .cmd(&["reply", id, "--status", "completed", "--summary", "Reviewed"])
            .env("BATON_FAILPOINT", point)
            .output()
            .unwrap();
        assert_eq!(out.status.signal(), Some(9), "killed at {point}: {}", stderr(&out));
    };

    // Killed after the append and its record, before the TASK was filed; Claude Code then read
    // and cleared the inbox before serve started.
    write(&h.dir("bob", "01_inbox").join("20260118T070951Z__TASK__Review-R2__worker.json"), &task("R2"));
    reply_killed_at("R2", "reply_between_steps");
    assert!(return_in(&inbox, "R2").is_some(), "appended before the crash");
    claude_code_does(&inbox, ClaudeCode::Clears);
    h.ok(&["serve", "--once"]);
    h.ok(&["serve", "--once"]);
    assert_eq!(messages(&inbox), Vec::<Value>::new(), "the repair did not append it again");
    let (links, delivered, shown) = delivery_records(&h, "R2");
    assert_eq!((links, delivered), (1, 1), "{shown}");
    assert!(shown["delivery"].is_string(), "{shown}");
    assert_eq!(std::fs::read_dir(h.dir("bob", "02_processed")).unwrap().count(), 1, "R2 is filed");

    // Killed between the append and its record: the repair records it, once.
    write(&h.dir("bob", "01_inbox").join("20260118T070951Z__TASK__Review-R3__worker.json"), &task("R3"));
    reply_killed_at("R3", "reply_after_append");
    assert_eq!(delivery_records(&h, "R3").0, 0, "nothing recorded before the repair");
    h.ok(&["serve", "--once"]);
    h.ok(&["serve", "--once"]);
    assert_eq!(messages(&inbox).len(), 1, "appended once: {:?}", messages(&inbox));
    let (links, delivered, shown) = delivery_records(&h, "R3");
    assert_eq!((links, delivered), (1, 1), "{shown}");
    assert_eq!(shown["delivery"], "written", "{shown}");
    assert_eq!(std::fs::read_dir(h.dir("bob", "02_processed")).unwrap().count(), 2, "R3 is filed");
}

/// The message in a Claude inbox whose text is the RETURN answering `id`, parsed.
fn return_in(inbox: &Path, id: &str) -> Option<Value> {
    messages(inbox)
        .iter()
        .filter_map(|m| serde_json::from_str::<Value>(m["text"].as_str()?).ok())
        .find(|r| r["kind"] == "return" && r["in_reply_to"] == id)
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Issue 49: `baton wait` on a TASK answered to `TEAM/AGENT` watches that agent's Claude inbox
/// (not a folder where nothing comes): a timeout names the TASK and the inbox; once `serve`
/// appended the RETURN, the wait answers it, and still does after Claude Code cleared the
/// inbox (the ledger kept the message). `send --wait --reply-to TEAM/AGENT` waits the same way.
#[test]
fn waiting_for_a_return_answered_to_a_team_agent_reads_its_claude_inbox() {
    let (h, teams, _) = mailbox_home();
    let inbox = teams.join("alpha/inboxes/worker.json");
    h.drop_file(
        "20260118T070951Z__TASK__Echo-W1__team-lead.json",
        task_replying_to("W1", "team-lead", Some("alpha/worker")),
    );
    let early = h.run(&["wait", "W1", "--timeout", "0.3"]);
    assert_eq!(early.status.code(), Some(124), "{}", stderr(&early));
    assert!(
        stderr(&early).contains("W1") && stderr(&early).contains(&inbox.display().to_string()),
        "{}",
        stderr(&early)
    );

    h.ok(&["serve", "--once"]);
    let out = h.run(&["wait", "W1", "--json", "--timeout", "5"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let ret: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((ret["in_reply_to"].as_str(), ret["status"].as_str()), (Some("W1"), Some("completed")), "{ret}");
    assert_eq!(Some(&ret), return_in(&inbox, "W1").as_ref(), "the message's text is what the wait answered");
    // Claude Code cleared the inbox: the ledger still has the RETURN.
    claude_code_does(&inbox, ClaudeCode::Clears);
    let out = h.run(&["wait", "W1", "--json", "--timeout", "5"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(serde_json::from_slice::<Value>(&out.stdout).unwrap(), ret);

    // `send --wait` with nobody to run it: a timeout that names where the answer was expected.
    let sent = h.run(&[
        "send",
        "--plugin",
        "echo",
        "--action",
        "echo",
        "--params",
        "{}",
        "--from",
        "team-lead",
        "--reply-to",
        "alpha/worker",
        "--wait",
        "--timeout",
        "0.5",
    ]);
    assert_eq!(sent.status.code(), Some(124), "{}", stderr(&sent));
    assert!(stderr(&sent).contains(&inbox.display().to_string()), "{}", stderr(&sent));
    assert!(!h.root.join("handoffs/alpha").exists(), "no folder handoffs/alpha/ is made");
}

/// Issue 49 over MCP, through the official SDK: `send_task` with `reply_to: TEAM/AGENT` and
/// `wait_for_return` answer the RETURN `serve` delivered into the Claude inbox; a TASK whose
/// sender is the team's agent is waited for by id; one nobody answers ends pending, naming the
/// inbox it was expected in.
#[test]
fn mcp_waits_for_a_return_answered_to_a_team_agent() {
    let (h, teams, _) = mailbox_home();
    let inbox = teams.join("alpha/inboxes/worker.json");
    std::fs::create_dir_all(h.dir("Codex", "01_inbox")).unwrap();
    h.drop_file("20260118T070951Z__TASK__Echo-D1__worker.json", task_replying_to("D1", "alpha/worker", None));
    let quiet = std::process::Stdio::null;
    let mut serving = h.cmd(&["serve"]).stdout(quiet()).stderr(quiet()).spawn().unwrap();
    let v = crate::mcp::client(&h, "mailbox_wait", &[("DROPPED_ID", "D1")]);
    serving.kill().unwrap();
    serving.wait().unwrap();

    let pid = v["send_plugin"]["structured"]["id"].as_str().unwrap_or_else(|| panic!("{v}"));
    let ret = &v["wait_plugin"]["structured"];
    assert_eq!((ret["in_reply_to"].as_str(), ret["status"].as_str()), (Some(pid), Some("completed")), "{v}");
    assert_eq!(Some(ret), return_in(&inbox, pid).as_ref(), "answered from the Claude inbox");

    let aid = v["send_agent"]["structured"]["id"].as_str().unwrap();
    let pending = &v["wait_agent"]["structured"];
    assert_eq!((&pending["pending"], pending["id"].as_str()), (&json!(true), Some(aid)), "{pending}");
    assert!(pending["expected"].as_str().unwrap().contains(&inbox.display().to_string()), "{pending}");
    assert!(pending["message"].as_str().unwrap().contains(aid), "{pending}");

    let dropped = &v["wait_dropped"]["structured"];
    assert_eq!((dropped["in_reply_to"].as_str(), dropped["status"].as_str()), (Some("D1"), Some("completed")), "{v}");
    assert!(!h.root.join("handoffs/alpha").exists(), "no folder handoffs/alpha/ is made");
}

/// Issue 49 over A2A, through the official SDK: a message whose `metadata.reply_to` is
/// `TEAM/AGENT` runs, its RETURN goes into that Claude inbox, and the blocking send answers the
/// final state from there; an unknown team agent is refused before anything is written; a TASK
/// from a team's agent canceled over A2A has its `canceled` RETURN delivered into its inbox,
/// with a receipt.
#[test]
fn a2a_answers_and_cancels_into_a_team_agents_claude_inbox() {
    let (h, teams, _) = mailbox_home();
    let inbox = teams.join("alpha/inboxes/worker.json");
    let task = json!({"schema": "baton.handoff/v1", "id": "K1", "kind": "task", "created_at": "2026-01-18T07:09:51Z",
                      "from": "alpha/worker", "to": "bob", "title": "Tidy the changelog"});
    write(&h.dir("bob", "01_inbox").join("20260118T070951Z__TASK__Tidy__worker.json"), &task.to_string());
    let key = crate::dashboard::rotate_key(&h);
    let s = crate::dashboard::Serve::start(&h);
    let out = crate::a2a::client(&h, &s, &key, &["team", "alpha/worker", "K1"]);

    let done = &out["blocking"];
    assert_eq!(done["status"]["state"], "TASK_STATE_COMPLETED", "{out}");
    let ret = return_in(&inbox, done["id"].as_str().unwrap()).unwrap_or_else(|| panic!("no RETURN in {inbox:?}"));
    assert_eq!(ret["status"], "completed");
    assert!(out["unknown"]["message"].as_str().unwrap().contains("alpha/nobody"), "{out}");

    assert_eq!(out["canceled"]["status"]["state"], "TASK_STATE_CANCELED", "{out}");
    assert_eq!(out["get_canceled"]["status"]["state"], "TASK_STATE_CANCELED", "{out}");
    let canceled = return_in(&inbox, "K1").unwrap_or_else(|| panic!("no canceled RETURN in {inbox:?}"));
    assert_eq!(canceled["status"], "canceled");
    assert_eq!(std::fs::read_dir(h.dir("bob", "02_processed")).unwrap().count(), 1, "the TASK is filed");
    assert_eq!(h.json(&["show", "K1", "--json"])["delivery"], "written");
    assert!(!h.root.join("handoffs/alpha").exists(), "no folder handoffs/alpha/ is made");
}

/// Issue 77 over A2A, through the official SDK: `agent:TEAM/AGENT` is a skill. The message
/// goes into that teammate's Claude inbox from `a2a` (a cm- id, recorded like any delivery);
/// the task is SUBMITTED while written, WORKING once Claude Code noticed it, and COMPLETED with
/// the teammate's message back to `a2a` as its answer. An unknown teammate and a data part are
/// refused, nothing delivered.
#[test]
fn a2a_sends_a_message_to_a_teammate_and_its_answer_completes_the_task() {
    let (h, teams, _) = mailbox_home();
    let inbox = teams.join("alpha/inboxes/worker.json");
    let back = teams.join("alpha/inboxes/a2a.json");
    let before = messages(&inbox).len();
    let key = crate::dashboard::rotate_key(&h);
    let s = crate::dashboard::Serve::start(&h);
    let out = crate::a2a::client(
        &h,
        &s,
        &key,
        &["teammate", "alpha/worker", inbox.to_str().unwrap(), back.to_str().unwrap()],
    );
    let sent = &out["sent"];
    let id = sent["id"].as_str().unwrap();
    assert!(id.starts_with("cm-"), "{out}");
    assert_eq!(sent["status"]["state"], "TASK_STATE_SUBMITTED", "{out}");
    assert_eq!(sent["metadata"]["baton"]["delivery"], "written", "{out}");
    let delivered = messages(&inbox);
    assert_eq!(delivered.len(), before + 1, "one message: {delivered:?}");
    let m = delivered.last().unwrap();
    assert_eq!(
        (m["from"].as_str(), m["text"].as_str(), m["summary"].as_str()),
        (Some("a2a"), Some("Review the lexer\nIt is in src/lex.rs."), None),
        "{m}"
    );
    assert_eq!(out["noticed"]["status"]["state"], "TASK_STATE_WORKING", "{out}");
    assert_eq!(out["noticed"]["metadata"]["baton"]["delivery"], "noticed", "{out}");
    let done = &out["answered"];
    assert_eq!(done["status"]["state"], "TASK_STATE_COMPLETED", "{out}");
    assert_eq!(done["status"]["message"]["parts"][0]["text"], "Reviewed: two comments on line 40.", "{out}");
    assert_eq!(done["history"][0]["parts"][0]["text"], "Review the lexer\nIt is in src/lex.rs.", "{out}");
    assert!(out["listed"].as_array().unwrap().iter().any(|x| x == id), "{out}");
    assert_eq!(h.json(&["show", id, "--json"])["delivery"], "answered");
    assert!(out["unknown"]["message"].as_str().unwrap().contains("no agent \"nobody\" in team \"alpha\""), "{out}");
    assert!(out["data"]["message"].as_str().unwrap().contains("takes text"), "{out}");
    assert!(out["reply_to"]["message"].as_str().unwrap().contains("reply_to does not fit"), "{out}");
    assert_eq!(messages(&inbox).len(), before + 1, "the refused sends delivered nothing");
}

/// Issue 49: `baton reply` on a TASK from `TEAM/AGENT` delivers the RETURN into that agent's
/// Claude inbox under Claude Code's lock, once, with a receipt; a second reply is refused and
/// appends nothing.
#[test]
fn reply_to_a_task_from_a_team_agent_is_delivered_into_its_claude_inbox() {
    let (h, teams, _) = mailbox_home();
    let inbox = teams.join("alpha/inboxes/worker.json");
    let before = messages(&inbox).len();
    let task = json!({"schema": "baton.handoff/v1", "id": "R1", "kind": "task", "created_at": "2026-01-18T07:09:51Z",
                      "from": "alpha/worker", "to": "bob", "title": "Review the parser"});
    write(&h.dir("bob", "01_inbox").join("20260118T070951Z__TASK__Review__worker.json"), &task.to_string());
    let out = h.run(&["reply", "R1", "--status", "completed", "--summary", "Reviewed; two comments", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["delivery"], "written", "{r}");
    assert_eq!(r["file"], json!(inbox), "{r}");
    let after = messages(&inbox);
    assert_eq!(after.len(), before + 1, "{after:?}");
    let m = after.last().unwrap();
    assert_eq!((m["from"].as_str(), m["read"].as_bool()), (Some("bob"), Some(false)), "{m}");
    let ret = return_in(&inbox, "R1").unwrap();
    assert_eq!((ret["status"].as_str(), ret["summary"].as_str()), (Some("completed"), Some("Reviewed; two comments")));
    assert_eq!(
        r["message"].as_str(),
        Some(
            baton_mailbox::claude::message_id(
                "alpha/worker",
                "bob",
                m["timestamp"].as_str().unwrap(),
                m["text"].as_str().unwrap()
            )
            .as_str()
        )
    );
    assert!(!teams.join("alpha/inboxes/worker.json.lock").exists(), "the lock is released");
    assert_eq!(std::fs::read_dir(h.dir("bob", "02_processed")).unwrap().count(), 1, "the TASK is filed");
    assert_eq!(h.json(&["show", "R1", "--json"])["delivery"], "written");
    set_read(&inbox, m["text"].as_str().unwrap());
    assert_eq!(h.json(&["show", "R1", "--json"])["delivery"], "noticed");

    let again = h.run(&["reply", "R1", "--status", "failed", "--summary", "again"]);
    assert_ne!(again.status.code(), Some(0));
    assert!(stderr(&again).contains("already answered"), "{}", stderr(&again));
    assert_eq!(messages(&inbox).len(), before + 1, "nothing appended by the refused reply");
    // Claude Code cleared the inbox: a refused reply still appends nothing (no second delivery).
    claude_code_does(&inbox, ClaudeCode::Clears);
    assert_ne!(h.run(&["reply", "R1", "--status", "failed", "--summary", "again"]).status.code(), Some(0));
    assert_eq!(messages(&inbox), Vec::<Value>::new(), "the journal's delivery is not made again");
    assert!(!h.root.join("handoffs/alpha").exists(), "no folder handoffs/alpha/ is made");
}

/// Issue 49: a schema-invalid file whose `from` is a known `TEAM/AGENT` gets its rejection as
/// a message in that agent's Claude inbox (with a receipt under the id it named); an unknown
/// one gets none and the rejection says so. A loose-dialect handoff from a team's agent is told
/// a `send` command with that name, never that it is "not an agent name".
#[test]
fn rejections_of_files_from_team_agents_reach_their_claude_inbox_or_say_why_not() {
    let (h, teams, _) = mailbox_home();
    let inbox = teams.join("alpha/inboxes/worker.json");
    let invalid = |id: &str, from: &str| {
        json!({"schema": "baton.handoff/v1", "id": id, "kind": "task", "from": from, "title": "no created_at, no plugin"})
            .to_string()
    };
    h.drop_file("20260118T070951Z__TASK__Bad-B1__worker.json", invalid("B1", "alpha/worker"));
    h.drop_file("20260118T070951Z__TASK__Bad-B2__worker.json", invalid("B2", "beta/worker"));
    let loose = json!({"source_agent": "alpha/worker", "target_agent": "alpha/team-lead", "title": "Fix the bug",
                       "required_action": "fix it"});
    h.drop_file("fix-the-bug.json", loose.to_string());
    h.ok(&["serve", "--once"]);

    // A file that is no TASK is answered by its file's name.
    let rejection = return_in(&inbox, "20260118T070951Z__TASK__Bad-B1__worker.json")
        .unwrap_or_else(|| panic!("no rejection in {:?}", messages(&inbox)));
    assert_eq!(rejection["status"], "rejected", "{rejection}");
    assert!(rejection["summary"].as_str().unwrap().contains("missing `created_at`"), "{rejection}");
    assert_eq!(h.json(&["show", "B1", "--json"])["delivery"], "written");

    assert!(!teams.join("beta").exists());
    let b2 = h.json(&["show", "B2", "--json"]);
    let refused = b2["events"].as_array().unwrap().iter().find(|e| e["event"] == "rejected_unparsed").cloned();
    let why = refused.map(|e| e["detail"]["error"]["message"].as_str().unwrap_or_default().to_string());
    let why = why.unwrap_or_else(|| panic!("{b2}"));
    assert!(why.contains("No RETURN was sent") && why.contains("\"beta/worker\""), "{why}");
    assert!(why.contains("baton mailbox add claude-team"), "{why}");

    let told = return_in(&inbox, "fix-the-bug.json")
        .unwrap_or_else(|| panic!("the loose handoff's rejection reached alpha/worker: {:?}", messages(&inbox)));
    let told = told["summary"].as_str().unwrap();
    assert!(told.contains("--to alpha/team-lead") && told.contains("--from alpha/worker"), "{told}");
    assert!(!told.contains("cannot be an agent name"), "{told}");
    assert_eq!(messages(&inbox).len(), 3, "B1's and the loose file's rejections, nothing for B2");
    assert!(!h.root.join("handoffs/alpha").exists(), "no folder handoffs/alpha/ is made");
}

/// Issue 77: a Claude Code teammate works through baton as itself. `TEAM/AGENT` is a sender
/// everywhere: a teammate's message to its own team is written with the plain name, as Claude
/// Code writes it (another team's sender keeps its team); a TASK from a teammate to a plugin is
/// a file whose name holds no `/`, answered into the teammate's Claude inbox; `inbox
/// TEAM/AGENT` lists its messages with their `cm-` ids; `ack cm-…` says what it acknowledged.
#[test]
fn a_teammate_sends_as_itself_and_reads_its_own_inbox() {
    let (h, teams, _) = mailbox_home();
    let worker = teams.join("alpha/inboxes/worker.json");
    let lead = teams.join("alpha/inboxes/team-lead.json");
    let id = last_line(&h.ok(&["send", "--from", "alpha/team-lead", "--to", "alpha/worker", "--body", "Ship it."]));
    let m = messages(&worker).pop().unwrap();
    assert_eq!((m["from"].as_str(), m["text"].as_str()), (Some("team-lead"), Some("Ship it.")), "the plain name: {m}");
    h.ok(&["send", "--from", "beta/reviewer", "--to", "alpha/worker", "--body", "From next door."]);
    assert_eq!(messages(&worker).pop().unwrap()["from"], "beta/reviewer", "another team's sender keeps its team");

    // A TASK from a teammate to a plugin: a file name without a slash, answered in its inbox.
    let before = messages(&lead).len();
    let sent = h.json(&[
        "send",
        "--from",
        "alpha/team-lead",
        "--plugin",
        "echo",
        "--action",
        "echo",
        "--params",
        "{}",
        "--json",
    ]);
    let file = sent["file"].as_str().unwrap();
    assert!(file.ends_with("__alpha+team-lead.json"), "{file}");
    assert!(Path::new(file).parent().unwrap().ends_with("handoffs/baton/01_inbox"), "{file}");
    h.ok(&["serve", "--once"]);
    let after = messages(&lead);
    assert_eq!(after.len(), before + 1, "one RETURN message: {after:?}");
    let ret: Value = serde_json::from_str(after.last().unwrap()["text"].as_str().unwrap()).unwrap();
    assert_eq!((ret["in_reply_to"].as_str(), ret["status"].as_str()), (sent["id"].as_str(), Some("completed")));
    assert_eq!(ret["to"], "alpha/team-lead");

    // Its inbox, as the teammate reads it: every message with its id and state.
    let listed = h.json(&["inbox", "alpha/worker", "--json", "--all"]);
    assert_eq!(listed["agent"], "alpha/worker");
    let items = listed["handoffs"].as_array().unwrap();
    let mine = items.iter().find(|i| i["id"] == id.as_str()).unwrap_or_else(|| panic!("{id} in {listed}"));
    assert_eq!(
        (mine["state"].as_str(), mine["kind"].as_str(), mine["from"].as_str()),
        (Some("unread"), Some("message"), Some("team-lead"))
    );
    let lead_items = h.json(&["inbox", "alpha/team-lead", "--json"]);
    let r = lead_items["handoffs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "return")
        .expect("the RETURN is listed");
    assert_eq!(r["in_reply_to"], sent["id"]);
    // Only unread ones without --all; the text form names the inbox.
    let text = String::from_utf8_lossy(&h.ok(&["inbox", "alpha/worker"]).stdout).into_owned();
    assert!(text.starts_with("alpha/worker: 2 unread in "), "{text}");
    assert!(text.contains(&id), "{text}");

    // Acknowledged in the ledger, said as a message (not "RETURN for ").
    let seen_id = lead_items["handoffs"][0]["id"].as_str().unwrap().to_string();
    h.ok(&["status", "--json"]); // records the mailbox's messages
    let out = String::from_utf8_lossy(&h.ok(&["ack", &seen_id]).stdout).into_owned();
    assert!(out.contains("a message in alpha/team-lead's mailbox") && !out.contains("RETURN for )"), "{out}");
}

/// A transcript line as Claude Code writes one: `kind` is `user` (what the model received) or
/// `assistant` (what it wrote).
fn transcript_line(kind: &str, at: &str, from: &str, text: &str) -> String {
    let content = format!("<teammate-message teammate_id=\"{from}\" color=\"blue\">\n{text}\n</teammate-message>");
    let message = if kind == "user" {
        json!({"role": "user", "content": content})
    } else {
        json!({"role": "assistant", "content": [{"type": "text", "text": format!("Human: {content}")}]})
    };
    format!("{}\n", json!({"type": kind, "timestamp": at, "sessionId": "s1", "message": message}))
}

fn append(path: &Path, s: &str) {
    use std::io::Write;
    std::fs::OpenOptions::new().append(true).open(path).unwrap().write_all(s.as_bytes()).unwrap();
}

fn now_plus(secs: i64) -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::seconds(secs);
    t.format(&time::format_description::well_known::Rfc3339).unwrap()
}

/// Issue 77: receipts say only what happened. Claude Code's `read` flag is `noticed`; `seen`
/// rests on a `user` line of the recipient's transcript (found by its sidecar, in a project
/// folder that is not the team's cwd) carrying the message, written after the delivery; the
/// model's own assistant line quoting it is no delivery. A 50 MB transcript is read from where
/// it stood at the delivery, not whole. `wait --until seen` ends on it; `status` lists as
/// UNSEEN what was noticed while the transcript moved on without it.
#[test]
fn receipts_are_noticed_then_seen_from_the_recipients_transcript() {
    let (h, teams, _) = mailbox_home();
    let claude = teams.parent().unwrap();
    let sub = claude.join("projects/-home-u-elsewhere/3f9a0c12-1111-4222-8333-444455556666/subagents");
    std::fs::create_dir_all(&sub).unwrap();
    write(
        &sub.join("agent-a7.meta.json"),
        r#"{"agentType": "worker", "name": "worker", "teamName": "alpha", "taskKind": "in_process_teammate"}"#,
    );
    let transcript = sub.join("agent-a7.jsonl");
    // 50 MB of earlier work, none of it a delivery of this message.
    let filler = transcript_line("user", "2026-01-01T00:00:00.000Z", "team-lead", &"x".repeat(4000));
    let mut big = String::with_capacity(51 << 20);
    while big.len() < 50 << 20 {
        big.push_str(&filler);
    }
    std::fs::write(&transcript, &big).unwrap();
    let inbox = teams.join("alpha/inboxes/worker.json");
    let id =
        last_line(&h.ok(&["send", "--from", "alpha/team-lead", "--to", "alpha/worker", "--body", "Review the lexer."]));
    let shown = h.json(&["show", &id, "--json"]);
    assert_eq!(shown["delivery"], "written", "{shown}");
    set_read(&inbox, "Review the lexer.");
    assert_eq!(h.json(&["show", &id, "--json"])["delivery"], "noticed");
    // The model's own words quoting the message: still only noticed.
    append(&transcript, &transcript_line("assistant", &now_plus(1), "team-lead", "Review the lexer."));
    assert_eq!(h.json(&["show", &id, "--json"])["delivery"], "noticed");
    let w = h.run(&["wait", &id, "--until", "seen", "--timeout", "0.5"]);
    assert_eq!(w.status.code(), Some(124), "not seen yet");
    // The user line that delivered it, at the end of the 50 MB.
    let at = now_plus(2);
    append(&transcript, &transcript_line("user", &at, "team-lead", "Review the lexer."));
    let w = h.run(&["wait", &id, "--until", "seen", "--timeout", "10", "--json"]);
    assert_eq!(w.status.code(), Some(0), "{}", String::from_utf8_lossy(&w.stderr));
    let got: Value = serde_json::from_slice(&w.stdout).unwrap();
    assert_eq!((got["delivery"].as_str(), got["seen_at"].as_str()), (Some("seen"), Some(at.as_str())), "{got}");
    assert_eq!(got["transcript"], json!(transcript));
    let shown = h.json(&["show", &id, "--json"]);
    assert_eq!((shown["delivery"].as_str(), shown["seen_at"].as_str()), (Some("seen"), Some(at.as_str())));
    let events: Vec<&str> = shown["events"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(events.iter().filter(|e| **e == "delivery_seen").count(), 1, "recorded once: {events:?}");
    assert_eq!(events.iter().filter(|e| **e == "delivery_noticed").count(), 1, "{events:?}");
    // The transcript was read from where it stood at the delivery: the delivery kept that
    // offset (50 MB in), and the look's cursor went on from it.
    let delivered = shown["events"].as_array().unwrap().iter().find(|e| e["event"] == "delivered").unwrap();
    assert!(delivered["detail"]["transcript_offset"].as_u64().unwrap() >= 50 << 20, "{delivered}");

    // A second message: noticed, while the transcript moves on without it, for longer than
    // `unseen_after` (1 s here): UNSEEN in status.
    let cfg = h.root.join("baton.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replacen("\nhandoffs = \"handoffs\"", "\nhandoffs = { path = \"handoffs\", unseen_after = 1 }", 1),
    )
    .unwrap();
    let id2 = last_line(&h.ok(&["send", "--from", "alpha/team-lead", "--to", "alpha/worker", "--body", "Second."]));
    set_read(&inbox, "Second.");
    std::thread::sleep(Duration::from_millis(1500));
    append(&transcript, &transcript_line("user", &now_plus(1), "someone-else", "unrelated"));
    let status = h.json(&["status", "--json"]);
    let unseen: Vec<&str> = status["unseen"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert_eq!(unseen, [id2.as_str()], "{}", status["unseen"]);
    // The recipient's counts: of baton's two deliveries (both noticed), one seen by its model.
    let worker = &agent(&status, "alpha/worker")["counts"];
    assert_eq!(worker["seen"].as_u64(), Some(1), "{worker}");
    assert_eq!(agent(&status, "alpha/team-lead")["counts"]["seen"], 0, "{status}");
    let text = String::from_utf8_lossy(&h.ok(&["status"]).stdout).into_owned();
    assert!(text.contains(&format!("UNSEEN  \"{id2}\"")), "{text}");
}

/// `baton reply cm-…`: a teammate answers a message in its Claude inbox. The answer is one
/// message in the sender's inbox, from the plain name inside the team, and the first message's
/// receipt goes to `answered` once noticed (no transcripts here). An unknown id says where the
/// ids are listed.
#[test]
fn a_teammate_answers_a_message_with_reply() {
    let (h, teams, _) = mailbox_home();
    let body = "Can you take the lexer?";
    let id = last_line(&h.ok(&["send", "--from", "alpha/team-lead", "--to", "alpha/worker", "--body", body]));
    let lead_inbox = teams.join("alpha/inboxes/team-lead.json");
    let before: Vec<Value> = serde_json::from_slice(&std::fs::read(&lead_inbox).unwrap()).unwrap();
    let answer = last_line(&h.ok(&["reply", &id, "--status", "completed", "--summary", "Yes, on it."]));
    assert!(answer.starts_with("cm-") && answer != id, "{answer}");
    let after: Vec<Value> = serde_json::from_slice(&std::fs::read(&lead_inbox).unwrap()).unwrap();
    assert_eq!(after.len(), before.len() + 1, "{after:?}");
    let last = after.last().unwrap();
    assert_eq!((last["from"].as_str(), last["text"].as_str()), (Some("worker"), Some("Yes, on it.")), "{last}");
    assert_eq!(h.json(&["show", &answer, "--json"])["delivery"], "written");
    set_read(&teams.join("alpha/inboxes/worker.json"), body);
    assert_eq!(h.json(&["show", &id, "--json"])["delivery"], "answered");
    let bad = h.run(&["reply", "cm-0123456789abcdef0123", "--status", "completed", "--summary", "x"]);
    assert_eq!(bad.status.code(), Some(2), "{}", String::from_utf8_lossy(&bad.stderr));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("baton inbox TEAM/AGENT"));
}

/// Every file's mtime set three days back, so a touch by a reader would show.
fn age(root: &Path) {
    let old = SystemTime::now() - Duration::from_secs(3 * 86_400);
    for p in snapshot(root).keys() {
        std::fs::File::open(p).unwrap().set_modified(old).unwrap();
    }
}

fn names_of(list: &Value, key: &str) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|x| x[key].as_str().unwrap().to_string())
        .collect()
}

/// A folder mailbox as agents keep them in the wild: the same task twice in one inbox, a
/// sender's outbox stub pointing at the recipient's copy, an outbox original with its edited
/// inbox copy, a JSON mailbox with its own read flags beside a lock registry, a status summary,
/// a template, a queue in a dot folder, shell-written manifests and a folder of no agent.
fn wild_boxes(boxes: &Path) {
    let task = "From: lead\nSubject: Rebuild the index\nDate: 2026-01-18 09:30\n\nPlease rebuild it tonight.\n";
    write(&boxes.join("agent_b/inbox/20260118-0930_task.md"), task);
    write(&boxes.join("agent_b/inbox/20260118-0930_task_2.md"), task);
    write(&boxes.join("agent_b/inbox/STATUS.txt"), "Inbox status\n1 open, 0 done\nlast sweep 2026-01-18 10:00\n");
    write(&boxes.join("agent_b/inbox/TEMPLATE_handoff.md"), "From: <agent>\nTo: <agent>\nSubject: <title>\n");
    write(&boxes.join("agent_b/inbox/.gitkeep"), "");
    write(
        &boxes.join("lead/outbox/20260118-0930_task.md"),
        "---\nfrom: lead\nto: agent_b\ndate: 2026-01-18 09:30\n---\nMirror of: ../../agent_b/inbox/20260118-0930_task.md\n",
    );
    write(
        &boxes.join("lead/outbox/review.md"),
        "From: lead\nTo: agent_c\nSubject: Review the parser\nDate: 2026-01-18 10:00\n\nv1\n",
    );
    write(
        &boxes.join("agent_c/inbox/review.md"),
        "From: lead\nTo: agent_c\nSubject: Review the parser\nDate: 2026-01-18 10:03\n\nv1 (edited by the copier)\n",
    );
    write(
        &boxes.join("agent_j/inbox/messages.json"),
        r#"[{"from": "lead", "text": "Ship 1", "timestamp": "2026-01-10T09:00:00Z", "read": true},
            {"from": "lead", "text": "Ship 2", "timestamp": "2026-01-11T09:00:00Z", "read": true},
            {"from": "lead", "text": "Ship 3", "timestamp": "2026-01-12T09:00:00Z", "status": "acked"},
            {"from": "lead", "text": "Ship 4", "timestamp": "2026-01-13T09:00:00Z", "read": false}]"#,
    );
    write(&boxes.join("agent_j/inbox/locks.json"), r#"{"src/parser.rs": {"holder": "agent_j", "since": 1768726800}}"#);
    write(&boxes.join("agent_q/inbox/.gitkeep"), "");
    write(&boxes.join("agent_q/.queue/handoff_0001.json"), r#"{"from": "lead", "subject": "Queued task"}"#);
    write(&boxes.join("agent_q/handoff_manifest.json"), r#"{"files": ["handoff_0001.json"]}"#);
    write(&boxes.join("requests/for-anyone.md"), "From: lead\nSubject: Who takes this?\n");
}

#[test]
fn one_message_is_one_item_its_own_read_flag_wins_and_nothing_is_left_unsaid() {
    let h = Home::init(&[], "");
    let boxes = h.root.parent().unwrap().join("wild");
    wild_boxes(&boxes);
    h.ok(&["mailbox", "add", "folders", boxes.to_str().unwrap(), "--zone", "UTC"]);
    age(&boxes);
    let before = snapshot(&boxes);
    let s = h.json(&["status", "--json"]);
    let text = String::from_utf8_lossy(&h.ok(&["status"]).stdout).into_owned();
    assert_eq!(snapshot(&boxes), before, "reading changed a mailbox file");

    // Two files with the same bytes: one message; the second is listed and not counted.
    let b = agent(&s, "agent_b");
    assert_eq!(b["counts"]["open"], 1, "{b}");
    assert_eq!(names_of(&b["open"], "file"), vec!["20260118-0930_task.md", "20260118-0930_task_2.md"]);
    assert_eq!(b["open"][0].get("duplicate_of"), None);
    assert_eq!(b["open"][1]["duplicate_of"], "inbox/20260118-0930_task.md");
    assert_eq!(b["counts"]["stale"], 1, "the duplicate is not stale on its own: {b}");
    // The status summary and the template are no messages, each said once.
    assert_eq!(names_of(&b["skipped"], "file"), vec!["inbox/STATUS.txt", "inbox/TEMPLATE_handoff.md"]);
    assert!(b["skipped"][1]["reason"].as_str().unwrap().contains("template"), "{b}");
    assert_eq!(b["counts"]["unreadable"], 0);

    // The outbox stub points at agent_b's copy; the outbox original at agent_c's edited copy.
    let lead = agent(&s, "lead");
    assert_eq!(lead["counts"]["sent"], 0, "{lead}");
    let sent = lead["sent"].as_array().unwrap();
    assert_eq!(sent.len(), 2);
    let copy_of = |file: &str| sent.iter().find(|x| x["file"] == file).unwrap()["copy_of"].clone();
    assert_eq!(copy_of("20260118-0930_task.md"), "agent_b/inbox/20260118-0930_task.md");
    assert_eq!(copy_of("review.md"), "agent_c/inbox/review.md");
    let c = agent(&s, "agent_c");
    assert_eq!(c["counts"]["open"], 1);
    assert_eq!(c["open"][0]["title"], "Review the parser");

    // The JSON mailbox's own flags: three dealt with, one open; the lock registry is no message.
    let j = agent(&s, "agent_j");
    assert_eq!((j["counts"]["done"].as_u64(), j["counts"]["open"].as_u64()), (Some(3), Some(1)), "{j}");
    assert_eq!(j["open"][0]["title"], "Ship 4");
    assert_eq!(names_of(&j["skipped"], "file"), vec!["inbox/locks.json"]);

    // Nothing unlisted: the queue in a dot folder (with the fix), the manifest, the stray folder.
    let m = s["mailboxes"].as_array().unwrap().iter().find(|m| m["name"] == "wild").unwrap();
    let not_read: Vec<String> = names_of(&m["not_read"], "path")
        .iter()
        .map(|p| Path::new(p).strip_prefix(&boxes).unwrap().display().to_string())
        .collect();
    assert_eq!(not_read, vec!["agent_q/.queue", "agent_q/handoff_manifest.json", "requests"]);
    assert_eq!(m["not_read"][0]["fix"], r#"inbox = ["inbox", ".queue"]"#);
    assert!(m["not_read"][0]["reason"].as_str().unwrap().contains("handoff_0001.json"), "{m}");
    assert!(text.contains("3 not read"), "{text}");
    assert!(text.contains("agent_b: 1 open, 0 done, 0 sent, 1 stale, 0 unreadable, 2 not messages"), "{text}");
    assert!(!text.contains("task_2.md"), "a duplicate is not listed as open work: {text}");
}

/// A message as mcp_agent_mail's `write_message_bundle` writes it: `---json`, the front matter
/// (indent 2, keys sorted), `---`, a blank line, the body.
fn agent_mail_message(
    id: u64,
    from: &str,
    to: &[&str],
    cc: &[&str],
    subject: &str,
    created: &str,
    ack: bool,
) -> String {
    let fm = json!({
        "ack_required": ack, "attachments": [], "bcc": [], "cc": cc, "created": created, "from": from,
        "id": id, "importance": if ack { "high" } else { "normal" }, "project": "/src/app",
        "project_slug": "src-app", "subject": subject, "thread_id": format!("T-{id}"), "to": to,
    });
    format!("---json\n{}\n---\n\n{subject}: the details.\n", serde_json::to_string_pretty(&fm).unwrap())
}

/// Writes one message everywhere the archive keeps it (canonical, outbox, each inbox) and its
/// thread digest.
fn agent_mail_send(project: &Path, id: u64, from: &str, to: &[&str], cc: &[&str], subject: &str, ack: bool) {
    let created = format!("2026-01-18T09:{:02}:00.000000+00:00", id);
    let text = agent_mail_message(id, from, to, cc, subject, &created, ack);
    let slug: String =
        subject.to_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    let name = format!("2026-01-18T09-{:02}-00Z__{slug}__{id}.md", id);
    write(&project.join("messages/2026/01").join(&name), &text);
    write(&project.join(format!("agents/{from}/outbox/2026/01")).join(&name), &text);
    for r in to.iter().chain(cc) {
        write(&project.join(format!("agents/{r}/inbox/2026/01")).join(&name), &text);
    }
    write(&project.join(format!("messages/threads/T-{id}.md")), &format!("# Thread T-{id}\n\n### {subject}\n"));
}

fn agent_mail_archive(root: &Path) -> PathBuf {
    let app = root.join("projects/src-app");
    for (a, model) in [("GreenCastle", "opus"), ("BlueLake", "gpt-5-codex"), ("RedCat", "gemini")] {
        write(
            &app.join(format!("agents/{a}/profile.json")),
            &format!(
                r#"{{"id": 1, "name": "{a}", "program": "cli", "model": "{model}", "task_description": "parser"}}"#
            ),
        );
    }
    agent_mail_send(&app, 1, "GreenCastle", &["BlueLake"], &["RedCat"], "Plan the parser", true);
    agent_mail_send(&app, 2, "BlueLake", &["GreenCastle"], &[], "Plan ok", false);
    agent_mail_send(&app, 3, "GreenCastle", &["BlueLake", "RedCat"], &[], "Tests first", true);
    write(&app.join("file_reservations/0a1b2c.json"), r#"{"agent": "BlueLake", "path_pattern": "src/parser/*"}"#);
    write(&app.join(".gitattributes"), "*.json text\n*.md text\n");
    let docs = root.join("projects/docs");
    write(&docs.join("agents/Writer/profile.json"), r#"{"name": "Writer"}"#);
    write(&docs.join("agents/Editor/profile.json"), r#"{"name": "Editor"}"#);
    agent_mail_send(&docs, 1, "Writer", &["Editor"], &[], "Draft ready", false);
    app
}

#[test]
fn an_mcp_agent_mail_archive_is_read_from_its_files() {
    let h = Home::init(&[], "");
    let archive = h.root.parent().unwrap().join("mail-archive");
    let app = agent_mail_archive(&archive);
    age(&archive);
    let before = snapshot(&archive);
    // adopt recognises each project as an archive, not its agents as folder mailboxes.
    let adopt = h.json(&["adopt", archive.to_str().unwrap(), "--json"]);
    let kinds: Vec<String> = names_of(&adopt["unmatched"], "kind");
    assert_eq!(kinds, vec!["agent-mail", "agent-mail"], "{adopt}");
    assert!(adopt["unmatched"][1]["path"].as_str().unwrap().ends_with("projects/src-app"), "{adopt}");
    assert!(adopt["unmatched"][1]["table"].as_str().unwrap().contains("kind = \"agent-mail\""), "{adopt}");

    h.ok(&["mailbox", "add", "agent-mail", archive.to_str().unwrap(), "--name", "mail"]);
    let toml = std::fs::read_to_string(h.root.join("baton.toml")).unwrap();
    assert!(toml.contains("[mailboxes.mail]\nkind = \"agent-mail\""), "{toml}");
    let e = h.run(&["mailbox", "add", "agent-mail", archive.to_str().unwrap(), "--name", "m2", "--inbox", "in"]);
    assert_ne!(e.status.code(), Some(0), "an archive's layout is fixed");
    let s = h.json(&["status", "--json"]);
    let text = String::from_utf8_lossy(&h.ok(&["status"]).stdout).into_owned();
    assert_eq!(snapshot(&archive), before, "reading changed the archive");

    let mail: Vec<&Value> = s["agents"].as_array().unwrap().iter().filter(|a| a["mailbox"] == "mail").collect();
    let names: Vec<&str> = mail.iter().map(|a| a["agent"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["docs.Editor", "docs.Writer", "src-app.BlueLake", "src-app.GreenCastle", "src-app.RedCat"]);
    let counts = |name: &str| {
        let c = &agent(&s, name)["counts"];
        (c["open"].as_u64().unwrap(), c["sent"].as_u64().unwrap(), c["ack_required"].as_u64().unwrap())
    };
    assert_eq!(counts("src-app.GreenCastle"), (1, 2, 0));
    assert_eq!(counts("src-app.BlueLake"), (2, 1, 2));
    assert_eq!(counts("src-app.RedCat"), (2, 0, 2), "a cc'd agent has the message too");
    assert_eq!(counts("docs.Editor"), (1, 0, 0));
    let red = agent(&s, "src-app.RedCat");
    assert_eq!(red["kind"], "agent-mail");
    assert_eq!(red["profile"]["model"], "gemini");
    let plan = &red["open"][0];
    assert_eq!(plan["title"], "Plan the parser");
    assert_eq!((plan["from"].as_str(), plan["to"].as_str()), (Some("GreenCastle"), Some("BlueLake")));
    assert_eq!(plan["created_at"], "2026-01-18T09:01:00.000Z");
    assert_eq!((plan["ack_required"].as_bool(), plan["importance"].as_str()), (Some(true), Some("high")));
    assert_eq!(plan["thread_id"], "T-1");
    assert!(plan["path"].as_str().unwrap().contains("agents/RedCat/inbox/2026/01"), "{plan}");
    let green = agent(&s, "src-app.GreenCastle");
    let sent_plan = green["sent"].as_array().unwrap().iter().find(|x| x["title"] == "Plan the parser").unwrap();
    assert_eq!(sent_plan["id"], plan["id"], "one message, one id, wherever it is listed");
    assert_eq!(sent_plan.get("ack_required"), None);
    let m = s["mailboxes"].as_array().unwrap().iter().find(|m| m["name"] == "mail").unwrap();
    let not_read: Vec<String> = names_of(&m["not_read"], "path")
        .iter()
        .map(|p| Path::new(p).strip_prefix(&archive).unwrap().display().to_string())
        .collect();
    assert_eq!(
        not_read,
        vec![
            "projects/docs/messages/threads",
            "projects/src-app/messages/threads",
            "projects/src-app/file_reservations"
        ]
    );
    assert_eq!(s["unmatched"], json!([]), "the configured archive is read: {}", s["unmatched"]);
    assert!(text.contains("src-app.BlueLake: 2 open, 1 sent, 2 to acknowledge"), "{text}");

    // Acknowledged with baton, per recipient: RedCat's acknowledgement leaves BlueLake asked.
    let id = plan["id"].as_str().unwrap();
    let e = h.run(&["ack", id, "--agent", "src-app.GreenCastle"]);
    assert_ne!(e.status.code(), Some(0), "the sender is no recipient");
    assert!(stderr(&e).contains("src-app.BlueLake, src-app.RedCat"), "{}", stderr(&e));
    let one = h.json(&["ack", id, "--agent", "src-app.RedCat", "--json"]);
    assert_eq!(names_of(&one["acked"], "agent"), ["src-app.RedCat"], "{one}");
    let s = h.json(&["status", "--json"]);
    assert_eq!(agent(&s, "src-app.RedCat")["counts"]["ack_required"], 1);
    assert_eq!(agent(&s, "src-app.BlueLake")["counts"]["ack_required"], 2, "still asked of BlueLake");
    let red_plan = agent(&s, "src-app.RedCat")["open"].as_array().unwrap().iter().find(|i| i["id"] == id).cloned();
    assert_eq!(red_plan.unwrap().get("ack_required"), None);
    // Naming no recipient acknowledges it for every one that has not yet, each named.
    let rest = h.json(&["ack", id, "--json"]);
    assert_eq!(names_of(&rest["acked"], "agent"), ["src-app.BlueLake"], "{rest}");
    assert_eq!(names_of(&rest["already"], "agent"), ["src-app.RedCat"], "{rest}");
    let s = h.json(&["status", "--json"]);
    assert_eq!(agent(&s, "src-app.RedCat")["counts"]["ack_required"], 1);
    assert_eq!(agent(&s, "src-app.BlueLake")["counts"]["ack_required"], 1);
    assert_eq!(snapshot(&archive), before);
    // A table naming one project reads its agents without the prefix.
    h.ok(&["mailbox", "add", "agent-mail", app.to_str().unwrap(), "--name", "app"]);
    let s = h.json(&["status", "--json"]);
    let app_agents: Vec<&str> = s["agents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["mailbox"] == "app")
        .map(|a| a["agent"].as_str().unwrap())
        .collect();
    assert_eq!(app_agents, vec!["BlueLake", "GreenCastle", "RedCat"]);
}

fn mailbox_json<'a>(s: &'a Value, name: &str) -> &'a Value {
    s["mailboxes"].as_array().unwrap().iter().find(|m| m["name"] == name).unwrap()
}

/// An archive read through its index beside the state: an unchanged archive is read again from
/// the index and reads the same; a message edited (another size, or the same size within the
/// racy window) is read again, a deleted one disappears; a name with no agent folder is said;
/// `mailbox list` shows and clears `ack_required`; nothing in the archive changes.
#[test]
fn an_archive_is_read_through_its_index_and_nothing_is_left_unsaid() {
    let h = Home::init(&[], "");
    let archive = h.root.parent().unwrap().join("mail-archive");
    let app = archive.join("projects/src-app");
    write(&app.join("agents/GreenCastle/profile.json"), r#"{"name": "GreenCastle"}"#);
    write(&app.join("agents/BlueLake/profile.json"), r#"{"name": "BlueLake"}"#);
    // PurpleOwl is written to but has no folder (its inbox copy was never written).
    agent_mail_send(&app, 1, "GreenCastle", &["BlueLake"], &["PurpleOwl"], "Plan the parser", true);
    agent_mail_send(&app, 2, "BlueLake", &["GreenCastle"], &[], "Plan ok", false);
    std::fs::remove_dir_all(app.join("agents/PurpleOwl")).unwrap();
    age(&archive);
    h.ok(&["mailbox", "add", "agent-mail", archive.to_str().unwrap(), "--name", "mail"]);
    let before = snapshot(&archive);
    let first = h.json(&["status", "--json"]);
    let m = mailbox_json(&first, "mail");
    let index = PathBuf::from(m["index"]["file"].as_str().unwrap());
    assert!(index.is_file() && !index.starts_with(&archive), "{}", m["index"]);
    assert_eq!(m["index"]["files_read"], 4, "two canonical messages, two profiles: {}", m["index"]);
    let unlisted: Vec<&Value> = m["not_read"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["path"].as_str().unwrap().ends_with("PurpleOwl"))
        .collect();
    assert_eq!(unlisted.len(), 1, "{}", m["not_read"]);
    assert!(unlisted[0]["reason"].as_str().unwrap().contains("1 message(s)"), "{}", unlisted[0]);
    let text = String::from_utf8_lossy(&h.ok(&["status"]).stdout).into_owned();
    assert!(text.contains("2 not read"), "the thread digests and PurpleOwl: {text}");
    // What the index answers is what the files said (all but the ages, which move with the clock).
    let without_ages = |s: &Value| {
        s["agents"]
            .to_string()
            .split("\"age_secs\":")
            .map(|p| p.trim_start_matches(|c: char| c.is_ascii_digit()))
            .collect::<Vec<_>>()
            .join("")
    };
    let again = h.json(&["status", "--json"]);
    assert_eq!(without_ages(&again), without_ages(&first));
    assert_eq!(snapshot(&archive), before, "reading changed the archive");

    // `mailbox list` shows what is asked, and clears it once acknowledged.
    let list = h.json(&["mailbox", "list", "--json"]);
    let blue = list[0]["inboxes"].as_array().unwrap().iter().find(|a| a["agent"] == "src-app.BlueLake").unwrap();
    assert_eq!(blue["counts"]["ack_required"], 1, "{blue}");
    let id = blue["open"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(blue["open"][0]["ack_required"], true);
    let text = String::from_utf8_lossy(&h.ok(&["mailbox", "list"]).stdout).into_owned();
    assert!(text.contains("src-app.BlueLake: 1 open, 1 sent, 1 to acknowledge"), "{text}");
    assert!(text.contains(&format!("ACK REQUIRED (`baton ack {id} --agent src-app.BlueLake`)")), "{text}");
    h.ok(&["ack", &id, "--agent", "src-app.BlueLake"]);
    let list = h.json(&["mailbox", "list", "--json"]);
    let blue = list[0]["inboxes"].as_array().unwrap().iter().find(|a| a["agent"] == "src-app.BlueLake").unwrap();
    assert_eq!(blue["counts"]["ack_required"], 0, "{blue}");
    assert!(!String::from_utf8_lossy(&h.ok(&["mailbox", "list"]).stdout).contains("ACK REQUIRED"));

    // Edited in place (another size): read again.
    let canonical = |id: u64| {
        std::fs::read_dir(app.join("messages/2026/01"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().ends_with(&format!("__{id}.md")))
            .unwrap()
    };
    let title = |s: &Value| agent(s, "src-app.GreenCastle")["open"][0]["title"].as_str().unwrap().to_string();
    let text2 = std::fs::read_to_string(canonical(2)).unwrap();
    std::fs::write(canonical(2), text2.replace("\"Plan ok\"", "\"Plan ok, go ahead\"")).unwrap();
    let s = h.json(&["status", "--json"]);
    assert_eq!(title(&s), "Plan ok, go ahead");
    assert!(mailbox_json(&s, "mail")["index"]["files_read"].as_u64().unwrap() >= 1);
    // Edited again at once, keeping the size: inside the racy window, read again all the same.
    let text2 = std::fs::read_to_string(canonical(2)).unwrap();
    std::fs::write(canonical(2), text2.replace("go ahead", "GO AHEAD")).unwrap();
    assert_eq!(title(&h.json(&["status", "--json"])), "Plan ok, GO AHEAD");
    // Deleted (every copy): gone from every agent.
    for p in snapshot(&app).keys().filter(|p| p.to_string_lossy().ends_with("__2.md")) {
        std::fs::remove_file(p).unwrap();
    }
    let s = h.json(&["status", "--json"]);
    assert_eq!(agent(&s, "src-app.GreenCastle")["counts"]["open"], 0);
    let blue = &agent(&s, "src-app.BlueLake")["counts"];
    assert_eq!((blue["open"].as_u64(), blue["sent"].as_u64()), (Some(1), Some(0)), "{blue}");
}
