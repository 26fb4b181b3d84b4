//! How agents speak baton: from the command line (`send`, `call`, `wait`, `inbox`, `reply`,
//! `ack`, `answer`, `show`, `validate`, `schema`, `mailbox`), over MCP (`baton mcp`, [`mcp`]) and A2A
//! (`serve --http`'s routes, [`a2a`]). This module holds what they share: the handoffs tree
//! (which agents and plugins exist, "did you mean"), finding a handoff by id, and the one
//! atomic, never-overwriting way a handoff is written into an inbox. Every command checks a
//! TASK before writing it ([`check`]) and says what it did not deliver.
// The doc comments of this crate are mostly clap help text, printed to users as written.
#![allow(rustdoc::invalid_html_tags)]
pub mod a2a;
pub mod ack;
pub mod answer;
pub mod ask;
pub mod call;
pub mod check;
pub mod claude_inbox;
mod events;
pub mod inbox;
pub mod mailbox;
pub mod mcp;
pub mod reply;
pub mod retry;
pub mod send;
pub mod show;
pub mod triage;
pub mod validate;
pub mod wait;
pub mod waiting;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use baton_handoff::names;
use baton_home::config::INBOX;

use baton_cli::Ctx;

/// The agents' commands (each one's flags are defined only when it runs: see `baton_app`'s
/// `Command`).
#[derive(clap::Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// One handoff's history: its record, events and plugin logs. Also takes the file name
    /// of a handoff that never parsed (filed in 03_failed/) or of one in another agent's folder.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Other agents' mailboxes (Claude Code teams, folder mailboxes): `mailbox add` writes the
    /// `[mailboxes.NAME]` table that reads one.
    #[command(subcommand)]
    Mailbox(mailbox::MailboxCommand),
    /// Send a TASK to a plugin (`--plugin --action`) or an agent (`--to`); prints its id.
    /// `--wait` blocks until the RETURN (exit 0 completed, 1 other status, 124 timeout).
    Send(send::SendArgs),
    /// Call a plugin's action: params from `--param KEY=VALUE` (typed by the action's schema),
    /// run through the running `serve`, else in this process; prints the RETURN (exit 0
    /// completed, 1 other status, 2 bad input, 124 timeout). `baton call PLUGIN ACTION --help`
    /// lists the action's params.
    #[command(disable_help_flag = true)]
    Call(call::CallArgs),
    /// Wait for the RETURN of a TASK sent earlier (exit 0 completed, 1 other status, 124 timeout).
    Wait(wait::WaitArgs),
    /// The handoffs waiting for an agent: TASKs to do, RETURNs to read, oldest first.
    Inbox(inbox::InboxArgs),
    /// Answer a TASK addressed to you: one RETURN to its sender, the TASK filed in 02_processed/.
    Reply(reply::ReplyArgs),
    /// Answer the input request of a TASK that asked back (it waits in `input_required`): the
    /// input is checked against the request's schema (exit 2 if it does not match, nothing
    /// written), then the TASK runs again with it (exit 1 if it waits for no answer).
    Answer(answer::AnswerArgs),
    /// Mark RETURNs read: each moves from the agent's 01_inbox/ to its 02_processed/ (by its id
    /// or the id of the TASK it answers; `--all AGENT` for every one waiting).
    Ack(ack::AckArgs),
    /// Check handoff files against the schema (exit 1 if any is invalid).
    Validate(validate::ValidateArgs),
    /// Print the JSON Schema of a TASK or a RETURN.
    Schema {
        #[arg(value_enum)]
        kind: validate::Kind,
    },
    /// Serve the Model Context Protocol on stdio, for Claude Code, Cursor, Codex.
    Mcp(mcp::McpArgs),
    /// Move failed handoffs from 03_failed/ back into the inbox: one by id or file name, or
    /// `--all` (narrowed by `--code`, `--plugin`; only listed unless `--yes`).
    Retry(retry::RetryArgs),
    /// Move failed handoffs out of 03_failed/ into 04_discarded/ (journalled; `baton restore`
    /// undoes it). Nothing is deleted.
    Discard(triage::DiscardArgs),
    /// Move a discarded handoff back into 03_failed/, where it was.
    Restore(triage::RestoreArgs),
    /// Cancel a TASK that waits (in an inbox, not yet picked up, or for its next attempt after
    /// a transient failure): it is answered `canceled`, once, and not run (again).
    Cancel(triage::CancelArgs),
}

