//! `baton ack ID...`: the caller has read these RETURNs. A RETURN in an agent's `01_inbox/` is
//! moved to that agent's `02_processed/` (renamed, never rewritten or deleted) and an
//! `acknowledged` event is kept for it and for the TASK it answers, so unread counts drop
//! in `status`, the dashboard and MCP. `--all AGENT` acknowledges every RETURN waiting there.
//!
//! An id is a RETURN's own id or the id of the TASK it answers. Every id is found before
//! anything moves: an unknown id refuses the whole call, so a typo never half-acknowledges.
//!
//! A message of another tool's mailbox (`am-…`, `cm-…`, `fm-…`) is acknowledged in the ledger
//! only, per recipient (an mcp_agent_mail message asks each of its recipients): `--agent NAME`
//! for one of them, else the caller (`$BATON_AGENT`, MCP's agent) when it is one, else all of
//! them, each named in the answer ([`baton_mailbox::record::acknowledge`]).
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::{FOLDERS, Found, Tree};
use baton_cli::Ctx;
use baton_mailbox::record::{self, Recipient};

#[derive(clap::Args, Debug)]
pub struct AckArgs {
    /// RETURN ids, or the ids of the TASKs the RETURNs answer.
    #[arg(required_unless_present = "all")]
    pub ids: Vec<String>,
    /// Every RETURN waiting in AGENT's inbox.
    #[arg(long, value_name = "AGENT", conflicts_with = "ids")]
    pub all: Option<String>,
    /// A mailbox message's recipient acknowledging it (an mcp_agent_mail message asks each of
    /// its recipients; default: $BATON_AGENT if it is one, else all of them).
    #[arg(long, value_name = "AGENT", conflicts_with = "all")]
    pub agent: Option<String>,
    /// Print JSON: `{"acked": [...], "already": [...]}`.
    #[arg(long)]
    pub json: bool,
}

/// One RETURN acknowledged: its id, the TASK it answers, and where it is now.
#[derive(Debug, Clone)]
pub struct Acked {
    pub id: String,
    pub in_reply_to: String,
    pub agent: String,
    pub file: PathBuf,
    /// It was read before this call (already in `02_processed/`).
    pub already: bool,
}

impl Acked {
    pub fn json(&self) -> Value {
        json!({"id": self.id, "in_reply_to": self.in_reply_to, "agent": self.agent,
               "file": self.file, "already": self.already})
    }
}

/// The RETURN an id names: its own id, or the TASK's it answers (the newest such RETURN).
fn find_return(tree: &Tree, id: &str) -> Option<Found> {
    if let Some(f) = tree.find(id, Some("return"), &FOLDERS[..2]) {
        return Some(f);
    }
    let mut answers: Vec<Found> = Vec::new();
    for agent in tree.agents() {
        for folder in &FOLDERS[..2] {
            let dir = tree.root.join(&agent).join(folder);
            for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let name = e.file_name();
                let Some(n) = name.to_str() else { continue };
                if !n.contains("__RETURN__") && !n.contains(id) {
                    continue;
                }
                let Some(body) = super::read_handoff(&e.path()) else { continue };
                if body.get("kind").and_then(Value::as_str) == Some("return")
                    && body.get("in_reply_to").and_then(Value::as_str) == Some(id)
                {
                    answers.push(Found { agent: agent.clone(), folder, path: e.path(), body });
                }
            }
        }
    }
    // Unread first, then the newest: the one a reader has not seen yet.
    answers.sort_by_key(|f| {
        (
            f.folder != FOLDERS[0],
            std::cmp::Reverse(f.body.get("created_at").and_then(Value::as_str).map(str::to_string)),
        )
    });
    answers.into_iter().next()
}

/// Who acknowledges a mailbox message: the recipient named (`--agent`), and the caller
/// (`$BATON_AGENT`, MCP's agent), taken when it is one of the recipients.
#[derive(Debug, Clone, Copy, Default)]
pub struct Who<'a> {
    pub named: Option<&'a str>,
    pub caller: Option<&'a str>,
}

/// The recipients of mailbox message `id` that acknowledge it: the one named (refused when it is
/// none of them), else the caller if it is one, else all.
fn acknowledging(id: &str, all: Vec<Recipient>, who: Who) -> Result<Vec<Recipient>> {
    let names = || all.iter().map(|r| r.agent.as_str()).collect::<Vec<_>>().join(", ");
    if let Some(n) = who.named {
        match all.iter().find(|r| r.agent == n) {
            Some(r) => return Ok(vec![r.clone()]),
            None => bail!("{id} is not a message to {n:?}: its recipients are {}; nothing was acknowledged", names()),
        }
    }
    Ok(match who.caller.and_then(|c| all.iter().find(|r| r.agent == c)) {
        Some(r) => vec![r.clone()],
        None => all,
    })
}

