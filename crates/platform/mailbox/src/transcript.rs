//! Claude Code transcripts, read for receipts: what a model actually received.
//!
//! Claude Code sets an inbox message's `read` flag when it *queues* the message for the
//! recipient's next idle turn, before the model sees it. What the model received is a line of
//! the recipient's transcript: a `type: "user"` line whose content holds
//! `<teammate-message teammate_id="SENDER" …>TEXT</teammate-message>` (several may come batched
//! in one line). The model's own `assistant` lines sometimes contain a made-up
//! `Human: <teammate-message …>`: those are never deliveries, so only `user` lines count.
//!
//! Where a transcript is (`~/.claude/projects/<a folder per working directory>/…`), found by
//! session, never by working directory alone (a session keeps its folder when its cwd changes):
//! - a team's lead: `<session>.jsonl`, the session being `leadSessionId` in the team's
//!   `config.json`, or for an implicit team `session-<first 8 hex of the session id>`, the one
//!   session whose id starts with those 8 hex digits;
//! - an in-process teammate: `<session>/subagents/agent-<id>.jsonl`, beside
//!   `agent-<id>.meta.json` naming it (`name`, `teamName`).
//!
//! Transcripts grow to tens of MB: [`Cursor`] reads only the lines appended since the last look.
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use crate::when;
use crate::zone::Zone;

/// One `<teammate-message>` a transcript's `user` line holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    /// `teammate_id`: the sender as the recipient's team names it.
    pub teammate: String,
    /// The message's text, trimmed (Claude Code wraps it in newlines).
    pub text: String,
    /// The line's `timestamp` as written, and read.
    pub timestamp: String,
    pub at: Option<OffsetDateTime>,
}

/// The messages a transcript line shows the model received: none unless it is a `user` line.
pub fn received_in_line(line: &str) -> Vec<Received> {
    // Cheap test first: most lines hold no teammate message.
    if !line.contains("teammate-message") {
        return Vec::new();
    }
    let Ok(v) = serde_json::from_str::<Value>(line) else { return Vec::new() };
    if v.get("type").and_then(Value::as_str) != Some("user") {
        return Vec::new();
    }
    let timestamp = v.get("timestamp").and_then(Value::as_str).unwrap_or_default().to_string();
    let at = when::parse_text(&timestamp, &Zone::utc());
    let mut out = Vec::new();
    for text in content_texts(v.get("message").and_then(|m| m.get("content"))) {
        for (teammate, body) in teammate_messages(text) {
            out.push(Received { teammate, text: body, timestamp: timestamp.clone(), at });
        }
    }
    out
}

/// A message's content as its text parts: a string, or an array of `{type: "text", text}`.
fn content_texts(content: Option<&Value>) -> Vec<&str> {
    match content {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(parts)) => parts
            .iter()
            .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        _ => Vec::new(),
    }
}

/// Every `<teammate-message teammate_id="…" …>TEXT</teammate-message>` in `text`, in order.
fn teammate_messages(text: &str) -> Vec<(String, String)> {
    const OPEN: &str = "<teammate-message";
    const CLOSE: &str = "</teammate-message>";
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(OPEN) {
        let after = &rest[start + OPEN.len()..];
        // `<teammate-message` followed by a space: not `<teammate-messages>` or another tag.
        if !after.starts_with(char::is_whitespace) {
            rest = after;
            continue;
        }
        let Some(tag_end) = after.find('>') else { break };
        let attrs = &after[..tag_end];
        let body = &after[tag_end + 1..];
        let Some(close) = body.find(CLOSE) else { break };
        if let Some(id) = attribute(attrs, "teammate_id") {
            out.push((id, body[..close].trim().to_string()));
        }
        rest = &body[close + CLOSE.len()..];
    }
    out
}

/// The value of `name="…"` among a tag's attributes.
fn attribute(attrs: &str, name: &str) -> Option<String> {
    let key = format!("{name}=\"");
    let at = attrs.find(&key)? + key.len();
    let end = attrs[at..].find('"')?;
    Some(attrs[at..at + end].to_string())
}

