//! Claude Code agent teams, read. A team is `<root>/<team>/` with an optional `config.json`
//! (the roster: lead, members, models, working folders) and `inboxes/<agent>.json`, one JSON
//! array per agent of `{from, text, summary?, timestamp, color?, read}`. Protocol messages
//! (`idle_notification`, `shutdown_request`, `task_assignment`, …) are JSON encoded a second
//! time inside `text`; they are decoded here and shown by their `type`, never as raw JSON.
//!
//! The parsers are pure functions of bytes ([`parse_inbox`], [`parse_roster`]); [`scan`] lists
//! the folders and reads the files, and never writes, renames or touches anything.
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::when;
use crate::zone::Zone;

/// One message of an inbox, read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    pub from: String,
    /// The body as written (for a protocol message, its JSON text).
    pub text: String,
    pub summary: Option<String>,
    /// `timestamp` exactly as written (it is part of the message's identity).
    pub timestamp: String,
    /// `timestamp` read as a time (`None`: not a timestamp).
    #[serde(skip)]
    pub at: Option<OffsetDateTime>,
    pub read: bool,
    /// A protocol message's `type` (`idle_notification`, …); `None` for a plain message.
    pub kind: Option<String>,
    /// What a person sees first: `summary`, else the protocol kind with its gist, else the
    /// first line of `text`.
    pub title: String,
}

/// What an inbox file is that is not an inbox.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InboxError {
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error(
        "not a JSON array of messages (a Claude Code inbox is `[{{\"from\", \"text\", \"timestamp\", \"read\"}}, …]`)"
    )]
    NotArray,
    /// The file could not be read (the I/O error's words: `io::Error` is not `Clone`).
    #[error("cannot read: {0}")]
    Unreadable(String),
}

/// An inbox's bytes as its messages, in file order. An entry that is not a message (no `from`
/// or no `text`) is skipped and counted in the second value, as Claude Code drops such entries
/// itself when it reads.
pub fn parse_inbox(bytes: &[u8]) -> Result<(Vec<Message>, usize), InboxError> {
    let text = std::str::from_utf8(bytes).map_err(|e| InboxError::NotJson(e.to_string()))?;
    if text.trim().is_empty() {
        return Ok((Vec::new(), 0));
    }
    let v: Value = serde_json::from_str(text).map_err(|e| InboxError::NotJson(e.to_string()))?;
    let Value::Array(items) = v else { return Err(InboxError::NotArray) };
    let mut out = Vec::with_capacity(items.len());
    let mut skipped = 0;
    for item in items {
        match item.as_object().and_then(message) {
            Some(m) => out.push(m),
            None => skipped += 1,
        }
    }
    Ok((out, skipped))
}

fn message(o: &Map<String, Value>) -> Option<Message> {
    let from = o.get("from")?.as_str()?.to_string();
    let text = o.get("text")?.as_str()?.to_string();
    let summary = o.get("summary").and_then(Value::as_str).filter(|s| !s.trim().is_empty()).map(str::to_string);
    let (timestamp, at) = match o.get("timestamp") {
        Some(Value::String(s)) => (s.clone(), when::parse_text(s, &Zone::utc())),
        Some(Value::Number(n)) => (n.to_string(), n.as_f64().and_then(when::from_epoch)),
        _ => (String::new(), None),
    };
    let read = o.get("read").and_then(Value::as_bool).unwrap_or(false);
    let protocol = protocol(&text);
    let kind = protocol.as_ref().map(|(k, _)| k.clone());
    let title = match (&summary, &protocol) {
        (Some(s), _) => first_line(s),
        (None, Some((k, gist))) => gist.as_ref().map_or_else(|| k.clone(), |g| format!("{k}: {g}")),
        (None, None) => first_line(&text),
    };
    Some(Message { from, text, summary, timestamp, at, read, kind, title })
}

/// A protocol message: `text` that is itself a JSON object with a string `type`. Returns the
/// type and a short gist (its `reason`, `subject`, `content` or `idleReason`) when it has one.
pub fn protocol(text: &str) -> Option<(String, Option<String>)> {
    let t = text.trim_start();
    if !t.starts_with('{') {
        return None;
    }
    let v: Value = serde_json::from_str(t).ok()?;
    let kind = v.get("type")?.as_str()?.to_string();
    let gist = ["subject", "reason", "content", "idleReason", "message", "summary"]
        .iter()
        .find_map(|k| v.get(*k).and_then(Value::as_str))
        .map(first_line)
        .filter(|s| !s.is_empty());
    Some((kind, gist))
}

