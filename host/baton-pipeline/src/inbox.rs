//! Step 1 of the pipeline: which files in baton's inbox are ready to claim. A file that
//! parses is ready at once; one refused on sight (symlink, too large, bad name, conflict copy)
//! too; one that never parses is ready once its size and mtime stopped changing (settle).
use std::collections::HashSet;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use tracing::warn;

use baton_handoff::names;

use crate::{Pipeline, PipelineError};

impl Pipeline {
    /// Claims every inbox file that is ready. Returns how many were claimed.
    pub(crate) fn claim_ready(&mut self) -> Result<usize, PipelineError> {
        let inbox = self.paths.inbox(&self.cfg.agent);
        let mut entries: Vec<_> =
            std::fs::read_dir(&inbox).map_err(|e| PipelineError::io(&inbox, e))?.flatten().collect();
        // Names start with their UTC stamp: claim oldest first.
        entries.sort_by_key(|e| e.file_name());
        let mut seen = HashSet::new();
        let mut claimed = 0;
        for entry in entries {
            let name = entry.file_name();
            if names::classify(name.as_bytes()) == names::Entry::Ignored {
                continue;
            }
            seen.insert(name.clone());
            let ready = match names::classify(name.as_bytes()) {
                names::Entry::SyncConflict(_) => true,
                _ => self.is_ready(&entry.path(), &name),
            };
            if ready {
                self.unsettled.remove(&name);
                match self.claims.claim(&entry.path()) {
                    Ok(Some(_)) => claimed += 1,
                    Ok(None) => {} // another process won it
                    Err(e) => warn!(file = %entry.path().display(), "claim failed: {e}"),
                }
            }
        }
        self.unsettled.retain(|n, _| seen.contains(n));
        Ok(claimed)
    }

    fn is_ready(&mut self, path: &Path, name: &OsString) -> bool {
        let Ok(meta) = std::fs::symlink_metadata(path) else { return false };
        if !meta.is_file() || meta.len() > self.cfg.max_file_bytes || name.to_str().is_none() {
            return true; // refused on sight
        }
        // O_NOFOLLOW | O_NONBLOCK and fstat: a file swapped for a FIFO or a symlink since the
        // stat above can neither block nor flood this loop (the claim then refuses it).
        let parses = match crate::fsops::read_capped(path, self.cfg.max_file_bytes) {
            Ok(b) => serde_json::from_slice::<serde::de::IgnoredAny>(&b).is_ok(),
            Err(crate::fsops::ReadError::Io { .. }) => false,
            Err(_) => return true, // refused on sight
        };
        if parses {
            return true;
        }
        let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        let now = Instant::now();
        let entry = self.unsettled.entry(name.clone()).or_insert((meta.len(), mtime, now));
        if (entry.0, entry.1) != (meta.len(), mtime) {
            *entry = (meta.len(), mtime, now);
            return false;
        }
        entry.2.elapsed() >= Duration::from_millis(self.cfg.settle_ms)
    }
}