impl Command {
    /// Whether the command reads the home. `schema` and `validate` read none; `mcp` starts
    /// without one (its client shows a server that exits at start as "Connection closed"):
    /// each tool answers the error and its fix.
    pub fn needs_home(&self) -> bool {
        !matches!(self, Command::Schema { .. } | Command::Validate(_) | Command::Mcp(_))
    }

    pub fn run(self, ctx: &Ctx) -> Result<i32> {
        match self {
            Command::Show { id, json } => show::show(ctx, &id, json),
            Command::Mailbox(cmd) => mailbox::run(cmd, ctx),
            Command::Send(args) => send::run(ctx, args),
            Command::Call(args) => call::run(ctx, args),
            Command::Wait(args) => wait::run(ctx, args),
            Command::Inbox(args) => inbox::run(ctx, args),
            Command::Reply(args) => reply::run(ctx, args),
            Command::Ack(args) => ack::run(ctx, args),
            Command::Answer(args) => answer::run(ctx, args),
            Command::Validate(args) => validate::run(args),
            Command::Schema { kind } => validate::schema(kind),
            Command::Mcp(args) => mcp::run(ctx, args),
            Command::Retry(args) => retry::run(ctx, args),
            Command::Discard(args) => triage::discard(ctx, args),
            Command::Restore(args) => triage::restore(ctx, args),
            Command::Cancel(args) => triage::cancel(ctx, args),
        }
    }
}

/// Where a command writes a temp file before renaming it into an inbox: inside the recipient's
/// own folder, so the rename never crosses file systems (the tree may live on another disk
/// than the state), and outside `01_inbox/`, which is the only folder the watchers read.
/// `serve` keeps spares for its own inbox's senders there ([`baton_fs::spares`]).
pub const TEMP_DIR: &str = baton_fs::TEMP_DIR;

/// The largest handoff these commands read (the pipeline's own cap is in baton.toml).
const READ_CAP: u64 = 16 << 20;

/// The handoffs tree of a home, as the agents' commands see it.
#[derive(Debug, Clone)]
pub struct Tree {
    pub home: PathBuf,
    /// The handoffs root: one folder per agent.
    pub root: PathBuf,
    /// baton's own agent name (its inbox takes the TASKs for plugins).
    pub baton: String,
    pub plugins_dir: PathBuf,
    /// The largest handoff the pipeline reads (`max_file_bytes`): a bigger TASK is refused
    /// before it is written.
    pub max_file_bytes: u64,
    /// This machine's state file (the ledger, or the local file beside a PostgreSQL one) and
    /// where the ledger is: what reading a plugin's actions needs.
    pub state_file: PathBuf,
    pub location: baton_ledger::Location,
    /// The folder of the state file: plugins' descriptions are kept in `described/` there.
    pub state_dir: PathBuf,
    /// What the composition root gives (a runtime with every host interface, to read a
    /// plugin's actions).
    pub host: &'static dyn baton_cli::Host,
    /// The command context the tree was read with (and its ledger, opened once).
    pub(crate) ctx: Ctx,
}

/// Where a handoff file was found.
#[derive(Debug, Clone)]
pub struct Found {
    /// The agent folder's name.
    pub agent: String,
    /// `01_inbox`, `02_processed` or `03_failed`.
    pub folder: &'static str,
    pub path: PathBuf,
    pub body: Value,
}

pub const FOLDERS: [&str; 3] = [INBOX, "02_processed", "03_failed"];

impl Tree {
    pub fn open(ctx: &Ctx) -> Result<Tree> {
        baton_cli::home_check::require(&ctx.home)?;
        let cfg = ctx.config()?;
        let paths = baton_home::Paths::new(&ctx.home, &ctx.state, &cfg);
        Ok(Tree::new(ctx, &cfg, &paths))
    }

