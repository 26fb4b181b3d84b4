//! Step 1 of the pipeline: which files in baton's inbox are ready to claim. A file that
//! parses is ready at once; one refused on sight (symlink, too large, bad name, conflict copy)
//! too; one that never parses is ready once its size and mtime stopped changing (settle).
use std::collections::{HashMap, HashSet};
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
                names::Entry::SyncConflict(_) => Ready::Yes,
                _ => self.is_ready(&entry.path(), &name),
            };
            if let crate::shared::Claimer::Shared(shared) = &self.claims
                && shared.skip(&name)
            {
                continue;
            }
            if !matches!(ready, Ready::No) {
                self.unsettled.remove(&name);
                if matches!(self.claims, crate::shared::Claimer::Shared(_)) {
                    claimed += self.claim_shared(&entry.path(), ready)?;
                    continue;
                }
                let crate::shared::Claimer::Local(claims) = &self.claims else { continue };
                match claims.claim(&entry.path()) {
                    Ok(Some(claim)) => {
                        claimed += 1;
                        if let Ready::Parsed(pre) = ready {
                            self.preread.keep(claim.key(), pre);
                        }
                    }
                    Ok(None) => {} // another process won it
                    Err(e) => warn!(file = %entry.path().display(), "claim failed: {e}"),
                }
            }
        }
        self.unsettled.retain(|n, _| seen.contains(n));
        Ok(claimed)
    }

    /// Claims one ready inbox file as a row of the shared ledger (PostgreSQL). Returns 1 if it
    /// is ours now. A copy of a handoff already filed is filed again, with a suffix, unrun.
    fn claim_shared(&mut self, path: &Path, ready: Ready) -> Result<usize, PipelineError> {
        let crate::shared::Claimer::Shared(shared) = &mut self.claims else { return Ok(0) };
        let pre = match ready {
            Ready::Parsed(pre) => Some(pre),
            _ => None,
        };
        match shared.claim(path, pre.as_ref().map(|p| &p.value))? {
            crate::shared::Taken::Claimed { claim, suspect } => {
                if suspect && let Some(name) = claim.path.file_name() {
                    self.suspects.insert(name.to_owned());
                }
                if let Some(pre) = pre {
                    self.preread.keep(claim.key(), pre);
                }
                Ok(1)
            }
            crate::shared::Taken::Not => Ok(0),
            crate::shared::Taken::Filed => {
                let dir = self.paths.processed(&self.cfg.agent);
                let name = path.file_name().unwrap_or_default();
                let placed = self.folded.place(&dir, name, |candidate| match crate::fsops::rename_noreplace(path, &dir.join(candidate)) {
                    Ok(()) => Ok(Some(())),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(None),
                    Err(e) => Err(e),
                });
                match placed {
                    Ok((placed, ())) => {
                        tracing::info!(file = %path.display(), filed = %dir.join(placed).display(), "a copy of a handoff already filed (brought back by the sync) was filed, not run");
                        let _ = crate::fsops::sync_dir(&dir);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => warn!(file = %path.display(), "cannot file a copy of a handoff already filed: {e}"),
                }
                Ok(0)
            }
        }
    }

    fn is_ready(&mut self, path: &Path, name: &OsString) -> Ready {
        let Ok(meta) = std::fs::symlink_metadata(path) else { return Ready::No };
        if !meta.is_file() || meta.len() > self.cfg.max_file_bytes || name.to_str().is_none() {
            return Ready::Yes; // refused on sight
        }
        // O_NOFOLLOW | O_NONBLOCK and fstat: a file swapped for a FIFO or a symlink since the
        // stat above can neither block nor flood this loop (the claim then refuses it).
        match crate::fsops::read_capped_with_stat(path, self.cfg.max_file_bytes) {
            Ok((b, st)) => {
                if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&b) {
                    return Ready::Parsed(Preread::new(value, &st));
                }
            }
            Err(crate::fsops::ReadError::Io { .. }) => {}
            Err(_) => return Ready::Yes, // refused on sight
        }
        let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        let now = Instant::now();
        let entry = self.unsettled.entry(name.clone()).or_insert((meta.len(), mtime, now));
        if (entry.0, entry.1) != (meta.len(), mtime) {
            *entry = (meta.len(), mtime, now);
            return Ready::No;
        }
        if entry.2.elapsed() >= Duration::from_millis(self.cfg.settle_ms) { Ready::Yes } else { Ready::No }
    }
}

/// What the readiness check found.
enum Ready {
    No,
    /// Ready, and to be read by the claim (refused on sight, settled, a conflict copy).
    Yes,
    /// Ready: read and parsed; what it read travels with the claim.
    Parsed(Preread),
}

/// A file the readiness check read and parsed, handed to the claim so that each handoff is
/// read and parsed once. It is used only if the claimed file is still the one read: same
/// inode, size and mtime (a rewrite in between makes the claim read it again).
pub(crate) struct Preread {
    pub(crate) value: serde_json::Value,
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
}

