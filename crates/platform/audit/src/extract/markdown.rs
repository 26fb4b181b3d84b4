//! Free-form Markdown plans: deliverable tables, lists of files in code spans, project
//! structure trees in fenced blocks, checkbox tasks, and the "done" claims around them
//! (✅ in a row, a ticked box, a `Status: Complete` line or a ✅ heading over a section).

use super::{
    Expected, Extracted, as_path, claim, clean_label, code_span_paths, declared_paths, line_paths, status_value,
    strip_code_spans,
};

/// A list item that opens with a path (`- \`models.py\`: data models`) is an entry of a file
/// list, not prose.
fn starts_with_path(text: &str) -> bool {
    let t = text.trim().trim_start_matches(['*', '_', ' ']);
    let first = t.split_whitespace().next().unwrap_or("");
    let first = first.trim_end_matches([':', ',', '*', '-', '—']);
    as_path(first, false).is_some()
}

/// A label that announces a list of files (`Files:`, `Deliverables`, `Expected outputs`).
fn is_files_label(label: &str) -> bool {
    let l = label.to_lowercase();
    ["file", "deliverable", "output", "artifact", "structure", "layout", "module", "component"]
        .iter()
        .any(|k| l.contains(k))
}
use crate::model::Task;

/// A heading's section and the claim it (or a `Status:` line in it) makes.
struct Section {
    title: String,
    level: usize,
    own: Option<bool>,
    parent: Option<usize>,
}

fn heading(line: &str) -> Option<(usize, &str)> {
    let t = line.trim_start();
    if line.len() - t.len() > 3 {
        return None;
    }
    let level = t.chars().take_while(|&c| c == '#').count();
    if level == 0 || level > 6 {
        return None;
    }
    let rest = &t[level..];
    if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
        return None;
    }
    Some((level, rest.trim().trim_end_matches('#').trim()))
}

fn fence_marker(line: &str) -> Option<(String, String)> {
    let t = line.trim_start();
    for ch in ['`', '~'] {
        let n = t.chars().take_while(|&c| c == ch).count();
        if n >= 3 {
            let lang = t[n..].split_whitespace().next().unwrap_or("").to_lowercase();
            return Some((std::iter::repeat_n(ch, n).collect(), lang));
        }
    }
    None
}

/// The claim a heading makes: a marker (✅), or a short status heading ("Completed").
fn heading_claim(title: &str) -> Option<bool> {
    if let Some(c) = claim(title, false) {
        return Some(c);
    }
    let plain = strip_code_spans(title).to_lowercase();
    let ws: Vec<&str> = plain.split(|c: char| !c.is_alphabetic()).filter(|w| !w.is_empty()).collect();
    if ws.len() <= 3 && !ws.iter().any(|w| matches!(*w, "definition" | "criteria" | "when" | "how")) {
        return claim(title, true);
    }
    None
}

fn is_separator_row(line: &str) -> bool {
    let t = line.trim();
    t.contains('-') && t.chars().all(|c| matches!(c, '|' | '-' | ':' | ' ' | '\t'))
}

/// Splits a table row on `|`, respecting `\|` and code spans.
fn split_row(line: &str) -> Vec<String> {
    let t = line.trim();
    let t = t.strip_prefix('|').unwrap_or(t);
    let t = t.strip_suffix('|').unwrap_or(t);
    let mut cells = Vec::new();
    let mut cur = String::new();
    let mut in_code = false;
    let mut prev = '\0';
    for c in t.chars() {
        match c {
            '`' => {
                in_code = !in_code;
                cur.push(c);
            }
            '|' if !in_code && prev != '\\' => {
                cells.push(cur.trim().to_string());
                cur.clear();
            }
            _ => cur.push(c),
        }
        prev = c;
    }
    cells.push(cur.trim().to_string());
    cells
}

/// An open code fence: its marker, language, and the (line number, text) lines so far.
type OpenFence<'a> = (String, String, Vec<(usize, &'a str)>);

struct Table {
    status_cols: Vec<usize>,
    first_is_path_col: bool,
}

fn list_item(line: &str) -> Option<(usize, Option<bool>, &str)> {
    let indent = line.chars().take_while(|c| *c == ' ' || *c == '\t').count();
    let t = line.trim_start();
    let rest = if let Some(r) = t.strip_prefix(['-', '*', '+']) {
        r
    } else {
        let digits = t.chars().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 || digits > 4 {
            return None;
        }
        t[digits..].strip_prefix(['.', ')'])?
    };
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    let rest = rest.trim_start();
    for (mark, done) in [("[ ]", false), ("[x]", true), ("[X]", true), ("[-]", false)] {
        if let Some(r) = rest.strip_prefix(mark) {
            return Some((indent, Some(done), r.trim_start().trim_start_matches('*').trim_start()));
        }
    }
    Some((indent, None, rest))
}

