//! GitHub spec-kit `specs/<feature>/tasks.md`: `- [ ] T001 [P] [US1] Description in path`
//! (also with the id in bold, `- [x] **T001** …`), grouped by `## Phase N: …` headings, and
//! the Claude spec layout: `### T001: Title` headings whose `**File(s)**:` line declares the
//! task's outputs and whose `**Status**:` line (or a ✅ in the heading, or a ticked row of the
//! summary table) says it is done. Each path a task declares is a deliverable, claimed done
//! when its task is.

use std::collections::HashMap;

use super::{Expected, Extracted, claim, clean_label, status_value};
use crate::model::Task;

/// `T012`, `T001.5` at the start of `t` (after an optional `**`) → (id, rest after the id,
/// its closing `**` and a `:`/`.`).
fn task_id(t: &str) -> Option<(String, &str)> {
    let bold = t.starts_with("**");
    let t = t.trim_start_matches('*');
    let raw: String = t.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '.').collect();
    let id = raw.trim_end_matches('.').to_string();
    if id.len() < 2
        || !id.starts_with('T')
        || !id[1..].chars().all(|c| c.is_ascii_digit() || c == '.')
        || !id[1..].starts_with(|c: char| c.is_ascii_digit())
    {
        return None;
    }
    let mut rest = &t[id.len()..];
    if bold {
        rest = rest.trim_start_matches(['*', ':']);
    }
    Some((id, rest.trim_start_matches(['.', ':', ' ', '\t', '*'])))
}

/// Strips leading `[P]`, `[US1]`, `[Story]` tags.
fn strip_tags(mut rest: &str) -> &str {
    while rest.starts_with('[') {
        match rest.find(']') {
            Some(e) if e < 12 => rest = rest[e + 1..].trim_start(),
            _ => break,
        }
    }
    rest
}

/// `- [x] T012 [P] [US1] rest` or `- [x] **T012** rest` → (done, "T012", "rest without
/// tags").
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
    let (id, rest) = task_id(t.trim_start())?;
    Some((done, id, strip_tags(rest).to_string()))
}

/// `### T001: Title` (level 2 to 4) → ("T001", "Title").
pub fn parse_task_heading(line: &str) -> Option<(String, String)> {
    let t = line.trim_start();
    let level = t.chars().take_while(|&c| c == '#').count();
    if !(2..=4).contains(&level) || !t[level..].starts_with(' ') {
        return None;
    }
    let (id, rest) = task_id(t[level..].trim_start())?;
    Some((id, rest.trim().to_string()))
}

/// `**File(s)**: a, b` / `**Files:**` / `- **File**: …` → the text after the label.
pub fn files_field(line: &str) -> Option<&str> {
    let t = line.trim().trim_start_matches(['-', '*', '+', ' ']);
    let t = t.trim_start_matches(['*', '_']);
    let lower: String = t.chars().take(24).collect::<String>().to_ascii_lowercase();
    let label =
        ["file(s)", "files", "file", "outputs", "output", "deliverables", "deliverable", "creates", "location", "path"]
            .into_iter()
            .find(|l| lower.starts_with(l))?;
    let after = &t[label.len()..];
    let after = after.trim_start_matches(['*', '_', ' ']);
    let after = after.strip_prefix(':')?;
    Some(after.trim_start_matches(['*', '_', ' ']))
}

/// Is this detail line under a task one of its declared outputs: a `Files:` field, or a
/// bullet that starts by creating something (`Create src/x.ts`, `Write tests in …`)?
pub fn declares_output(text: &str) -> bool {
    if files_field(text).is_some() {
        return true;
    }
    let t = text.trim().trim_start_matches(['-', '*', '+', ' ']);
    let first = t.split(|c: char| !c.is_alphanumeric()).find(|w| !w.is_empty()).unwrap_or("").to_ascii_lowercase();
    super::CREATE_VERBS.contains(&first.as_str())
}

