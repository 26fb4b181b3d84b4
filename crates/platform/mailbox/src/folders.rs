//! Folder mailboxes, read: `<path>/<agent>/` with an inbox (`inbox/`), done folders (`done/`,
//! `completed/`, `processed/`) and an outbox (`outbox/`), holding `.json`, `.md` and `.txt`
//! messages. [`parse_message`] reads one file's bytes (pure: no disk, fuzzed); [`scan`] walks
//! the folders, never writing, renaming or touching a file.
//!
//! A message's title is its `Subject:`/`Title:` line or first heading that is not
//! boilerplate; `from`/`to` come from `From:`/`To:` lines or an `A → B` header; its date from
//! a timestamp field or line, else the file name, else (in [`scan`]) the file's mtime. A file
//! holding several messages (separated by lines of `=` or `-`, or a header block repeated) is
//! split into them.
use std::path::Path;

use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::front::header;
pub use crate::front::{EXTENSIONS, extension};
use crate::when;
use crate::zone::Zone;

/// Where a message's date came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DateSource {
    /// A timestamp field or line in the message.
    Body,
    /// An epoch or `YYYYMMDD[-HHMM]` in the file name.
    FileName,
    /// The file's modification time (nothing better).
    Mtime,
}

impl DateSource {
    pub fn as_str(self) -> &'static str {
        match self {
            DateSource::Body => "body",
            DateSource::FileName => "file_name",
            DateSource::Mtime => "mtime",
        }
    }
}

/// One message of a file, read.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Parsed {
    pub title: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub created_at: Option<OffsetDateTime>,
    pub date_source: Option<DateSource>,
    /// The message's own text (for a file of several messages, its part), for its id.
    pub text: String,
    /// What the message says of its own state: `Some(true)` done (`read: true`, `status:
    /// "acked"`…), `Some(false)` open; `None`: the folder decides ([`crate::front::own_done`]).
    pub own_done: Option<bool>,
    /// The other copy this file only points at (`Mirror of: PATH`, a front matter `mirror_of`).
    pub pointer: Option<String>,
    /// A template (front matter `type: template`), not a message.
    pub template: bool,
}

/// Why a file is not read as messages.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParseError {
    #[error("not UTF-8 text")]
    NotText,
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error("JSON that is neither a message object nor an array of them")]
    NotMessages,
    #[error("empty")]
    Empty,
}

/// One file's bytes as its messages. `name` is the file's name (its extension picks the
/// reader, its digits may carry the date); `zone` reads times written without a zone.
pub fn parse_message(name: &str, bytes: &[u8], zone: &Zone) -> Result<Vec<Parsed>, ParseError> {
    let text = std::str::from_utf8(bytes).map_err(|_| ParseError::NotText)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(ParseError::Empty);
    }
    let stem = name.strip_suffix(".done").unwrap_or(name);
    let mut out = if extension(name).as_deref() == Some("json") {
        json_messages(text, zone)?
    } else if let Some((fields, body)) = crate::front::split(text) {
        vec![front_message(&fields, body, text, zone)]
    } else {
        split_text(text).into_iter().map(|part| text_message(&part, zone)).collect()
    };
    let from_name = when::from_file_name(stem, zone);
    let fallback_title = Path::new(stem).file_stem().and_then(|s| s.to_str()).unwrap_or(stem).to_string();
    for m in &mut out {
        if m.created_at.is_none()
            && let Some(t) = from_name
        {
            m.created_at = Some(t);
            m.date_source = Some(DateSource::FileName);
        }
        if m.title.is_empty() {
            m.title = fallback_title.clone();
        }
    }
    Ok(out)
}

fn json_messages(text: &str, zone: &Zone) -> Result<Vec<Parsed>, ParseError> {
    let v: Value = serde_json::from_str(text).map_err(|e| ParseError::NotJson(e.to_string()))?;
    let objects: Vec<&Map<String, Value>> = match &v {
        Value::Object(o) => match o.get("messages").and_then(Value::as_array) {
            Some(list) if !list.is_empty() && !has_any(o, BODY_KEYS) => {
                list.iter().filter_map(Value::as_object).collect()
            }
            _ => vec![o],
        },
        Value::Array(a) => a.iter().filter_map(Value::as_object).collect(),
        _ => return Err(ParseError::NotMessages),
    };
    if objects.is_empty() {
        return Err(ParseError::NotMessages);
    }
    Ok(objects.into_iter().map(|o| json_message(o, zone)).collect())
}

const TITLE_KEYS: &[&str] = &["subject", "title", "summary"];
const FROM_KEYS: &[&str] = &["from", "sender", "author"];
const TO_KEYS: &[&str] = &["to", "recipient", "recipients"];
const DATE_KEYS: &[&str] = &["timestamp", "created_at", "createdAt", "date", "sent_at", "sentAt", "time", "ts"];
const BODY_KEYS: &[&str] = &["body", "text", "message", "content"];