/// The first non-empty line, trimmed, at most 200 characters.
fn first_line(s: &str) -> String {
    let line = s.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    let mut out: String = line.chars().take(200).collect();
    if line.chars().count() > 200 {
        out.push('…');
    }
    out
}

/// A message's id: the same for the same message wherever it is read (the agent it is for,
/// its sender, its timestamp and its text), so the ledger records it once and a delivery
/// knows its message again. `cm-` and 20 hex digits.
pub fn message_id(agent: &str, from: &str, timestamp: &str, text: &str) -> String {
    let mut h = Sha256::new();
    for part in [agent, from, timestamp, text] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    format!("cm-{}", hex::encode(&h.finalize()[..10]))
}

/// One member of a team's roster (`config.json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Member {
    pub name: String,
    pub agent_type: Option<String>,
    pub model: Option<String>,
    pub cwd: Option<String>,
    pub lead: bool,
}

/// A team's `config.json`, read.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Roster {
    pub name: Option<String>,
    pub description: Option<String>,
    pub lead: Option<String>,
    pub members: Vec<Member>,
    /// `leadSessionId`: the lead's Claude Code session, whose transcript is `<session>.jsonl`.
    #[serde(skip)]
    pub lead_session: Option<String>,
}

/// A team's `config.json` as its roster. Keys are read in both spellings seen in the wild
/// (`leadAgentId` and `lead_agent_id`, `agentType` and `agent_type`).
pub fn parse_roster(bytes: &[u8]) -> Result<Roster, InboxError> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| InboxError::NotJson(e.to_string()))?;
    let Some(o) = v.as_object() else { return Err(InboxError::NotJson("not a JSON object".into())) };
    let s = |o: &Map<String, Value>, keys: &[&str]| keys.iter().find_map(|k| o.get(*k)?.as_str().map(str::to_string));
    let lead_id = s(o, &["leadAgentId", "lead_agent_id"]);
    let lead = lead_id.as_deref().map(|l| l.split('@').next().unwrap_or(l).to_string());
    let members = o
        .get("members")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .filter_map(|m| {
            let name = s(m, &["name"])?;
            let id = s(m, &["agentId", "agent_id"]);
            let is_lead = lead_id.is_some() && (id == lead_id || lead.as_deref() == Some(name.as_str()));
            Some(Member {
                agent_type: s(m, &["agentType", "agent_type"]),
                model: s(m, &["model"]),
                cwd: s(m, &["cwd"]),
                lead: is_lead,
                name,
            })
        })
        .collect();
    Ok(Roster {
        name: s(o, &["name"]),
        description: s(o, &["description"]),
        lead,
        members,
        lead_session: s(o, &["leadSessionId", "lead_session_id"]),
    })
}

/// One agent's inbox, read from disk.
#[derive(Debug, Clone)]
pub struct Inbox {
    pub team: String,
    /// The inbox file's stem (the agent's name in its team).
    pub name: String,
    pub path: PathBuf,
    pub messages: Result<Vec<Message>, InboxError>,
    /// Entries that were not messages.
    pub skipped: usize,
}

impl Inbox {
    /// `"<team>/<agent>"`, the agent as `status` names it.
    pub fn agent(&self) -> String {
        format!("{}/{}", self.team, self.name)
    }
}

/// One team folder, read.
#[derive(Debug, Clone)]
pub struct Team {
    pub name: String,
    pub path: PathBuf,
    /// `None`: no `config.json` (the roster is unknown); `Some(Err)`: one that does not read.
    pub roster: Option<Result<Roster, InboxError>>,
    pub inboxes: Vec<Inbox>,
}

/// Inbox files larger than this are listed as unreadable, not read.
pub const MAX_INBOX_BYTES: u64 = 64 << 20;

