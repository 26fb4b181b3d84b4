//! RETURNs for a Claude Code team's agent. A TASK whose reply agent (`reply_to`, else `from`)
//! is `TEAM/AGENT` is answered by one message appended to that agent's inbox,
//! `<teams>/<team>/inboxes/<agent>.json`, under Claude Code's own lock
//! ([`crate::deliver`]), never by a file in a folder of the handoffs tree: nobody reads
//! `handoffs/TEAM/AGENT/`, so baton never makes it.
//!
//! The RETURN goes through the pipeline's outbox like any other: staged, made durable,
//! then delivered and marked `.sent`. Only the delivery differs: an append instead of a link.
//! The message is made from the staged bytes alone (its `text` is the RETURN's JSON, its
//! `timestamp` the RETURN's `created_at`), so a re-run after a crash makes the very same
//! message, and the append skips it when it is there already: delivered exactly once.
//!
//! A TEAM/AGENT that no configured claude-team mailbox has is refused before the TASK runs
//! ([`Teams::refusal`]), with the fix.
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::deliver::{self, Outgoing};
use crate::recipient::{self, Recipient, RecipientError};

/// How long a delivery waits for a lock Claude Code holds before the item is paused and tried
/// again (a `WouldBlock` error passes by itself). Shorter than the lock's stale age (10 s): the
/// pipeline does not stand still for one inbox, and a lock left by a dead writer is stale and
/// removed by the time a later attempt comes.
pub const LOCK_WAIT: Duration = Duration::from_secs(5);

/// The claude-team mailboxes of `baton.toml` (`[mailboxes.NAME] kind = "claude-team"`), read
/// when the pipeline starts (as `serve`'s observer reads them).
#[derive(Debug, Clone, Default)]
pub struct Teams {
    boxes: crate::Mailboxes,
    home: PathBuf,
}

impl Teams {
    /// The `[mailboxes]` table of baton.toml (`table`, [`crate::settings::SECTION`]) of the home
    /// at `home`. One that does not parse is no mailbox here: the command line refuses it when
    /// baton.toml is loaded, naming the key.
    pub fn of(table: Option<&toml::Value>, home: &Path) -> Teams {
        let boxes = crate::settings::parse(table).unwrap_or_else(|e| {
            tracing::warn!("mailboxes: {e}; no RETURN is delivered into a Claude Code inbox");
            Default::default()
        });
        Teams { boxes, home: home.to_path_buf() }
    }

    /// The inbox of `TEAM/AGENT`; never creates anything.
    pub fn recipient(&self, to: &str) -> Result<Recipient, RecipientError> {
        recipient::find(&self.boxes, &self.home, to, false)
    }

    /// Why a TASK whose reply agent `to` (from its `field`) is a `TEAM/AGENT` with no inbox is
    /// refused, naming the agent, baton.toml and the fix; `None` when the inbox is found.
    pub fn refusal(&self, field: &str, to: &str) -> Option<String> {
        let why = self.recipient(to).err()?;
        Some(format!(
            "`{field}` {to:?} names a Claude Code team's agent (TEAM/AGENT), and {why} in {}: baton has nowhere \
             to deliver the RETURN, so the TASK was not run and no folder was made for it. Fix: add the folder \
             holding the team (`<team>/inboxes/`) with `baton mailbox add claude-team [PATH]` (default \
             ~/.claude/teams), restart `baton serve`, and send the TASK again",
            self.home.join("baton.toml").display()
        ))
    }
}

/// A Claude inbox a staged RETURN is delivered into.
#[derive(Debug, Clone)]
pub struct ClaudeInbox {
    pub recipient: Recipient,
    /// baton's own agent name: the message's `from` when the RETURN does not say.
    pub from: String,
    pub lock_wait: Duration,
}

impl ClaudeInbox {
    /// The message a staged RETURN (`bytes`) makes: `from` the RETURN's sender (baton), `text`
    /// its JSON as staged, `summary` its title and summary's first line, `timestamp` its
    /// `created_at` in Claude Code's format. Nothing is taken from the clock: a re-run of the
    /// same delivery makes the same message, with the same id.
    pub fn message(&self, bytes: &[u8]) -> Outgoing {
        return_message(bytes, &self.from)
    }

    /// Whether the staged RETURN `bytes` is in the inbox already: delivered by an earlier run.
    pub fn holds(&self, bytes: &[u8]) -> io::Result<bool> {
        deliver::holds(&self.recipient.inbox, &self.message(bytes)).map_err(io_error)
    }

    /// Appends the staged RETURN `bytes` as one message under Claude Code's lock, unless it is
    /// there already. A lock held past [`Self::lock_wait`] is an error that passes
    /// (`WouldBlock`): the item is paused and tried again, its RETURN never lost.
    pub fn append(&self, bytes: &[u8]) -> io::Result<()> {
        deliver::deliver_once(&self.recipient.inbox, &self.message(bytes), self.lock_wait).map(|_| ()).map_err(io_error)
    }

    /// The folder holding the inbox, synced once the group is delivered.
    pub fn folder(&self) -> PathBuf {
        self.recipient.inbox.parent().map(Path::to_path_buf).unwrap_or_default()
    }
}

