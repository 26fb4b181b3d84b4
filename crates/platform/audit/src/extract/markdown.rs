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
    /// Checkboxes directly in this section: (ticked, open).
    boxes: (usize, usize),
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

/// The plan's sections (its headings, nested by level) and the section each line lies in:
/// pass 1, so that a claim on a heading or a `Status:` line covers the whole section, lines
/// above the status line included.
struct Sections {
    list: Vec<Section>,
    of_line: Vec<usize>,
}

impl Sections {
    fn read(lines: &[&str]) -> Self {
        let mut list = vec![Section { title: String::new(), level: 0, own: None, parent: None, boxes: (0, 0) }];
        let mut of_line = vec![0usize; lines.len()];
        let mut fence: Option<String> = None;
        let mut cur = 0usize;
        for (i, line) in lines.iter().enumerate() {
            of_line[i] = cur;
            if let Some(f) = &fence {
                if line.trim_start().starts_with(f.as_str()) {
                    fence = None;
                }
                continue;
            }
            if let Some((f, _)) = fence_marker(line) {
                fence = Some(f);
                continue;
            }
            if let Some((level, title)) = heading(line) {
                let mut parent = Some(cur);
                while let Some(p) = parent {
                    if list[p].level < level {
                        break;
                    }
                    parent = list[p].parent;
                }
                list.push(Section {
                    title: clean_label(title),
                    level,
                    own: heading_claim(title),
                    parent,
                    boxes: (0, 0),
                });
                cur = list.len() - 1;
            } else if let Some((_, Some(ticked), _)) = list_item(line) {
                let b = &mut list[cur].boxes;
                if ticked { b.0 += 1 } else { b.1 += 1 }
            } else if let Some(v) = status_value(line)
                && list[cur].own.is_none()
            {
                list[cur].own = claim(v, true);
            }
            of_line[i] = cur;
        }
        Sections { list, of_line }
    }

    /// The claim over section `s`: its own, else its nearest ancestor's.
    fn effective(&self, mut s: usize) -> Option<bool> {
        loop {
            if let Some(c) = self.list[s].own {
                return Some(c);
            }
            s = self.list[s].parent?;
        }
    }

    /// Do the boxes of section `s` and its subsections confirm a done heading: some ticked,
    /// none open?
    fn children_done(&self, s: usize) -> bool {
        let (mut ticked, mut open) = (0, 0);
        for (i, sec) in self.list.iter().enumerate() {
            let mut a = Some(i);
            while let Some(x) = a {
                if x == s {
                    ticked += sec.boxes.0;
                    open += sec.boxes.1;
                    break;
                }
                a = self.list[x].parent;
            }
        }
        ticked > 0 && open == 0
    }

    /// The group a deliverable of section `s` falls in: the nearest titled section, else
    /// `General`.
    fn group_of(&self, mut s: usize) -> String {
        loop {
            if !self.list[s].title.is_empty() || self.list[s].parent.is_none() {
                return if self.list[s].title.is_empty() { "General".to_string() } else { self.list[s].title.clone() };
            }
            s = self.list[s].parent.unwrap_or(0);
        }
    }
}

/// An open list item: (indent, label, own claim, its task's index when it is a checkbox).
type ListLevel = (usize, Option<String>, Option<bool>, Option<usize>);

/// Pass 2, line by line: what is open where the walk stands (a fence, a table, the list
/// items above, the last label) and what it found so far.
struct Walk<'a> {
    lines: &'a [&'a str],
    line_offset: usize,
    sections: Sections,
    out: Extracted,
    table: Option<Table>,
    list_stack: Vec<ListLevel>,
    label: Option<String>,
    fence: Option<OpenFence<'a>>,
}

/// Parses a free-form Markdown plan. `line_offset` is added to line numbers (for a body
/// after front matter).
pub fn parse(content: &str, line_offset: usize) -> Extracted {
    let lines: Vec<&str> = content.lines().collect();
    let mut walk = Walk {
        lines: &lines,
        line_offset,
        sections: Sections::read(&lines),
        out: Extracted::default(),
        table: None,
        list_stack: Vec::new(),
        label: None,
        fence: None,
    };
    let mut i = 0;
    while i < lines.len() {
        i += walk.line(i);
    }
    walk.out
}

