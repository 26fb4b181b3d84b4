//! The parts of a Markdown plan that show text instead of saying it: indented code blocks,
//! block quotes and HTML comments. A checkbox there is an example (an ExecPlan spec's
//! `    - [x] (2025-10-01 13:00Z) Example completed step.`), a quotation or a note hidden from
//! the reader, never a task, and a path there is never a claim. [`blank`] empties those lines
//! (line numbers kept) before any parser reads the plan. Fenced blocks are left as they are:
//! every parser already skips them, and the Markdown parser reads project trees there.
//!
//! Read the way CommonMark reads them: an indented code block is four columns of indent after
//! a blank line (or a heading) outside a list, or four more than the list item it follows; a
//! block quote is a line that starts with `>`; an HTML comment is a block that starts with
//! `<!--` and ends on the line holding `-->`. YAML front matter is never touched.

use std::borrow::Cow;

/// Columns of indent of a line (a tab counts four).
fn indent_of(line: &str) -> usize {
    let mut col = 0;
    for c in line.chars() {
        match c {
            ' ' => col += 1,
            '\t' => col += 4 - col % 4,
            _ => break,
        }
    }
    col
}

/// The column where a list item's text starts (`- [ ] x` at indent 2 → 4), when the line
/// is a list item.
fn item_content(line: &str) -> Option<usize> {
    let indent = indent_of(line);
    let t = line.trim_start();
    let marker = if t.starts_with(['-', '*', '+']) {
        1
    } else {
        let digits = t.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 || digits > 9 || !t[digits..].starts_with(['.', ')']) {
            return None;
        }
        digits + 1
    };
    let rest = &t[marker..];
    if !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return None;
    }
    Some(indent + marker + 1)
}

/// The fence a line opens or closes (``` or ~~~, three or more), as (char, length).
fn fence(line: &str) -> Option<(char, usize)> {
    let t = line.trim_start();
    let c = t.chars().next()?;
    if c != '`' && c != '~' {
        return None;
    }
    let n = t.chars().take_while(|&x| x == c).count();
    (n >= 3).then_some((c, n))
}

/// Where the walk stands.
#[derive(Default)]
struct State {
    /// An open fence: (char, length).
    fence: Option<(char, usize)>,
    /// Inside an HTML comment block.
    comment: bool,
    /// Inside an indented code block whose lines are indented at least this much.
    code: Option<usize>,
    /// The content column of the last list item while a list is open.
    list: Option<usize>,
    /// The line before was blank, a heading or the start of the text: a code block may start.
    after_break: bool,
}

impl State {
    /// Is this line shown, not said (so blanked)? Updates the state.
    fn literal(&mut self, line: &str) -> bool {
        if let Some((c, n)) = self.fence {
            if fence(line).is_some_and(|(c2, n2)| c2 == c && n2 >= n) && line.trim().chars().all(|x| x == c) {
                self.fence = None;
                self.after_break = true;
            }
            return false;
        }
        if self.comment {
            self.comment = !line.contains("-->");
            self.after_break = !self.comment;
            return true;
        }
        let blank = line.trim().is_empty();
        let indent = indent_of(line);
        if let Some(min) = self.code {
            if blank || indent >= min {
                self.after_break = blank;
                return !blank;
            }
            self.code = None;
        }
        if blank {
            self.after_break = true;
            return false;
        }
        let was_break = self.after_break;
        let code_from = self.list.map_or(4, |c| c + 4);
        if was_break && indent >= code_from {
            self.code = Some(code_from);
            return true;
        }
        self.after_break = false;
        let t = line.trim_start();
        if indent <= 3 && t.starts_with("<!--") {
            self.comment = !t.contains("-->");
            self.after_break = !self.comment;
            return true;
        }
        if indent <= 3 && t.starts_with('>') {
            return true;
        }
        if let Some(f) = fence(line) {
            self.fence = Some(f);
            return false;
        }
        if indent <= 3 && t.starts_with('#') {
            self.list = None;
            self.after_break = true;
            return false;
        }
        match item_content(line) {
            Some(c) => self.list = Some(c),
            // a paragraph at the margin after a blank line ends the list
            None if indent == 0 && was_break => self.list = None,
            None => {}
        }
        false
    }
}