/// Every team under `root` (folders holding `inboxes/` or `config.json`), sorted by name.
/// Reads only: nothing is opened for writing.
pub fn scan(root: &Path) -> Vec<Team> {
    let mut teams = Vec::new();
    let Ok(entries) = std::fs::read_dir(root) else { return teams };
    for e in entries.flatten() {
        let Some(name) = e.file_name().to_str().map(str::to_string) else { continue };
        if name.starts_with('.') || !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let path = e.path();
        let config = path.join("config.json");
        if !path.join("inboxes").is_dir() && !config.is_file() {
            continue;
        }
        let roster = config.is_file().then(|| {
            read_capped(&config, 4 << 20)
                .map_err(|e| InboxError::Unreadable(e.to_string()))
                .and_then(|b| parse_roster(&b))
        });
        teams.push(Team { inboxes: inboxes(&name, &path.join("inboxes")), name, path, roster });
    }
    teams.sort_by(|a, b| a.name.cmp(&b.name));
    teams
}

/// A claude-team `path` of `~/.claude` (the folder holding `teams/`) is taken as its `teams/`.
pub fn teams_folder(path: &Path) -> PathBuf {
    let inner = path.join("teams");
    if scan(path).is_empty() && inner.is_dir() { inner } else { path.to_path_buf() }
}

