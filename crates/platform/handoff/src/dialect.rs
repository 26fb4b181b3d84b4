//! The dialects of handoff files baton reads in other agents' folders: its own
//! `baton.handoff/v1`, the loose JSON the user's agents already write, and Markdown triggers.
//! Reading is pure (bytes and a file name in, a [`Seen`] or the reason it is unreadable out);
//! nothing here touches the file system, and nothing a dialect reads is ever rewritten.
//!
//! The loose dialect is read through one table, [`MAPPING`] (documented in `docs/handoffs.md`):
//! for each field baton tracks, the keys that give it, first present non-empty string wins.
//! A key with a dot (`original_handoff.handoff_id`) is a key of a nested object.
use serde_json::{Map, Value};

use crate::{Body, schema, stamp};

/// Which dialect a file was read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Dialect {
    /// `schema: "baton.handoff/v1"`, schema-valid.
    V1,
    /// The user's agents' own JSON, read through [`MAPPING`].
    Loose,
    /// A Markdown trigger (`<slug>-<date>.md`, or any `.md`): a TASK, titled by its first heading.
    Markdown,
}

impl Dialect {
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::V1 => "baton.handoff/v1",
            Dialect::Loose => "loose",
            Dialect::Markdown => "markdown",
        }
    }
}

/// A TASK (work asked for) or a RETURN (an answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Kind {
    Task,
    Return,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Task => "task",
            Kind::Return => "return",
        }
    }
}

/// A handoff as baton understands it, whatever dialect it was written in. Serializable so that
/// a filed file's reading can be kept between runs (`baton_home::tree`'s cache).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Seen {
    pub dialect: Dialect,
    pub kind: Kind,
    pub id: Option<String>,
    /// The sender, as the body spells it (`"Cursor MM1 Agent"`); see [`fold_agent`].
    pub from: Option<String>,
    /// The recipient, as the body spells it; `None` when only the folder says it.
    pub to: Option<String>,
    /// The body's title, else the file name's title part.
    pub title: String,
    /// RFC 3339 when it could be read (the body's, else the file name's stamp or date).
    pub created_at: Option<String>,
    /// For a RETURN: the id of the TASK it answers.
    pub in_reply_to: Option<String>,
    /// For a RETURN: the file name of the TASK it answers (`original_handoff.handoff_file`).
    pub answers_file: Option<String>,
    /// For a loose TASK addressed to baton: the plugin and action it names, if any.
    pub plugin: Option<String>,
    pub action: Option<String>,
    /// The agent a TASK asks its RETURN to go to, when not its sender.
    pub reply_to: Option<String>,
}

/// The loose dialect's keys, per field baton tracks: first present non-empty string wins.
/// `from` and `to` depend on the kind: in a RETURN the `executing_agent` sends and the
/// `originating_agent` (who sent the TASK) receives.
pub const MAPPING: &[(&str, &[&str])] = &[
    ("id", &["id", "handoff_id", "task_id", "return_id"]),
    ("from (TASK)", &["from", "source_agent", "sender", "from_agent", "created_by", "originating_agent"]),
    ("to (TASK)", &["to", "target_agent", "assigned_agent", "agent_name", "recipient", "to_agent"]),
    ("from (RETURN)", &["from", "executing_agent", "source_agent", "sender", "from_agent"]),
    ("to (RETURN)", &["to", "originating_agent", "target_agent", "recipient", "to_agent"]),
    (
        "title",
        &["title", "task_title", "task_name", "subject", "original_handoff.title", "original_context.handoff_topic"],
    ),
    ("created_at", &["created_at", "timestamp", "created", "date"]),
    ("kind", &["kind", "type", "handoff_kind"]),
    (
        "in_reply_to",
        &[
            "in_reply_to",
            "original_handoff_id",
            "original_handoff.handoff_id",
            "original_handoff.id",
            "original_task_id",
        ],
    ),
    ("answers file", &["original_handoff.handoff_file", "original_handoff_file", "original_handoff"]),
    ("reply_to", &["reply_to", "reply_to_agent", "return_to"]),
];

/// The Markdown header lines (`**Source Agent:** Cursor MM1 Agent`) that give each field;
/// keys compared in lower case. Only the lines before the first `---` (or the first 40) count.
pub const MARKDOWN_MAPPING: &[(&str, &[&str])] = &[
    ("id", &["task id", "handoff id", "id"]),
    ("from", &["from", "source agent", "created by", "sender"]),
    ("to", &["to", "target agent", "assigned to", "assigned agent", "recipient"]),
    ("created_at", &["created", "created date", "timestamp", "date", "created at"]),
    ("reply_to", &["reply to", "reply_to", "reply-to"]),
];