pub fn parse(content: &str) -> Extracted {
    let mut out = Extracted::default();
    let mut phase: Option<String> = None;
    let mut heading = String::from("General");
    let mut current: Option<usize> = None; // index into out.tasks for continuation lines
    // a `### T001:` heading task: (task index, its deliverables' indices, whether a Status
    // line or the heading decided it, whether a `File(s)` list follows on the next lines)
    let mut section: Option<(usize, Vec<usize>, bool, bool)> = None;
    // ids ticked / open in a summary table (`| T001 | … | [x] |`)
    let mut table_claims: HashMap<String, bool> = HashMap::new();
    let mut heading_tasks: Vec<(usize, Vec<usize>, bool)> = Vec::new();
    let close = |section: &mut Option<(usize, Vec<usize>, bool, bool)>,
                 heading_tasks: &mut Vec<(usize, Vec<usize>, bool)>| {
        if let Some((ti, ds, decided, _)) = section.take() {
            heading_tasks.push((ti, ds, decided));
        }
    };
    for (no, line) in super::unfenced_lines(content) {
        let t = line.trim_start();
        if t.starts_with('#') {
            close(&mut section, &mut heading_tasks);
            current = None;
            let level = t.chars().take_while(|&c| c == '#').count();
            let group = phase.clone().unwrap_or_else(|| heading.clone());
            if let Some((id, title)) = parse_task_heading(t) {
                let done = claim(&title, false) == Some(true);
                let decided = claim(&title, false).is_some();
                let paths = super::declared_paths(&title, false);
                let mut ds = Vec::new();
                for p in &paths {
                    ds.push(out.push_index(Expected {
                        path: p.clone(),
                        alt: None,
                        group: group.clone(),
                        claimed_done: done,
                        line: no,
                    }));
                }
                out.tasks.push(Task { id, done, paths });
                section = Some((out.tasks.len() - 1, ds, decided, false));
                continue;
            }
            let title = clean_label(t[level..].trim());
            if level == 1 && out.title.is_empty() {
                out.title = title.trim_start_matches("Tasks:").trim().to_string();
            }
            if level <= 2 {
                phase = title.to_lowercase().starts_with("phase").then(|| title.clone());
            }
            heading = title;
            continue;
        }
        let group = phase.clone().unwrap_or_else(|| heading.clone());
        if let Some((ti, ds, decided, list_follows)) = &mut section {
            let ti = *ti;
            if let Some(v) = files_field(t) {
                *list_follows = v.trim().is_empty();
                let done = out.tasks[ti].done;
                // `README.md` or create `scripts/README.md`: alternatives, none promised
                let alternatives = super::strip_code_spans(v).to_lowercase().contains(" or ");
                for p in super::declared_paths(v, true).into_iter().filter(|_| !alternatives) {
                    ds.push(out.promise_index(ti, p, group.clone(), done, no));
                }
                continue;
            }
            if *list_follows {
                if t.starts_with(['-', '*', '+']) && !t.starts_with("**") {
                    let done = out.tasks[ti].done;
                    for p in super::declared_paths(t, true) {
                        ds.push(out.promise_index(ti, p, group.clone(), done, no));
                    }
                    continue;
                }
                *list_follows = false;
            }
            if !*decided && let Some(v) = status_value(t) {
                if let Some(c) = claim(v, true) {
                    *decided = true;
                    out.tasks[ti].done = c;
                    for &d in ds.iter() {
                        out.deliverables[d].claimed_done = c;
                    }
                }
                continue;
            }
        }
        if t.starts_with('|') {
            // a summary row: `| T001 | Fix the defect | [x] |`
            let cells: Vec<&str> = t.trim_matches('|').split('|').map(str::trim).collect();
            if let Some((id, _)) = cells.first().and_then(|c| task_id(c))
                && cells.len() >= 2
                && let Some(c) = cells[1..].iter().rev().find_map(|c| claim(c, false))
            {
                table_claims.insert(id, c);
            }
            continue;
        }
        if section.is_some() {
            // acceptance boxes and notes under a heading task are not its outputs
            continue;
        }
        if let Some((done, id, rest)) = parse_task_line(line) {
            let paths = super::declared_paths(&rest, false);
            for p in &paths {
                out.push(Expected { path: p.clone(), alt: None, group: group.clone(), claimed_done: done, line: no });
            }
            out.tasks.push(Task { id, done, paths });
            current = Some(out.tasks.len() - 1);
            continue;
        }
        // indented detail lines belong to the task above; only declared outputs count
        if let Some(ti) = current {
            if line.starts_with([' ', '\t']) && !t.is_empty() {
                if let Some((target, strong)) = super::redirect_target(t)
                    && out.redirect(ti, target, strong, group.clone(), no)
                {
                    continue;
                }
                if declares_output(t) {
                    let done = out.tasks[ti].done;
                    let v = files_field(t).unwrap_or(t);
                    for p in super::declared_paths(v, files_field(t).is_some()) {
                        out.promise(ti, p, group.clone(), done, no);
                    }
                }
                continue;
            }
            if !t.is_empty() {
                current = None;
            }
        }
    }
    close(&mut section, &mut heading_tasks);
    // a heading task without a Status line takes the summary table's tick
    for (ti, ds, decided) in heading_tasks {
        if decided {
            continue;
        }
        if let Some(&c) = table_claims.get(&out.tasks[ti].id) {
            out.tasks[ti].done = c;
            for d in ds {
                out.deliverables[d].claimed_done |= c;
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
        assert_eq!(parse_task_line(l), Some((true, "T005".into(), "Scaffold chart in `k8s/helm/values.yaml`".into())));
        let l = "- [ ] T001.5 [P] Fix spec.md typo";
        assert_eq!(parse_task_line(l), Some((false, "T001.5".into(), "Fix spec.md typo".into())));
        let l = "- [x] **T004** [P] Create CLI module: `src/cli/mod.rs`";
        assert_eq!(parse_task_line(l), Some((true, "T004".into(), "Create CLI module: `src/cli/mod.rs`".into())));
        assert_eq!(parse_task_line("- [ ] Task without id"), None);
        assert_eq!(parse_task_line("- [ ] TODO write it"), None);
        assert_eq!(
            parse_task_heading("### T001: ✅ Create scripts"),
            Some(("T001".into(), "✅ Create scripts".into()))
        );
        assert_eq!(parse_task_heading("### T[NNN]: [Task Title]"), None);
        assert_eq!(files_field("**File(s)**: `src/a.rs`"), Some("`src/a.rs`"));
        assert_eq!(files_field("**Files:** `a.rs`"), Some("`a.rs`"));
        assert_eq!(files_field("**Filename** is x"), None);
    }

    fn rows(e: &Extracted) -> Vec<(&str, bool)> {
        e.deliverables.iter().map(|d| (d.path.as_str(), d.claimed_done)).collect()
    }

    #[test]
    fn claude_spec_layout() {
        let md = "# Tasks: X\n\n| Task | Description | Status |\n|---|---|---|\n| T001 | Fix | [x] |\n| T002 | Test | [ ] |\n\n### T001: Fix the Defect\n\n**File(s)**: `src/tabs.rs`\n**Type**: Modify\n**Acceptance**:\n- [ ] The loop in `src/other.rs` is changed\n\n### T002: Add test\n\n**File(s)**: `tests/a.feature`, `tests/bdd.rs`\n**Status**: Complete\n\n### T003: Verify\n\n**File(s)**: Existing test files (no changes)\n\n### T004: ✅ Write script\n**Files**:\n- `scripts/run.sh`\n- `scripts/README.md`\n\n**Notes**: see `docs/x.md`\n";
        let e = parse(md);
        assert_eq!(
            rows(&e),
            vec![
                ("src/tabs.rs", true),
                ("tests/a.feature", true),
                ("tests/bdd.rs", true),
                ("scripts/run.sh", true),
                ("scripts/README.md", true),
            ]
        );
        let ids: Vec<(&str, bool)> = e.tasks.iter().map(|t| (t.id.as_str(), t.done)).collect();
        assert_eq!(ids, vec![("T001", true), ("T002", true), ("T003", false), ("T004", true)]);
    }
}
