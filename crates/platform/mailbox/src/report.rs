//! Every configured mailbox read into one list of agents and their items, as `baton status`
//! (`agents[]`), the ledger and `baton show` see them. Reads only.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::settings::{Kind, MailboxSettings, Mailboxes};
use crate::{claude, folders, when};

/// One message (or unreadable file) as status lists it.
#[derive(Debug, Clone)]
pub struct Item {
    pub id: String,
    /// The file's name.
    pub file: String,
    pub path: PathBuf,
    /// `unread`, `read` (Claude inboxes), `open`, `done`, `sent` (folders), `unreadable`.
    pub state: &'static str,
    pub from: Option<String>,
    pub to: Option<String>,
    pub title: String,
    pub created_at: OffsetDateTime,
    /// `body`, `file_name` or `mtime` (folders); a Claude message's is its `timestamp`.
    pub date_source: &'static str,
    /// A Claude protocol message's type.
    pub kind: Option<String>,
    pub part: Option<usize>,
    /// The file with the same bytes this one repeats (not counted).
    pub duplicate_of: Option<String>,
    /// The message this one is a copy of, below the mailbox's folder (not counted).
    pub copy_of: Option<String>,
    /// An mcp_agent_mail message asking to be acknowledged, not acknowledged yet.
    pub ack_required: bool,
    /// An mcp_agent_mail message's thread and importance.
    pub thread_id: Option<String>,
    pub importance: Option<String>,
    pub reason: Option<String>,
    /// A Claude message's `timestamp` as written and its text (kept in the ledger).
    pub timestamp: Option<String>,
    pub text: Option<String>,
}

/// One mailbox agent.
#[derive(Debug, Clone)]
pub struct Agent {
    /// `team/agent` for a Claude inbox, the folder's name for a folder mailbox.
    pub agent: String,
    pub mailbox: String,
    pub kind: Kind,
    /// The inbox file or the agent's folder.
    pub path: PathBuf,
    pub items: Vec<Item>,
    /// Why the whole inbox could not be read.
    pub error: Option<String>,
    /// Its roster entry (Claude teams with a `config.json`).
    pub member: Option<claude::Member>,
    /// Entries of the inbox that were not messages.
    pub skipped: usize,
    /// Files of the agent's folders that hold no message, with the reason (`skipped[]`).
    pub not_messages: Vec<crate::skip::Skipped>,
    /// An mcp_agent_mail agent's `profile.json` (program, model, task).
    pub profile: Option<Value>,
}

/// One mailbox, read.
#[derive(Debug, Clone)]
pub struct Mailbox {
    pub name: String,
    pub kind: Kind,
    pub path: PathBuf,
    pub zone: String,
    pub agents: Vec<Agent>,
    /// Claude teams and their rosters.
    pub teams: Vec<Value>,
    /// Why the mailbox could not be read at all (a missing folder, a bad zone).
    pub error: Option<String>,
    /// What is worth saying of a mailbox read without error (a claude-team path with no team).
    pub note: Option<String>,
    /// Every file and folder under the mailbox's path that was not read, with the reason.
    pub not_read: Vec<crate::notread::NotRead>,
    /// An indexed reading (agent-mail): the index file and what was read again or kept.
    pub index: Option<(PathBuf, crate::index::Counts)>,
}

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
                        id: claude::message_id(&agent, &m.from, &m.timestamp, &m.text),
                        file: file.clone(),
                        path: inbox.path.clone(),
                        state: if m.read { "read" } else { "unread" },
                        from: Some(m.from),
                        to: Some(inbox.name.clone()),
                        title: m.title,
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
                        text: Some(m.text),
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
    }
}

