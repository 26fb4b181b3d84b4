//! What agents pass each other: TASKs and RETURNs in other agents' inboxes are recorded in
//! the ledger (never moved), so `baton status` can list the handoffs still open.
use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, Instant};

use baton_handoff::{names, schema, stamp};
use baton_ledger::Observed;

use crate::intake::observed;
use crate::{Pipeline, PipelineError};

/// Other agents' inboxes are read at most this often while passes come faster (a daemon
/// under load passes many times a second, and baton's own RETURNs pile up in those inboxes
/// until their agents take them: reading them all on every pass cost more than the handoffs).
/// A pass that skips the reading asks for another pass when it is due, so nothing is missed.
/// Only the daemon ([`crate::watch::serve`]) spaces them; `serve --once` reads on every pass.
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
                if names::classify(name.as_bytes()) != names::Entry::Candidate {
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
                let parsed = crate::fsops::read_capped(&e.path(), self.cfg.max_file_bytes).ok().and_then(|b| schema::parse(&b).ok());
                let Some((body, _)) = parsed else {
                    self.unparsed.insert(key, stamp);
                    continue;
                };
                self.unparsed.remove(&key);
                found.push(observed(&agent_name, &key.1.to_string_lossy(), &body));
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
