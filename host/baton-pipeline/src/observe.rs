//! What agents pass each other: TASKs and RETURNs in other agents' inboxes are recorded in
//! the ledger (never moved), so `baton status` can list the handoffs still open.
use std::os::unix::ffi::OsStrExt;

use baton_handoff::{names, schema, stamp};
use baton_ledger::Observed;

use crate::intake::observed;
use crate::{Pipeline, PipelineError};

impl Pipeline {
    /// Records TASKs and RETURNs that agents pass each other (never moving them).
    pub(crate) fn observe_agents(&mut self) -> Result<(), PipelineError> {
        let Ok(agents) = std::fs::read_dir(&self.paths.handoffs) else { return Ok(()) };
        let mut found: Vec<Observed> = Vec::new();
        for agent in agents.flatten() {
            let Some(agent_name) = agent.file_name().to_str().map(str::to_string) else { continue };
            if agent_name == self.cfg.agent || !names::is_valid_name(&agent_name) {
                continue;
            }
            let Ok(entries) = std::fs::read_dir(agent.path().join("01_inbox")) else { continue };
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
                let key = (agent_name.clone(), name.clone());
                if own_return || self.observed.contains(&key) {
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
                self.observed.insert(key);
                found.push(observed(&agent_name, &name.to_string_lossy(), &body));
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
