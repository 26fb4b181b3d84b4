//! `baton retry ID|FILE` and `baton retry --all [--code CODE] [--plugin P] [--yes]`: failed
//! handoffs back into baton's inbox, each as a new attempt of the same handoff. A bulk retry
//! only lists what it would move until `--yes` is given. The selection and the moves are
//! `baton_pipeline::retry`'s, shared with the dashboard.
//!
//! A handoff refused for what it is (`invalid`, `unknown_action`, `invalid_params`, ...) fails
//! the same way unchanged: it is retried only with `--params` (checked against the action's
//! schema first, the edit kept in its history) or `--force`.
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::json;

use baton_home::Paths;
use baton_ledger::TaskState;
use baton_pipeline::retry::{self, FailedHandoff, RetryFilter};

use baton_cli::Ctx;
use baton_cli::text::esc;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  baton retry 01JABC…                      run one failed handoff again (by id)\n  \
baton retry 20260118T070951Z__TASK__X__Me.json   (by its file name in 03_failed/)\n  \
baton retry --all --code unknown_action  list what would move\n  \
baton retry --all --plugin echo --yes    move them\n  \
baton retry 01JABC… --params '{\"text\": \"hi\"}'   edit its params, then run it again"
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
    /// Run it again with these params (JSON, @FILE or - for stdin), checked against its
    /// action's schema first: same id, one RETURN, the edit in its history (`baton show`).
    #[arg(long, value_name = "JSON|@FILE|-", requires = "target")]
    pub params: Option<String>,
    /// Retry unchanged a handoff refused for its file, plugin, action or params, which will
    /// most likely be refused again (without it, such a retry is refused with the fix).
    #[arg(long)]
    pub force: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(ctx: &Ctx, a: RetryArgs) -> Result<i32> {
    baton_cli::home_check::require(&ctx.home)?;
    let cfg = ctx.config()?;
    let paths = Paths::new(&ctx.home, &ctx.state, &cfg);
    let mut ledger = ctx.connect()?;
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
    // Refused for what it is: only an edit changes the verdict. Left where it is, with the fix.
    let (unchanged, mut selected): (Vec<FailedHandoff>, Vec<FailedHandoff>) =
        selected.into_iter().partition(|f| !a.force && a.params.is_none() && fails_unchanged(f, &ledger, &paths));
    if let (Some(f), true) = (unchanged.first(), a.target.is_some()) {
        bail!("{}", unchanged_reason(f));
    }
    if let Some(raw) = &a.params
        && let Some(f) = selected.first_mut()
    {
        edit_params(ctx, &mut ledger, f, raw)?;
    }
    if a.all && !a.yes {
        if a.json {
            let not: Vec<_> = unchanged.iter().map(|f| json!({"handoff": f, "reason": unchanged_reason(f)})).collect();
            let out = json!({"dry_run": true, "would_move": selected, "would_not_move": not});
            println!("{}", serde_json::to_string_pretty(&out)?);
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
            if !unchanged.is_empty() {
                println!(
                    "{} more refused for what they are (file, plugin, action or params) would not move: unchanged they are refused again; edit them (`baton retry ID --params JSON`) or add --force",
                    unchanged.len()
                );
            }
        }
        return Ok(0);
    }
    let mut out = retry::retry_selected(&paths, &cfg.agent, &ledger, selected)?;
    for f in unchanged {
        out.refused.push(retry::Refused {
            reason: retry::RetryRefused::FailsUnchanged { why: unchanged_reason(&f) },
            handoff: f,
        });
    }
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

/// Whether `f` was refused for what it is and is still what was refused: its file still does
/// not parse, or parses to the content the ledger recorded for its id. A file fixed in place
/// (or a plugin's action that only an edit can change) is retried as usual.
fn fails_unchanged(f: &FailedHandoff, ledger: &baton_ledger::Ledger, paths: &Paths) -> bool {
    if !f.code.as_deref().is_some_and(baton_handoff::codes::fails_unchanged) {
        return false;
    }
    // A plugin installed since: the same TASK can run now.
    if f.code.as_deref() == Some("unknown_plugin")
        && f.plugin.as_ref().is_some_and(|p| paths.plugins.join(format!("{p}.wasm")).is_file())
    {
        return false;
    }
    let Ok(bytes) = std::fs::read(&f.file) else { return true };
    let Ok((_, value)) = baton_handoff::schema::parse(&bytes) else { return true };
    let id = value.get("id").and_then(serde_json::Value::as_str).unwrap_or_default();
    match ledger.task(id) {
        Ok(Some(row)) => row.content_hash == baton_handoff::schema::content_hash(&value),
        // Refused before the ledger knew its content (`invalid`): parsing now is the change.
        _ => f.code.as_deref() != Some("invalid"),
    }
}

/// Why a handoff refused for what it is is not retried as it is, and the two ways on.
fn unchanged_reason(f: &FailedHandoff) -> String {
    let who = f.id.as_deref().unwrap_or(&f.name);
    format!(
        "{who} was refused with `{}`{}: run again unchanged it is refused again; edit and retry (`baton retry {who} --params JSON`, or fix {} in place, then retry), or pass --force to run it as it is",
        f.code.as_deref().unwrap_or_default(),
        f.message.as_deref().map(|m| format!(" ({})", shorten(m, 160))).unwrap_or_default(),
        f.file.display()
    )
}

/// Writes the failed TASK again with `raw` as its params, once they fit its action's schema:
/// the original is kept in `.superseded/` (journalled), and the ledger records the edit
/// (`params_edited`, before and after) in the TASK's history. The retry then runs this content.
fn edit_params(ctx: &Ctx, ledger: &mut baton_ledger::Ledger, f: &FailedHandoff, raw: &str) -> Result<()> {
    let params = crate::json_arg(raw, "--params")?;
    let bytes = std::fs::read(&f.file).with_context(|| format!("reading {}", f.file.display()))?;
    let mut task: serde_json::Value =
        serde_json::from_slice(&bytes).with_context(|| format!("{} is not JSON; fix it in place", f.file.display()))?;
    let (Some(plugin), Some(action)) = (task["plugin"].as_str(), task["action"].as_str()) else {
        bail!("{} names no plugin and action: --params edits a TASK for a plugin", f.file.display());
    };
    let tree = crate::Tree::open(ctx)?;
    let act = crate::check::action(&tree, plugin, action)?;
    crate::check::params(plugin, &act, &params)?;
    let before = std::mem::replace(&mut task["params"], params);
    let edited = serde_json::to_vec_pretty(&task)?;
    baton_handoff::schema::parse(&edited)
        .map_err(|e| anyhow::anyhow!("the edited TASK is not valid: {}", e.message))?;
    baton_pipeline::retry::replace_failed(&f.file, &edited)?;
    let id = task["id"].as_str().unwrap_or_default();
    let detail = json!({"before": before, "after": task["params"], "file": f.file});
    let at = baton_handoff::stamp::rfc3339(baton_handoff::stamp::now());
    ledger.batch(|w| w.event(id, &at, "params_edited", &detail))?;
    Ok(())
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
