//! The plan formats agents write in 2026 (issue 82, point 1), each in a small tree written
//! from the format's public documentation: Codex ExecPlans and their `PLANS.md` spec, BMAD
//! v6 stories with `sprint-status.yaml`, the Copilot task planner's plans and change logs,
//! beads' `issues.jsonl`, and a root `PROGRESS.md` found by `--repo` alone.

use crate::common::*;
use baton_audit::*;

fn status<'a>(p: &'a PlanReport, path: &str) -> Option<(&'a str, bool)> {
    p.deliverables.iter().find(|d| d.path == path).map(|d| (d.status.as_str(), d.claimed_done))
}

fn names(r: &Report) -> Vec<String> {
    r.plans.iter().map(|p| p.path.rsplit('/').next().unwrap().to_string()).collect()
}

/// A `PLANS.md` as the Codex cookbook shapes it: rules in prose, the skeleton's Progress
/// example in an indented block, and the folder the plans go in.
const SPEC: &str = "# Codex Execution Plans (ExecPlans)

This document describes the requirements for an execution plan (\"ExecPlan\"). Keep each
ExecPlan in `docs/exec-plans/` (one file per plan).

## Progress

Use a list with checkboxes to summarize granular steps.

    - [x] (2025-10-01 13:00Z) Example completed step.
    - [ ] Example incomplete step.
";

const EXECPLAN: &str = "# Add the parser

This ExecPlan is a living document, maintained in accordance with `.agent/PLANS.md`.

## Purpose / Big Picture

After this change `parse` reads the config. Edit `src/lib.rs` to call it.

## Progress

- [x] (2025-10-01 13:00Z) Created `src/parse.rs` with the tokenizer.
- [x] (2025-10-02) Added tests in `tests/parse_test.rs`.

## Decision Log

- Decision: keep `src/old_parse.rs` for now.
";

#[test]
fn execplans_are_read_and_their_spec_is_context() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    write(&repo, "AGENTS.md", "# Agents\n\nWrite an ExecPlan (as described in `.agent/PLANS.md`) for complex work.\n");
    write(&repo, ".agent/PLANS.md", SPEC);
    write(&repo, ".agent/plans/001-parser.md", EXECPLAN);
    // the folder the spec names holds ExecPlans too, whatever their names
    write(
        &repo,
        "docs/exec-plans/cli.md",
        &EXECPLAN.replace("src/parse.rs", "src/cli.rs").replace("parse_test", "cli_test"),
    );
    write(&repo, "src/parse.rs", REAL_TS);
    write(&repo, "src/cli.rs", REAL_TS);
    write(&repo, "tests/cli_test.rs", REAL_TS);
    let r = run(&[], &[&repo], None, 0);
    // the spec (and its indented example) is no plan: 7 ExecPlans done were "0 plans" and
    // the spec "a plan at 33 %"
    assert_eq!(names(&r), ["001-parser.md", "cli.md"]);
    let p = plan(&r, "001-parser.md");
    assert_eq!(p.format, PlanFormat::ExecPlan);
    // both milestones are done, stamps or not
    assert_eq!((p.tasks_total, p.tasks_done), (2, 2));
    assert_eq!(status(p, "src/parse.rs"), Some(("present", true)));
    assert_eq!(status(p, "tests/parse_test.rs"), Some(("missing", true)));
    // prose outside Progress claims nothing done
    assert_eq!(status(p, "src/lib.rs"), None);
    assert_eq!(status(p, "src/old_parse.rs"), None);
    assert_eq!(plan(&r, "cli.md").format, PlanFormat::ExecPlan);
    assert_eq!(plan(&r, "cli.md").verified, 1.0);
    let fc: Vec<(&str, &str)> =
        r.false_claims.iter().map(|f| (f.plan.rsplit('/').next().unwrap(), f.path.as_str())).collect();
    assert_eq!(fc, [("001-parser.md", "tests/parse_test.rs")]);
}

