//! Nothing unlisted: every file and folder under a configured mailbox's path that baton did
//! not read, with the reason and, where one exists, the fix (`mailboxes[].not_read[]`). A dot
//! folder inside an agent's folder (a queue a script keeps) is named with the `inbox` line that
//! would read it; files and folders outside any agent folder, and handoff-like JSON in a folder
//! that is no inbox, are named too. Placeholders (dotfiles, lock sidecars) stay silent, and a
//! folder that looks like a whole mailbox no layout reads is `unmatched[]`'s ([`crate::detect`]).
//! In a Claude Code teams folder, everything but `<team>/inboxes/*.json`, `<team>/config.json`
//! and lock sidecars is named ([`claude`]).
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::folders::{self, Agent};
use crate::settings::MailboxSettings;
use crate::skip;

/// One file or folder not read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotRead {
    pub path: PathBuf,
    pub reason: String,
    /// What would read it, when something would.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// Folders never worth a line: version control and baton's own working folders.
pub(crate) fn silent_dir(name: &str) -> bool {
    [
        ".git",
        ".hg",
        ".svn",
        ".baton-tmp",
        ".baton-replies",
        ".claims",
        ".outbox",
        ".superseded",
        ".archive",
        "node_modules",
    ]
    .contains(&name)
}

/// Whether a file's name looks like a handoff or a queued message (`handoff_*.json`,
/// `*HANDOFF*.json`, `queue.json`, `inbox.json`…).
pub fn handoff_like(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    (lower.ends_with(".json") || lower.ends_with(".jsonl"))
        && ["handoff", "queue", "inbox", "task", "message"].iter().any(|w| lower.contains(w))
}

/// A folder's files and folders, as `(name, path, is_dir)`, without placeholders.
fn entries(dir: &Path) -> Vec<(String, PathBuf, bool)> {
    let mut v: Vec<(String, PathBuf, bool)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let dir = e.file_type().ok()?.is_dir();
            let keep = if dir { !silent_dir(&name) } else { !skip::placeholder(&name) };
            keep.then(|| (name, e.path(), dir))
        })
        .collect();
    v.sort();
    v
}

/// What a folder mailbox at `root` did not read, its `agents` read by `s`.
pub fn folders(root: &Path, s: &MailboxSettings, agents: &[Agent]) -> Vec<NotRead> {
    let mut out = Vec::new();
    for (name, path, is_dir) in entries(root) {
        if let Some(a) = agents.iter().find(|a| a.path == path) {
            agent_folder(a, s, &mut out);
        } else if is_dir && name.starts_with('.') {
            out.push(NotRead { reason: format!("a dot folder{}", holding(&path)), fix: None, path });
        } else if is_dir {
            let why =
                format!("a folder outside any agent folder (no {} folder in it){}", s.inbox.join(", "), holding(&path));
            out.push(NotRead { path, reason: why, fix: None });
        } else {
            out.push(NotRead { path, reason: "a file outside any agent folder".into(), fix: None });
        }
    }
    out
}

/// `: N handoff-like files (a.json, …)` when the folder holds some.
fn holding(dir: &Path) -> String {
    let found: Vec<String> =
        entries(dir).into_iter().filter(|(n, _, d)| !d && handoff_like(n)).map(|(n, _, _)| n).collect();
    match found.len() {
        0 => String::new(),
        n => format!(
            ", holding {n} handoff-like file(s): {}",
            found.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
        ),
    }
}

fn agent_folder(a: &Agent, s: &MailboxSettings, out: &mut Vec<NotRead>) {
    let read: Vec<&String> = s.inbox.iter().chain(&s.done).chain(&s.outbox).collect();
    let is_read = |n: &str| read.iter().any(|r| r.split('/').next() == Some(n));
    for (name, path, is_dir) in entries(&a.path) {
        if is_read(&name) {
            if is_dir {
                inside_read_folder(&path, &name, s, out);
            }
            continue;
        }
        if is_dir && name.starts_with('.') {
            let mut inbox: Vec<String> = s.inbox.clone();
            inbox.push(name.clone());
            let list = inbox.iter().map(|i| format!("{i:?}")).collect::<Vec<_>>().join(", ");
            out.push(NotRead {
                reason: format!("a dot folder in agent {}'s folder{}", a.name, holding(&path)),
                fix: Some(format!("inbox = [{list}]")),
                path,
            });
        } else if is_dir {
            out.push(NotRead {
                reason: format!(
                    "a folder of agent {} that is no inbox, done or outbox folder{}",
                    a.name,
                    holding(&path)
                ),
                fix: None,
                path,
            });
        } else if handoff_like(&name) {
            out.push(NotRead {
                reason: format!("a handoff-like JSON in agent {}'s folder, which is no inbox", a.name),
                fix: None,
                path,
            });
        } else {
            out.push(NotRead {
                reason: format!("a file in agent {}'s folder, outside its inbox, done and outbox folders", a.name),
                fix: None,
                path,
            });
        }
    }
}

/// Folders inside an inbox, done or outbox folder that no setting reads (`inbox/logs/`).
fn inside_read_folder(dir: &Path, rel: &str, s: &MailboxSettings, out: &mut Vec<NotRead>) {
    let read: Vec<&String> = s.inbox.iter().chain(&s.done).chain(&s.outbox).collect();
    for (name, path, is_dir) in entries(dir) {
        let sub = format!("{rel}/{name}");
        if !is_dir || read.iter().any(|r| **r == sub) || folders::is_state_name(&name, s) {
            continue;
        }
        out.push(NotRead {
            reason: format!("a folder inside {rel}/: only the files of {rel}/ are read{}", holding(&path)),
            fix: None,
            path,
        });
    }
}

