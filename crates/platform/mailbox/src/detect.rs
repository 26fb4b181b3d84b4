//! Folders that look like an agent's mailbox but match no layout baton reads: a folder with
//! an `inbox/`, `outbox/`, `done/`, `completed/` or `processed/` folder (a folder mailbox), a
//! team with `inboxes/*.json` (Claude Code), or a project of an mcp_agent_mail archive
//! (`agents/` beside `messages/`), under the handoffs tree or a mailbox path and not
//! read by any `[mailboxes]` table. Each is listed with what was seen there and the table that
//! would read it, so nothing is silently skipped.
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::settings::{Kind, table_text};

/// Folder names that make a folder look like a folder mailbox.
const MAILBOX_FOLDERS: [&str; 5] = ["inbox", "outbox", "done", "completed", "processed"];
/// How deep below a root folders are looked at (as deep as the handoffs tree's agent folders
/// are looked for: `agents/agent-triggers/<Agent>/inbox`).
const MAX_DEPTH: usize = 4;

/// One folder that looks like a mailbox and is not read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unmatched {
    pub path: PathBuf,
    /// What made it look like one: the folder names found in it (`inbox/`, `inboxes/3 .json`).
    pub seen: Vec<String>,
    pub kind: Kind,
    /// The `[mailboxes.NAME]` table that would read it (and its siblings).
    pub table: String,
}

/// A folder read already: baton's own agent folders and the configured mailboxes' roots.
#[derive(Debug, Clone)]
pub struct Covered {
    pub root: PathBuf,
    pub kind: Kind,
    /// A folder mailbox's inbox folders (its files there are read).
    pub inbox: Vec<String>,
}

/// Walks `root` (up to [`MAX_DEPTH`] levels) for folders that look like mailboxes and are
/// not `covered`.
pub fn unmatched(root: &Path, covered: &[Covered]) -> Vec<Unmatched> {
    let mut out = Vec::new();
    walk(root, 0, covered, &mut out);
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

fn subdirs(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut v: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| Some((e.file_name().to_str()?.to_string(), e.path())))
        .filter(|(n, _)| !n.starts_with('.'))
        .collect();
    v.sort();
    v
}

fn is_covered(dir: &Path, kind: Kind, covered: &[Covered]) -> bool {
    let parent = dir.parent();
    // An archive's project is read by a table naming it, its archive, or the archive's `projects/`'s parent.
    let above = parent.and_then(Path::parent);
    covered.iter().any(|c| {
        (c.kind == kind && parent == Some(c.root.as_path()))
            || (c.kind == Kind::Folders && c.root == dir)
            || (c.kind == Kind::AgentMail
                && kind == Kind::AgentMail
                && (c.root == dir || above == Some(c.root.as_path())))
    })
}

/// Whether `dir` is a project of an mcp_agent_mail archive: `agents/` with `messages/` beside
/// it, or an agent with a `profile.json` or a `YYYY` folder in its inbox.
pub fn is_agent_mail_project(dir: &Path) -> bool {
    if !dir.join("agents").is_dir() {
        return false;
    }
    let year = |p: &Path| subdirs(p).iter().any(|(n, _)| n.len() == 4 && n.bytes().all(|b| b.is_ascii_digit()));
    dir.join("messages").is_dir()
        || subdirs(&dir.join("agents")).iter().any(|(_, a)| a.join("profile.json").is_file() || year(&a.join("inbox")))
}

/// Handoff-like files lying in `dir` (`handoff_*.json`, `*HANDOFF*.json`, queue and inbox
/// files), listed with the folders table that would read them: `dir` as the inbox of the agent
/// folder holding it.
fn loose_files(dir: &Path, covered: &[Covered], out: &mut Vec<Unmatched>) {
    // Inside baton's own agent folders (`<agent>/01_inbox/`): read by the handoffs tree.
    let baton_agent = |d: &Path| d.join("01_inbox").is_dir() || d.join("02_processed").is_dir();
    if baton_agent(dir) || dir.parent().is_some_and(baton_agent) {
        return;
    }
    let mut found: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| !n.starts_with('.') && crate::notread::handoff_like(n))
        .collect();
    if found.is_empty() {
        return;
    }
    found.sort();
    let (Some(name), Some(root)) = (dir.file_name().and_then(|n| n.to_str()), dir.parent().and_then(Path::parent))
    else {
        return;
    };
    if covered.iter().any(|c| c.kind == Kind::Folders && c.root == root && c.inbox.iter().any(|i| i == name)) {
        return;
    }
    let mut seen: Vec<String> = found.iter().take(5).cloned().collect();
    if found.len() > 5 {
        seen.push(format!("and {} more", found.len() - 5));
    }
    let inbox = [name.to_string()];
    let table = table_text(&table_name(root), Kind::Folders, root, Some(&inbox));
    out.push(Unmatched { path: dir.to_path_buf(), seen, kind: Kind::Folders, table });
}

