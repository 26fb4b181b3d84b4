//! Other agents' mailboxes at the command line: `baton mailbox add` (the `[mailboxes.NAME]`
//! table written into baton.toml) and `list`, and `serve`'s observer thread. Delivery into a
//! Claude Code inbox is [`crate::claude_inbox`]; the reading and the lock are
//! `baton_mailbox`'s; what the home's `status` shows of mailboxes, and their record in the
//! ledger, is `baton_cli::mailboxes`.
use std::path::PathBuf;

use anyhow::{Context, Result, bail};

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
    let name = a.name.unwrap_or_else(|| settings::default_name(kind, &path));
    let file = ctx.home.join("baton.toml");
    let before = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let table = settings::NewTable {
        name: &name,
        kind,
        path: &path,
        inbox: &a.inbox,
        done: &a.done,
        outbox: &a.outbox,
        zone: a.zone.as_deref(),
    };
    let after = settings::with_table(&before, &table).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
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
    let unseen_after = crate::claude_inbox::unseen_after(&ctx);
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
