//! The plan formats coding agents write besides spec-kit, Kiro and Cursor: OpenSpec changes,
//! Taskmaster task files and BMAD stories, each in a small tree written from the format's
//! documentation, with every verdict checked by reading the plan (the comments say why). Also
//! the two numbers per plan (`completion`, `verified`) and the declared statuses their own
//! boxes contradict (`status_conflicts`).

use crate::common::*;
use baton_audit::*;

fn fc(r: &Report) -> Vec<&str> {
    r.false_claims.iter().map(|f| f.path.as_str()).collect()
}

fn status<'a>(p: &'a PlanReport, path: &str) -> Option<(&'a str, bool)> {
    p.deliverables.iter().find(|d| d.path == path).map(|d| (d.status.as_str(), d.claimed_done))
}

fn conflicts(r: &Report) -> Vec<(String, String, usize, usize)> {
    r.status_conflicts
        .iter()
        .map(|c| {
            let name = c.path.rsplit('/').next().unwrap_or(&c.path);
            let who = c.task.as_ref().map_or(name.to_string(), |t| format!("{name}#{t}"));
            (who, c.status.clone(), c.done, c.total)
        })
        .collect()
}

#[test]
fn openspec_changes_are_plans_and_the_archive_is_done_work() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("app");
    // context, not plans: the project file, a change's proposal and its spec deltas (even with
    // boxes in them)
    write(&repo, "openspec/project.md", "# Project\n\n- [ ] 1.1 Create `src/never.ts`\n");
    write(&repo, "openspec/AGENTS.md", "# OpenSpec instructions\n\n- [ ] Keep tasks in sync\n");
    write(
        &repo,
        "openspec/changes/add-2fa/proposal.md",
        "## Why\n\nLogins need a second factor.\n\n- [ ] 1.1 Create `src/x.ts`\n",
    );
    write(&repo, "openspec/changes/add-2fa/specs/auth/spec.md", "## ADDED Requirements\n\n### Requirement: OTP\n");
    write(
        &repo,
        "openspec/changes/add-2fa/tasks.md",
        "## 1. Implementation\n- [x] 1.1 Create OTP secret storage in `src/auth/otp_store.ts`\n- [x] 1.2 Add the verification endpoint `src/api/verify_otp.ts`\n- [ ] 1.3 Add the login step\n  - Update `src/ui/Login.tsx` with the code field\n\n## 2. Tests\n- [x] 2.1 Write tests in `tests/otp.test.ts`\n",
    );
    write(
        &repo,
        "openspec/changes/archive/2025-01-10-add-logging/tasks.md",
        "## 1. Implementation\n- [x] 1.1 Add `src/log/logger.ts`\n- [ ] 1.2 Add `src/log/rotate.ts`\n",
    );
    write(
        &repo,
        "openspec/changes/rename-config/tasks.md",
        "## 1. Implementation\n- [x] 1.1 Rename the config keys\n- [ ] 1.2 Update the docs\n",
    );
    write(&repo, "src/auth/otp_store.ts", REAL_TS);
    write(&repo, "src/api/verify_otp.ts", "");
    write(&repo, "src/ui/Login.tsx", REAL_TS);
    write(&repo, "src/log/logger.ts", REAL_TS);
    let r = run(&[], &[&repo], None, 0);
    let mut found: Vec<&str> =
        r.plans.iter().map(|p| p.path.strip_prefix(&format!("{}/", s(&repo))).unwrap_or(&p.path)).collect();
    found.sort();
    assert_eq!(
        found,
        [
            "openspec/changes/add-2fa/tasks.md",
            "openspec/changes/archive/2025-01-10-add-logging/tasks.md",
            "openspec/changes/rename-config/tasks.md"
        ],
        "one plan per change; proposal, specs, project.md and AGENTS.md are context"
    );
    let p = plan(&r, "add-2fa/tasks.md");
    assert_eq!(p.format, PlanFormat::OpenSpec);
    assert_eq!(status(p, "src/auth/otp_store.ts"), Some(("present", true)));
    // ticked, and the file is 0 bytes: a stub claimed done
    assert_eq!(status(p, "src/api/verify_otp.ts"), Some(("stub", true)));
    // the open task's detail bullet edits the file: its output, not claimed
    assert_eq!(status(p, "src/ui/Login.tsx"), Some(("present", false)));
    assert_eq!(status(p, "tests/otp.test.ts"), Some(("missing", true)));
    // 4 tasks + 2 groups' headings are no tasks: 1.1, 1.2, 1.3, 2.1; three ticked, of which
    // only 1.1's output is all there
    assert_eq!((p.tasks_total, p.tasks_done), (4, 3));
    assert!((p.completion - 0.75).abs() < 1e-9 && (p.verified - 1.0 / 3.0).abs() < 1e-9);
    // the archived change is done work: its open box is claimed too, and rotate.ts is missing
    let a = plan(&r, "add-logging/tasks.md");
    assert_eq!(a.format, PlanFormat::OpenSpec);
    assert_eq!(status(a, "src/log/rotate.ts"), Some(("missing", true)));
    assert_eq!((a.tasks_total, a.tasks_done), (2, 2));
    // tasks that name no file: read (two tasks, one done) and said so, never silent
    let n = plan(&r, "rename-config/tasks.md");
    let why = n.unreadable.as_deref().expect("unreadable");
    assert!(why.contains("2 task(s), 1 done") && why.contains("none names a file"), "{why}");
    assert_eq!((n.tasks_total, n.tasks_done), (2, 1));
    assert_eq!(fc(&r), ["src/api/verify_otp.ts", "tests/otp.test.ts", "src/log/rotate.ts"]);
}

