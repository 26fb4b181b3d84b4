//! Delivery into a Claude Code teammate's inbox and what follows it, for `send`, `reply`,
//! `show`, `wait`, `inbox`, MCP and triage: finding the recipient, appending under Claude
//! Code's lock with the delivery recorded in the ledger, a RETURN delivered outside the
//! pipeline, the receipt's state (`written`, `noticed`, `seen`, `answered`, `lost`) and an
//! answer to a message. The inbox format, the lock and the receipts' rules are
//! `baton_mailbox`'s; this is where the commands' context meets them.
use anyhow::{Context, Result, bail};
use serde_json::json;

use baton_mailbox::deliver;

use baton_cli::Ctx;
use baton_cli::mailboxes::configured;

pub use baton_mailbox::recipient::Recipient;

/// Finds the inbox of `TEAM/AGENT` in the configured claude-team mailboxes. An agent with no
/// inbox file yet is taken when the team's roster names it, or with `create`.
pub fn recipient(ctx: &Ctx, to: &str, create: bool) -> Result<Recipient> {
    use baton_mailbox::recipient::RecipientError;
    match baton_mailbox::recipient::find(&configured(&ctx.config()?)?, &ctx.home, to, create) {
        Ok(r) => Ok(r),
        Err(RecipientError::NoClaudeMailbox) => bail!(
            "no claude-team mailbox in {}: add one with `baton mailbox add claude-team [PATH]`",
            ctx.home.join("baton.toml").display()
        ),
        Err(e @ RecipientError::NoAgent { .. }) => bail!("{e}; pass --new-agent to create its inbox"),
        Err(e) => bail!("{e}"),
    }
}

/// The Claude Code team task `TEAM#N` a message is about (`send --claude-task`, MCP
/// `claude_task`), checked: it must be in the task list of a configured claude-team mailbox,
/// or the link would name nothing.
pub fn claude_task(ctx: &Ctx, reference: &str) -> Result<String> {
    if baton_mailbox::tasks::parse_ref(reference).is_none() {
        bail!(
            "{reference:?} is no task: a Claude Code team task is named TEAM#N (`alpha#2`), as `baton status --json` lists `mailboxes[].teams[].tasks[]`"
        );
    }
    let boxes = configured(&ctx.config()?)?;
    if baton_mailbox::record::find_task(&ctx.home, &boxes, reference).is_none() {
        bail!(
            "no task {reference} in the task lists of the claude-team mailboxes in {}: `baton status --json` lists each team's tasks (`mailboxes[].teams[].tasks[]`)",
            ctx.home.join("baton.toml").display()
        );
    }
    Ok(reference.to_string())
}

/// Appends the message to the recipient's inbox under Claude Code's lock and records the
/// delivery in the ledger, with the team task it is about (`TEAM#N`, checked by
/// [`claude_task`]) linked both ways: `claude_task` in the delivery, a `message_linked` event
/// under the task. Returns the message's id.
pub fn deliver_to(
    ctx: &Ctx,
    r: &Recipient,
    from: &str,
    text: &str,
    summary: Option<&str>,
    claude_task: Option<&str>,
) -> Result<String> {
    let timestamp = baton_mailbox::when::rfc3339(time::OffsetDateTime::now_utc());
    let msg = deliver::Outgoing {
        from: r.from_as_written(from).to_string(),
        text: text.to_string(),
        summary: summary.map(str::to_string),
        timestamp: timestamp.clone(),
    };
    // The recipient's transcript and its length before the append: its receipt reads only
    // the lines written after (`seen`), never the whole file.
    let mut detail = r.delivered_detail(&msg);
    if let Some(t) = transcripts(ctx).locate(&r.agent()) {
        detail["transcript_offset"] = json!(std::fs::metadata(&t).map_or(0, |m| m.len()));
        detail["transcript"] = json!(t);
    }
    if let Some(t) = claude_task {
        detail["claude_task"] = json!(t);
    }
    deliver::deliver(&r.inbox, &msg)?;
    let id = r.message_id(&msg);
    let mut ledger = ctx.connect()?;
    ledger.batch(|w| {
        w.event(&id, &timestamp, "delivered", &detail)?;
        match claude_task {
            Some(t) => w.event(t, &timestamp, "message_linked", &json!({"message": id, "to": r.agent()})),
            None => Ok(()),
        }
    })?;
    tracing::info!(id = %id, inbox = %r.inbox.display(), "delivered");
    Ok(id)
}

/// Delivers a RETURN written outside the pipeline (`baton reply`, A2A's cancel) into the Claude
/// inbox of the TASK's reply agent `TEAM/AGENT`, as the pipeline delivers its own: one message
/// made from the RETURN's bytes alone ([`baton_mailbox::teams::return_message`]), appended under
/// Claude Code's lock unless it is there already (a reply finished again after a crash appends
/// nothing), then recorded once: `delivered` under the message's id and `return_delivered`
/// under the TASK's, so `baton show TASK --json` has its `"delivery"`. Returns the message's id.
pub fn deliver_return(ctx: &Ctx, r: &Recipient, task_id: &str, ret: &serde_json::Value) -> Result<String> {
    let bytes = serde_json::to_vec_pretty(ret)?;
    let msg = baton_mailbox::teams::return_message(&bytes, "baton");
    deliver::deliver_once(&r.inbox, &msg, deliver::LOCK_TIMEOUT)
        .with_context(|| format!("delivering the RETURN of TASK {task_id} into {}", r.inbox.display()))?;
    let id = r.message_id(&msg);
    record_return(ctx, r, task_id, &msg)?;
    tracing::info!(id = %id, task = task_id, inbox = %r.inbox.display(), "RETURN delivered");
    Ok(id)
}

