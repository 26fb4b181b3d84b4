//! Front matter: the block some mailboxes put at the top of a Markdown or text message, and
//! what a message's own fields say about it (wherever they come from: front matter or a JSON
//! message's keys).
//!
//! Two blocks are read: `---` then `key: value` lines (YAML as agents write it: keys in any
//! case, `Date:` and `date:` alike) closed by `---` or `...`; and mcp_agent_mail's `---json`
//! then a JSON object closed by `---`. Keys are lower-cased. Pure functions of text: no disk.
use std::path::Path;

use serde_json::{Map, Value};

/// The most lines a `---` block may have before it is taken for a rule, not front matter.
const MAX_LINES: usize = 200;

/// The front matter of `text` (keys lower-cased) and the body after it; `None` when the text
/// does not open with one.
pub fn split(text: &str) -> Option<(Map<String, Value>, &str)> {
    let (first, rest) = text.split_once('\n')?;
    match first.trim_end() {
        "---json" => json_block(rest),
        "---" => yaml_block(rest),
        _ => None,
    }
}

/// The text after the line closing a block, and the block's lines.
fn close(rest: &str, json: bool) -> Option<(&str, &str)> {
    let mut at = 0;
    for (n, line) in rest.split_inclusive('\n').enumerate() {
        let l = line.trim_end();
        if l == "---" || (!json && l == "...") {
            return Some((&rest[..at], &rest[at + line.len()..]));
        }
        if n > MAX_LINES && !json {
            return None;
        }
        at += line.len();
    }
    None
}

fn json_block(rest: &str) -> Option<(Map<String, Value>, &str)> {
    let (block, body) = close(rest, true)?;
    let Value::Object(o) = serde_json::from_str::<Value>(block).ok()? else { return None };
    Some((o.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect(), body))
}

fn yaml_block(rest: &str) -> Option<(Map<String, Value>, &str)> {
    let (block, body) = close(rest, false)?;
    let mut out = Map::new();
    for line in block.lines() {
        if line.trim().is_empty() || line.trim_start().starts_with('#') || line.starts_with([' ', '\t', '-']) {
            continue;
        }
        let (k, v) = line.split_once(':')?;
        let k = k.trim().to_ascii_lowercase();
        if k.is_empty() || k.contains(' ') && k.split_whitespace().count() > 3 {
            return None;
        }
        let v = v.trim().trim_matches(|c| c == '"' || c == '\'').trim();
        out.insert(k, Value::String(v.to_string()));
    }
    (!out.is_empty()).then_some((out, body))
}

/// Status words that mean the message was dealt with.
const DONE_WORDS: &[&str] = &["read", "done", "acked", "acknowledged", "processed", "archived", "closed", "handled"];
/// Status words that mean it was not.
const OPEN_WORDS: &[&str] = &["unread", "new", "open", "pending", "unprocessed", "todo"];

fn truth(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" => Some(true),
            "false" | "no" => Some(false),
            w if DONE_WORDS.contains(&w) => Some(true),
            w if OPEN_WORDS.contains(&w) => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// What the message's own fields say of its state: `Some(true)` done (`read: true`,
/// `acknowledged: true`, `done: true`, `status: "read"`, a `read_ts`…), `Some(false)` open
/// (`read: false`, `status: "unread"`…), `None` nothing (the folder decides). `fields`' keys
/// are lower-cased.
pub fn own_done(fields: &Map<String, Value>) -> Option<bool> {
    let mut said = Vec::new();
    for k in ["read", "acknowledged", "acked", "done"] {
        said.extend(fields.get(k).and_then(truth));
    }
    for k in ["status", "state"] {
        if let Some(Value::String(s)) = fields.get(k) {
            let w = s.trim().to_ascii_lowercase();
            if DONE_WORDS.contains(&w.as_str()) {
                said.push(true);
            } else if OPEN_WORDS.contains(&w.as_str()) {
                said.push(false);
            }
        }
    }
    for k in ["read_ts", "read_at", "ack_ts", "acked_at", "acknowledged_at"] {
        if fields.get(k).is_some_and(|v| v.as_str().is_some_and(|s| !s.trim().is_empty())) {
            said.push(true);
        }
    }
    if said.contains(&true) {
        Some(true)
    } else if said.contains(&false) {
        Some(false)
    } else {
        None
    }
}

/// A path-like value: it names a file (a `/`, or a message extension), not a word like
/// `source: voice`.
fn path_like(s: &str) -> bool {
    let s = s.trim();
    !s.is_empty() && (s.contains('/') || s.contains('\\') || extension(s).is_some()) && s.lines().count() == 1
}

/// The message these fields say this file copies: `mirror_of`, `copy_of`, or a path-like
/// `source`.
pub fn pointer_field(fields: &Map<String, Value>) -> Option<String> {
    ["mirror_of", "mirrored_from", "copy_of", "source"]
        .iter()
        .filter_map(|k| fields.get(*k).and_then(Value::as_str))
        .find(|v| path_like(v))
        .map(|v| v.trim().to_string())
}

/// Whether the fields mark a template (`type: template`).
pub fn is_template(fields: &Map<String, Value>) -> bool {
    ["type", "kind"]
        .iter()
        .any(|k| fields.get(*k).and_then(Value::as_str).is_some_and(|v| v.trim().eq_ignore_ascii_case("template")))
}

/// Words that open a line pointing at another copy of the message.
const POINTER_WORDS: &[&str] =
    &["mirror of", "mirrored from", "mirrored to", "copy of", "copied to", "copied from", "moved to", "original at"];

/// The path a pointer line names (`Mirror of: PATH`, `Copied to PATH`, `**Copy of:** [x](PATH)`).
fn pointer_line(line: &str) -> Option<String> {
    let l = line.trim().trim_start_matches(['>', '-', '*', '_', ' ']).trim();
    let lower = l.to_ascii_lowercase();
    let word = POINTER_WORDS.iter().find(|w| lower.starts_with(**w))?;
    let rest = l[word.len()..].trim_start_matches(['*', '_']).trim_start_matches(':').trim_start_matches(['*', '_']);
    let rest = rest.trim().trim_matches('`').trim();
    let path = match (rest.find("]("), rest.ends_with(')')) {
        (Some(i), true) => &rest[i + 2..rest.len() - 1],
        _ => rest,
    };
    path_like(path).then(|| path.trim().to_string())
}

/// The path a body names when it is only a pointer to another copy of the message: every
/// line that is not blank, a heading or a `Key: value` header is a pointer line.
pub fn pointer_body(body: &str) -> Option<String> {
    let mut found = None;
    for line in body.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        match pointer_line(line) {
            Some(p) if found.is_none() => found = Some(p),
            Some(_) => {}
            None if is_header_line(line) => {}
            None => return None,
        }
    }
    found
}

