//! What agents pass each other: TASKs and RETURNs in other agents' inboxes are recorded in
//! the ledger (never moved), so `baton status` can list the handoffs still open. Files in
//! the user's own dialects (loose JSON, Markdown triggers) are recorded too, read through
//! [`baton_handoff::dialect`]; one with no id is recorded under `file:<agent>/<name>`.
//! (`baton status` itself reads the whole tree each time, nested layouts included: see
//! [`crate::tree`]; this record is what the dashboard searches and the alerts count.)
//!
//! The stage is [`Observer`]: it remembers what it recorded and what did not parse, reads the
//! tree ([`Observer::scan`], no ledger) and hands the ledger what is new.
use baton_sync::Locked;
use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use baton_handoff::{dialect, names, schema, stamp};
use baton_ledger::Observed;

use crate::config::Config;
use crate::intake::observed;
use crate::{PipelineError, SharedLedger};

/// Other agents' inboxes are read at most this often while passes come faster (a daemon
/// under load passes many times a second, and baton's own RETURNs pile up in those inboxes
/// until their agents take them: reading them all on every pass cost more than the handoffs).
/// A pass that skips the reading asks for another pass when it is due, so nothing is missed.
/// Only the daemon (`watch::serve`) spaces them; `serve --once` reads on every pass.
pub(crate) const OBSERVE_EVERY: Duration = Duration::from_secs(1);

/// The observe stage: other agents' inbox files already recorded, and those that did not
/// parse with the (size, mtime) they had then.
#[derive(Default)]
pub(crate) struct Observer {
    observed: HashSet<(String, OsString)>,
    unparsed: HashMap<(String, OsString), (u64, Option<SystemTime>)>,
    /// When other agents' inboxes were last read.
    last: Option<Instant>,
    /// The least time between two readings (zero: every pass; the daemon sets
    /// [`OBSERVE_EVERY`]).
    pub(crate) every: Duration,
}

impl Observer {
    /// [`Self::observe`] if it is due; else when it will be.
    pub(crate) fn observe_due(
        &mut self,
        handoffs: &Path,
        cfg: &Config,
        ledger: &SharedLedger,
    ) -> Result<Option<Instant>, PipelineError> {
        if let Some(last) = self.last
            && last.elapsed() < self.every
        {
            return Ok(Some(last + self.every));
        }
        self.last = Some(Instant::now());
        self.observe(handoffs, cfg, ledger)?;
        Ok(None)
    }

    /// Records TASKs and RETURNs that agents pass each other (never moving them).
    pub(crate) fn observe(
        &mut self,
        handoffs: &Path,
        cfg: &Config,
        ledger: &SharedLedger,
    ) -> Result<(), PipelineError> {
        let found = self.scan(handoffs, cfg);
        if found.is_empty() {
            return Ok(());
        }
        let now = stamp::rfc3339(stamp::now());
        let mut ledger = ledger.locked();
        ledger.batch(|b| {
            for o in &found {
                b.observe(o, &now)?;
            }
            Ok(())
        })?;
        Ok(())
    }

    /// What is new in other agents' inboxes under `handoffs` since the last scan: each file
    /// once, and one that did not parse again only once it changed. `cfg` names baton's own
    /// agent (its folder and its RETURNs are skipped) and the largest file read.
    pub(crate) fn scan(&mut self, handoffs: &Path, cfg: &Config) -> Vec<Observed> {
        let Ok(agents) = std::fs::read_dir(handoffs) else { return Vec::new() };
        let mut found: Vec<Observed> = Vec::new();
        for agent in agents.flatten() {
            let Some(agent_name) = agent.file_name().to_str().map(str::to_string) else { continue };
            if agent_name == cfg.agent || !names::is_valid_name(&agent_name) {
                continue;
            }
            let Ok(entries) = std::fs::read_dir(agent.path().join(crate::config::INBOX)) else { continue };
            for e in entries.flatten() {
                let name = e.file_name();
                let markdown = name.as_bytes().ends_with(b".md") && !name.as_bytes().starts_with(b".");
                if !markdown && names::classify(name.as_bytes()) != names::Entry::Candidate {
                    continue;
                }
                // baton's own RETURNs: the tasks they answer are in the ledger already.
                let own_return = name
                    .to_str()
                    .and_then(names::parse_file_name)
                    .is_some_and(|p| p.kind == "RETURN" && p.agent == cfg.agent);
                if own_return {
                    continue;
                }
                let key = (agent_name.clone(), name);
                if self.observed.contains(&key) {
                    continue;
                }
                let Ok(meta) = e.metadata() else { continue };
                if !meta.is_file() || meta.len() > cfg.max_file_bytes {
                    continue;
                }
                // A file that did not parse is read again only once it changes.
                let stamp = (meta.len(), meta.modified().ok());
                if self.unparsed.get(&key) == Some(&stamp) {
                    continue;
                }
                let file = key.1.to_string_lossy().into_owned();
                let bytes = crate::fsops::read_capped(&e.path(), cfg.max_file_bytes).ok();
                // A parser's panic on a stranger's file leaves it unparsed, never stops `serve`.
                let record = bytes.and_then(|b| {
                    crate::faults::read_one(|| match schema::parse(&b) {
                        Ok((body, _)) => Some(observed(&agent_name, &file, &body)),
                        Err(_) => dialect::read(&file, &b).ok().map(|seen| loose_observed(&agent_name, &file, &seen)),
                    })
                    .unwrap_or_else(|bug| {
                        tracing::warn!(agent = %agent_name, file = %file, "{bug}");
                        None
                    })
                });
                let Some(record) = record else {
                    self.unparsed.insert(key, stamp);
                    continue;
                };
                self.unparsed.remove(&key);
                found.push(record);
                self.observed.insert(key);
            }
        }
        found
    }
}

