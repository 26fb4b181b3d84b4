//! End-to-end tests of plans audits through the real `baton` binary and the real `audit`
//! wasm plugin: the one-shot `baton audit`, and automatic audits in `baton serve`.
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::BIN;

use crate::support::renamed_repo;
use renamed_repo::renamed_repo;

fn baton(home: &Path, args: &[&str]) -> Output {
    let out = Command::new(BIN).arg("--home").arg(home).args(args).env("BATON_LOG", "warn").output().unwrap();
    assert!(out.status.success(), "baton {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// A repository and a plan promising five files: present, stub, missing, ambiguous, and a
/// falsely claimed one.
fn fixture(root: &Path) -> (PathBuf, PathBuf) {
    let plans = root.join("plans");
    let repo = root.join("repo");
    for d in ["dashboard", "core/a", "core/b"] {
        std::fs::create_dir_all(repo.join(d)).unwrap();
    }
    std::fs::create_dir_all(&plans).unwrap();
    std::fs::write(
        plans.join("DASHBOARD_PLAN.md"),
        "# Dashboard plan\n\n| Component | Expected Files | Status |\n|---|---|---|\n\
         | Dashboard | `dashboard_service.py`, `websocket_handler.py` | ✅ Complete |\n\
         | Logging | `metrics_logger.py` | pending |\n| Core | `util.py` | pending |\n",
    )
    .unwrap();
    std::fs::write(
        repo.join("dashboard/dashboard_service.py"),
        "def serve():\n    return 42\n\nclass Service:\n    def run(self):\n        return serve()\n",
    )
    .unwrap();
    std::fs::write(repo.join("dashboard/websocket_handler.py"), "def handle():\n    pass\n").unwrap();
    for d in ["core/a", "core/b"] {
        std::fs::write(repo.join(d).join("util.py"), "def helper(x):\n    return x * 2\n\nVALUE = helper(21)\n")
            .unwrap();
    }
    (plans, repo)
}

fn reports(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == ext)).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn inbox_files(home: &Path, agent: &str) -> Vec<PathBuf> {
    reports(&home.join("handoffs").join(agent).join("01_inbox"), "json")
}

#[test]
fn one_shot_audit_verifies_each_deliverable_and_reports_host_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    baton(&home, &["init"]);
    let (plans, repo) = fixture(tmp.path());
    let out = tmp.path().join("out");
    let args = [
        "audit",
        "--plans",
        plans.to_str().unwrap(),
        "--repo",
        repo.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--json",
    ];
    let v: Value = serde_json::from_slice(&baton(&home, &args).stdout).unwrap();
    let plan = &v["plans"][0];
    assert_eq!(plan["format"], "markdown");
    assert_eq!(plan["path"], plans.join("DASHBOARD_PLAN.md").to_str().unwrap(), "host path, not the guest mount");
    let status = |name: &str| -> Value {
        plan["deliverables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["path"] == name)
            .unwrap_or_else(|| panic!("{name} in {plan}"))
            .clone()
    };
    assert_eq!(status("dashboard_service.py")["status"], "present");
    let stub = status("websocket_handler.py");
    assert_eq!(stub["status"], "stub");
    assert!(stub["reason"].as_str().unwrap().contains("pass"), "{stub}");
    assert_eq!(status("metrics_logger.py")["status"], "missing");
    let ambiguous = status("util.py");
    assert_eq!(ambiguous["status"], "ambiguous");
    assert_eq!(ambiguous["candidates"].as_array().unwrap().len(), 2);
    // A plan written as a table: three rows, three tasks, one done (Dashboard): completion
    // 1/3; that done row's websocket_handler.py is a stub, so none is verified.
    assert_eq!((plan["tasks_total"].as_u64(), plan["tasks_done"].as_u64()), (Some(3), Some(1)));
    assert!((plan["completion"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-9, "{}", plan["completion"]);
    assert_eq!(plan["verified"].as_f64(), Some(0.0));
    assert_eq!(v["status_conflicts"], serde_json::json!([]));
    // The ticked-off stub is a false claim, listed with its reason.
    let fc = v["false_claims"].as_array().unwrap();
    assert_eq!(fc.len(), 1);
    assert_eq!((fc[0]["path"].as_str(), fc[0]["status"].as_str()), (Some("websocket_handler.py"), Some("stub")));
    assert_eq!(reports(&out, "md").len(), 1);
    assert_eq!(reports(&out, "json").len(), 1);
    let md = std::fs::read_to_string(&reports(&out, "md")[0]).unwrap();
    assert!(md.contains("websocket_handler.py"), "the report names the false claim");
    // Nothing changed: no second report.
    baton(&home, &args);
    assert_eq!(reports(&out, "md").len(), 1);
}

/// A home whose plans folder holds the fixture plan, with the fixture repository granted as
/// `repos` and follow-ups going to Claude-Code-Agent. `debounce` sets `debounce_secs`.
fn audited_home(tmp: &Path, debounce: u64) -> PathBuf {
    let home = tmp.join("home");
    baton(&home, &["init"]);
    let (plans, repo) = fixture(tmp);
    std::fs::remove_dir(home.join("plans")).unwrap();
    std::fs::rename(&plans, home.join("plans")).unwrap();
    let toml = home.join("baton.toml");
    let text = std::fs::read_to_string(&toml)
        .unwrap()
        .replace(
            "grants = { plans = \"plans\",",
            &format!("grants = {{ plans = \"plans\", repos = {:?},", repo.to_str().unwrap()),
        )
        .replace("# followup_agent = \"Claude-Code-Agent\"", "followup_agent = \"Claude-Code-Agent\"")
        .replace("debounce_secs = 5", &format!("debounce_secs = {debounce}"));
    std::fs::write(toml, text).unwrap();
    home
}

#[test]
fn serve_once_writes_one_report_per_change_and_never_repeats_a_follow_up() {
    let tmp = tempfile::tempdir().unwrap();
    let home = audited_home(tmp.path(), 5);
    let report_dir = home.join("reports");

    baton(&home, &["serve", "--once"]);
    assert_eq!(reports(&report_dir, "md").len(), 1, "the first run writes a report");
    let first = inbox_files(&home, "Claude-Code-Agent");
    assert!(!first.is_empty(), "gaps become follow-up TASKs");
    for f in &first {
        let t: Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
        assert_eq!(
            (t["kind"].as_str(), t["to"].as_str(), t["from"].as_str()),
            (Some("task"), Some("Claude-Code-Agent"), Some("baton"))
        );
    }

    baton(&home, &["serve", "--once"]);
    assert_eq!(reports(&report_dir, "md").len(), 1, "unchanged inputs: no new report");
    assert_eq!(inbox_files(&home, "Claude-Code-Agent").len(), first.len(), "no follow-up twice");

    // A new promise in the plan: one new report, and follow-ups only for the new gap.
    let plan = home.join("plans/DASHBOARD_PLAN.md");
    let mut text = std::fs::read_to_string(&plan).unwrap();
    text.push_str("| Monitoring | `alert_manager.py` | pending |\n");
    std::fs::write(&plan, text).unwrap();
    baton(&home, &["serve", "--once"]);
    assert_eq!(reports(&report_dir, "md").len(), 2);
    let after = inbox_files(&home, "Claude-Code-Agent");
    assert_eq!(after.len(), first.len() + 1, "exactly one follow-up for the one new gap");
    let newest: Vec<_> = after.iter().filter(|p| !first.contains(p)).collect();
    let t: Value = serde_json::from_slice(&std::fs::read(newest[0]).unwrap()).unwrap();
    assert!(t.to_string().contains("alert_manager.py"), "{t}");
}

#[test]
fn serve_audits_after_a_plans_change_once_the_folder_is_quiet() {
    let tmp = tempfile::tempdir().unwrap();
    let home = audited_home(tmp.path(), 1);
    let mut child = Command::new(BIN).arg("--home").arg(&home).arg("serve").stderr(Stdio::null()).spawn().unwrap();
    let report_dir = home.join("reports");
    let wait_for = |n: usize| {
        let start = Instant::now();
        while reports(&report_dir, "md").len() < n {
            assert!(start.elapsed() < Duration::from_secs(30), "waiting for report {n}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait_for(1); // the start-up run catches what changed while baton was down
    let plan = home.join("plans/DASHBOARD_PLAN.md");
    let mut text = std::fs::read_to_string(&plan).unwrap();
    text.push_str("| Monitoring | `alert_manager.py` | pending |\n");
    std::fs::write(&plan, text).unwrap();
    wait_for(2);
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(reports(&report_dir, "md").len(), 2, "one change, one report");
    Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    assert!(child.wait().unwrap().success());
}

/// Plans inside the repository (`--plans R --repo R`, the usual case) reach every plan through
/// two folders; each plan is audited once and each false claim listed once. Every deliverable
/// carries the host path it `resolved` to next to the plan's own `path`.
#[test]
fn plans_inside_the_repository_are_audited_once_with_resolved_host_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    baton(&home, &["init"]);
    let (plans, repo) = fixture(tmp.path());
    std::fs::rename(plans.join("DASHBOARD_PLAN.md"), repo.join("DASHBOARD_PLAN.md")).unwrap();
    let out = tmp.path().join("out");
    let r = repo.to_str().unwrap();
    let v: Value = serde_json::from_slice(
        &baton(&home, &["audit", "--plans", r, "--repo", r, "--out", out.to_str().unwrap(), "--json"]).stdout,
    )
    .unwrap();
    let plans_seen: Vec<&str> = v["plans"].as_array().unwrap().iter().map(|p| p["path"].as_str().unwrap()).collect();
    assert_eq!(plans_seen, [repo.join("DASHBOARD_PLAN.md").to_str().unwrap()], "one plan, once: {v}");
    let fc = v["false_claims"].as_array().unwrap();
    assert_eq!(fc.len(), 1, "one false claim, once: {fc:?}");
    let deliverables = v["plans"][0]["deliverables"].as_array().unwrap();
    let by_name = |name: &str| deliverables.iter().find(|d| d["path"] == name).unwrap_or_else(|| panic!("{name}: {v}"));
    assert_eq!(
        by_name("dashboard_service.py")["resolved"],
        repo.join("dashboard/dashboard_service.py").to_str().unwrap()
    );
    assert_eq!(
        by_name("websocket_handler.py")["resolved"],
        repo.join("dashboard/websocket_handler.py").to_str().unwrap(),
        "a stub was found too"
    );
    assert_eq!(by_name("metrics_logger.py")["resolved"], Value::Null, "missing: nowhere");
    // a plans folder inside the repository is the same overlap
    let sub = repo.join("docs");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::rename(repo.join("DASHBOARD_PLAN.md"), sub.join("DASHBOARD_PLAN.md")).unwrap();
    let v: Value = serde_json::from_slice(
        &baton(
            &home,
            &[
                "audit",
                "--plans",
                sub.to_str().unwrap(),
                "--repo",
                r,
                "--out",
                out.to_str().unwrap(),
                "--json",
                "--force",
            ],
        )
        .stdout,
    )
    .unwrap();
    assert_eq!(v["plans"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["false_claims"].as_array().unwrap().len(), 1, "{v}");
}

/// A home audited by `serve` whose alerts are evaluated every second and notify `Ops`.
fn alerting_home(tmp: &Path) -> PathBuf {
    let home = audited_home(tmp, 1);
    let toml = home.join("baton.toml");
    let text = std::fs::read_to_string(&toml)
        .unwrap()
        .replace("eval_secs = 5", "eval_secs = 1")
        .replace("# notify_agent = \"claude\"", "notify_agent = \"Ops\"");
    std::fs::write(toml, text).unwrap();
    home
}

/// The follow-up TASKs the false-claims alert wrote to `Ops`, as (firing, labels).
fn false_claim_alerts(home: &Path) -> Vec<(u64, Value)> {
    inbox_files(home, "Ops")
        .iter()
        .filter_map(|f| serde_json::from_slice::<Value>(&std::fs::read(f).ok()?).ok())
        .filter(|t| t["alert"]["rule"] == "audit_false_claims")
        .map(|t| (t["alert"]["firing"].as_u64().unwrap_or(0), t["alert"]["labels"].clone()))
        .collect()
}

fn wait_for_alert(home: &Path) -> Vec<(u64, Value)> {
    let start = Instant::now();
    loop {
        let a = false_claim_alerts(home);
        if !a.is_empty() {
            return a;
        }
        assert!(start.elapsed() < Duration::from_secs(40), "no false-claims alert from serve's own audit");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// serve's own start-up audit finds the falsely claimed stub; the alert fires from it (not only
/// after a restart) and names the plan by its host path, not the sandbox's `/plans/…`.
#[test]
fn serve_fires_the_false_claims_alert_from_its_own_audit_with_host_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let home = alerting_home(tmp.path());
    let mut child = Command::new(BIN).arg("--home").arg(&home).arg("serve").stderr(Stdio::null()).spawn().unwrap();
    let alerts = wait_for_alert(&home);
    Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let labels = &alerts[0].1;
    assert_eq!(labels["path"], "websocket_handler.py");
    assert_eq!(labels["plan"], home.join("plans/DASHBOARD_PLAN.md").to_str().unwrap(), "a host path: {labels}");
}

/// Two serves on one home decide the false-claims alert from the same report: it fires once
/// and stays fired (no resolve/refire every evaluation, which would write a follow-up each).
#[test]
fn two_serves_on_one_home_do_not_flap_the_false_claims_alert() {
    let tmp = tempfile::tempdir().unwrap();
    let home = alerting_home(tmp.path());
    let spawn = || Command::new(BIN).arg("--home").arg(&home).arg("serve").stderr(Stdio::null()).spawn().unwrap();
    let mut a = spawn();
    let mut b = spawn();
    wait_for_alert(&home);
    std::thread::sleep(Duration::from_secs(6));
    let alerts = false_claim_alerts(&home);
    for c in [&mut a, &mut b] {
        Command::new("kill").arg("-TERM").arg(c.id().to_string()).status().unwrap();
        c.wait().unwrap();
    }
    assert_eq!(alerts.iter().map(|a| a.0).collect::<Vec<_>>(), [1], "one firing, never re-fired: {alerts:?}");
}

/// Kiro specs behind a `.kiro/specs` symlink inside the repository are read through the real
/// wasm plugin (the sandbox follows the link inside the grant); a plans-like symlink pointing
/// outside the repository is reported, and a task list naming no file is `unreadable`.
#[cfg(unix)]
#[test]
fn kiro_specs_through_a_symlink_and_unreadable_plans_through_the_plugin() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    baton(&home, &["init"]);
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(repo.join("kiro-specs/auth")).unwrap();
    std::fs::create_dir_all(repo.join("src/auth")).unwrap();
    std::fs::create_dir_all(repo.join(".kiro")).unwrap();
    std::fs::write(repo.join("kiro-specs/auth/tasks.md"), "# Implementation Plan\n\n- [x] 1. Set up\n  - Create `src/auth/index.ts` exporting the module\n- [x] 2. Tokens\n  - Create `src/auth/token.ts`\n").unwrap();
    std::fs::write(
        repo.join("src/auth/index.ts"),
        "export function sign(payload: string): string {\n  const body = btoa(payload);\n  return `${body}.sig`;\n}\n",
    )
    .unwrap();
    std::os::unix::fs::symlink("../kiro-specs", repo.join(".kiro/specs")).unwrap();
    std::fs::create_dir_all(repo.join("specs/002-todo")).unwrap();
    std::fs::write(repo.join("specs/002-todo/tasks.md"), "# Tasks\n\n- [x] Talk to the team\n- [ ] Decide\n").unwrap();
    let out = tmp.path().join("out");
    let v: Value = serde_json::from_slice(
        &baton(&home, &["audit", "--repo", repo.to_str().unwrap(), "--out", out.to_str().unwrap(), "--json"]).stdout,
    )
    .unwrap();
    let plans = v["plans"].as_array().unwrap();
    let kiro = plans.iter().find(|p| p["format"] == "kiro").unwrap_or_else(|| panic!("no kiro plan: {v}"));
    assert_eq!(kiro["path"], repo.join(".kiro/specs/auth/tasks.md").to_str().unwrap());
    let st: Vec<(&str, &str)> = kiro["deliverables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["path"].as_str().unwrap(), d["status"].as_str().unwrap()))
        .collect();
    assert_eq!(st, [("src/auth/index.ts", "present"), ("src/auth/token.ts", "missing")]);
    let fc: Vec<&str> = v["false_claims"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(fc, ["src/auth/token.ts"]);
    let unreadable = v["unreadable"].as_array().unwrap();
    assert_eq!(unreadable.len(), 1, "{v}");
    assert_eq!(unreadable[0]["path"], repo.join("specs/002-todo/tasks.md").to_str().unwrap());
    assert!(unreadable[0]["reason"].as_str().unwrap().contains("2 checkbox(es)"), "{}", unreadable[0]);
}

/// `serve`'s automatic audit checks renames on the host (git cannot run in the sandbox): a file
/// created, ticked in a spec-kit plan, then renamed in a later commit is `moved` in the
/// published report (JSON and Markdown), gets no false-claims alert and no follow-up; a ticked
/// file that never existed still does.
#[test]
fn serve_reports_a_file_renamed_after_it_was_ticked_as_moved() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    baton(&home, &["init"]);
    let repo = renamed_repo(tmp.path());
    let toml = home.join("baton.toml");
    let text = std::fs::read_to_string(&toml)
        .unwrap()
        .replace(
            "grants = { plans = \"plans\",",
            &format!(
                "grants = {{ plans = {:?}, repos = {:?},",
                repo.join("specs").to_str().unwrap(),
                repo.to_str().unwrap()
            ),
        )
        .replace("# followup_agent = \"Claude-Code-Agent\"", "followup_agent = \"Claude-Code-Agent\"")
        .replace("eval_secs = 5", "eval_secs = 1")
        .replace("# notify_agent = \"claude\"", "notify_agent = \"Ops\"");
    std::fs::write(toml, text).unwrap();

    let mut child = Command::new(BIN).arg("--home").arg(&home).arg("serve").stderr(Stdio::null()).spawn().unwrap();
    let alerts = wait_for_alert(&home);
    // a few more evaluations: an alert for the renamed file would have fired by now
    std::thread::sleep(Duration::from_secs(3));
    let alerts_later = false_claim_alerts(&home);
    Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    assert!(child.wait().unwrap().success());
    let paths: Vec<&str> = alerts_later.iter().map(|a| a.1["path"].as_str().unwrap_or("")).collect();
    assert_eq!(paths, ["src/writer.py"], "the renamed file is no false claim: {alerts:?} {alerts_later:?}");

    let report_dir = home.join("reports");
    let json = reports(&report_dir, "json");
    assert_eq!(json.len(), 1, "{json:?}");
    let r: Value = serde_json::from_slice(&std::fs::read(&json[0]).unwrap()).unwrap();
    let ds = r["plans"][0]["deliverables"].as_array().unwrap();
    let d = ds.iter().find(|d| d["path"] == "src/loader.py").unwrap();
    assert_eq!(d["status"], "moved", "{d}");
    assert_eq!(d["moved_to"], repo.join("src/io/reader.py").to_str().unwrap());
    assert!(d["reason"].as_str().unwrap().contains("src/loader.py was renamed to src/io/reader.py"), "{d}");
    let fc: Vec<&str> = r["false_claims"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(fc, ["src/writer.py"]);
    assert!(r["moved"].as_str().unwrap().starts_with("moved checked with git history: 1 renamed"), "{}", r["moved"]);
    let md = std::fs::read_to_string(reports(&report_dir, "md").pop().unwrap()).unwrap();
    assert!(md.contains("| moved |") && md.contains(repo.join("src/io/reader.py").to_str().unwrap()), "{md}");
    assert!(md.contains("moved checked with git history: 1 renamed"), "{md}");
    let false_rows: Vec<&str> = md.lines().filter(|l| l.contains("**missing**")).collect();
    assert_eq!(false_rows.len(), 1, "only src/writer.py is a false claim: {false_rows:?}");
    assert!(false_rows[0].contains("src/writer.py"), "{false_rows:?}");
    let follow_ups: Vec<String> =
        inbox_files(&home, "Claude-Code-Agent").iter().map(|f| std::fs::read_to_string(f).unwrap()).collect();
    assert!(follow_ups.iter().any(|t| t.contains("src/writer.py")), "{follow_ups:?}");
    assert!(
        !follow_ups.iter().any(|t| t.contains("src/loader.py")),
        "no follow-up for the renamed file: {follow_ups:?}"
    );
}

/// A plans folder outside the repository (the usual `serve` setup: `plans` in the home, the
/// repository granted as `repos`): the rename is found in the granted repository's history.
#[test]
fn serve_finds_renames_in_a_granted_repository_when_the_plans_folder_is_not_in_git() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    baton(&home, &["init"]);
    let repo = renamed_repo(tmp.path());
    std::fs::copy(repo.join("specs/001-x/tasks.md"), home.join("plans/tasks.md")).unwrap();
    let toml = home.join("baton.toml");
    let text = std::fs::read_to_string(&toml).unwrap().replace(
        "grants = { plans = \"plans\",",
        &format!("grants = {{ plans = \"plans\", repos = {:?},", repo.to_str().unwrap()),
    );
    std::fs::write(toml, text).unwrap();
    baton(&home, &["serve", "--once"]);
    let json = reports(&home.join("reports"), "json");
    let r: Value = serde_json::from_slice(&std::fs::read(json.last().unwrap()).unwrap()).unwrap();
    // the report keeps the sandbox's paths: the home's plan is `/plans/tasks.md` (the
    // repository's own copy under specs/ is audited too, and must agree)
    let plan = r["plans"].as_array().unwrap().iter().find(|p| p["path"] == "/plans/tasks.md").unwrap();
    let d = plan["deliverables"].as_array().unwrap().iter().find(|d| d["path"] == "src/loader.py").unwrap();
    assert_eq!(
        (d["status"].as_str(), d["moved_to"].as_str()),
        (Some("moved"), repo.join("src/io/reader.py").to_str()),
        "{d}"
    );
    let fc: Vec<(&str, &str)> = r["false_claims"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["plan"].as_str().unwrap(), f["path"].as_str().unwrap()))
        .collect();
    assert!(fc.contains(&("/plans/tasks.md", "src/writer.py")), "{fc:?}");
    assert!(fc.iter().all(|f| f.1 == "src/writer.py"), "the renamed file is no false claim in either plan: {fc:?}");
}

/// The agent plan formats through the real binary and plugin: a Taskmaster file whose done
/// subtask names a 0-byte `package.json`, and a BMAD story marked `Done` with open boxes.
/// Before, the report said "No plans found" for both, with nothing in `unreadable`.
#[test]
fn taskmaster_and_bmad_plans_are_read_and_their_conflicts_listed() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    baton(&home, &["init"]);
    let repo = tmp.path().join("repo");
    let write = |rel: &str, text: &str| {
        let p = repo.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write(
        ".taskmaster/tasks/tasks.json",
        r#"{"master": {"tasks": [{"id": 1, "title": "Setup", "status": "done", "details": "Scaffold",
            "subtasks": [{"id": 1, "title": "Manifest", "status": "done", "details": "Create `package.json`"}]}]}}"#,
    );
    write("package.json", "");
    write(
        "docs/stories/1.1.story.md",
        "# Story 1.1: Setup\n\n## Status\n\nDone\n\n## Tasks / Subtasks\n\n- [x] Task 1\n  - [ ] Create `src/app.ts`\n\n## Dev Agent Record\n\n### File List\n\n- `src/app.ts`\n",
    );
    let out = tmp.path().join("out");
    let args = ["audit", "--repo", repo.to_str().unwrap(), "--out", out.to_str().unwrap(), "--json"];
    let v: Value = serde_json::from_slice(&baton(&home, &args).stdout).unwrap();
    let formats: Vec<&str> = v["plans"].as_array().unwrap().iter().map(|p| p["format"].as_str().unwrap()).collect();
    assert_eq!(formats, ["taskmaster", "bmad"], "{v}");
    // both subtask and task are done; the 0-byte package.json they name is a stub
    let tm = &v["plans"][0];
    assert_eq!((tm["tasks_total"].as_u64(), tm["tasks_done"].as_u64()), (Some(2), Some(2)));
    assert_eq!(tm["completion"].as_f64(), Some(1.0));
    assert_eq!(tm["verified"].as_f64(), Some(0.0), "its only output is a stub");
    let fc: Vec<&str> = v["false_claims"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    // the Done story's file list claims src/app.ts, which does not exist
    assert_eq!(fc, ["package.json", "src/app.ts"]);
    let story = repo.join("docs/stories/1.1.story.md");
    assert_eq!(
        v["status_conflicts"],
        serde_json::json!([{"path": story.to_str().unwrap(), "status": "Done", "done": 1, "total": 2}])
    );
    assert_eq!(v["unreadable"], serde_json::json!([]));
}
