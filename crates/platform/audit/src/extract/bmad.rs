//! BMAD stories (`docs/stories/*.story.md`, or the `devStoryLocation` of
//! `.bmad-core/core-config.yaml`): a `Status` section, a `Tasks / Subtasks` checklist and a
//! `Dev Agent Record → File List`. Read by structure, not by heading words, so stories
//! written in other languages are read too: the status is the one-line section that names a
//! known status (or the section headed `Status`), the tasks are the checkboxes of the `##`
//! section holding the most of them, and the file list is the list, under a heading after the
//! tasks, whose items start with a path. The file list is what the story says it produced:
//! claimed done when the status says done or ready for review.

use super::{Declared, Expected, Extracted, clean_label, declared_paths, status_kind, unfenced_lines};
use crate::model::Task;

/// One heading and the lines under it up to the next heading of any level.
struct Section<'a> {
    level: usize,
    title: String,
    /// (1-based line, text)
    body: Vec<(usize, &'a str)>,
}

fn sections(content: &str) -> (String, Vec<Section<'_>>) {
    let mut title = String::new();
    let mut out: Vec<Section> = vec![Section { level: 0, title: String::new(), body: Vec::new() }];
    for (no, line) in unfenced_lines(content) {
        let t = line.trim_start();
        let level = t.chars().take_while(|&c| c == '#').count();
        if level > 0 && t[level..].starts_with(' ') {
            let h = clean_label(t[level..].trim());
            if level == 1 && title.is_empty() {
                title = h.clone();
            }
            out.push(Section { level, title: h, body: Vec::new() });
        } else if let Some(s) = out.last_mut() {
            s.body.push((no, line));
        }
    }
    (title, out)
}

/// `- [x] text` → (indent, done, text).
fn checkbox(line: &str) -> Option<(usize, bool, &str)> {
    let indent = line.len() - line.trim_start().len();
    let t = line.trim_start().strip_prefix(['-', '*', '+'])?.trim_start();
    let (done, rest) = if let Some(r) = t.strip_prefix("[ ]") {
        (false, r)
    } else if let Some(r) = t.strip_prefix("[x]").or_else(|| t.strip_prefix("[X]")) {
        (true, r)
    } else {
        return None;
    };
    Some((indent, done, rest.trim()))
}

/// Heading words that name the status section, in the languages seen in stories.
const STATUS_HEADINGS: &[&str] = &["status", "상태", "estado", "statut", "状态", "狀態", "ステータス", "stato"];

/// The section's one line of text, when it has exactly one.
fn one_line<'a>(s: &Section<'a>) -> Option<&'a str> {
    let mut lines = s.body.iter().map(|(_, l)| l.trim()).filter(|l| !l.is_empty());
    let first = lines.next()?;
    lines.next().is_none().then_some(first)
}

/// Parses a story. Pure: the same text always gives the same result.
pub fn parse(content: &str) -> Extracted {
    let (title, secs) = sections(content);
    let mut out = Extracted { title, ..Extracted::default() };
    // the tasks section: the level-2 section (with its subsections) holding the most boxes
    let mut best: Option<(usize, usize)> = None; // (section index, boxes)
    let mut i = 0;
    while i < secs.len() {
        if secs[i].level == 2 || (i == 0 && secs.len() == 1) {
            let end = (i + 1..secs.len()).find(|&j| secs[j].level <= 2 && secs[j].level > 0).unwrap_or(secs.len());
            let boxes: usize =
                secs[i..end].iter().map(|s| s.body.iter().filter(|(_, l)| checkbox(l).is_some()).count()).sum();
            if boxes > best.map_or(0, |b| b.1) {
                best = Some((i, boxes));
            }
        }
        i += 1;
    }
    let tasks_at = best.map(|b| b.0);
    let tasks_end = tasks_at.map(|t| (t + 1..secs.len()).find(|&j| secs[j].level <= 2).unwrap_or(secs.len()));
    // the status: a section headed `Status` (any known language), else a one-line section
    // before the tasks that names a known status; or a `Status: X` line there
    let before_tasks = &secs[..tasks_at.unwrap_or(secs.len())];
    let status = before_tasks
        .iter()
        .find(|s| STATUS_HEADINGS.contains(&s.title.to_lowercase().as_str()))
        .and_then(one_line)
        .or_else(|| before_tasks.iter().filter_map(one_line).find(|l| l.len() <= 40 && status_kind(l).is_some()))
        .or_else(|| before_tasks.iter().flat_map(|s| &s.body).find_map(|(_, l)| super::status_value(l)))
        // a v6 story's one line under its title is `Status: review`: the status is its value
        .map(|l| clean_label(super::status_value(l).unwrap_or(l)));
    let claimed = status.as_deref().and_then(status_kind) == Some(super::StatusKind::Done);
    if let (Some(t), Some(end)) = (tasks_at, tasks_end) {
        read_tasks(&secs[t..end], &mut out);
    }
    if let Some(end) = tasks_end {
        read_file_list(&secs[end..], claimed, &mut out);
    }
    if let Some(status) = status {
        let done = out.tasks.iter().filter(|t| t.done).count();
        out.declared.push(Declared { task: None, status, done, total: out.tasks.len() });
    }
    out
}

