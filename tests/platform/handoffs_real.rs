//! The handoffs the user's agents already write, on the real tree in
//! `shared/realworld/handoffs/vibevessel/`, copied into temporary homes in both of its layouts
//! and driven through the real `baton` binary: per-agent tracking in `status --json`, links
//! from RETURNs to their HANDOFFs, unreadable files with their reasons, `adopt` and
//! `init --handoffs` changing nothing, and rejections in baton's own inbox that explain
//! themselves and go back to the sender their body names.
//!
//! The expected figures below were worked out by hand from the files (see each table).
use crate::support;
use crate::support::http;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use support::{BIN, Home, realworld};

fn tree() -> PathBuf {
    realworld().join("handoffs/vibevessel")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// Every file below `root` (relative path → SHA-256 of its bytes, and its mtime).
fn hashes(root: &Path) -> BTreeMap<String, (String, std::time::SystemTime)> {
    let mut out = BTreeMap::new();
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, (String, std::time::SystemTime)>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                walk(root, &p, out);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                let mtime = e.metadata().unwrap().modified().unwrap();
                out.insert(
                    p.strip_prefix(root).unwrap().to_string_lossy().into_owned(),
                    (hex::encode(Sha256::digest(&bytes)), mtime),
                );
            }
        }
    }
    walk(root, root, &mut out);
    out
}

/// A home with no baton.toml yet whose `handoffs/` is a copy of `src` (what a user who
/// copied their tree into a baton home has). Status needs no `init` for that.
struct Bare {
    _dir: tempfile::TempDir,
    home: PathBuf,
}

impl Bare {
    fn with_tree(src: &Path) -> Bare {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        copy_dir(src, &home.join("handoffs"));
        Bare { _dir: dir, home }
    }
    fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .arg("--home")
            .arg(&self.home)
            .args(args)
            .env_remove("BATON_STATE")
            .env("BATON_LOG", "warn")
            // The filed handoffs' readings are cached per user: this test's own.
            .env("XDG_CACHE_HOME", self._dir.path().join("cache"))
            .output()
            .unwrap()
    }
    fn json(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        assert!(out.status.success(), "baton {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

fn agent<'a>(status: &'a Value, folder: &str) -> &'a Value {
    status["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["folder"] == folder)
        .unwrap_or_else(|| panic!("no agent {folder} in {}", status["agents"]))
}

const STATES: [&str; 7] = ["open", "taken", "answered", "stale", "unread", "read", "unreadable"];

/// `agents[]` as (folder → counts in the order of [`STATES`]), checked against the lists.
fn counts(status: &Value) -> BTreeMap<String, [usize; 7]> {
    let mut out = BTreeMap::new();
    for a in status["agents"].as_array().unwrap() {
        let mut row = [0; 7];
        for (i, s) in STATES.iter().enumerate() {
            row[i] = a[s].as_array().unwrap_or_else(|| panic!("{s} missing in {a}")).len();
            assert_eq!(a["counts"][s], row[i], "{}: counts.{s}", a["folder"]);
        }
        out.insert(a["folder"].as_str().unwrap().to_string(), row);
    }
    out
}

fn entry<'a>(a: &'a Value, state: &str, file_part: &str) -> &'a Value {
    a[state]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["file"].as_str().unwrap().contains(file_part))
        .unwrap_or_else(|| panic!("no {state} entry {file_part} in {a}"))
}

