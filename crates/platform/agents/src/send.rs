//! `baton send`: writes one valid, uniquely named TASK (for a plugin into baton's inbox, for an
//! agent into its `01_inbox/`), prints its id, and with `--wait` blocks until its RETURN.
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};

use baton_handoff::build::{self, NewTask, Target};

use super::{DirSync, Tree, wait};
use baton_cli::Ctx;

#[derive(clap::Args, Debug)]
pub struct SendArgs {
    /// The agent to send to (its `01_inbox/`). Unknown agents are refused; see --new-agent.
    #[arg(long, value_name = "AGENT", conflicts_with_all = ["plugin", "action", "params"])]
    pub to: Option<String>,
    /// The plugin baton runs the TASK with (into baton's own inbox); needs --action.
    #[arg(long, requires = "action")]
    pub plugin: Option<String>,
    /// The plugin's action.
    #[arg(long, requires = "plugin")]
    pub action: Option<String>,
    /// The action's params: a JSON object, inline, `@file` or `-` (stdin). Default `{}`.
    #[arg(long, value_name = "JSON|@FILE|-")]
    pub params: Option<String>,
    /// The title (optional for a plugin: default `<plugin>.<action>`).
    #[arg(long)]
    pub title: Option<String>,
    /// More for the recipient: a JSON object whose fields join the TASK, or text (kept as
    /// `"body"`); inline, `@file` or `-` (stdin).
    #[arg(long, value_name = "JSON|TEXT|@FILE|-")]
    pub body: Option<String>,
    /// The sender (whose inbox gets the RETURN). Default: $BATON_AGENT.
    #[arg(long, env = "BATON_AGENT")]
    pub from: Option<String>,
    /// The agent whose inbox gets the RETURN instead of the sender's.
    #[arg(long, value_name = "AGENT")]
    pub reply_to: Option<String>,
    #[arg(long, value_parser = ["low", "normal", "high", "urgent"])]
    pub priority: Option<String>,
    /// An RFC 3339 time, e.g. 2026-01-18T17:00:00Z.
    #[arg(long)]
    pub deadline: Option<String>,
    #[arg(long)]
    pub correlation_id: Option<String>,
    /// Create the recipient agent's inbox if it does not exist yet.
    #[arg(long)]
    pub new_agent: bool,
    /// With --to TEAM/AGENT: the Claude Code team task the message is about (`TEAM#N`, e.g.
    /// `alpha#2`). The ledger links the two; `baton show` of either names the other.
    #[arg(long, value_name = "TEAM#N", requires = "to")]
    pub claude_task: Option<String>,
    /// Block until the RETURN arrives and print it. Exit 0 completed, 1 any other status,
    /// 124 timeout.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after this many seconds (exit 124; the TASK stays pending). Default
    /// 60; `inf` waits forever.
    #[arg(long, value_name = "SECS", requires = "wait", default_value = "60")]
    pub timeout: Option<f64>,
    /// Print JSON: `{id, file}`, or with --wait exactly the RETURN object.
    #[arg(long)]
    pub json: bool,
}

/// What a send needs, from the command line or an MCP call.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub to: Option<String>,
    pub plugin: Option<String>,
    pub action: Option<String>,
    pub params: Option<Value>,
    pub title: Option<String>,
    pub body: Option<Value>,
    pub from: Option<String>,
    pub reply_to: Option<String>,
    pub priority: Option<String>,
    pub deadline: Option<String>,
    pub correlation_id: Option<String>,
    pub new_agent: bool,
}

/// A TASK written.
#[derive(Debug, Clone)]
pub struct Sent {
    pub id: String,
    pub file: PathBuf,
    /// Where its RETURN will land (for a `TEAM/AGENT`, the team's `inboxes/` folder: the
    /// RETURN is a message in its inbox file there, not a file of its own).
    pub reply_inbox: PathBuf,
    /// The names in its reply folders just before the TASK was written, when they were listed
    /// (only newer ones can answer); empty when the wait has a watch instead, or none waits.
    pub before: std::collections::HashSet<std::ffi::OsString>,
    /// The TASK's `created_at`.
    pub created_at: String,
    /// The reply agent's Claude inbox when it is `TEAM/AGENT`: the RETURN is a message there.
    pub mailbox: Option<crate::claude_inbox::Recipient>,
    /// Taken just before the TASK file was written: nothing can have answered it before.
    pub written: std::time::Instant,
    /// For a plugin: `serve` answers it.
    pub for_plugin: bool,
}

