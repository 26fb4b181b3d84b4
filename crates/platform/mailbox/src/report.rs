//! Every configured mailbox read into one list of agents and their items, as `baton status`
//! (`agents[]`), the ledger and `baton show` see them. Reads only.
use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};
use time::OffsetDateTime;

pub use crate::model::{Agent, Item, Mailbox, Text};
use crate::settings::{Kind, MailboxSettings, Mailboxes};
use crate::{claude, folders};

/// Reads every configured mailbox. `home` resolves relative paths.
pub fn read_all(mailboxes: &Mailboxes, home: &Path) -> Vec<Mailbox> {
    read_all_indexed(mailboxes, home, None)
}

/// Reads every configured mailbox, keeping each one's index in `index_dir` (the folder of the
/// state; none: every file is read every time).
pub fn read_all_indexed(mailboxes: &Mailboxes, home: &Path, index_dir: Option<&Path>) -> Vec<Mailbox> {
    mailboxes.iter().map(|(name, s)| read_one_indexed(name, s, home, index_dir)).collect()
}

/// Reads one mailbox.
pub fn read_one(name: &str, s: &MailboxSettings, home: &Path) -> Mailbox {
    read_one_indexed(name, s, home, None)
}

/// Reads one mailbox, with its index in `index_dir` ([`crate::index`]; agent-mail archives).
pub fn read_one_indexed(name: &str, s: &MailboxSettings, home: &Path, index_dir: Option<&Path>) -> Mailbox {
    let path = s.resolved_path(home);
    let mut out = Mailbox {
        name: name.to_string(),
        kind: s.kind,
        path: path.clone(),
        zone: String::new(),
        agents: Vec::new(),
        teams: Vec::new(),
        error: None,
        note: None,
        not_read: Vec::new(),
        index: None,
    };
    let zone = match s.zone() {
        Ok(z) => z,
        Err(e) => {
            out.error = Some(e.to_string());
            return out;
        }
    };
    out.zone = zone.name().to_string();
    if !path.is_dir() {
        out.error = Some(format!("{} is not a folder (fix `path` in [mailboxes.{name}])", path.display()));
        return out;
    }
    match s.kind {
        Kind::ClaudeTeam => read_teams(&mut out, &claude::teams_folder(&path), &s.tasks_path(home)),
        Kind::Folders => {
            let agents = folders::scan(&path, s, &zone);
            out.not_read = crate::notread::folders(&path, s, &agents);
            for a in agents {
                out.agents.push(folder_agent(name, a));
            }
        }
        Kind::AgentMail => {
            let file = index_dir.map(|d| crate::index::file_in(d, name, &path));
            let (agents, not_read, counts) = crate::agentmail::read(name, &path, file.clone());
            out.agents = agents;
            out.not_read = not_read;
            out.index = file.map(|f| (f, counts));
        }
    }
    out
}

fn read_teams(out: &mut Mailbox, root: &Path, tasks_root: &Path) {
    let teams = claude::scan(root);
    out.not_read = crate::notread::claude(root, &teams);
    if teams.is_empty() {
        out.note = Some(format!(
            "{} holds no Claude Code team (a folder with inboxes/ or config.json); Claude Code keeps them in ~/.claude/teams",
            root.display()
        ));
    }
    for team in teams {
        let roster = match &team.roster {
            None => json!(null),
            Some(Ok(r)) => json!(r),
            Some(Err(e)) => json!({"error": e.to_string()}),
        };
        let members: Vec<claude::Member> =
            team.roster.as_ref().and_then(|r| r.as_ref().ok()).map(|r| r.members.clone()).unwrap_or_default();
        let list = crate::tasks::read(tasks_root, &team.name);
        out.teams.push(json!({"team": team.name, "path": team.path, "roster": roster,
            "implicit": team.name.starts_with("session-"),
            "inboxes": team.inboxes.iter().map(|i| i.name.clone()).collect::<Vec<_>>(),
            "members": seen_members(&members, &team.inboxes),
            "tasks": list.tasks.iter().map(crate::tasks::Task::to_json).collect::<Vec<_>>(),
            "counts": list.counts(),
            "unreadable": list.unreadable.iter().map(|(f, why)| json!({"file": f, "reason": why})).collect::<Vec<_>>()}));
        for inbox in team.inboxes {
            let member = members.iter().find(|m| m.name == inbox.name).cloned();
            out.agents.push(claude_agent(&out.name, inbox, member));
        }
    }
}

/// A team's members: its roster, and every agent seen in an inbox file's name or a message's
/// `from` (a teammate that shut down leaves the roster; its messages stay), by name.
fn seen_members(roster: &[claude::Member], inboxes: &[claude::Inbox]) -> Vec<Value> {
    let mut names: std::collections::BTreeMap<String, bool> = BTreeMap::new();
    for m in roster {
        names.insert(m.name.clone(), true);
    }
    for i in inboxes {
        names.entry(i.name.clone()).or_insert(false);
        for m in i.messages.iter().flatten() {
            // A sender of another team keeps its `TEAM/`: not a member of this one.
            if !m.from.contains('/') && !m.from.is_empty() {
                names.entry(m.from.clone()).or_insert(false);
            }
        }
    }
    names.into_iter().map(|(name, in_roster)| json!({"name": name, "in_roster": in_roster})).collect()
}

