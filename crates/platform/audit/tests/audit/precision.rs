//! The plan formats and false-claim classes seen on real repositories: spec-kit
//! tasks with bold ids, the Claude spec layout, Kiro specs behind a symlinked folder, plans
//! that yield nothing (`unreadable`), and the paths a plan names that are not false claims
//! (outside the repository, generated, the source of a move, removed, descriptive lines),
//! next to true false claims hidden among them, which must stay found.

use crate::common::*;
use baton_audit::*;

fn fc(r: &Report) -> Vec<&str> {
    r.false_claims.iter().map(|f| f.path.as_str()).collect()
}

#[test]
fn bold_spec_kit_ids_and_the_claude_layout_are_read() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    write(
        &repo,
        "specs/005-cli/tasks.md",
        "# Tasks: CLI\n\n## Phase 3.1: Setup\n- [x] **T001** Add CLI dependencies to Cargo.toml: clap\n- [x] **T002** [P] Create CLI module structure: `src/cli/mod.rs`\n- [ ] **T003** Create binary entry point: `src/bin/tool.rs`\n- [x] **T004** [P] Contract test in `tests/contract/cli.rs`\n",
    );
    write(&repo, "Cargo.toml", "[package]\nname = \"tool\"\nversion = \"0.1.0\"\n");
    write(&repo, "src/cli/mod.rs", "//! The CLI.\npub mod args;\npub mod run;\n");
    write(
        &repo,
        "specs/fix-tabs/tasks.md",
        "# Tasks: Fix tabs\n\n**Status**: Planning\n\n| Task | Description | Status |\n|---|---|---|\n| T001 | Fix | [x] |\n| T002 | Test | [ ] |\n\n### T001: Fix the Defect\n\n**File(s)**: `src/tabs.rs`\n**Type**: Modify\n**Acceptance**:\n- [x] The loop in `src/helper.rs` changes\n\n### T002: Add Regression Test\n\n**File(s)**: `tests/features/tabs.feature`, `tests/bdd.rs`\n**Status**: Complete\n\n### T003: Verify No Regressions\n\n**File(s)**: Existing test files (no changes)\n",
    );
    write(&repo, "src/tabs.rs", REAL_TS.replace("export ", "").as_str());
    write(&repo, "tests/bdd.rs", "fn main() {\n    let x = 40;\n    println!(\"{}\", x + 2);\n}\n");
    let r = run(&[], &[&repo], None, 0);
    let cli = plan(&r, "005-cli/tasks.md");
    assert_eq!(cli.format, PlanFormat::SpecKit);
    assert_eq!(
        rows(cli),
        vec![
            row("Cargo.toml", "Phase 3.1: Setup", "present", true),
            // a module root of `pub mod` lines is complete, not a stub
            row("src/cli/mod.rs", "Phase 3.1: Setup", "present", true),
            row("src/bin/tool.rs", "Phase 3.1: Setup", "missing", false),
            row("tests/contract/cli.rs", "Phase 3.1: Setup", "missing", true),
        ]
    );
    let claude = plan(&r, "fix-tabs/tasks.md");
    assert_eq!(claude.format, PlanFormat::SpecKit);
    let g = "Tasks: Fix tabs";
    assert_eq!(
        rows(claude),
        vec![
            // ticked in the summary table
            row("src/tabs.rs", g, "present", true),
            // its Status line says Complete, over the summary's open box
            row("tests/features/tabs.feature", g, "missing", true),
            row("tests/bdd.rs", g, "present", true),
        ],
        "the acceptance box naming src/helper.rs is not a declared output"
    );
    assert_eq!(fc(&r), vec!["tests/contract/cli.rs", "tests/features/tabs.feature"]);
    assert!(r.plans.iter().all(|p| p.unreadable.is_none()));
}

#[cfg(unix)]
#[test]
fn kiro_specs_behind_a_symlink_inside_the_repository_are_followed_and_outside_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    write(
        &repo,
        "kiro-specs/auth/tasks.md",
        "# Implementation Plan\n\n- [x] 1. Set up\n  - Create `src/auth/index.ts` exporting the module\n- [x] 2. Token service\n  - Create `src/auth/token.ts`\n",
    );
    write(&repo, "src/auth/index.ts", REAL_TS);
    std::fs::create_dir_all(repo.join(".kiro")).unwrap();
    std::os::unix::fs::symlink("../kiro-specs", repo.join(".kiro/specs")).unwrap();
    // a second link back up: a loop, never followed
    std::os::unix::fs::symlink("..", repo.join("kiro-specs/auth/up")).unwrap();
    let outside = tmp.path().join("elsewhere");
    write(&outside, "x/tasks.md", "- [x] 1. Out\n  - Create `a.ts`\n");
    std::os::unix::fs::symlink(&outside, repo.join("more-specs")).unwrap();
    let r = run(&[], &[&repo], None, 0);
    let paths: Vec<&str> = r.plans.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths.len(), 1, "one plan, reached through the link: {paths:?}");
    let p = plan(&r, ".kiro/specs/auth/tasks.md");
    assert_eq!(p.format, PlanFormat::Kiro);
    assert_eq!(
        rows(p),
        vec![
            row("src/auth/index.ts", "1. Set up", "present", true),
            row("src/auth/token.ts", "2. Token service", "missing", true),
        ]
    );
    let msgs: Vec<String> = r.errors.iter().map(|e| format!("{}: {}", e.path, e.message)).collect();
    assert!(msgs.iter().any(|m| m.contains("more-specs") && m.contains("outside the repository")), "{msgs:?}");
}