const TASKMASTER: &str = r#"{
  "master": {
    "tasks": [
      {
        "id": 1, "title": "Project setup", "description": "Scaffold the app",
        "status": "done", "priority": "high", "dependencies": [],
        "details": "Create `package.json` and the entry point src/index.ts",
        "testStrategy": "Run tests/setup.test.ts",
        "subtasks": [
          {"id": 1, "title": "Manifest", "status": "done", "details": "Write `package.json` with the scripts"},
          {"id": 2, "title": "Lint", "status": "pending", "details": "Add eslint.config.js"}
        ]
      },
      {
        "id": 2, "title": "Auth", "status": "deferred", "details": "Implement src/auth/session.ts",
        "subtasks": [{"id": 1, "title": "Session", "status": "pending", "details": "x"}]
      },
      {"id": 3, "title": "Old idea", "status": "cancelled", "details": "Create src/legacy/old.ts"},
      {
        "id": 4, "title": "Docs", "status": "pending", "details": "Write docs/usage.md",
        "subtasks": [
          {"id": 1, "title": "Usage", "status": "done", "details": "Write docs/usage.md"},
          {"id": 2, "title": "FAQ", "status": "done", "details": "Write docs/faq.md"}
        ]
      }
    ],
    "metadata": {"created": "2025-06-01T00:00:00Z"}
  },
  "feature-x": {"tasks": [{"id": 1, "title": "X", "status": "in-progress", "details": "Add src/x.ts"}]}
}"#;

