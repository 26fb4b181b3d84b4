//! The YAML subset found in plan front matter (Cursor `todos`): block mappings and
//! sequences, plain / quoted / block scalars, flow `[…]` and `{…}`. Everything scalar stays
//! a string. Unparseable input yields what could be read, never a panic.

use serde_json::{Map, Value};

struct Line<'a> {
    indent: usize,
    text: &'a str,
}

fn strip_comment(s: &str) -> &str {
    let mut in_s = false;
    let mut in_d = false;
    let mut prev = ' ';
    for (i, c) in s.char_indices() {
        match c {
            '\'' if !in_d => in_s = !in_s,
            '"' if !in_s && prev != '\\' => in_d = !in_d,
            '#' if !in_s && !in_d && (prev == ' ' || prev == '\t' || i == 0) => return &s[..i],
            _ => {}
        }
        prev = c;
    }
    s
}

/// Parses a YAML document (the subset above) into JSON values.
pub fn parse(src: &str) -> Value {
    let raw: Vec<&str> = src.lines().collect();
    let lines: Vec<(usize, Line)> = raw
        .iter()
        .enumerate()
        .filter_map(|(i, l)| {
            let body = strip_comment(l).trim_end();
            let t = body.trim_start();
            if t.is_empty() || t == "---" || t == "..." {
                return None;
            }
            Some((i, Line { indent: body.len() - t.len(), text: t }))
        })
        .collect();
    let mut p = Parser { lines, raw, pos: 0 };
    match p.lines.first().map(|(_, l)| l.indent) {
        Some(ind) => p.block(ind),
        None => Value::Null,
    }
}

struct Parser<'a> {
    lines: Vec<(usize, Line<'a>)>,
    raw: Vec<&'a str>,
    pos: usize,
}

/// `key: value` split at the first `: ` (or a trailing `:`) outside quotes.
fn split_key(t: &str) -> Option<(String, &str)> {
    let mut in_s = false;
    let mut in_d = false;
    let bytes = t.as_bytes();
    for (i, c) in t.char_indices() {
        match c {
            '\'' if !in_d => in_s = !in_s,
            '"' if !in_s => in_d = !in_d,
            ':' if !in_s && !in_d && (i + 1 == t.len() || bytes[i + 1] == b' ' || bytes[i + 1] == b'\t') => {
                let key = t[..i].trim();
                if key.is_empty() || key.starts_with(['[', '{', '-']) {
                    return None;
                }
                return Some((unquote(key), t[i + 1..].trim()));
            }
            _ => {}
        }
    }
    None
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    if s.len() >= 2 && s.starts_with('"') && s.ends_with('"') {
        let inner = &s[1..s.len() - 1];
        let mut out = String::new();
        let mut it = inner.chars();
        while let Some(c) = it.next() {
            if c == '\\' {
                match it.next() {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some(o) => out.push(o),
                    None => {}
                }
            } else {
                out.push(c);
            }
        }
        return out;
    }
    if s.len() >= 2 && s.starts_with('\'') && s.ends_with('\'') {
        return s[1..s.len() - 1].replace("''", "'");
    }
    s.to_string()
}

fn is_seq_item(t: &str) -> bool {
    t == "-" || t.starts_with("- ") || t.starts_with("-\t")
}

impl<'a> Parser<'a> {
    fn block(&mut self, indent: usize) -> Value {
        match self.lines.get(self.pos) {
            Some((_, l)) if is_seq_item(l.text) => self.seq(indent),
            Some(_) => self.map(indent),
            None => Value::Null,
        }
    }