/// Where `TEAM/AGENT`'s transcript is under `projects`, if it can be told: by its teammate
/// sidecar (`agent-<id>.meta.json` with that `name` and `teamName`), else, for the lead, by the
/// lead's session (`lead_session`, or the 8 hex digits of an implicit `session-…` team).
pub fn locate(projects: &Path, team: &str, agent: &str, lead_session: Option<&str>) -> Option<PathBuf> {
    let folders: Vec<PathBuf> = dirs(projects).collect();
    for folder in &folders {
        for session in dirs(folder) {
            let subagents = session.join("subagents");
            let Ok(entries) = std::fs::read_dir(&subagents) else { continue };
            for e in entries.flatten() {
                let name = e.file_name();
                let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".meta.json")) else { continue };
                let Ok(bytes) = std::fs::read(e.path()) else { continue };
                let Ok(meta) = serde_json::from_slice::<Value>(&bytes) else { continue };
                let s = |k: &str| meta.get(k).and_then(Value::as_str);
                if s("name") == Some(agent) && s("teamName") == Some(team) {
                    let transcript = subagents.join(format!("{stem}.jsonl"));
                    if transcript.is_file() {
                        return Some(transcript);
                    }
                }
            }
        }
    }
    let implicit = team.strip_prefix("session-").filter(|h| h.len() == 8 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    for folder in &folders {
        let Ok(entries) = std::fs::read_dir(folder) else { continue };
        for e in entries.flatten() {
            let name = e.file_name();
            let Some(session) = name.to_str().and_then(|n| n.strip_suffix(".jsonl")) else { continue };
            let ours = match (lead_session, implicit) {
                (Some(lead), _) => session == lead,
                (None, Some(hex)) => session.starts_with(hex),
                (None, None) => false,
            };
            if ours {
                return Some(e.path());
            }
        }
    }
    None
}

fn dirs(path: &Path) -> impl Iterator<Item = PathBuf> {
    std::fs::read_dir(path)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()) && !e.file_name().as_encoded_bytes().starts_with(b"."))
        .map(|e| e.path())
}

/// How far a transcript has been read: the next byte to read, and the newest line time seen
/// (what tells a transcript that moved on without a message from one that went quiet).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    pub offset: u64,
    /// The `timestamp` of the last line read that had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_line_at: Option<String>,
}

/// At most this much is read per look; the rest waits for the next.
const MAX_READ: u64 = 64 << 20;

impl Cursor {
    /// A cursor at the transcript's end now: only what is written from here on is read.
    pub fn at_end(path: &Path) -> Cursor {
        Cursor { offset: std::fs::metadata(path).map_or(0, |m| m.len()), last_line_at: None }
    }

    /// The messages in the whole lines appended since the last look; the cursor moves past
    /// them (a line still being written waits for the next look). A transcript shorter than the
    /// cursor was replaced: it is read again from its start.
    pub fn read_new(&mut self, path: &Path) -> std::io::Result<Vec<Received>> {
        let mut f = std::fs::File::open(path)?;
        let len = f.metadata()?.len();
        if len < self.offset {
            self.offset = 0;
        }
        if len == self.offset {
            return Ok(Vec::new());
        }
        f.seek(SeekFrom::Start(self.offset))?;
        let mut buf = Vec::with_capacity((len - self.offset).min(MAX_READ) as usize);
        f.take(MAX_READ).read_to_end(&mut buf)?;
        let Some(last_newline) = buf.iter().rposition(|&b| b == b'\n') else { return Ok(Vec::new()) };
        let whole = &buf[..=last_newline];
        let mut out = Vec::new();
        for line in whole.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let Ok(line) = std::str::from_utf8(line) else { continue };
            if let Some(t) = line_timestamp(line) {
                self.last_line_at = Some(t);
            }
            out.extend(received_in_line(line));
        }
        self.offset += whole.len() as u64;
        Ok(out)
    }
}

/// A line's top-level `timestamp`, found without parsing the whole line (it is near the end of
/// a long line; a nested one inside a message's text may match first, which only makes the
/// time a little off).
fn line_timestamp(line: &str) -> Option<String> {
    const KEY: &str = "\"timestamp\":\"";
    let at = line.rfind(KEY)? + KEY.len();
    let end = line[at..].find('"')?;
    Some(line[at..at + end].to_string())
}