/// Dot folders of `dir` that may hold a queue (`.queue/`); never version control's.
fn dot_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.starts_with('.') && !crate::notread::silent_dir(n)))
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}

fn walk(dir: &Path, depth: usize, covered: &[Covered], out: &mut Vec<Unmatched>) {
    if depth > 0 {
        loose_files(dir, covered, out);
    }
    for d in dot_dirs(dir) {
        loose_files(&d, covered, out);
    }
    for (name, path) in subdirs(dir) {
        // baton's own agent folders.
        if path.join("01_inbox").is_dir() || path.join("02_processed").is_dir() {
            continue;
        }
        if is_agent_mail_project(&path) {
            if !is_covered(&path, Kind::AgentMail, covered) {
                let n = subdirs(&path.join("agents")).len();
                let mut seen = vec![format!("agents/ ({n})")];
                if path.join("messages").is_dir() {
                    seen.push("messages/".into());
                }
                let table = table_text(&table_name(&path), Kind::AgentMail, &path, None);
                out.push(Unmatched { path, seen, kind: Kind::AgentMail, table });
            }
            continue;
        }
        let inner = subdirs(&path);
        let inboxes = path.join("inboxes");
        let json_inboxes = std::fs::read_dir(&inboxes)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_str().is_some_and(|n| n.ends_with(".json") && !n.starts_with('.')))
            .count();
        if json_inboxes > 0 {
            if !is_covered(&path, Kind::ClaudeTeam, covered) {
                let parent = dir.to_path_buf();
                let mut seen = vec![format!("inboxes/ ({json_inboxes} .json)")];
                if path.join("config.json").is_file() {
                    seen.push("config.json".into());
                }
                out.push(Unmatched {
                    table: table_text("team", Kind::ClaudeTeam, &parent, None),
                    path,
                    seen,
                    kind: Kind::ClaudeTeam,
                });
            }
            continue;
        }
        let found: Vec<&str> = inner
            .iter()
            .filter_map(|(n, _)| MAILBOX_FOLDERS.iter().find(|m| m.eq_ignore_ascii_case(n)).map(|_| n.as_str()))
            .collect();
        if !found.is_empty() {
            if !is_covered(&path, Kind::Folders, covered) {
                let inbox: Vec<String> = found
                    .iter()
                    .filter(|n| n.eq_ignore_ascii_case("inbox") && **n != "inbox")
                    .map(|n| n.to_string())
                    .collect();
                let table =
                    table_text(&table_name(dir), Kind::Folders, dir, (!inbox.is_empty()).then_some(inbox.as_slice()));
                let seen = found.iter().map(|n| format!("{n}/")).collect();
                out.push(Unmatched { path, seen, kind: Kind::Folders, table });
            }
            continue;
        }
        if depth + 1 < MAX_DEPTH && !["node_modules", "target", ".git"].contains(&name.as_str()) {
            walk(&path, depth + 1, covered, out);
        }
    }
}

/// A table name for the folder holding agents: its own name made a bare TOML key
/// (letters, digits, `-`, `_`), else `agents`.
fn table_name(dir: &Path) -> String {
    crate::settings::key_from_folder(dir, "agents")
}

