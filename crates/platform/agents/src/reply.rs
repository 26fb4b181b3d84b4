//! `baton reply ID`: an agent answers a TASK addressed to it, exactly once. Two steps: one v1
//! RETURN into the TASK's reply inbox (`reply_to`, else `from`), then the TASK moved from the
//! agent's `01_inbox/` to its `02_processed/`. Before the first step the whole plan (the RETURN's
//! bytes and both paths) is journaled in `<agent>/.baton-replies/<task id>.json`, created
//! without replacing, so of two replies only one starts; a crash between the steps is finished
//! from the journal by the next `reply` (or `serve`), and the journal stays as the record that
//! names the RETURN when a second reply is refused. Nothing else in an agent's folder is moved.
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use baton_handoff::build::{self, NewReturn};
use baton_handoff::{Body, Status};

use super::{FOLDERS, Tree};
use baton_cli::Ctx;

/// The journal folder inside an agent's folder (a dotfolder: no watcher or scan reads it).
pub const JOURNAL_DIR: &str = ".baton-replies";

#[derive(clap::Args, Debug)]
pub struct ReplyArgs {
    /// The TASK's id, or a Claude inbox message's (`cm-…`: answered with a message into its
    /// sender's inbox).
    pub id: String,
    /// `input_required` asks the TASK's sender a question first (the summary is the question,
    /// `--input-schema` what the answer must be): the TASK stays, and is replied to later.
    #[arg(long, value_parser = ["completed", "failed", "rejected", "canceled", "input_required"])]
    pub status: String,
    /// One or two sentences: what was done, or why not (with `input_required`: the question).
    #[arg(long)]
    pub summary: String,
    /// With `--status input_required`: the JSON Schema the answer must match: inline, `@file`
    /// or `-` (stdin).
    #[arg(long, value_name = "JSON|@FILE|-")]
    pub input_schema: Option<String>,
    /// With `--status input_required`: the question's id (default `ask-N`).
    #[arg(long)]
    pub request_id: Option<String>,
    /// A JSON object: inline, `@file` or `-` (stdin).
    #[arg(long, value_name = "JSON|@FILE|-")]
    pub result: Option<String>,
    /// A path the work produced (repeatable).
    #[arg(long = "artifact", value_name = "PATH")]
    pub artifacts: Vec<String>,
    /// Print `{id, file, task_file}`.
    #[arg(long)]
    pub json: bool,
}

/// What the journal of one reply holds.
#[derive(Debug, Serialize, Deserialize)]
pub struct Journal {
    pub schema: String,
    pub task_id: String,
    pub agent: String,
    /// `started` until both steps are done, then `done`.
    pub state: String,
    /// The TASK in the agent's inbox, and where it is filed.
    pub task_file: PathBuf,
    pub processed_file: PathBuf,
    /// The RETURN's path and body.
    pub return_file: PathBuf,
    #[serde(rename = "return")]
    pub ret: Value,
    pub at: String,
    /// For a TASK whose reply agent is `TEAM/AGENT`: its Claude inbox, into which step 1
    /// appends the RETURN as a message (`return_file` is then that inbox file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailbox: Option<MailboxTarget>,
}

/// A Claude Code team agent's inbox, as the journal keeps it (the fields of a
/// [`crate::claude_inbox::Recipient`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MailboxTarget {
    pub mailbox: String,
    pub team: String,
    pub name: String,
    pub inbox: PathBuf,
}

impl MailboxTarget {
    fn recipient(&self) -> crate::claude_inbox::Recipient {
        crate::claude_inbox::Recipient {
            mailbox: self.mailbox.clone(),
            team: self.team.clone(),
            name: self.name.clone(),
            inbox: self.inbox.clone(),
        }
    }
}

/// A reply written.
#[derive(Debug, Clone)]
pub struct Replied {
    pub return_id: String,
    /// The RETURN's file, or the Claude inbox it was appended to (`message` then says so).
    pub return_file: PathBuf,
    pub task_file: PathBuf,
    /// The id (`cm-…`) of the message the RETURN became in a `TEAM/AGENT`'s Claude inbox.
    pub message: Option<String>,
}