/// A v6 story as BMAD's dev-story workflow writes it.
fn story(title: &str, status: &str, boxes: &str, files: &str) -> String {
    format!(
        "# Story {title}\n\nStatus: {status}\n\n## Story\n\nAs a user, I want to sign in.\n\n## Acceptance Criteria\n\n1. A user signs in.\n\n## Tasks / Subtasks\n\n{boxes}\n## Dev Notes\n\n- Follow `docs/architecture.md`.\n\n## Dev Agent Record\n\n### File List\n\n{files}\n"
    )
}

#[test]
fn bmad_v6_stories_and_sprint_status() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    let out = "_bmad-output/impl";
    write(
        &repo,
        "_bmad/bmm/config.yaml",
        "project_name: app\nimplementation_artifacts: \"{project-root}/_bmad-output/impl\"\n",
    );
    write(
        &repo,
        &format!("{out}/sprint-status.yaml"),
        "# generated\ndevelopment_status:\n  epic-1: in-progress\n  1-1-setup: done\n  1-2-auth: done  # merged\n  1-3-profile: in-progress\n  epic-1-retrospective: optional\n",
    );
    write(
        &repo,
        &format!("{out}/1-1-setup.md"),
        &story("1.1: Setup", "done", "- [x] Task 1 (AC: #1)\n  - [x] Create `src/app.ts`\n", "- src/app.ts\n"),
    );
    write(
        &repo,
        &format!("{out}/1-2-auth.md"),
        &story("1.2: Auth", "review", "- [x] Task 1 (AC: #1)\n  - [x] Create `src/auth.ts`\n", "- src/auth.ts\n"),
    );
    write(&repo, &format!("{out}/1-3-profile.md"), &story("1.3: Profile", "done", "- [x] Task 1\n- [ ] Task 2\n", ""));
    // not a story: another artifact of the folder
    write(&repo, &format!("{out}/tech-spec-epic-1.md"), "# Tech spec\n\n- [ ] Decide `src/db.ts`\n");
    write(&repo, "src/app.ts", REAL_TS);
    let r = run(&[], &[&repo], None, 0);
    assert_eq!(names(&r), ["1-1-setup.md", "1-2-auth.md", "1-3-profile.md"]);
    assert!(r.plans.iter().all(|p| p.format == PlanFormat::Bmad));
    assert_eq!(status(plan(&r, "1-1-setup.md"), "src/app.ts"), Some(("present", true)));
    // ticked, but missing: a false claim
    assert_eq!(status(plan(&r, "1-2-auth.md"), "src/auth.ts"), Some(("missing", true)));
    let c: Vec<(&str, &str, Option<&str>, usize, usize)> = r
        .status_conflicts
        .iter()
        .map(|c| (c.path.rsplit('/').next().unwrap(), c.status.as_str(), c.sprint_status.as_deref(), c.done, c.total))
        .collect();
    assert_eq!(
        c,
        [
            // the YAML says done, the story says review: they disagree
            ("1-2-auth.md", "review", Some("done"), 2, 2),
            // the story says done with a box open (the YAML's in-progress disagrees too)
            ("1-3-profile.md", "done", None, 1, 2),
            ("1-3-profile.md", "done", Some("in-progress"), 1, 2),
        ]
    );
}