impl<'a> Walk<'a> {
    /// Reads line `i`; returns how many lines it took (a table's header takes its separator).
    fn line(&mut self, i: usize) -> usize {
        let line = self.lines[i];
        let no = i + 1 + self.line_offset;
        let sec = self.sections.of_line[i];
        if self.fence.is_some() {
            self.fenced(line, no, sec);
            return 1;
        }
        if let Some((f, lang)) = fence_marker(line) {
            self.fence = Some((f, lang, Vec::new()));
            return 1;
        }
        if let Some((_, title)) = heading(line) {
            self.heading(title, no, sec);
            return 1;
        }
        let trimmed = line.trim();
        if trimmed.starts_with('|') {
            return self.table_row(i, no, sec);
        }
        self.table = None;
        if let Some((indent, checkbox, text)) = list_item(line) {
            self.list_item(indent, checkbox, text, no, sec);
        } else if !trimmed.is_empty() {
            self.paragraph(line, no, sec);
        }
        1
    }

    /// A line inside a fence: kept until the fence closes, then read as a project tree when
    /// it looks like one.
    fn fenced(&mut self, line: &'a str, no: usize, sec: usize) {
        let Some((f, lang, buf)) = &mut self.fence else { return };
        if !(line.trim_start().starts_with(f.as_str()) && line.trim().chars().all(|c| c == '`' || c == '~')) {
            buf.push((no, line));
            return;
        }
        if tree_like(buf, lang) {
            let grp = self.label.clone().unwrap_or_else(|| self.sections.group_of(sec));
            let buf = std::mem::take(buf);
            parse_tree(&buf, &grp, self.sections.effective(sec), &mut self.out);
        }
        self.fence = None;
    }

    /// A heading closes tables, lists and labels; the first names the plan, and paths in code
    /// spans on it are deliverables of the section above. A heading claims nothing by itself:
    /// its paths are claimed only when it is marked done and the boxes under it are all
    /// ticked (it claims what its children claim), never when it is only a title over open
    /// boxes.
    fn heading(&mut self, title: &str, no: usize, sec: usize) {
        if self.out.title.is_empty() {
            self.out.title = clean_label(title);
        }
        self.table = None;
        self.list_stack.clear();
        self.label = None;
        let paths = code_span_paths(title);
        let claimed =
            !paths.is_empty() && self.sections.effective(sec) == Some(true) && self.sections.children_done(sec);
        for p in paths {
            self.out.push(Expected {
                path: p,
                alt: None,
                group: self.sections.group_of(self.sections.list[sec].parent.unwrap_or(0)),
                claimed_done: claimed,
                line: no,
            });
        }
    }

    /// A table line: a header (with the separator under it) says which columns hold a status
    /// and whether the first holds paths; each row's paths are deliverables, and in a table
    /// with status columns the row is a task too.
    fn table_row(&mut self, i: usize, no: usize, sec: usize) -> usize {
        let line = self.lines[i];
        if self.table.is_none() {
            if self.lines.get(i + 1).is_some_and(|n| is_separator_row(n)) {
                self.table = Some(table_header(line));
                return 2;
            }
            self.table = Some(Table { status_cols: Vec::new(), first_is_path_col: false });
        }
        if is_separator_row(line) {
            return 1;
        }
        let Some(t) = &self.table else { return 1 };
        let cells = split_row(line);
        let cell_paths: Vec<Vec<String>> = cells.iter().map(|c| line_paths(c)).collect();
        let mut row_claim: Option<bool> = None;
        for (j, c) in cells.iter().enumerate() {
            match (row_claim, claim(c, t.status_cols.contains(&j))) {
                (_, Some(false)) => row_claim = Some(false),
                (None, Some(true)) => row_claim = Some(true),
                _ => {}
            }
        }
        let claimed = row_claim.or(self.sections.effective(sec)) == Some(true);
        let fallback = || self.label.clone().unwrap_or_else(|| self.sections.group_of(sec));
        let group = match cells.first() {
            Some(c0)
                if !t.first_is_path_col
                    && cell_paths[0].is_empty()
                    && !c0.trim().is_empty()
                    && !c0.trim().chars().all(|c| c.is_ascii_digit() || c == '.') =>
            {
                let l = clean_label(c0);
                if l.is_empty() { fallback() } else { l }
            }
            _ => fallback(),
        };
        let row_paths: Vec<String> = cell_paths.into_iter().flatten().collect();
        if !t.status_cols.is_empty() {
            // a plan written as a table: each row is a task, done when its status cell says so
            let status = || t.status_cols.iter().filter_map(|&j| cells.get(j));
            let done =
                status().any(|c| claim(c, true) == Some(true)) && !status().any(|c| claim(c, true) == Some(false));
            let first = cells.first().map_or("", String::as_str);
            self.out.tasks.push(Task { id: task_id(first, no), done, paths: row_paths.clone() });
        }
        for p in row_paths {
            self.out.push(Expected { path: p, alt: None, group: group.clone(), claimed_done: claimed, line: no });
        }
        1
    }