    /// The tree of a home whose config is read already.
    pub fn new(ctx: &Ctx, cfg: &baton_home::Config, paths: &baton_home::Paths) -> Tree {
        Tree {
            home: paths.home.clone(),
            root: paths.handoffs.clone(),
            baton: cfg.agent.clone(),
            plugins_dir: paths.plugins.clone(),
            max_file_bytes: cfg.max_file_bytes,
            state_file: ctx.state.clone(),
            location: ctx.location.clone(),
            state_dir: ctx.state.parent().map_or_else(|| ctx.home.join("state"), Path::to_path_buf),
            host: ctx.host,
            ctx: ctx.clone(),
        }
    }

    /// The command context this tree was read with.
    pub fn ctx(&self) -> Ctx {
        self.ctx.clone()
    }

    /// Agent folders under the root (valid names only), sorted.
    pub fn agents(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| names::is_valid_name(n))
            .collect();
        v.sort();
        v
    }

    /// Installed plugin names (`plugins/<name>.wasm`), sorted.
    pub fn plugins(&self) -> Vec<String> {
        let paths = baton_home::Paths {
            home: self.home.clone(),
            handoffs: self.root.clone(),
            plugins: self.plugins_dir.clone(),
            state: PathBuf::new(),
        };
        baton_home::plugins::installed_files(&paths)
            .iter()
            .filter_map(|p| p.file_stem().and_then(OsStr::to_str).map(str::to_string))
            .collect()
    }

    /// The folder of an agent that exists: its own name, or the folder that is the same name
    /// on a Mac (`Claude` for `claude`), as the pipeline delivers. `None` if there is none.
    pub fn existing_agent(&self, agent: &str) -> Option<String> {
        if self.root.join(agent).is_dir() {
            return Some(agent.to_string());
        }
        names::existing_variant(&self.root, agent).ok().flatten().filter(|v| self.root.join(v).is_dir())
    }

    /// An agent's folder name, refusing an invalid or unknown one with the closest known names.
    /// `create` makes its `01_inbox/` instead (`--new-agent`).
    pub fn agent(&self, agent: &str, create: bool) -> Result<String> {
        if !names::is_valid_name(agent) {
            bail!(
                "{agent:?} is not a valid agent name (ASCII letters, digits, '.', '_' and '-'; no '..', no leading dot)"
            );
        }
        if let Some(found) = self.existing_agent(agent) {
            return Ok(found);
        }
        if create {
            let inbox = self.root.join(agent).join(INBOX);
            baton_fs::ensure_dir(&inbox).with_context(|| format!("creating {}", inbox.display()))?;
            return Ok(agent.to_string());
        }
        let known = self.agents();
        bail!(
            "no agent {agent:?} in {}{}; pass --new-agent (over MCP: `new_agent: true`) to create its inbox",
            self.root.display(),
            did_you_mean(agent, &known)
        )
    }

    /// The inbox of an agent the RETURN goes to, made if missing (the sender's folder may not
    /// exist yet), following a folder that is the same name on a Mac. A Claude Code team's
    /// agent (`TEAM/AGENT`) has no folder here, and none is made: refused, naming where its
    /// answers go.
    pub fn reply_inbox(&self, agent: &str) -> Result<PathBuf> {
        if names::team_agent(agent).is_some() {
            anyhow::bail!(
                "{agent:?} is a Claude Code team's agent (TEAM/AGENT): it has no folder in {}, and its RETURN is a \
                 message baton serve appends to its Claude inbox",
                self.root.display()
            );
        }
        let folder = self.existing_agent(agent).unwrap_or_else(|| agent.to_string());
        let inbox = self.root.join(folder).join(INBOX);
        baton_fs::ensure_dir(&inbox).with_context(|| format!("creating {}", inbox.display()))?;
        Ok(inbox)
    }

    /// Finds the handoff with `id` (a TASK if `kind` says so): first by name (the files these
    /// commands write carry the id), then by reading every handoff in the agents' folders.
    pub fn find(&self, id: &str, kind: Option<&str>, folders: &[&'static str]) -> Option<Found> {
        self.find_passes(id, kind, folders, &[true, false])
    }

    /// [`Self::find`] by name only: cheap, and enough for what `send` wrote.
    pub fn find_named(&self, id: &str, kind: Option<&str>, folders: &[&'static str]) -> Option<Found> {
        self.find_passes(id, kind, folders, &[true])
    }

    fn find_passes(&self, id: &str, kind: Option<&str>, folders: &[&'static str], passes: &[bool]) -> Option<Found> {
        let agents = self.agents();
        for &by_name in passes {
            for agent in &agents {
                for folder in folders {
                    let dir = self.root.join(agent).join(folder);
                    let Ok(entries) = std::fs::read_dir(&dir) else { continue };
                    for e in entries.flatten() {
                        let name = e.file_name();
                        if names::classify(name.as_bytes()) != names::Entry::Candidate {
                            continue;
                        }
                        let has_id = name.to_str().is_some_and(|n| n.contains(id));
                        if by_name != has_id {
                            continue;
                        }
                        let Some(body) = read_handoff(&e.path()) else { continue };
                        let matches = body.get("id").and_then(Value::as_str) == Some(id)
                            && kind.is_none_or(|k| body.get("kind").and_then(Value::as_str) == Some(k));
                        if matches {
                            return Some(Found { agent: agent.clone(), folder, path: e.path(), body });
                        }
                    }
                }
            }
        }
        None
    }
}

/// A schema-valid handoff read from `path` (capped), or `None`.
pub fn read_handoff(path: &Path) -> Option<Value> {
    let bytes = baton_fs::read_capped(path, READ_CAP).ok()?;
    baton_handoff::parse(&bytes).ok().map(|(_, v)| v)
}

pub use baton_handoff::names::did_you_mean;

/// Writes a new handoff into `inbox` under `name`: written in `<agent>/.baton-tmp/` (an unnamed
/// file, a spare, or a temp file: [`baton_fs::Unwritten::write_handoff`]), synced, then named
/// without replacing, so a watcher never sees it half-written and nothing is ever overwritten.
pub fn write_new(inbox: &Path, name: &str, body: &Value) -> Result<PathBuf> {
    let dest = place_new(inbox, name, body)?;
    let _ = baton_fs::sync_dir(inbox);
    Ok(dest)
}

/// [`write_new`] without its last step, the sync of `inbox` that makes the new name durable:
/// the caller owes it ([`DirSync`]). The file's own bytes are synced before it is named.
pub(crate) fn place_new(inbox: &Path, name: &str, body: &Value) -> Result<PathBuf> {
    let agent_dir = inbox.parent().unwrap_or(inbox);
    let tmp_dir = agent_dir.join(TEMP_DIR);
    baton_fs::ensure_dir(&tmp_dir).with_context(|| format!("creating {}", tmp_dir.display()))?;
    baton_fs::ensure_dir(inbox).with_context(|| format!("creating {}", inbox.display()))?;
    // Leftovers of a writer killed mid-write (never a live one: the pid is checked).
    let _ = baton_fs::sweep_stale_temps(&tmp_dir, std::time::Duration::from_secs(600));
    let mut bytes = serde_json::to_vec_pretty(body)?;
    bytes.push(b'\n');
    let dest = inbox.join(name);
    // Over a spare that `serve` keeps in `.baton-tmp/` when there is one: its sync is then a
    // data write, not a journal commit (baton_fs::spares).
    let write = || -> std::io::Result<bool> {
        let data = baton_fs::Unwritten::write_handoff(&tmp_dir, &tmp_dir, &bytes)?;
        baton_fs::sync_file(data.file())?;
        data.publish(&dest)
    };
    match write() {
        Ok(true) => {}
        Ok(false) => {
            anyhow::bail!("{} already exists: the new handoff was not written (never overwriting)", dest.display())
        }
        Err(e) => {
            return Err(e).with_context(|| format!("writing the new handoff {} (never overwriting)", dest.display()));
        }
    }
    Ok(dest)
}

/// The sync of the folder a new handoff was just named in, running on its own thread while the
/// writer waits for the answer. On a journaled disk that sync is a journal commit (about a
/// millisecond here), and nothing the recipient does needs it: `serve` claims the name as soon
/// as it appears. So a writer that waits (`send --wait`, `call`) overlaps the two, and
/// [`DirSync::finish`] (or the drop) joins it before the writer says anything: the promise
/// that a reported TASK survives a crash is kept.
#[must_use = "the folder's sync must be joined before the TASK is reported"]
pub struct DirSync(Option<std::thread::JoinHandle<()>>);

impl DirSync {
    /// Starts syncing `dir` (in this thread when no thread can be made).
    pub(crate) fn start(dir: PathBuf) -> Self {
        let sync = move || {
            let _ = baton_fs::sync_dir(&dir);
        };
        let spare = sync.clone();
        match std::thread::Builder::new().name("dir-sync".into()).spawn(sync) {
            Ok(h) => Self(Some(h)),
            Err(_) => {
                spare();
                Self(None)
            }
        }
    }

    /// Nothing to sync (a folder already synced, or none).
    pub(crate) fn done() -> Self {
        Self(None)
    }

    /// Waits for the sync to end.
    pub fn finish(mut self) {
        self.join();
    }

    fn join(&mut self) {
        if let Some(h) = self.0.take() {
            let _ = h.join();
        }
    }
}

impl Drop for DirSync {
    fn drop(&mut self) {
        self.join();
    }
}

/// A JSON argument: inline text, `@file`, or `-` (stdin). `what` names the option in errors.
pub fn json_arg(raw: &str, what: &str) -> Result<Value> {
    let (text, source) = arg_text(raw, what)?;
    serde_json::from_str(&text).with_context(|| format!("{what}: {source} is not valid JSON"))
}

/// The text of an `@file`, `-` or inline argument, and how to name its source in errors.
pub fn arg_text(raw: &str, what: &str) -> Result<(String, String)> {
    if raw == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .with_context(|| format!("{what}: reading stdin"))?;
        Ok((s, "stdin".into()))
    } else if let Some(path) = raw.strip_prefix('@') {
        let s = std::fs::read_to_string(path).with_context(|| format!("{what}: reading {path}"))?;
        Ok((s, path.to_string()))
    } else {
        Ok((raw.to_string(), "the value".into()))
    }
}

/// `--timeout SECS`: a finite number >= 0 (a negative or NaN one would panic in `Duration`).
pub fn timeout_arg(t: Option<f64>) -> Result<Option<std::time::Duration>> {
    match t {
        // `inf`: no limit.
        Some(t) if t == f64::INFINITY => Ok(None),
        Some(t) if !(t.is_finite() && t >= 0.0) => {
            bail!("--timeout must be a number of seconds >= 0 (or inf), not {t}")
        }
        t => Ok(t.map(std::time::Duration::from_secs_f64)),
    }
}

/// An age for people, as `baton status` shows ages.
pub use baton_home::tree::human_age;

/// Seconds since an RFC 3339 time (0 if it does not parse).
pub fn age_secs(ts: &str) -> i64 {
    baton_handoff::stamp::parse_rfc3339(ts).map(|t| (baton_handoff::stamp::now() - t).whole_seconds()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_names_are_suggested() {
        let known: Vec<String> =
            ["Codex-MM1", "Claude-Code-Agent", "Cursor-Agent"].iter().map(|s| s.to_string()).collect();
        assert_eq!(did_you_mean("Codex-MMl", &known), "; did you mean \"Codex-MM1\"?");
        assert!(did_you_mean("claude", &known).contains("Claude-Code-Agent"));
        assert!(did_you_mean("zzzzzzzz", &known).starts_with("; known:"));
        assert_eq!(did_you_mean("x", &[]), "");
    }
}