/// Records a RETURN delivered into a Claude inbox (see [`deliver_return`]) unless the ledger has
/// it already. Only records: a delivery made before (a reply's journal) is never made again
/// here, even if Claude Code has cleared the inbox since.
pub fn record_return(ctx: &Ctx, r: &Recipient, task_id: &str, msg: &deliver::Outgoing) -> Result<()> {
    let id = r.message_id(msg);
    let mut ledger = ctx.connect()?;
    if ledger.events(&id)?.iter().any(|e| e.event == "delivered") {
        return Ok(());
    }
    let now = baton_handoff::stamp::rfc3339(baton_handoff::stamp::now());
    ledger.batch(|w| baton_mailbox::teams::record_return(w, r, msg, task_id, &now))?;
    Ok(())
}

/// The transcripts of the configured claude-team mailboxes ([`baton_mailbox::record::transcripts`]).
pub fn transcripts(ctx: &Ctx) -> baton_mailbox::receipt::Transcripts {
    let boxes = ctx.config().ok().and_then(|c| configured(&c).ok()).unwrap_or_default();
    baton_mailbox::record::transcripts(&ctx.home, &ctx.state, &boxes)
}

/// `[handoffs] unseen_after`: how long a message may stay noticed, not seen, while its
/// recipient's transcript moves on, before `status` calls it UNSEEN (default 10 minutes).
pub fn unseen_after(ctx: &Ctx) -> std::time::Duration {
    ctx.config().map_or(baton_home::tree::DEFAULT_UNSEEN_AFTER, |c| c.handoffs.unseen_after)
}

/// A delivery's state now ([`baton_mailbox::receipt`]: `written`, `noticed`, `seen`,
/// `answered` or `lost`), from the inbox, the recipient's transcript and the ledger; each state
/// reached is recorded once as an event (`delivery_noticed`, `delivery_seen`, …), so a noticed
/// message the inbox has since dropped stays noticed. `None`: the id is no delivery.
pub fn delivery(
    ctx: &Ctx,
    ledger: &mut baton_ledger::Ledger,
    transcripts: &mut baton_mailbox::receipt::Transcripts,
    id: &str,
) -> Result<Option<baton_mailbox::receipt::Look>> {
    let mut store = baton_mailbox::record::Events(ledger);
    let found = baton_mailbox::receipt::delivery(&mut store, transcripts, id, unseen_after(ctx))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(found.map(|(_, look)| look))
}

/// The `delivery_seen` event's detail (`seen_at`, `transcript`), once a delivery was seen.
pub fn seen_detail(ledger: &baton_ledger::Ledger, id: &str) -> Result<Option<serde_json::Value>> {
    let events = ledger.events(id)?;
    if let Some(e) = events.iter().find(|e| e.event == "delivery_seen") {
        return Ok(Some(e.detail.clone()));
    }
    // A TASK answered into a Claude inbox: its RETURN's message.
    let message =
        events.iter().rev().find(|e| e.event == "return_delivered").and_then(|e| e.detail["message"].as_str());
    match message {
        Some(m) if m != id => seen_detail(ledger, m),
        _ => Ok(None),
    }
}

/// `baton reply cm-…`: answers a message in a Claude inbox as its recipient, with one message
/// into the sender's inbox (under Claude Code's lock, recorded like any delivery), which is what
/// makes the first one's receipt `answered`. The text is the summary, then `result` as JSON.
pub fn answer_message(
    ctx: &Ctx,
    id: &str,
    status: &str,
    summary: &str,
    result: Option<&serde_json::Value>,
) -> Result<String> {
    let ledger = ctx.connect()?;
    let Some((to, me)) = baton_mailbox::record::answer_route(&ledger, id).map_err(|e| anyhow::anyhow!("{e}"))? else {
        bail!(
            "no message {id} in a Claude Code inbox that baton delivered or read: `baton inbox TEAM/AGENT` lists each inbox's messages with their ids"
        );
    };
    drop(ledger);
    let r = recipient(ctx, &to, false).with_context(|| format!("answering {id}: its sender {to}"))?;
    let mut text = if status == "completed" { summary.to_string() } else { format!("[{status}] {summary}") };
    if let Some(v) = result {
        text.push_str(&format!("\n\n{}", serde_json::to_string_pretty(v)?));
    }
    let first = summary.lines().next().unwrap_or_default();
    deliver_to(ctx, &r, &me, &text, Some(first).filter(|s| !s.is_empty()), None)
}

/// Whether `id` is a mailbox message's (`cm-…` Claude Code, `fm-…` folder mailbox, `am-…`
/// mcp_agent_mail archive).
pub fn is_message_id(id: &str) -> bool {
    (id.starts_with("cm-") || id.starts_with("fm-") || id.starts_with("am-")) && id.len() == 23
}
