//! One realistic fixture repository per plan format, with present, missing, stub,
//! ambiguous and falsely claimed deliverables, checked against exact expected results.

use crate::common::*;
use baton_audit::*;

const MODULARIZATION_PLAN: &str = "# Google Workspace Events API - Modularization Plan

Split the monolithic `workspace_events.py` handler into modules.

## Expected Deliverables

| Component | Expected Files | Status |
|-----------|----------------|--------|
| Core | `event_queue.py`, `event_handler.py` | ✅ Complete |
| Handlers | `base_handler.py`, `registry.py` | ✅ Complete |
| Dashboard | `dashboard_service.py`, `websocket_handler.py`, `metrics_aggregator.py` | ⏳ In progress |
| Logging | `execution_logger.py`, `metrics_logger.py` | ✅ Complete |
| Monitoring | `status_monitor.py`, `health_checker.py`, `alert_manager.py` | ✅ Done |

## Documentation

- [x] Write `docs/ARCHITECTURE.md`
- [ ] Write `docs/RUNBOOK.md`
";

const DJAY_PLAN: &str = "# djay Pro Notion Integration

**Status:** ✅ Complete

## Project structure

```text
djay_integration/
├── session_sync.py       # DJSessionSyncManager
├── activity_tracker.py   # DJActivityTracker
├── models.py
└── tests/
    └── test_matcher.py
```

Run it with `python3 -m djay_integration` once configured.
";

/// The markdown fixture: a plan inside the repository (`*PLAN*.md`) and one in a plans
/// folder using a project tree.
pub fn markdown_fixture(root: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let repo = root.join("repo");
    let plans = root.join("plans");
    let we = "scripts/workspace_events";
    write(&repo, &format!("{we}/MODULARIZATION_PLAN.md"), MODULARIZATION_PLAN);
    for f in [
        "core/event_queue.py",
        "core/event_handler.py",
        "handlers/base_handler.py",
        "handlers/registry.py",
        "dashboard/dashboard_service.py",
        "logging/execution_logger.py",
        "monitoring/status_monitor.py",
    ] {
        write(&repo, &format!("{we}/{f}"), REAL_PY);
    }
    // a second registry.py near the plan: "Handlers" narrows to handlers/
    write(&repo, &format!("{we}/legacy/registry.py"), REAL_PY);
    write(&repo, &format!("{we}/dashboard/metrics_aggregator.py"), "class MetricsAggregator:\n    pass\n");
    write(
        &repo,
        &format!("{we}/monitoring/health_checker.py"),
        "\"\"\"Health checks.\"\"\"\n\n\ndef check(service):\n    raise NotImplementedError\n",
    );
    // alert_manager.py twice, neither under monitoring/ nor under the plan's folder
    write(&repo, "legacy/alert_manager.py", REAL_PY);
    write(&repo, "gas/alert_manager.py", REAL_PY);
    write(&repo, &format!("{we}/docs/ARCHITECTURE.md"), REAL_MD);

    write(&plans, "djay/INTEGRATION.md", DJAY_PLAN);
    write(&repo, "music/djay_integration/session_sync.py", REAL_PY);
    write(&repo, "music/djay_integration/activity_tracker.py", "# TODO: port DJActivityTracker from the notebook\n");
    write(&repo, "music/djay_integration/tests/test_matcher.py", REAL_PY);
    (plans, repo)
}

