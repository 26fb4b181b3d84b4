//! What a mailbox reads as: its agents and their items, in the shapes `status --json`, `mailbox
//! list` and the dashboard print. The model alone, apart from the reading (`report`), so that a
//! reader of one kind (`agentmail`) builds these without needing the module that calls it.
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::settings::Kind;
use crate::{claude, when};
/// A text an item may share with other items: the copies of one mcp_agent_mail message are an
/// item in each of its recipients' and its sender's agents, all with one id, title, sender and
/// body, so each is a count, not an allocation (50,000 items of an archive were 500,000).
pub type Text = std::sync::Arc<str>;

/// One message (or unreadable file) as status lists it.
#[derive(Debug, Clone)]
pub struct Item {
    pub id: Text,
    /// The file's name.
    pub file: String,
    pub path: PathBuf,
    /// `unread`, `read` (Claude inboxes), `open`, `done`, `sent` (folders), `unreadable`.
    pub state: &'static str,
    pub from: Option<Text>,
    pub to: Option<Text>,
    pub title: Text,
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
    pub thread_id: Option<Text>,
    pub importance: Option<Text>,
    pub reason: Option<String>,
    /// A Claude message's `timestamp` as written and its text (kept in the ledger).
    pub timestamp: Option<String>,
    pub text: Option<Text>,
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
    /// A Claude inbox's: how many of baton's deliveries into it the recipient's model was seen
    /// to receive (`counts.seen`, from the ledger's receipts: [`crate::record::seen_counts`]).
    pub seen: Option<u64>,
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
            ("kind", self.kind.as_deref()),
            ("duplicate_of", self.duplicate_of.as_deref()),
            ("copy_of", self.copy_of.as_deref()),
            ("thread_id", self.thread_id.as_deref()),
            ("importance", self.importance.as_deref()),
            ("reason", self.reason.as_deref()),
            ("timestamp", self.timestamp.as_deref()),
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
        if let Some(n) = self.seen {
            counts.insert("seen".into(), json!(n));
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
