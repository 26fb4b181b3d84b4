//! A folder mailbox's folders walked into items: each agent's done folders, inboxes and
//! outboxes, file by file in name order. One message is one item: a file with the same bytes
//! as an earlier one in its folder (or as a done file) is listed with `duplicate_of`; a file
//! that is no message (a template, a status summary, a registry…) is in the agent's
//! `skipped`; placeholders are silent. Reads only: never writes, renames or touches a file.
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::{DateSource, EXTENSIONS, Parsed, State, extension, item_id, parse_message};
use crate::settings::MailboxSettings;
use crate::skip::{self, Skipped};
use crate::zone::Zone;

/// One message (or unreadable file) of a folder mailbox.
#[derive(Debug, Clone)]
pub struct Item {
    /// `fm-` and 20 hex digits: the agent and the message's own text.
    pub id: String,
    /// The file's name.
    pub file: String,
    /// Its path below the agent's folder (`inbox/processed/x.md`).
    pub rel: String,
    /// Its index among the messages of a file of several (from 1), else `None`.
    pub part: Option<usize>,
    pub state: State,
    pub parsed: Option<Parsed>,
    /// Why it is unreadable.
    pub reason: Option<String>,
    pub created_at: OffsetDateTime,
    pub date_source: DateSource,
    /// The file with the same bytes this one repeats: a done file (`done/x.txt`) for an inbox
    /// file, or an earlier file (by name) of the same folder.
    pub duplicate_of: Option<String>,
    /// The message this file is a copy of (a pointer stub, or an outbox original whose inbox
    /// copy is counted), as a path below the mailbox's folder (`agent_b/inbox/x.md`).
    pub copy_of: Option<String>,
}

/// One agent's folder mailbox, read.
#[derive(Debug, Clone)]
pub struct Agent {
    /// The folder's name (spaces allowed).
    pub name: String,
    pub path: PathBuf,
    pub items: Vec<Item>,
    /// Files of its folders that hold no message, each with the reason.
    pub skipped: Vec<Skipped>,
}

/// Folders a mailbox keeps beside its messages, and files named like them: never read.
pub(crate) fn state_folder_name(name: &str, s: &MailboxSettings) -> bool {
    let lower = name.to_ascii_lowercase();
    s.inbox.iter().chain(&s.done).chain(&s.outbox).any(|f| f.eq_ignore_ascii_case(name))
        || ["done", "completed", "processed", "inbox", "outbox"].contains(&lower.as_str())
}

/// Whether `path` is an agent's folder for `s`: it holds one of the inbox, done or outbox
/// folders.
pub fn is_agent_folder(path: &Path, s: &MailboxSettings) -> bool {
    s.inbox.iter().chain(&s.done).chain(&s.outbox).any(|f| path.join(f).is_dir())
}

/// Every agent folder under `root`: a folder holding one of the inbox, done or outbox folders
/// `s` names. Reads only.
pub fn scan(root: &Path, s: &MailboxSettings, zone: &Zone) -> Vec<Agent> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(root) else { return out };
    for e in entries.flatten() {
        let Some(name) = e.file_name().to_str().map(str::to_string) else { continue };
        if name.starts_with('.') || !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let path = e.path();
        if !is_agent_folder(&path, s) {
            continue;
        }
        let mut agent = Agent { items: Vec::new(), skipped: Vec::new(), name, path };
        read_agent(&mut agent, s, zone);
        out.push(agent);
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    super::copies::link(root, &mut out);
    out
}

/// The files of a folder, sorted by name: `(name, path, is_dir)`; links are skipped.
pub(crate) fn files(dir: &Path) -> Vec<(String, PathBuf, bool)> {
    let mut v: Vec<(String, PathBuf, bool)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let t = e.file_type().ok()?;
            if t.is_symlink() {
                return None;
            }
            Some((e.file_name().to_string_lossy().into_owned(), e.path(), t.is_dir()))
        })
        .collect();
    v.sort();
    v
}

/// One folder being read: where, in which state, and the hashes of what was read before.
struct Folder<'a> {
    agent: &'a str,
    rel_dir: String,
    state: State,
    /// Done files' hashes (shared across the agent's done folders and inboxes).
    done_hashes: &'a mut HashMap<[u8; 32], String>,
}

fn read_agent(agent: &mut Agent, s: &MailboxSettings, zone: &Zone) {
    let name = agent.name.clone();
    let mut done_hashes: HashMap<[u8; 32], String> = HashMap::new();
    let mut folders: Vec<(String, State)> = Vec::new();
    // Done folders first, so the inbox's copies of done files are known as duplicates.
    folders.extend(s.done.iter().map(|d| (d.clone(), State::Done)));
    for i in &s.inbox {
        // A done folder inside the inbox (`inbox/processed`): its files are done.
        folders.extend(s.done.iter().map(|d| (format!("{i}/{d}"), State::Done)));
        if agent.path.join(i).is_dir() {
            folders.push((i.clone(), State::Open));
        }
    }
    for (rel_dir, state) in folders {
        let mut f = Folder { agent: &name, rel_dir, state, done_hashes: &mut done_hashes };
        read_folder(&agent.path, &mut f, s, zone, &mut agent.items, &mut agent.skipped);
    }
    for o in &s.outbox {
        let mut none = HashMap::new();
        let mut f = Folder { agent: &name, rel_dir: o.clone(), state: State::Sent, done_hashes: &mut none };
        read_folder(&agent.path, &mut f, s, zone, &mut agent.items, &mut agent.skipped);
    }
}