/// Whether `r` is the delivery of a message from `from` (as written in the inbox) with `text`,
/// made at `delivered`: the same sender and text, in a line written at or after the delivery.
pub fn is_delivery(r: &Received, from: &str, text: &str, delivered: Option<OffsetDateTime>) -> bool {
    let after = match (r.at, delivered) {
        (Some(line), Some(d)) => line >= d,
        // A line or a delivery without a time: the text alone decides.
        _ => true,
    };
    after && r.teammate == from && r.text == text.trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(ts: &str, content: Value) -> String {
        serde_json::json!({"type": "user", "timestamp": ts, "sessionId": "s1",
                           "message": {"role": "user", "content": content}})
        .to_string()
    }

    #[test]
    fn user_lines_hold_deliveries_batched_or_alone_and_assistant_lines_never() {
        let batched = user(
            "2026-11-28T10:00:05.000Z",
            Value::String(
                "<teammate-message teammate_id=\"team-lead\" color=\"blue\" summary=\"s\">\nfirst\n</teammate-message>\n\
                 <teammate-message teammate_id=\"worker\">second</teammate-message>"
                    .into(),
            ),
        );
        let got = received_in_line(&batched);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!((got[0].teammate.as_str(), got[0].text.as_str()), ("team-lead", "first"));
        assert_eq!((got[1].teammate.as_str(), got[1].text.as_str()), ("worker", "second"));
        assert!(got[0].at.is_some());
        // Content as an array of text parts.
        let parts = user(
            "2026-11-28T10:00:06.000Z",
            serde_json::json!([{"type": "text", "text": "<teammate-message teammate_id=\"a\">x</teammate-message>"}]),
        );
        assert_eq!(received_in_line(&parts).len(), 1);
        // The model's own words quoting a message are no delivery.
        let phantom = serde_json::json!({"type": "assistant", "timestamp": "2026-11-28T10:00:07.000Z",
            "message": {"role": "assistant", "content": [{"type": "text",
            "text": "Human: <teammate-message teammate_id=\"team-lead\">first</teammate-message>"}]}})
        .to_string();
        assert!(received_in_line(&phantom).is_empty());
        // A typed prompt, or a tag that is not one.
        assert!(received_in_line(&user("t", Value::String("hello".into()))).is_empty());
        assert!(
            received_in_line(&user("t", Value::String("<teammate-messages>x</teammate-messages>".into()))).is_empty()
        );
    }

    #[test]
    fn a_cursor_reads_only_whole_lines_appended_since_the_last_look() {
        use std::io::Write;
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("s.jsonl");
        let old = user(
            "2026-11-28T09:00:00.000Z",
            Value::String("<teammate-message teammate_id=\"a\">old</teammate-message>".into()),
        );
        std::fs::write(&path, format!("{old}\n")).unwrap();
        let mut c = Cursor::at_end(&path);
        assert!(c.read_new(&path).unwrap().is_empty(), "what was there before is not read");
        let new = user(
            "2026-11-28T10:00:00.000Z",
            Value::String("<teammate-message teammate_id=\"a\">new</teammate-message>".into()),
        );
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        // Half a line: not read until it is whole.
        f.write_all(&new.as_bytes()[..20]).unwrap();
        assert!(c.read_new(&path).unwrap().is_empty());
        f.write_all(&new.as_bytes()[20..]).unwrap();
        f.write_all(b"\n").unwrap();
        let got = c.read_new(&path).unwrap();
        assert_eq!(got.iter().map(|r| r.text.as_str()).collect::<Vec<_>>(), ["new"]);
        assert_eq!(c.last_line_at.as_deref(), Some("2026-11-28T10:00:00.000Z"));
        assert!(c.read_new(&path).unwrap().is_empty(), "read once");
        let delivered = when::parse_text("2026-11-28T09:30:00.000Z", &Zone::utc());
        assert!(is_delivery(&got[0], "a", "new\n", delivered));
        assert!(!is_delivery(&got[0], "b", "new", delivered), "another sender");
        let later = when::parse_text("2026-11-28T10:30:00.000Z", &Zone::utc());
        assert!(!is_delivery(&got[0], "a", "new", later), "a line older than the delivery");
    }

    #[test]
    fn transcripts_are_found_by_session_and_sidecar_never_by_folder_alone() {
        let d = tempfile::tempdir().unwrap();
        let projects = d.path();
        // The lead's session kept its first folder when its cwd changed.
        let a = projects.join("-home-u-repo-a");
        let sub = a.join("4f2c9a1e-0000-4000-8000-000000000001").join("subagents");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(a.join("4f2c9a1e-0000-4000-8000-000000000001.jsonl"), "").unwrap();
        std::fs::write(sub.join("agent-a1b2.jsonl"), "").unwrap();
        std::fs::write(
            sub.join("agent-a1b2.meta.json"),
            r#"{"agentType": "worker", "name": "worker", "teamName": "alpha", "taskKind": "in_process_teammate"}"#,
        )
        .unwrap();
        std::fs::create_dir_all(projects.join("-home-u-repo-b")).unwrap();
        assert_eq!(locate(projects, "alpha", "worker", None), Some(sub.join("agent-a1b2.jsonl")));
        assert_eq!(locate(projects, "beta", "worker", None), None, "another team's worker");
        let lead = a.join("4f2c9a1e-0000-4000-8000-000000000001.jsonl");
        assert_eq!(
            locate(projects, "alpha", "team-lead", Some("4f2c9a1e-0000-4000-8000-000000000001")),
            Some(lead.clone())
        );
        assert_eq!(locate(projects, "session-4f2c9a1e", "team-lead", None), Some(lead));
        assert_eq!(locate(projects, "alpha", "team-lead", None), None, "no session known: not guessed");
    }
}
