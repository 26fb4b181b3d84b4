//! Codex ExecPlans: a living plan (`.agent/plans/NNN-*.md`, or the folder its `PLANS.md`
//! names) whose `## Progress` section lists the milestones as checkboxes, often stamped
//! `- [x] (2025-10-01 13:00Z) Added the parser in `src/parse.rs``. Every box under
//! `## Progress` is a task (nested ones too), done when ticked; the files a box names (and
//! the detail bullets under it that create or edit one) are its outputs. The rest of an
//! ExecPlan is prose (purpose, context, plan of work, interfaces): it names files to read
//! and to change, but claims nothing done, so it promises nothing here.

use super::{Extracted, clean_label, declared_paths, kiro::detail_paths, redirect_target};
use crate::model::Task;

/// `- [x] text` → (done, text).
fn checkbox(line: &str) -> Option<(bool, &str)> {
    let t = line.trim_start().strip_prefix(['-', '*', '+'])?.trim_start();
    if let Some(r) = t.strip_prefix("[ ]") {
        return Some((false, r.trim()));
    }
    t.strip_prefix("[x]").or_else(|| t.strip_prefix("[X]")).map(|r| (true, r.trim()))
}

/// The text without a leading `(2025-10-01)` / `(2025-10-01 13:00Z)` stamp (also the
/// template's `(YYYY-MM-DD HH:MMZ)`).
pub fn strip_stamp(text: &str) -> &str {
    let t = text.trim_start();
    if let Some(inner) = t.strip_prefix('(')
        && let Some(end) = inner.find(')')
    {
        let stamp = &inner[..end];
        let date = stamp.get(..10).unwrap_or("");
        let is_date = date.len() == 10
            && date.char_indices().all(|(i, c)| if i == 4 || i == 7 { c == '-' } else { c.is_ascii_digit() })
            || date.eq_ignore_ascii_case("YYYY-MM-DD");
        if is_date {
            return inner[end + 1..].trim_start();
        }
    }
    t
}

/// Does this text read as an ExecPlan (a `## Progress` section and the word)?
pub fn looks_like(content: &str) -> bool {
    content.contains("ExecPlan")
        && content.lines().any(|l| l.trim_start().strip_prefix("## ").is_some_and(|h| h.trim().starts_with("Progress")))
}

/// Parses an ExecPlan.
pub fn parse(content: &str) -> Extracted {
    let mut out = Extracted::default();
    let mut in_progress = false;
    let mut current: Option<usize> = None;
    for (no, line) in super::unfenced_lines(content) {
        let t = line.trim_start();
        let level = t.chars().take_while(|&c| c == '#').count();
        if level > 0 && t[level..].starts_with(' ') {
            let title = clean_label(t[level..].trim());
            if level == 1 && out.title.is_empty() {
                out.title = title.clone();
            }
            if level <= 2 {
                in_progress = title.to_ascii_lowercase().starts_with("progress");
            }
            current = None;
            continue;
        }
        if !in_progress {
            continue;
        }
        if let Some((done, text)) = checkbox(line) {
            let text = strip_stamp(text);
            let paths = declared_paths(text, false);
            let id = format!("M{}", out.tasks.len() + 1);
            out.tasks.push(Task { id, done, paths: Vec::new() });
            let ti = out.tasks.len() - 1;
            for p in paths {
                out.promise(ti, p, "Progress".into(), done, no);
            }
            current = Some(ti);
            continue;
        }
        match current {
            Some(ti) if line.starts_with([' ', '\t']) && !t.is_empty() => {
                if let Some((target, strong)) = redirect_target(t)
                    && out.redirect(ti, target, strong, "Progress".into(), no)
                {
                    continue;
                }
                let done = out.tasks[ti].done;
                for p in detail_paths(t) {
                    out.promise(ti, p, "Progress".into(), done, no);
                }
            }
            _ if !t.is_empty() => current = None,
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_and_milestones() {
        assert_eq!(strip_stamp("(2025-10-01 13:00Z) Added `a.rs`"), "Added `a.rs`");
        assert_eq!(strip_stamp("(2025-10-01) Done"), "Done");
        assert_eq!(strip_stamp("(YYYY-MM-DD HH:MMZ) Example"), "Example");
        assert_eq!(strip_stamp("(see notes) x"), "(see notes) x");
        let md = "# Parser\n\n## Purpose\n\n- [x] not a milestone in `src/no.rs`\n\n## Progress\n\n- [x] (2025-10-01 13:00Z) Created `src/parse.rs`.\n- [ ] Write `tests/parse.rs`\n  - [x] (2025-10-02) Fixture in `tests/data/a.json`\n\n## Plan of Work\n\nEdit `src/lib.rs` to call it.\n";
        let e = parse(md);
        let ids: Vec<(&str, bool)> = e.tasks.iter().map(|t| (t.id.as_str(), t.done)).collect();
        assert_eq!(ids, [("M1", true), ("M2", false), ("M3", true)]);
        let d: Vec<(&str, bool)> = e.deliverables.iter().map(|d| (d.path.as_str(), d.claimed_done)).collect();
        assert_eq!(d, [("src/parse.rs", true), ("tests/parse.rs", false), ("tests/data/a.json", true)]);
    }
}