#[test]
fn taskmaster_tasks_tagged_and_legacy() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("app");
    write(&repo, ".taskmaster/tasks/tasks.json", TASKMASTER);
    // a done subtask whose declared package.json is a 0-byte file
    write(&repo, "package.json", "");
    write(&repo, "src/index.ts", REAL_TS);
    write(&repo, "tests/setup.test.ts", REAL_TS);
    write(&repo, "docs/usage.md", REAL_MD);
    write(&repo, "docs/faq.md", REAL_MD);
    // VS Code's tasks.json has a tasks array of commands, not of plan tasks: not a plan
    write(&repo, ".vscode/tasks.json", r#"{"version": "2.0.0", "tasks": [{"label": "build", "command": "make"}]}"#);
    let legacy = tmp.path().join("old");
    write(
        &legacy,
        "tasks/tasks.json",
        r#"{"tasks": [{"id": 1, "title": "A", "status": "done", "details": "Create src/a.py"}]}"#,
    );
    let broken = tmp.path().join("broken");
    write(&broken, ".taskmaster/tasks/tasks.json", "{\"master\": {\"tasks\": [ {\"id\": 1,");
    let r = run(&[], &[&repo, &legacy, &broken], None, 0);
    assert_eq!(r.plans.len(), 3, "{:?}", r.plans.iter().map(|p| &p.path).collect::<Vec<_>>());
    let p = plan(&r, "app/.taskmaster/tasks/tasks.json");
    assert_eq!(p.format, PlanFormat::Taskmaster);
    // task 1 is done and names package.json: the 0-byte file is a stub claimed done
    assert_eq!(status(p, "package.json"), Some(("stub", true)));
    assert_eq!(status(p, "src/index.ts"), Some(("present", true)));
    // "Add eslint.config.js" creates it; the subtask is pending, so a gap, not a claim
    assert_eq!(status(p, "eslint.config.js"), Some(("missing", false)));
    // the deferred task's file: a gap, not claimed
    assert_eq!(status(p, "src/auth/session.ts"), Some(("missing", false)));
    // the cancelled task promises nothing and is not counted
    assert_eq!(status(p, "src/legacy/old.ts"), None);
    // tasks: 1, 1.1, 1.2, 2, 2.1, 4, 4.1, 4.2 (master) and 1 (feature-x); 3 is cancelled.
    // Done: 1, 1.1, 4.1, 4.2; verified: 4.1 and 4.2 (1 and 1.1 name the stub package.json)
    assert_eq!((p.tasks_total, p.tasks_done), (9, 4));
    assert!((p.verified - 0.5).abs() < 1e-9, "{}", p.verified);
    assert_eq!(p.tasks.len(), 10, "the cancelled task is listed");
    // done with a pending subtask, and pending with every subtask done; the deferred task
    // with an open subtask is never a conflict
    assert_eq!(
        conflicts(&r),
        [
            ("tasks.json#master:1".to_string(), "done".to_string(), 1, 2),
            ("tasks.json#master:4".to_string(), "pending".to_string(), 2, 2)
        ]
    );
    let old = plan(&r, "old/tasks/tasks.json");
    assert_eq!(old.format, PlanFormat::Taskmaster);
    assert_eq!(status(old, "src/a.py"), Some(("missing", true)));
    let b = plan(&r, "broken/.taskmaster/tasks/tasks.json");
    assert!(b.unreadable.as_deref().unwrap().contains("not valid JSON"), "{:?}", b.unreadable);
    assert_eq!(fc(&r), ["package.json", "src/a.py"]);
}

const STORY_DONE: &str = "# Story 1.1: Project setup

## Status

Done

## Story

**As a** developer, **I want** a scaffold, **so that** work can start.

## Acceptance Criteria

1. The app builds.

## Tasks / Subtasks

- [x] Task 1: Scaffold (AC: 1)
  - [x] Create `src/main.ts`
  - [ ] Add `src/config.ts`
- [ ] Task 2: CI
  - [ ] Write `.github/workflows/ci.yml`

## Dev Notes

Source tree:
- `src/lib/util.ts` - shared helpers to reuse

## Dev Agent Record

### Agent Model Used

claude

### File List

- `src/main.ts` - new
- `src/config.ts` - new
- `src/old_setup.ts` - deleted
";

const STORY_KO: &str = "# 스토리 1.2: 로그인

## 상태

검토 준비 완료

## 스토리

**사용자로서** 로그인하고 싶다.

## 작업 / 하위 작업

- [x] 작업 1: 폼
  - [ ] `src/login/Form.tsx` 작성
- [ ] 작업 2: API

## 개발 에이전트 기록

### 파일 목록

- `src/login/Form.tsx`
- `src/login/api.ts`
";

const STORY_DRAFT: &str = "# Story 2.1: Export

## Status

Draft

## Tasks / Subtasks

- [x] Task 1: Create `src/export/csv.ts`
- [x] Task 2: Create `src/export/json.ts`
";

