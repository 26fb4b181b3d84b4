//! Other tools' mailboxes as the home sees them: the `[mailboxes]` tables of baton.toml, each
//! message recorded in the ledger when first seen (so `baton show ID` finds it after its
//! mailbox forgot it), and what `status` and `adopt` print of them (their agents, and the
//! folders that look like mailboxes and are read by none). The reading is `baton_mailbox`'s;
//! this module records and prints. Delivery and receipts are the agents' commands'
//! (`baton-agents`).

use anyhow::Result;
use serde_json::{Value, json};

use baton_mailbox::detect;
use baton_mailbox::report::{self, Mailbox};
use baton_mailbox::settings::{self, Kind, Mailboxes};

use crate::Ctx;

/// The `[mailboxes]` tables of a home's baton.toml, checked. Takes the configuration the
/// command already loaded: loading it again would read and check baton.toml twice.
pub fn configured(cfg: &baton_home::Config) -> Result<Mailboxes> {
    Ok(settings::parse(cfg.sections.get(settings::SECTION))?)
}

/// Every configured mailbox read, and each message not in the ledger yet recorded there
/// (`observed`, and a `mailbox_seen` event holding the message, so `baton show ID` finds it
/// after the mailbox forgot it). Reads the mailboxes only.
pub fn observe(ctx: &Ctx, ledger: &mut baton_ledger::Ledger, boxes: &Mailboxes) -> Result<Vec<Mailbox>> {
    let mut read = report::read_all_indexed(boxes, &ctx.home, ctx.state.parent());
    // An mcp_agent_mail message asking each recipient for an acknowledgement: `baton ack ID`.
    baton_mailbox::record::acknowledgements(ledger, &mut read).map_err(|e| anyhow::anyhow!("{e}"))?;
    let now = baton_handoff::stamp::rfc3339(baton_handoff::stamp::now());
    let mut new = Vec::new();
    for m in &read {
        for a in &m.agents {
            for i in a.items.iter().filter(|i| i.state != "unreadable") {
                let key = format!("{}#{}", i.file, i.id);
                if !ledger.is_observed(&a.agent, &key)? {
                    new.push((a, i, key));
                }
            }
        }
    }
    if new.is_empty() {
        return Ok(read);
    }
    ledger.batch(|w| {
        for (a, i, key) in &new {
            let created_at = baton_mailbox::when::rfc3339(i.created_at);
            w.observe(
                &baton_ledger::Observed {
                    agent: a.agent.clone(),
                    file_name: key.clone(),
                    kind: "message".into(),
                    id: i.id.to_string(),
                    in_reply_to: None,
                    sender: i.from.as_deref().unwrap_or_default().to_string(),
                    recipient: i.to.as_deref().map(str::to_string),
                    title: i.title.to_string(),
                    created_at: created_at.clone(),
                },
                &now,
            )?;
            let detail = json!({
                "mailbox": a.mailbox, "kind": a.kind.as_str(), "agent": a.agent, "file": i.file, "path": i.path,
                "state": i.state, "from": i.from, "to": i.to, "title": i.title, "created_at": created_at,
                "protocol": i.kind, "timestamp": i.timestamp, "text": i.text,
            });
            w.event(&i.id, &now, "mailbox_seen", &detail)?;
        }
        Ok(())
    })?;
    Ok(read)
}

/// The unmatched folders as `status --json` and `adopt --json` list them.
pub fn unmatched_json(u: &[detect::Unmatched]) -> Vec<Value> {
    u.iter().map(|x| json!({"path": x.path, "seen": x.seen, "kind": x.kind.as_str(), "table": x.table})).collect()
}

/// The unmatched folders as text.
pub fn unmatched_text(u: &[detect::Unmatched]) -> String {
    let mut s = String::new();
    for x in u {
        s.push_str(&format!(
            "NOT READ {} looks like a {} mailbox ({}); this in baton.toml would read it:\n",
            crate::text::esc(&x.path.display().to_string()),
            x.kind.as_str(),
            x.seen.join(", ")
        ));
        for l in x.table.lines() {
            s.push_str(&format!("    {l}\n"));
        }
    }
    s
}