/// Acknowledges the RETURNs `ids` name (all found first; an unknown id moves nothing), and the
/// mailbox messages they name for `who`.
pub fn ack(ctx: &Ctx, tree: &Tree, ids: &[String], who: Who) -> Result<Vec<Acked>> {
    let mut found = Vec::new();
    let mut unknown = Vec::new();
    // A message seen in another agent's mailbox: acknowledged in the ledger only, its file
    // left exactly as it is.
    let mut ledger = None;
    let mut in_mailboxes = Vec::new();
    for id in ids {
        if crate::claude_inbox::is_message_id(id) {
            let l = match &mut ledger {
                Some(l) => l,
                None => ledger.insert(ctx.connect()?),
            };
            let all = record::recipients(l, id).map_err(|e| anyhow::anyhow!("{e}"))?;
            if all.is_empty() {
                unknown.push(id.as_str());
            } else {
                in_mailboxes.push((id.clone(), acknowledging(id, all, who)?));
            }
            continue;
        }
        match find_return(tree, id) {
            Some(f) => found.push(f),
            None => unknown.push(id.as_str()),
        }
    }
    if !unknown.is_empty() {
        bail!(
            "no RETURN with id {} (or answering a TASK of that id) in an agent's 01_inbox/ or 02_processed/ under {}, nor a mailbox message of that id in the ledger; nothing was acknowledged",
            unknown.iter().map(|u| format!("{u:?}")).collect::<Vec<_>>().join(", "),
            tree.root.display()
        );
    }
    let mut acked = Vec::new();
    if let Some(l) = &mut ledger {
        for (id, who) in in_mailboxes {
            let already = record::acknowledge(l, &id, &who).map_err(|e| anyhow::anyhow!("{e}"))?;
            for (r, already) in who.into_iter().zip(already) {
                acked.push(Acked { id: id.clone(), in_reply_to: String::new(), agent: r.agent, file: r.path, already });
            }
        }
    }
    acked.extend(move_all(ctx, tree, found)?);
    Ok(acked)
}

/// Every RETURN waiting in `agent`'s inbox, as the inbox lists them (read once, not looked
/// up again by id).
pub fn ack_all(ctx: &Ctx, tree: &Tree, agent: &str) -> Result<Vec<Acked>> {
    let (folder, items) = super::inbox::list(tree, agent, false)?;
    let found: Vec<Found> = items
        .into_iter()
        .filter(|i| i["kind"] == "return")
        .filter_map(|i| {
            let path = PathBuf::from(i["file"].as_str()?);
            Some(Found { agent: folder.clone(), folder: FOLDERS[0], path, body: i["body"].clone() })
        })
        .collect();
    move_all(ctx, tree, found)
}

/// Moves each RETURN still in an inbox to `02_processed/`, then keeps their `acknowledged`
/// events in one ledger batch.
fn move_all(ctx: &Ctx, tree: &Tree, found: Vec<Found>) -> Result<Vec<Acked>> {
    let acked = found.into_iter().map(|f| ack_one(tree, f)).collect::<Result<Vec<_>>>()?;
    record(ctx, acked.iter().filter(|a| !a.already));
    Ok(acked)
}

/// The answer of `ack --json` and of MCP's `ack`: `{acked: [...], already: [...]}`.
pub fn answer(acked: &[Acked]) -> Value {
    let (already, moved): (Vec<&Acked>, Vec<&Acked>) = acked.iter().partition(|x| x.already);
    let list = |v: Vec<&Acked>| v.into_iter().map(Acked::json).collect::<Vec<_>>();
    json!({"acked": list(moved), "already": list(already)})
}

fn ack_one(tree: &Tree, f: Found) -> Result<Acked> {
    let s = |k: &str| f.body.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    let (id, in_reply_to) = (s("id"), s("in_reply_to"));
    let mut acked = Acked { id, in_reply_to, agent: f.agent.clone(), file: f.path.clone(), already: true };
    if f.folder == FOLDERS[0] {
        let done = tree.root.join(&f.agent).join(FOLDERS[1]);
        baton_fs::ensure_dir(&done).with_context(|| format!("creating {}", done.display()))?;
        let dest = done.join(f.path.file_name().unwrap_or_default());
        baton_fs::rename_noreplace(&f.path, &dest)
            .with_context(|| format!("moving {} to {} (never overwriting)", f.path.display(), dest.display()))?;
        let _ = baton_fs::sync_dir(&done);
        if let Some(inbox) = f.path.parent() {
            let _ = baton_fs::sync_dir(inbox);
        }
        acked.file = dest;
        acked.already = false;
    }
    Ok(acked)
}

/// The `acknowledged` events, on each RETURN's id and its TASK's; the moved file is what
/// counts, so a ledger that cannot be written only loses the history lines (said in the log).
fn record<'a>(ctx: &Ctx, moved: impl Iterator<Item = &'a Acked>) {
    let moved: Vec<&Acked> = moved.collect();
    if moved.is_empty() {
        return;
    }
    let now = baton_handoff::stamp::rfc3339(baton_handoff::stamp::now());
    let written = ctx.connect().and_then(|mut l| {
        l.batch(|b| {
            for a in &moved {
                let detail = json!({"return": a.id, "agent": a.agent, "file": a.file});
                for id in [&a.id, &a.in_reply_to].into_iter().filter(|i| !i.is_empty()) {
                    b.event(id, &now, "acknowledged", &detail)?;
                }
            }
            Ok(())
        })
    });
    if let Err(e) = written {
        tracing::warn!("{} RETURN(s) moved to 02_processed/ but their history lines were not kept: {e}", moved.len());
    }
}

pub fn run(ctx: &Ctx, a: AckArgs) -> Result<i32> {
    let tree = Tree::open(ctx)?;
    let acked = match &a.all {
        Some(agent) => ack_all(ctx, &tree, agent)?,
        None => {
            let caller = std::env::var("BATON_AGENT").ok();
            ack(ctx, &tree, &a.ids, Who { named: a.agent.as_deref(), caller: caller.as_deref() })?
        }
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&answer(&acked))?);
        return Ok(0);
    }
    if acked.is_empty() {
        println!("nothing to acknowledge");
    }
    for x in &acked {
        let what = if x.already { "already read" } else { "acknowledged" };
        if x.in_reply_to.is_empty() {
            // A mailbox message: acknowledged in the ledger, its file left as it is.
            println!("{what} {} (a message in {}'s mailbox): {}", x.id, x.agent, x.file.display());
        } else {
            println!("{what} {} (RETURN for {}): {}", x.id, x.in_reply_to, x.file.display());
        }
    }
    Ok(0)
}