    fn seq(&mut self, indent: usize) -> Value {
        let mut items = Vec::new();
        while let Some((_, l)) = self.lines.get(self.pos) {
            if l.indent != indent || !is_seq_item(l.text) {
                break;
            }
            let rest = l.text[1..].trim_start();
            if rest.is_empty() {
                self.pos += 1;
                match self.lines.get(self.pos) {
                    Some((_, n)) if n.indent > indent => {
                        let ind = n.indent;
                        items.push(self.block(ind));
                    }
                    _ => items.push(Value::Null),
                }
            } else if split_key(rest).is_some() && !rest.starts_with(['"', '\'', '[', '{'])
                || (rest.starts_with(['"', '\''])
                    && split_key(rest).is_some_and(|(_, v)| !v.is_empty() || rest.ends_with(':')))
            {
                // `- id: x` starts a mapping whose keys sit at the column of `id`
                let col = indent + (l.text.len() - rest.len());
                let (no, _) = self.lines[self.pos];
                self.lines[self.pos] = (no, Line { indent: col, text: rest });
                items.push(self.map(col));
            } else {
                self.pos += 1;
                items.push(self.scalar_or_flow(rest, indent));
            }
        }
        Value::Array(items)
    }

    fn map(&mut self, indent: usize) -> Value {
        let mut m = Map::new();
        while let Some((_, l)) = self.lines.get(self.pos) {
            if l.indent != indent || is_seq_item(l.text) {
                break;
            }
            let Some((key, value)) = split_key(l.text) else {
                self.pos += 1;
                continue;
            };
            let key_line = self.lines[self.pos].0;
            self.pos += 1;
            let v = if value.is_empty() {
                match self.lines.get(self.pos) {
                    Some((_, n)) if n.indent > indent => {
                        let ind = n.indent;
                        self.block(ind)
                    }
                    Some((_, n)) if n.indent == indent && is_seq_item(n.text) => self.seq(indent),
                    _ => Value::Null,
                }
            } else if value.starts_with('|') || value.starts_with('>') {
                self.block_scalar(key_line, indent, value.starts_with('>'))
            } else {
                self.scalar_or_flow(value, indent)
            };
            m.insert(key, v);
        }
        Value::Object(m)
    }

    /// A scalar, possibly continued on more-indented lines, or a flow collection.
    fn scalar_or_flow(&mut self, first: &str, indent: usize) -> Value {
        if first.starts_with('[') || first.starts_with('{') {
            let mut text = first.to_string();
            while !balanced(&text) {
                match self.lines.get(self.pos) {
                    Some((_, n)) if n.indent > indent || !balanced(&text) => {
                        text.push(' ');
                        text.push_str(n.text);
                        self.pos += 1;
                    }
                    _ => break,
                }
            }
            let mut chars = text.chars().peekable();
            return flow(&mut chars);
        }
        let mut s = first.to_string();
        if !first.starts_with(['"', '\'']) {
            while let Some((_, n)) = self.lines.get(self.pos) {
                if n.indent > indent && split_key(n.text).is_none() && !is_seq_item(n.text) {
                    s.push(' ');
                    s.push_str(n.text);
                    self.pos += 1;
                } else {
                    break;
                }
            }
        }
        Value::String(unquote(&s))
    }

    fn block_scalar(&mut self, key_line: usize, indent: usize, folded: bool) -> Value {
        let mut parts = Vec::new();
        let mut last_raw = key_line;
        while let Some((no, n)) = self.lines.get(self.pos) {
            if n.indent <= indent {
                break;
            }
            last_raw = *no;
            self.pos += 1;
        }
        let body: Vec<&str> = self.raw.get(key_line + 1..=last_raw).unwrap_or(&[]).to_vec();
        let min =
            body.iter().filter(|l| !l.trim().is_empty()).map(|l| l.len() - l.trim_start().len()).min().unwrap_or(0);
        for l in body {
            parts.push(if l.len() >= min { &l[min..] } else { l.trim() });
        }
        Value::String(parts.join(if folded { " " } else { "\n" }))
    }
}

fn balanced(s: &str) -> bool {
    let mut depth = 0i32;
    let mut in_s = false;
    let mut in_d = false;
    for c in s.chars() {
        match c {
            '\'' if !in_d => in_s = !in_s,
            '"' if !in_s => in_d = !in_d,
            '[' | '{' if !in_s && !in_d => depth += 1,
            ']' | '}' if !in_s && !in_d => depth -= 1,
            _ => {}
        }
    }
    depth <= 0
}

