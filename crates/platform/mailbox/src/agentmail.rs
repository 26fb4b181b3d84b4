//! mcp_agent_mail archives, read from their files (never from the server's SQLite database,
//! which its own users find corrupted under load). A project of the archive is a folder with
//! `agents/` and `messages/`: each message is Markdown opening with a `---json` front matter
//! (`id`, `thread_id`, `from`, `to`, `cc`, `bcc`, `subject`, `importance`, `ack_required`,
//! `created`/`created_ts`) and written several times: canonical in `messages/YYYY/MM/`, in the
//! sender's `agents/<name>/outbox/YYYY/MM/` and in each recipient's `agents/<name>/inbox/YYYY/MM/`.
//! The copies of one message are one item, by its `id`: `open` in each recipient's agent, `sent`
//! in the sender's (the files keep no read state). `agents/<name>/profile.json` is the agent's
//! profile. Reads only: never writes, renames or touches a file. What was read of each file is
//! kept in the mailbox's index beside the state ([`crate::index`]), so an archive that did not
//! change is answered from folder and file stamps alone. A name in a message's `from`, `to`,
//! `cc` or `bcc` with no folder under `agents/` is named in `not_read[]`, never dropped unsaid.
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::index::Index;
use crate::model::{Agent, Item, Text};
use crate::notread::{NotRead, silent_dir};
use crate::settings::Kind;
use crate::skip::{self, Skipped};
use crate::when;
use crate::zone::Zone;

/// How deep below `inbox/`, `outbox/` and `messages/` messages are looked for (`YYYY/MM/`).
const MAX_DEPTH: usize = 3;

/// Whether `dir` is one project of an archive: it has `agents/` or `messages/`.
pub fn is_project(dir: &Path) -> bool {
    dir.join("agents").is_dir() || dir.join("messages").is_dir()
}

/// Whether `dir` is an archive (a project, or a folder of projects, directly or in `projects/`).
pub fn is_archive(dir: &Path) -> bool {
    !projects(dir).0.is_empty()
}

fn subdirs(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut v: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .filter(|(n, _)| !n.starts_with('.'))
        .collect();
    v.sort();
    v
}

/// The projects under `path` with the prefix of their agents' names (`""` when `path` is a
/// project, `PROJECT.` above several), and what is there that is no project.
fn projects(path: &Path) -> (Vec<(String, PathBuf)>, Vec<NotRead>) {
    if is_project(path) {
        return (vec![(String::new(), path.to_path_buf())], Vec::new());
    }
    let (mut found, mut other) = (Vec::new(), Vec::new());
    for (name, dir) in subdirs(path) {
        if is_project(&dir) {
            found.push((format!("{name}."), dir));
        } else if name == "projects" && subdirs(&dir).iter().any(|(_, d)| is_project(d)) {
            for (p, d) in subdirs(&dir) {
                if is_project(&d) {
                    found.push((format!("{p}."), d));
                } else {
                    other.push(not_project(d));
                }
            }
        } else {
            other.push(not_project(dir));
        }
    }
    (found, other)
}

fn not_project(path: PathBuf) -> NotRead {
    NotRead { path, reason: "not an mcp_agent_mail project (no agents/ or messages/ folder)".into(), fix: None }
}

/// What the index keeps of a file of the archive: a message, why it is none, or an agent's
/// profile as JSON text (the index is postcard, which keeps no untyped JSON; `None`: not a JSON
/// object).
#[derive(Clone, Serialize, Deserialize)]
pub enum Got {
    Message(crate::index::Shared<Msg>),
    NotMessage(String),
    Profile(Option<String>),
}

/// What a message's front matter and body say, as much as is shown of it.
#[derive(Clone, Serialize, Deserialize)]
pub struct Msg {
    id: String,
    /// `from` as written (a name, or a number), and the names it gives.
    from: Option<Text>,
    from_names: NameList,
    /// `to`, `cc` and `bcc`, and `to` as shown (`a, b`).
    recipients: NameList,
    to_shown: Text,
    subject: Option<Text>,
    thread_id: Option<Text>,
    importance: Option<Text>,
    ack_required: bool,
    /// `created_ts` or `created`, read (ns since the epoch, UTC).
    created_ns: Option<i128>,
    body: Text,
}