fn keys(field: &str) -> &'static [&'static str] {
    MAPPING.iter().find(|(f, _)| *f == field).map(|(_, k)| *k).unwrap_or(&[])
}

/// The value at `key` (`a.b` reaches into object `a`), if it is a non-empty string.
fn get<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    let v = match key.split_once('.') {
        Some((outer, inner)) => obj.get(outer)?.as_object()?.get(inner)?,
        None => obj.get(key)?,
    };
    v.as_str().map(str::trim).filter(|s| !s.is_empty())
}

fn first(obj: &Map<String, Value>, field: &str) -> Option<String> {
    keys(field).iter().find_map(|k| get(obj, k)).map(str::to_string)
}

/// A Markdown file: `.md` or `.markdown`, any case.
pub fn is_markdown(file_name: &str) -> bool {
    let lower = file_name.to_ascii_lowercase();
    lower.ends_with(".md") || lower.ends_with(".markdown")
}

/// Why a file in an agent's folder is not a handoff baton can read.
pub fn unreadable_by_name(name: &str) -> Option<String> {
    if name.starts_with('.') {
        return Some("a dotfile (hidden; agents' tools keep state in them)".into());
    }
    if let crate::names::Entry::SyncConflict(reason) = crate::names::classify(name.as_bytes()) {
        return Some(format!("a sync conflict copy: {reason}"));
    }
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".json") || is_markdown(name) {
        return None;
    }
    Some(match name.rsplit_once('.') {
        Some((_, ext)) if !ext.is_empty() => format!("another extension (.{ext}): baton reads .json and .md"),
        _ => "no extension: baton reads .json and .md".into(),
    })
}

/// Why a file of an agent's folder is no handoff baton can read, in a few words (`status`
/// lists it with this reason). `Clone`, as the tree's entries that carry it are.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Unreadable {
    /// Its name says it is no handoff ([`unreadable_by_name`]'s reason).
    #[error("{0}")]
    Name(String),
    /// `not JSON: …`, with a hint for the shapes seen in real trees.
    #[error("not JSON: {0}{hint}", hint = json_hint(&.0.to_string()))]
    NotJson(std::sync::Arc<serde_json::Error>),
    /// Valid JSON of another type (the name of the type).
    #[error("not a JSON object (a {0})")]
    NotObject(&'static str),
    #[error(
        "no sender or recipient: no key of the dialect table (`from`, `to`, `source_agent`, `target_agent`, …) names an agent"
    )]
    NoParties,
}

/// Reads one file of an agent's folder. `Err` is the reason it is unreadable.
pub fn read(file_name: &str, bytes: &[u8]) -> Result<Seen, Unreadable> {
    if let Some(reason) = unreadable_by_name(file_name) {
        return Err(Unreadable::Name(reason));
    }
    if is_markdown(file_name) {
        return Ok(read_markdown(file_name, bytes));
    }
    // Editors on Windows start a UTF-8 file with a byte-order mark; JSON does not allow one.
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let value: Value = serde_json::from_slice(bytes).map_err(|e| Unreadable::NotJson(e.into()))?;
    read_value(file_name, value)
}

/// The hint after `not JSON: …` for the mistakes seen in real trees.
fn json_hint(text: &str) -> &'static str {
    if text.contains("trailing characters") {
        " (two JSON documents in one file?)"
    } else if text.contains("escape") {
        " (a `\\` in a string must be written `\\\\`)"
    } else {
        ""
    }
}

/// [`read`] for a JSON value already parsed.
pub fn read_value(file_name: &str, value: Value) -> Result<Seen, Unreadable> {
    if value.get("schema").and_then(Value::as_str) == Some(crate::SCHEMA_ID)
        && let Ok((body, _)) = schema::parse_value(value.clone())
    {
        return Ok(from_v1(file_name, &body));
    }
    let Value::Object(obj) = value else {
        return Err(Unreadable::NotObject(json_type(&value)));
    };
    let name = NameParts::of(file_name);
    let kind = loose_kind(&obj, &name);
    let (from_key, to_key) = match kind {
        Kind::Task => ("from (TASK)", "to (TASK)"),
        Kind::Return => ("from (RETURN)", "to (RETURN)"),
    };
    let from = first(&obj, from_key);
    let to = first(&obj, to_key);
    if from.is_none() && to.is_none() {
        return Err(Unreadable::NoParties);
    }
    let created_at = first(&obj, "created_at").and_then(|s| normalize_time(&s)).or_else(|| name.created_at());
    Ok(Seen {
        dialect: Dialect::Loose,
        kind,
        id: first(&obj, "id"),
        from,
        to,
        title: first(&obj, "title").unwrap_or_else(|| name.title()),
        created_at,
        in_reply_to: if kind == Kind::Return { first(&obj, "in_reply_to") } else { None },
        answers_file: first(&obj, "answers file").map(|p| base_name(&p).to_string()),
        reply_to: first(&obj, "reply_to"),
        plugin: get(&obj, "plugin").map(str::to_string),
        action: get(&obj, "action").map(str::to_string),
    })
}

