//! Kiro `.kiro/specs/<feature>/tasks.md`: `- [ ] 2.1 Title` with indented detail bullets and
//! `_Requirements: 1.1_`. A top-level task (`2.`) is the group of its sub-tasks (`2.1`).

use super::{
    Expected, Extracted, clean_label, declared_paths,
    speckit::{declares_output, files_field},
};
use crate::model::Task;

/// `- [x] 2.1 Title` (also `[-]` in progress, `[ ]*` optional) → (done, "2.1", "Title").
pub fn parse_task_line(line: &str) -> Option<(bool, String, String)> {
    let t = line.trim_start();
    let t = t.strip_prefix(['-', '*'])?.trim_start();
    let (done, t) = if let Some(r) = t.strip_prefix("[ ]").or_else(|| t.strip_prefix("[-]")) {
        (false, r)
    } else if let Some(r) = t.strip_prefix("[x]").or_else(|| t.strip_prefix("[X]")) {
        (true, r)
    } else {
        return None;
    };
    let t = t.trim_start_matches('*').trim_start();
    let id: String = t.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    let id = id.trim_end_matches('.').to_string();
    if id.is_empty() || !id.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let rest = t[t.chars().take_while(|c| c.is_ascii_digit() || *c == '.').count()..].trim();
    Some((done, id, rest.to_string()))
}

/// Does the text end with a parenthesis that opens with a path (`Add tests
/// (tests/a_test.cpp)`, `(Cargo.toml, src/lib.rs)`)? Then the title names its output there; a
/// parenthesis that opens with words (`(see README.md)`) does not.
fn parenthesised_path(text: &str) -> bool {
    let t = text.trim_end();
    let Some(inner) = t.strip_suffix(')').and_then(|t| t.rfind('(').map(|i| &t[i + 1..])) else {
        return false;
    };
    let first = inner.split([' ', ',']).next().unwrap_or("");
    super::as_path(first, false).is_some()
}

/// Words that open a detail line pointing at existing code to follow or reuse, never at an
/// output: `Follows the pattern of `src/x.ts``, `_Leverage: src/y.ts_`, `See docs/z.md`.
const REFERENCE_WORDS: &[&str] = &[
    "follow",
    "follows",
    "following",
    "see",
    "refer",
    "refers",
    "reference",
    "references",
    "based",
    "similar",
    "like",
    "per",
    "mirror",
    "mirrors",
    "pattern",
    "leverage",
    "reuse",
    "reuses",
    "requirements",
    "note",
    "notes",
    "read",
    "reads",
    "consult",
    "inspired",
    "existing",
    "uses",
    "using",
];

/// The outputs a detail line under a task declares: a `Files:` field; a bullet that starts
/// with the file it describes (`` `tests/x_test.cpp`: … ``) or marks it `(new file)`; any
/// line that creates or edits a named file (`Move the lock before the checks in
/// `gas/Code.js``: the file it edits). Lines that point at code to follow or reuse
/// (`Follows`, `_Leverage:`, `See`) name no output, nor does the source of a move.
pub fn detail_paths(text: &str) -> Vec<String> {
    let t = text.trim().trim_start_matches(['-', '*', '+', ' ', '_']);
    if let Some(field) = files_field(t) {
        return declared_paths(field, true);
    }
    let first = t.split(|c: char| !c.is_alphanumeric()).find(|w| !w.is_empty()).unwrap_or("").to_lowercase();
    if REFERENCE_WORDS.contains(&first.as_str()) {
        return Vec::new();
    }
    let lead = t.split([':', ' ']).next().unwrap_or("");
    let leads_with_path = t.starts_with('`') && super::as_path(lead, false).is_some();
    let new_file = t.to_lowercase().contains("(new file")
        || t.to_lowercase().contains("(new)")
        || (t.starts_with('(') && parenthesised_path(t));
    if !(leads_with_path || new_file || acts_on_a_file(t)) {
        // a sentence that neither creates nor edits the file it names ("the loader reads
        // `config/app.yaml` at start") describes; it does not promise
        return Vec::new();
    }
    declared_paths(t, leads_with_path || new_file || declares_output(t))
}