    /// A list item: its paths (declared outputs; prose under a task names none), its claim
    /// (its box, its words, else the items and section above), its group, and what it opens
    /// for the items under it.
    fn list_item(&mut self, indent: usize, checkbox: Option<bool>, text: &str, no: usize, sec: usize) {
        while self.list_stack.last().is_some_and(|(ind, _, _, _)| *ind >= indent) {
            self.list_stack.pop();
        }
        let task_above = self.list_stack.iter().rev().find_map(|(_, _, _, task)| *task);
        let under_task = task_above.is_some();
        if let (Some(ti), None) = (task_above, checkbox)
            && let Some((target, strong)) = super::redirect_target(text)
        {
            let group = self.out.deliverables.iter().find(|d| self.out.tasks[ti].paths.contains(&d.path));
            let group = group.map_or_else(|| self.sections.group_of(sec), |d| d.group.clone());
            if self.out.redirect(ti, target, strong, group, no) {
                self.list_stack.push((indent, None, None, None));
                return;
            }
        }
        let field = super::speckit::files_field(text);
        let starts_with_path = starts_with_path(text);
        let paths = if field.is_some() {
            declared_paths(field.unwrap_or(text), true)
        } else if under_task && checkbox.is_none() && !starts_with_path && !super::speckit::declares_output(text) {
            // prose under a task: notes and references, not its declared outputs
            Vec::new()
        } else {
            declared_paths(text, starts_with_path || self.label.as_deref().is_some_and(is_files_label))
        };
        let own = checkbox.or_else(|| claim(text, false)).or_else(|| status_value(text).and_then(|v| claim(v, true)));
        let inherited =
            own.or_else(|| self.list_stack.iter().rev().find_map(|(_, _, c, _)| *c)).or(self.sections.effective(sec));
        let item_label = bold_label(text);
        let group = item_label
            .clone()
            .filter(|_| !paths.is_empty())
            .or_else(|| self.list_stack.iter().rev().find_map(|(_, l, _, _)| l.clone()))
            .or_else(|| self.label.clone())
            .unwrap_or_else(|| self.sections.group_of(sec));
        let task = checkbox.map(|done| {
            self.out.tasks.push(Task { id: task_id(text, no), done, paths: paths.clone() });
            self.out.tasks.len() - 1
        });
        for p in &paths {
            self.out.push(Expected {
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
        self.list_stack.push((indent, parent_label, own, task));
    }

    /// A paragraph line: a label for what follows (`**Files**`, `Outputs:`), or a line that is
    /// mostly a list of files (`Files: \`a.py\`, \`b.py\``).
    fn paragraph(&mut self, line: &str, no: usize, sec: usize) {
        let trimmed = line.trim();
        if !line.starts_with([' ', '\t']) {
            self.list_stack.clear();
        }
        let spans = if super::is_context_line(trimmed) { Vec::new() } else { code_span_paths(trimmed) };
        if spans.is_empty() {
            if status_value(trimmed).is_none() {
                if let Some(l) = bold_label(trimmed) {
                    self.label = Some(l);
                } else if trimmed.ends_with(':') && trimmed.chars().count() <= 60 {
                    self.label = Some(clean_label(trimmed));
                }
            }
            return;
        }
        let rest = strip_code_spans(trimmed);
        let words = rest.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).count();
        if words <= 4 {
            let group =
                bold_label(trimmed).or_else(|| self.label.clone()).unwrap_or_else(|| self.sections.group_of(sec));
            let claimed = claim(trimmed, false).or(self.sections.effective(sec)) == Some(true);
            for p in spans {
                self.out.push(Expected { path: p, alt: None, group: group.clone(), claimed_done: claimed, line: no });
            }
        }
    }
}

/// A table's header row: its status columns, and whether its first column holds paths.
fn table_header(line: &str) -> Table {
    let header: Vec<String> = split_row(line).iter().map(|h| h.to_lowercase()).collect();
    let status_cols = header
        .iter()
        .enumerate()
        .filter(|(_, h)| ["status", "state", "done", "progress", "complete"].iter().any(|k| h.contains(k)))
        .map(|(j, _)| j)
        .collect();
    let first_is_path_col = header
        .first()
        .is_some_and(|h| ["file", "path", "module", "script", "deliverable", "output"].iter().any(|k| h.contains(k)));
    Table { status_cols, first_is_path_col }
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
