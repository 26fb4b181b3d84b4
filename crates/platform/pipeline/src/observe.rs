//! What agents pass each other: TASKs and RETURNs in other agents' inboxes are recorded in
//! the ledger (never moved), so `baton status` can list the handoffs still open. Files in
//! the user's own dialects (loose JSON, Markdown triggers) are recorded too, read through
//! [`baton_handoff::dialect`]; one with no id is recorded under `file:<agent>/<name>`.
//! (`baton status` itself reads the whole tree each time, nested layouts included: see
//! [`crate::tree`]; this record is what the dashboard searches and the alerts count.)
use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, Instant};

use baton_handoff::{dialect, names, schema, stamp};
use baton_ledger::Observed;

use crate::intake::observed;
use crate::{Pipeline, PipelineError};

/// Other agents' inboxes are read at most this often while passes come faster (a daemon
/// under load passes many times a second, and baton's own RETURNs pile up in those inboxes
/// until their agents take them: reading them all on every pass cost more than the handoffs).
/// A pass that skips the reading asks for another pass when it is due, so nothing is missed.
/// Only the daemon (`watch::serve`) spaces them; `serve --once` reads on every pass.
pub(crate) const OBSERVE_EVERY: Duration = Duration::from_secs(1);

impl Pipeline {
    /// [`Self::observe_agents`] if it is due; else when it will be.
    pub(crate) fn observe_agents_due(&mut self) -> Result<Option<Instant>, PipelineError> {
        if let Some(last) = self.observed_at
            && last.elapsed() < self.observe_every
        {
            return Ok(Some(last + self.observe_every));
        }
        self.observed_at = Some(Instant::now());
        self.observe_agents()?;
        Ok(None)
    }

    /// Records TASKs and RETURNs that agents pass each other (never moving them).
    pub(crate) fn observe_agents(&mut self) -> Result<(), PipelineError> {
        let Ok(agents) = std::fs::read_dir(&self.paths.handoffs) else { return Ok(()) };
        let mut found: Vec<Observed> = Vec::new();
        for agent in agents.flatten() {
            let Some(agent_name) = agent.file_name().to_str().map(str::to_string) else { continue };
            if agent_name == self.cfg.agent || !names::is_valid_name(&agent_name) {
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
                    .is_some_and(|p| p.kind == "RETURN" && p.agent == self.cfg.agent);
                if own_return {
                    continue;
                }
                let key = (agent_name.clone(), name);
                if self.observed.contains(&key) {
                    continue;
                }
                let Ok(meta) = e.metadata() else { continue };
                if !meta.is_file() || meta.len() > self.cfg.max_file_bytes {
                    continue;
                }
                // A file that did not parse is read again only once it changes.
                let stamp = (meta.len(), meta.modified().ok());
                if self.unparsed.get(&key) == Some(&stamp) {
                    continue;
                }
                let file = key.1.to_string_lossy().into_owned();
                let bytes = crate::fsops::read_capped(&e.path(), self.cfg.max_file_bytes).ok();
                let record = bytes.and_then(|b| match schema::parse(&b) {
                    Ok((body, _)) => Some(observed(&agent_name, &file, &body)),
                    Err(_) => dialect::read(&file, &b).ok().map(|seen| loose_observed(&agent_name, &file, &seen)),
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
        if found.is_empty() {
            return Ok(());
        }
        let now = stamp::rfc3339(stamp::now());
        let mut ledger = self.ledger.lock().unwrap_or_else(|e| e.into_inner());
        ledger.batch(|b| {
            for o in &found {
                b.observe(o, &now)?;
            }
            Ok(())
        })?;
        Ok(())
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