#[test]
fn free_form_markdown() {
    let tmp = tempfile::tempdir().unwrap();
    let (plans, repo) = markdown_fixture(tmp.path());
    let r = run(&[&plans], &[&repo], None, 0);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.plans.len(), 2);

    let m = plan(&r, "MODULARIZATION_PLAN.md");
    assert_eq!(m.format, PlanFormat::Markdown);
    assert_eq!(m.title, "Google Workspace Events API - Modularization Plan");
    assert_eq!(
        rows(m),
        vec![
            row("event_queue.py", "Core", "present", true),
            row("event_handler.py", "Core", "present", true),
            row("base_handler.py", "Handlers", "present", true),
            row("registry.py", "Handlers", "present", true),
            row("dashboard_service.py", "Dashboard", "present", false),
            row("websocket_handler.py", "Dashboard", "missing", false),
            row("metrics_aggregator.py", "Dashboard", "stub", false),
            row("execution_logger.py", "Logging", "present", true),
            row("metrics_logger.py", "Logging", "missing", true),
            row("status_monitor.py", "Monitoring", "present", true),
            row("health_checker.py", "Monitoring", "stub", true),
            row("alert_manager.py", "Monitoring", "ambiguous", true),
            row("docs/ARCHITECTURE.md", "Documentation", "present", true),
            row("docs/RUNBOOK.md", "Documentation", "missing", false),
        ]
    );
    assert_eq!(
        groups(m),
        vec![
            ("Core".into(), 2, 2),
            ("Handlers".into(), 2, 2),
            ("Dashboard".into(), 1, 3),
            ("Logging".into(), 1, 2),
            ("Monitoring".into(), 1, 3),
            ("Documentation".into(), 1, 2),
        ]
    );
    assert_eq!((m.present, m.expected), (8, 14));
    assert!((m.presence() - 8.0 / 14.0).abs() < 1e-9);
    // a plan written as a table: each row is a task, done when its status cell says so (with
    // the two boxes, seven tasks, five done); Core, Handlers and ARCHITECTURE.md are all
    // there, Logging misses metrics_logger.py, Monitoring has a stub and an ambiguous name
    assert_eq!((m.tasks_total, m.tasks_done), (7, 5));
    assert!((m.completion - 5.0 / 7.0).abs() < 1e-9);
    assert!((m.verified - 3.0 / 5.0).abs() < 1e-9);
    let repo_s = s(&repo);
    let reg = deliverable(m, "registry.py");
    assert_eq!(
        reg.reason.as_deref(),
        Some(
            format!("found at {repo_s}/scripts/workspace_events/handlers/registry.py (narrowed to handlers/)").as_str()
        )
    );
    let am = deliverable(m, "alert_manager.py");
    assert_eq!(
        am.candidates,
        vec![format!("{repo_s}/gas/alert_manager.py"), format!("{repo_s}/legacy/alert_manager.py")]
    );
    let stub = deliverable(m, "metrics_aggregator.py");
    assert_eq!(stub.evidence.size, Some(34));
    assert!(stub.reason.as_deref().unwrap().starts_with("only `pass` placeholder (34 bytes) at "), "{:?}", stub.reason);
    assert!(deliverable(m, "health_checker.py").reason.as_deref().unwrap().contains("NotImplementedError"));
    assert_eq!(
        deliverable(m, "websocket_handler.py").reason.as_deref(),
        Some("no file named websocket_handler.py in the repositories")
    );
    let runbook = deliverable(m, "docs/RUNBOOK.md");
    assert_eq!(
        runbook.evidence.checked,
        vec![format!("{repo_s}/scripts/workspace_events/docs/RUNBOOK.md"), format!("{repo_s}/docs/RUNBOOK.md")]
    );
    let row_tasks: Vec<(&str, bool)> = m.tasks.iter().take(5).map(|t| (t.id.as_str(), t.done)).collect();
    assert_eq!(row_tasks, [("L9", true), ("L10", true), ("L11", false), ("L12", true), ("L13", true)]);
    assert_eq!(
        m.tasks[5..],
        vec![
            Task { id: "L17".into(), done: true, paths: vec!["docs/ARCHITECTURE.md".into()] },
            Task { id: "L18".into(), done: false, paths: vec!["docs/RUNBOOK.md".into()] },
        ]
    );

    let d = plan(&r, "djay/INTEGRATION.md");
    assert_eq!(
        rows(d),
        vec![
            row("djay_integration/session_sync.py", "Project structure", "present", true),
            row("djay_integration/activity_tracker.py", "Project structure", "stub", true),
            row("djay_integration/models.py", "Project structure", "missing", true),
            row("djay_integration/tests/test_matcher.py", "tests", "present", true),
        ]
    );
    assert_eq!(
        deliverable(d, "djay_integration/session_sync.py").reason.as_deref(),
        Some(format!("found at {repo_s}/music/djay_integration/session_sync.py").as_str())
    );

    // false claims: missing or stub while claimed, in plan order (plans sorted by path)
    let fc: Vec<(String, String, Status)> = r
        .false_claims
        .iter()
        .map(|f| (f.plan.rsplit('/').next().unwrap().to_string(), f.path.clone(), f.status))
        .collect();
    assert_eq!(
        fc,
        vec![
            ("INTEGRATION.md".into(), "djay_integration/activity_tracker.py".into(), Status::Stub),
            ("INTEGRATION.md".into(), "djay_integration/models.py".into(), Status::Missing),
            ("MODULARIZATION_PLAN.md".into(), "metrics_logger.py".into(), Status::Missing),
            ("MODULARIZATION_PLAN.md".into(), "health_checker.py".into(), Status::Stub),
        ]
    );
    // the Markdown lists false claims before the per-plan gaps
    let md = render_markdown(&r);
    let fc_at = md.find("## False claims").unwrap();
    let gaps_at = md.find("## Gaps by plan").unwrap();
    assert!(md.find("## Summary").unwrap() < fc_at && fc_at < gaps_at);
    assert!(md[fc_at..gaps_at].contains("`metrics_logger.py`"));
    assert!(md.contains("| Dashboard | 33% (1/3) |"));
    assert!(md.contains("**yes — false claim**"));
}