fn has_any(o: &Map<String, Value>, keys: &[&str]) -> bool {
    keys.iter().any(|k| o.contains_key(*k))
}

fn json_message(o: &Map<String, Value>, zone: &Zone) -> Parsed {
    let text_of = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Array(a) => {
            Some(a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")).filter(|s| !s.is_empty())
        }
        Value::Object(p) => p.get("name").or_else(|| p.get("id")).and_then(Value::as_str).map(str::to_string),
        _ => None,
    };
    let pick = |keys: &[&str]| keys.iter().find_map(|k| o.get(*k).and_then(text_of)).filter(|s| !s.trim().is_empty());
    let body = pick(BODY_KEYS);
    let title = pick(TITLE_KEYS).or_else(|| body.as_deref().map(first_line)).map(|t| clip(&t)).unwrap_or_default();
    let created_at = DATE_KEYS.iter().find_map(|k| match o.get(*k)? {
        Value::String(s) => when::parse_text(s, zone),
        Value::Number(n) => n.as_f64().and_then(when::from_epoch),
        _ => None,
    });
    let lower: Map<String, Value> = o.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.clone())).collect();
    Parsed {
        title,
        from: pick(FROM_KEYS),
        to: pick(TO_KEYS),
        date_source: created_at.map(|_| DateSource::Body),
        created_at,
        text: Value::Object(o.clone()).to_string(),
        own_done: crate::front::own_done(&lower),
        pointer: crate::front::pointer_field(&lower),
        template: crate::front::is_template(&lower),
    }
}