impl Msg {
    fn of(f: &Map<String, Value>, body: &str) -> Msg {
        let str_of = |k: &str| -> Option<Text> {
            f.get(k).and_then(|v| v.as_str().map(Text::from).or_else(|| v.as_i64().map(|n| n.to_string().into())))
        };
        let created = ["created_ts", "created"]
            .iter()
            .find_map(|k| f.get(*k)?.as_str().and_then(|s| when::parse_text(s, &Zone::utc())));
        Msg {
            id: id_of(f),
            from: str_of("from"),
            from_names: NameList::of(names(f, "from")),
            recipients: NameList::of(names(f, "to").chain(names(f, "cc")).chain(names(f, "bcc"))),
            to_shown: names(f, "to").collect::<Vec<_>>().join(", ").into(),
            subject: str_of("subject").filter(|s| !s.trim().is_empty()),
            thread_id: str_of("thread_id"),
            importance: str_of("importance"),
            ack_required: f
                .get("ack_required")
                .is_some_and(|v| v.as_bool() == Some(true) || v.as_str() == Some("true")),
            created_ns: created.map(OffsetDateTime::unix_timestamp_nanos),
            body: body.trim().into(),
        }
    }
}

/// The index of one archive.
type Ix = Index<Got>;

/// One copy of a message, read.
struct Copy {
    path: PathBuf,
    msg: crate::index::Shared<Msg>,
}

/// An agent's copy of a message: the agent (its place among the project's agents), where the
/// copy is, and what it says when it was read (a copy named by the `id` of a canonical message
/// read already is not read again).
struct Placed {
    agent: usize,
    path: PathBuf,
    own: Option<crate::index::Shared<Msg>>,
}

/// Every copy of each message of a project, by `id`: canonical, and the agents' inbox and outbox
/// copies, the first of each agent (a message has a few: a list is cheaper than a map, and an
/// archive of 10,000 messages has 50,000 copies).
#[derive(Default)]
struct Message {
    canonical: Option<Copy>,
    inbox: Vec<Placed>,
    outbox: Vec<Placed>,
}

impl Message {
    /// What the message says (its canonical copy's reading, else the first copy read) and where
    /// that copy is.
    fn first(&self) -> Option<(&crate::index::Shared<Msg>, &Path)> {
        if let Some(c) = &self.canonical {
            return Some((&c.msg, &c.path));
        }
        self.inbox.iter().chain(&self.outbox).find_map(|p| Some((p.own.as_ref()?, p.path.as_path())))
    }

    /// Where its items go among an agent's: by date, then file name.
    fn order(&self) -> Option<(Option<i128>, &str)> {
        self.first().map(|(f, p)| (f.created_ns, file_name(p)))
    }
}

/// The name of the file at `path` (made by joining a listed name, so it has one), cut by its
/// bytes: parsing the components of 50,000 copies' paths was a twentieth of an unchanged look.
fn file_name(path: &Path) -> &str {
    let b = path.as_os_str().as_encoded_bytes();
    std::str::from_utf8(b.rsplit(|c| *c == b'/').next().unwrap_or(b)).unwrap_or_default()
}

/// The message `id` a copy's file name carries: `<id>.md`, or `<ISO>__<subject>__<id>.md`.
fn file_id(path: &Path) -> Option<&str> {
    let name = file_name(path);
    let stem = match name.rfind('.') {
        Some(dot) if dot > 0 => &name[..dot],
        _ => name,
    };
    let id = stem.rsplit_once("__").map_or(stem, |(_, id)| id);
    (!id.is_empty()).then_some(id)
}

/// The `.md` files under `dir` (to [`MAX_DEPTH`] folders down), sorted; folders named in
/// `skip_dirs` are left out.
fn md_files(
    ix: &mut Ix,
    dir: &Path,
    depth: usize,
    skip_dirs: &[&str],
    out: &mut Vec<PathBuf>,
    other: &mut Vec<PathBuf>,
) {
    for (name, is_dir) in ix.list(dir).iter() {
        let path = dir.join(name);
        if is_dir {
            if depth < MAX_DEPTH && !name.starts_with('.') && !skip_dirs.contains(&name) {
                md_files(ix, &path, depth + 1, skip_dirs, out, other);
            } else if !silent_dir(name) {
                other.push(path);
            }
        } else if name.len() > 3
            && name.is_char_boundary(name.len() - 3)
            && name[name.len() - 3..].eq_ignore_ascii_case(".md")
        {
            out.push(path);
        } else if !skip::placeholder(name) {
            other.push(path);
        }
    }
}