const SPECKIT_TASKS: &str = "# Tasks: Photo Albums

**Input**: Design documents from `/specs/001-photo-albums/`

## Format: `[ID] [P?] [Story] Description`

## Phase 1: Setup

- [x] T001 Create project structure per implementation plan
- [x] T002 [P] Initialize Python project with dependencies in backend/requirements.txt

## Phase 2: Foundational (Blocking Prerequisites)

- [x] T003 [P] Create User model in backend/src/models/user.py
- [x] T004 [P] [US1] Create Album model in backend/src/models/album.py
- [ ] T005 [US1] Implement AlbumService in backend/src/services/album_service.py (depends on T003, T004)
- [ ] T006 [US1] Add album settings to settings.py

## Phase 3: User Story 1 - Organize photos (Priority: P1) 🎯 MVP

### Tests for User Story 1

- [x] T007 [P] [US1] Contract test for POST /api/albums in backend/tests/contract/test_albums.py

### Implementation for User Story 1

- [ ] T008 [US1] Implement POST /api/albums endpoint in backend/src/api/albums.py

## Dependencies & Execution Order

- T003, T004 before T005
- T005 blocks T008
";

#[test]
fn spec_kit() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("photos");
    write(&repo, "specs/001-photo-albums/tasks.md", SPECKIT_TASKS);
    write(&repo, "specs/001-photo-albums/spec.md", "# Spec\n\nNo files here: `backend/src/nothing.py`\n");
    write(&repo, "backend/requirements.txt", "fastapi==0.110\nuvicorn==0.29\n");
    write(&repo, "backend/src/models/user.py", REAL_PY);
    write(&repo, "backend/src/models/album.py", "class Album:\n    pass\n");
    write(&repo, "backend/settings.py", REAL_PY);
    write(&repo, "frontend/settings.py", REAL_PY);
    write(&repo, "backend/src/api/albums.py", REAL_PY);
    let r = run(&[], &[&repo], None, 0);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.plans.len(), 1, "spec.md is not a plan outside a plans folder");
    let p = &r.plans[0];
    assert_eq!(p.format, PlanFormat::SpecKit);
    let (p1, p2, p3) = (
        "Phase 1: Setup",
        "Phase 2: Foundational (Blocking Prerequisites)",
        "Phase 3: User Story 1 - Organize photos (Priority: P1) MVP",
    );
    assert_eq!(
        rows(p),
        vec![
            row("backend/requirements.txt", p1, "present", true),
            row("backend/src/models/user.py", p2, "present", true),
            row("backend/src/models/album.py", p2, "stub", true),
            row("backend/src/services/album_service.py", p2, "missing", false),
            row("settings.py", p2, "ambiguous", false),
            row("backend/tests/contract/test_albums.py", p3, "missing", true),
            row("backend/src/api/albums.py", p3, "present", false),
        ]
    );
    assert_eq!(groups(p), vec![(p1.into(), 1, 1), (p2.into(), 1, 4), (p3.into(), 1, 2)]);
    assert!((p.presence() - 3.0 / 7.0).abs() < 1e-9);
    // eight tasks, five ticked; of those T002 and T003 name files that are there (T001 names
    // none, T004's album.py is a stub, T007's test is missing)
    assert_eq!((p.tasks_total, p.tasks_done), (8, 5));
    assert!((p.completion - 5.0 / 8.0).abs() < 1e-9);
    assert!((p.verified - 2.0 / 5.0).abs() < 1e-9);
    let ids: Vec<(&str, bool, usize)> = p.tasks.iter().map(|t| (t.id.as_str(), t.done, t.paths.len())).collect();
    assert_eq!(
        ids,
        vec![
            ("T001", true, 0),
            ("T002", true, 1),
            ("T003", true, 1),
            ("T004", true, 1),
            ("T005", false, 1),
            ("T006", false, 1),
            ("T007", true, 1),
            ("T008", false, 1)
        ]
    );
    let fc: Vec<(&str, Status)> = r.false_claims.iter().map(|f| (f.path.as_str(), f.status)).collect();
    assert_eq!(
        fc,
        vec![("backend/src/models/album.py", Status::Stub), ("backend/tests/contract/test_albums.py", Status::Missing)]
    );
    let repo_s = s(&repo);
    assert_eq!(
        deliverable(p, "settings.py").candidates,
        vec![format!("{repo_s}/backend/settings.py"), format!("{repo_s}/frontend/settings.py")]
    );
}