/// A leading `**Label:**` of a list item or paragraph.
fn bold_label(text: &str) -> Option<String> {
    let r = text.trim().strip_prefix("**")?;
    let end = r.find("**")?;
    let inner = &r[..end];
    if code_span_paths(inner).is_empty() && as_path(inner, false).is_none() {
        let l = clean_label(inner);
        if !l.is_empty() {
            return Some(l);
        }
    }
    None
}

/// Task id from the start of a checkbox line: `T001`, `2.1`, `**Task 3**`; else `L<line>`.
fn task_id(text: &str, line: usize) -> String {
    let t = text.trim().trim_start_matches('*');
    let first = t.split_whitespace().next().unwrap_or("").trim_end_matches(['.', ':', '*']);
    let is_code = first.len() >= 2
        && first.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && first.chars().any(|c| c.is_ascii_digit())
        && first.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !first.contains('.');
    let is_num = !first.is_empty()
        && first.chars().all(|c| c.is_ascii_digit() || c == '.')
        && first.chars().next().is_some_and(|c| c.is_ascii_digit());
    if is_code || is_num { first.to_string() } else { format!("L{line}") }
}

fn tree_like(lines: &[(usize, &str)], lang: &str) -> bool {
    if !matches!(
        lang,
        "" | "text" | "txt" | "tree" | "plaintext" | "plain" | "none" | "bash" | "sh" | "shell" | "console"
    ) {
        return false;
    }
    let boxy = lines
        .iter()
        .filter(|(_, l)| {
            l.contains("├") || l.contains("└") || l.contains("|--") || l.contains("`--") || l.contains("+--")
        })
        .count();
    if boxy >= 2 {
        return true;
    }
    if !lang.is_empty() && lang != "text" && lang != "tree" {
        return false;
    }
    let entries: Vec<&str> =
        lines.iter().map(|(_, l)| strip_tree_comment(l).trim()).filter(|l| !l.is_empty()).collect();
    entries.len() >= 3 && entries[0].ends_with('/') && entries.iter().all(|e| !e.contains(' '))
}

fn strip_tree_comment(line: &str) -> &str {
    let mut end = line.len();
    for pat in [" #", " //", " ←", " <-", " <--", "\t#"] {
        if let Some(i) = line.find(pat) {
            end = end.min(i);
        }
    }
    &line[..end]
}

/// Parses a project-structure tree into (column, name, rest-of-line) entries.
fn tree_entries<'a>(lines: &[(usize, &'a str)]) -> Vec<(usize, usize, &'a str, &'a str)> {
    let mut out = Vec::new();
    for &(no, line) in lines {
        let mut col = 0;
        let mut idx = 0;
        let bytes: Vec<(usize, char)> = line.char_indices().collect();
        let mut k = 0;
        while k < bytes.len() {
            let (_, c) = bytes[k];
            let ascii_branch = (c == '+' || c == '|' || c == '`') && bytes.get(k + 1).is_some_and(|&(_, n)| n == '-');
            if matches!(c, ' ' | '\t' | '│' | '├' | '└' | '─' | '┬' | '┃' | '┣' | '┗' | '━' | '\u{a0}')
                || ascii_branch
                || c == '|'
                || (c == '-' && k > 0 && matches!(bytes[k - 1].1, '-' | '+' | '|' | '`'))
            {
                col += if c == '\t' { 4 } else { 1 };
                k += 1;
                continue;
            }
            idx = bytes[k].0;
            break;
        }
        if k >= bytes.len() {
            continue;
        }
        let body = strip_tree_comment(&line[idx..]);
        let name = body.split_whitespace().next().unwrap_or("");
        if name.is_empty() {
            continue;
        }
        let rest = &line[idx + name.len().min(line.len() - idx)..];
        out.push((no, col, name, rest));
    }
    out
}