impl Preread {
    fn new(value: serde_json::Value, st: &rustix::fs::Stat) -> Self {
        Preread {
            value,
            dev: st.st_dev as u64,
            ino: st.st_ino as u64,
            size: st.st_size as u64,
            mtime: (st.st_mtime as i64, st.st_mtime_nsec as i64),
        }
    }

    /// Whether `meta` (of the claimed file) is the file this was read from.
    pub(crate) fn is_still(&self, meta: &std::fs::Metadata) -> bool {
        use std::os::unix::fs::MetadataExt;
        (meta.dev(), meta.ino(), meta.len(), (meta.mtime(), meta.mtime_nsec())) == (self.dev, self.ino, self.size, self.mtime)
    }
}

/// The prereads waiting for their claims to be prepared: bounded (a claim whose preread did
/// not fit is read again, which is only slower).
#[derive(Default)]
pub(crate) struct Prereads {
    by_claim: HashMap<String, Preread>,
    bytes: u64,
}

impl Prereads {
    /// At most this many file bytes are kept (the parsed form takes a few times more).
    const MAX_BYTES: u64 = 32 << 20;
    const MAX_ENTRIES: usize = 4096;

    fn keep(&mut self, claim: String, pre: Preread) {
        if self.bytes + pre.size <= Self::MAX_BYTES && self.by_claim.len() < Self::MAX_ENTRIES {
            self.bytes += pre.size;
            if let Some(old) = self.by_claim.insert(claim, pre) {
                self.bytes -= old.size;
            }
        }
    }

    /// Takes the preread of a claim, if one was kept.
    pub(crate) fn take(&mut self, claim: &str) -> Option<Preread> {
        let pre = self.by_claim.remove(claim)?;
        self.bytes -= pre.size;
        Some(pre)
    }

    /// Drops those of claims no longer here.
    pub(crate) fn retain(&mut self, keys: &HashSet<String>) {
        let bytes = &mut self.bytes;
        self.by_claim.retain(|k, p| {
            let keep = keys.contains(k);
            if !keep {
                *bytes -= p.size;
            }
            keep
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preread(path: &Path) -> Preread {
        let (bytes, st) = crate::fsops::read_capped_with_stat(path, 1 << 20).unwrap();
        Preread::new(serde_json::from_slice(&bytes).unwrap(), &st)
    }

    #[test]
    fn a_preread_is_used_only_for_the_file_it_read() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("a.json");
        std::fs::write(&path, r#"{"n": 1}"#).unwrap();
        let pre = preread(&path);
        // Claimed: renamed into the claim folder, same inode, size and mtime.
        let claimed = d.path().join("claimed.json");
        std::fs::rename(&path, &claimed).unwrap();
        assert!(pre.is_still(&std::fs::symlink_metadata(&claimed).unwrap()));
        // Rewritten in place, same size: the mtime differs.
        let pre = preread(&claimed);
        std::fs::write(&claimed, r#"{"n": 2}"#).unwrap();
        let later = std::time::SystemTime::now() + Duration::from_secs(2);
        std::fs::File::options().write(true).open(&claimed).unwrap().set_modified(later).unwrap();
        assert!(!pre.is_still(&std::fs::symlink_metadata(&claimed).unwrap()));
        // Replaced by another file with the same bytes and mtime: the inode differs.
        let pre = preread(&claimed);
        let other = d.path().join("other.json");
        std::fs::write(&other, r#"{"n": 2}"#).unwrap();
        std::fs::File::options().write(true).open(&other).unwrap().set_modified(later).unwrap();
        let _keep = std::fs::File::open(&claimed).unwrap(); // the old inode stays allocated
        std::fs::rename(&other, &claimed).unwrap();
        assert!(!pre.is_still(&std::fs::symlink_metadata(&claimed).unwrap()));
        // Grown: the size differs.
        let pre = preread(&claimed);
        std::fs::write(&claimed, r#"{"n": 22}"#).unwrap();
        std::fs::File::options().write(true).open(&claimed).unwrap().set_modified(later).unwrap();
        assert!(!pre.is_still(&std::fs::symlink_metadata(&claimed).unwrap()));
    }

    #[test]
    fn prereads_are_bounded_and_dropped_with_their_claims() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("a.json");
        std::fs::write(&path, r#"{"n": 1}"#).unwrap();
        let mut p = Prereads::default();
        for i in 0..Prereads::MAX_ENTRIES + 10 {
            p.keep(format!("c{i}"), preread(&path));
        }
        assert_eq!(p.by_claim.len(), Prereads::MAX_ENTRIES);
        assert_eq!(p.bytes, Prereads::MAX_ENTRIES as u64 * 8);
        assert!(p.take("c0").is_some() && p.take("c0").is_none());
        p.retain(&HashSet::from(["c1".to_string()]));
        assert_eq!((p.by_claim.len(), p.bytes), (1, 8));
    }
}