/// The part of a body [`read_value`] looks at (the top-level keys of [`MAPPING`], plus
/// `schema`, `plugin`, `action`): kept when a body fails validation, so the rejection can say
/// who sent it and in which dialect without keeping the whole document.
pub fn facts(value: &Value) -> Value {
    let Value::Object(o) = value else { return Value::Null };
    let mut out = Map::new();
    let wanted = MAPPING.iter().flat_map(|(_, k)| k.iter()).map(|k| k.split('.').next().unwrap_or(k));
    for k in wanted.chain(["schema", "plugin", "action"]) {
        if let Some(v) = o.get(k).filter(|v| v.is_string() || (v.is_object() && k.starts_with("original_"))) {
            out.insert(k.to_string(), v.clone());
        }
    }
    Value::Object(out)
}

/// `s` quoted for a POSIX shell where it needs it.
fn sh(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "._-/@:=,+".contains(c)) {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// A name `send` would refuse, as the handoff gave it.
#[derive(Debug, thiserror::Error)]
enum NotAName {
    #[error("{0:?} cannot be an agent name (ASCII letters, digits, '.', '_' and '-')")]
    Invalid(String),
    #[error(
        "{0:?} names a Claude Code team's agent (TEAM/AGENT) that no claude-team mailbox has ({1}): add its team with `baton mailbox add claude-team [PATH]`"
    )]
    UnknownTeamAgent(String, String),
}

/// Why a `TEAM/AGENT` is no agent of a configured claude-team mailbox, in the words of the
/// caller that knows the mailboxes (this crate knows none).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UnknownTeam(pub String);

/// An agent name as the CLI takes it: words joined by dashes (`Cursor MM1 Agent` →
/// `Cursor-MM1-Agent`), checked the way `send` checks it. `TEAM/AGENT` is taken as it is when
/// `team` finds it in a claude-team mailbox (`send` delivers to it there). A name that cannot
/// be one (`Zoë`: only ASCII letters pass; a team agent no mailbox has) is not printed as if it
/// worked: `Err` says why.
fn cli_name(s: &str, team: &dyn Fn(&str) -> Result<(), UnknownTeam>) -> Result<String, NotAName> {
    let trimmed = s.trim();
    if crate::names::team_agent(trimmed).is_some() {
        return match team(trimmed) {
            Ok(()) => Ok(trimmed.to_string()),
            Err(why) => Err(NotAName::UnknownTeamAgent(s.to_string(), why.0)),
        };
    }
    let name = s.split_whitespace().collect::<Vec<_>>().join("-");
    if crate::names::is_valid_name(&name) { Ok(name) } else { Err(NotAName::Invalid(s.to_string())) }
}

/// The `baton send` command that would have worked for a loose handoff dropped into baton's
/// own inbox: the plugin form when it names a plugin and action, else the agent form with
/// its body read from `body_file`. Every field the handoff gave is kept (`reply_to` too); an
/// agent name that `send` would refuse is replaced by a placeholder and the reason said, so the
/// command printed is one that runs. `team` tells whether a `TEAM/AGENT` is an agent of a
/// configured claude-team mailbox (`Err`: why not): this crate knows no mailbox, its caller does.
pub fn send_command(
    seen: &Seen,
    self_agent: &str,
    body_file: &str,
    team: &dyn Fn(&str) -> Result<(), UnknownTeam>,
) -> String {
    let mut notes: Vec<String> = Vec::new();
    let mut agent = |name: Option<&String>, placeholder: &str| -> Option<String> {
        match cli_name(name?, team) {
            Ok(n) => Some(n),
            Err(why) => {
                notes.push(why.to_string());
                Some(placeholder.to_string())
            }
        }
    };
    let from = agent(seen.from.as_ref(), "YOUR-AGENT").unwrap_or_else(|| "YOUR-AGENT".into());
    let to = agent(seen.to.as_ref(), "AGENT").filter(|t| fold_agent(t) != fold_agent(self_agent));
    let reply_to = agent(seen.reply_to.as_ref(), "REPLY-AGENT").map(|r| format!(" --reply-to {}", sh(&r)));
    let reply_to = reply_to.unwrap_or_default();
    let command = match (&seen.plugin, &seen.action, to) {
        (Some(p), Some(a), _) => {
            format!("baton send --plugin {} --action {} --params '{{}}' --from {}{reply_to}", sh(p), sh(a), sh(&from))
        }
        (_, _, Some(to)) => format!(
            "baton send --to {} --title {} --body @{} --from {}{reply_to}",
            sh(&to),
            sh(&seen.title),
            sh(body_file),
            sh(&from)
        ),
        _ => format!(
            "baton send --plugin PLUGIN --action ACTION --params '{{}}' --from {}{reply_to} (`baton plugin list` names them)",
            sh(&from)
        ),
    };
    if notes.is_empty() { command } else { format!("{command} (replace the placeholders: {})", notes.join("; ")) }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "list",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "boolean",
        Value::Null => "null",
        Value::Object(_) => "object",
    }
}