/// A copy's front matter and body, from the index when the file did not change; `Err` says why
/// it is no message.
fn read_copy(ix: &mut Ix, path: PathBuf) -> Result<Copy, (PathBuf, String)> {
    match ix.read(&path, |p| got_copy(p).unwrap_or_else(Got::NotMessage)) {
        Got::Message(msg) => Ok(Copy { path, msg }),
        Got::NotMessage(why) => Err((path, why)),
        Got::Profile(_) => Err((path, "not a message file of the archive".into())),
    }
}

fn got_copy(path: &Path) -> Result<Got, String> {
    let bytes = crate::claude::read_capped(path, 16 << 20).map_err(|e| format!("cannot read: {e}"))?;
    let text = std::str::from_utf8(&bytes).map_err(|_| "not UTF-8 text".to_string())?;
    let (fields, body) =
        crate::front::split(text).ok_or("no mcp_agent_mail front matter (a `---json` block)".to_string())?;
    if fields.get("id").is_none_or(Value::is_null) {
        return Err("its front matter has no message `id`".into());
    }
    Ok(Got::Message(crate::index::Shared(std::rc::Rc::new(Msg::of(&fields, body)))))
}

fn id_of(fields: &Map<String, Value>) -> String {
    match fields.get("id") {
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => String::new(),
    }
}

/// Reads the archive at `path` into agents (named `AGENT`, or `PROJECT.AGENT` above several
/// projects) and what was not read, through the index kept in `index` (none: every file is read).
pub fn read(mailbox: &str, path: &Path, index: Option<PathBuf>) -> (Vec<Agent>, Vec<NotRead>, crate::index::Counts) {
    let (found, mut not_read) = projects(path);
    let mut ix: Ix = Index::open(index, path);
    let mut agents = Vec::new();
    for (prefix, dir) in found {
        agents.extend(read_project(&mut ix, mailbox, &prefix, &dir, &mut not_read));
    }
    (agents, not_read, ix.save())
}

fn read_project(ix: &mut Ix, mailbox: &str, prefix: &str, dir: &Path, not_read: &mut Vec<NotRead>) -> Vec<Agent> {
    let mut messages: HashMap<String, Message> = HashMap::new();
    let (mut files, mut other) = (Vec::new(), Vec::new());
    md_files(ix, &dir.join("messages"), 0, &["threads"], &mut files, &mut other);
    for f in files {
        match read_copy(ix, f) {
            Ok(c) => {
                let id = c.msg.id.clone();
                messages.entry(id).or_default().canonical = Some(c);
            }
            Err((f, why)) => not_read.push(NotRead { path: f, reason: format!("not a message: {why}"), fix: None }),
        }
    }
    for p in other {
        let reason = if p == dir.join("messages/threads") {
            "thread digests: summaries of the canonical messages, which are read"
        } else {
            "not a message file of the archive"
        };
        not_read.push(NotRead { path: p, reason: reason.into(), fix: None });
    }
    // Canonical copies first: an agent's copy of one of them need not be read again. The agents
    // in the listing's order (by name), so a name is found by a binary search.
    let (mut agents, mut names) = (Vec::new(), Vec::new());
    let agents_dir = dir.join("agents");
    for (name, is_dir) in ix.list(&agents_dir).iter() {
        if !is_dir || name.starts_with('.') {
            continue;
        }
        let path = agents_dir.join(name);
        let mut a = Agent {
            agent: format!("{prefix}{name}"),
            mailbox: mailbox.to_string(),
            kind: Kind::AgentMail,
            path: path.clone(),
            items: Vec::new(),
            error: None,
            member: None,
            skipped: 0,
            not_messages: Vec::new(),
            profile: None,
            seen: None,
        };
        read_agent_files(ix, &mut a, agents.len(), &path, &mut messages, not_read);
        agents.push(a);
        names.push(name.to_string());
    }
    project_leftovers(ix, dir, not_read);
    // Placed in the order their items are sorted in (date, then file name; a message's copies
    // share its file name), so each agent's items come out sorted and sorting them is one pass
    // (an item is large to move).
    // The keys are taken once (borrowed), then sorted: taking them in each comparison was a
    // tenth of an unchanged look.
    let messages: Vec<(String, Message)> = messages.into_iter().collect();
    let mut order: Vec<_> = messages.iter().enumerate().map(|(i, (id, m))| (m.order(), id.as_str(), i)).collect();
    order.sort_unstable();
    let order: Vec<usize> = order.into_iter().map(|(.., i)| i).collect();
    let mut messages: Vec<Option<(String, Message)>> = messages.into_iter().map(Some).collect();
    let mut unlisted: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (id, m) in order.into_iter().filter_map(|i| messages[i].take()) {
        for name in place(prefix, &id, m, &names, &mut agents) {
            unlisted.entry(name).or_default().push(message_id(prefix, &id));
        }
    }
    for (name, mut ids) in unlisted {
        ids.sort();
        not_read.push(no_folder(&agents_dir, &name, &ids));
    }
    for a in &mut agents {
        a.items.sort_by(|x, y| (x.created_at, &x.file).cmp(&(y.created_at, &y.file)));
    }
    agents
}