fn skip_ws(it: &mut std::iter::Peekable<std::str::Chars>) {
    while it.peek().is_some_and(|c| c.is_whitespace()) {
        it.next();
    }
}

fn flow_scalar(it: &mut std::iter::Peekable<std::str::Chars>, in_map_key: bool) -> String {
    skip_ws(it);
    let mut s = String::new();
    if let Some(&q) = it.peek()
        && (q == '"' || q == '\'')
    {
        it.next();
        let mut prev = ' ';
        for c in it.by_ref() {
            if c == q && !(q == '"' && prev == '\\') {
                break;
            }
            s.push(c);
            prev = c;
        }
        return if q == '"' { unquote(&format!("\"{s}\"")) } else { s };
    }
    while let Some(&c) = it.peek() {
        if c == ',' || c == ']' || c == '}' || (in_map_key && c == ':') {
            break;
        }
        s.push(c);
        it.next();
    }
    s.trim().to_string()
}

fn flow(it: &mut std::iter::Peekable<std::str::Chars>) -> Value {
    skip_ws(it);
    match it.peek() {
        Some('[') => {
            it.next();
            let mut items = Vec::new();
            loop {
                skip_ws(it);
                match it.peek() {
                    None => break,
                    Some(']') => {
                        it.next();
                        break;
                    }
                    Some(',') => {
                        it.next();
                    }
                    _ => items.push(flow(it)),
                }
            }
            Value::Array(items)
        }
        Some('{') => {
            it.next();
            let mut m = Map::new();
            loop {
                skip_ws(it);
                match it.peek() {
                    None => break,
                    Some('}') => {
                        it.next();
                        break;
                    }
                    Some(',') => {
                        it.next();
                    }
                    _ => {
                        let k = flow_scalar(it, true);
                        skip_ws(it);
                        let v = if it.peek() == Some(&':') {
                            it.next();
                            flow(it)
                        } else {
                            Value::Null
                        };
                        if k.is_empty() && v.is_null() {
                            // no progress possible
                            if it.next().is_none() {
                                break;
                            }
                            continue;
                        }
                        m.insert(k, v);
                    }
                }
            }
            Value::Object(m)
        }
        _ => Value::String(flow_scalar(it, false)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn block_todos() {
        let y = "name: Dark mode\noverview: >\n  Add a theme\n  toggle\ntodos:\n  - id: ctx\n    content: \"Create `src/theme.tsx`: context\"\n    status: completed\n  - id: toggle # comment\n    content: Add src/Toggle.tsx\n      and wire it\n    status: pending\n    dependencies:\n      - ctx\n";
        let v = parse(y);
        assert_eq!(v["name"], "Dark mode");
        assert_eq!(v["overview"], "Add a theme toggle");
        assert_eq!(
            v["todos"][0],
            json!({"id": "ctx", "content": "Create `src/theme.tsx`: context", "status": "completed"})
        );
        assert_eq!(v["todos"][1]["content"], "Add src/Toggle.tsx and wire it");
        assert_eq!(v["todos"][1]["dependencies"], json!(["ctx"]));
    }

    #[test]
    fn flow_todos_and_same_indent_seq() {
        let v = parse("todos: [{id: a, content: 'x.py', status: completed}, {id: b, content: \"y, z\"}]");
        assert_eq!(v["todos"][1], json!({"id": "b", "content": "y, z"}));
        let v = parse("todos:\n- id: a\n  status: pending\n- id: b\n");
        assert_eq!(v["todos"], json!([{"id": "a", "status": "pending"}, {"id": "b"}]));
    }

    #[test]
    fn garbage_does_not_panic() {
        for s in ["- - -", ": :", "[[[", "{a: [b, {c", "todos:\n  - |\n", "\"unterminated", "a: 'x", "- id: \"q"] {
            let _ = parse(s);
        }
    }
}
