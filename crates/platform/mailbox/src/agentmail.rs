//! mcp_agent_mail archives, read from their files (never from the server's SQLite database,
//! which its own users find corrupted under load). A project of the archive is a folder with
//! `agents/` and `messages/`: each message is Markdown opening with a `---json` front matter
//! (`id`, `thread_id`, `from`, `to`, `cc`, `bcc`, `subject`, `importance`, `ack_required`,
//! `created`/`created_ts`) and written several times: canonical in `messages/YYYY/MM/`, in the
//! sender's `agents/<name>/outbox/YYYY/MM/` and in each recipient's `agents/<name>/inbox/YYYY/MM/`.
//! The copies of one message are one item, by its `id`: `open` in each recipient's agent, `sent`
//! in the sender's (the files keep no read state). `agents/<name>/profile.json` is the agent's
//! profile. Reads only: never writes, renames or touches a file.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::notread::{NotRead, silent_dir};
use crate::report::{Agent, Item};
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

/// One copy of a message, read.
struct Copy {
    path: PathBuf,
    fields: Map<String, Value>,
    body: String,
}

/// An agent's copy of a message: where it is, and what it says when it was read (a copy named
/// by the `id` of a canonical message read already is not read again).
struct Placed {
    path: PathBuf,
    own: Option<Copy>,
}

/// Every copy of each message of a project, by `id`: canonical, and per agent in its inbox and
/// outbox.
#[derive(Default)]
struct Message {
    canonical: Option<Copy>,
    inbox: BTreeMap<String, Placed>,
    outbox: BTreeMap<String, Placed>,
}

/// The message `id` a copy's file name carries: `<id>.md`, or `<ISO>__<subject>__<id>.md`.
fn file_id(path: &Path) -> Option<String> {
    let stem = path.file_stem()?.to_str()?;
    let id = stem.rsplit_once("__").map_or(stem, |(_, id)| id);
    (!id.is_empty()).then(|| id.to_string())
}

/// The `.md` files under `dir` (to [`MAX_DEPTH`] folders down), sorted; folders named in
/// `skip_dirs` are left out.
fn md_files(dir: &Path, depth: usize, skip_dirs: &[&str], out: &mut Vec<PathBuf>, other: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<(String, PathBuf, bool)> = rd
        .flatten()
        .filter_map(|e| Some((e.file_name().to_string_lossy().into_owned(), e.path(), e.file_type().ok()?.is_dir())))
        .collect();
    entries.sort();
    for (name, path, is_dir) in entries {
        if is_dir {
            if depth < MAX_DEPTH && !name.starts_with('.') && !skip_dirs.contains(&name.as_str()) {
                md_files(&path, depth + 1, skip_dirs, out, other);
            } else if !silent_dir(&name) {
                other.push(path);
            }
        } else if name.to_ascii_lowercase().ends_with(".md") {
            out.push(path);
        } else if !skip::placeholder(&name) {
            other.push(path);
        }
    }
}

/// A copy's front matter and body; `Err` says why it is no message.
fn read_copy(path: &Path) -> Result<Copy, String> {
    let bytes = crate::claude::read_capped(path, 16 << 20).map_err(|e| format!("cannot read: {e}"))?;
    let text = std::str::from_utf8(&bytes).map_err(|_| "not UTF-8 text".to_string())?;
    let (fields, body) =
        crate::front::split(text).ok_or("no mcp_agent_mail front matter (a `---json` block)".to_string())?;
    if fields.get("id").is_none_or(Value::is_null) {
        return Err("its front matter has no message `id`".into());
    }
    Ok(Copy { path: path.to_path_buf(), body: body.trim().to_string(), fields })
}

fn id_of(fields: &Map<String, Value>) -> String {
    match fields.get("id") {
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => String::new(),
    }
}

/// Reads the archive at `path` into agents (named `AGENT`, or `PROJECT.AGENT` above several
/// projects) and what was not read.
pub fn read(mailbox: &str, path: &Path) -> (Vec<Agent>, Vec<NotRead>) {
    let (found, mut not_read) = projects(path);
    let mut agents = Vec::new();
    for (prefix, dir) in found {
        agents.extend(read_project(mailbox, &prefix, &dir, &mut not_read));
    }
    (agents, not_read)
}