/// The inboxes of one team (`*.json`; the lock folders and temp files Claude Code leaves
/// beside them are not inboxes).
pub fn inboxes(team: &str, dir: &Path) -> Vec<Inbox> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for e in entries.flatten() {
        let Some(file) = e.file_name().to_str().map(str::to_string) else { continue };
        let Some(stem) = file.strip_suffix(".json") else { continue };
        if stem.is_empty() || file.starts_with('.') || !e.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        out.push(read_inbox(team, stem, &e.path()));
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// One inbox file, read.
pub fn read_inbox(team: &str, name: &str, path: &Path) -> Inbox {
    let (messages, skipped) = match read_capped(path, MAX_INBOX_BYTES) {
        Err(e) => (Err(InboxError::Unreadable(e.to_string())), 0),
        Ok(b) => match parse_inbox(&b) {
            Ok((m, s)) => (Ok(m), s),
            Err(e) => (Err(e), 0),
        },
    };
    Inbox { team: team.to_string(), name: name.to_string(), path: path.to_path_buf(), messages, skipped }
}

/// The member names of a team's `config.json`; empty when there is none or it does not read.
pub fn roster_names(config: &Path) -> Vec<String> {
    read_capped(config, 4 << 20)
        .ok()
        .and_then(|b| parse_roster(&b).ok())
        .map(|r| r.members.into_iter().map(|m| m.name).collect())
        .unwrap_or_default()
}

/// Reads a file up to `cap` bytes; a larger one is an error naming the cap.
pub(crate) fn read_capped(path: &Path, cap: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let f = std::fs::File::open(path)?;
    let mut out = Vec::new();
    f.take(cap + 1).read_to_end(&mut out)?;
    if out.len() as u64 > cap {
        return Err(std::io::Error::other(format!("over {cap} bytes")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INBOX: &str = r#"[
      {"from": "team-lead", "text": "Please review the auth module.\nDetails follow.", "summary": "Review auth", "timestamp": "2026-02-22T16:20:01.123Z", "color": "blue", "read": true},
      {"from": "backend-eng", "text": "{\"type\":\"idle_notification\",\"from\":\"backend-eng\",\"timestamp\":\"2026-02-22T16:25:22.959Z\",\"idleReason\":\"available\"}", "timestamp": "2026-02-22T16:25:22.959Z", "color": "orange", "read": false},
      {"from": "team-lead", "text": "{\"type\":\"shutdown_request\",\"requestId\":\"shutdown-1\",\"reason\":\"All tasks done\"}", "timestamp": "2026-02-22T17:00:00.000Z", "read": false},
      {"from": "team-lead", "text": "{\"type\":\"task_assignment\",\"taskId\":\"3\",\"subject\":\"Write the migration\",\"assignedBy\":\"team-lead\"}", "timestamp": "2026-02-22T17:01:00.000Z", "read": false},
      {"from": "qa", "text": "  \n  no summary here\nsecond line", "timestamp": 1771780000000, "read": true},
      {"text": "no sender"},
      42
    ]"#;

    #[test]
    fn an_inbox_reads_as_its_messages() {
        let (m, skipped) = parse_inbox(INBOX.as_bytes()).unwrap();
        assert_eq!(m.len(), 5);
        assert_eq!(skipped, 2);
        assert_eq!(m[0].title, "Review auth");
        assert!(m[0].read);
        assert_eq!(m[0].kind, None);
        assert_eq!(m[0].at.map(|t| t.unix_timestamp()), Some(1_771_777_201));
        assert_eq!(m[1].kind.as_deref(), Some("idle_notification"));
        assert_eq!(m[1].title, "idle_notification: available");
        assert!(!m[1].read);
        assert_eq!(m[2].title, "shutdown_request: All tasks done");
        assert_eq!(m[3].title, "task_assignment: Write the migration");
        assert_eq!(m[4].title, "no summary here");
        assert_eq!(m[4].timestamp, "1771780000000");
        assert_eq!(m[4].at.map(|t| t.unix_timestamp()), Some(1_771_780_000));
        for msg in &m {
            assert!(!msg.title.starts_with('{'), "raw JSON as a title: {}", msg.title);
        }
    }

    #[test]
    fn what_is_not_an_inbox_says_so() {
        assert_eq!(parse_inbox(b"{\"from\": \"a\"}"), Err(InboxError::NotArray));
        assert!(matches!(parse_inbox(b"[{"), Err(InboxError::NotJson(_))));
        assert!(matches!(parse_inbox(&[0xff, 0xfe]), Err(InboxError::NotJson(_))));
        assert_eq!(parse_inbox(b""), Ok((Vec::new(), 0)));
        assert_eq!(parse_inbox(b"[]"), Ok((Vec::new(), 0)));
    }

    #[test]
    fn a_text_that_looks_like_json_but_has_no_type_is_plain() {
        assert_eq!(protocol("{\"a\": 1}"), None);
        assert_eq!(protocol("{not json"), None);
        assert_eq!(protocol("{\"type\": \"plan_approval_request\"}"), Some(("plan_approval_request".into(), None)));
    }

    #[test]
    fn ids_are_stable_and_tell_messages_apart() {
        let a = message_id("t/a", "lead", "2026-02-22T16:20:01.123Z", "hi");
        assert_eq!(a, message_id("t/a", "lead", "2026-02-22T16:20:01.123Z", "hi"));
        assert_ne!(a, message_id("t/a", "lead", "2026-02-22T16:20:01.124Z", "hi"));
        assert_ne!(a, message_id("t/b", "lead", "2026-02-22T16:20:01.123Z", "hi"));
        assert!(a.starts_with("cm-") && a.len() == 23);
    }

    #[test]
    fn rosters_in_both_spellings() {
        let camel = br#"{"name": "t", "leadAgentId": "team-lead@t", "members": [
            {"agentId": "team-lead@t", "name": "team-lead", "agentType": "team-lead", "model": "opus", "cwd": "/src"},
            {"agentId": "qa@t", "name": "qa", "agentType": "general-purpose", "model": "haiku", "cwd": "/src/qa"}]}"#;
        let r = parse_roster(camel).unwrap();
        assert_eq!(r.lead.as_deref(), Some("team-lead"));
        assert_eq!(r.members.len(), 2);
        assert!(r.members[0].lead && !r.members[1].lead);
        assert_eq!(r.members[1].model.as_deref(), Some("haiku"));
        let snake = br#"{"name": "t", "lead_agent_id": "lead@t", "members": [{"agent_id": "lead@t", "name": "lead", "agent_type": "lead", "cwd": "/x"}]}"#;
        let r = parse_roster(snake).unwrap();
        assert!(r.members[0].lead);
        assert_eq!(r.members[0].cwd.as_deref(), Some("/x"));
        assert!(parse_roster(b"[]").is_err());
    }

    #[test]
    fn a_team_without_a_config_is_read_with_an_unknown_roster() {
        let d = tempfile::tempdir().unwrap();
        let inboxes = d.path().join("solo").join("inboxes");
        std::fs::create_dir_all(&inboxes).unwrap();
        std::fs::write(inboxes.join("worker.json"), INBOX).unwrap();
        std::fs::create_dir(inboxes.join("worker.json.lock")).unwrap();
        std::fs::write(inboxes.join("broken.json"), "{").unwrap();
        std::fs::create_dir_all(d.path().join("not-a-team")).unwrap();
        let teams = scan(d.path());
        assert_eq!(teams.len(), 1);
        assert!(teams[0].roster.is_none());
        assert_eq!(teams[0].inboxes.len(), 2);
        assert_eq!(teams[0].inboxes[1].agent(), "solo/worker");
        assert_eq!(teams[0].inboxes[1].messages.as_ref().unwrap().len(), 5);
        assert!(teams[0].inboxes[0].messages.as_ref().unwrap_err().to_string().starts_with("not JSON"));
    }
}
