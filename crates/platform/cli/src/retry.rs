//! `baton retry ID|FILE` and `baton retry --all [--code CODE] [--plugin P] [--yes]`: failed
//! handoffs back into baton's inbox, each as a new attempt of the same handoff. A bulk retry
//! only lists what it would move until `--yes` is given. The selection and the moves are
//! `baton_pipeline::retry`'s, shared with the dashboard.
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use serde_json::json;

use baton_ledger::TaskState;
use baton_pipeline::Paths;
use baton_pipeline::retry::{self, FailedHandoff, RetryFilter};

use crate::Ctx;
use crate::text::esc;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  baton retry 01JABC…                      run one failed handoff again (by id)\n  \
baton retry 20260118T070951Z__TASK__X__Me.json   (by its file name in 03_failed/)\n  \
baton retry --all --code unknown_action  list what would move\n  \
baton retry --all --plugin echo --yes    move them"
)]
pub struct RetryArgs {
    /// The failed handoff: its id, or its file name in 03_failed/.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub target: Option<String>,
    /// Every failed handoff (narrowed by --code and --plugin); lists them unless --yes.
    #[arg(long)]
    pub all: bool,
    /// Only those that failed with this error code (e.g. unknown_action, timeout).
    #[arg(long, value_name = "CODE")]
    pub code: Option<String>,
    /// Only TASKs for this plugin.
    #[arg(long, value_name = "PLUGIN")]
    pub plugin: Option<String>,
    /// With --all: move them (without it, only list what would move).
    #[arg(long)]
    pub yes: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(ctx: &Ctx, a: RetryArgs) -> Result<i32> {
    crate::home_check::require(&ctx.home)?;
    let cfg = ctx.config()?;
    let paths = Paths::new(&ctx.home, &ctx.state, &cfg);
    let ledger = baton_ledger::Ledger::open_at(&ctx.location)?;
    let filter = RetryFilter { target: a.target.clone(), code: a.code.clone(), plugin: a.plugin.clone() };
    let select = || retry::select_failed(&paths, &cfg.agent, &ledger, &filter);
    let mut selected = select()?;
    let failed_dir = paths.failed(&cfg.agent);
    if let Some(target) = &a.target
        && selected.is_empty()
    {
        let state;
        (selected, state) = wait_for_filing(target, &ledger, &select)?;
        if selected.is_empty() {
            if let Some(state) = state.filter(|s| s.is_in_flight()) {
                bail!(
                    "{target:?} has not failed: the ledger says it is {} (`baton serve` has it); \
                     `baton wait {target}` waits for its RETURN",
                    state.as_str()
                );
            }
            bail!(
                "no failed handoff with id or file name {target:?}{} in {}; `baton retry --all` lists them",
                narrowed(&a),
                failed_dir.display()
            );
        }
    }
    if a.all && !a.yes {
        if a.json {
            println!("{}", serde_json::to_string_pretty(&json!({"dry_run": true, "would_move": selected}))?);
        } else {
            println!(
                "{} failed handoff(s){} in {} would move back into the inbox:",
                selected.len(),
                narrowed(&a),
                failed_dir.display()
            );
            for f in &selected {
                println!("  {}", line(f));
            }
            if !selected.is_empty() {
                println!("run it again with --yes to move them");
            }
        }
        return Ok(0);
    }
    let out = retry::retry_selected(&paths, &cfg.agent, &ledger, selected)?;
    if a.target.is_some()
        && let Some(r) = out.refused.first()
    {
        bail!("{}", r.reason);
    }
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"dry_run": false, "moved": out.moved, "refused": out.refused}))?
        );
    } else {
        for m in &out.moved {
            println!("moved back to {}; `baton serve` will run it again", m.to.display());
        }
        for r in &out.refused {
            println!("NOT MOVED {}: {}", esc(&r.handoff.name), esc(&r.reason.to_string()));
        }
        if a.all {
            println!("{} moved, {} not moved", out.moved.len(), out.refused.len());
        }
    }
    Ok(if out.refused.is_empty() { 0 } else { 1 })
}

/// How long `baton retry ID` waits for `baton serve` to file a handoff the ledger says is
/// failed or still in flight ([`wait_for_filing`]).
const FILING_GRACE: Duration = Duration::from_secs(10);

/// Selects again every 50 ms, up to [`FILING_GRACE`], while nothing is selected and the ledger
/// says `target` failed or is still in flight; returns the selection and the row's last state.
///
/// Why: serve delivers a TASK's RETURN before it records the result and files the original
/// (the pipeline's steps 4–6, the order its crash safety rests on). An agent that retries the
/// moment it reads a refusal can come while the row still says `claimed`, or says `failed`
/// before the file reaches `03_failed/`: "no failed handoff" would be wrong then. A TASK that
/// is really running gets its own clear answer once the grace is over.
fn wait_for_filing(
    target: &str,
    ledger: &baton_ledger::Ledger,
    select: &impl Fn() -> Result<Vec<FailedHandoff>, baton_pipeline::PipelineError>,
) -> Result<(Vec<FailedHandoff>, Option<TaskState>)> {
    let until = Instant::now() + FILING_GRACE;
    let mut said = false;
    loop {
        let state = ledger.task(target)?.map(|r| r.state);
        let in_flight_or_failed =
            state.is_some_and(|s| s.is_in_flight() || matches!(s, TaskState::Failed | TaskState::Rejected));
        if !in_flight_or_failed || Instant::now() >= until {
            return Ok((Vec::new(), state));
        }
        if !said {
            eprintln!(
                "waiting for `baton serve` to file {target:?} in 03_failed/ (the ledger says it is {})",
                state.map_or("unknown", TaskState::as_str)
            );
            said = true;
        }
        std::thread::sleep(Duration::from_millis(50));
        let selected = select()?;
        if !selected.is_empty() {
            return Ok((selected, state));
        }
    }
}

/// " (code X, plugin P)" for the filters given.
fn narrowed(a: &RetryArgs) -> String {
    let mut parts = Vec::new();
    if let Some(c) = &a.code {
        parts.push(format!("code {c}"));
    }
    if let Some(p) = &a.plugin {
        parts.push(format!("plugin {p}"));
    }
    if parts.is_empty() { String::new() } else { format!(" ({})", parts.join(", ")) }
}

fn line(f: &FailedHandoff) -> String {
    format!(
        "{}  id {}  plugin {}  {}{}",
        esc(&f.name),
        esc(f.id.as_deref().unwrap_or("-")),
        esc(f.plugin.as_deref().unwrap_or("-")),
        esc(f.code.as_deref().unwrap_or("-")),
        f.message.as_deref().map(|m| format!(": {}", esc(&shorten(m, 100)))).unwrap_or_default()
    )
}

/// `s` cut to at most `max` characters, with an ellipsis when cut.
fn shorten(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}