/// A handoff in the user's dialect as the ledger records it: a missing id becomes
/// `file:<agent>/<name>`, a missing sender `?`, a missing time the moment it was seen.
fn loose_observed(agent: &str, file: &str, seen: &dialect::Seen) -> Observed {
    Observed {
        agent: agent.into(),
        file_name: file.into(),
        kind: seen.kind.as_str().into(),
        id: seen.id.clone().unwrap_or_else(|| format!("file:{agent}/{file}")),
        in_reply_to: seen.in_reply_to.clone(),
        sender: seen.from.clone().unwrap_or_else(|| "?".into()),
        recipient: seen.to.clone().or_else(|| Some(agent.into())),
        title: seen.title.clone(),
        created_at: seen.created_at.clone().unwrap_or_else(|| stamp::rfc3339(stamp::now())),
    }
}

#[cfg(test)]
mod tests {
    //! The scan on a temporary handoffs tree: no home, no ledger.
    use super::*;

    const TASK: &str = r#"{"schema": "baton.handoff/v1", "id": "01JHX3Q7Z8K2M4N6P8R0S2T4V6", "kind": "task",
        "created_at": "2026-01-18T07:09:51Z", "from": "cursor", "title": "Echo hello", "plugin": "echo",
        "action": "echo", "params": {}}"#;

    #[test]
    fn other_agents_handoffs_are_seen_once_and_a_broken_one_once_it_is_fixed() {
        let d = tempfile::tempdir().unwrap();
        let cfg = Config { agent: "baton".into(), ..Config::default() };
        let inbox = |agent: &str| {
            let dir = d.path().join(agent).join(crate::config::INBOX);
            std::fs::create_dir_all(&dir).unwrap();
            dir
        };
        std::fs::write(inbox("claude").join("20260118T070951Z__TASK__Echo-Hello__cursor.json"), TASK).unwrap();
        let md = "# HANDOFF: Review the sync\n\n**Source Agent:** cursor\n**Created:** 2026-01-19T21:32:47Z\n";
        std::fs::write(inbox("cursor").join("review-sync-20260119.md"), md).unwrap();
        // baton's own RETURNs and baton's own inbox are not observed; nor is a broken file.
        std::fs::write(inbox("claude").join("20260118T071000Z__RETURN__Echo-Hello__baton.json"), TASK).unwrap();
        std::fs::write(inbox("baton").join("20260118T070951Z__TASK__Echo-Hello__claude.json"), TASK).unwrap();
        let broken = inbox("claude").join("broken.json");
        std::fs::write(&broken, b"{\"title\": ").unwrap();

        let mut o = Observer::default();
        let mut seen: Vec<(String, String, String)> =
            o.scan(d.path(), &cfg).into_iter().map(|r| (r.agent, r.kind, r.title)).collect();
        seen.sort();
        assert_eq!(
            seen,
            [
                ("claude".into(), "task".into(), "Echo hello".into()),
                ("cursor".into(), "task".into(), "HANDOFF: Review the sync".into())
            ]
        );
        assert!(o.scan(d.path(), &cfg).is_empty(), "each file is recorded once");
        std::fs::write(&broken, br#"{"title": "fixed", "from": "cursor"}"#).unwrap();
        let again = o.scan(d.path(), &cfg);
        assert_eq!(again.iter().map(|r| r.title.as_str()).collect::<Vec<_>>(), ["fixed"], "read again once changed");
        assert_eq!(again[0].id, "file:claude/broken.json", "no id: named by its file");
    }
}