fn parse_tree(lines: &[(usize, &str)], group: &str, inherited: Option<bool>, out: &mut Extracted) {
    let entries = tree_entries(lines);
    if entries.is_empty() {
        return;
    }
    // a single top folder holding everything else is the project root
    let (_, c0, n0, _) = entries[0];
    let root = if (n0.ends_with('/') || entries.len() > 1) && entries[1..].iter().all(|e| e.1 > c0) && !n0.contains('.')
        || n0 == "./"
        || n0 == "."
    {
        Some(n0.trim_end_matches('/'))
    } else {
        None
    };
    let mut stack: Vec<(usize, String)> = Vec::new();
    let start = usize::from(root.is_some());
    for i in start..entries.len() {
        let (no, col, name, rest) = entries[i];
        while stack.last().is_some_and(|(c, _)| *c >= col) {
            stack.pop();
        }
        let next_deeper = entries.get(i + 1).is_some_and(|e| e.1 > col);
        let clean = name.trim_end_matches('/');
        if name.ends_with('/') || (next_deeper && as_path(clean, false).is_none()) {
            stack.push((col, clean.to_string()));
            continue;
        }
        let rel: Vec<&str> = stack.iter().map(|(_, n)| n.as_str()).chain(std::iter::once(clean)).collect();
        let rel = rel.join("/");
        let Some(rel) = as_path(&rel, false) else {
            continue;
        };
        let (path, alt) = match root {
            Some(r) if r != "." && !r.is_empty() => (format!("{r}/{rel}"), Some(rel.clone())),
            _ => (rel.clone(), None),
        };
        let grp = if stack.is_empty() {
            group.to_string()
        } else {
            stack.iter().map(|(_, n)| n.as_str()).collect::<Vec<_>>().join("/")
        };
        let claimed = claim(rest, false).or(inherited) == Some(true);
        out.push(Expected { path, alt, group: grp, claimed_done: claimed, line: no });
    }
}