#[test]
fn a_plan_that_yields_nothing_is_unreadable_not_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let plans = tmp.path().join("plans");
    write(&plans, "TASKS.md", "# Tasks\n\n- [x] Set up the project\n- [ ] Ship it\n");
    write(&plans, "NOTES.md", "# Notes\n\nNothing planned yet.\n");
    let r = run(&[&plans], &[&plans], None, 0);
    let t = plan(&r, "TASKS.md");
    let why = t.unreadable.as_deref().expect("unreadable");
    // its two boxes are read as tasks, and neither names a file: the reason says exactly that
    assert!(why.contains("2 task(s), 1 done") && why.contains("none names a file"), "{why}");
    assert_eq!((t.tasks_total, t.tasks_done, t.completion), (2, 1, 0.5));
    assert_eq!(plan(&r, "NOTES.md").unreadable, None, "prose without tasks is an empty plan");
    let v = serde_json::to_value(r.cli_view()).unwrap();
    assert_eq!(v["unreadable"].as_array().unwrap().len(), 1);
    let tp = v["plans"].as_array().unwrap().iter().find(|p| p["path"].as_str().unwrap().ends_with("TASKS.md")).unwrap();
    assert_eq!(tp["status"], "unreadable");
}

/// Each class of wrong false claim from the hand-checked sample, plus two true false claims
/// hidden in the same noise.
#[test]
fn paths_that_are_not_false_claims_and_true_ones_among_them() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    write(
        &repo,
        "specs/001-x/tasks.md",
        "# Tasks\n\n## Phase 1\n\
- [x] T001 Use the fault header /usr/include/fiu.h in src/fault.c\n\
- [x] T002 Configure vcpkg_installed/x64-linux/include/zlib.h and build/CMakeCache.txt\n\
- [x] T003 Move src/old_name.rs to src/new_name.rs\n\
- [x] T004 Remove `src/legacy.py` from the build in `src/setup.py`\n\
- [x] T005 Goal: run /projspec.plan for the plan\n\
- [x] T006 Update /Users/someone/work/app/src/ui/view.tsx styles\n\
- [x] T007 Handle parsed.html and `req.body` in `src/server.ts`\n\
- [x] T008 Create `src/widget.ts` for the widget\n\
- [x] T009 [P] Create the generated protobuf `proto/gen/msg.pb.h`\n\
- [x] T010 Implement report in src/report.py\n  - Follows the pattern of `src/pattern_reference.py`\n  - Create `src/report_helpers.py`\n",
    );
    for f in ["src/fault.c", "src/new_name.rs", "src/setup.py", "src/server.ts", "app/src/ui/view.tsx", "src/report.py"]
    {
        write(&repo, f, REAL_PY);
    }
    let r = run(&[], &[&repo], None, 0);
    let p = plan(&r, "tasks.md");
    let status = |path: &str| p.deliverables.iter().find(|d| d.path == path).map(|d| d.status.as_str());
    assert_eq!(status("src/fault.c"), Some("present"));
    assert_eq!(status("/usr/include/fiu.h"), None, "outside the repository");
    assert_eq!(status("src/old_name.rs"), None, "the source of a move");
    assert_eq!(status("src/new_name.rs"), Some("present"));
    assert_eq!(status("src/legacy.py"), None, "what a task removes");
    assert_eq!(status("src/setup.py"), Some("present"));
    assert_eq!(status("/Users/someone/work/app/src/ui/view.tsx"), Some("present"), "longest unique suffix");
    assert_eq!(status("parsed.html"), None, "a dotted identifier in prose");
    assert_eq!(status("src/pattern_reference.py"), None, "prose under a task is no output of it");
    let skipped: Vec<&str> = p.skipped.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(
        skipped,
        vec![
            "/usr/include/fiu.h",
            "vcpkg_installed/x64-linux/include/zlib.h",
            "build/CMakeCache.txt",
            "proto/gen/msg.pb.h"
        ]
    );
    assert!(p.tasks.iter().all(|t| !t.paths.iter().any(|x| x.contains("projspec"))), "a slash command is no file");
    // the true false claims hidden among the noise stay found
    assert_eq!(fc(&r), vec!["src/widget.ts", "src/report_helpers.py"]);
}