/// [`report::unread_returns`] as `status` prints them, one line each.
pub fn unread_returns_text(unread: &[Value]) -> String {
    let s = |v: &Value, k: &str| crate::text::esc(v[k].as_str().unwrap_or("?")).into_owned();
    unread
        .iter()
        .map(|u| {
            format!(
                "UNREAD RETURN of TASK {} ({}) in the Claude inbox of {} since {}, stale (message {}; `baton show {}`)\n",
                s(u, "task"),
                s(u, "status"),
                s(u, "agent"),
                s(u, "delivered_at"),
                s(u, "message"),
                s(u, "task"),
            )
        })
        .collect()
}

/// The mailboxes as `status` prints them.
pub fn text(boxes: &[Mailbox], stale_after: std::time::Duration) -> String {
    let esc = crate::text::esc;
    let now = time::OffsetDateTime::now_utc();
    let mut s = String::new();
    for m in boxes {
        s.push_str(&format!(
            "mailbox {} ({}) at {}",
            esc(&m.name),
            m.kind.as_str(),
            esc(&m.path.display().to_string())
        ));
        match &m.error {
            Some(e) => s.push_str(&format!(": UNREADABLE: {}\n", esc(e))),
            None => s.push_str(&format!(", {} agent(s), zone {}", m.agents.len(), m.zone)),
        }
        if m.error.is_none() {
            if !m.not_read.is_empty() {
                s.push_str(&format!(", {} not read (status --json: mailboxes[].not_read)", m.not_read.len()));
            }
            s.push('\n');
        }
        for a in &m.agents {
            // Messages: a duplicate or a copy of one is not counted again.
            let count = |st: &str| a.items.iter().filter(|i| i.state == st && !i.is_copy()).count();
            let stale = a.items.iter().filter(|i| i.is_stale(now, stale_after)).count();
            let line = match a.kind {
                Kind::ClaudeTeam => match a.seen {
                    Some(seen) => format!("{} unread, {} read, {seen} seen", count("unread"), count("read")),
                    None => format!("{} unread, {} read", count("unread"), count("read")),
                },
                Kind::Folders => format!("{} open, {} done, {} sent", count("open"), count("done"), count("sent")),
                Kind::AgentMail => {
                    let acks = a.items.iter().filter(|i| i.ack_required && !i.is_copy()).count();
                    format!("{} open, {} sent, {acks} to acknowledge", count("open"), count("sent"))
                }
            };
            s.push_str(&format!("  {}: {line}, {stale} stale, {} unreadable", esc(&a.agent), count("unreadable")));
            if !a.not_messages.is_empty() {
                s.push_str(&format!(", {} not messages (skipped)", a.not_messages.len()));
            }
            if let Some(e) = &a.error {
                s.push_str(&format!(" (UNREADABLE: {})", esc(e)));
            }
            s.push('\n');
            for i in a.items.iter().filter(|i| matches!(i.state, "unread" | "open" | "unreadable") && !i.is_copy()) {
                let flag = if i.is_stale(now, stale_after) { "STALE " } else { "" };
                let what = i.reason.as_deref().unwrap_or(&i.title);
                s.push_str(&format!(
                    "    {flag}{:<10} {}  {} → {}  {}  {}",
                    i.state,
                    esc(what),
                    esc(i.from.as_deref().unwrap_or("?")),
                    esc(i.to.as_deref().unwrap_or("?")),
                    baton_mailbox::when::rfc3339(i.created_at),
                    esc(&i.file)
                ));
                let ack = format!("  ACK REQUIRED (`baton ack {} --agent {}`)", i.id, esc(&a.agent));
                s.push_str(&format!("{}\n", if i.ack_required { ack.as_str() } else { "" }));
            }
        }
    }
    s
}

/// `status`'s UNSEEN and where receipts stop at `noticed` ([`baton_mailbox::record::unseen`]).
pub fn unseen(
    ctx: &Ctx,
    ledger: &mut baton_ledger::Ledger,
    cfg: &baton_home::Config,
    boxes: &Mailboxes,
) -> Result<(Vec<Value>, Option<String>)> {
    let mut t = baton_mailbox::record::transcripts(&ctx.home, &ctx.state, boxes);
    Ok(baton_mailbox::record::unseen(&ctx.home, &mut t, ledger, boxes, cfg.handoffs.unseen_after)?)
}
