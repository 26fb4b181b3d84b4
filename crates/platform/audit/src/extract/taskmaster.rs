//! Taskmaster `.taskmaster/tasks/tasks.json` (and the older `tasks/tasks.json`): the tagged
//! layout `{"<tag>": {"tasks": [...], "metadata": …}}` and the older `{"tasks": [...]}`. Each
//! task (`id`, `title`, `description`, `details`, `testStrategy`, `status`, `subtasks`) is a
//! task of the plan; a subtask is task `<parent>.<id>`. The files a task names in its title,
//! description, `details` or `testStrategy` are its deliverables, claimed done when its
//! status is `done` (or `completed`). A `cancelled` task is listed but never counted; a
//! status the subtasks contradict (`done` with open subtasks, `pending` with all done) is a
//! declared status for the conflict check.

use serde_json::Value;

use super::{Declared, Extracted, code_span_paths, declared_paths};
use crate::model::Task;

/// Is this JSON text a Taskmaster task list (a `tasks` array at the top or under a tag)?
pub fn looks_like(content: &str) -> bool {
    let Ok(v) = serde_json::from_str::<Value>(content) else { return false };
    !task_lists(&v).is_empty()
}

/// The (tag, tasks) lists of a parsed file: `{"tasks": [...]}` is tag `""`.
fn task_lists(v: &Value) -> Vec<(String, &Vec<Value>)> {
    let Some(obj) = v.as_object() else { return Vec::new() };
    // a list of task-like objects (a `title` or `status`), not e.g. VS Code's `tasks.json`
    let tasklike =
        |t: &Vec<Value>| t.is_empty() || t.iter().any(|x| x.get("title").is_some() || x.get("status").is_some());
    if let Some(tasks) = obj.get("tasks").and_then(Value::as_array) {
        return if tasklike(tasks) { vec![(String::new(), tasks)] } else { Vec::new() };
    }
    obj.iter()
        .filter_map(|(tag, inner)| inner.get("tasks").and_then(Value::as_array).map(|t| (tag.clone(), t)))
        .filter(|(_, t)| tasklike(t))
        .collect()
}

pub(crate) fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn is_done(status: &str) -> bool {
    matches!(status.to_ascii_lowercase().as_str(), "done" | "completed" | "complete")
}

fn is_cancelled(status: &str) -> bool {
    matches!(status.to_ascii_lowercase().as_str(), "cancelled" | "canceled")
}

/// The files a task names: every line of its title, description, details and test strategy,
/// read as prose (so move sources, removals and examples are not outputs).
fn task_paths(t: &Value) -> Vec<String> {
    field_paths(t, &["title", "description", "details", "testStrategy"])
}

/// The files the text fields `fields` of a JSON task name, each field read as the Markdown it
/// is (Taskmaster, beads): a bare name counts in a code span or on a creating line. What is
/// shown, not said, claims nothing: fenced code, block quotes, HTML comments, and an open box
/// (`- [ ] \`tool run cases.jsonl\` works`) with the lines under it. A section says what its
/// lines are: under a heading that lists files to delete or remove, or files kept, the current
/// state, examples or usage, nothing is claimed; under one that lists files (`Files to
/// create`, `Entrypoints`, `Key Files`) each listed file is; elsewhere a line claims its files
/// when it creates or edits them, starts with one, or is a "`dir/` with `file`" (docs/audit.md).
pub fn field_paths(t: &Value, fields: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for field in fields {
        let body = text(t.get(*field));
        for (line, listed) in said_lines(&body) {
            // a bare name counts in a code span (`package.json`) or on a creating line
            let spans = code_span_paths(line);
            let prose = declared_paths(line, false);
            let kept = declared_paths(line, true)
                .into_iter()
                .filter(|p| p.contains('/') || spans.contains(p) || prose.contains(p));
            if !(listed || claims_by_itself(line)) {
                continue;
            }
            for p in kept {
                if !out.contains(&p) {
                    out.push(p);
                }
            }
        }
    }
    out
}

/// What a section heading of an issue's text says its lines are.
#[derive(Clone, Copy, PartialEq)]
enum Section {
    /// Prose: a line claims what it creates or edits.
    Prose,
    /// A list of the files the task works on: every listed file is claimed.
    Files,
    /// Files deleted, kept, the current state, examples: nothing is claimed.
    Nothing,
}