/// A TASK built and checked ([`super::check`]), not written yet.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub body: Value,
    /// The recipient's `01_inbox/`.
    pub inbox: PathBuf,
    pub reply_inbox: PathBuf,
    /// The reply agent's Claude inbox when it is `TEAM/AGENT`.
    pub mailbox: Option<crate::claude_inbox::Recipient>,
}

/// Validates and writes the TASK. Every refusal names the fix.
pub fn send(tree: &Tree, r: &Request) -> Result<Sent> {
    prepare(tree, r)?.write()
}

/// Validates and builds the TASK (the recipient exists, the body is schema-valid).
pub fn prepare(tree: &Tree, r: &Request) -> Result<Prepared> {
    let Some(from) = r.from.clone() else {
        bail!("no sender: pass --from NAME or set BATON_AGENT=NAME (your agent's name; its inbox gets the RETURN)");
    };
    let (target, inbox) = match (&r.to, &r.plugin, &r.action) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => bail!("give either --to AGENT or --plugin/--action, not both"),
        (Some(to), None, None) => {
            if to == &tree.baton {
                bail!("{to} is baton itself: send it work with --plugin NAME --action NAME");
            }
            let folder = tree.agent(to, r.new_agent)?;
            (Target::Agent { to: to.clone() }, tree.root.join(&folder).join(baton_home::config::INBOX))
        }
        (None, Some(plugin), Some(action)) => {
            let params = r.params.clone().unwrap_or_else(|| json!({}));
            if !params.is_object() {
                bail!("--params must be a JSON object, e.g. '{{\"path\": \"plans\"}}'");
            }
            let act = super::check::action(tree, plugin, action)?;
            super::check::params(plugin, &act, &params)?;
            let target = Target::Plugin { plugin: plugin.clone(), action: action.clone(), params };
            (target, tree.reply_inbox(&tree.baton)?)
        }
        (None, Some(_), None) => bail!("--plugin needs --action (see `baton plugin inspect NAME` for its actions)"),
        (None, None, Some(_)) => bail!("--action needs --plugin"),
        (None, None, None) => bail!("say whom the TASK is for: --to AGENT, or --plugin NAME --action NAME"),
    };
    if r.params.is_some() && matches!(target, Target::Agent { .. }) {
        bail!("--params is for a plugin's action; for an agent, say what to do with --title and --body");
    }
    let extra = match &r.body {
        None => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(Value::String(s)) => Map::from_iter([("body".to_string(), json!(s))]),
        Some(_) => bail!("--body must be a JSON object (its fields join the TASK) or text"),
    };
    let task = NewTask {
        from: from.clone(),
        target,
        title: r.title.clone(),
        reply_to: r.reply_to.clone(),
        priority: r.priority.clone(),
        deadline: r.deadline.clone(),
        correlation_id: r.correlation_id.clone(),
        extra,
    };
    let body = build::task(&task).map_err(|e| anyhow::anyhow!("the TASK would not be valid: {}", e.message))?;
    super::check::size(file_size(&body), tree.max_file_bytes)?;
    let reply_agent = r.reply_to.as_deref().unwrap_or(&from);
    let (reply_inbox, mailbox) = if baton_handoff::names::team_agent(reply_agent).is_some() {
        // A Claude Code team's agent: its RETURN is a message in its Claude inbox (appended by
        // serve); the team's `inboxes/` folder is named, never a folder made for it.
        let r = crate::claude_inbox::recipient(&tree.ctx(), reply_agent, false)
            .with_context(|| format!("the RETURN would go to {reply_agent:?}, and nothing was written"))?;
        (r.inbox.parent().map(Path::to_path_buf).unwrap_or_default(), Some(r))
    } else {
        (tree.reply_inbox(reply_agent)?, None)
    };
    Ok(Prepared { body, inbox, reply_inbox, mailbox })
}

impl Prepared {
    /// Writes the TASK into the recipient's inbox (atomically, never overwriting), for a caller
    /// that does not wait for its RETURN here, or whose waiter reads what a watch already running
    /// saw land ([`wait::Landings`]): the reply folders are not listed.
    pub fn write(self) -> Result<Sent> {
        self.write_after(Default::default())
    }

