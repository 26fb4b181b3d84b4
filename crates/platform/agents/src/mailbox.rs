//! Other agents' mailboxes at the command line: `baton mailbox add` (the `[mailboxes.NAME]`
//! table written into baton.toml) and `list`, `serve`'s observer thread, and delivery into a
//! Claude Code inbox with its receipt (`written`, `read`, `answered`, `lost`), which `send`,
//! `show` and `wait` use. The reading and the lock are `baton_mailbox`'s; what the home's
//! `status` shows of mailboxes, and their record in the ledger, is `baton_cli::mailboxes`.
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::json;

use baton_mailbox::report::{self, Mailbox};
use baton_mailbox::settings::{self, Kind};
use baton_mailbox::{claude, deliver};

use baton_cli::Ctx;
use baton_cli::mailboxes::{configured, observe, text};

#[derive(clap::Subcommand, Debug)]
#[command(defer = true)] // flags defined when the command runs (see `baton_app`'s `Command`)
pub enum MailboxCommand {
    /// Add a `[mailboxes.NAME]` table to baton.toml: `claude-team [PATH]` (default
    /// `~/.claude/teams`), `folders PATH` or `agent-mail PATH` (an mcp_agent_mail archive).
    /// Reading it changes nothing there.
    Add(AddArgs),
    /// The configured mailboxes and what is in them (as `status` shows).
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
            let boxes = report::read_all(&configured(&ctx.config()?)?, &ctx.home);
            if json {
                println!("{}", serde_json::to_string_pretty(&boxes.iter().map(Mailbox::to_json).collect::<Vec<_>>())?);
            } else {
                print!("{}", text(&boxes, std::time::Duration::from_secs(48 * 3600)));
            }
            Ok(0)
        }
    }
}

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
    Ok(0)
}

/// A bare TOML key from a folder path's last part.
fn key_of(path: &str) -> String {
    let last = Path::new(path).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let k: String =
        last.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    if k.trim_matches('_').is_empty() { "folders".into() } else { k }
}