/// Why a reply was refused: the TASK was answered already (the RETURN's file is named).
#[derive(Debug)]
pub struct AlreadyAnswered {
    pub id: String,
    pub return_file: PathBuf,
    pub journal: PathBuf,
    pub repaired: bool,
}

impl std::fmt::Display for AlreadyAnswered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TASK {} was already answered: its RETURN is {}", self.id, self.return_file.display())?;
        if self.repaired {
            f.write_str(" (an interrupted earlier reply was finished just now)")?;
        }
        write!(f, "; a TASK gets exactly one RETURN (the record is {})", self.journal.display())
    }
}

impl std::error::Error for AlreadyAnswered {}

fn journal_path(tree: &Tree, agent: &str, id: &str) -> PathBuf {
    tree.root.join(agent).join(JOURNAL_DIR).join(format!("{id}.json"))
}

/// Answers TASK `id`. `acting_as`: the caller's fixed agent (MCP `--agent`); the TASK must be
/// addressed to it.
pub fn reply(tree: &Tree, id: &str, answer: &NewReturn, acting_as: Option<&str>) -> Result<Replied> {
    if !baton_handoff::names::is_valid_name(id) {
        bail!("{id:?} is not a handoff id");
    }
    // Answered before (or half-answered by a reply that was killed)?
    for agent in tree.agents() {
        let path = journal_path(tree, &agent, id);
        if path.is_file() {
            let repaired = finish(tree, &path)?;
            let j = read_journal(&path)?;
            record(tree, &j)?;
            return Err(
                AlreadyAnswered { id: id.to_string(), return_file: j.return_file, journal: path, repaired }.into()
            );
        }
    }
    let Some(found) = tree.find(id, Some("task"), &[FOLDERS[0]]) else {
        if let Some(f) = tree.find(id, Some("task"), &FOLDERS[1..]) {
            bail!(
                "TASK {id} is not waiting in an inbox: it was filed in {} (answered outside `baton reply`?)",
                f.path.display()
            );
        }
        bail!(
            "no TASK with id {id:?} waiting in any agent's 01_inbox under {} (`baton inbox AGENT` lists them)",
            tree.root.display()
        );
    };
    if found.agent == tree.baton {
        bail!("TASK {id} is in baton's own inbox: `baton serve` answers it with its plugin, not `baton reply`");
    }
    if let Some(me) = acting_as
        && !baton_handoff::names::same_name(me, &found.agent)
    {
        bail!("TASK {id} is addressed to {}, not to {me}: an agent answers only its own TASKs", found.agent);
    }
    let (Body::Task(task), _) =
        baton_handoff::schema::parse_value(found.body.clone()).map_err(|e| anyhow!("{}: {e}", found.path.display()))?
    else {
        bail!("{} is not a TASK", found.path.display());
    };
    let ret = build::reply(&task, &found.agent, answer)
        .map_err(|e| anyhow!("the RETURN would not be valid: {}; nothing was written", e.message))?;
    // Checked as `send` checks a TASK: a RETURN over the cap would be refused by every reader
    // (the sender's wait, `inbox`), and the TASK, marked answered, could never be answered again.
    let size = serde_json::to_vec_pretty(&ret).map_or(usize::MAX, |b| b.len() + 1);
    if size as u64 > tree.max_file_bytes {
        bail!(
            "too_large: the RETURN would be {size} bytes, over the {} byte cap (max_file_bytes in baton.toml); \
             nothing was written and TASK {id} can still be answered (put large output in a file and name it \
             with --artifact)",
            tree.max_file_bytes
        );
    }
    // A Claude Code team's agent gets the RETURN as a message in its inbox (checked now: an
    // unknown one is refused before anything is written or moved).
    let mailbox = if baton_handoff::names::team_agent(task.reply_agent()).is_some() {
        let r = crate::claude_inbox::recipient(&tree.ctx(), task.reply_agent(), false)
            .with_context(|| format!("TASK {id} replies to {:?}, and nothing was written", task.reply_agent()))?;
        Some(MailboxTarget { mailbox: r.mailbox, team: r.team, name: r.name, inbox: r.inbox })
    } else {
        None
    };
    let return_file = match &mailbox {
        Some(m) => m.inbox.clone(),
        None => tree.reply_inbox(task.reply_agent())?.join(build::return_file_name(&ret)),
    };
    let file_name = found.path.file_name().ok_or_else(|| anyhow!("{} has no file name", found.path.display()))?;
    let processed_file = tree.root.join(&found.agent).join(FOLDERS[1]).join(file_name);
    let journal = Journal {
        schema: "baton.reply-journal/v1".into(),
        task_id: id.to_string(),
        agent: found.agent.clone(),
        state: "started".into(),
        task_file: found.path.clone(),
        processed_file,
        return_file,
        ret,
        at: baton_handoff::stamp::rfc3339(baton_handoff::stamp::now()),
        mailbox,
    };
    let path = journal_path(tree, &found.agent, id);
    if !create_journal(&path, &journal)? {
        // Another reply started first, between our look and now.
        let repaired = finish(tree, &path)?;
        let j = read_journal(&path)?;
        record(tree, &j)?;
        return Err(AlreadyAnswered { id: id.to_string(), return_file: j.return_file, journal: path, repaired }.into());
    }
    finish(tree, &path)?;
    let j = read_journal(&path)?;
    let message = record(tree, &j)?;
    Ok(Replied {
        return_id: j.ret["id"].as_str().unwrap_or_default().to_string(),
        return_file: j.return_file,
        task_file: j.processed_file,
        message,
    })
}