fn read_project(mailbox: &str, prefix: &str, dir: &Path, not_read: &mut Vec<NotRead>) -> Vec<Agent> {
    let mut messages: BTreeMap<String, Message> = BTreeMap::new();
    let (mut files, mut other) = (Vec::new(), Vec::new());
    md_files(&dir.join("messages"), 0, &["threads"], &mut files, &mut other);
    for f in files {
        match read_copy(&f) {
            Ok(c) => {
                let id = id_of(&c.fields);
                messages.entry(id).or_default().canonical = Some(c);
            }
            Err(why) => not_read.push(NotRead { path: f, reason: format!("not a message: {why}"), fix: None }),
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
    // Canonical copies first: an agent's copy of one of them need not be read again.
    let mut agents: BTreeMap<String, Agent> = BTreeMap::new();
    for (name, path) in subdirs(&dir.join("agents")) {
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
        };
        read_agent_files(&mut a, &name, &path, &mut messages, not_read);
        agents.insert(name, a);
    }
    project_leftovers(dir, not_read);
    for (id, m) in &messages {
        place(prefix, id, m, &mut agents);
    }
    let mut out: Vec<Agent> = agents.into_values().collect();
    for a in &mut out {
        a.items.sort_by(|x, y| (x.created_at, &x.file).cmp(&(y.created_at, &y.file)));
    }
    out
}

/// What a project folder holds besides `agents/` and `messages/`.
fn project_leftovers(dir: &Path, not_read: &mut Vec<NotRead>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    let mut names: Vec<(String, PathBuf)> =
        rd.flatten().map(|e| (e.file_name().to_string_lossy().into_owned(), e.path())).collect();
    names.sort();
    for (name, path) in names {
        if name == "agents" || name == "messages" || skip::placeholder(&name) || silent_dir(&name) {
            continue;
        }
        let reason = match name.as_str() {
            "file_reservations" | "claims" => "file reservations (advisory locks on paths), not messages",
            "attachments" => "attachments: the messages that use them are read",
            _ => "not part of an mcp_agent_mail project's mail",
        };
        not_read.push(NotRead { path, reason: reason.into(), fix: None });
    }
}

/// An agent's folder: its profile, and its inbox and outbox copies added to `messages`.
fn read_agent_files(
    a: &mut Agent,
    name: &str,
    path: &Path,
    messages: &mut BTreeMap<String, Message>,
    not_read: &mut Vec<NotRead>,
) {
    for (sub, outbox) in [("inbox", false), ("outbox", true)] {
        let (mut files, mut other) = (Vec::new(), Vec::new());
        md_files(&path.join(sub), 0, &[], &mut files, &mut other);
        for f in files {
            let known = file_id(&f).filter(|id| messages.get(id).is_some_and(|m| m.canonical.is_some()));
            let (id, placed) = match known {
                Some(id) => (id, Placed { path: f, own: None }),
                None => match read_copy(&f) {
                    Ok(c) => (id_of(&c.fields), Placed { path: f, own: Some(c) }),
                    Err(why) => {
                        a.not_messages.push(Skipped { file: rel(path, &f), reason: why });
                        continue;
                    }
                },
            };
            let m = messages.entry(id).or_default();
            let copies = if outbox { &mut m.outbox } else { &mut m.inbox };
            copies.entry(name.to_string()).or_insert(placed);
        }
        for p in other {
            a.not_messages
                .push(Skipped { file: rel(path, &p), reason: "not a message file (.md) of the archive".into() });
        }
    }
    match std::fs::read(path.join("profile.json")).map(|b| serde_json::from_slice::<Value>(&b)) {
        Ok(Ok(Value::Object(p))) => {
            let keep = ["name", "program", "model", "task_description", "inception_ts", "last_active_ts"];
            a.profile = Some(Value::Object(p.into_iter().filter(|(k, _)| keep.contains(&k.as_str())).collect()));
        }
        Ok(_) => a.not_messages.push(Skipped { file: "profile.json".into(), reason: "not a JSON object".into() }),
        Err(_) => {}
    }
    for (n, p) in std::fs::read_dir(path).into_iter().flatten().flatten().map(|e| (e.file_name(), e.path())) {
        let n = n.to_string_lossy();
        if !["inbox", "outbox", "profile.json"].contains(&n.as_ref()) && !skip::placeholder(&n) && !silent_dir(&n) {
            not_read.push(NotRead {
                path: p,
                reason: format!("not an inbox, outbox or profile of agent {}", a.agent),
                fix: None,
            });
        }
    }
}

fn rel(base: &Path, p: &Path) -> String {
    p.strip_prefix(base).unwrap_or(p).to_string_lossy().into_owned()
}

/// The names a front matter field lists (`["a", "b"]` or `"a"`).
fn names(fields: &Map<String, Value>, key: &str) -> Vec<String> {
    match fields.get(key) {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        Some(Value::String(s)) if !s.trim().is_empty() => vec![s.trim().to_string()],
        _ => Vec::new(),
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

fn first_read(copies: &BTreeMap<String, Placed>) -> Option<&Copy> {
    copies.values().find_map(|p| p.own.as_ref())
}

/// Lists message `id` in each of its recipients' agents (`open`) and its sender's (`sent`).
fn place(prefix: &str, id: &str, m: &Message, agents: &mut BTreeMap<String, Agent>) {
    let Some(first) = m.canonical.as_ref().or_else(|| first_read(&m.inbox)).or_else(|| first_read(&m.outbox)) else {
        return;
    };
    let f = &first.fields;
    let mut to: BTreeSet<String> = ["to", "cc", "bcc"].iter().flat_map(|k| names(f, k)).collect();
    to.extend(m.inbox.keys().cloned());
    let mut from: BTreeSet<String> = names(f, "from").into_iter().collect();
    from.extend(m.outbox.keys().cloned());
    let str_of =
        |k: &str| f.get(k).and_then(|v| v.as_str().map(str::to_string).or_else(|| v.as_i64().map(|n| n.to_string())));
    let ack = f.get("ack_required").is_some_and(|v| v.as_bool() == Some(true) || v.as_str() == Some("true"));
    let date = ["created_ts", "created"]
        .iter()
        .find_map(|k| f.get(*k)?.as_str().and_then(|s| when::parse_text(s, &Zone::utc())));
    for (names, state, copies) in [(&to, "open", &m.inbox), (&from, "sent", &m.outbox)] {
        for name in names {
            let Some(a) = agents.get_mut(name) else { continue };
            let placed = copies.get(name);
            let copy = placed.and_then(|p| p.own.as_ref()).unwrap_or(first);
            let path = placed.map_or(&first.path, |p| &p.path);
            // The file's mtime only when the front matter has no date.
            let mtime = || std::fs::metadata(path).and_then(|x| x.modified()).map(OffsetDateTime::from).ok();
            let title = str_of("subject").filter(|s| !s.trim().is_empty()).unwrap_or_else(|| {
                copy.body.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("(no subject)").to_string()
            });
            a.items.push(Item {
                id: message_id(prefix, id),
                file: path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                path: path.clone(),
                state,
                from: str_of("from"),
                to: Some(names_joined(f)),
                title,
                created_at: date.or_else(mtime).unwrap_or(OffsetDateTime::UNIX_EPOCH),
                date_source: if date.is_some() { "body" } else { "mtime" },
                kind: None,
                part: None,
                duplicate_of: None,
                copy_of: None,
                ack_required: ack && state == "open",
                thread_id: str_of("thread_id"),
                importance: str_of("importance"),
                reason: None,
                timestamp: None,
                text: Some(copy.body.clone()),
            });
        }
    }
}

fn names_joined(f: &Map<String, Value>) -> String {
    names(f, "to").join(", ")
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
        let (agents, not_read) = read("mail", d.path());
        let names: Vec<&str> = agents.iter().map(|a| a.agent.as_str()).collect();
        assert_eq!(names, vec!["BlueLake", "GreenCastle", "RedCat"]);
        let count = |a: &Agent, st: &str| a.items.iter().filter(|i| i.state == st).count();
        let (blue, green, red) = (&agents[0], &agents[1], &agents[2]);
        assert_eq!((count(blue, "open"), count(blue, "sent")), (1, 2), "its front matter's `from` sent 9 too");
        assert_eq!((count(green, "open"), count(green, "sent")), (1, 1));
        assert_eq!((count(red, "open"), count(red, "sent")), (2, 0));
        assert_eq!(red.items[1].title, "Inbox only");
        assert_eq!(red.items[1].file, "9.md");
        let plan = &red.items[0];
        assert_eq!(plan.title, "Plan the parser");
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
        assert_eq!((reply.title.as_str(), reply.ack_required), ("Parser plan ok", false));
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
        let (agents, not_read) = read("mail", d.path());
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