/// The last part of a path written on any system (`/`- or `\`-separated).
fn base_name(p: &str) -> &str {
    p.rsplit(['/', '\\']).next().unwrap_or(p)
}

fn loose_kind(obj: &Map<String, Value>, name: &NameParts) -> Kind {
    for k in keys("kind") {
        if let Some(v) = get(obj, k) {
            let v = v.to_ascii_lowercase();
            if v.contains("return") || v == "reply" || v == "response" {
                return Kind::Return;
            }
            if v == "task" || v.contains("handoff") {
                return Kind::Task;
            }
        }
    }
    if ["in_reply_to", "original_handoff", "original_handoff_id", "executing_agent"]
        .iter()
        .any(|k| obj.contains_key(*k))
    {
        return Kind::Return;
    }
    name.kind.unwrap_or(Kind::Task)
}

fn from_v1(file_name: &str, body: &Body) -> Seen {
    let name = NameParts::of(file_name);
    match body {
        Body::Task(t) => Seen {
            dialect: Dialect::V1,
            kind: Kind::Task,
            id: Some(t.id.clone()),
            from: Some(t.from.clone()),
            to: t.to.clone(),
            title: t.title.clone(),
            created_at: normalize_time(&t.created_at).or_else(|| name.created_at()),
            in_reply_to: None,
            answers_file: None,
            plugin: t.plugin.clone(),
            action: t.action.clone(),
            reply_to: t.reply_to.clone(),
        },
        Body::Return(r) => Seen {
            dialect: Dialect::V1,
            kind: Kind::Return,
            id: Some(r.id.clone()),
            from: Some(r.from.clone()),
            to: r.to.clone(),
            title: r.title.clone(),
            created_at: normalize_time(&r.created_at).or_else(|| name.created_at()),
            in_reply_to: Some(r.in_reply_to.clone()),
            answers_file: None,
            plugin: None,
            action: None,
            reply_to: None,
        },
        // A question or an answer about a TASK: tracked as a message for its recipient, never
        // as the TASK's answer (only its RETURN answers it), so linked to no TASK here.
        Body::InputRequest(r) => Seen {
            dialect: Dialect::V1,
            kind: Kind::Return,
            id: Some(r.id.clone()),
            from: Some(r.from.clone()),
            to: r.to.clone(),
            title: r.title.clone(),
            created_at: normalize_time(&r.created_at).or_else(|| name.created_at()),
            in_reply_to: None,
            answers_file: None,
            plugin: None,
            action: None,
            reply_to: None,
        },
        Body::Input(i) => Seen {
            dialect: Dialect::V1,
            kind: Kind::Return,
            id: Some(i.id.clone()),
            from: Some(i.from.clone()),
            to: None,
            title: i.title.clone(),
            created_at: normalize_time(&i.created_at).or_else(|| name.created_at()),
            in_reply_to: None,
            answers_file: None,
            plugin: None,
            action: None,
            reply_to: None,
        },
    }
}