/// The extensions read as messages.
pub const EXTENSIONS: [&str; 3] = ["json", "md", "txt"];

/// A file name's message extension (after a `.done` suffix is taken off), lower-cased.
pub fn extension(name: &str) -> Option<String> {
    let base = name.strip_suffix(".done").unwrap_or(name);
    let ext = Path::new(base).extension()?.to_str()?.to_ascii_lowercase();
    EXTENSIONS.contains(&ext.as_str()).then_some(ext)
}

/// Whether `line` is a `Key: value` header a message is read by (`From:`, `Date:`…).
pub(crate) fn is_header_line(line: &str) -> bool {
    header(line).is_some()
}

/// A header line: `Key: value`, also `**Key:** value` and `- Key: value`. Returns the key
/// lower-cased and the value.
pub(crate) fn header(line: &str) -> Option<(String, String)> {
    let l = line.trim().trim_start_matches(['-', '>', ' ']).trim_start();
    let (k, v) = l.split_once(':')?;
    let k = k.trim().trim_matches('*').trim_matches('_').trim().to_ascii_lowercase();
    let v = v.trim().trim_start_matches('*').trim_start_matches('_').trim().to_string();
    let known = ["subject", "title", "from", "to", "date", "timestamp", "sent", "time", "created", "created_at"];
    known.contains(&k.as_str()).then_some((k, v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_and_json_blocks_in_any_case() {
        let (f, body) = split("---\nFrom: a\ndate: 2026-01-18\nOwner: b\n---\n\nbody\n").unwrap();
        assert_eq!(
            (f["from"].as_str(), f["date"].as_str(), f["owner"].as_str()),
            (Some("a"), Some("2026-01-18"), Some("b"))
        );
        assert_eq!(body.trim(), "body");
        let (f, body) = split("---json\n{\n  \"id\": 7,\n  \"Subject\": \"hi\"\n}\n---\n\nthe body\n").unwrap();
        assert_eq!((f["id"].as_i64(), f["subject"].as_str()), (Some(7), Some("hi")));
        assert_eq!(body.trim(), "the body");
        assert!(split("# Title\n---\nx: y\n---\n").is_none(), "a rule later is no front matter");
        assert!(split("---\nno colon here\n---\n").is_none());
        assert!(split("---\nkey: v\nnever closed\n").is_none());
    }

    #[test]
    fn the_messages_own_state() {
        let m = |s: &str| serde_json::from_str::<Map<String, Value>>(s).unwrap();
        assert_eq!(own_done(&m(r#"{"read": true}"#)), Some(true));
        assert_eq!(own_done(&m(r#"{"read": false}"#)), Some(false));
        assert_eq!(own_done(&m(r#"{"read": "false"}"#)), Some(false));
        assert_eq!(own_done(&m(r#"{"status": "acked"}"#)), Some(true));
        assert_eq!(own_done(&m(r#"{"status": "completed"}"#)), None, "a task's outcome is no read state");
        assert_eq!(own_done(&m(r#"{"acknowledged": true, "read": false}"#)), Some(true));
        assert_eq!(own_done(&m(r#"{"read_ts": "2026-01-01T00:00:00Z"}"#)), Some(true));
        assert_eq!(own_done(&m(r#"{"subject": "x"}"#)), None);
    }

    #[test]
    fn pointers() {
        assert_eq!(pointer_body("Mirror of: ../b/inbox/x.md\n").as_deref(), Some("../b/inbox/x.md"));
        assert_eq!(
            pointer_body("# Stub\n\nCopied to `agent_b/inbox/20260118-task.md`\n").as_deref(),
            Some("agent_b/inbox/20260118-task.md")
        );
        assert_eq!(pointer_body("**Copy of:** [task](b/inbox/t.md)\n").as_deref(), Some("b/inbox/t.md"));
        assert_eq!(pointer_body("Mirror of: x.md\nand please also do this\n"), None);
        assert_eq!(pointer_body("Copied to the team\n"), None, "not a path");
        let m = |s: &str| serde_json::from_str::<Map<String, Value>>(s).unwrap();
        assert_eq!(pointer_field(&m(r#"{"source": "voice"}"#)), None);
        assert_eq!(pointer_field(&m(r#"{"mirror_of": "b/inbox/x.md"}"#)).as_deref(), Some("b/inbox/x.md"));
        assert!(is_template(&m(r#"{"type": "Template"}"#)));
    }
}