/// A Markdown or text message with front matter: one message, its fields from the front matter
/// (keys in any case; `owner` is who it is for when there is no `to`), then from the body's
/// own lines as for any text message.
fn front_message(fields: &Map<String, Value>, body: &str, whole: &str, zone: &Zone) -> Parsed {
    let mut p = text_message(body, zone);
    let text_of = |v: &Value| match v {
        Value::String(s) => Some(s.trim().trim_matches(['[', ']']).to_string()),
        Value::Array(a) => Some(a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")),
        _ => None,
    };
    let pick = |keys: &[&str]| keys.iter().find_map(|k| fields.get(*k).and_then(text_of)).filter(|s| !s.is_empty());
    if let Some(t) = pick(&["subject", "title"]) {
        p.title = clip(&t);
    }
    p.from = pick(&["from", "sender", "author"]).or(p.from);
    p.to = pick(&["to", "recipient", "recipients"]).or(p.to).or_else(|| pick(&["owner", "assignee"]));
    let date =
        ["date", "created", "created_ts", "created_at", "timestamp", "sent", "time"].iter().find_map(|k| match fields
            .get(*k)?
        {
            Value::String(s) => when::parse_text(s, zone),
            Value::Number(n) => n.as_f64().and_then(when::from_epoch),
            _ => None,
        });
    if let Some(t) = date {
        p.created_at = Some(t);
        p.date_source = Some(DateSource::Body);
    }
    p.own_done = crate::front::own_done(fields);
    p.pointer = crate::front::pointer_field(fields).or_else(|| crate::front::pointer_body(body));
    p.template = crate::front::is_template(fields);
    p.text = whole.to_string();
    p
}

/// `A → B` / `A -> B` on a line of its own (markup around it allowed).
fn arrow(line: &str) -> Option<(String, String)> {
    let l = line.trim().trim_start_matches('#').trim().trim_matches(['*', '_', '`']).trim();
    let (a, b) = l.split_once('→').or_else(|| l.split_once("->"))?;
    let clean = |s: &str| s.trim().trim_matches(['*', '_', '`']).trim().to_string();
    let (a, b) = (clean(a), clean(b));
    let short = |s: &str| !s.is_empty() && s.split_whitespace().count() <= 4 && !s.contains('→') && !s.contains("->");
    (short(&a) && short(&b) && l.chars().count() <= 100).then_some((a, b))
}

fn is_separator(line: &str) -> bool {
    let t = line.trim();
    t.len() >= 3 && (t.bytes().all(|b| b == b'=') || t.bytes().all(|b| b == b'-'))
}

fn has_header(lines: &[&str]) -> bool {
    lines
        .iter()
        .any(|l| header(l).is_some_and(|(k, _)| k == "from" || k == "subject" || k == "to") || arrow(l).is_some())
}

/// A text file split into its messages: at separator lines between two parts that each have
/// a header (a `---` rule inside one message splits nothing), and where a `From:` line comes
/// again after the body of a message began.
fn split_text(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut chunks: Vec<Vec<&str>> = vec![Vec::new()];
    for l in &lines {
        if is_separator(l) {
            chunks.push(Vec::new());
        } else if let Some(c) = chunks.last_mut() {
            c.push(l);
        }
    }
    // Parts without a header belong to the message before them.
    let mut merged: Vec<Vec<&str>> = Vec::new();
    for c in chunks {
        match merged.last_mut() {
            Some(prev) if !has_header(&c) || !has_header(prev) => {
                if !c.iter().all(|l| l.trim().is_empty()) {
                    prev.push("---");
                    prev.extend(c);
                }
            }
            _ => merged.push(c),
        }
    }
    let mut out = Vec::new();
    for part in merged {
        out.extend(split_repeated(&part));
    }
    out.retain(|p| !p.trim().is_empty() && p.trim() != "---");
    if out.is_empty() {
        out.push(text.to_string());
    }
    out
}

/// Splits where a `From:` header comes again once body lines have begun.
fn split_repeated(lines: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Vec<&str> = Vec::new();
    let (mut seen_from, mut in_body) = (false, false);
    for l in lines {
        let h = header(l);
        if h.as_ref().is_some_and(|(k, _)| k == "from") {
            if seen_from && in_body {
                out.push(cur.join("\n"));
                cur.clear();
                in_body = false;
            }
            seen_from = true;
        } else if h.is_none() && !l.trim().is_empty() && seen_from {
            in_body = true;
        }
        cur.push(l);
    }
    out.push(cur.join("\n"));
    out
}

/// Headings that say nothing about the message (a template's footer, a section name).
fn boilerplate(heading: &str) -> bool {
    let h: String = heading.to_lowercase().chars().filter(|c| c.is_alphanumeric() || *c == ' ').collect();
    let h = h.trim();
    const EXACT: &[&str] = &[
        "message",
        "messages",
        "handoff",
        "note",
        "notes",
        "footer",
        "signature",
        "metadata",
        "meta",
        "instructions",
        "response instructions",
        "reply instructions",
        "how to respond",
        "how to reply",
        "protocol",
        "context",
        "attachments",
        "references",
        "appendix",
        "end",
        "end of message",
        "status",
        "details",
        "body",
        "summary",
        "response",
        "reply",
        "next steps",
    ];
    h.is_empty()
        || EXACT.contains(&h)
        || [
            "generated by",
            "auto generated",
            "autogenerated",
            "sent by",
            "sent via",
            "this message",
            "this file",
            "do not edit",
        ]
        .iter()
        .any(|p| h.starts_with(p))
}

fn text_message(part: &str, zone: &Zone) -> Parsed {
    let (mut title, mut from, mut to, mut date) = (None, None, None, None);
    let mut heading = None;
    let mut first_text = None;
    for l in part.lines() {
        if let Some((k, v)) = header(l) {
            match k.as_str() {
                "subject" | "title" if title.is_none() && !v.is_empty() => title = Some(v),
                "from" if from.is_none() && !v.is_empty() => from = Some(v),
                "to" if to.is_none() && !v.is_empty() => to = Some(v),
                "date" | "timestamp" | "sent" | "time" | "created" | "created_at" if date.is_none() => {
                    date = when::parse_text(&v, zone)
                }
                _ => {}
            }
            continue;
        }
        if let Some((a, b)) = arrow(l)
            && from.is_none()
        {
            from = Some(a);
            to = to.or(Some(b));
            continue;
        }
        let t = l.trim();
        if let Some(h) = t.strip_prefix('#') {
            let h = h.trim_start_matches('#').trim();
            if heading.is_none() && !boilerplate(h) {
                heading = Some(h.to_string());
            }
        } else if first_text.is_none() && !t.is_empty() && !is_separator(t) {
            first_text = Some(t.to_string());
        }
    }
    let title =
        title.or(heading).or(first_text).map(|t| clip(t.trim_matches(['*', '_', '`']).trim())).unwrap_or_default();
    Parsed {
        title,
        from,
        to,
        date_source: date.map(|_| DateSource::Body),
        created_at: date,
        text: part.to_string(),
        own_done: None,
        pointer: crate::front::pointer_body(part),
        template: false,
    }
}

fn first_line(s: &str) -> String {
    s.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("").to_string()
}

fn clip(s: &str) -> String {
    let mut out: String = s.chars().take(200).collect();
    if s.chars().count() > 200 {
        out.push('…');
    }
    out
}

/// The state of a folder mailbox item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// In an inbox, not done yet.
    Open,
    /// In a done folder, marked `.done`, or the same bytes as a done file.
    Done,
    /// In the agent's outbox.
    Sent,
    /// A file that should be a message and could not be read.
    Unreadable,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Open => "open",
            State::Done => "done",
            State::Sent => "sent",
            State::Unreadable => "unreadable",
        }
    }
}

/// A folder message's id: its agent and its own text (the same message moved from the inbox
/// to `done/` keeps its id).
pub fn item_id(agent: &str, text: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(agent.as_bytes());
    h.update([0u8]);
    h.update(text);
    format!("fm-{}", hex::encode(&h.finalize()[..10]))
}

mod copies;
mod read;
pub(crate) use read::state_folder_name as is_state_name;
pub use read::{Agent, Item, is_agent_folder, scan};

#[cfg(test)]
mod tests;