/// Files on disk in one agent's `01_inbox/`.
fn inbox_files(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir.join("01_inbox"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// Files status lists as being in the agent's inbox (stale is a subset of open: not counted twice).
fn listed_in_inbox(a: &Value) -> BTreeSet<String> {
    ["open", "taken", "answered", "unread", "read", "unreadable"]
        .iter()
        .flat_map(|s| a[*s].as_array().unwrap().iter())
        .filter(|e| e["place"] == "01_inbox")
        .map(|e| e["file"].as_str().unwrap().to_string())
        .collect()
}

/// `agents/agent-triggers/` as a home's `handoffs/`: every agent, every state, by hand.
#[test]
fn the_agent_triggers_layout_is_tracked_per_agent_and_state() {
    let b = Bare::with_tree(&tree().join("agents/agent-triggers"));
    let before = hashes(&b.home.join("handoffs"));
    let status = b.json(&["status", "--json"]);
    // (open, taken, answered, stale, unread, read, unreadable), worked out from the files:
    // Claude-Code-Agent: 3 Markdown HANDOFFs in 01_inbox (open, all months old: stale);
    //   02_processed: DriveSheetsSync, Music-Workflow, Spotify taken; GAS-API-OAuth answered
    //   (the RETURN in Claude-MM1 names its file); System-Prompts is not JSON (bad `\` escape).
    // Claude-Code-Agent-Trigger: one Markdown HANDOFF, in 01_inbox and (a copy) 02_processed:
    //   listed once, as open.
    // Claude-MM1: 4 TASKs in 01_inbox (notion-access, scripts-db-sync, Protocol-v5, Webhook),
    //   3 RETURNs in 01_inbox (copies also in 02_processed: listed once, unread), 2 TASKs taken.
    // Claude-MM1-Agent: 2 TASKs in 01_inbox.
    // Codex-MM1: Webhook TASK and a RETURN in 01_inbox (copies in 02_processed);
    //   ACTIVE_TASK_CONTEXT (inbox) and ..._STALE (processed) name no sender or recipient.
    let expected: BTreeMap<String, [usize; 7]> = [
        ("Claude-Code-Agent", [3, 3, 1, 3, 0, 0, 1]),
        ("Claude-Code-Agent-Trigger", [1, 0, 0, 1, 0, 0, 0]),
        ("Claude-MM1", [4, 2, 0, 4, 3, 0, 0]),
        ("Claude-MM1-Agent", [2, 0, 0, 2, 0, 0, 0]),
        ("Codex-MM1", [1, 0, 0, 1, 1, 0, 2]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(counts(&status), expected, "{:#}", status["agents"]);

    // Nothing silent: every file in every 01_inbox/ is listed by name.
    for a in status["agents"].as_array().unwrap() {
        let dir = b.home.join("handoffs").join(a["folder"].as_str().unwrap());
        assert_eq!(listed_in_inbox(a), inbox_files(&dir), "{}", a["folder"]);
    }
    // Every entry carries its file, from, to, title, age and dialect.
    for a in status["agents"].as_array().unwrap() {
        for s in ["open", "taken", "answered", "unread"] {
            for e in a[s].as_array().unwrap() {
                for k in ["file", "from", "to", "title", "age", "age_secs", "dialect", "created_at"] {
                    assert!(e.get(k).is_some(), "{k} missing in {e}");
                }
            }
        }
    }

    // The RETURNs, linked where the files allow it.
    let mm1 = agent(&status, "Claude-MM1");
    let gas = entry(mm1, "unread", "GAS-API-OAuth-Credentials-Troubleshooting");
    assert_eq!(gas["linked_by"], "file", "{gas}");
    assert_eq!(gas["answers"]["folder"], "Claude-Code-Agent");
    assert_eq!(
        gas["answers"]["file"],
        "20260118T012700Z__HANDOFF__GAS-API-OAuth-Credentials-Troubleshooting__Claude-Code-Agent.json"
    );
    let gas_task = entry(agent(&status, "Claude-Code-Agent"), "answered", "GAS-API-OAuth");
    assert_eq!((&gas_task["linked_by"], &gas_task["answered_by"]["folder"]), (&json!("file"), &json!("Claude-MM1")));
    assert_eq!(gas_task["title"], "Google Apps Script API OAuth Credentials Troubleshooting and Fix");
    assert_eq!(gas_task["from"], Value::Null, "that TASK names only its `assigned_agent`");
    // The System-Prompts RETURN answers a TASK whose file is not JSON: linked by its file name.
    let sp = entry(mm1, "unread", "System-Prompts-Workflows-Integration-Gap-Analysis");
    assert_eq!(
        (&sp["answers"]["file"], &sp["linked_by"]),
        (
            &json!(
                "20260108T000000Z__HANDOFF__System-Prompts-Agent-Workflows-Integration-Gap-Analysis__Claude-Code-Agent.json"
            ),
            &json!("file")
        )
    );
    let sp_task = entry(agent(&status, "Claude-Code-Agent"), "unreadable", "System-Prompts");
    assert!(sp_task["reason"].as_str().unwrap().starts_with("not JSON: invalid escape"), "{sp_task}");
    assert_eq!(sp_task["answered_by"]["folder"], "Claude-MM1");
    // The Webhook RETURN (Claude Code → Codex MM1) answers no TASK in the tree: the Webhook
    // TASKs went from Codex to three other agents, none to Claude Code. It stays unlinked.
    for folder in ["Claude-MM1", "Codex-MM1"] {
        let w = entry(agent(&status, folder), "unread", "Webhook-Server-Progress-Review");
        assert!(w.get("answers").is_none() && w.get("linked_by").is_none(), "{w}");
        assert_eq!(
            (&w["from"], &w["to"], &w["kind"]),
            (&json!("Claude Code Agent"), &json!("Codex MM1 Agent"), &json!("return"))
        );
    }

    // Dialects and loose fields through the mapping table.
    let cca = agent(&status, "Claude-Code-Agent");
    let md = entry(cca, "open", "Unified-Desktop-Automation");
    assert_eq!(
        (&md["dialect"], &md["kind"], &md["from"], &md["to"]),
        (&json!("markdown"), &json!("task"), &json!("Cursor MM1 Agent"), &json!("Claude Code Agent"))
    );
    assert_eq!(
        (&md["title"], &md["id"]),
        (
            &json!("HANDOFF: Unified Desktop Automation System Implementation"),
            &json!("desktop-automation-unified-20260120")
        )
    );
    let spotify = entry(cca, "taken", "Spotify-Track-Fix");
    assert_eq!(
        (&spotify["dialect"], &spotify["from"], &spotify["id"]),
        (&json!("loose"), &json!("Cursor-MM1 Agent"), &json!("spotify-track-fix-issue2-resolution-20260108"))
    );
    let validation = entry(agent(&status, "Claude-MM1-Agent"), "open", "Agent-Work-Validation");
    assert_eq!(
        (&validation["id"], &validation["to"], &validation["created_at"]),
        (&json!("2e6e7361-6c27-81f3-validation"), &json!("Claude MM1 Agent"), &json!("2026-01-13T17:26:00Z"))
    );
    let scripts = entry(mm1, "open", "scripts-db-sync");
    assert_eq!(
        (&scripts["title"], &scripts["created_at"]),
        (&json!("Scripts DB sync + manifest for trigger folder/orchestrator scripts"), &json!("2025-12-18T22:59:32Z"))
    );
    let codex = agent(&status, "Codex-MM1");
    for f in ["ACTIVE_TASK_CONTEXT__Agent-Tasks.json", "ACTIVE_TASK_CONTEXT__Agent-Tasks__STALE.json"] {
        assert!(entry(codex, "unreadable", f)["reason"].as_str().unwrap().starts_with("no sender or recipient"));
    }
    assert_eq!(entry(codex, "open", "Webhook")["also_in_processed"], true);

    // Ambiguous names are listed, never guessed.
    let amb: BTreeMap<String, Value> = status["ambiguous"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["name"].as_str().unwrap().to_string(), a["folders"].clone()))
        .collect();
    assert_eq!(amb["Claude MM1 Agent"], json!(["Claude-MM1", "Claude-MM1-Agent"]));
    assert_eq!(amb["Claude Code Agent"], json!(["Claude-Code-Agent", "Claude-Code-Agent-Trigger"]));
    assert!(!amb.contains_key("Codex MM1 Agent"), "one folder folds to it: {amb:?}");

    // The text form says the same.
    let text = String::from_utf8(b.run(&["status"]).stdout).unwrap();
    assert!(
        text.contains("Claude-MM1 (Claude-MM1): 4 open (4 stale), 2 taken, 0 answered, 3 unread RETURNs, 0 unreadable"),
        "{text}"
    );
    assert!(text.contains("ACTIVE_TASK_CONTEXT__Agent-Tasks.json: no sender or recipient"), "{text}");

    // `[handoffs] stale_after`: with a long one nothing is stale, and nothing else moves.
    std::fs::write(b.home.join("baton.toml"), "[handoffs]\npath = \"handoffs\"\nstale_after = \"100000d\"\n").unwrap();
    let relaxed = b.json(&["status", "--json"]);
    for (folder, row) in counts(&relaxed) {
        let mut want = expected[&folder];
        want[3] = 0;
        assert_eq!(row, want, "{folder}");
    }
    assert_eq!(relaxed["handoffs"]["stale_after_secs"], 100_000u64 * 86_400);
    // A wrong key or duration in the table is named, with what the table takes.
    for (toml, says) in [
        ("[handoffs]\nstale = \"3d\"\n", "handoffs.stale"),
        ("[handoffs]\nstale_after = \"soon\"\n", "\"soon\" is not a duration"),
    ] {
        std::fs::write(b.home.join("baton.toml"), toml).unwrap();
        let out = b.run(&["status", "--json"]);
        assert!(
            !out.status.success() && String::from_utf8_lossy(&out.stderr).contains(says),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Only read: every file as it was.
    assert_eq!(hashes(&b.home.join("handoffs")), before);
}

/// Issue 77, "lists that scale": over thousands of filed handoffs in a dozen agents' folders,
/// `status` prints each agent's counts and one list of 20 (what needs a look first: an open
/// TASK older than everything filed still leads), and says how many more; `--all` and
/// `--limit N` list every one or N; `--json` keeps every item. The second look reads the
/// filed files' readings from the cache and says the same; a TASK filed since is counted.
#[test]
fn status_over_thousands_of_filed_handoffs_stays_short_and_complete() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("tree");
    let (agents, per) = (12usize, 150usize);
    let stamp = |n: usize| format!("2026-03-{:02}T{:02}:{:02}:00Z", 1 + n / 1440 % 28, n / 60 % 24, n % 60);
    for a in 0..agents {
        let (me, peer) = (format!("Agent-{a}"), format!("Agent-{}", (a + 1) % agents));
        let filed = src.join(&me).join("02_processed");
        std::fs::create_dir_all(&filed).unwrap();
        std::fs::create_dir_all(src.join(&me).join("01_inbox")).unwrap();
        for i in 0..per {
            let n = 100 + a * per + i;
            let body = json!({"schema": "baton.handoff/v1", "id": format!("T{a}-{i}"), "kind": "task",
                "created_at": stamp(n), "from": peer, "to": me, "title": format!("task {a}.{i}")});
            std::fs::write(filed.join(format!("t{i:04}.json")), body.to_string()).unwrap();
        }
        // The peer read this agent's answers to its first 10 TASKs, and filed them.
        let peer_filed = src.join(&peer).join("02_processed");
        std::fs::create_dir_all(&peer_filed).unwrap();
        for i in 0..10 {
            let body = json!({"schema": "baton.handoff/v1", "id": format!("R{a}-{i}"), "kind": "return",
                "created_at": stamp(5000 + a * per + i), "from": me, "to": peer, "title": format!("Re: task {a}.{i}"),
                "in_reply_to": format!("T{a}-{i}"), "status": "completed", "summary": "done"});
            std::fs::write(peer_filed.join(format!("r{a}-{i:04}.json")), body.to_string()).unwrap();
        }
    }
    // Needing a look: one open TASK, older than every filed one; and an unreadable file.
    let open = json!({"schema": "baton.handoff/v1", "id": "OPEN-1", "kind": "task", "created_at": stamp(0),
        "from": "Agent-1", "to": "Agent-0", "title": "still open"});
    std::fs::write(src.join("Agent-0/01_inbox/open.json"), open.to_string()).unwrap();
    std::fs::write(src.join("Agent-5/01_inbox/garbled.json"), "{ not json").unwrap();
    let b = Bare::with_tree(&src);
    let listed = (agents * per + 2) as u64; // every TASK and the unreadable file; filed RETURNs are counted

    let text = String::from_utf8(b.run(&["status"]).stdout).unwrap();
    assert!(text.lines().count() < 100, "{} lines:\n{text}", text.lines().count());
    assert!(text.contains("Agent-0 (Agent-0): 1 open (1 stale), 140 taken, 10 answered, 0 unread RETURNs, 0 unreadable, 10 read RETURNs (counted, not listed)"), "{text}");
    let items: Vec<&str> = text.lines().filter(|l| l.starts_with("    ")).collect();
    assert_eq!(items.len(), 20, "{text}");
    // First what needs a look, newest first: the unreadable file (its age is its mtime's),
    // then the stale TASK.
    assert!(
        items[0].contains("Agent-5/01_inbox/garbled.json") && items[0].trim_start().starts_with("unreadable"),
        "{text}"
    );
    assert!(items[1].contains("\"still open\"") && items[1].trim_start().starts_with("stale"), "{text}");
    // Then the newest filed one: the last TASK of the last agent.
    assert!(items[2].contains(&format!("\"task {}.{}\"", agents - 1, per - 1)), "{text}");
    assert!(text.contains(&format!("… {} more (`baton status --all` lists every one)", listed - 20)), "{text}");

    let all = String::from_utf8(b.run(&["status", "--all"]).stdout).unwrap();
    assert_eq!(all.lines().filter(|l| l.starts_with("    ")).count() as u64, listed);
    let five = String::from_utf8(b.run(&["status", "--limit", "5"]).stdout).unwrap();
    assert_eq!(five.lines().filter(|l| l.starts_with("    ")).count(), 5, "{five}");

    // JSON keeps every item.
    let status = b.json(&["status", "--json"]);
    let by_state = &status["handoffs"]["totals"]["by_state"];
    assert_eq!((by_state["taken"].as_u64(), by_state["answered"].as_u64()), (Some(1680), Some(120)), "{by_state}");
    let taken: usize = status["agents"].as_array().unwrap().iter().map(|a| a["taken"].as_array().unwrap().len()).sum();
    assert_eq!(taken, 1680);

    // From the cache, the same; a TASK filed since is counted at once.
    assert_eq!(String::from_utf8(b.run(&["status"]).stdout).unwrap(), text);
    std::fs::rename(
        b.home.join("handoffs/Agent-0/01_inbox/open.json"),
        b.home.join("handoffs/Agent-0/02_processed/open.json"),
    )
    .unwrap();
    let after = String::from_utf8(b.run(&["status"]).stdout).unwrap();
    assert!(after.contains("Agent-0 (Agent-0): 0 open (0 stale), 141 taken, 10 answered"), "{after}");
}

/// `Agent-Triggers/` (Markdown triggers only) as a home's `handoffs/`.
#[test]
fn the_markdown_trigger_layout_counts_triggers_as_tasks() {
    let b = Bare::with_tree(&tree().join("Agent-Triggers"));
    let status = b.json(&["status", "--json"]);
    // 01_inbox: audit-local-llm, create-unit-tests, execute-cross-workspace (the first two
    // also in 02_processed: listed once, open); 02_processed only: fix-wav, validate-drivesheetssync.
    let expected: BTreeMap<String, [usize; 7]> =
        [("Claude-Code-Agent-Trigger".to_string(), [3, 2, 0, 3, 0, 0, 0])].into_iter().collect();
    assert_eq!(counts(&status), expected, "{:#}", status["agents"]);
    let a = agent(&status, "Claude-Code-Agent-Trigger");
    assert_eq!(listed_in_inbox(a), inbox_files(&b.home.join("handoffs/Claude-Code-Agent-Trigger")));
    let audit = entry(a, "open", "audit-local-llm-stack");
    assert_eq!(audit["title"], "HANDOFF: Audit + Gap Analysis — Local LLM Stack (M2 Pro 16GB) Marketing Automation");
    assert_eq!(
        (&audit["from"], &audit["created_at"], &audit["dialect"]),
        (&json!("Cursor GPT-5.2 Agent"), &json!("2026-01-18T00:00:00Z"), &json!("markdown"))
    );
    assert_eq!(audit["also_in_processed"], true);
    let wav = entry(a, "taken", "fix-wav-file-handling-bug");
    assert_eq!(
        (&wav["title"], &wav["to"]),
        (
            &json!("AUDIT FOLLOW-UP: Fix WAV File Handling Bug in Fingerprint Remediation"),
            &json!("Claude-Code-Agent-Trigger")
        )
    );
}

/// `adopt` reports the whole tree (both layouts at once) and changes nothing; `init --handoffs`
/// uses it in place (nothing copied, nothing changed, only baton's own folder added); a tree
/// holding baton's state, or inside it, is refused.
#[test]
fn adopt_and_init_in_place_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("Dropbox/vibevessel");
    copy_dir(&tree(), &copy);
    let before = hashes(&copy);
    let home = dir.path().join("home");
    let baton = |args: &[&str]| {
        Command::new(BIN)
            .arg("--home")
            .arg(&home)
            .args(args)
            .env_remove("BATON_STATE")
            .env("BATON_LOG", "warn")
            .output()
            .unwrap()
    };

    let out = baton(&["adopt", copy.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(hashes(&copy), before, "adopt changed the tree");
    assert!(!home.exists(), "adopt created the home");
    let folders: Vec<&str> =
        report["agents"].as_array().unwrap().iter().map(|a| a["folder"].as_str().unwrap()).collect();
    assert_eq!(
        folders,
        [
            "Agent-Triggers/Claude-Code-Agent-Trigger",
            "agents/agent-triggers/Claude-Code-Agent",
            "agents/agent-triggers/Claude-Code-Agent-Trigger",
            "agents/agent-triggers/Claude-MM1",
            "agents/agent-triggers/Claude-MM1-Agent",
            "agents/agent-triggers/Codex-MM1",
        ]
    );
    // The two tests above, added up: 37 files, 8 of them copies in both folders → 29 listed.
    assert_eq!(
        report["handoffs"]["by_state"],
        json!({"open": 14, "taken": 7, "answered": 1, "stale": 14, "unread": 4, "unreadable": 3})
    );
    assert_eq!(report["handoffs"]["by_dialect"]["markdown"], json!({"open": 7, "taken": 2, "stale": 7}));
    assert_eq!(report["unreadable"].as_array().unwrap().len(), 3);
    assert_eq!(report["never_touched"].as_array().unwrap().len(), 6);
    assert_eq!(report["changed"], false);
    let text = baton(&["adopt", copy.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("nothing was changed"));
    assert_eq!(hashes(&copy), before);

    let out = baton(&["init", "--handoffs", copy.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let after = hashes(&copy);
    assert_eq!(after, before, "init --handoffs changed or added a file in the tree");
    let added: Vec<String> =
        std::fs::read_dir(&copy).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(
        added.iter().filter(|n| !["Agent-Triggers", "agents"].contains(&n.as_str())).collect::<Vec<_>>(),
        ["baton"]
    );
    assert!(!home.join("handoffs").exists(), "nothing copied into the home");
    let toml = std::fs::read_to_string(home.join("baton.toml")).unwrap();
    assert!(toml.contains(&format!("handoffs = {:?}", copy.canonicalize().unwrap().to_str().unwrap())), "{toml}");
    let status: Value = serde_json::from_slice(&baton(&["status", "--json"]).stdout).unwrap();
    assert_eq!(status["agents"].as_array().unwrap().len(), 6);
    assert_eq!(status["handoffs"]["totals"]["by_state"], report["handoffs"]["by_state"]);
    assert_eq!(hashes(&copy), before);

    // One agent's folder given as the root is that one agent.
    let one: Value = serde_json::from_slice(
        &baton(&["adopt", copy.join("agents/agent-triggers/Codex-MM1").to_str().unwrap(), "--json"]).stdout,
    )
    .unwrap();
    assert_eq!(
        (
            one["agents"].as_array().unwrap().len(),
            &one["agents"][0]["agent"],
            &one["agents"][0]["counts"]["unreadable"]
        ),
        (1, &json!("Codex-MM1"), &json!(2))
    );

    // Refused: a tree that holds baton's state, or lies under the state folder.
    let out = baton(&["adopt", home.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("holds baton's state folder"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let inside = home.join("state/tree");
    std::fs::create_dir_all(&inside).unwrap();
    let out = baton(&["adopt", inside.to_str().unwrap()]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("inside baton's state folder"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let other = dir.path().join("other-home");
    let out = Command::new(BIN)
        .arg("--home")
        .arg(&other)
        .args(["init", "--handoffs", home.to_str().unwrap()])
        .env_remove("BATON_STATE")
        .output()
        .unwrap();
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("holds a baton state"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Loose handoffs dropped into baton's own inbox: each rejection names what is missing in a
/// sentence or two, goes back to the sender the body names (never guessed between two
/// folders), shows the `baton send` command that would have worked; a RETURN is never answered;
/// status counts the rejections; `baton show` takes the file name.
#[test]
fn rejections_in_batons_inbox_explain_themselves() {
    let h = Home::init(&[], "");
    let record = |name: &str| -> Value {
        serde_json::from_slice(&std::fs::read(h.dir("baton", "03_failed").join(format!("{name}.error.json"))).unwrap())
            .unwrap()
    };
    let real = tree().join("agents/agent-triggers");
    std::fs::create_dir_all(h.dir("Claude-MM1", "01_inbox")).unwrap();
    // Another agent's inbox with two real loose TASKs: the observer records them (read only).
    copy_dir(&real.join("Claude-MM1-Agent"), &h.root.join("handoffs/Claude-MM1-Agent"));
    let mm1_agent = hashes(&h.root.join("handoffs/Claude-MM1-Agent"));
    let loose_name = "20260108T100000Z__HANDOFF__Spotify-Track-Fix-Issue2-Resolution__Claude-Code-Agent.json";
    let loose = std::fs::read(real.join("Claude-Code-Agent/02_processed").join(loose_name)).unwrap();
    assert!(loose.len() > 7000);
    h.drop_file(loose_name, &loose);
    let ret_name = "20260118T073354Z__RETURN__GAS-API-OAuth-Credentials-Troubleshooting__Claude-Code-Agent.json";
    h.drop_file(ret_name, std::fs::read(real.join("Claude-MM1/02_processed").join(ret_name)).unwrap());
    let amb_name = "20260115T215923Z__HANDOFF__From-MM1__Codex.json";
    h.drop_file(amb_name, json!({"source_agent": "Claude MM1 Agent", "target_agent": "Codex", "handoff_id": "x1", "required_action": "do it"}).to_string());
    let no_kind = "20260118T070000Z__TASK__No-Kind__Claude-Code-Agent.json";
    h.drop_file(
        no_kind,
        json!({"schema": "baton.handoff/v1", "id": "NOKIND-1", "created_at": "2026-01-18T07:00:00Z",
        "from": "Claude-Code-Agent", "title": "No kind", "plugin": "echo", "action": "echo", "params": {}})
        .to_string(),
    );
    // A RETURN-named symlink (refused as not a file) is not answered either.
    let link_name = "20260118T073400Z__RETURN__Linked__Claude-Code-Agent.json";
    std::os::unix::fs::symlink(h.root.join("baton.toml"), h.inbox().join(link_name)).unwrap();
    std::fs::write(h.inbox().join("notes.md"), "# A trigger dropped into baton's inbox\n").unwrap();
    h.ok(&["serve", "--once"]);
    assert_eq!(record(link_name)["code"], "not_a_file");

    // The loose TASK: its RETURN is in the folder of the sender its body names ("Cursor-MM1 Agent").
    let back = h.returns("Cursor-MM1-Agent");
    let ret = back.values().flatten().next().unwrap_or_else(|| panic!("no RETURN for Cursor-MM1-Agent: {back:?}"));
    assert_eq!(ret["status"], "rejected");
    let msg = ret["error"]["message"].as_str().unwrap();
    for field in ["`schema`", "`id`", "`kind`", "`created_at`", "`from`", "`title`"] {
        assert!(msg.contains(field), "{field} not named: {msg}");
    }
    assert!(!msg.contains("in_reply_to") && !msg.contains("summary"), "a TASK was told RETURN fields: {msg}");
    assert!(!msg.contains("COMPREHENSIVE") && msg.len() < 1200, "the document was echoed ({} bytes): {msg}", msg.len());
    assert!(msg.contains("loose dialect"), "{msg}");
    assert!(
        msg.contains("baton send --to Claude-Code-Agent --title 'Spotify Track Fix Issue2 Resolution' --body @")
            && msg.contains("--from Cursor-MM1-Agent"),
        "{msg}"
    );
    // No RETURN guesses between Claude-MM1 and Claude-MM1-Agent.
    for agent in ["Claude-MM1", "Claude-MM1-Agent", "Codex"] {
        assert!(h.returns(agent).is_empty(), "{agent} got {:?}", h.returns(agent));
    }
    // Claude-Code-Agent gets one RETURN: for its TASK without `kind` (told `kind` is missing,
    // not to add RETURN fields), none for the RETURN its file name also names.
    let cca: Vec<Value> = h.returns("Claude-Code-Agent").into_values().flatten().collect();
    assert_eq!(cca.len(), 1, "{cca:?}");
    assert!(cca[0]["error"]["message"].as_str().unwrap().contains("missing `kind`"), "{}", cca[0]);
    let nk_msg = record(no_kind)["message"].as_str().unwrap().to_string();
    assert!(
        nk_msg.contains("missing `kind`") && !nk_msg.contains("in_reply_to") && !nk_msg.contains("status"),
        "{nk_msg}"
    );
    let amb_msg = record(amb_name)["message"].as_str().unwrap().to_string();
    assert!(amb_msg.contains("Claude-MM1, Claude-MM1-Agent") && amb_msg.contains("never guessed"), "{amb_msg}");
    assert!(record(ret_name)["message"].as_str().unwrap().contains("It is a RETURN"));

    // Status counts and lists them; show takes the file name of a handoff that never parsed.
    let status = h.json(&["status", "--json"]);
    let observed: BTreeSet<&str> =
        status["open_handoffs"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(
        observed,
        BTreeSet::from([
            "2e6e7361-6c27-81f3-validation",
            "webhook-server-progress-review-claude-mm1-agent-20260115T215923Z"
        ])
    );
    assert_eq!(hashes(&h.root.join("handoffs/Claude-MM1-Agent")), mm1_agent, "another agent's folder was changed");
    assert_eq!(status["rejections"]["total"], 5, "{}", status["rejections"]);
    assert_eq!(status["rejections"]["counts"], json!({"invalid": 4, "not_a_file": 1}));
    let recent: BTreeSet<&str> =
        status["rejections"]["recent"].as_array().unwrap().iter().map(|r| r["file"].as_str().unwrap()).collect();
    assert_eq!(recent, BTreeSet::from([loose_name, ret_name, amb_name, no_kind, link_name]));
    assert_eq!(
        status["queue"]["ignored"],
        json!([{"file": "notes.md", "reason": "a Markdown trigger: baton runs JSON handoffs only (`baton send --to AGENT --title T --body @FILE` hands it to an agent)"}])
    );
    let text = String::from_utf8(h.ok(&["status"]).stdout).unwrap();
    assert!(text.contains("IGNORED notes.md: a Markdown trigger"), "{text}");
    assert!(text.contains("rejected by baton: 5 (invalid 4, not_a_file 1)"), "{text}");
    let shown = h.json(&["show", loose_name, "--json"]);
    assert_eq!(shown["error"]["code"], "invalid");
    assert!(shown["error"]["return"].as_str().unwrap().contains("__RETURN__"));
    let shown = String::from_utf8(h.ok(&["show", ret_name]).stdout).unwrap();
    assert!(shown.contains("never ran") && shown.contains("no RETURN was written"), "{shown}");
}

/// The dashboard lists the same tree as `status --json` (`GET /api/handoffs` → `between_agents`).
#[test]
fn the_dashboard_lists_the_agents_tree_as_status_does() {
    let h = Home::init(&[], "");
    copy_dir(&tree().join("agents/agent-triggers/Codex-MM1"), &h.root.join("handoffs/Codex-MM1"));
    let key = String::from_utf8(h.ok(&["key", "rotate"]).stdout).unwrap().trim().to_string();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut child = h
        .cmd(&["serve", "--http", &addr.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let auth = format!("Bearer {key}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let reply = loop {
        match http::request(addr, "GET", "/api/handoffs", None, &[("Authorization", auth.as_str())], b"") {
            Ok(r) if r.status == 200 => break r,
            _ if std::time::Instant::now() > deadline => panic!("no dashboard on {addr}"),
            _ => std::thread::sleep(std::time::Duration::from_millis(50)),
        }
    };
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
    let d = reply.json();
    let codex = agent(&d["between_agents"], "Codex-MM1");
    assert_eq!(
        codex["counts"],
        json!({"open": 1, "taken": 0, "answered": 0, "stale": 1, "unread": 1, "read": 0, "unreadable": 2})
    );
    assert_eq!(counts(&d["between_agents"]), counts(&h.json(&["status", "--json"])));
    let files = |v: &Value| -> BTreeSet<String> {
        codex["unreadable"]
            .as_array()
            .unwrap()
            .iter()
            .chain(v.as_array().unwrap())
            .map(|e| e["file"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        files(&codex["unread"]),
        BTreeSet::from([
            "ACTIVE_TASK_CONTEXT__Agent-Tasks.json".to_string(),
            "ACTIVE_TASK_CONTEXT__Agent-Tasks__STALE.json".into(),
            "20260118T071446Z__RETURN__Webhook-Server-Progress-Review__Claude-Code-Agent.json".into()
        ])
    );
}