/// Every box of the tasks section is a task (`1`, `1.1`, … by nesting); the files a box or
/// a detail bullet under it names are that task's outputs.
fn read_tasks(secs: &[Section], out: &mut Extracted) {
    let mut numbers: Vec<(usize, usize)> = Vec::new(); // (indent, number) per open level
    let mut current: Option<(usize, usize, String)> = None; // (task index, indent, group)
    for s in secs {
        for &(no, line) in &s.body {
            if let Some((indent, done, text)) = checkbox(line) {
                while numbers.last().is_some_and(|(ind, _)| *ind > indent) {
                    numbers.pop();
                }
                match numbers.last_mut() {
                    Some((ind, n)) if *ind == indent => *n += 1,
                    _ => numbers.push((indent, 1)),
                }
                let id = numbers.iter().map(|(_, n)| n.to_string()).collect::<Vec<_>>().join(".");
                let group = if numbers.len() == 1 {
                    clean_label(text)
                } else {
                    current.as_ref().map_or_else(|| clean_label(text), |c| c.2.clone())
                };
                out.tasks.push(Task { id, done, paths: Vec::new() });
                let ti = out.tasks.len() - 1;
                for p in declared_paths(text, false) {
                    out.promise(ti, p, group.clone(), done, no);
                }
                current = Some((ti, indent, group));
            } else if let Some((ti, indent, group)) = &current {
                let t = line.trim_start();
                let deeper = line.len() - t.len() > *indent;
                if deeper && !t.is_empty() {
                    if let Some((target, strong)) = super::redirect_target(t)
                        && out.redirect(*ti, target, strong, group.clone(), no)
                    {
                        continue;
                    }
                    let done = out.tasks[*ti].done;
                    for p in super::kiro::detail_paths(t) {
                        out.promise(*ti, p, group.clone(), done, no);
                    }
                }
            }
        }
    }
}

/// The list items of a section: (line, text after the bullet).
fn items<'a>(s: &Section<'a>) -> Vec<(usize, &'a str)> {
    s.body
        .iter()
        .filter_map(|&(no, l)| l.trim_start().strip_prefix(['-', '*', '+']).map(|r| (no, r.trim())))
        .filter(|(_, r)| !r.is_empty())
        .collect()
}

/// Does this list item start with a path (`` `src/a.ts` ``, `src/a.ts - new`)?
fn starts_with_path(item: &str) -> bool {
    let first = item.split_whitespace().next().unwrap_or("");
    super::as_path(first, false).is_some()
}

/// The file list: the last heading after the tasks whose list items mostly start with a
/// path (a heading such as `File List` is preferred). Deleted or removed entries are not
/// outputs.
fn read_file_list(secs: &[Section], claimed: bool, out: &mut Extracted) {
    let is_list = |s: &Section| {
        let it = items(s);
        let with = it.iter().filter(|(_, r)| starts_with_path(r)).count();
        with > 0 && with * 2 >= it.len()
    };
    let named = secs.iter().rev().find(|s| {
        let t = s.title.to_lowercase();
        (t.contains("file list") || t.contains("파일 목록") || t.contains("파일 리스트")) && is_list(s)
    });
    let Some(list) = named.or_else(|| secs.iter().rev().find(|s| s.level >= 3 && is_list(s))) else { return };
    let group = list.title.clone();
    // a label line over a part of the list says what its entries are: `**Removed
    // (boilerplate):**` and `**Generated:**` entries are no outputs, `**Modified:**` ones are
    let mut skipped_part = false;
    for &(no, line) in &list.body {
        let t = line.trim();
        let Some(item) =
            t.strip_prefix(['-', '*', '+']).map(str::trim).filter(|r| !r.is_empty() && !t.starts_with("**"))
        else {
            if !t.is_empty() {
                let lower = t.to_lowercase();
                skipped_part = ["deleted", "removed", "generated", "삭제"].iter().any(|w| lower.contains(w));
            }
            continue;
        };
        let lower = item.to_lowercase();
        if skipped_part || ["deleted", "removed", "삭제"].iter().any(|w| lower.contains(w)) {
            continue;
        }
        let first = item.split_whitespace().next().unwrap_or("");
        if let Some(p) = super::as_path(first, false) {
            out.push(Expected { path: p, alt: None, group: group.clone(), claimed_done: claimed, line: no });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_and_korean_stories() {
        let en = "# Story 1.2: Login\n\n## Status\n\nDone\n\n## Story\n\n**As a** user\n\n## Tasks / Subtasks\n\n- [x] Task 1: form (AC: 1)\n  - [x] Create `src/login/Form.tsx`\n  - [ ] Write tests in `src/login/Form.test.tsx`\n- [ ] Task 2\n\n## Dev Notes\n\n- `src/auth/README.md` explains the flow\n\n## Dev Agent Record\n\n### File List\n\n- `src/login/Form.tsx` (new)\n- src/login/api.ts - modified\n- `src/old.ts` (deleted)\n";
        let e = parse(en);
        assert_eq!(e.title, "Story 1.2: Login");
        let ids: Vec<&str> = e.tasks.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["1", "1.1", "1.2", "2"]);
        assert_eq!(e.declared, [Declared { task: None, status: "Done".into(), done: 2, total: 4 }]);
        let paths: Vec<(&str, bool)> = e.deliverables.iter().map(|d| (d.path.as_str(), d.claimed_done)).collect();
        assert_eq!(
            paths,
            [("src/login/Form.tsx", true), ("src/login/Form.test.tsx", false), ("src/login/api.ts", true)],
            "Dev Notes are context; a deleted file is no output"
        );
        let ko = "# 스토리 1.1: 설정\n\n## 상태\n\n검토 준비 완료\n\n## 작업 / 하위 작업\n\n- [x] 작업 1\n  - [ ] `package.json` 생성\n\n## 개발 에이전트 기록\n\n### 파일 목록\n\n- `package.json`\n";
        let e = parse(ko);
        assert_eq!(e.tasks.len(), 2);
        assert_eq!(e.declared[0].status, "검토 준비 완료");
        assert_eq!(e.declared[0].done, 1);
        assert!(e.deliverables.iter().any(|d| d.path == "package.json" && d.claimed_done));
    }
}