/// A Markdown trigger: a TASK (a RETURN only if its name says `__RETURN__`), titled by its
/// first heading, with sender, recipient, date and id from its header lines when given.
fn read_markdown(file_name: &str, bytes: &[u8]) -> Seen {
    let text = String::from_utf8_lossy(bytes);
    let name = NameParts::of(file_name);
    let mut title = None;
    let mut fields: Vec<(&str, String)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if i > 40 || (t == "---" && title.is_some()) {
            break;
        }
        if title.is_none() {
            let heading = t.trim_start_matches('#');
            if t.starts_with('#') && !heading.trim().is_empty() && heading.starts_with(' ') {
                title = Some(heading.trim().to_string());
                continue;
            }
        }
        if let Some((key, value)) = header_line(t) {
            for (field, keys) in MARKDOWN_MAPPING {
                if keys.contains(&key.as_str()) && !fields.iter().any(|(f, _)| f == field) {
                    fields.push((field, value.clone()));
                }
            }
        }
    }
    let field = |f: &str| fields.iter().find(|(k, _)| *k == f).map(|(_, v)| v.clone());
    Seen {
        dialect: Dialect::Markdown,
        kind: name.kind.unwrap_or(Kind::Task),
        id: field("id"),
        from: field("from"),
        to: field("to"),
        title: title.unwrap_or_else(|| name.title()),
        created_at: field("created_at").and_then(|s| normalize_time(&s)).or_else(|| name.created_at()),
        in_reply_to: None,
        answers_file: None,
        plugin: None,
        action: None,
        reply_to: field("reply_to"),
    }
}

/// `**Key:** value`, `**Key**: value`, `- Key: value` → (`key`, `value`), key in lower case.
fn header_line(line: &str) -> Option<(String, String)> {
    let line = line.trim_start_matches(['-', '*', ' ']).trim();
    let (key, value) = line.split_once(':')?;
    let key = key.trim_matches(['*', ' ', '_']).to_ascii_lowercase();
    let value = value.trim().trim_matches(['*', ' ', '`']).trim().to_string();
    if key.is_empty() || key.len() > 30 || value.is_empty() {
        return None;
    }
    Some((key, value))
}

/// RFC 3339 for the time forms handoffs use: RFC 3339 itself, `yyyymmddThhmmssZ`, and a
/// bare `yyyy-mm-dd` (midnight UTC).
pub fn normalize_time(s: &str) -> Option<String> {
    let s = s.trim();
    if let Some(t) = stamp::parse_rfc3339(s) {
        return Some(stamp::rfc3339(t));
    }
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r.clone()).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    if b.len() == 16 && digits(0..8) && b[8] == b'T' && digits(9..15) && b[15] == b'Z' {
        let t = format!("{}-{}-{}T{}:{}:{}Z", &s[0..4], &s[4..6], &s[6..8], &s[9..11], &s[11..13], &s[13..15]);
        return stamp::parse_rfc3339(&t).map(stamp::rfc3339);
    }
    // `2026-01-18 07:09:51`, `2026-01-18T07:09:51` (no offset): read as UTC.
    if b.len() >= 19 && matches!(b[10], b' ' | b'T') && b[13] == b':' && b[16] == b':' {
        let t = format!("{}T{}", &s[..10], &s[11..]);
        if let Some(t) = stamp::parse_rfc3339(&t).or_else(|| stamp::parse_rfc3339(&format!("{t}Z"))) {
            return Some(stamp::rfc3339(t));
        }
    }
    if b.len() >= 10 && digits(0..4) && b[4] == b'-' && digits(5..7) && b[7] == b'-' && digits(8..10) {
        return stamp::parse_rfc3339(&format!("{}T00:00:00Z", &s[..10])).map(stamp::rfc3339);
    }
    if b.len() == 8 && digits(0..8) {
        return normalize_time(&format!("{}-{}-{}", &s[0..4], &s[4..6], &s[6..8]));
    }
    None
}

/// What a file name says, in the patterns real trees use:
/// `<stamp>__HANDOFF__<Title>__<Agent>`, `<stamp>__RETURN__<Title>__<Agent>`,
/// `<stamp>__HANDOFF__<From>__<Title>__<To>`, `<stamp>__HANDOFF__<Title>`, `<stamp>_<slug>`,
/// `<stamp>__<slug>`, `<slug>-<yyyymmdd>[__NOTE]`. The agent parts are not used: the last
/// part is sometimes the sender, sometimes the recipient, and the body decides.
#[derive(Debug, Default)]
struct NameParts {
    stamp: Option<String>,
    date: Option<String>,
    kind: Option<Kind>,
    title: String,
}

