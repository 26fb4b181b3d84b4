//! Copies of one message across a folder mailbox's agents, linked so it is counted once: a file
//! whose body only points at another copy ("Mirror of: PATH", "Copied to PATH", a front matter
//! `mirror_of`), and an outbox original whose copy is in another agent's inbox (same subject
//! and sender, dates within 5 minutes). The copy that is not counted gets `copy_of`, the path
//! of the counted one below the mailbox's folder; the inbox's copy is the one counted, as it is
//! the one someone has to act on.
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use super::{Agent, State};

/// How far apart an outbox original's and its inbox copy's dates may be.
const SAME_MESSAGE_WITHIN_SECS: i64 = 300;

/// Links the copies among `agents` (read from the mailbox at `root`).
pub fn link(root: &Path, agents: &mut [Agent]) {
    link_pointers(root, agents);
    link_sent_copies(agents);
}

/// `a/../b` made `b`, without touching the disk.
fn lexical(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

fn link_pointers(root: &Path, agents: &mut [Agent]) {
    // Every item's path below the mailbox, by file name, for pointers naming another machine's path.
    let mut by_name: HashMap<String, Vec<String>> = HashMap::new();
    for a in agents.iter() {
        for i in &a.items {
            by_name.entry(i.file.clone()).or_default().push(format!("{}/{}", a.name, i.rel));
        }
    }
    for a in agents.iter_mut() {
        for i in a.items.iter_mut() {
            let Some(p) = i.parsed.as_ref().and_then(|p| p.pointer.clone()) else { continue };
            let own = format!("{}/{}", a.name, i.rel);
            let dir = Path::new(&i.rel).parent().map(|d| a.path.join(d)).unwrap_or_else(|| a.path.clone());
            let written = Path::new(&p);
            let candidates: Vec<PathBuf> = if written.is_absolute() {
                vec![written.to_path_buf()]
            } else {
                vec![dir.join(written), root.join(written), a.path.join(written)]
            };
            let found =
                candidates.into_iter().map(|c| lexical(&c)).find(|c| c.is_file()).map(|c| match c.strip_prefix(root) {
                    Ok(r) => r.to_string_lossy().into_owned(),
                    Err(_) => c.to_string_lossy().into_owned(),
                });
            let by_file = || {
                let name = written.file_name()?.to_string_lossy().into_owned();
                by_name.get(&name)?.iter().find(|r| **r != own).cloned()
            };
            let target = found.or_else(by_file).unwrap_or(p);
            if target != own {
                i.copy_of = Some(target);
            }
        }
    }
}

fn link_sent_copies(agents: &mut [Agent]) {
    let key = |from: &str, title: &str| (from.trim().to_lowercase(), title.trim().to_lowercase());
    // Inbox messages by (sender, subject): (agent, path below the mailbox, date).
    let mut inbox: HashMap<(String, String), Vec<(usize, String, time::OffsetDateTime)>> = HashMap::new();
    for (n, a) in agents.iter().enumerate() {
        for i in a.items.iter().filter(|i| matches!(i.state, State::Open | State::Done)) {
            if i.duplicate_of.is_some() || i.copy_of.is_some() {
                continue;
            }
            let Some(p) = &i.parsed else { continue };
            let Some(from) = p.from.as_deref().filter(|f| !f.trim().is_empty()) else { continue };
            if p.title.trim().is_empty() {
                continue;
            }
            inbox.entry(key(from, &p.title)).or_default().push((n, format!("{}/{}", a.name, i.rel), i.created_at));
        }
    }
    if inbox.is_empty() {
        return;
    }
    for (n, a) in agents.iter_mut().enumerate() {
        let sender = a.name.clone();
        for i in a.items.iter_mut().filter(|i| i.state == State::Sent && i.copy_of.is_none()) {
            let Some(p) = &i.parsed else { continue };
            let from = p.from.clone().unwrap_or_else(|| sender.clone());
            let Some(copies) = inbox.get(&key(&from, &p.title)) else { continue };
            let near = copies
                .iter()
                .filter(|(m, _, at)| *m != n && (*at - i.created_at).whole_seconds().abs() <= SAME_MESSAGE_WITHIN_SECS)
                .min_by_key(|(_, _, at)| (*at - i.created_at).whole_seconds().abs());
            if let Some((_, rel, _)) = near {
                i.copy_of = Some(rel.clone());
            }
        }
    }
}