fn mtime_of(path: &Path) -> OffsetDateTime {
    std::fs::metadata(path).and_then(|m| m.modified()).map(OffsetDateTime::from).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn read_folder(
    agent_dir: &Path,
    f: &mut Folder<'_>,
    s: &MailboxSettings,
    zone: &Zone,
    items: &mut Vec<Item>,
    skipped: &mut Vec<Skipped>,
) {
    // Files of this folder read so far, by their bytes' hash: the first by name is the message.
    let mut seen_here: HashMap<[u8; 32], String> = HashMap::new();
    for (name, path, is_dir) in files(&agent_dir.join(&f.rel_dir)) {
        if is_dir || skip::placeholder(&name) || state_folder_name(&name, s) {
            continue;
        }
        let rel = format!("{}/{name}", f.rel_dir);
        let mtime = mtime_of(&path);
        let unreadable = |reason: String| Item {
            id: item_id(f.agent, rel.as_bytes()),
            file: name.clone(),
            rel: rel.clone(),
            part: None,
            state: State::Unreadable,
            parsed: None,
            reason: Some(reason),
            created_at: mtime,
            date_source: DateSource::Mtime,
            duplicate_of: None,
            copy_of: None,
        };
        let skippable = extension(&name).is_some() || is_skippable_kind(&name);
        if let Some(reason) = skip::by_name(&name).filter(|_| skippable) {
            skipped.push(Skipped { file: rel.clone(), reason: reason.to_string() });
            continue;
        }
        if extension(&name).is_none() {
            let mut item = unreadable(String::new());
            if f.state == State::Sent {
                // Every file in an outbox is something the agent sent, whatever its kind.
                item.state = State::Sent;
                item.reason = None;
                item.parsed = Some(Parsed { title: name.clone(), ..Parsed::default() });
            } else {
                item.reason = Some(format!(
                    "not a message file: the extensions read are {}",
                    EXTENSIONS.map(|e| format!(".{e}")).join(", ")
                ));
            }
            items.push(item);
            continue;
        }
        let bytes = match crate::claude::read_capped(&path, 16 << 20) {
            Ok(b) => b,
            Err(e) => {
                items.push(unreadable(format!("cannot read: {e}")));
                continue;
            }
        };
        let hash: [u8; 32] = Sha256::digest(&bytes).into();
        let folder_state = if f.state == State::Open && name.ends_with(".done") { State::Done } else { f.state };
        let same_here = seen_here.get(&hash).cloned();
        seen_here.entry(hash).or_insert_with(|| rel.clone());
        let same_done = match folder_state {
            State::Done => {
                f.done_hashes.entry(hash).or_insert_with(|| rel.clone());
                None
            }
            State::Open => f.done_hashes.get(&hash).cloned(),
            _ => None,
        };
        let parsed = match parse_message(&name, &bytes, zone) {
            Err(e) => {
                items.push(unreadable(e.to_string()));
                continue;
            }
            Ok(p) => p,
        };
        let template = parsed.iter().any(|p| p.template);
        let addressed = parsed.iter().any(|p| p.from.is_some() || p.to.is_some());
        if let Some(reason) = skip::by_content(&name, &bytes, template, addressed) {
            skipped.push(Skipped { file: rel.clone(), reason });
            continue;
        }
        let several = parsed.len() > 1;
        for (n, p) in parsed.into_iter().enumerate() {
            let state = own_state(folder_state, same_done.is_some(), p.own_done);
            let (created_at, date_source) = match (p.created_at, p.date_source) {
                (Some(t), Some(src)) => (t, src),
                _ => (mtime, DateSource::Mtime),
            };
            items.push(Item {
                id: item_id(f.agent, p.text.as_bytes()),
                file: name.clone(),
                rel: rel.clone(),
                part: several.then_some(n + 1),
                state,
                parsed: Some(p),
                reason: None,
                created_at,
                date_source,
                duplicate_of: same_done.clone().or_else(|| same_here.clone()),
                copy_of: None,
            });
        }
    }
}

/// Files without a message extension that are still said to be something else (a log, a
/// config), rather than "unreadable".
fn is_skippable_kind(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [".log", ".jsonl", ".toml", ".yaml", ".yml"].iter().any(|e| lower.ends_with(e))
}

/// A message's state: its own (`read: true` is done, `read: false` open) wins in an inbox or a
/// done folder; then a done file's duplicate is done; else its folder's.
fn own_state(folder: State, done_duplicate: bool, own_done: Option<bool>) -> State {
    match (folder, own_done) {
        (State::Open | State::Done, Some(true)) => State::Done,
        (State::Open | State::Done, Some(false)) => State::Open,
        (State::Open, None) if done_duplicate => State::Done,
        (s, _) => s,
    }
}
