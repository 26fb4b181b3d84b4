//! `baton discard`, `baton restore` and `baton cancel`: triage as Sidekiq and Oban Web offer it.
//! Discarding moves failed handoffs out of `03_failed/` into `04_discarded/` (journalled,
//! `restore` undoes it; `baton_pipeline::triage` does the moves, shared with the dashboard).
//! Cancelling answers a TASK that waits in an inbox `canceled`, once: [`cancel_waiting`] is the
//! one way it is done, for the CLI and for A2A's `CancelTask`.
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use serde_json::{Value, json};

use baton_cli::Ctx;
use baton_cli::text::esc;
use baton_handoff::build::{self, NewReturn};
use baton_handoff::{Status, TaskBody};
use baton_home::Paths;
use baton_pipeline::retry::{self, RetryFilter};
use baton_pipeline::triage;

use crate::Tree;

#[derive(clap::Args, Debug)]
pub struct DiscardArgs {
    /// Failed handoffs: each an id, or a file name in 03_failed/.
    #[arg(required = true)]
    pub targets: Vec<String>,
    /// Only list what would move.
    #[arg(long)]
    pub dry_run: bool,
    /// Print `{"dry_run", "discarded": [...], "not_found": [...]}`.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct RestoreArgs {
    /// A discarded handoff: its id, or its file name in 04_discarded/.
    pub target: String,
    /// Print what moved as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct CancelArgs {
    /// The TASK's id.
    pub id: String,
    /// Print `{"id", "filed", "return"}` as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn discard(ctx: &Ctx, a: DiscardArgs) -> Result<i32> {
    baton_cli::home_check::require(&ctx.home)?;
    let cfg = ctx.config()?;
    let paths = Paths::new(&ctx.home, &ctx.state, &cfg);
    let ledger = ctx.connect()?;
    let (mut selected, mut not_found) = (Vec::new(), Vec::new());
    for target in &a.targets {
        let filter = RetryFilter { target: Some(target.clone()), ..RetryFilter::default() };
        match retry::select_failed(&paths, &cfg.agent, &ledger, &filter)?.pop() {
            Some(f) if !selected.iter().any(|s: &retry::FailedHandoff| s.file == f.file) => selected.push(f),
            Some(_) => {}
            None => not_found.push(target.clone()),
        }
    }
    let failed = paths.failed(&cfg.agent);
    let moved = if a.dry_run { Vec::new() } else { triage::discard(&paths, &cfg.agent, selected.clone())? };
    if a.json {
        let discarded: Vec<Value> = if a.dry_run {
            selected.iter().map(|f| json!(f)).collect()
        } else {
            moved.iter().map(|m| json!(m)).collect()
        };
        let out = json!({"dry_run": a.dry_run, "discarded": discarded, "not_found": not_found});
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        for f in &selected {
            if a.dry_run {
                println!("would discard {}", esc(&f.name));
            }
        }
        for m in &moved {
            println!(
                "discarded {} -> {} (`baton restore {}` undoes it)",
                esc(&m.handoff.name),
                m.to.display(),
                esc(m.handoff.id.as_deref().unwrap_or(&m.handoff.name))
            );
        }
        for t in &not_found {
            println!("NOT FOUND {}: no failed handoff with that id or file name in {}", esc(t), failed.display());
        }
    }
    Ok(if not_found.is_empty() { 0 } else { 1 })
}

pub fn restore(ctx: &Ctx, a: RestoreArgs) -> Result<i32> {
    baton_cli::home_check::require(&ctx.home)?;
    let cfg = ctx.config()?;
    let paths = Paths::new(&ctx.home, &ctx.state, &cfg);
    let Some(moved) = triage::restore(&paths, &cfg.agent, &a.target)? else {
        bail!(
            "no discarded handoff with id or file name {:?} in {}",
            a.target,
            paths.agent(&cfg.agent).join(triage::DISCARDED).display()
        );
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&json!(moved))?);
    } else {
        let who = moved.handoff.id.as_deref().unwrap_or(&moved.handoff.name);
        println!(
            "restored {} to {} (`baton retry {}` runs it again)",
            esc(&moved.handoff.name),
            moved.to.display(),
            esc(who)
        );
    }
    Ok(0)
}