impl NameParts {
    fn of(file_name: &str) -> NameParts {
        let stem = file_name.rsplit_once('.').map_or(file_name, |(s, _)| s);
        let mut parts: Vec<&str> = stem.split("__").filter(|p| !p.is_empty()).collect();
        let mut out = NameParts::default();
        // `get`, not `[..16]`: a name is a stranger's bytes, and byte 16 may fall inside `é`.
        if let Some(first) = parts.first().copied()
            && let Some((head, tail)) = first.get(..16).zip(first.get(16..))
            && let Some(stamp) = normalize_time(head)
        {
            out.stamp = Some(stamp);
            let rest = tail.trim_start_matches(['_', '-']);
            if rest.is_empty() {
                parts.remove(0);
            } else {
                parts[0] = rest;
            }
        }
        if let Some(i) = parts
            .iter()
            .position(|p| matches!(p.to_ascii_uppercase().as_str(), "HANDOFF" | "TASK" | "RETURN" | "RETURN_HANDOFF"))
        {
            out.kind =
                Some(if parts[i].to_ascii_uppercase().starts_with("RETURN") { Kind::Return } else { Kind::Task });
            let after: Vec<&str> = parts[i + 1..].to_vec();
            let title_parts = match after.len() {
                // `<Title>__HANDOFF`: the title comes before the kind.
                0 => parts[..i].to_vec(),
                1 => after,
                2 => after[..1].to_vec(),
                n => after[1..n - 1].to_vec(),
            };
            out.title = title_parts.join(" ");
        } else {
            // `<slug>-<yyyymmdd>[__NOTE]`: the first part, its date split off.
            let first = parts.first().copied().unwrap_or(stem);
            match first.rsplit_once('-') {
                Some((slug, date)) if date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit()) => {
                    out.date = normalize_time(date);
                    out.title = slug.to_string();
                }
                _ => out.title = first.to_string(),
            }
        }
        out.title = out.title.replace(['-', '_'], " ").trim().to_string();
        if out.title.is_empty() {
            out.title = stem.to_string();
        }
        out
    }

    fn created_at(&self) -> Option<String> {
        self.stamp.clone().or_else(|| self.date.clone())
    }

    fn title(&self) -> String {
        self.title.clone()
    }
}

/// The key under which agent names are matched to folders: case, spaces, dashes and
/// underscores folded away, then a trailing `Agent` or `Trigger` (repeatedly), so
/// `"Claude Code Agent"`, `"Claude-Code-Agent"` and `Claude-Code-Agent-Trigger` are one key.
pub fn fold_agent(name: &str) -> String {
    let mut k: String =
        name.chars().filter(|c| !matches!(c, ' ' | '-' | '_' | '\t')).flat_map(char::to_lowercase).collect();
    loop {
        let before = k.len();
        for suffix in ["trigger", "agent"] {
            if k.len() > suffix.len() && k.ends_with(suffix) {
                k.truncate(k.len() - suffix.len());
            }
        }
        if k.len() == before {
            return k;
        }
    }
}

/// Which folder an agent name means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match<'a> {
    /// Exactly one folder (its name in any case, or the only one with the name's fold key).
    One(&'a str),
    /// Several folders fold to the name's key: listed, never guessed between.
    Ambiguous(Vec<&'a str>),
    None,
}

/// Matches `name` to one of `folders`: the folder with the same name (any case) first, else
/// the folders whose [`fold_agent`] key equals the name's.
pub fn match_folder<'a>(name: &str, folders: &[&'a str]) -> Match<'a> {
    let exact: Vec<&str> = folders.iter().copied().filter(|f| f.eq_ignore_ascii_case(name)).collect();
    match exact.len() {
        0 => {}
        1 => return Match::One(exact[0]),
        _ => return Match::Ambiguous(exact),
    }
    let key = fold_agent(name);
    let found: Vec<&str> = folders.iter().copied().filter(|f| fold_agent(f) == key).collect();
    match found.len() {
        0 => Match::None,
        1 => Match::One(found[0]),
        _ => Match::Ambiguous(found),
    }
}