/// Where `status` and `adopt` look for folders that look like mailboxes: the handoffs tree and
/// every mailbox path; what the configured mailboxes read already is left out.
pub fn unmatched_in(handoffs: &Path, home: &Path, boxes: &crate::Mailboxes) -> Vec<Unmatched> {
    let covered: Vec<Covered> =
        boxes.values().map(|s| Covered { root: s.resolved_path(home), kind: s.kind, inbox: s.inbox.clone() }).collect();
    let mut roots = vec![handoffs.to_path_buf()];
    roots.extend(covered.iter().map(|c| c.root.clone()));
    let mut out: Vec<Unmatched> = Vec::new();
    for r in roots {
        for u in unmatched(&r, &covered) {
            if !out.iter().any(|o| o.path == u.path) {
                out.push(u);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_that_look_like_mailboxes_are_listed_with_their_table() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("agent_1/inbox")).unwrap();
        std::fs::create_dir_all(root.join("agent_1/outbox")).unwrap();
        std::fs::create_dir_all(root.join("agent_2/Inbox")).unwrap();
        std::fs::create_dir_all(root.join("Claude/01_inbox")).unwrap();
        std::fs::create_dir_all(root.join("nested/teams/alpha/inboxes")).unwrap();
        std::fs::write(root.join("nested/teams/alpha/inboxes/lead.json"), "[]").unwrap();
        std::fs::create_dir_all(root.join("plain/docs")).unwrap();
        std::fs::create_dir_all(root.join("a/b/c/Deep/outbox")).unwrap();
        let u = unmatched(root, &[]);
        let paths: Vec<String> = u.iter().map(|x| x.path.strip_prefix(root).unwrap().display().to_string()).collect();
        assert_eq!(paths, vec!["a/b/c/Deep", "agent_1", "agent_2", "nested/teams/alpha"]);
        assert_eq!(u[1].seen, vec!["inbox/", "outbox/"]);
        assert!(u[1].table.contains("kind = \"folders\""), "{}", u[1].table);
        assert!(u[2].table.contains("inbox = [\"Inbox\"]"), "{}", u[2].table);
        assert_eq!(u[3].kind, Kind::ClaudeTeam);
        assert!(u[3].table.contains(&root.join("nested/teams").display().to_string()), "{}", u[3].table);
        // Configured, they are read and no longer listed.
        let covered = [
            Covered { root: root.to_path_buf(), kind: Kind::Folders, inbox: vec!["inbox".into()] },
            Covered { root: root.join("nested/teams"), kind: Kind::ClaudeTeam, inbox: Vec::new() },
            Covered { root: root.join("a/b/c"), kind: Kind::Folders, inbox: vec!["inbox".into()] },
        ];
        assert!(unmatched(root, &covered).is_empty());
    }

    #[test]
    fn an_agent_mail_archive_is_recognised_as_one() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        let project = root.join("archive/projects/src-app");
        std::fs::create_dir_all(project.join("agents/GreenCastle/inbox/2026/01")).unwrap();
        std::fs::create_dir_all(project.join("agents/BlueLake/outbox/2026/01")).unwrap();
        std::fs::create_dir_all(project.join("messages/2026/01")).unwrap();
        let u = unmatched(root, &[]);
        assert_eq!(u.len(), 1, "one archive, not its agents as folder mailboxes: {u:?}");
        assert_eq!((u[0].path.as_path(), u[0].kind), (project.as_path(), Kind::AgentMail));
        assert_eq!(u[0].seen, vec!["agents/ (2)", "messages/"]);
        assert!(u[0].table.contains("kind = \"agent-mail\""), "{}", u[0].table);
        for r in [project.clone(), root.join("archive")] {
            assert!(unmatched(root, &[Covered { root: r, kind: Kind::AgentMail, inbox: Vec::new() }]).is_empty());
        }
    }

    #[test]
    fn handoff_like_files_anywhere_are_listed_with_the_table_that_reads_them() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        for f in [
            "agents/agent_q/.queue/handoff_0001.json",
            "agents/agent_q/.queue/handoff_0002.json",
            "agents/agent_q/NOTES.md",
        ] {
            std::fs::create_dir_all(root.join(f).parent().unwrap()).unwrap();
            std::fs::write(root.join(f), "{}").unwrap();
        }
        std::fs::create_dir_all(root.join("agents/agent_q/.git")).unwrap();
        // baton's own agent folders are the handoffs tree's: never listed here.
        std::fs::create_dir_all(root.join("agents/Codex/02_processed")).unwrap();
        std::fs::write(root.join("agents/Codex/02_processed/x__HANDOFF__y.json"), "{}").unwrap();
        std::fs::create_dir_all(root.join("agents/Codex/01_inbox")).unwrap();
        std::fs::write(root.join("agents/Codex/01_inbox/x__HANDOFF__y.json"), "{}").unwrap();
        assert!(unmatched(&root.join("agents/Codex"), &[]).is_empty());
        std::fs::write(root.join("agents/agent_q/.git/HANDOFF_x.json"), "{}").unwrap();
        let u = unmatched(root, &[]);
        assert_eq!(u.len(), 1, "{u:?}");
        assert_eq!(u[0].path, root.join("agents/agent_q/.queue"));
        assert_eq!(u[0].seen, vec!["handoff_0001.json", "handoff_0002.json"]);
        assert!(u[0].table.contains("inbox = [\".queue\"]"), "{}", u[0].table);
        assert!(u[0].table.contains(&root.join("agents").display().to_string()), "{}", u[0].table);
        let read =
            Covered { root: root.join("agents"), kind: Kind::Folders, inbox: vec!["inbox".into(), ".queue".into()] };
        assert!(unmatched(root, &[read]).is_empty());
    }
}