pub fn cancel(ctx: &Ctx, a: CancelArgs) -> Result<i32> {
    let tree = Tree::open(ctx)?;
    let ledger = ctx.connect()?;
    let row = ledger.task(&a.id)?;
    // Waiting for its next attempt inside `serve`: the pipeline answers it `canceled` instead
    // of running that attempt (the request is an event; serve reads it then). Asked first: on a
    // shared PostgreSQL ledger a retrying TASK's file stays in the inbox (its claim is a row).
    if let Some(row) = row.as_ref().filter(|r| r.state == baton_ledger::TaskState::Retrying) {
        let at = baton_handoff::stamp::rfc3339(baton_handoff::stamp::now());
        let mut ledger = ledger;
        ledger.batch(|b| b.event(&a.id, &at, "cancel_requested", &json!({"by": "baton cancel"})))?;
        let out = json!({"id": a.id, "requested": true, "state": row.state.as_str(), "attempts": row.attempts});
        if a.json {
            println!("{}", serde_json::to_string_pretty(&out)?);
        } else {
            println!(
                "cancel requested for {}: it waits for attempt {}; `baton serve` answers it `canceled` instead of running it (`baton wait {}`)",
                esc(&a.id),
                row.attempts + 1,
                esc(&a.id)
            );
        }
        return Ok(0);
    }
    let Some((file, task)) = waiting(&tree, &a.id)? else {
        let why = match row {
            Some(row) if row.state.is_in_flight() => format!(
                "it is {} in `baton serve` now; a TASK is canceled only while it waits in an inbox",
                row.state.as_str()
            ),
            Some(row) => format!("it has finished ({}); `baton show {}` has its RETURN", row.state.as_str(), a.id),
            None => format!("no TASK with that id waits in an inbox under {}", tree.root.display()),
        };
        bail!("{:?} cannot be canceled: {why}", a.id);
    };
    let shared = ledger.is_shared();
    let done = cancel_waiting(&tree, &a.id, &file, &task, shared, "canceled by `baton cancel` before it was picked up")
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let at = baton_handoff::stamp::rfc3339(baton_handoff::stamp::now());
    let detail = json!({"by": "cli", "filed": done.filed, "return": done.written, "message": done.message});
    let mut ledger = ledger;
    if let Err(e) = ledger.batch(|b| b.event(&a.id, &at, "canceled", &detail)) {
        eprintln!("warning: {} was canceled, but the ledger did not record it: {e}", a.id);
    }
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"id": a.id, "filed": done.filed, "return": done.written}))?
        );
    } else {
        println!(
            "canceled {}: filed {}, RETURN `canceled` in {}",
            esc(&a.id),
            done.filed.display(),
            done.written.display()
        );
    }
    Ok(0)
}

/// The TASK with `id` waiting in an inbox under the tree (baton's own or an agent's): its
/// file and body. Files are read only when their name carries the id or is not baton's.
fn waiting(tree: &Tree, id: &str) -> Result<Option<(PathBuf, TaskBody)>> {
    for agent in tree.agents() {
        let inbox = tree.root.join(&agent).join(baton_home::config::INBOX);
        let Ok(entries) = std::fs::read_dir(&inbox) else { continue };
        for e in entries.flatten() {
            let path = e.path();
            if !e.file_type().is_ok_and(|t| t.is_file()) || e.file_name().as_encoded_bytes().starts_with(b".") {
                continue;
            }
            let Ok(bytes) = baton_fs::read_capped(&path, tree.max_file_bytes) else { continue };
            let Ok((baton_handoff::Body::Task(task), _)) = baton_handoff::parse(&bytes) else { continue };
            if task.id == id {
                return Ok(Some((path, task)));
            }
        }
    }
    Ok(None)
}