const KIRO_TASKS: &str = "# Implementation Plan

- [x] 1. Set up project structure
  - Create `src/auth/index.ts` exporting the module
  - _Requirements: 1.1_

- [ ] 2. Implement data models
- [x] 2.1 Create user model
  - Write User class in src/auth/models/user.ts
  - _Requirements: 2.1, 2.2_
- [ ]* 2.2 Create session model
  - Write `src/auth/models/session.ts`
  - _Requirements: 2.3_

- [x] 3. Token service
  - Implement `token.ts` with signing
  - _Requirements: 3.1_
";

#[test]
fn kiro() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("auth");
    write(&repo, ".kiro/specs/user-auth/tasks.md", KIRO_TASKS);
    write(&repo, ".kiro/specs/user-auth/requirements.md", "# Requirements\n");
    write(&repo, "src/auth/index.ts", REAL_TS);
    write(
        &repo,
        "src/auth/models/user.ts",
        "export class User {\n  constructor() {\n    throw new Error(\"Not implemented\");\n  }\n}\n",
    );
    write(&repo, "src/auth/token.ts", REAL_TS);
    write(&repo, "src/legacy/token.ts", REAL_TS);
    let r = run(&[], &[&repo], None, 0);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.plans.len(), 1);
    let p = &r.plans[0];
    assert_eq!(p.format, PlanFormat::Kiro);
    let (g1, g2, g3) = ("1. Set up project structure", "2. Implement data models", "3. Token service");
    assert_eq!(
        rows(p),
        vec![
            row("src/auth/index.ts", g1, "present", true),
            row("src/auth/models/user.ts", g2, "stub", true),
            row("src/auth/models/session.ts", g2, "missing", false),
            row("token.ts", g3, "ambiguous", true),
        ]
    );
    assert_eq!(groups(p), vec![(g1.into(), 1, 1), (g2.into(), 0, 2), (g3.into(), 0, 1)]);
    assert!((p.presence() - 0.25).abs() < 1e-9);
    // 1, 2.1 and 3 of five tasks are ticked; only 1's index.ts is there (2.1's user.ts is a
    // stub, 3's token.ts ambiguous)
    assert_eq!((p.tasks_total, p.tasks_done), (5, 3));
    assert!((p.completion - 3.0 / 5.0).abs() < 1e-9);
    assert!((p.verified - 1.0 / 3.0).abs() < 1e-9);
    let tasks: Vec<(&str, bool, Vec<&str>)> =
        p.tasks.iter().map(|t| (t.id.as_str(), t.done, t.paths.iter().map(String::as_str).collect())).collect();
    assert_eq!(
        tasks,
        vec![
            ("1", true, vec!["src/auth/index.ts"]),
            ("2", false, vec![]),
            ("2.1", true, vec!["src/auth/models/user.ts"]),
            ("2.2", false, vec!["src/auth/models/session.ts"]),
            ("3", true, vec!["token.ts"]),
        ]
    );
    // ambiguous is reported, never a false claim: it cannot be verified either way
    let fc: Vec<(&str, Status)> = r.false_claims.iter().map(|f| (f.path.as_str(), f.status)).collect();
    assert_eq!(fc, vec![("src/auth/models/user.ts", Status::Stub)]);
    assert!(deliverable(p, "src/auth/models/user.ts").reason.as_deref().unwrap().contains("not implemented"));
}

const CURSOR_PLAN: &str = "---
name: Dark mode
overview: Add a theme toggle to the web app
todos:
  - id: theme-context
    content: Create ThemeContext in src/context/ThemeContext.tsx
    status: completed
  - id: toggle
    content: Add `src/components/ThemeToggle.tsx` and wire it into the header
    status: completed
  - id: styles
    content: \"Dark palette in src/styles/dark.css\"
    status: pending
  - id: docs
    content: Document the theme in docs/theming.md
    status: cancelled
---

# Dark mode

## Files

- `src/App.tsx` wraps the tree in the provider
";