    /// [`Self::write`] for a caller that waits for the RETURN in this process: a watch on the
    /// folders it can land in is set before the TASK is written, so the wait reads only what
    /// lands after (no listing of a reply inbox that may hold thousands of unread RETURNs).
    /// Without a watch (none can be set there, or the RETURN is a Claude inbox message), the
    /// names in the reply inbox now ([`Sent::before`]). The inbox's sync runs beside the wait
    /// ([`DirSync`]): join it before the TASK is reported.
    pub fn write_watched(self) -> Result<(Sent, Option<wait::Watch>, DirSync)> {
        let watch = if self.mailbox.is_none() { wait::Watch::new(&wait::dirs_of(&self.reply_inbox)) } else { None };
        let (sent, synced) = self.write_syncing(watch.is_none())?;
        Ok((sent, watch, synced))
    }

    /// [`Self::write`], or [`Self::write_listed`] when `listed`, for a caller with more to do
    /// before it reports the TASK (A2A records it, then waits for its RETURN): the inbox's sync
    /// runs beside that work ([`DirSync`]); join it before the TASK is reported.
    pub fn write_syncing(self, listed: bool) -> Result<(Sent, DirSync)> {
        let before = if listed { self.listing() } else { Default::default() };
        let sent = self.place(before)?;
        let synced = DirSync::start(sent.file.parent().map(Path::to_path_buf).unwrap_or_default());
        Ok((sent, synced))
    }

    /// [`Self::write`] for a waiter without a watch: the names in the reply inbox now go in
    /// [`Sent::before`] (none of them answers this TASK). None for a RETURN that is a Claude
    /// inbox message: its waiter reads the inbox file, not the folder.
    pub fn write_listed(self) -> Result<Sent> {
        let before = self.listing();
        self.write_after(before)
    }

    fn listing(&self) -> std::collections::HashSet<std::ffi::OsString> {
        if self.mailbox.is_some() { Default::default() } else { wait::names_in(&self.reply_inbox) }
    }

    /// Names the TASK and syncs its inbox: when this returns, the TASK survives a crash.
    fn write_after(self, before: std::collections::HashSet<std::ffi::OsString>) -> Result<Sent> {
        let sent = self.place(before)?;
        if let Some(inbox) = sent.file.parent() {
            let _ = baton_fs::sync_dir(inbox);
        }
        Ok(sent)
    }

    /// Writes the TASK under its name (its bytes synced), the inbox not synced yet.
    fn place(self, before: std::collections::HashSet<std::ffi::OsString>) -> Result<Sent> {
        let Prepared { body, inbox, reply_inbox, mailbox } = self;
        let id = body["id"].as_str().unwrap_or_default().to_string();
        let written = std::time::Instant::now();
        let file = super::place_new(&inbox, &build::task_file_name(&body), &body)?;
        tracing::info!(id = %id, file = %file.display(), "sent");
        let created_at = body["created_at"].as_str().unwrap_or_default().to_string();
        let for_plugin = body.get("plugin").is_some();
        Ok(Sent { id, file, reply_inbox, before, created_at, mailbox, written, for_plugin })
    }
}

/// A TASK's size as [`super::write_new`] writes it (pretty JSON and a newline).
fn file_size(body: &Value) -> usize {
    serde_json::to_vec_pretty(body).map_or(usize::MAX, |b| b.len() + 1)
}

/// `--body`: a JSON object or string as given; other text kept as text.
fn body_arg(raw: &str) -> Result<Value> {
    let (text, source) = super::arg_text(raw, "--body")?;
    let trimmed = text.trim_start();
    match serde_json::from_str::<Value>(&text) {
        Ok(v) => Ok(v),
        Err(e) if trimmed.starts_with('{') || trimmed.starts_with('[') => {
            Err(e).with_context(|| format!("--body: {source} looks like JSON but is not valid JSON"))
        }
        Err(_) => Ok(Value::String(text)),
    }
}

pub fn run(ctx: &Ctx, a: SendArgs) -> Result<i32> {
    run_in(ctx, &Tree::open(ctx)?, a)
}

