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
            let paths = declared_paths(&rest, false);
            for p in &paths {
                out.push(Expected { path: p.clone(), alt: None, group: group.clone(), claimed_done: done, line: no });
            }
            out.tasks.push(Task { id, done, paths });
            current = Some((out.tasks.len() - 1, group));
            continue;
        }
        if let Some((ti, group)) = &current {
            if line.starts_with([' ', '\t']) && !t.is_empty() {
                if t.trim_start_matches(['-', '*', ' ']).starts_with("_Requirements") {
                    continue;
                }
                // prose under a task counts only when it declares the task's outputs
                if declares_output(t) {
                    let done = out.tasks[*ti].done;
                    let field = files_field(t);
                    for p in declared_paths(field.unwrap_or(t), field.is_some()) {
                        out.promise(*ti, p, group.clone(), done, no);
                    }
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