/// Verbs that make a detail line's files outputs besides the creating ones
/// ([`super::CREATE_VERBS`]): editing, moving, wiring, testing a file.
pub(crate) const EDIT_VERBS: &[&str] = &[
    "update",
    "updates",
    "updated",
    "modify",
    "modifies",
    "modified",
    "edit",
    "edits",
    "edited",
    "change",
    "changes",
    "changed",
    "fix",
    "fixes",
    "fixed",
    "refactor",
    "refactors",
    "refactored",
    "extend",
    "extends",
    "extended",
    "move",
    "moves",
    "moved",
    "rename",
    "renames",
    "renamed",
    "replace",
    "replaces",
    "replaced",
    "wire",
    "wires",
    "wired",
    "register",
    "registers",
    "registered",
    "export",
    "exports",
    "exported",
    "configure",
    "configures",
    "configured",
    "rewrite",
    "rewrites",
    "rewritten",
    "append",
    "appends",
    "appended",
    "insert",
    "inserts",
    "inserted",
    "patch",
    "patches",
    "patched",
    "port",
    "ports",
    "ported",
    "convert",
    "converts",
    "converted",
    "migrate",
    "migrates",
    "migrated",
    "split",
    "splits",
    "merge",
    "merges",
    "merged",
    "build",
    "builds",
    "built",
    "store",
    "stores",
    "stored",
    "save",
    "saves",
    "saved",
    "put",
    "place",
    "places",
    "placed",
    "document",
    "documents",
    "documented",
    "expose",
    "exposes",
    "exposed",
    "integrate",
    "integrates",
    "integrated",
    "adjust",
    "adjusts",
    "adjusted",
    "extract",
    "extracts",
    "extracted",
    "remove",
    "removes",
    "removed",
    "delete",
    "deletes",
    "deleted",
    "test",
    "tests",
    "tested",
    "cover",
    "covers",
    "covered",
    "bump",
    "bumps",
    "bumped",
    "set",
    "sets",
    "enable",
    "enables",
    "disable",
    "disables",
    "declare",
    "declares",
    "declared",
    "hook",
    "hooks",
    "connect",
    "connects",
    "mount",
    "mounts",
    "route",
    "routes",
    "include",
    "includes",
    "included",
    "import",
    "imports",
    "imported",
    "emit",
    "emits",
];

/// Does the line create or edit a file (a creating or editing verb), or only mention one?
/// [`acts_on_a_file`] for the JSON formats' prose.
pub(crate) fn acts_on_a_file_pub(text: &str) -> bool {
    acts_on_a_file(text)
}

fn acts_on_a_file(text: &str) -> bool {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).any(|w| {
        let w = w.to_ascii_lowercase();
        super::CREATE_VERBS.contains(&w.as_str()) || EDIT_VERBS.contains(&w.as_str())
    }) || files_field(text).is_some()
}

pub fn parse(content: &str) -> Extracted {
    let mut out = Extracted::default();
    let mut top_group = String::from("General");
    let mut current: Option<(usize, String)> = None; // task index, group
    for (no, line) in super::unfenced_lines(content) {
        let t = line.trim_start();
        if t.starts_with('#') {
            let level = t.chars().take_while(|&c| c == '#').count();
            let title = clean_label(t[level..].trim());
            if level == 1 && out.title.is_empty() {
                out.title = title.clone();
            }
            top_group = title;
            current = None;
            continue;
        }
        if let Some((done, id, rest)) = parse_task_line(line) {
            let group = if id.contains('.') {
                let major = id.split('.').next().unwrap_or("");
                if top_group.starts_with(&format!("{major}. ")) { top_group.clone() } else { format!("{major}.") }
            } else {
                top_group = format!("{id}. {}", clean_label(&rest));
                top_group.clone()
            };
            // the title continued in parentheses names its output (`Add tests (tests/a_test.cpp)`)
            let paths = declared_paths(&rest, parenthesised_path(&rest));
            for p in &paths {
                out.push(Expected { path: p.clone(), alt: None, group: group.clone(), claimed_done: done, line: no });
            }
            out.tasks.push(Task { id, done, paths });
            current = Some((out.tasks.len() - 1, group));
            continue;
        }
        if let Some((ti, group)) = &current {
            if line.starts_with([' ', '\t']) && !t.is_empty() {
                if let Some((target, strong)) = super::redirect_target(t)
                    && out.redirect(*ti, target, strong, group.clone(), no)
                {
                    continue;
                }
                let done = out.tasks[*ti].done;
                for p in detail_paths(t) {
                    out.promise(*ti, p, group.clone(), done, no);
                }
                continue;
            }
            if !t.is_empty() {
                current = None;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_continued_in_parentheses() {
        assert!(parenthesised_path("Coverage gate (scripts/coverage_gate.sh)"));
        assert!(parenthesised_path("Manifests (`Cargo.toml`, `vcpkg.json`)"));
        assert!(!parenthesised_path("Update config (see README.md)"));
        assert!(!parenthesised_path("No parenthesis"));
        assert!(parse("- [x] 1. Docs (see README.md)\n").deliverables.is_empty());
        assert_eq!(parse("- [x] 1. Build (`CMakeLists.txt`)\n").deliverables[0].path, "CMakeLists.txt");
        // a bullet that continues the title on its own line
        let e = parse("- [x] 1. Parser tests\n  (tests/parser_test.cpp)\n");
        assert_eq!(e.tasks[0].paths, ["tests/parser_test.cpp"]);
    }
}