/// A title's comparison key: letters and digits only, in lower case.
pub fn fold_title(title: &str) -> String {
    title.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fold_as_the_issue_spells_them() {
        for n in ["Claude Code Agent", "Claude-Code-Agent", "claude-code-agent-trigger", "Claude Code"] {
            assert_eq!(fold_agent(n), "claudecode", "{n}");
        }
        assert_eq!(fold_agent("Cursor-MM1 Agent"), "cursormm1");
        assert_eq!(fold_agent("Agent"), "agent");
        let folders = ["Claude-MM1", "Claude-MM1-Agent", "Codex-MM1"];
        assert_eq!(
            match_folder("Claude MM1 Agent", &folders),
            Match::Ambiguous(vec!["Claude-MM1", "Claude-MM1-Agent"])
        );
        assert_eq!(match_folder("claude-mm1", &folders), Match::One("Claude-MM1"));
        assert_eq!(match_folder("Codex MM1 Agent", &folders), Match::One("Codex-MM1"));
        assert_eq!(match_folder("Codex", &folders), Match::None);
    }

    #[test]
    fn file_names_give_title_and_time_in_every_pattern() {
        let n = NameParts::of("20251219T015735Z__HANDOFF__Codex-MM1__Protocol-v5-Manifest-Refresh__Claude-MM1.json");
        assert_eq!((n.title.as_str(), n.kind), ("Protocol v5 Manifest Refresh", Some(Kind::Task)));
        assert_eq!(n.created_at().as_deref(), Some("2025-12-19T01:57:35Z"));
        let n = NameParts::of("20260118T071446Z__RETURN__Webhook-Server-Progress-Review__Claude-Code-Agent.json");
        assert_eq!((n.title.as_str(), n.kind), ("Webhook Server Progress Review", Some(Kind::Return)));
        assert_eq!(NameParts::of("20251217T195713Z_notion-access-escalation.json").title, "notion access escalation");
        let n = NameParts::of("fix-wav-file-handling-bug-20260113__ALREADY_FIXED_20260114T155453Z.md");
        assert_eq!(n.title, "fix wav file handling bug");
        assert_eq!(n.created_at().as_deref(), Some("2026-01-13T00:00:00Z"));
        assert_eq!(NameParts::of("20260120T003500Z__HANDOFF__GAS-Transfer.md").title, "GAS Transfer");
    }

    #[test]
    fn a_name_with_a_multibyte_letter_at_any_byte_is_read_not_a_panic() {
        // The poison pill: byte 16 inside `é` stopped `serve` for good.
        assert_eq!(NameParts::of("aééééééééé__HANDOFF.json").title, "aééééééééé");
        for pad in 0..20 {
            let name = format!("{}é€😀__HANDOFF__Tïtle__Ägent.md", "2".repeat(pad));
            let _ = NameParts::of(&name);
            let _ = normalize_time(&name);
            let _ = read(&name, b"{\"from\": \"A\"}");
        }
    }

    #[test]
    fn loose_task_and_return_map_through_the_table() {
        let t = serde_json::json!({"handoff_id": "h1", "timestamp": "2026-01-06T18:38:08.000000+00:00",
            "source_agent": "Cursor MM1 Agent", "target_agent": "Claude Code Agent", "priority": "High"});
        let s =
            read("20260106T183808Z__HANDOFF__Drive-Sync__Claude-Code-Agent.json", t.to_string().as_bytes()).unwrap();
        assert_eq!((s.kind, s.dialect, s.id.as_deref()), (Kind::Task, Dialect::Loose, Some("h1")));
        assert_eq!(
            (s.from.as_deref(), s.to.as_deref(), s.title.as_str()),
            (Some("Cursor MM1 Agent"), Some("Claude Code Agent"), "Drive Sync")
        );
        let r = serde_json::json!({"type": "RETURN_HANDOFF", "executing_agent": "Claude Code Agent",
            "originating_agent": "Claude MM1 Agent", "original_handoff": {"handoff_id": "h1", "handoff_file": "/x/y/T.json"}});
        let s = read("r.json", r.to_string().as_bytes()).unwrap();
        assert_eq!(
            (s.kind, s.from.as_deref(), s.to.as_deref()),
            (Kind::Return, Some("Claude Code Agent"), Some("Claude MM1 Agent"))
        );
        assert_eq!((s.in_reply_to.as_deref(), s.answers_file.as_deref()), (Some("h1"), Some("T.json")));
        let bom = read("b.json", b"\xef\xbb\xbf{\"from\": \"A\", \"created_at\": \"2026-01-18 07:09:51\", \"original_handoff\": \"C:\\\\x\\\\T.json\"}").unwrap();
        assert_eq!(
            (bom.created_at.as_deref(), bom.kind, bom.answers_file.as_deref()),
            (Some("2026-01-18T07:09:51Z"), Kind::Return, Some("T.json"))
        );
        assert_eq!(read("n.MARKDOWN", b"# T").unwrap().dialect, Dialect::Markdown);
        let e = read("x.json", br#"{"meta": {"a": 1}}"#).unwrap_err().to_string();
        assert!(e.starts_with("no sender or recipient"), "{e}");
        let e = read("x.json", br#"{"a": 1}{"b": 2}"#).unwrap_err().to_string();
        assert!(e.starts_with("not JSON: trailing characters") && e.contains("two JSON documents"), "{e}");
        assert!(read("x.json", br#"{"a": "\q"}"#).unwrap_err().to_string().starts_with("not JSON:"));
        assert!(read(".DS_Store", b"").unwrap_err().to_string().contains("dotfile"));
        assert!(read("notes.txt", b"").unwrap_err().to_string().contains(".txt"));
    }

    fn no_teams(_: &str) -> Result<(), UnknownTeam> {
        Err(UnknownTeam("no claude-team mailbox is configured".into()))
    }

    #[test]
    fn a_team_agent_a_mailbox_has_is_a_name_and_one_none_has_is_said() {
        let t =
            serde_json::json!({"from": "alpha/lead", "to": "beta/worker", "reply_to": "alpha/worker", "title": "x"});
        let s = read_value("t.json", t).unwrap();
        let alpha =
            |n: &str| if n.starts_with("alpha/") { Ok(()) } else { Err(UnknownTeam(format!("no team for {n}"))) };
        let cmd = send_command(&s, "baton", "f.json", &alpha);
        assert!(
            cmd.starts_with("baton send --to AGENT --title x --body @f.json --from alpha/lead --reply-to alpha/worker"),
            "{cmd}"
        );
        assert!(
            cmd.contains("\"beta/worker\" names a Claude Code team's agent") && cmd.contains("no team for beta/worker"),
            "{cmd}"
        );
        assert!(!cmd.contains("cannot be an agent name"), "TEAM/AGENT is never called not an agent name: {cmd}");
    }

    #[test]
    fn a_loose_handoff_is_told_the_send_command() {
        let t = serde_json::json!({"source_agent": "Cursor MM1 Agent", "target_agent": "Claude Code Agent", "title": "Fix it's bug", "required_action": "x"});
        let s = read_value("t.json", facts(&t)).unwrap();
        assert_eq!(
            send_command(&s, "baton", "/h/baton/03_failed/t.json", &no_teams),
            "baton send --to Claude-Code-Agent --title 'Fix it'\\''s bug' --body @/h/baton/03_failed/t.json --from Cursor-MM1-Agent"
        );
        let t =
            serde_json::json!({"source_agent": "Codex", "target_agent": "baton", "plugin": "echo", "action": "echo"});
        let s = read_value("t.json", t).unwrap();
        assert_eq!(
            send_command(&s, "baton", "f", &no_teams),
            "baton send --plugin echo --action echo --params '{}' --from Codex"
        );
        // Every field kept, and a name `send` would refuse is never printed as if it worked.
        let zoe = read(
            "z.json",
            "{\"from\": \"Zoë\", \"to\": \"Codex\", \"reply_to\": \"Über Bot\", \"title\": \"x\"}".as_bytes(),
        )
        .unwrap();
        let cmd = send_command(&zoe, "baton", "f.json", &no_teams);
        assert!(
            cmd.starts_with("baton send --to Codex --title x --body @f.json --from YOUR-AGENT --reply-to REPLY-AGENT"),
            "{cmd}"
        );
        assert!(
            cmd.contains("\"Zoë\" cannot be an agent name (ASCII letters") && cmd.contains("\"Über Bot\""),
            "{cmd}"
        );
        let fine = read(
            "f.json",
            b"{\"from\": \"Cursor MM1\", \"to\": \"Codex\", \"reply_to\": \"Build Bot\", \"title\": \"x\"}",
        )
        .unwrap();
        assert_eq!(
            send_command(&fine, "baton", "f", &no_teams),
            "baton send --to Codex --title x --body @f --from Cursor-MM1 --reply-to Build-Bot"
        );
    }

    #[test]
    fn markdown_triggers_are_tasks_titled_by_their_heading() {
        let md = "# HANDOFF: Review the sync\n\n**Source Agent:** Cursor MM1 Agent  \n**Target Agent:** Claude Code Agent\n**Created:** 2026-01-19T21:32:47Z\n\n---\n\n**From:** nobody\n";
        let s = read("review-sync-20260119.md", md.as_bytes()).unwrap();
        assert_eq!((s.kind, s.dialect, s.title.as_str()), (Kind::Task, Dialect::Markdown, "HANDOFF: Review the sync"));
        assert_eq!((s.from.as_deref(), s.to.as_deref()), (Some("Cursor MM1 Agent"), Some("Claude Code Agent")));
        assert_eq!(s.created_at.as_deref(), Some("2026-01-19T21:32:47Z"));
        let s = read("plain-20260113.md", b"no heading here").unwrap();
        assert_eq!((s.title.as_str(), s.created_at.as_deref()), ("plain", Some("2026-01-13T00:00:00Z")));
    }
}