fn folder_agent(mailbox: &str, a: folders::Agent) -> Agent {
    let items = a
        .items
        .into_iter()
        .map(|i| {
            let p = i.parsed.as_ref();
            Item {
                id: i.id,
                path: a.path.join(&i.rel),
                file: i.file,
                state: i.state.as_str(),
                from: p
                    .and_then(|p| p.from.clone())
                    .or_else(|| (i.state == folders::State::Sent).then(|| a.name.clone())),
                to: p.and_then(|p| p.to.clone()).or_else(|| (i.state != folders::State::Sent).then(|| a.name.clone())),
                title: p.map(|p| p.title.clone()).unwrap_or_default(),
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
                text: p.map(|p| p.text.clone()),
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
    }
}

/// The state lists every mailbox agent has in `status --json`.
pub const LISTS: [&str; 7] = ["unread", "read", "open", "done", "sent", "stale", "unreadable"];

impl Item {
    /// A repeat of another item (`duplicate_of`, `copy_of`): listed, never counted.
    pub fn is_copy(&self) -> bool {
        self.duplicate_of.is_some() || self.copy_of.is_some()
    }

    /// Unread or open past `stale_after` (a copy is never stale: its message may be).
    pub fn is_stale(&self, now: OffsetDateTime, stale_after: Duration) -> bool {
        matches!(self.state, "unread" | "open")
            && !self.is_copy()
            && (now - self.created_at).whole_seconds() > stale_after.as_secs() as i64
    }

    /// The item as `status --json` lists it.
    pub fn to_json(&self, now: OffsetDateTime, stale_after: Duration) -> Value {
        let age = (now - self.created_at).whole_seconds();
        let mut v = json!({
            "id": self.id, "file": self.file, "path": self.path, "state": self.state,
            "from": self.from, "to": self.to, "title": self.title,
            "created_at": when::rfc3339(self.created_at), "date_source": self.date_source,
            "age_secs": age, "stale": self.is_stale(now, stale_after),
        });
        for (k, val) in [
            ("kind", &self.kind),
            ("duplicate_of", &self.duplicate_of),
            ("copy_of", &self.copy_of),
            ("thread_id", &self.thread_id),
            ("importance", &self.importance),
            ("reason", &self.reason),
            ("timestamp", &self.timestamp),
        ] {
            if let Some(x) = val {
                v[k] = json!(x);
            }
        }
        if let Some(p) = self.part {
            v["part"] = json!(p);
        }
        if self.ack_required {
            v["ack_required"] = json!(true);
        }
        v
    }
}

impl Agent {
    /// The agent as an entry of `status --json` `agents[]`: its items in state lists, and
    /// `counts` of each (its messages: a duplicate or a copy is listed, not counted).
    pub fn to_json(&self, now: OffsetDateTime, stale_after: Duration) -> Value {
        let mut lists: BTreeMap<&str, Vec<Value>> = LISTS.iter().map(|k| (*k, Vec::new())).collect();
        let mut counts: serde_json::Map<String, Value> = LISTS.iter().map(|k| (k.to_string(), json!(0))).collect();
        let mut bump = |k: &str| {
            if let Some(Value::Number(n)) = counts.get(k) {
                let n = n.as_u64().unwrap_or(0) + 1;
                counts.insert(k.to_string(), json!(n));
            }
        };
        for i in &self.items {
            let v = i.to_json(now, stale_after);
            if i.is_stale(now, stale_after) {
                lists.entry("stale").or_default().push(v.clone());
                bump("stale");
            }
            lists.entry(i.state).or_default().push(v);
            if !i.is_copy() {
                bump(i.state);
            }
        }
        if self.kind == Kind::AgentMail {
            let acks = self.items.iter().filter(|i| i.ack_required && !i.is_copy()).count();
            counts.insert("ack_required".into(), json!(acks));
        }
        let mut row = json!({
            "agent": self.agent, "mailbox": self.mailbox, "kind": self.kind.as_str(),
            "path": self.path, "counts": counts,
        });
        if let Some(e) = &self.error {
            row["error"] = json!(e);
        }
        if let Some(m) = &self.member {
            row["member"] = json!(m);
        }
        if self.skipped > 0 {
            row["skipped_entries"] = json!(self.skipped);
        }
        row["skipped"] = json!(self.not_messages);
        if let Some(p) = &self.profile {
            row["profile"] = p.clone();
        }
        for (k, v) in lists {
            row[k] = json!(v);
        }
        row
    }
}

impl Mailbox {
    /// The mailbox's summary for `status --json` `mailboxes[]`.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "name": self.name, "kind": self.kind.as_str(), "path": self.path, "zone": self.zone,
            "agents": self.agents.len(), "error": self.error, "teams": self.teams, "note": self.note, "not_read": self.not_read,
        });
        if let Some((file, c)) = &self.index {
            v["index"] = json!({"file": file, "files_read": c.read, "files_kept": c.kept,
                "folders_listed": c.listed, "folders_kept": c.dirs_kept, "written": c.written});
        }
        v
    }

    /// [`Mailbox::to_json`] with each agent as `status --json` lists it under `inboxes` (as the
    /// dashboard's team page and `baton mailbox list --json` show a mailbox).
    pub fn to_json_with_inboxes(&self, now: OffsetDateTime, stale_after: Duration) -> Value {
        let mut v = self.to_json();
        v["inboxes"] = json!(self.agents.iter().map(|a| a.to_json(now, stale_after)).collect::<Vec<_>>());
        v
    }
}