/// For a reply delivered into a Claude inbox: the ledger's record of the delivery (once, see
/// [`crate::claude_inbox::deliver_return`]), and the message's id. [`finish`] records it right after
/// the append; this records it again (a no-op then) for a journal an older baton marked done
/// before recording.
fn record(tree: &Tree, j: &Journal) -> Result<Option<String>> {
    let Some(m) = &j.mailbox else { return Ok(None) };
    // Step 1 made the delivery; this only records it (never appends again, even if Claude
    // Code has cleared the inbox since).
    let msg = baton_mailbox::teams::return_message(&serde_json::to_vec_pretty(&j.ret)?, &j.agent);
    let r = m.recipient();
    crate::claude_inbox::record_return(&tree.ctx(), &r, &j.task_id, &msg)?;
    Ok(Some(r.message_id(&msg)))
}

fn read_journal(path: &Path) -> Result<Journal> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("{} is not a reply journal", path.display()))
}

/// Writes the journal under its final name only if there is none (temp, then no-replace rename).
fn create_journal(path: &Path, j: &Journal) -> Result<bool> {
    let dir = path.parent().unwrap_or(Path::new("."));
    baton_fs::ensure_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = temp_with(dir, j)?;
    match baton_fs::rename_noreplace(&tmp, path) {
        Ok(()) => {
            let _ = baton_fs::sync_dir(dir);
            Ok(true)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Ok(false)
            } else {
                Err(e).with_context(|| format!("writing the reply journal {}", path.display()))
            }
        }
    }
}