/// What a Claude Code teams folder `root` holds that baton does not read: anything in a team
/// folder but `config.json` and `inboxes/`, anything in `inboxes/` but `*.json` files (lock
/// sidecars and Claude Code's temp files stay silent), and folders beside the teams that are
/// none (no `inboxes/` nor `config.json`).
pub fn claude(root: &Path, teams: &[crate::claude::Team]) -> Vec<NotRead> {
    let mut out = Vec::new();
    let lock = |n: &str| n.to_ascii_lowercase().ends_with(".lock");
    for (name, path, is_dir) in entries(root) {
        let Some(team) = teams.iter().find(|t| t.path == path) else {
            let reason = if is_dir {
                "a folder beside the teams that is no Claude Code team (no inboxes/ or config.json in it)"
            } else {
                "a file beside the teams, in no team folder"
            };
            if !lock(&name) {
                out.push(NotRead { path, reason: reason.into(), fix: None });
            }
            continue;
        };
        for (n, p, d) in entries(&path) {
            if (n == "config.json" && !d) || (n == "inboxes" && d) || lock(&n) {
                continue;
            }
            let what = if d { "a folder" } else { "a file" };
            let reason = format!("{what} of team {} that is neither its inboxes/ nor its config.json", team.name);
            out.push(NotRead { path: p, reason, fix: None });
        }
        for (n, p, d) in entries(&path.join("inboxes")) {
            if lock(&n) || (!d && n.len() > 5 && n.ends_with(".json")) {
                continue;
            }
            let reason = if d {
                format!("a folder in team {}'s inboxes/: only its <agent>.json files are inboxes", team.name)
            } else {
                format!("a file in team {}'s inboxes/ that is no <agent>.json inbox", team.name)
            };
            out.push(NotRead { path: p, reason, fix: None });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Kind;

    fn put(p: &Path, s: &str) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, s).unwrap();
    }

    #[test]
    fn every_file_and_folder_not_read_is_named() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        put(&root.join("agent_1/inbox/task.md"), "From: a\n");
        put(&root.join("agent_1/inbox/logs/run.txt"), "x");
        put(&root.join("agent_1/.queue/handoff_0001.json"), "{}");
        put(&root.join("agent_1/handoff_manifest.json"), "{}");
        put(&root.join("agent_1/notes.md"), "x");
        put(&root.join("agent_1/.gitkeep"), "");
        put(&root.join("shared/requests/req.md"), "x");
        put(&root.join("README.md"), "x");
        put(&root.join(".DS_Store"), "x");
        std::fs::create_dir_all(root.join(".git")).unwrap();
        let s = MailboxSettings::new(Kind::Folders, root);
        let agents = folders::scan(root, &s, &crate::Zone::utc());
        let n = super::folders(root, &s, &agents);
        let rels: Vec<String> = n.iter().map(|x| x.path.strip_prefix(root).unwrap().display().to_string()).collect();
        assert_eq!(
            rels,
            vec![
                "README.md",
                "agent_1/.queue",
                "agent_1/handoff_manifest.json",
                "agent_1/inbox/logs",
                "agent_1/notes.md",
                "shared"
            ]
        );
        assert_eq!(n[1].fix.as_deref(), Some(r#"inbox = ["inbox", ".queue"]"#));
        assert!(n[1].reason.contains("handoff_0001.json"), "{}", n[1].reason);
        assert!(n[2].reason.contains("handoff-like"), "{}", n[2].reason);
        assert!(n[5].reason.contains("outside any agent folder"), "{}", n[5].reason);
        assert!(n.iter().all(|x| x.fix.is_none() || x.path.ends_with(".queue")));
    }

    #[test]
    fn a_claude_teams_folder_names_what_is_no_inbox_or_roster() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        put(&root.join("alpha/config.json"), "{}");
        put(&root.join("alpha/inboxes/lead.json"), "[]");
        put(&root.join("alpha/inboxes/lead.json.lock"), "");
        put(&root.join("alpha/inboxes/.lead.json.tmp.123"), "");
        put(&root.join("alpha/inboxes/lead.json.bak"), "[]");
        put(&root.join("alpha/inboxes/notes.txt"), "x");
        put(&root.join("alpha/notes.md"), "x");
        put(&root.join("alpha/.DS_Store"), "x");
        std::fs::create_dir_all(root.join("alpha/inboxes/worker.json.lock")).unwrap();
        std::fs::create_dir_all(root.join("alpha/inboxes/archive")).unwrap();
        put(&root.join("beta/inboxes/w.json"), "[]");
        put(&root.join("scratch/todo.md"), "x");
        put(&root.join("README.md"), "x");
        let teams = crate::claude::scan(root);
        assert_eq!(teams.len(), 2);
        let n = super::claude(root, &teams);
        let rels: Vec<String> = n.iter().map(|x| x.path.strip_prefix(root).unwrap().display().to_string()).collect();
        assert_eq!(
            rels,
            vec![
                "README.md",
                "alpha/notes.md",
                "alpha/inboxes/archive",
                "alpha/inboxes/lead.json.bak",
                "alpha/inboxes/notes.txt",
                "scratch"
            ]
        );
        assert!(n[1].reason.contains("team alpha"), "{}", n[1].reason);
        assert!(n[5].reason.contains("no Claude Code team"), "{}", n[5].reason);
    }
}
