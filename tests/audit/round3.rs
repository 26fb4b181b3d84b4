//! End-to-end tests of issue 82 ("Audits, round three") through the real `baton` binary and
//! the real `audit` plugin: the plan formats agents write now, claims checked against git
//! history, and reports that never collide in one `--out`.
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::support::BIN;

fn baton(home: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new(BIN).arg("--home").arg(home).args(args).env("BATON_LOG", "warn").output().unwrap();
    assert!(out.status.success(), "baton {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

const CODE: &str = "export function sign(payload: string): string {\n  return `${payload}.sig`;\n}\n";

/// One repository holding each new format, written from its public documentation.
fn formats_repo(repo: &Path) {
    // Codex: the spec is context; the plan's Progress boxes are its milestones
    write(
        repo,
        ".agent/PLANS.md",
        "# Codex Execution Plans (ExecPlans)\n\n## Progress\n\nUse checkboxes.\n\n    - [x] (2025-10-01 13:00Z) Example completed step.\n    - [ ] Example incomplete step.\n",
    );
    write(
        repo,
        ".agent/plans/001-parser.md",
        "# Parser\n\nThis ExecPlan is a living document.\n\n## Progress\n\n- [x] (2025-10-01 13:00Z) Created `src/parse.ts`.\n- [x] (2025-10-02) Added `src/lex.ts`.\n",
    );
    // BMAD v6: a story the sprint status calls done while it says review
    write(
        repo,
        "_bmad-output/implementation-artifacts/sprint-status.yaml",
        "development_status:\n  epic-1: in-progress\n  1-1-auth: done\n",
    );
    write(
        repo,
        "_bmad-output/implementation-artifacts/1-1-auth.md",
        "# Story 1.1: Auth\n\nStatus: review\n\n## Tasks / Subtasks\n\n- [x] Task 1 (AC: #1)\n  - [x] Create `src/auth.ts`\n\n## Dev Agent Record\n\n### File List\n\n- src/auth.ts\n",
    );
    // Copilot task planner: a plan and its change log
    write(
        repo,
        ".copilot-tracking/plans/20250101-ui-plan.instructions.md",
        "# Task Checklist: UI\n\n- [x] Task 1.1: Create `src/ui.ts`\n- [ ] Task 1.2: Create `src/theme.ts`\n",
    );
    write(
        repo,
        ".copilot-tracking/changes/20250101-ui-changes.md",
        "# Release Changes: UI\n\n### Added\n\n- src/ui.ts - The view\n\n### Removed\n\n- src/old_ui.ts - Replaced\n",
    );
    // beads: one closed issue, one open
    write(
        repo,
        ".beads/issues.jsonl",
        "{\"id\":\"app-1\",\"title\":\"Store\",\"description\":\"Create `src/store.ts`\",\"status\":\"closed\"}\n{\"id\":\"app-2\",\"title\":\"Sync\",\"description\":\"Create `src/sync.ts`\",\"status\":\"open\"}\n",
    );
    // a root checklist found by --repo alone
    write(repo, "PROGRESS.md", "# Progress\n\n- [x] Create `src/parse.ts`\n- [ ] Create `src/cache.ts`\n");
    for f in ["src/parse.ts", "src/ui.ts", "src/store.ts", "src/auth.ts"] {
        write(repo, f, CODE);
    }
}

#[test]
fn every_new_format_is_read_through_the_plugin() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    baton(&home, &["init"]);
    let repo = tmp.path().join("repo");
    formats_repo(&repo);
    let out = tmp.path().join("out");
    let args = ["audit", "--repo", repo.to_str().unwrap(), "--out", out.to_str().unwrap(), "--json"];
    let v: Value = serde_json::from_slice(&baton(&home, &args).stdout).unwrap();
    let plans: Vec<(String, &str)> = v["plans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["path"].as_str().unwrap().strip_prefix(repo.to_str().unwrap()).unwrap().to_string(),
                p["format"].as_str().unwrap(),
            )
        })
        .collect();
    // sorted by path; .agent/PLANS.md (the spec) is not among them
    assert_eq!(
        plans,
        [
            ("/.agent/plans/001-parser.md".to_string(), "execplan"),
            ("/.beads/issues.jsonl".to_string(), "beads"),
            ("/.copilot-tracking/changes/20250101-ui-changes.md".to_string(), "copilot"),
            ("/.copilot-tracking/plans/20250101-ui-plan.instructions.md".to_string(), "copilot"),
            ("/PROGRESS.md".to_string(), "markdown"),
            ("/_bmad-output/implementation-artifacts/1-1-auth.md".to_string(), "bmad"),
        ],
        "{v}"
    );
    let counts: Vec<(u64, u64)> = v["plans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["tasks_total"].as_u64().unwrap(), p["tasks_done"].as_u64().unwrap()))
        .collect();
    assert_eq!(counts, [(2, 2), (2, 1), (1, 1), (2, 1), (2, 1), (2, 2)]);
    // the ExecPlan's second milestone names a file that is not there
    let fc: Vec<&str> = v["false_claims"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(fc, ["src/lex.ts"], "{v}");
    // the sprint status says done, the story says review
    let story = repo.join("_bmad-output/implementation-artifacts/1-1-auth.md");
    assert_eq!(
        v["status_conflicts"],
        serde_json::json!([{"path": story.to_str().unwrap(), "status": "review", "sprint_status": "done", "done": 2, "total": 2}])
    );
    assert_eq!(v["unreadable"], serde_json::json!([]));
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn a_claimed_file_a_commit_deleted_is_reported_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    baton(&home, &["init"]);
    let repo = tmp.path().join("repo");
    write(&repo, "PLAN.md", "# Plan\n\n- [x] Create `src/gone.ts`\n- [x] Create `src/kept.ts`\n");
    write(&repo, "src/gone.ts", CODE);
    write(&repo, "src/kept.ts", CODE);
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "files"]);
    git(&repo, &["rm", "-q", "src/gone.ts"]);
    git(&repo, &["commit", "-qm", "drop gone.ts"]);
    let commit = git(&repo, &["rev-parse", "--short", "HEAD"]);
    let out = tmp.path().join("out");
    let args = ["audit", "--repo", repo.to_str().unwrap(), "--out", out.to_str().unwrap(), "--json"];
    let v: Value = serde_json::from_slice(&baton(&home, &args).stdout).unwrap();
    let fc = v["false_claims"].as_array().unwrap();
    assert_eq!(fc.len(), 1, "{v}");
    assert_eq!((fc[0]["path"].as_str(), fc[0]["status"].as_str()), (Some("src/gone.ts"), Some("deleted")));
    assert_eq!(fc[0]["deleted_in"].as_str(), Some(commit.as_str()));
    assert!(fc[0]["date"].as_str().is_some_and(|d| d.starts_with("20")), "{}", fc[0]);
    assert_eq!(v["moved"], "moved checked with git history: 0 renamed, 1 deleted");
    // the published report says the same: the alerts read its false claims
    let json = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .unwrap();
    let report: Value = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
    assert_eq!(report["false_claims"][0]["status"], "deleted", "{}", report["false_claims"]);
    assert_eq!(report["false_claims"][0]["deleted_in"].as_str(), Some(commit.as_str()));
}

