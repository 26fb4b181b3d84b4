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

/// What labelling real repositories by hand found (bench/runs/2026-11-29/audit-labels.md):
/// each plan below is written from its format's documentation in the shapes those
/// repositories use, and each names one real false claim among things that are not.
fn shapes_repo(repo: &Path) {
    let issue = |id: &str, title: &str, status: &str, description: &str| {
        serde_json::json!({"id": id, "title": title, "status": status, "description": description}).to_string()
    };
    let beads = [
        // fenced examples, placeholders, an open validation box running a command on a data
        // file, a "Current State" section and an entry point only checked: none is an output;
        // the one file it says to create and that is not there is the false claim
        issue(
            "ds-1",
            "Parser",
            "closed",
            "## Problem\nDetect the language of paths like \"+++ b/src/foo.go\".\n\n## Current State\n\nrender/skill.md has one check.\n\n## Output Format\n```\n=== FILE: pkg/auth/login.go (modified) ===\n```\n\n## Entrypoints\n- Create `src/parse.go` - the parser\n- Create `src/never.go` - promised, never written\n- `src/model.go` - check if files with no hunks are filtered out\n- Uses io/fs.FileMode for modes; writes `*-judgments.jsonl`\n\n## Validation\n- [ ] `tool classify cases.jsonl` works\n",
        ),
        // a closed issue's files to delete and to keep are no outputs of it
        issue(
            "ds-2",
            "Docs cleanup",
            "closed",
            "# Files to Delete\n- docs/DESIGN.md\n\n# Files to Keep\n- docs/GUIDE.md\n\n# Key Files\n- cmd/init.go or similar - the init command\n- Create notes.md (NOT committed) with the findings\n",
        ),
        // a later closed issue splits a file the first one edited: the plan records its end
        issue("ds-3", "Viewer", "closed", "## Entrypoints\n- src/viewer_test.go\n"),
        issue("ds-4", "Split viewer_test.go by concern", "closed", "Move the cases into smaller files.\n"),
    ];
    write(repo, ".beads/issues.jsonl", &(beads.join("\n") + "\n"));
    // Taskmaster: a command line in a code span reads its argument; "DIR/ with FILE" of an
    // empty file is a stub
    write(
        repo,
        ".taskmaster/tasks/tasks.json",
        r#"{"tasks":[{"id":1,"title":"Workspace","status":"done","details":"• tools/harness/ with package.json\n5. Ensure `cargo run -- list --input app.js` still works"}]}"#,
    );
    write(repo, "tools/harness/package.json", "");
    // BMAD v6: labels over parts of the file list; a Japanese task glues "root" to the name;
    // an alternative left open; a side-effect import is a whole test setup file
    write(
        repo,
        "_bmad-output/implementation-artifacts/1-1-setup.md",
        "# Story 1.1: Setup\n\nStatus: done\n\n## Tasks / Subtasks\n\n- [x] Task 1: ルートpyproject.toml の作成\n- [x] Task 2: type the user (same file or separate `jwt.d.ts`)\n\n## Dev Agent Record\n\n### File List\n\n**Created:**\n- `frontend/test/setup.ts`\n- `frontend/public/ort-wasm-simd.wasm` - runtime, copied at build\n\n**Removed (boilerplate):**\n- `frontend/public/next.svg`\n\n**Generated:**\n- `backend/uv.lock`\n",
    );
    write(repo, "pyproject.toml", "[project]\nname = \"app\"\n");
    write(repo, "frontend/test/setup.ts", "import '@testing-library/jest-dom';\n");
    write(repo, ".gitignore", "node_modules/\nfrontend/public/ort-wasm-*.wasm\n");
    // Kiro: an archived spec in a folder of specs is read; a `.ts` module kept as `.tsx`, a
    // name in another case, and the source of a migration are not false claims
    write(
        repo,
        ".kiro/specs/_archived/helpers/tasks.md",
        "# Implementation Plan\n\n- [x] 1. Test helpers\n  - Create `tests/helpers.ts` file\n- [x] 2. Skill\n  - Update `.claude/skills/review/skill.md`\n- [x] 3. Theme\n  - Migrate the effects from legacy/src/index.css to src/index.css\n- [x] 4. Costs\n  - Create `src/costs.ts`\n",
    );
    write(repo, "tests/helpers.tsx", CODE);
    write(repo, ".claude/skills/review/SKILL.md", "# Review\n\nCheck the story.\n");
    // an ExecPlan kept in a folder named for them
    write(
        repo,
        "docs/exec-plans/active/ep-1.md",
        "# ExecPlan: cache\n\n## Progress\n\n- [x] (2025-10-01) Added `src/cache.ts`.\n",
    );
    for f in ["src/parse.go", "src/index.css", "src/cache.ts", "docs/GUIDE.md"] {
        write(repo, f, CODE);
    }
}

#[test]
fn real_repository_shapes_claim_only_what_they_made() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    baton(&home, &["init"]);
    let repo = tmp.path().join("repo");
    shapes_repo(&repo);
    let out = tmp.path().join("out");
    let args = ["audit", "--repo", repo.to_str().unwrap(), "--out", out.to_str().unwrap(), "--json"];
    let v: Value = serde_json::from_slice(&baton(&home, &args).stdout).unwrap();
    let mut fc: Vec<(String, &str)> = v["false_claims"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let plan = f["plan"].as_str().unwrap().strip_prefix(repo.to_str().unwrap()).unwrap().to_string();
            (plan, f["path"].as_str().unwrap())
        })
        .collect();
    fc.sort();
    // exactly the real ones: a file promised and never written in each plan, and the empty
    // package.json; none of the examples, removals, hedges, renamed-by-case or ignored files
    assert_eq!(
        fc,
        [
            ("/.beads/issues.jsonl".to_string(), "src/never.go"),
            ("/.kiro/specs/_archived/helpers/tasks.md".to_string(), "src/costs.ts"),
            ("/.taskmaster/tasks/tasks.json".to_string(), "tools/harness/package.json"),
        ],
        "{v}"
    );
    let plan = |suffix: &str| {
        v["plans"].as_array().unwrap().iter().find(|p| p["path"].as_str().unwrap().ends_with(suffix)).unwrap().clone()
    };
    // the ExecPlan folder is found and read as ExecPlans
    assert_eq!(plan("docs/exec-plans/active/ep-1.md")["format"], "execplan");
    assert_eq!(plan("_archived/helpers/tasks.md")["format"], "kiro");
    // the build copy the .gitignore names is listed as skipped, with the reason
    let story = plan("1-1-setup.md");
    let skipped = story["skipped"].as_array().unwrap();
    assert!(
        skipped.iter().any(|s| s["path"] == "frontend/public/ort-wasm-simd.wasm"
            && s["reason"].as_str().unwrap().contains(".gitignore")),
        "{story}"
    );
    // the Japanese task's "root" is not part of a file name
    let d = story["deliverables"].as_array().unwrap();
    assert!(d.iter().all(|d| d["path"].as_str().unwrap().is_ascii()), "{story}");
}