#[test]
fn bmad_stories_in_english_korean_and_a_configured_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("app");
    write(&repo, "docs/stories/1.1.story.md", STORY_DONE);
    write(&repo, "docs/stories/1.2.login.md", STORY_KO);
    // the stories of this project live where core-config.yaml says, under any name
    write(&repo, ".bmad-core/core-config.yaml", "markdownExploder: true\ndevStoryLocation: docs/sprints\n");
    write(&repo, "docs/sprints/2.1.export.md", STORY_DRAFT);
    write(&repo, "src/main.ts", REAL_TS);
    write(&repo, "src/login/Form.tsx", REAL_TS);
    write(&repo, "src/export/csv.ts", REAL_TS);
    write(&repo, "src/export/json.ts", REAL_TS);
    let r = run(&[], &[&repo], None, 0);
    let done = plan(&r, "1.1.story.md");
    assert_eq!(done.format, PlanFormat::Bmad);
    assert_eq!(done.title, "Story 1.1: Project setup");
    // five boxes (two tasks, three subtasks), two ticked
    assert_eq!((done.tasks_total, done.tasks_done), (5, 2));
    // Done: the file list is claimed. config.ts is on it and missing (its box is open, but
    // the Done story's file list says it was produced)
    assert_eq!(status(done, "src/main.ts"), Some(("present", true)));
    assert_eq!(status(done, "src/config.ts"), Some(("missing", true)));
    assert_eq!(status(done, "src/old_setup.ts"), None, "a deleted entry is no output");
    assert_eq!(status(done, "src/lib/util.ts"), None, "Dev Notes are context");
    assert_eq!(status(done, ".github/workflows/ci.yml"), Some(("missing", false)));
    let ko = plan(&r, "1.2.login.md");
    assert_eq!(ko.format, PlanFormat::Bmad);
    assert_eq!((ko.tasks_total, ko.tasks_done), (3, 1));
    // "검토 준비 완료" (ready for review) claims the file list: api.ts is missing
    assert_eq!(status(ko, "src/login/api.ts"), Some(("missing", true)));
    let draft = plan(&r, "sprints/2.1.export.md");
    assert_eq!(draft.format, PlanFormat::Bmad);
    assert_eq!((draft.tasks_total, draft.tasks_done, draft.verified), (2, 2, 1.0));
    assert_eq!(
        conflicts(&r),
        [
            // plans in path order: docs/sprints/ before docs/stories/
            ("2.1.export.md".to_string(), "Draft".to_string(), 2, 2),
            ("1.1.story.md".to_string(), "Done".to_string(), 2, 5),
            ("1.2.login.md".to_string(), "검토 준비 완료".to_string(), 1, 3),
        ]
    );
    assert_eq!(fc(&r), ["src/config.ts", "src/login/api.ts"]);
    let v = serde_json::to_value(r.cli_view()).unwrap();
    assert_eq!(
        v["status_conflicts"][1],
        serde_json::json!({"path": done.path, "status": "Done", "done": 2, "total": 5})
    );
    assert_eq!(v["plans"][0]["format"], "bmad");
    let md = render_markdown(&r);
    assert!(md.contains("## Status conflicts") && md.contains("| Done | 2/5 |"), "{md}");
}

/// A `## Status: Complete` header and a Claude spec `**Status**` line are declared statuses
/// too; deferred or blocked never conflict.
#[test]
fn declared_statuses_of_markdown_and_spec_plans() {
    let tmp = tempfile::tempdir().unwrap();
    let plans = tmp.path().join("plans");
    write(
        &plans,
        "A_PLAN.md",
        "# A\n\n## Status: Complete\n\n## Steps\n\n- [x] Create `src/a.rs`\n- [ ] Create `src/b.rs`\n",
    );
    write(&plans, "B_PLAN.md", "# B\n\n**Status**: Blocked\n\n- [ ] Create `src/c.rs`\n");
    write(
        &plans,
        "specs/c-fix/tasks.md",
        "# C\n\n**Status**: Not started\n\n### T001: One\n\n**File(s)**: `src/d.rs`\n**Status**: Complete\n",
    );
    write(&plans, "src/a.rs", REAL_PY);
    let r = run(&[&plans], &[&plans], None, 0);
    assert_eq!(
        conflicts(&r),
        [
            // complete, with one of two boxes open
            ("A_PLAN.md".to_string(), "Complete".to_string(), 1, 2),
            // not started, while its one task says complete
            ("tasks.md".to_string(), "Not started".to_string(), 1, 1),
        ]
    );
}