/// A synced temp file in `dir` holding `j`.
fn temp_with(dir: &Path, j: &Journal) -> Result<PathBuf> {
    use std::io::Write;
    let tmp = dir.join(format!("{}{}.{}", baton_fs::TEMP_PREFIX, std::process::id(), build::new_id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(&serde_json::to_vec_pretty(j)?)?;
    baton_fs::sync_file(&f)?;
    Ok(tmp)
}

/// Step 1 of a reply to a `TEAM/AGENT`: the RETURN appended to its Claude inbox, once, and the
/// delivery recorded in the ledger (`delivered` + `return_delivered`) right after the append,
/// before the TASK is filed or the journal marked done.
///
/// Once means: a delivery the ledger has recorded is never made again, even when Claude Code
/// has cleared the inbox since (the message's absence then says nothing); one it has not
/// recorded is appended unless the inbox holds it ([`baton_mailbox::deliver::deliver_once`]).
/// What stays open is a crash between the append and its record *and* the inbox cleared
/// before the repair: then nothing shows the message was appended, and it is appended again
/// (docs/mailboxes.md says so).
fn deliver_journaled(tree: &Tree, j: &Journal, m: &MailboxTarget) -> Result<()> {
    let ctx = tree.ctx();
    let bytes = serde_json::to_vec_pretty(&j.ret)?;
    let msg = baton_mailbox::teams::return_message(&bytes, &j.agent);
    let r = m.recipient();
    let ledger = ctx
        .connect()
        .with_context(|| format!("reading the ledger before delivering the RETURN of TASK {}", j.task_id))?;
    let recorded = ledger.events(&r.message_id(&msg))?.iter().any(|e| e.event == "delivered");
    drop(ledger);
    if !recorded {
        baton_mailbox::deliver::deliver_once(&m.inbox, &msg, baton_mailbox::deliver::LOCK_TIMEOUT)
            .with_context(|| format!("delivering the RETURN of TASK {} into {}", j.task_id, m.inbox.display()))?;
        baton_home::failpoint::hit("reply_after_append");
    }
    crate::claude_inbox::record_return(&ctx, &r, &j.task_id, &msg)
}

/// Carries out the journaled reply at `path` as far as it got, each step only if not done
/// yet: the RETURN written (never over another file) or appended to a Claude inbox and
/// recorded ([`deliver_journaled`]), the TASK moved to `02_processed/`, the journal marked
/// `done`. Returns whether anything was left to do.
pub fn finish(tree: &Tree, path: &Path) -> Result<bool> {
    let mut j = read_journal(path)?;
    if j.state == "done" {
        return Ok(false);
    }
    // Step 1: the RETURN: a message appended to a Claude inbox, or a new file.
    if let Some(m) = &j.mailbox {
        deliver_journaled(tree, &j, m)?;
    } else if !j.return_file.exists() {
        let inbox = j.return_file.parent().unwrap_or(Path::new("."));
        let name = j
            .return_file
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| anyhow!("bad RETURN path in {}", path.display()))?;
        match super::write_new(inbox, name, &j.ret) {
            Ok(_) => {}
            // Written meanwhile by a racing finisher: the same journaled bytes.
            Err(_) if j.return_file.exists() => {}
            Err(e) => return Err(e),
        }
    }
    baton_home::failpoint::hit("reply_between_steps");
    // Step 2: file the TASK.
    if j.task_file.exists() {
        let processed = j.processed_file.parent().unwrap_or(Path::new(".")).to_path_buf();
        let processed = processed.as_path();
        baton_fs::ensure_dir(processed).with_context(|| format!("creating {}", processed.display()))?;
        let name = j.processed_file.file_name().map(|n| n.to_owned()).unwrap_or_default();
        let moved = baton_fs::numbered_slot(&name, |candidate| {
            let to = processed.join(&candidate);
            match baton_fs::rename_noreplace(&j.task_file, &to) {
                Ok(()) => Ok(Some(to)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    // The link + unlink fallback, killed half-way, leaves both names: finish it.
                    if baton_fs::same_file(&j.task_file, &to) {
                        std::fs::remove_file(&j.task_file)?;
                        return Ok(Some(to));
                    }
                    Ok(None)
                }
                Err(e) => Err(e),
            }
        });
        match moved {
            Ok(to) => {
                j.processed_file = to;
                let _ = baton_fs::sync_dir(processed);
                if let Some(inbox) = j.task_file.parent() {
                    let _ = baton_fs::sync_dir(inbox);
                }
            }
            Err(_) if !j.task_file.exists() => {} // moved by a racing finisher
            Err(e) => {
                return Err(e).with_context(|| format!("moving {} to {}", j.task_file.display(), processed.display()));
            }
        }
    }
    // Done: the journal says so (replaced atomically; it is ours alone).
    j.state = "done".into();
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = temp_with(dir, &j)?;
    std::fs::rename(&tmp, path).with_context(|| format!("updating {}", path.display()))?;
    let _ = baton_fs::sync_dir(dir);
    Ok(true)
}

/// Finishes every reply a crash interrupted, in every agent's folder (what `serve` runs at
/// start-up), recording a delivery into a Claude inbox as `baton reply` does. Returns how many
/// were finished.
pub fn repair_all(tree: &Tree) -> usize {
    let mut n = 0;
    for agent in std::fs::read_dir(&tree.root).into_iter().flatten().flatten() {
        for e in std::fs::read_dir(agent.path().join(JOURNAL_DIR)).into_iter().flatten().flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "json") && !e.file_name().to_string_lossy().starts_with('.') {
                match finish(tree, &p) {
                    Ok(true) => {
                        tracing::warn!(journal = %p.display(), "finished a reply that was interrupted");
                        n += 1;
                    }
                    Ok(false) => {}
                    Err(err) => tracing::warn!(journal = %p.display(), "cannot finish an interrupted reply: {err:#}"),
                }
            }
        }
    }
    n
}

