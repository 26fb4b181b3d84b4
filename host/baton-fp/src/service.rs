//! The fingerprint service plugins reach through the WIT `fingerprint` interface
//! (`baton:plugin@0.3.0`): fingerprint a path, find the best library matches for a fingerprint,
//! read a file's tags. These functions know nothing about grants: baton-runtime resolves a
//! plugin's guest path inside its grants before calling them, and passes the grant check for
//! library matches as `visible`.
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::compare::compare;
use crate::db::Db;
use crate::decode::{AudioInfo, Tags};
use crate::dedup::sample_keys;
use crate::error::Result;
use crate::fingerprint::FileFingerprint;

/// Fingerprints the first 120 s of `path` (raw form plus, via
/// [`FileFingerprint::compressed`], the AcoustID form).
pub fn fingerprint_path(path: &Path) -> Result<FileFingerprint> {
    crate::fingerprint::fingerprint_file(path)
}

/// Tags and stream facts of `path`, without decoding the audio.
pub fn read_tags(path: &Path) -> Result<(AudioInfo, Tags)> {
    crate::decode::read_tags(path)
}

/// A library file matching a query fingerprint.
#[derive(Debug, Clone, Serialize)]
pub struct LibraryMatch {
    pub path: PathBuf,
    /// `1 - bit error rate` at the best offset.
    pub score: f64,
    /// Offset of the query inside the library file, in seconds.
    pub offset_seconds: f64,
    pub tags: Tags,
    pub duration: Option<f64>,
}

/// The best `limit` library files (from the state database) whose similarity to `fp` is at
/// least `min_similarity`, best first, among those `visible` accepts (the plugin host passes
/// "inside the plugin's grants"). Streams the stored fingerprints; a candidate must share at
/// least one sampled value with the query before the bit-error comparison runs.
pub fn best_matches(
    db_path: &Path,
    fp: &[u32],
    min_similarity: f64,
    limit: usize,
    visible: impl Fn(&Path) -> bool,
) -> Result<Vec<LibraryMatch>> {
    let db = Db::open(db_path)?;
    let keys = sample_keys(fp);
    let mut hits: Vec<(i64, f64, f64)> = Vec::new();
    db.for_each_fingerprint(|id, other| {
        let shared = sample_keys(other).iter().filter(|k| keys.binary_search(k).is_ok()).count();
        if shared == 0 && !keys.is_empty() {
            return;
        }
        if let Some(c) = compare(other, fp, crate::compare::DEFAULT_MAX_OFFSET)
            && c.score >= min_similarity
        {
            hits.push((id, c.score, c.offset_seconds));
        }
    })?;
    hits.sort_by(|a, b| b.1.total_cmp(&a.1));
    // Only hits above the threshold get here (few), so load them all and filter before the cut.
    let ids: Vec<i64> = hits.iter().map(|h| h.0).collect();
    let rows = db.rows_by_id(&ids)?;
    Ok(hits
        .iter()
        .filter_map(|(id, score, off)| {
            let r = rows.iter().find(|r| r.id == *id)?;
            Some(LibraryMatch { path: r.path.clone(), score: *score, offset_seconds: *off, tags: r.tags.clone(), duration: r.duration })
        })
        .filter(|m| visible(&m.path))
        .take(limit)
        .collect())
}