/// What [`cancel_waiting`] did.
pub struct Canceled {
    /// Where the TASK was filed (its recipient's `02_processed/`).
    pub filed: PathBuf,
    /// Where the `canceled` RETURN was written (a reply inbox, or a Claude inbox's file).
    pub written: PathBuf,
    pub ret: Value,
    /// The Claude inbox message id, when the RETURN went into a Claude inbox.
    pub message: Option<String>,
}

/// Why [`cancel_waiting`] did not cancel: the TASK cannot be (nothing moved), or a step failed.
#[derive(Debug, thiserror::Error)]
pub enum CancelError {
    #[error("task {id} {why}")]
    NotCancelable { id: String, why: String },
    #[error("{0}")]
    Failed(String),
}

/// Cancels the TASK `task` waiting at `file`: the file is moved out of the inbox (one rename:
/// if its recipient took it first, the rename fails and the task runs on) into its
/// `02_processed/`, then answered `canceled`, once, where its RETURN would go.
pub fn cancel_waiting(
    tree: &Tree,
    id: &str,
    file: &Path,
    task: &TaskBody,
    shared_ledger: bool,
    summary: &str,
) -> Result<Canceled, CancelError> {
    let not_cancelable = |why: &str| CancelError::NotCancelable { id: id.to_string(), why: why.to_string() };
    let failed = |e: &dyn std::fmt::Display| CancelError::Failed(e.to_string());
    let agent_dir = file.parent().and_then(Path::parent).ok_or_else(|| failed(&"no agent folder"))?;
    let recipient = agent_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if recipient == tree.baton && shared_ledger {
        return Err(not_cancelable(
            "waits in baton's inbox on a shared PostgreSQL ledger, where a claim is a row taken without moving the file; it cannot be canceled safely",
        ));
    }
    // Where the `canceled` RETURN goes, found before the TASK is moved: a `TEAM/AGENT` gets it
    // as a message in its Claude inbox; one that no claude-team mailbox has is refused here,
    // with nothing moved.
    let mailbox = match baton_handoff::names::team_agent(task.reply_agent()) {
        Some(_) => Some(crate::claude_inbox::recipient(&tree.ctx(), task.reply_agent(), false).map_err(|e| {
            not_cancelable(&format!(
                "replies to {:?}, and its `canceled` RETURN could not be delivered ({e:#}); nothing was moved",
                task.reply_agent()
            ))
        })?),
        None => None,
    };
    let processed = agent_dir.join("02_processed");
    baton_fs::ensure_dir(&processed).map_err(|e| failed(&e))?;
    let name = file.file_name().ok_or_else(|| failed(&"no file name"))?;
    let filed = processed.join(name);
    if let Err(e) = baton_fs::rename_noreplace(file, &filed) {
        return Err(if e.kind() == std::io::ErrorKind::NotFound {
            not_cancelable("was picked up just now; it cannot be canceled any more")
        } else {
            failed(&format!("moving {} to {}: {e}", file.display(), filed.display()))
        });
    }
    let answer = NewReturn { status: Status::Canceled, summary: summary.into(), result: None, artifacts: vec![] };
    let ret = build::reply(task, &recipient, &answer).map_err(|e| failed(&e.message))?;
    let (written, message) = match &mailbox {
        Some(r) => {
            let m = crate::claude_inbox::deliver_return(&tree.ctx(), r, id, &ret).map_err(|e| {
                failed(&format!(
                    "task {id} was canceled (filed {}), but its `canceled` RETURN was not delivered: {e:#}",
                    filed.display()
                ))
            })?;
            (r.inbox.clone(), Some(m))
        }
        None => {
            let reply_inbox = tree.reply_inbox(task.reply_agent()).map_err(|e| failed(&format!("{e:#}")))?;
            let written = crate::write_new(&reply_inbox, &build::return_file_name(&ret), &ret)
                .map_err(|e| failed(&format!("{e:#}")))?;
            (written, None)
        }
    };
    Ok(Canceled { filed, written, ret, message })
}