fn section_of(heading: &str) -> Option<Section> {
    let h = heading.to_lowercase();
    let has = |ws: &[&str]| ws.iter().any(|w| h.contains(w));
    if has(&["delete", "remove", "removal", "drop", "retire", "obsolete"]) {
        return Some(Section::Nothing);
    }
    if has(&[
        "keep",
        "kept",
        "unchanged",
        "current state",
        "before",
        "usage",
        "example",
        "output format",
        "background",
        "context",
        "reference",
        "related",
        "see also",
        "expected",
        "problem",
        "validation",
        "verification",
        "acceptance",
        "testing",
        "test plan",
    ]) {
        return Some(Section::Nothing);
    }
    if has(&["files", "entrypoint", "entry point", "deliverable", "outputs", "artifacts", "changes"]) {
        return Some(Section::Files);
    }
    None
}

/// A heading: `# …`, a line of bold only (`**Removed:**`), or a short label ending in `:`.
fn heading_text(t: &str) -> Option<&str> {
    if t.starts_with('#') {
        return Some(t.trim_start_matches('#').trim());
    }
    let bold = t.strip_prefix("**").and_then(|r| r.strip_suffix("**").or_else(|| r.strip_suffix("**:")));
    if let Some(b) = bold
        && !b.contains("**")
    {
        return Some(b.trim_end_matches(':'));
    }
    let plain = t.trim_end_matches(':');
    (t.ends_with(':') && plain.split_whitespace().count() <= 5 && !plain.contains('`') && !plain.contains('/'))
        .then_some(plain)
}

/// The lines of a text field that say something (see [`field_paths`]), each with whether it
/// is an item of a list of files.
fn said_lines(body: &str) -> Vec<(&str, bool)> {
    let mut out = Vec::new();
    let mut section = Section::Prose;
    let mut fence: Option<&str> = None;
    let mut comment = false;
    let mut open_box: Option<usize> = None;
    for line in body.lines() {
        let t = line.trim();
        if let Some(f) = fence {
            if t.starts_with(f) {
                fence = None;
            }
            continue;
        }
        if t.starts_with("```") || t.starts_with("~~~") {
            fence = Some(&t[..3]);
            continue;
        }
        if comment || t.starts_with("<!--") {
            comment = !t.contains("-->");
            continue;
        }
        if t.is_empty() || t.starts_with('>') {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        if let Some(i) = open_box {
            if indent > i {
                continue;
            }
            open_box = None;
        }
        let item = t.trim_start_matches(['-', '*', '+', '•', ' ']);
        if item.starts_with("[ ]") {
            open_box = Some(indent);
            continue;
        }
        if let Some(h) = heading_text(t) {
            section = section_of(h).unwrap_or(if t.starts_with('#') { Section::Prose } else { section });
            continue;
        }
        // "Evaluate reusing existing rendering from the other tool:" introduces files to read
        if t.ends_with(':') && ["existing", "reuse", "reusing", "evaluate"].iter().any(|w| t.to_lowercase().contains(w))
        {
            section = Section::Nothing;
            continue;
        }
        match section {
            Section::Nothing => {}
            Section::Files => {
                let listed = item.len() < t.len() || super::as_path(first_word(item), false).is_some();
                out.push((line, listed && !only_looks(item)));
            }
            Section::Prose => out.push((line, false)),
        }
    }
    out
}

/// Does the line only look at a file: check, verify or investigate it, or cite it as existing
/// code, without creating or editing it ("`bubbletea/model.go` - check if files with no hunks
/// are filtered out", "`lipgloss/renderer.go` - existing styled renderer")?
fn only_looks(t: &str) -> bool {
    let lower = t.to_lowercase();
    ["check if", "check whether", "investigate", "verify ", "look at", "inspect ", " existing "]
        .iter()
        .any(|m| lower.contains(m))
        && !super::kiro::acts_on_a_file_pub(t)
}

fn first_word(t: &str) -> &str {
    t.split([' ', ':', '(']).next().unwrap_or("")
}

/// Does a line of prose claim the files it names by itself: it creates or edits them
/// (`Create gemini/client.go`), starts with one (`` - `src/a.rs`: the parser ``), marks one
/// new, or puts a file in a folder ("`tools/x/` with `package.json`")? A line that only
/// checks, verifies or investigates a file ("check if `model.go` filters them") does not.
fn claims_by_itself(line: &str) -> bool {
    let t = line.trim().trim_start_matches(['-', '*', '+', '•', ' ']);
    let t = t.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.' || c == ')').trim_start();
    let lower = t.to_lowercase();
    if only_looks(t) {
        return false;
    }
    super::as_path(first_word(t), false).is_some()
        || lower.contains("(new")
        || lower.contains("/ with ")
        || lower.contains("/` with ")
        || super::kiro::acts_on_a_file_pub(t)
}

