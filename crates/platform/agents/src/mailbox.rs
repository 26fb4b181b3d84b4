//! Other agents' mailboxes at the command line: `baton mailbox add` (the `[mailboxes.NAME]`
//! table written into baton.toml) and `list`, `serve`'s observer thread, and delivery into a
//! Claude Code inbox with its receipt (`written`, `read`, `answered`, `lost`), which `send`,
//! `show` and `wait` use. The reading and the lock are `baton_mailbox`'s; what the home's
//! `status` shows of mailboxes, and their record in the ledger, is `baton_cli::mailboxes`.
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::json;

use baton_mailbox::deliver;
use baton_mailbox::report;
use baton_mailbox::settings::{self, Kind};

use baton_cli::Ctx;
use baton_cli::mailboxes::{configured, observe, text};

#[derive(clap::Subcommand, Debug)]
#[command(defer = true)] // flags defined when the command runs (see `baton_app`'s `Command`)
pub enum MailboxCommand {
    /// Add a `[mailboxes.NAME]` table to baton.toml: `claude-team [PATH]` (default
    /// `~/.claude/teams`), `folders PATH` or `agent-mail PATH` (an mcp_agent_mail archive).
    /// Reading it changes nothing there.
    Add(AddArgs),
    /// The configured mailboxes and what is in them (as `status` shows); `--json`: each
    /// mailbox with its agents in `inboxes` (items by state, `counts`, `ack_required`).
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum KindArg {
    ClaudeTeam,
    Folders,
    AgentMail,
}

#[derive(clap::Args, Debug)]
pub struct AddArgs {
    #[arg(value_enum)]
    pub kind: KindArg,
    /// claude-team: the folder holding `<team>/inboxes/` (default `~/.claude/teams`); folders:
    /// the folder holding one folder per agent. Written as given (`~` is your home).
    pub path: Option<String>,
    /// The table's name (default `claude` or the folder's name).
    #[arg(long)]
    pub name: Option<String>,
    /// folders: the inbox folders inside each agent's folder (default `inbox`).
    #[arg(long, num_args = 1..)]
    pub inbox: Vec<String>,
    /// folders: the done folders (default `done`, `completed`, `processed`).
    #[arg(long, num_args = 1..)]
    pub done: Vec<String>,
    /// folders: the outbox folders (default `outbox`).
    #[arg(long, num_args = 1..)]
    pub outbox: Vec<String>,
    /// The IANA zone of times written without one (default: this machine's).
    #[arg(long)]
    pub zone: Option<String>,
}

pub fn run(cmd: MailboxCommand, ctx: &Ctx) -> Result<i32> {
    match cmd {
        MailboxCommand::Add(a) => add(ctx, a),
        MailboxCommand::List { json } => {
            let mut boxes = report::read_all_indexed(&configured(&ctx.config()?)?, &ctx.home, ctx.state.parent());
            let ledger = ctx.connect()?;
            baton_mailbox::record::acknowledgements(&ledger, &mut boxes).map_err(|e| anyhow::anyhow!("{e}"))?;
            if json {
                let now = time::OffsetDateTime::now_utc();
                let list: Vec<serde_json::Value> =
                    boxes.iter().map(|m| m.to_json_with_inboxes(now, STALE_AFTER)).collect();
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                print!("{}", text(&boxes, STALE_AFTER));
            }
            Ok(0)
        }
    }
}

/// The stale age `mailbox list` flags by.
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(48 * 3600);

fn add(ctx: &Ctx, a: AddArgs) -> Result<i32> {
    let kind = match a.kind {
        KindArg::ClaudeTeam => Kind::ClaudeTeam,
        KindArg::Folders => Kind::Folders,
        KindArg::AgentMail => Kind::AgentMail,
    };
    let path = match (kind, a.path) {
        (_, Some(p)) => p,
        (Kind::ClaudeTeam, None) => "~/.claude/teams".to_string(),
        (Kind::Folders, None) => bail!("give the folder holding the agents' folders: `baton mailbox add folders PATH`"),
        (Kind::AgentMail, None) => {
            bail!("give the mcp_agent_mail archive (or one project folder in it): `baton mailbox add agent-mail PATH`")
        }
    };
    if kind != Kind::Folders && (!a.inbox.is_empty() || !a.done.is_empty() || !a.outbox.is_empty()) {
        bail!(
            "--inbox, --done and --outbox are for `folders` mailboxes; a {} mailbox's layout is fixed",
            kind.as_str()
        );
    }
    let name = a.name.unwrap_or_else(|| match kind {
        Kind::ClaudeTeam => "claude".into(),
        Kind::Folders | Kind::AgentMail => key_of(&path),
    });
    let file = ctx.home.join("baton.toml");
    let before = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let mut doc: toml_edit::DocumentMut =
        before.parse().with_context(|| format!("{} is not valid TOML", file.display()))?;
    let boxes = doc.entry(settings::SECTION).or_insert_with(|| {
        let mut t = toml_edit::Table::new();
        t.set_implicit(true);
        toml_edit::Item::Table(t)
    });
    let Some(boxes) = boxes.as_table_mut() else { bail!("{}: `mailboxes` is not a table", file.display()) };
    if boxes.contains_key(&name) {
        bail!("{}: [mailboxes.{name}] is there already; pass --name to add another", file.display());
    }
    let mut t = toml_edit::Table::new();
    t["kind"] = toml_edit::value(kind.as_str());
    t["path"] = toml_edit::value(path.clone());
    for (key, list) in [("inbox", &a.inbox), ("done", &a.done), ("outbox", &a.outbox)] {
        if !list.is_empty() {
            t[key] = toml_edit::value(list.iter().map(String::as_str).collect::<toml_edit::Array>());
        }
    }
    if let Some(z) = &a.zone {
        t["zone"] = toml_edit::value(z.as_str());
    }
    boxes.insert(&name, toml_edit::Item::Table(t));
    let after = doc.to_string();
    let refused = |e: String| anyhow::anyhow!("refused (the file is unchanged): {e}");
    let cfg = ctx.parse_config(&after).map_err(|e| refused(e.to_string()))?;
    let parsed = settings::parse(cfg.sections.get(settings::SECTION)).map_err(|e| refused(e.to_string()))?;
    let real = std::fs::canonicalize(&file).unwrap_or_else(|_| file.clone());
    let backup = PathBuf::from(format!("{}.bak", real.display()));
    baton_cli::plugin::plugin_grant::write_atomically(&real, &backup, &before, &after)?;
    let resolved = parsed.get(&name).map(|s| s.resolved_path(&ctx.home)).unwrap_or_default();
    println!(
        "added [mailboxes.{name}] ({}) reading {}\n  wrote {} (previous version: {})",
        kind.as_str(),
        resolved.display(),
        file.display(),
        backup.display()
    );
    if !resolved.is_dir() {
        eprintln!("warning: {} does not exist yet; `baton status` says so until it does", resolved.display());
    }
    // `serve` reads the [mailboxes] tables when it starts.
    if crate::Tree::open(ctx).is_ok_and(|t| crate::waiting::serve_running(ctx, &t)) {
        eprintln!(
            "note: a `baton serve` is running for this home: restart it to record the new mailbox's messages as they come"
        );
    }
    Ok(0)
}

/// A bare TOML key from a folder path's last part.
fn key_of(path: &str) -> String {
    let last = Path::new(path).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let k: String =
        last.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    if k.trim_matches('_').is_empty() { "folders".into() } else { k }
}

/// How often `serve`'s observer looks at the deliveries' receipts.
const TICK: std::time::Duration = std::time::Duration::from_secs(1);

/// Every how many ticks it reads the configured mailboxes (every 5 s).
const OBSERVE_EVERY_TICKS: u64 = 5;

/// `serve`'s mailbox observer: a thread that records every new message of the configured
/// mailboxes in the ledger every few seconds, so a message's history is kept even when its
/// agent clears the inbox between two `baton status`. It only reads the mailboxes; with none
/// configured it does nothing. A failed pass is logged (rate-limited by its interval) and the
/// next one tries again.
pub fn spawn_observer(ctx: Ctx) -> Option<std::thread::JoinHandle<()>> {
    let boxes = ctx.config().ok().and_then(|cfg| configured(&cfg).ok()).filter(|b| !b.is_empty())?;
    let unseen_after = unseen_after(&ctx);
    let spawned = std::thread::Builder::new().name("mailboxes".into()).spawn(move || {
        let mut failing = false;
        let mut ledger: Option<baton_ledger::Ledger> = None;
        let mut transcripts = baton_mailbox::record::transcripts(&ctx.home, &ctx.state, &boxes);
        for tick in 0u64.. {
            let pass = (|| -> Result<()> {
                let l = match &mut ledger {
                    Some(l) => l,
                    None => ledger.insert(ctx.connect()?),
                };
                if tick % OBSERVE_EVERY_TICKS == 0 {
                    observe(&ctx, l, &boxes)?;
                    baton_mailbox::record::record_tasks(&ctx.home, l, &boxes).map_err(|e| anyhow::anyhow!("{e}"))?;
                }
                // Receipts every tick: `seen` within about a second of its transcript line.
                baton_mailbox::record::unseen(&ctx.home, &mut transcripts, l, &boxes, unseen_after)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                Ok(())
            })();
            match pass {
                Ok(()) => failing = false,
                Err(e) => {
                    // Opened again next time (a replaced state, a lost connection).
                    ledger = None;
                    if !failing {
                        tracing::warn!("mailboxes: reading them failed ({e:#}); trying again every second");
                        failing = true;
                    }
                }
            }
            std::thread::sleep(TICK);
        }
    });
    spawned.map_err(|e| tracing::warn!("mailboxes: no observer thread ({e}); `baton status` still records them")).ok()
}

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

/// Appends the message to the recipient's inbox under Claude Code's lock and records the
/// delivery in the ledger. Returns the message's id.
pub fn deliver_to(ctx: &Ctx, r: &Recipient, from: &str, text: &str, summary: Option<&str>) -> Result<String> {
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
    deliver::deliver(&r.inbox, &msg)?;
    let id = r.message_id(&msg);
    let mut ledger = ctx.connect()?;
    ledger.batch(|w| w.event(&id, &timestamp, "delivered", &detail))?;
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
    deliver_to(ctx, &r, &me, &text, Some(first).filter(|s| !s.is_empty()))
}

/// Whether `id` is a mailbox message's (`cm-…` Claude Code, `fm-…` folder mailbox, `am-…`
/// mcp_agent_mail archive).
pub fn is_message_id(id: &str) -> bool {
    (id.starts_with("cm-") || id.starts_with("fm-") || id.starts_with("am-")) && id.len() == 23
}