/// The Claude message a RETURN's bytes make: `from` the RETURN's sender (else `default_from`),
/// `text` its JSON as given, `summary` its title and summary's first line, `timestamp` its
/// `created_at` in Claude Code's format. Nothing is taken from the clock: the same bytes make
/// the same message, with the same id, so a delivery made again is found and not repeated.
/// Shared by the pipeline's RETURNs and by `baton reply` and A2A's cancel.
pub fn return_message(bytes: &[u8], default_from: &str) -> Outgoing {
    let body: Value = serde_json::from_slice(bytes).unwrap_or_default();
    let field = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    let created = field("created_at");
    let timestamp = time::OffsetDateTime::parse(&created, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(crate::when::rfc3339)
        .unwrap_or(created);
    let first = field("summary").lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default().to_string();
    let mut summary = match (field("title"), first) {
        (t, s) if s.is_empty() => t,
        (t, s) if t.is_empty() => s,
        (t, s) => format!("{t}: {s}"),
    };
    if summary.chars().count() > 200 {
        summary = summary.chars().take(199).collect::<String>() + "…";
    }
    let from = Some(field("from")).filter(|f| !f.is_empty()).unwrap_or_else(|| default_from.to_string());
    Outgoing {
        from,
        text: String::from_utf8_lossy(bytes).trim_end().to_string(),
        summary: Some(summary).filter(|s| !s.is_empty()),
        timestamp,
    }
}

/// A mailbox error as the outbox's I/O error: the kind decides whether it passes by itself.
fn io_error(e: crate::MailboxError) -> io::Error {
    use crate::MailboxError as M;
    match e {
        M::Io { source, .. } => source,
        e @ M::Locked { .. } => io::Error::new(io::ErrorKind::WouldBlock, e.to_string()),
        e @ M::NoInboxFolder(_) => io::Error::new(io::ErrorKind::NotFound, e.to_string()),
        e @ M::NotAnInbox(..) => io::Error::new(io::ErrorKind::InvalidData, e.to_string()),
        e => io::Error::other(e.to_string()),
    }
}

/// A RETURN appended to a Claude inbox, as the ledger records it.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub recipient: Recipient,
    pub message: Outgoing,
}

/// Records a RETURN appended to a Claude inbox: the `delivered` event under the message's id
/// (the same as `baton send --to TEAM/AGENT` records), and the `return_delivered` event linking
/// the TASK to it, so that `baton show TASK --json` tells the RETURN's delivery state. `serve`
/// and `baton reply` record their deliveries with it.
pub fn record_return(
    b: &baton_ledger::Batch<'_>,
    r: &Recipient,
    msg: &Outgoing,
    task: &str,
    now: &str,
) -> Result<(), baton_ledger::LedgerError> {
    let id = r.message_id(msg);
    b.event(&id, &msg.timestamp, "delivered", &r.delivered_detail(msg))?;
    let link = serde_json::json!({"message": id, "agent": r.agent(), "inbox": r.inbox});
    b.event(task, now, "return_delivered", &link)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn inbox(dir: &Path) -> ClaudeInbox {
        let r = Recipient {
            mailbox: "claude".into(),
            team: "alpha".into(),
            name: "worker".into(),
            inbox: dir.join("worker.json"),
        };
        ClaudeInbox { recipient: r, from: "baton".into(), lock_wait: Duration::from_millis(100) }
    }

    fn staged() -> Vec<u8> {
        serde_json::to_vec_pretty(&json!({"id": "c.r", "kind": "return", "from": "baton", "title": "Re: Echo",
            "created_at": "2026-02-22T16:25:22.959123Z", "status": "completed", "summary": "echoed\nmore"}))
        .unwrap()
    }

    #[test]
    fn the_message_is_the_staged_return_whatever_the_clock() {
        let d = tempfile::tempdir().unwrap();
        let to = inbox(d.path());
        let m = to.message(&staged());
        assert_eq!(
            (m.from.as_str(), m.timestamp.as_str(), m.summary.as_deref()),
            ("baton", "2026-02-22T16:25:22.959Z", Some("Re: Echo: echoed"))
        );
        assert_eq!(serde_json::from_str::<Value>(&m.text).unwrap()["status"], "completed");
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(to.message(&staged()).timestamp, m.timestamp, "stable across runs");
    }

    #[test]
    fn appended_once_and_a_held_lock_passes() {
        let d = tempfile::tempdir().unwrap();
        let to = inbox(d.path());
        std::fs::write(&to.recipient.inbox, r#"[{"from": "lead", "text": "hi", "timestamp": "x", "read": true}]"#)
            .unwrap();
        assert!(!to.holds(&staged()).unwrap());
        to.append(&staged()).unwrap();
        to.append(&staged()).unwrap();
        assert!(to.holds(&staged()).unwrap());
        let v: Vec<Value> = serde_json::from_slice(&std::fs::read(&to.recipient.inbox).unwrap()).unwrap();
        assert_eq!(v.len(), 2, "{v:?}");
        assert_eq!(v[0]["text"], "hi");
        std::fs::create_dir(crate::deliver::lock_path(&to.recipient.inbox)).unwrap();
        let e = to.append(b"{}").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock, "a held lock passes: {e}");
        std::fs::write(&to.recipient.inbox, "{}").unwrap();
        std::fs::remove_dir(crate::deliver::lock_path(&to.recipient.inbox)).unwrap();
        let e = to.append(&staged()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "not an inbox, which never passes: {e}");
    }
}