/// Parses a Taskmaster file. Text that is not JSON, or JSON without a tasks array, yields
/// nothing and says why in `unreadable`.
pub fn parse(content: &str) -> Extracted {
    let mut out = Extracted::default();
    let v: Value = match serde_json::from_str(content) {
        Ok(v) => v,
        Err(e) => {
            out.unreadable = Some(format!("not valid JSON ({e}), so its tasks cannot be read"));
            return out;
        }
    };
    let lists = task_lists(&v);
    if lists.is_empty() {
        out.unreadable = Some(
            "a JSON file without a `tasks` array (neither `{\"tasks\": [...]}` nor `{\"<tag>\": {\"tasks\": [...]}}`)"
                .into(),
        );
        return out;
    }
    let tagged = lists.len() > 1 || lists.iter().any(|(t, _)| !t.is_empty());
    for (tag, tasks) in lists {
        for t in tasks {
            let id = text(t.get("id"));
            let id = if tagged { format!("{tag}:{id}") } else { id };
            let status = text(t.get("status"));
            let group = format!("{id}. {}", text(t.get("title")));
            push_task(&mut out, &id, &status, t, &group);
            let subs = t.get("subtasks").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
            let (mut done, mut total) = (0, 0);
            for s in subs {
                let sid = format!("{id}.{}", text(s.get("id")));
                let sstatus = text(s.get("status"));
                push_task(&mut out, &sid, &sstatus, s, &group);
                if !is_cancelled(&sstatus) && !matches!(sstatus.to_ascii_lowercase().as_str(), "deferred") {
                    total += 1;
                    done += usize::from(is_done(&sstatus));
                }
            }
            if total > 0 && !status.is_empty() {
                out.declared.push(Declared { task: Some(id.clone()), status, done, total });
            }
        }
    }
    out
}

fn push_task(out: &mut Extracted, id: &str, status: &str, t: &Value, group: &str) {
    let done = is_done(status);
    let paths = task_paths(t);
    out.tasks.push(Task { id: id.to_string(), done, paths: Vec::new() });
    let ti = out.tasks.len() - 1;
    if is_cancelled(status) {
        // listed, never counted, and what it named is no promise
        out.cancelled.push(id.to_string());
        return;
    }
    for p in paths {
        out.promise(ti, p, group.to_string(), done, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagged_and_legacy_layouts() {
        let tagged = r#"{"master": {"tasks": [
            {"id": 1, "title": "Setup", "status": "done", "details": "Create `package.json` and src/index.ts",
             "testStrategy": "Run tests/setup.test.ts", "subtasks": [
                {"id": 1, "title": "Init", "status": "done", "details": "write .gitignore"},
                {"id": 2, "title": "Lint", "status": "pending", "details": "Add eslint.config.js"}]},
            {"id": 2, "title": "Drop", "status": "cancelled", "details": "Create src/old.ts"}
        ], "metadata": {}}}"#;
        let e = parse(tagged);
        let ids: Vec<&str> = e.tasks.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["master:1", "master:1.1", "master:1.2", "master:2"]);
        assert_eq!(e.tasks[0].paths, ["package.json", "src/index.ts", "tests/setup.test.ts"]);
        assert_eq!(e.cancelled, ["master:2"]);
        assert!(e.deliverables.iter().all(|d| d.path != "src/old.ts"), "a cancelled task promises nothing");
        // done with one of two subtasks open
        assert_eq!(e.declared, [Declared { task: Some("master:1".into()), status: "done".into(), done: 1, total: 2 }]);
        // a sentence that neither creates nor edits a file ("the loader reads src/b.rs") claims
        // nothing, in every format (issue 82)
        let legacy = r#"{"tasks": [{"id": 3, "title": "A", "status": "pending", "details": "Add src/a.rs\nthe loader reads src/b.rs"}]}"#;
        let e = parse(legacy);
        assert_eq!(e.tasks[0].id, "3");
        assert_eq!(e.tasks[0].paths, ["src/a.rs"]);
    }

    #[test]
    fn what_cannot_be_read_says_why() {
        assert!(parse("{\"tasks\": [").unreadable.unwrap().contains("not valid JSON"));
        assert!(parse("{\"name\": 1}").unreadable.unwrap().contains("without a `tasks` array"));
        assert!(looks_like("{\"tasks\": []}"));
        assert!(!looks_like("{\"name\": 1}"));
    }
}