fn claude_agent(mailbox: &str, inbox: claude::Inbox, member: Option<claude::Member>) -> Agent {
    let agent = inbox.agent();
    let file = inbox.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mtime = std::fs::metadata(&inbox.path).and_then(|m| m.modified()).map(OffsetDateTime::from).ok();
    let (items, error) = match inbox.messages {
        Err(e) => (Vec::new(), Some(e.to_string())),
        Ok(msgs) => (
            msgs.into_iter()
                .map(|m| {
                    let (created_at, date_source) = match m.at {
                        Some(t) => (t, "body"),
                        None => (mtime.unwrap_or(OffsetDateTime::UNIX_EPOCH), "mtime"),
                    };
                    Item {
                        id: claude::message_id(&agent, &m.from, &m.timestamp, &m.text).into(),
                        file: file.clone(),
                        path: inbox.path.clone(),
                        state: if m.read { "read" } else { "unread" },
                        from: Some(m.from.into()),
                        to: Some(inbox.name.as_str().into()),
                        title: m.title.into(),
                        created_at,
                        date_source,
                        kind: m.kind,
                        part: None,
                        duplicate_of: None,
                        copy_of: None,
                        ack_required: false,
                        thread_id: None,
                        importance: None,
                        reason: None,
                        timestamp: Some(m.timestamp),
                        text: Some(m.text.into()),
                    }
                })
                .collect(),
            None,
        ),
    };
    Agent {
        agent,
        mailbox: mailbox.to_string(),
        kind: Kind::ClaudeTeam,
        path: inbox.path,
        items,
        error,
        member,
        skipped: inbox.skipped,
        not_messages: Vec::new(),
        profile: None,
        seen: None,
    }
}

fn folder_agent(mailbox: &str, a: folders::Agent) -> Agent {
    let items = a
        .items
        .into_iter()
        .map(|i| {
            let p = i.parsed.as_ref();
            Item {
                id: i.id.into(),
                path: a.path.join(&i.rel),
                file: i.file,
                state: i.state.as_str(),
                from: p
                    .and_then(|p| p.from.as_deref())
                    .or_else(|| (i.state == folders::State::Sent).then_some(a.name.as_str()))
                    .map(Text::from),
                to: p
                    .and_then(|p| p.to.as_deref())
                    .or_else(|| (i.state != folders::State::Sent).then_some(a.name.as_str()))
                    .map(Text::from),
                title: p.map_or("", |p| p.title.as_str()).into(),
                created_at: i.created_at,
                date_source: i.date_source.as_str(),
                kind: None,
                part: i.part,
                duplicate_of: i.duplicate_of,
                copy_of: i.copy_of,
                ack_required: false,
                thread_id: None,
                importance: None,
                reason: i.reason,
                timestamp: None,
                text: p.map(|p| p.text.as_str().into()),
            }
        })
        .collect();
    Agent {
        agent: a.name,
        mailbox: mailbox.to_string(),
        kind: Kind::Folders,
        path: a.path,
        items,
        error: None,
        member: None,
        skipped: 0,
        not_messages: a.skipped,
        profile: None,
        seen: None,
    }
}
/// The TASKs answered into a Claude Code inbox whose RETURN message is still unread past the
/// stale age: the answer was delivered, but the agent waiting on it has not looked, which
/// neither the TASK (completed) nor the inbox's counts say on their own. Each: `task`, the
/// RETURN's `status`, the `agent` and its `inbox`, the `message` id, `delivered_at` (the
/// message's time) and `age_secs`. Read from the inboxes as read now, so a message Claude Code
/// marked read or cleared is not listed.
pub fn unread_returns(boxes: &[Mailbox], stale_after: std::time::Duration) -> Vec<Value> {
    let now = time::OffsetDateTime::now_utc();
    let mut out = Vec::new();
    for a in boxes.iter().flat_map(|m| &m.agents).filter(|a| a.kind == Kind::ClaudeTeam) {
        for i in a.items.iter().filter(|i| i.state == "unread" && i.is_stale(now, stale_after)) {
            let Some(ret) = i.text.as_deref().and_then(|t| serde_json::from_str::<Value>(t).ok()) else { continue };
            let (Some("return"), Some(task)) = (ret["kind"].as_str(), ret["in_reply_to"].as_str()) else { continue };
            out.push(json!({
                "task": task, "status": ret["status"], "agent": a.agent, "inbox": i.path, "message": i.id,
                "delivered_at": crate::when::rfc3339(i.created_at),
                "age_secs": (now - i.created_at).whole_seconds(),
            }));
        }
    }
    out
}