/// A name its messages give (`from`, `to`, `cc`, `bcc`) with no folder under `agents/`: its
/// messages are listed under no agent of the archive, which this says.
fn no_folder(agents_dir: &Path, name: &str, ids: &[String]) -> NotRead {
    let shown: Vec<&str> = ids.iter().take(5).map(String::as_str).collect();
    let more = if ids.len() > shown.len() { format!(" and {} more", ids.len() - shown.len()) } else { String::new() };
    NotRead {
        path: agents_dir.join(name),
        reason: format!(
            "{name:?} sends or receives {} message(s) ({}{more}) but has no agent folder in the archive: they are listed under no agent for it",
            ids.len(),
            shown.join(", ")
        ),
        fix: None,
    }
}

/// What a project folder holds besides `agents/` and `messages/`.
fn project_leftovers(ix: &mut Ix, dir: &Path, not_read: &mut Vec<NotRead>) {
    for (name, _) in ix.list(dir).iter() {
        if name == "agents" || name == "messages" || skip::placeholder(name) || silent_dir(name) {
            continue;
        }
        let reason = match name {
            "file_reservations" | "claims" => "file reservations (advisory locks on paths), not messages",
            "attachments" => "attachments: the messages that use them are read",
            _ => "not part of an mcp_agent_mail project's mail",
        };
        not_read.push(NotRead { path: dir.join(name), reason: reason.into(), fix: None });
    }
}

/// An agent's folder: its profile, and its inbox and outbox copies added to `messages`.
fn read_agent_files(
    ix: &mut Ix,
    a: &mut Agent,
    agent: usize,
    path: &Path,
    messages: &mut HashMap<String, Message>,
    not_read: &mut Vec<NotRead>,
) {
    let mut placed_here = 0;
    for (sub, outbox) in [("inbox", false), ("outbox", true)] {
        let (mut files, mut other) = (Vec::new(), Vec::new());
        md_files(ix, &path.join(sub), 0, &[], &mut files, &mut other);
        for f in files {
            // A copy named by the id of a canonical message read already is not read again.
            let known = file_id(&f).and_then(|id| messages.get_mut(id)).filter(|m| m.canonical.is_some());
            let (m, placed) = match known {
                Some(m) => (m, Placed { agent, path: f, own: None }),
                None => match read_copy(ix, f) {
                    Ok(c) => {
                        let m = messages.entry(c.msg.id.clone()).or_default();
                        (m, Placed { agent, path: c.path, own: Some(c.msg) })
                    }
                    Err((f, why)) => {
                        a.not_messages.push(Skipped { file: rel(path, &f), reason: why });
                        continue;
                    }
                },
            };
            let copies = if outbox { &mut m.outbox } else { &mut m.inbox };
            if !copies.iter().any(|p| p.agent == agent) {
                copies.push(placed);
                placed_here += 1;
            }
        }
        for p in other {
            a.not_messages
                .push(Skipped { file: rel(path, &p), reason: "not a message file (.md) of the archive".into() });
        }
    }
    // Each copy is an item of this agent: room for them at once (an item is large to move).
    a.items.reserve_exact(placed_here);
    let entries = ix.list(path);
    if entries.iter().any(|(n, d)| n == "profile.json" && !d) {
        match ix.read(&path.join("profile.json"), read_profile) {
            Got::Profile(Some(p)) if let Ok(p) = serde_json::from_str(&p) => a.profile = Some(p),
            _ => a.not_messages.push(Skipped { file: "profile.json".into(), reason: "not a JSON object".into() }),
        }
    }
    for (n, _) in entries.iter() {
        if !["inbox", "outbox", "profile.json"].contains(&n) && !skip::placeholder(n) && !silent_dir(n) {
            not_read.push(NotRead {
                path: path.join(n),
                reason: format!("not an inbox, outbox or profile of agent {}", a.agent),
                fix: None,
            });
        }
    }
}

