//! beads `.beads/issues.jsonl`: one JSON issue per line (`id`, `title`, `description`,
//! `design`, `acceptance_criteria`, `notes`, `status`, `issue_type`). Each issue is a task,
//! done when `closed`; `open`, `in_progress`, `blocked`, `deferred`, `pinned` and `hooked`
//! are open. A `tombstone` (deleted) issue is listed, never counted, and promises nothing, nor
//! does a `message` (mail between agents, not work). The files an issue names in its
//! description, design, acceptance criteria or notes are its outputs, claimed done when it
//! is closed. A line that is not JSON is reported, never skipped silently.

use serde_json::Value;

use super::Extracted;
use super::taskmaster::{field_paths, text};
use crate::model::Task;

/// The text fields whose files are an issue's outputs.
const FIELDS: &[&str] = &["description", "design", "acceptance_criteria", "notes"];

/// Parses a beads issues file.
pub fn parse(content: &str) -> Extracted {
    let mut out = Extracted { title: "beads issues".into(), ..Extracted::default() };
    let mut bad: Vec<usize> = Vec::new();
    let mut read = 0usize;
    let mut ended: Vec<String> = Vec::new();
    for (i, line) in content.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            bad.push(i + 1);
            continue;
        };
        if !v.is_object() {
            bad.push(i + 1);
            continue;
        }
        read += 1;
        let id = text(v.get("id"));
        let status = text(v.get("status")).to_ascii_lowercase();
        if matches!(text(v.get("issue_type")).as_str(), "message") {
            continue;
        }
        let done = status == "closed";
        if status == "tombstone" {
            out.cancelled.push(id.clone());
            out.tasks.push(Task { id, done: false, paths: Vec::new() });
            continue;
        }
        let group = format!("{id}. {}", text(v.get("title")));
        out.tasks.push(Task { id, done, paths: Vec::new() });
        let ti = out.tasks.len() - 1;
        for p in field_paths(&v, FIELDS) {
            out.promise(ti, p, group.clone(), done, i + 1);
        }
        if done {
            ended.extend(ended_by(&text(v.get("title"))));
        }
    }
    // a file a closed issue split, removed or deleted is one the plan records the end of: the
    // issues that worked on it before claim it no more ("Split viewer_test.go by concern")
    for d in &mut out.deliverables {
        if d.claimed_done && ended.iter().any(|e| d.path == *e || d.path.ends_with(&format!("/{e}"))) {
            d.claimed_done = false;
        }
    }
    if read == 0 && !bad.is_empty() {
        out.unreadable = Some(format!("not JSON Lines: none of its {} line(s) is a JSON issue", bad.len()));
    } else if !bad.is_empty() {
        let first: Vec<String> = bad.iter().take(5).map(usize::to_string).collect();
        out.problems.push(format!(
            "{} line(s) are not JSON issues and were not read (line {}{})",
            bad.len(),
            first.join(", "),
            if bad.len() > 5 { ", …" } else { "" }
        ));
    }
    out
}

/// The files an issue's title says it ends: "Split `viewer_test.go` by concern", "Remove
/// docs/DESIGN.md", "Delete the old `difflib/` shim".
fn ended_by(title: &str) -> Vec<String> {
    let first = title.split_whitespace().next().unwrap_or("").to_lowercase();
    if !matches!(first.as_str(), "split" | "remove" | "delete" | "drop" | "retire") {
        return Vec::new();
    }
    super::line_paths(title)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issues_are_tasks_closed_is_done() {
        let jsonl = concat!(
            r#"{"id":"bd-1","title":"Parser","description":"Create `src/parse.rs`","status":"closed"}"#,
            "\n",
            r#"{"id":"bd-2","title":"CLI","design":"Add src/cli.rs","notes":"see docs","status":"in_progress"}"#,
            "\n",
            r#"{"id":"bd-3","title":"Old","description":"Create `src/old.rs`","status":"tombstone"}"#,
            "\nnot json\n",
        );
        let e = parse(jsonl);
        let t: Vec<(&str, bool)> = e.tasks.iter().map(|t| (t.id.as_str(), t.done)).collect();
        assert_eq!(t, [("bd-1", true), ("bd-2", false), ("bd-3", false)]);
        assert_eq!(e.cancelled, ["bd-3"]);
        let d: Vec<(&str, bool)> = e.deliverables.iter().map(|d| (d.path.as_str(), d.claimed_done)).collect();
        assert_eq!(d, [("src/parse.rs", true), ("src/cli.rs", false)]);
        assert_eq!(e.problems.len(), 1, "the line that is not JSON is reported");
        assert!(parse("nope\n").unreadable.is_some());
    }

    #[test]
    fn what_an_issue_shows_or_ends_claims_nothing() {
        let line = |id: &str, title: &str, d: &str| {
            serde_json::json!({"id": id, "title": title, "status": "closed", "description": d}).to_string()
        };
        let jsonl = [
            // fenced output, an open validation box, a section of files to delete, a "check
            // if" entry point: only the file it creates is claimed
            line(
                "a-1",
                "Viewer",
                "## Format\n```\n=== FILE: pkg/auth/login.go ===\n```\n## Files to Delete\n- docs/OLD.md\n## Entrypoints\n- Create `src/view.go`\n- `src/model.go` - check if empty files are dropped\n- src/view_test.go\n## Validation\n- [ ] `tool run data/cases.jsonl` works\n",
            ),
            // a later issue splits the test file the first one edited
            line("a-2", "Split view_test.go by concern", "Smaller files.\n"),
        ]
        .join("\n");
        let e = parse(&jsonl);
        let d: Vec<(&str, bool)> = e.deliverables.iter().map(|d| (d.path.as_str(), d.claimed_done)).collect();
        assert_eq!(d, [("src/view.go", true), ("src/view_test.go", false)]);
    }
}