#[test]
fn copilot_plans_and_change_logs() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    write(
        &repo,
        ".copilot-tracking/plans/20250101-parser-plan.instructions.md",
        "---\napplyTo: '.copilot-tracking/changes/20250101-parser-changes.md'\n---\n# Task Checklist: Parser\n\n## Implementation Checklist\n\n### [x] Phase 1: Parser\n\n- [x] Task 1.1: Create `src/parse.ts`\n  - Details: .copilot-tracking/details/20250101-parser-details.md (Lines 10-20)\n- [ ] Task 1.2: Create `src/format.ts`\n",
    );
    write(
        &repo,
        ".copilot-tracking/changes/20250101-parser-changes.md",
        "# Release Changes: Parser\n\n## Changes\n\n### Added\n\n- src/parse.ts - Created the parser\n- src/lex.ts - Created the lexer\n\n### Modified\n\n- package.json - Added the parse script\n\n### Removed\n\n- src/old.ts - Replaced by the parser\n",
    );
    write(&repo, "src/parse.ts", REAL_TS);
    write(&repo, "package.json", "{\"name\": \"app\", \"scripts\": {\"parse\": \"node src/parse.js\"}}\n");
    let r = run(&[], &[&repo], None, 0);
    let p = plan(&r, "20250101-parser-plan.instructions.md");
    assert_eq!(p.format, PlanFormat::Copilot);
    assert_eq!((p.tasks_total, p.tasks_done), (2, 1));
    assert_eq!(status(p, "src/parse.ts"), Some(("present", true)));
    assert_eq!(status(p, "src/format.ts"), Some(("missing", false)));
    // the Details line points at the details file: a reference, no output
    assert!(p.deliverables.iter().all(|d| !d.path.contains("details")), "{:?}", p.deliverables);
    let c = plan(&r, "20250101-parser-changes.md");
    assert_eq!(c.format, PlanFormat::Copilot);
    // a change log says what was added and modified: each is claimed; the removed file is not
    assert_eq!(status(c, "src/lex.ts"), Some(("missing", true)));
    assert_eq!(status(c, "package.json"), Some(("present", true)));
    assert_eq!(status(c, "src/old.ts"), None);
    let fc: Vec<&str> = r.false_claims.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(fc, ["src/lex.ts"]);
}

#[test]
fn beads_issues_and_root_checklists() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    let issues = [
        r#"{"id":"app-1","title":"Parser","description":"Create `src/parse.rs` for the config","status":"closed","issue_type":"task"}"#,
        r#"{"id":"app-2","title":"CLI","design":"Add src/cli.rs","acceptance_criteria":"`tests/cli.rs` passes","status":"closed","issue_type":"feature"}"#,
        r#"{"id":"app-3","title":"Docs","notes":"Write docs/usage.md","status":"open","issue_type":"task"}"#,
        r#"{"id":"app-4","title":"Old","description":"Create `src/old.rs`","status":"tombstone","issue_type":"task"}"#,
        r#"{"id":"app-5","title":"hi","description":"see src/mail.rs","status":"open","issue_type":"message"}"#,
    ];
    write(&repo, ".beads/issues.jsonl", &(issues.join("\n") + "\n"));
    write(&repo, "src/parse.rs", REAL_TS);
    write(&repo, "src/cli.rs", "");
    // a root PROGRESS.md is a plan by its boxes; a root TODO.md without any is not
    write(&repo, "PROGRESS.md", "# Progress\n\n- [x] Create `src/parse.rs`\n- [ ] Create `src/report.rs`\n");
    write(&repo, "TODO.md", "# Ideas\n\nMaybe `src/later.rs` one day.\n");
    let r = run(&[], &[&repo], None, 0);
    assert_eq!(names(&r), ["issues.jsonl", "PROGRESS.md"]);
    let b = plan(&r, "issues.jsonl");
    assert_eq!(b.format, PlanFormat::Beads);
    // app-4 (deleted) is not counted and app-5 (a message) is not work: 3 issues, 2 closed
    assert_eq!((b.tasks_total, b.tasks_done), (3, 2));
    assert_eq!(status(b, "src/parse.rs"), Some(("present", true)));
    // a closed issue whose design names a 0-byte file: a stub, a false claim
    assert_eq!(status(b, "src/cli.rs"), Some(("stub", true)));
    assert_eq!(status(b, "tests/cli.rs"), Some(("missing", true)));
    assert_eq!(status(b, "docs/usage.md"), Some(("missing", false)));
    assert_eq!(status(b, "src/old.rs"), None);
    let p = plan(&r, "PROGRESS.md");
    assert_eq!((p.format, p.tasks_total, p.tasks_done), (PlanFormat::Markdown, 2, 1));
    let fc: Vec<&str> = r.false_claims.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(fc, ["src/cli.rs", "tests/cli.rs"]);
}
