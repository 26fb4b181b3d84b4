//! GitHub spec-kit `specs/<feature>/tasks.md`: `- [ ] T001 [P] [US1] Description in path`,
//! grouped by `## Phase N: …` headings. Each path a task names is a deliverable, claimed
//! done when its task is ticked.

use super::{Expected, Extracted, clean_label, line_paths};
use crate::model::Task;

/// `- [x] T012 [P] [US1] rest` → (done, "T012", "rest without tags").
pub fn parse_task_line(line: &str) -> Option<(bool, String, String)> {
    let t = line.trim_start();
    let t = t.strip_prefix(['-', '*'])?.trim_start();
    let (done, t) = if let Some(r) = t.strip_prefix("[ ]") {
        (false, r)
    } else if let Some(r) = t.strip_prefix("[x]").or_else(|| t.strip_prefix("[X]")) {
        (true, r)
    } else {
        return None;
    };
    let t = t.trim_start();
    // `T012`, also `T001.5` (a task slipped in between)
    let raw: String = t
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '.')
        .collect();
    let id = raw.trim_end_matches('.').to_string();
    if id.len() < 2
        || !id.starts_with('T')
        || !id[1..].chars().all(|c| c.is_ascii_digit() || c == '.')
        || !id[1..].starts_with(|c: char| c.is_ascii_digit())
    {
        return None;
    }
    let mut rest = t[id.len()..].trim_start_matches(['.', ' ', '\t']);
    // [P], [US1], [Story] tags
    while rest.starts_with('[') {
        match rest.find(']') {
            Some(e) if e < 12 => rest = rest[e + 1..].trim_start(),
            _ => break,
        }
    }
    Some((done, id, rest.to_string()))
}

pub fn parse(content: &str) -> Extracted {
    let mut out = Extracted::default();
    let mut phase: Option<String> = None;
    let mut heading = String::from("General");
    let mut current: Option<usize> = None; // index into out.tasks for continuation lines
    for (no, line) in super::unfenced_lines(content) {
        let t = line.trim_start();
        if t.starts_with('#') {
            let level = t.chars().take_while(|&c| c == '#').count();
            let title = clean_label(t[level..].trim());
            if level == 1 && out.title.is_empty() {
                out.title = title.trim_start_matches("Tasks:").trim().to_string();
            }
            if level <= 2 {
                phase = title
                    .to_lowercase()
                    .starts_with("phase")
                    .then(|| title.clone());
            }
            heading = title;
            current = None;
            continue;
        }
        let group = phase.clone().unwrap_or_else(|| heading.clone());
        if let Some((done, id, rest)) = parse_task_line(line) {
            let paths = line_paths(&rest);
            for p in &paths {
                out.push(Expected {
                    path: p.clone(),
                    alt: None,
                    group: group.clone(),
                    claimed_done: done,
                    line: no,
                });
            }
            out.tasks.push(Task { id, done, paths });
            current = Some(out.tasks.len() - 1);
            continue;
        }
        // indented detail lines belong to the task above
        if let Some(ti) = current {
            if line.starts_with([' ', '\t']) && !t.is_empty() {
                let done = out.tasks[ti].done;
                for p in line_paths(t) {
                    out.promise(ti, p, group.clone(), done, no);
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
    fn task_lines() {
        let l = "- [X] T005 [P] [US2] Scaffold chart in `k8s/helm/values.yaml`";
        assert_eq!(
            parse_task_line(l),
            Some((
                true,
                "T005".into(),
                "Scaffold chart in `k8s/helm/values.yaml`".into()
            ))
        );
        let l = "- [ ] T001.5 [P] Fix spec.md typo";
        assert_eq!(
            parse_task_line(l),
            Some((false, "T001.5".into(), "Fix spec.md typo".into()))
        );
        assert_eq!(parse_task_line("- [ ] Task without id"), None);
        assert_eq!(parse_task_line("- [ ] TODO write it"), None);
    }
}