/// The number of lines of YAML front matter (`---` … `---` at the top), left untouched.
fn front_matter_end(lines: &[&str]) -> usize {
    if lines.first().is_some_and(|l| l.trim_end() == "---")
        && let Some(i) = lines.iter().skip(1).position(|l| matches!(l.trim_end(), "---" | "..."))
    {
        return i + 2;
    }
    0
}

/// The text with every line of an indented code block, a block quote or an HTML comment
/// emptied; the same text (borrowed) when it has none. Never changes the number of lines.
pub fn blank(content: &str) -> Cow<'_, str> {
    let lines: Vec<&str> = content.lines().collect();
    let start = front_matter_end(&lines);
    let mut state = State { after_break: true, ..State::default() };
    let mut hidden: Vec<usize> = Vec::new();
    for (i, line) in lines.iter().enumerate().skip(start) {
        if state.literal(line) {
            hidden.push(i);
        }
    }
    if hidden.is_empty() {
        return Cow::Borrowed(content);
    }
    let mut out = String::with_capacity(content.len());
    let mut next = hidden.iter().peekable();
    for (i, line) in lines.iter().enumerate() {
        if next.peek() == Some(&&i) {
            next.next();
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::blank;

    fn kept(text: &str) -> Vec<String> {
        blank(text).lines().filter(|l| !l.trim().is_empty()).map(str::to_string).collect()
    }

    #[test]
    fn an_indented_example_after_prose_is_code() {
        // PLANS.md shows its Progress example as an indented block under a paragraph
        let t = "## Progress\n\nUse a list with checkboxes.\n\n    - [x] (2025-10-01 13:00Z) Example completed step.\n    - [ ] Example incomplete step.\n\nUse timestamps.\n";
        assert_eq!(kept(t), ["## Progress", "Use a list with checkboxes.", "Use timestamps."]);
        assert_eq!(blank(t).lines().count(), t.lines().count(), "line numbers are kept");
    }

    #[test]
    fn nested_tasks_are_not_code() {
        // four columns under a list item are its children, even after a blank line
        let t = "- [x] 1. Set up\n\n    - [x] 1.1 Create `src/a.rs`\n      - detail\n\n- [ ] 2. Next\n";
        assert_eq!(blank(t), t);
        // four more than the item's text is code inside the item
        let t = "- [x] 1. Set up\n\n      - [ ] not a task\n- [ ] 2. Next\n";
        assert_eq!(kept(t), ["- [x] 1. Set up", "- [ ] 2. Next"]);
        // a paragraph at the margin ends the list: four columns after it are code again
        let t = "- [x] a\n\nProse.\n\n    - [ ] example\n";
        assert_eq!(kept(t), ["- [x] a", "Prose."]);
    }

    #[test]
    fn quotes_and_comments_are_hidden_fences_and_front_matter_kept() {
        let t = "> - [x] quoted `src/q.rs`\n<!--\n- [ ] hidden\n-->\n<!-- - [x] one line -->\n- [ ] real\n```\n    - [ ] fenced stays for the parsers\n```\n";
        assert_eq!(kept(t), ["- [ ] real", "```", "    - [ ] fenced stays for the parsers", "```"]);
        let t = "---\ntodos:\n    - id: a\n---\n\n    - [ ] code\n";
        assert_eq!(kept(t), ["---", "todos:", "    - id: a", "---"]);
        // an indented line right under a paragraph continues it: not code
        let t = "Some text\n    - [ ] continued\n";
        assert_eq!(blank(t), t);
    }
}
