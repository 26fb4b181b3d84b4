//! What the inbox's readiness check already read: each handoff is read and parsed once, and the
//! copy travels with its claim to intake, used only while the file is still the one read.
use std::collections::{HashMap, HashSet};

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
    // As in `stat_mtime`: the casts are needed on macOS.
    #[allow(clippy::unnecessary_cast)]
    pub(crate) fn new(value: serde_json::Value, st: &rustix::fs::Stat) -> Self {
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
        (meta.dev(), meta.ino(), meta.len(), (meta.mtime(), meta.mtime_nsec()))
            == (self.dev, self.ino, self.size, self.mtime)
    }
}

/// The prereads waiting for their claims to be prepared: bounded (a claim whose preread did
/// not fit is read again, which is only slower). Each is charged its file's size plus
/// [`Prereads::OVERHEAD`] for the parsed form, so a backlog of small files (a drain of
/// 20,000 TASKs claimed in one pass) is read once, and a few large ones cannot hold much.
#[derive(Default)]
pub(crate) struct Prereads {
    by_claim: HashMap<String, Preread>,
    bytes: u64,
}

impl Prereads {
    /// At most this much is kept, counted as above.
    const MAX_BYTES: u64 = 64 << 20;
    /// What a small TASK's parsed form costs beyond its bytes (maps, strings), about.
    const OVERHEAD: u64 = 2048;

    fn cost(pre: &Preread) -> u64 {
        pre.size + Self::OVERHEAD
    }

    pub(crate) fn keep(&mut self, claim: String, pre: Preread) {
        let cost = Self::cost(&pre);
        if self.bytes + cost <= Self::MAX_BYTES {
            self.bytes += cost;
            if let Some(old) = self.by_claim.insert(claim, pre) {
                self.bytes -= Self::cost(&old);
            }
        }
    }

    /// Takes the preread of a claim, if one was kept.
    pub(crate) fn take(&mut self, claim: &str) -> Option<Preread> {
        let pre = self.by_claim.remove(claim)?;
        self.bytes -= Self::cost(&pre);
        Some(pre)
    }

    /// Drops those of claims no longer here.
    pub(crate) fn retain(&mut self, keys: &HashSet<&str>) {
        let bytes = &mut self.bytes;
        self.by_claim.retain(|k, p| {
            let keep = keys.contains(k.as_str());
            if !keep {
                *bytes -= Prereads::cost(p);
            }
            keep
        });
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::*;

    fn preread(path: &Path) -> Preread {
        let (bytes, st) = baton_fs::read_capped_with_stat(path, 1 << 20).unwrap();
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
        let fits = (Prereads::MAX_BYTES / (8 + Prereads::OVERHEAD)) as usize;
        for i in 0..fits + 10 {
            p.keep(format!("c{i}"), preread(&path));
        }
        assert_eq!(p.by_claim.len(), fits);
        assert_eq!(p.bytes, fits as u64 * (8 + Prereads::OVERHEAD));
        assert!(p.take("c0").is_some() && p.take("c0").is_none());
        p.retain(&HashSet::from(["c1"]));
        assert_eq!((p.by_claim.len(), p.bytes), (1, 8 + Prereads::OVERHEAD));
    }
}