/// Parses a free-form Markdown plan. `line_offset` is added to line numbers (for a body
/// after front matter).
pub fn parse(content: &str, line_offset: usize) -> Extracted {
    let lines: Vec<&str> = content.lines().collect();

    // Pass 1: sections and their claims.
    let mut sections = vec![Section { title: String::new(), level: 0, own: None, parent: None }];
    let mut line_section = vec![0usize; lines.len()];
    {
        let mut fence: Option<String> = None;
        let mut cur = 0usize;
        for (i, line) in lines.iter().enumerate() {
            if let Some(f) = &fence {
                if line.trim_start().starts_with(f.as_str()) {
                    fence = None;
                }
                line_section[i] = cur;
                continue;
            }
            if let Some((f, _)) = fence_marker(line) {
                fence = Some(f);
                line_section[i] = cur;
                continue;
            }
            if let Some((level, title)) = heading(line) {
                let mut parent = Some(cur);
                while let Some(p) = parent {
                    if sections[p].level < level {
                        break;
                    }
                    parent = sections[p].parent;
                }
                sections.push(Section { title: clean_label(title), level, own: heading_claim(title), parent });
                cur = sections.len() - 1;
            } else if let Some(v) = status_value(line)
                && sections[cur].own.is_none()
            {
                sections[cur].own = claim(v, true);
            }
            line_section[i] = cur;
        }
    }
    let effective = |mut s: usize| -> Option<bool> {
        loop {
            if let Some(c) = sections[s].own {
                return Some(c);
            }
            s = sections[s].parent?;
        }
    };
    let group_of = |s: usize| -> String {
        let mut s = s;
        loop {
            if !sections[s].title.is_empty() || sections[s].parent.is_none() {
                return if sections[s].title.is_empty() { "General".to_string() } else { sections[s].title.clone() };
            }
            s = sections[s].parent.unwrap_or(0);
        }
    };

    // Pass 2: deliverables.
    let mut out = Extracted::default();
    let mut table: Option<Table> = None;
    // (indent, label, own claim, is a checkbox task)
    let mut list_stack: Vec<(usize, Option<String>, Option<bool>, bool)> = Vec::new();
    let mut label: Option<String> = None;
    let mut fence: Option<OpenFence> = None;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let no = i + 1 + line_offset;
        let sec = line_section[i];
        if let Some((f, lang, buf)) = &mut fence {
            if line.trim_start().starts_with(f.as_str()) && line.trim().chars().all(|c| c == '`' || c == '~') {
                if tree_like(buf, lang) {
                    let grp = label.clone().unwrap_or_else(|| group_of(sec));
                    let buf = std::mem::take(buf);
                    parse_tree(&buf, &grp, effective(sec), &mut out);
                }
                fence = None;
            } else {
                buf.push((no, line));
            }
            i += 1;
            continue;
        }
        if let Some((f, lang)) = fence_marker(line) {
            fence = Some((f, lang, Vec::new()));
            i += 1;
            continue;
        }
        if let Some((_, title)) = heading(line) {
            if out.title.is_empty() {
                out.title = clean_label(title);
            }
            table = None;
            list_stack.clear();
            label = None;
            let claimed = effective(sec) == Some(true);
            for p in code_span_paths(title) {
                out.push(Expected {
                    path: p,
                    alt: None,
                    group: group_of(sections[sec].parent.unwrap_or(0)),
                    claimed_done: claimed,
                    line: no,
                });
            }
            i += 1;
            continue;
        }
        let trimmed = line.trim();
        if trimmed.starts_with('|') {
            if table.is_none() {
                if lines.get(i + 1).is_some_and(|n| is_separator_row(n)) {
                    let header: Vec<String> = split_row(line).iter().map(|h| h.to_lowercase()).collect();
                    let status_cols = header
                        .iter()
                        .enumerate()
                        .filter(|(_, h)| {
                            ["status", "state", "done", "progress", "complete"].iter().any(|k| h.contains(k))
                        })
                        .map(|(j, _)| j)
                        .collect();
                    let first_is_path_col = header.first().is_some_and(|h| {
                        ["file", "path", "module", "script", "deliverable", "output"].iter().any(|k| h.contains(k))
                    });
                    table = Some(Table { status_cols, first_is_path_col });
                    i += 2;
                    continue;
                }
                table = Some(Table { status_cols: Vec::new(), first_is_path_col: false });
            }
            if is_separator_row(line) {
                i += 1;
                continue;
            }
            let Some(t) = &table else {
                i += 1;
                continue;
            };
            let cells = split_row(line);
            let cell_paths: Vec<Vec<String>> = cells.iter().map(|c| line_paths(c)).collect();
            let mut row_claim: Option<bool> = None;
            for (j, c) in cells.iter().enumerate() {
                let cl = claim(c, t.status_cols.contains(&j));
                match (row_claim, cl) {
                    (_, Some(false)) => row_claim = Some(false),
                    (None, Some(true)) => row_claim = Some(true),
                    _ => {}
                }
            }
            let claimed = row_claim.or(effective(sec)) == Some(true);
            let group = match cells.first() {
                Some(c0)
                    if !t.first_is_path_col
                        && cell_paths[0].is_empty()
                        && !c0.trim().is_empty()
                        && !c0.trim().chars().all(|c| c.is_ascii_digit() || c == '.') =>
                {
                    let l = clean_label(c0);
                    if l.is_empty() { label.clone().unwrap_or_else(|| group_of(sec)) } else { l }
                }
                _ => label.clone().unwrap_or_else(|| group_of(sec)),
            };
            let row_paths: Vec<String> = cell_paths.into_iter().flatten().collect();
            if !t.status_cols.is_empty() {
                // a plan written as a table: each row is a task, done when its status cell says so
                let done = t.status_cols.iter().filter_map(|&j| cells.get(j)).any(|c| claim(c, true) == Some(true))
                    && !t.status_cols.iter().filter_map(|&j| cells.get(j)).any(|c| claim(c, true) == Some(false));
                let first = cells.first().map_or("", String::as_str);
                out.tasks.push(Task { id: task_id(first, no), done, paths: row_paths.clone() });
            }
            for p in row_paths {
                out.push(Expected { path: p, alt: None, group: group.clone(), claimed_done: claimed, line: no });
            }
            i += 1;
            continue;
        }
        table = None;
        if let Some((indent, checkbox, text)) = list_item(line) {
            while list_stack.last().is_some_and(|(ind, _, _, _)| *ind >= indent) {
                list_stack.pop();
            }
            let under_task = list_stack.iter().any(|(_, _, _, task)| *task);
            let field = super::speckit::files_field(text);
            let starts_with_path = starts_with_path(text);
            let paths = if field.is_some() {
                declared_paths(field.unwrap_or(text), true)
            } else if under_task && checkbox.is_none() && !starts_with_path && !super::speckit::declares_output(text) {
                // prose under a task: notes and references, not its declared outputs
                Vec::new()
            } else {
                declared_paths(text, starts_with_path || label.as_deref().is_some_and(is_files_label))
            };
            let own =
                checkbox.or_else(|| claim(text, false)).or_else(|| status_value(text).and_then(|v| claim(v, true)));
            let inherited = own.or_else(|| list_stack.iter().rev().find_map(|(_, _, c, _)| *c)).or(effective(sec));
            let item_label = bold_label(text);
            let group = item_label
                .clone()
                .filter(|_| !paths.is_empty())
                .or_else(|| list_stack.iter().rev().find_map(|(_, l, _, _)| l.clone()))
                .or_else(|| label.clone())
                .unwrap_or_else(|| group_of(sec));
            if let Some(done) = checkbox {
                out.tasks.push(Task { id: task_id(text, no), done, paths: paths.clone() });
            }
            for p in &paths {
                out.push(Expected {
                    path: p.clone(),
                    alt: None,
                    group: group.clone(),
                    claimed_done: inherited == Some(true),
                    line: no,
                });
            }
            let parent_label = if paths.is_empty() {
                let l = item_label.unwrap_or_else(|| clean_label(text));
                (l.chars().count() <= 60 && !l.is_empty()).then_some(l)
            } else {
                None
            };
            list_stack.push((indent, parent_label, own, checkbox.is_some()));
            i += 1;
            continue;
        }
        if trimmed.is_empty() {
            i += 1;
            continue;
        }
        // paragraph
        if !line.starts_with([' ', '\t']) {
            list_stack.clear();
        }
        let spans = if super::is_context_line(trimmed) { Vec::new() } else { code_span_paths(trimmed) };
        if spans.is_empty() {
            if status_value(trimmed).is_none() {
                if let Some(l) = bold_label(trimmed) {
                    label = Some(l);
                } else if trimmed.ends_with(':') && trimmed.chars().count() <= 60 {
                    label = Some(clean_label(trimmed));
                }
            }
        } else {
            // a line that is mostly a list of files: "Files: `a.py`, `b.py`"
            let rest = strip_code_spans(trimmed);
            let words = rest.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).count();
            if words <= 4 {
                let group = bold_label(trimmed).or_else(|| label.clone()).unwrap_or_else(|| group_of(sec));
                let claimed = claim(trimmed, false).or(effective(sec)) == Some(true);
                for p in spans {
                    out.push(Expected { path: p, alt: None, group: group.clone(), claimed_done: claimed, line: no });
                }
            }
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(e: &Extracted) -> Vec<(&str, &str, bool)> {
        e.deliverables.iter().map(|d| (d.path.as_str(), d.group.as_str(), d.claimed_done)).collect()
    }

    #[test]
    fn component_table() {
        let md = "# Plan\n\n## Deliverables\n\n| Component | Expected Files | Status |\n|---|---|---|\n| Core | `event_queue.py`, `event_handler.py` | ✅ Complete |\n| Dashboard | `dashboard_service.py` | ⚠️ 33% |\n";
        let e = parse(md, 0);
        assert_eq!(
            paths(&e),
            vec![
                ("event_queue.py", "Core", true),
                ("event_handler.py", "Core", true),
                ("dashboard_service.py", "Dashboard", false)
            ]
        );
    }

    #[test]
    fn tree_and_section_claims() {
        let md = "# P\n\n## Structure ✅\n\n```\nproj/\n├── core/\n│   ├── a.py   # queue\n│   └── b.py\n└── README.md\n```\n\n## Later\n\n- [ ] T1 write `docs/x.md`\n- [x] `docs/y.md`\n";
        let e = parse(md, 0);
        assert_eq!(
            paths(&e),
            vec![
                ("proj/core/a.py", "core", true),
                ("proj/core/b.py", "core", true),
                ("proj/README.md", "Structure", true),
                ("docs/x.md", "Later", false),
                ("docs/y.md", "Later", true),
            ]
        );
        assert_eq!(e.deliverables[0].alt.as_deref(), Some("core/a.py"));
        assert_eq!(e.tasks.len(), 2);
        assert_eq!(e.tasks[0].id, "T1");
        assert_eq!(e.tasks[1].id, "L16");
    }

    #[test]
    fn status_line_and_labels() {
        let md = "## Task 7\n\n**Status:** ✅ Done\n\n**Changes:**\n1. **`scripts/start.sh`:** fixed\n\n## Task 8\n**Status:** ⏳ Pending\n- **Logging:** `logging/metrics_logger.py`\n";
        let e = parse(md, 0);
        assert_eq!(
            paths(&e),
            vec![("scripts/start.sh", "Changes", true), ("logging/metrics_logger.py", "Logging", false)]
        );
    }

    #[test]
    fn indented_and_ascii_trees() {
        let md = "## Layout\n\n```\nsrc/\n  main.rs\n  cli/\n    args.rs\nCargo.toml\n```\n\n```text\n.\n|-- app/\n|   `-- __init__.py\n`-- setup.py  # packaging\n```\n\n```python\nimport os/\nx = 1\ny = 2\n```\n";
        let e = parse(md, 0);
        assert_eq!(
            paths(&e),
            vec![
                ("src/main.rs", "src", false),
                ("src/cli/args.rs", "src/cli", false),
                ("Cargo.toml", "Layout", false),
                ("app/__init__.py", "app", false),
                ("setup.py", "Layout", false),
            ]
        );
    }
}