/// [`run`] on a tree its caller has opened already (`baton`'s front, which looks in it first).
pub fn run_in(ctx: &Ctx, tree: &Tree, a: SendArgs) -> Result<i32> {
    let timeout = super::timeout_arg(a.timeout)?;
    let params = a.params.as_deref().map(|p| super::json_arg(p, "--params")).transpose()?;
    let body = a.body.as_deref().map(body_arg).transpose()?;
    if let Some(to) = a.to.as_deref().filter(|t| t.contains('/')) {
        return to_mailbox(ctx, to, &a, body.as_ref(), timeout);
    }
    if a.claude_task.is_some() {
        bail!(
            "--claude-task links a message into a Claude Code teammate's inbox to a team task: it goes with --to TEAM/AGENT"
        );
    }
    let req = Request {
        to: a.to,
        plugin: a.plugin,
        action: a.action,
        params,
        title: a.title,
        body,
        from: a.from.filter(|f| !f.is_empty()),
        reply_to: a.reply_to,
        priority: a.priority,
        deadline: a.deadline,
        correlation_id: a.correlation_id,
        new_agent: a.new_agent,
    };
    if !a.wait {
        let sent = send(tree, &req)?;
        if a.json {
            println!("{}", json!({"id": sent.id, "file": sent.file}));
        } else {
            println!("sent {}", sent.file.display());
            println!("{}", sent.id);
        }
        return Ok(0);
    }
    let (sent, watch, synced) = prepare(tree, &req)?.write_watched()?;
    // For a reply agent `TEAM/AGENT`, the RETURN is the message `serve` appends to its Claude inbox.
    let mut waiter = wait::Waiter::for_sent(&sent, Some(ctx.location.clone())).with_watch(watch);
    waiter.asking = true;
    // `sent` is a report: the sync ends before it. With --json the first report is the RETURN.
    let synced = if a.json {
        Some(synced)
    } else {
        synced.finish();
        println!("sent {}", sent.file.display());
        None
    };
    super::waiting::interrupt_says(&sent.id, &format!("baton wait {}", sent.id));
    // A TASK to a plugin waits for `serve`: said within a second or two when none runs.
    let found = if waiter.for_plugin {
        let mut notice = super::waiting::NoServeNotice::default();
        wait::block_sliced(&mut waiter, timeout, || {
            notice.check(ctx, tree);
            Ok(true)
        })
    } else {
        wait::block(&mut waiter, timeout)
    };
    if let Some(synced) = synced {
        synced.finish();
    }
    wait::report(&sent.id, found?, a.json, timeout, true, &waiter.expected())
}

/// `--to TEAM/AGENT`: the message appended to that Claude Code agent's inbox under Claude
/// Code's own lock; its `from` is `--from` as given, its `text` the body (else the title), its
/// `summary` the title. Prints the message's id alone on the last line; `--wait` blocks until
/// the agent answers (exit 0), or the message is lost (exit 1).
fn to_mailbox(
    ctx: &Ctx,
    to: &str,
    a: &SendArgs,
    body: Option<&Value>,
    timeout: Option<std::time::Duration>,
) -> Result<i32> {
    let Some(from) = a.from.as_deref().filter(|f| !f.is_empty()) else {
        bail!("no sender: pass --from NAME or set BATON_AGENT=NAME (the name the agent sees the message from)");
    };
    if a.reply_to.is_some() || a.priority.is_some() || a.deadline.is_some() || a.correlation_id.is_some() {
        bail!(
            "a Claude Code inbox message has only from, text and summary: --reply-to, --priority, --deadline and --correlation-id do not fit it"
        );
    }
    let text = match body {
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => a.title.clone().unwrap_or_default(),
    };
    if text.trim().is_empty() {
        bail!("nothing to send: give --body TEXT (and --title for its summary)");
    }
    let task = a.claude_task.as_deref().map(|t| crate::claude_inbox::claude_task(ctx, t)).transpose()?;
    let r = crate::claude_inbox::recipient(ctx, to, a.new_agent)?;
    let id = crate::claude_inbox::deliver_to(ctx, &r, from, &text, a.title.as_deref(), task.as_deref())?;
    if a.json && !a.wait {
        println!("{}", json!({"id": id, "file": r.inbox}));
        return Ok(0);
    }
    if !a.json {
        println!("delivered into {}", r.inbox.display());
    }
    if a.wait {
        return super::wait::delivery(ctx, &id, "answered", timeout, a.json);
    }
    println!("{id}");
    Ok(0)
}
