//! No task in code (issue 82, point 2): checkboxes in fenced or indented code blocks, block
//! quotes and HTML comments are never tasks, and a file whose only boxes are there is no plan.

use crate::common::*;

/// The shape of a Codex `PLANS.md` spec: the skeleton's Progress example sits in an indented
/// block under a paragraph (the spec asks for indented blocks instead of nested fences).
const SPEC: &str = "# Codex Execution Plans (ExecPlans)

This document describes the requirements for an execution plan.

## Progress

Use a list with checkboxes to summarize granular steps.

    - [x] (2025-10-01 13:00Z) Example completed step in `src/example.rs`.
    - [ ] Example incomplete step.
    - [ ] Example partially completed step (completed: X; remaining: Y).

Use timestamps to measure rates of progress.
";

const PLAN: &str = "# Cache plan

- [x] Create `src/cache.rs`
- [ ] Create `src/evict.rs`

> Quoted from the old plan:
> - [x] Create `src/quoted.rs`

<!--
- [x] Create `src/hidden.rs`
-->

```markdown
- [x] Create `src/fenced.rs`
```
";

#[test]
fn boxes_in_code_quotes_and_comments_are_never_tasks() {
    let tmp = tempfile::tempdir().unwrap();
    let plans = tmp.path().join("plans");
    let repo = tmp.path().join("repo");
    write(&plans, "PLANS.md", SPEC);
    write(&plans, "cache.md", PLAN);
    write(&repo, "src/cache.rs", REAL_TS);
    // a plan by its name in the repository whose only boxes are in a fence: an example
    write(
        &repo,
        "docs/TEMPLATE_PLAN.md",
        "# Template\n\n```md\n- [ ] Create `src/a.rs`\n- [x] Create `src/b.rs`\n```\n",
    );
    let r = run(&[&plans], &[&repo], None, 0);
    let names: Vec<&str> = r.plans.iter().map(|p| p.path.rsplit('/').next().unwrap()).collect();
    // PLANS.md's only boxes are an indented example, TEMPLATE_PLAN.md's a fenced one: no plans
    assert_eq!(names, ["cache.md"], "{names:?}");
    let p = plan(&r, "cache.md");
    // two real tasks; the quoted, hidden and fenced boxes are not counted
    assert_eq!((p.tasks_total, p.tasks_done), (2, 1));
    let paths: Vec<&str> = p.deliverables.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(paths, ["src/cache.rs", "src/evict.rs"]);
    // so the ticked box in the quote (src/quoted.rs, missing) is no false claim
    assert!(r.false_claims.is_empty(), "{:?}", r.false_claims);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
}