#[test]
fn audits_into_one_out_at_once_each_get_their_own_report() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    baton(&home, &["init"]);
    let repo = tmp.path().join("repo");
    write(&repo, "PLAN.md", "# Plan\n\n- [x] Create `src/a.ts`\n");
    write(&repo, "src/a.ts", CODE);
    let out = tmp.path().join("out");
    let args = ["audit", "--repo", repo.to_str().unwrap(), "--out", out.to_str().unwrap(), "--json", "--force"];
    // four at once: most land in one second, where report names collide
    let runs: Vec<_> = (0..4)
        .map(|_| {
            Command::new(BIN)
                .arg("--home")
                .arg(&home)
                .args(args)
                .env("BATON_LOG", "warn")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for r in runs {
        let o = r.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        // --json is always printed
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["plans"][0]["format"], "markdown");
    }
    // without --json, each run names the report it published: three runs, three files
    let runs: Vec<_> = (0..3)
        .map(|_| {
            Command::new(BIN)
                .arg("--home")
                .arg(&home)
                .args(&args[..args.len() - 2])
                .arg("--force")
                .env("BATON_LOG", "warn")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut printed: Vec<String> = runs
        .into_iter()
        .map(|r| {
            let o = r.wait_with_output().unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            let line = text.lines().find_map(|l| l.strip_prefix("report: ")).unwrap_or_else(|| panic!("{text}"));
            assert!(Path::new(line).is_file(), "the printed report exists: {line}");
            line.to_string()
        })
        .collect();
    printed.sort();
    printed.dedup();
    assert_eq!(printed.len(), 3, "{printed:?}");
    let names: Vec<String> =
        std::fs::read_dir(&out).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    let count = |ext: &str| names.iter().filter(|n| n.starts_with("PLANS_AUDIT_REPORT_") && n.ends_with(ext)).count();
    assert_eq!((count(".md"), count(".json")), (7, 7), "{names:?}");
    assert!(names.iter().all(|n| !n.starts_with(".staging")), "every staging folder is gone: {names:?}");
}