#[test]
fn cursor() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("web");
    write(&repo, ".cursor/plans/dark-mode-1a2b3c.plan.md", CURSOR_PLAN);
    write(&repo, "src/context/ThemeContext.tsx", REAL_TS);
    write(&repo, "src/styles/dark.css", "/* TODO: dark palette */\n");
    write(&repo, "src/App.tsx", REAL_TS);
    write(&repo, "legacy/src/App.tsx", REAL_TS);
    let r = run(&[], &[&repo], None, 0);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let p = &r.plans[0];
    assert_eq!(p.format, PlanFormat::Cursor);
    assert_eq!(p.title, "Dark mode");
    assert_eq!(
        rows(p),
        vec![
            row("src/context/ThemeContext.tsx", "theme-context", "present", true),
            row("src/components/ThemeToggle.tsx", "toggle", "missing", true),
            row("src/styles/dark.css", "styles", "stub", false),
            row("src/App.tsx", "Files", "present", false),
        ]
    );
    assert!((p.presence() - 0.5).abs() < 1e-9);
    // the cancelled todo is listed but not counted: two of three done; theme-context's file is
    // there, toggle's is missing
    assert_eq!((p.tasks_total, p.tasks_done), (3, 2));
    assert!((p.completion - 2.0 / 3.0).abs() < 1e-9 && (p.verified - 0.5).abs() < 1e-9);
    let tasks: Vec<(&str, bool)> = p.tasks.iter().map(|t| (t.id.as_str(), t.done)).collect();
    assert_eq!(tasks, vec![("theme-context", true), ("toggle", true), ("styles", false), ("docs", false)]);
    assert_eq!(p.tasks[3].paths, vec!["docs/theming.md".to_string()]);
    let fc: Vec<(&str, Status)> = r.false_claims.iter().map(|f| (f.path.as_str(), f.status)).collect();
    assert_eq!(fc, vec![("src/components/ThemeToggle.tsx", Status::Missing)]);
}

#[test]
fn cli_json_has_exactly_the_documented_shape() {
    let tmp = tempfile::tempdir().unwrap();
    let (plans, repo) = markdown_fixture(tmp.path());
    let r = run(&[&plans], &[&repo], None, 0);
    let v = serde_json::to_value(r.cli_view()).unwrap();
    let keys = |o: &serde_json::Value| {
        let mut k: Vec<String> = o.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&v), vec!["false_claims", "plans", "status_conflicts", "unreadable"]);
    assert_eq!(v["unreadable"], serde_json::json!([]));
    let p = &v["plans"][0];
    assert_eq!(
        keys(p),
        vec![
            "completion",
            "deliverables",
            "format",
            "groups",
            "path",
            "tasks",
            "tasks_done",
            "tasks_total",
            "verified"
        ]
    );
    assert_eq!(keys(&p["groups"][0]), vec!["completion", "name"]);
    assert_eq!(
        keys(&p["deliverables"][0]),
        vec!["candidates", "claimed_done", "group", "path", "reason", "resolved", "status"]
    );
    assert_eq!(keys(&v["false_claims"][0]), vec!["path", "plan", "reason", "status"]);
    assert_eq!(p["format"], "markdown");
    let m = v["plans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["path"].as_str().unwrap().ends_with("MODULARIZATION_PLAN.md"))
        .unwrap();
    assert_eq!(keys(&m["tasks"][0]), vec!["done", "id", "paths"]);
    let ws = m["deliverables"].as_array().unwrap().iter().find(|d| d["path"] == "websocket_handler.py").unwrap();
    assert_eq!(ws["status"], "missing");
    assert_eq!(ws["claimed_done"], false);
    assert_eq!(ws["candidates"], serde_json::json!([]));
}

#[test]
fn bare_names_resolve_to_the_nearest_folder_above_the_plan() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("mono");
    write(
        &repo,
        "apps/web/docs/WIDGET_PLAN.md",
        "# Widget\n\n| Component | Files |\n|---|---|\n| UI | `widget.py`, `shared.py` |\n",
    );
    write(&repo, "apps/web/src/widget.py", REAL_PY);
    write(&repo, "apps/api/src/widget.py", REAL_PY);
    write(&repo, "apps/web/a/shared.py", REAL_PY);
    write(&repo, "apps/web/b/shared.py", REAL_PY);
    write(&repo, "libs/shared.py", REAL_PY);
    let r = run(&[], &[&repo], None, 0);
    let p = &r.plans[0];
    assert_eq!(rows(p), vec![row("widget.py", "UI", "present", false), row("shared.py", "UI", "ambiguous", false)]);
    let repo_s = s(&repo);
    assert_eq!(
        deliverable(p, "widget.py").reason.as_deref(),
        Some(format!("found at {repo_s}/apps/web/src/widget.py").as_str())
    );
    // the two under apps/web are the candidates; libs/ is further away
    assert_eq!(
        deliverable(p, "shared.py").candidates,
        vec![format!("{repo_s}/apps/web/a/shared.py"), format!("{repo_s}/apps/web/b/shared.py")]
    );
}
