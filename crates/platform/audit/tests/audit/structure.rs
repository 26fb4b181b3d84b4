//! Claims follow the plan's own structure (issue 82, point 3): a file named only in a
//! heading, a note or an open task is never claimed; a heading marked done claims what its
//! ticked children claim; redirects on a task's sub-bullets name the file to check instead.

use crate::common::*;
use baton_audit::*;

fn status<'a>(p: &'a PlanReport, path: &str) -> Option<(&'a str, bool)> {
    p.deliverables.iter().find(|d| d.path == path).map(|d| (d.status.as_str(), d.claimed_done))
}

const MARKDOWN: &str = "# Port plan

## Phase 0 ✅

### `src/under.rs`

- [ ] Write it

## ✗ `src/legacy.rs`

- [ ] Port the parser
- [ ] Port the writer

## ✅ `src/parser.rs`

- [x] Tokenizer
- [x] Error paths

## ✓ `src/half.rs`

- [x] Reader
- [ ] Writer

## Phase 2 (done)

- [ ] Create `src/open.rs`
- [x] Create `src/done.rs`
  - Implemented in `src/impl/done.rs`

Note: `src/noted.rs` holds the old helpers.
";

#[test]
fn headings_notes_and_open_tasks_claim_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let plans = tmp.path().join("plans");
    let repo = tmp.path().join("repo");
    write(&plans, "port.md", MARKDOWN);
    write(&repo, "src/impl/done.rs", REAL_TS);
    let r = run(&[&plans], &[&repo], None, 0);
    let p = plan(&r, "port.md");
    // named only in a heading marked ✗ over open boxes: listed, never claimed (the false alarm)
    assert_eq!(status(p, "src/legacy.rs"), Some(("missing", false)));
    // a plain heading under a done phase, over an open box: not claimed by the phase
    assert_eq!(status(p, "src/under.rs"), Some(("missing", false)));
    // a ✅ heading whose boxes are all ticked claims its file: missing, a true false claim
    assert_eq!(status(p, "src/parser.rs"), Some(("missing", true)));
    // a ✓ heading with an open box under it claims nothing yet
    assert_eq!(status(p, "src/half.rs"), Some(("missing", false)));
    // an open box under a done heading is not claimed
    assert_eq!(status(p, "src/open.rs"), Some(("missing", false)));
    // the sub-bullet redirects the ticked task: its target is checked, the old name is not
    assert_eq!(status(p, "src/done.rs"), None);
    assert_eq!(status(p, "src/impl/done.rs"), Some(("present", true)));
    // a note names, never claims
    assert_eq!(status(p, "src/noted.rs"), None);
    let fc: Vec<&str> = r.false_claims.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(fc, ["src/parser.rs"]);
}

const KIRO: &str = "# Implementation Plan

- [x] 1. Auth
  - [x] 1.1 Create `src/auth.ts`
    - Implemented in `src/login/auth.ts`
  - [x] 1.2 Create `src/session.ts`
    - See `src/state/session.ts` for the store
  - [x] 1.3 Create `src/token.ts`
    - See `docs/tokens.md` for the format
    - The loader reads `config/tokens.yaml` at start
- [x] 2. Move the cache
  - Create `src/cache.ts`
  - Moved to `packages/core/cache.ts`
";

#[test]
fn redirects_on_sub_bullets_name_the_file_to_check() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    write(&repo, ".kiro/specs/auth/tasks.md", KIRO);
    write(&repo, "src/login/auth.ts", REAL_TS);
    write(&repo, "src/state/session.ts", REAL_TS);
    write(&repo, "packages/core/cache.ts", REAL_TS);
    let r = run(&[], &[&repo], None, 0);
    let p = plan(&r, "tasks.md");
    assert_eq!(p.format, PlanFormat::Kiro);
    // "Implemented in X" on a sub-bullet: X is the task's output, the name on its line is not
    assert_eq!(status(p, "src/auth.ts"), None);
    assert_eq!(status(p, "src/login/auth.ts"), Some(("present", true)));
    // "See X" of the same file name redirects too
    assert_eq!(status(p, "src/session.ts"), None);
    assert_eq!(status(p, "src/state/session.ts"), Some(("present", true)));
    // "See X" of another file is a reference: the task still promises its own file
    assert_eq!(status(p, "src/token.ts"), Some(("missing", true)));
    assert_eq!(status(p, "docs/tokens.md"), None);
    // a sentence that neither creates nor edits the file it names describes, never claims
    assert_eq!(status(p, "config/tokens.yaml"), None);
    // "Moved to X" under a task whose one output came from a detail line
    assert_eq!(status(p, "src/cache.ts"), None);
    assert_eq!(status(p, "packages/core/cache.ts"), Some(("present", true)));
    let task = |id: &str| p.tasks.iter().find(|t| t.id == id).unwrap().paths.clone();
    assert_eq!(task("1.1"), ["src/login/auth.ts"]);
    assert_eq!(task("2"), ["packages/core/cache.ts"]);
    let fc: Vec<&str> = r.false_claims.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(fc, ["src/token.ts"]);
}

#[test]
fn folders_with_files_in_json_bullets_and_cited_files() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    // a Taskmaster subtask whose details list "`DIR/` with `FILE`" in `•` bullets (and one in
    // plain words): the file is DIR/FILE, and a 0-byte one is a stub
    let tasks = r#"{"master": {"tasks": [{"id": 1, "title": "Test setup", "status": "done", "subtasks": [
        {"id": 1, "title": "Scaffold", "status": "done",
         "details": "Steps:\n• Create `tests/` with `test_main.py`\n• fixtures/ with sample.json"}]}]}}"#;
    write(&repo, ".taskmaster/tasks/tasks.json", tasks);
    write(&repo, "tests/test_main.py", "");
    write(&repo, "fixtures/sample.json", "{\"id\": 1}\n");
    // a spec-kit heading task names a bare file its File(s) field gives in full (the file
    // cited as upstream's sits in a field that is no output anyway; `extract` unit tests
    // cover "from X's" on a task's own line)
    write(
        &repo,
        "specs/001-parse/tasks.md",
        "# Tasks\n\n### T001: Add the `parser.rs` module\n\n**File(s)**: `src/parse/parser.rs`\n**Status**: Complete\n\n### T002: Schema\n\n**File(s)**: `docs/schema.md`\n**Status**: Complete\n**Description**: Write `docs/schema.md` from upstream's `spec/schema.yaml`\n",
    );
    write(&repo, "src/parse/parser.rs", REAL_TS);
    write(&repo, "docs/schema.md", REAL_MD);
    let r = run(&[], &[&repo], None, 0);
    let tm = plan(&r, "tasks.json");
    assert_eq!(status(tm, "tests/test_main.py"), Some(("stub", true)));
    assert_eq!(status(tm, "fixtures/sample.json"), Some(("present", true)));
    let sk = plan(&r, "tasks.md");
    // the bare name in the title is the File(s) path, not a second deliverable
    assert_eq!(
        sk.deliverables.iter().map(|d| d.path.as_str()).collect::<Vec<_>>(),
        ["src/parse/parser.rs", "docs/schema.md"]
    );
    assert_eq!(sk.verified, 1.0);
    let fc: Vec<&str> = r.false_claims.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(fc, ["tests/test_main.py"]);
}