pub fn parse_status(s: &str) -> Result<Status> {
    serde_json::from_value(json!(s)).map_err(|_| anyhow!("status {s:?}: use completed, failed, rejected or canceled"))
}

pub fn run(ctx: &Ctx, a: ReplyArgs) -> Result<i32> {
    if a.status == "input_required" {
        let tree = Tree::open(ctx)?;
        let Some(schema) = a.input_schema.as_deref() else {
            bail!("--status input_required asks a question: give the answer's JSON Schema with --input-schema");
        };
        let schema = super::json_arg(schema, "--input-schema")?;
        let file = super::ask::ask(&tree, &a.id, &a.summary, &schema, a.request_id.as_deref())?;
        if a.json {
            println!("{}", json!({"id": a.id, "status": "input_required", "file": file}));
        } else {
            println!("INPUT REQUEST {}", file.display());
            println!("{}", a.id);
        }
        return Ok(0);
    }
    if a.input_schema.is_some() || a.request_id.is_some() {
        bail!("--input-schema and --request-id go with --status input_required");
    }
    let result = a.result.as_deref().map(|r| super::json_arg(r, "--result")).transpose()?;
    if a.id.starts_with("cm-") && crate::claude_inbox::is_message_id(&a.id) {
        // A message in a Claude inbox: answered with a message into its sender's.
        let m = crate::claude_inbox::answer_message(ctx, &a.id, &a.status, &a.summary, result.as_ref())?;
        if a.json {
            println!("{}", json!({"message": m, "in_reply_to": a.id, "delivery": "written"}));
        } else {
            println!("{m}");
        }
        return Ok(0);
    }
    let tree = Tree::open(ctx)?;
    let answer = NewReturn { status: parse_status(&a.status)?, summary: a.summary, result, artifacts: a.artifacts };
    let r = reply(&tree, &a.id, &answer, None)?;
    if a.json {
        let mut out = json!({"id": r.return_id, "file": r.return_file, "task_file": r.task_file});
        if let Some(m) = &r.message {
            out["message"] = json!(m);
            out["delivery"] = json!("written");
        }
        println!("{out}");
    } else if let Some(m) = &r.message {
        println!("delivered into {} (message {m})", r.return_file.display());
        println!("filed {}", r.task_file.display());
        println!("{}", r.return_id);
    } else {
        println!("RETURN {}", r.return_file.display());
        println!("filed {}", r.task_file.display());
        println!("{}", r.return_id);
    }
    Ok(0)
}