/// How often `serve` reads the configured mailboxes.
const OBSERVE_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// `serve`'s mailbox observer: a thread that records every new message of the configured
/// mailboxes in the ledger every few seconds, so a message's history is kept even when its
/// agent clears the inbox between two `baton status`. It only reads the mailboxes; with none
/// configured it does nothing. A failed pass is logged (rate-limited by its interval) and the
/// next one tries again.
pub fn spawn_observer(ctx: Ctx) -> Option<std::thread::JoinHandle<()>> {
    let boxes = ctx.config().ok().and_then(|cfg| configured(&cfg).ok()).filter(|b| !b.is_empty())?;
    let spawned = std::thread::Builder::new().name("mailboxes".into()).spawn(move || {
        let mut failing = false;
        loop {
            let pass = baton_ledger::Ledger::open_at(&ctx.location)
                .map_err(anyhow::Error::from)
                .and_then(|mut ledger| observe(&ctx, &mut ledger, &boxes));
            match pass {
                Ok(_) => failing = false,
                Err(e) if !failing => {
                    tracing::warn!(
                        "mailboxes: reading them failed ({e:#}); trying again every {}s",
                        OBSERVE_EVERY.as_secs()
                    );
                    failing = true;
                }
                Err(_) => {}
            }
            std::thread::sleep(OBSERVE_EVERY);
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
        from: from.to_string(),
        text: text.to_string(),
        summary: summary.map(str::to_string),
        timestamp: timestamp.clone(),
    };
    deliver::deliver(&r.inbox, &msg)?;
    let id = r.message_id(&msg);
    let mut ledger = baton_ledger::Ledger::open_at(&ctx.location)?;
    ledger.batch(|w| w.event(&id, &timestamp, "delivered", &r.delivered_detail(&msg)))?;
    tracing::info!(id = %id, inbox = %r.inbox.display(), "delivered");
    Ok(id)
}

/// Delivers a RETURN written outside the pipeline (`baton reply`, A2A's cancel) into the Claude
/// inbox of the TASK's reply agent `TEAM/AGENT`, as the pipeline delivers its own: one message
/// made from the RETURN's bytes alone ([`baton_pipeline::return_message`]), appended under
/// Claude Code's lock unless it is there already (a reply finished again after a crash appends
/// nothing), then recorded once: `delivered` under the message's id and `return_delivered`
/// under the TASK's, so `baton show TASK --json` has its `"delivery"`. Returns the message's id.
pub fn deliver_return(ctx: &Ctx, r: &Recipient, task_id: &str, ret: &serde_json::Value) -> Result<String> {
    let bytes = serde_json::to_vec_pretty(ret)?;
    let msg = baton_pipeline::return_message(&bytes, "baton");
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
    let mut ledger = baton_ledger::Ledger::open_at(&ctx.location)?;
    if ledger.events(&id)?.iter().any(|e| e.event == "delivered") {
        return Ok(());
    }
    let now = baton_handoff::stamp::rfc3339(baton_handoff::stamp::now());
    ledger.batch(|w| baton_pipeline::record_return(w, r, msg, task_id, &now))?;
    Ok(())
}

/// A delivery's state now: `written`, `read`, `answered` or `lost`, from the inbox and the
/// ledger; each state reached is recorded once as an event (`delivery_read`, …), so a read
/// message the inbox has since dropped stays read. For a TASK whose RETURN the pipeline
/// appended to a Claude inbox (a `return_delivered` event naming the message), that message's
/// state. `None`: the id is no delivery.
pub fn delivery(ledger: &mut baton_ledger::Ledger, id: &str) -> Result<Option<&'static str>> {
    let events = ledger.events(id)?;
    let Some(d) = events.iter().find(|e| e.event == "delivered") else {
        // A TASK answered into a Claude inbox: its RETURN's message tells.
        let message =
            events.iter().rev().find(|e| e.event == "return_delivered").and_then(|e| e.detail["message"].as_str());
        return match message {
            Some(m) if m != id => delivery(ledger, m),
            _ => Ok(None),
        };
    };
    let had = |name: &str| events.iter().any(|e| e.event == name);
    if had("delivery_answered") {
        return Ok(Some("answered"));
    }
    let s = |k: &str| d.detail[k].as_str().unwrap_or_default().to_string();
    let (agent, from, timestamp, inbox) = (s("agent"), s("from"), s("timestamp"), PathBuf::from(s("inbox")));
    let short = agent.rsplit('/').next().unwrap_or(&agent).to_string();
    let now_read = match claude::parse_inbox(&std::fs::read(&inbox).unwrap_or_default()) {
        Ok((msgs, _)) => {
            msgs.iter().find(|m| claude::message_id(&agent, &m.from, &m.timestamp, &m.text) == id).map(|m| m.read)
        }
        Err(_) => None,
    };
    let read = had("delivery_read") || now_read == Some(true);
    let lost = !read && now_read.is_none();
    // Answered: once read, the agent wrote back to the sender's inbox in the same team after
    // the delivery.
    let sent_at = baton_handoff::stamp::parse_rfc3339(&timestamp);
    let back = inbox.with_file_name(format!("{from}.json"));
    let answered = read
        && claude::parse_inbox(&std::fs::read(&back).unwrap_or_default())
            .map(|(msgs, _)| msgs.iter().any(|m| m.from == short && m.at.zip(sent_at).is_some_and(|(a, s)| a > s)))
            .unwrap_or(false);
    let now = baton_handoff::stamp::rfc3339(baton_handoff::stamp::now());
    let (state, record) = if answered {
        ("answered", Some("delivery_answered"))
    } else if read {
        ("read", (!had("delivery_read")).then_some("delivery_read"))
    } else if lost {
        ("lost", (!had("delivery_lost")).then_some("delivery_lost"))
    } else {
        ("written", None)
    };
    if let Some(ev) = record {
        if answered && !had("delivery_read") {
            ledger.batch(|w| w.event(id, &now, "delivery_read", &json!({})))?;
        }
        ledger.batch(|w| w.event(id, &now, ev, &json!({"inbox": inbox})))?;
    }
    Ok(Some(state))
}

/// Whether `state` has reached `until` (`read` is reached by `answered` too).
pub fn reached(state: &str, until: &str) -> bool {
    match until {
        "read" => matches!(state, "read" | "answered"),
        "answered" => state == "answered",
        _ => state != "written",
    }
}

/// Whether `id` is a mailbox message's (`cm-…` Claude Code, `fm-…` folder mailbox, `am-…`
/// mcp_agent_mail archive).
pub fn is_message_id(id: &str) -> bool {
    (id.starts_with("cm-") || id.starts_with("fm-") || id.starts_with("am-")) && id.len() == 23
}

/// A mailbox message as the ledger recorded it when first seen.
pub struct Seen {
    pub id: String,
    pub agent: String,
    pub path: PathBuf,
}

/// The message `id` if the ledger saw it in a mailbox.
pub fn seen(ledger: &baton_ledger::Ledger, id: &str) -> Result<Option<Seen>> {
    Ok(ledger.events(id)?.into_iter().find(|e| e.event == "mailbox_seen" || e.event == "delivered").map(|e| {
        let s = |k: &str| e.detail[k].as_str().unwrap_or_default().to_string();
        let path = if e.event == "delivered" { s("inbox") } else { s("path") };
        Seen { id: id.to_string(), agent: s("agent"), path: PathBuf::from(path) }
    }))
}

/// Records that the caller read a mailbox message: an `acknowledged` event in the ledger, and
/// nothing else (the mailbox's file is left as it is). Returns whether it was acknowledged before.
pub fn acknowledge(ledger: &mut baton_ledger::Ledger, m: &Seen) -> Result<bool> {
    if ledger.events(&m.id)?.iter().any(|e| e.event == "acknowledged") {
        return Ok(true);
    }
    let now = baton_handoff::stamp::rfc3339(baton_handoff::stamp::now());
    let detail = json!({"agent": m.agent, "file": m.path, "mailbox": true});
    ledger.batch(|w| w.event(&m.id, &now, "acknowledged", &detail))?;
    Ok(false)
}
