//! The Copilot task planner's files: plans in `.copilot-tracking/plans/` (a checklist of
//! phases and tasks, `- [x] Task 1.1: …`, read as a Markdown plan; their `Details:` lines
//! point at the details file, a reference) and change logs in `.copilot-tracking/changes/`
//! (`### Added`, `### Modified`, `### Removed`, each a list of `path - summary`). A change
//! log says what was done: every file it lists as added or modified is claimed done (one
//! task per entry); a removed file is no output.

use super::{Expected, Extracted, as_path, clean_label, code_span_paths, markdown};
use crate::model::Task;

/// Is this a change log (`.copilot-tracking/changes/…`)?
pub fn is_changes(path: &str) -> bool {
    path.replace('\\', "/").contains(".copilot-tracking/changes/")
}

/// Parses a Copilot plan or change log.
pub fn parse(path: &str, content: &str) -> Extracted {
    if is_changes(path) { parse_changes(content) } else { markdown::parse(content, 0) }
}

/// A change log: the entries of its Added and Modified sections are done work.
pub fn parse_changes(content: &str) -> Extracted {
    let mut out = Extracted::default();
    let mut section: Option<(String, bool)> = None; // (title, lists outputs)
    for (no, line) in super::unfenced_lines(content) {
        let t = line.trim_start();
        let level = t.chars().take_while(|&c| c == '#').count();
        if level > 0 && t[level..].starts_with(' ') {
            let title = clean_label(t[level..].trim());
            if level == 1 && out.title.is_empty() {
                out.title = title.clone();
            }
            let l = title.to_ascii_lowercase();
            section = if l.starts_with("added") || l.starts_with("modified") || l.starts_with("changed") {
                Some((title, true))
            } else if l.starts_with("removed") || l.starts_with("deleted") {
                Some((title, false))
            } else {
                section.filter(|_| level > 3)
            };
            continue;
        }
        let Some((group, outputs)) = &section else { continue };
        let Some(item) = t.strip_prefix(['-', '*', '+']).map(str::trim_start) else { continue };
        if !outputs || line.starts_with([' ', '\t']) {
            continue;
        }
        // `- src/x.ts - Created the parser` or `` - `src/x.ts`: … ``: the entry's file
        let first = item.split_whitespace().next().unwrap_or("").trim_end_matches([':', ',']);
        let path = as_path(first, false).or_else(|| code_span_paths(item).into_iter().next());
        let Some(path) = path else { continue };
        out.tasks.push(Task { id: format!("L{no}"), done: true, paths: vec![path.clone()] });
        out.push(Expected { path, alt: None, group: group.clone(), claimed_done: true, line: no });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_log_entries() {
        let md = "# Release Changes: Parser\n\n## Changes\n\n### Added\n\n- src/parse.ts - Created the parser\n- `src/lex.ts`: tokens\n\n### Modified\n\n- package.json - Added the script\n\n### Removed\n\n- src/old.ts - Replaced by the parser\n";
        let e = parse_changes(md);
        let d: Vec<(&str, &str, bool)> =
            e.deliverables.iter().map(|d| (d.path.as_str(), d.group.as_str(), d.claimed_done)).collect();
        assert_eq!(
            d,
            [("src/parse.ts", "Added", true), ("src/lex.ts", "Added", true), ("package.json", "Modified", true)]
        );
        assert_eq!(e.tasks.len(), 3);
    }
}