/// An agent's `profile.json`, the fields worth showing.
fn read_profile(path: &Path) -> Got {
    match std::fs::read(path).map(|b| serde_json::from_slice::<Value>(&b)) {
        Ok(Ok(Value::Object(p))) => {
            let keep = ["name", "program", "model", "task_description", "inception_ts", "last_active_ts"];
            let kept: Map<String, Value> = p.into_iter().filter(|(k, _)| keep.contains(&k.as_str())).collect();
            Got::Profile(Some(Value::Object(kept).to_string()))
        }
        _ => Got::Profile(None),
    }
}

fn rel(base: &Path, p: &Path) -> String {
    p.strip_prefix(base).unwrap_or(p).to_string_lossy().into_owned()
}

/// The names a front matter field lists (`["a", "b"]` or `"a"`).
fn names<'f>(fields: &'f Map<String, Value>, key: &str) -> impl Iterator<Item = &'f str> {
    let (list, one) = match fields.get(key) {
        Some(Value::Array(a)) => (a.as_slice(), None),
        Some(Value::String(s)) if !s.trim().is_empty() => (&[][..], Some(s.trim())),
        _ => (&[][..], None),
    };
    list.iter().filter_map(Value::as_str).chain(one)
}

/// Names in one string, each ended by a NUL: a message names a few, and an archive's index
/// keeps 10,000 messages, so one allocation for them all, not one per name (a name holding a
/// NUL, which no agent's has, is left out).
#[derive(Clone, Default, Serialize, Deserialize)]
struct NameList(String);

impl NameList {
    fn of<'a>(names: impl Iterator<Item = &'a str>) -> NameList {
        let mut s = String::new();
        for n in names.filter(|n| !n.contains('\0')) {
            s.push_str(n);
            s.push('\0');
        }
        NameList(s)
    }

    fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.split_terminator('\0')
    }
}

/// An archive message's id: `am-` and 20 hex digits of its project and its own `id`.
pub fn message_id(prefix: &str, id: &str) -> String {
    let mut h = Sha256::new();
    h.update(prefix.as_bytes());
    h.update([0u8]);
    h.update(id.as_bytes());
    format!("am-{}", hex::encode(&h.finalize()[..10]))
}

/// Lists message `id` in each of its recipients' agents (`open`) and its sender's (`sent`),
/// moving each agent's copy's path into its item. `names` are the agents' folder names, sorted,
/// in the order of `agents`. Returns the names it gives that have no agent here.
fn place(prefix: &str, id: &str, m: Message, names: &[String], agents: &mut [Agent]) -> Vec<String> {
    let Some((f, first_path)) = m.first().map(|(f, p)| (f.clone(), p.to_path_buf())) else {
        return Vec::new();
    };
    let Message { inbox, outbox, .. } = m;
    let mut unlisted = Vec::new();
    let item_id: Text = message_id(prefix, id).into();
    let date = f.created_ns.and_then(|ns| OffsetDateTime::from_unix_timestamp_nanos(ns).ok());
    for (state, copies, named) in [("open", inbox, &f.recipients), ("sent", outbox, &f.from_names)] {
        // Each agent once: those with a copy (with it), then those only the front matter names.
        let mut places: Vec<(usize, Option<Placed>)> = Vec::with_capacity(copies.len() + 1);
        places.extend(copies.into_iter().map(|p| (p.agent, Some(p))));
        for name in named.iter() {
            match names.binary_search_by(|n| n.as_str().cmp(name)) {
                Ok(i) if !places.iter().any(|(a, _)| *a == i) => places.push((i, None)),
                Ok(_) => {}
                Err(_) if !unlisted.iter().any(|u| u == name) => unlisted.push(name.to_string()),
                Err(_) => {}
            }
        }
        for (agent, placed) in places {
            let (path, own) = match placed {
                Some(p) => (p.path, p.own),
                None => (first_path.clone(), None),
            };
            let body = own.as_ref().map_or(&f.body, |o| &o.body);
            // The file's mtime only when the front matter has no date.
            let mtime = || std::fs::metadata(&path).and_then(|x| x.modified()).map(OffsetDateTime::from).ok();
            let title = f.subject.clone().unwrap_or_else(|| {
                body.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("(no subject)").into()
            });
            agents[agent].items.push(Item {
                id: item_id.clone(),
                file: file_name(&path).to_owned(),
                state,
                from: f.from.clone(),
                to: Some(f.to_shown.clone()),
                title,
                created_at: date.or_else(mtime).unwrap_or(OffsetDateTime::UNIX_EPOCH),
                date_source: if date.is_some() { "body" } else { "mtime" },
                kind: None,
                part: None,
                duplicate_of: None,
                copy_of: None,
                ack_required: f.ack_required && state == "open",
                thread_id: f.thread_id.clone(),
                importance: f.importance.clone(),
                reason: None,
                timestamp: None,
                text: Some(body.clone()),
                path,
            });
        }
    }
    unlisted
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message file as mcp_agent_mail's `write_message_bundle` writes it: `---json`, the
    /// front matter (indented, keys sorted), `---`, a blank line, the body.
    fn message(id: u64, from: &str, to: &[&str], subject: &str, created: &str, ack: bool, body: &str) -> String {
        let fm = serde_json::json!({
            "ack_required": ack, "attachments": [], "bcc": [], "cc": [], "created": created, "from": from,
            "id": id, "importance": "normal", "project": "/src/app", "project_slug": "src-app",
            "subject": subject, "thread_id": null, "to": to,
        });
        format!("---json\n{}\n---\n\n{body}\n", serde_json::to_string_pretty(&fm).unwrap())
    }

    fn put(p: &Path, s: &str) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, s).unwrap();
    }

    /// Writes one message in every place the archive keeps it.
    fn send(project: &Path, id: u64, from: &str, to: &[&str], subject: &str, ack: bool) {
        let text = message(id, from, to, subject, "2026-01-18T09:30:00.123456+00:00", ack, "Please look.");
        let name = format!("2026-01-18T09-30-00Z__{}__{id}.md", subject.to_lowercase().replace(' ', "-"));
        put(&project.join("messages/2026/01").join(&name), &text);
        put(&project.join(format!("agents/{from}/outbox/2026/01")).join(&name), &text);
        for r in to {
            put(&project.join(format!("agents/{r}/inbox/2026/01")).join(&name), &text);
        }
    }

    fn project(root: &Path) {
        for a in ["GreenCastle", "BlueLake", "RedCat"] {
            put(
                &root.join(format!("agents/{a}/profile.json")),
                &format!(r#"{{"name": "{a}", "program": "claude-code", "model": "opus"}}"#),
            );
        }
        send(root, 1, "GreenCastle", &["BlueLake", "RedCat"], "Plan the parser", true);
        send(root, 2, "BlueLake", &["GreenCastle"], "Parser plan ok", false);
        put(&root.join("messages/threads/t1.md"), "# Thread t1\n");
        put(&root.join("file_reservations/abc.json"), r#"{"path_pattern": "src/*"}"#);
        put(&root.join("agents/RedCat/inbox/2026/01/notes.txt"), "scratch");
        // An older archive's name (`<id>.md`), and no canonical copy: read from the inbox copy.
        let only = message(9, "BlueLake", &["RedCat"], "Inbox only", "2026-01-19T08:00:00Z", false, "x");
        put(&root.join("agents/RedCat/inbox/2026/01/9.md"), &only);
    }

    #[test]
    fn copies_of_a_message_are_one_item_by_id() {
        let d = tempfile::tempdir().unwrap();
        project(d.path());
        let (agents, not_read, _) = read("mail", d.path(), None);
        let names: Vec<&str> = agents.iter().map(|a| a.agent.as_str()).collect();
        assert_eq!(names, vec!["BlueLake", "GreenCastle", "RedCat"]);
        let count = |a: &Agent, st: &str| a.items.iter().filter(|i| i.state == st).count();
        let (blue, green, red) = (&agents[0], &agents[1], &agents[2]);
        assert_eq!((count(blue, "open"), count(blue, "sent")), (1, 2), "its front matter's `from` sent 9 too");
        assert_eq!((count(green, "open"), count(green, "sent")), (1, 1));
        assert_eq!((count(red, "open"), count(red, "sent")), (2, 0));
        assert_eq!(&*red.items[1].title, "Inbox only");
        assert_eq!(red.items[1].file, "9.md");
        let plan = &red.items[0];
        assert_eq!(&*plan.title, "Plan the parser");
        assert_eq!(plan.from.as_deref(), Some("GreenCastle"));
        assert_eq!(plan.to.as_deref(), Some("BlueLake, RedCat"));
        assert!(plan.ack_required);
        assert_eq!(plan.importance.as_deref(), Some("normal"));
        assert_eq!(when::rfc3339(plan.created_at), "2026-01-18T09:30:00.123Z");
        assert_eq!(plan.date_source, "body");
        assert!(plan.path.starts_with(d.path().join("agents/RedCat/inbox")), "{:?}", plan.path);
        // The same message has the same id in every agent that lists it.
        let sent = green.items.iter().find(|i| i.state == "sent").unwrap();
        assert_eq!(sent.id, plan.id);
        assert!(!sent.ack_required, "the sender has nothing to acknowledge");
        let acks = |a: &Agent| a.items.iter().filter(|i| i.ack_required).count();
        assert_eq!((acks(blue), acks(green), acks(red)), (1, 0, 1));
        let reply = green.items.iter().find(|i| i.state == "open").unwrap();
        assert_eq!((&*reply.title, reply.ack_required), ("Parser plan ok", false));
        assert_eq!(red.profile.as_ref().unwrap()["model"], "opus");
        assert_eq!(red.not_messages.len(), 1, "{:?}", red.not_messages);
        assert_eq!(red.not_messages[0].file, "inbox/2026/01/notes.txt");
        let not_read: Vec<String> =
            not_read.iter().map(|n| n.path.strip_prefix(d.path()).unwrap().display().to_string()).collect();
        assert_eq!(not_read, vec!["messages/threads", "file_reservations"]);
    }

    #[test]
    fn above_several_projects_agents_are_project_dot_agent() {
        let d = tempfile::tempdir().unwrap();
        project(&d.path().join("projects/src-app"));
        send(&d.path().join("projects/docs"), 1, "Writer", &["Editor"], "Draft", false);
        std::fs::create_dir_all(d.path().join("projects/docs/agents/Writer")).unwrap();
        put(&d.path().join("notes.md"), "hello");
        assert!(is_archive(d.path()));
        let (agents, not_read, _) = read("mail", d.path(), None);
        let names: Vec<&str> = agents.iter().map(|a| a.agent.as_str()).collect();
        assert_eq!(
            names,
            vec!["docs.Editor", "docs.Writer", "src-app.BlueLake", "src-app.GreenCastle", "src-app.RedCat"]
        );
        assert_ne!(agents[0].items[0].id, agents[3].items[0].id, "ids are per project");
        assert!(
            not_read.iter().all(|n| !n.path.ends_with("notes.md")),
            "a file beside the projects is no project folder"
        );
        assert!(!is_archive(&d.path().join("projects/docs/agents")));
    }
}
