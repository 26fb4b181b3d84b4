//! The library side of the fingerprint service plugins reach through the WIT `fingerprint`
//! interface (`baton:plugin@0.3.0`): the best library matches for a fingerprint. Fingerprinting
//! and tag reading go through [`crate::worker`]; grants are the business of `baton-host-fp`,
//! which passes the grant check for library matches as `visible`.
use baton_sync::Locked;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::db::Db;
use crate::dedup::{MAX_POSTINGS, sampled_postings};
use crate::error::{FpError, Result};
use baton_signal::compare::{Comparison, is_match, search};
use baton_signal::decode::Tags;
use baton_signal::index::sample_keys;

/// Most library fingerprints one [`Matcher::best_matches`] call compares. A query that would
/// need more (one too short to have sampled values, against a large library) fails instead of
/// holding a thread for seconds.
pub const MAX_COMPARED: usize = 20_000;

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
    /// How the match was verified ([`baton_signal::compare::METHOD_PREFIX`]).
    pub method: &'static str,
    /// The peak's contrast ([`baton_signal::compare::search`]).
    pub contrast: f64,
    /// Playback speed of the query relative to the library file (1.0 in the default mode).
    pub speed: f64,
}

/// Finds library matches for query fingerprints. Keeps the sampled inverted index of the
/// library (about 12 bytes per stored fingerprint item sampled, ~1.4 KB per track) between
/// calls, and rebuilds it only when `fp_files` has changed since (the database's change counter,
/// [`Db::generation`]). A plugin that matches thousands of files therefore pays for reading the
/// library once, not per call.
///
/// Concurrent calls share the index but nothing else: each takes a connection of its own from
/// a small pool, and no lock is held while the library is read or compared.
pub struct Matcher {
    db_path: PathBuf,
    index: Mutex<Option<Arc<Index>>>,
    /// The deep-mode index ([`baton_signal::deep::Library`]) and the generation it was built at.
    deep: Mutex<Option<Arc<(i64, baton_signal::deep::Library)>>>,
    idle: Mutex<Vec<Db>>,
}

struct Index {
    generation: i64,
    /// Sorted `(value << 32) | id` postings ([`sampled_postings`]).
    postings: Vec<u64>,
}

impl Matcher {
    /// A matcher over the library in the state database at `db_path` (opened on first use).
    pub fn new(db_path: &Path) -> Self {
        Matcher {
            db_path: db_path.to_path_buf(),
            index: Mutex::new(None),
            deep: Mutex::new(None),
            idle: Mutex::new(Vec::new()),
        }
    }

    fn connection(&self) -> Result<Db> {
        let idle = self.idle.locked().pop();
        match idle {
            Some(db) => Ok(db),
            None => Db::open(&self.db_path),
        }
    }

    /// The current index, rebuilt (outside any lock) when the library changed.
    fn index(&self, db: &Db) -> Result<Arc<Index>> {
        let generation = db.generation()?;
        let cached = self.index.locked().clone();
        if let Some(ix) = cached.filter(|ix| ix.generation == generation) {
            return Ok(ix);
        }
        let ix = Arc::new(Index { generation, postings: sampled_postings(db)?.0 });
        let mut slot = self.index.locked();
        if slot.as_ref().is_none_or(|old| old.generation <= generation) {
            *slot = Some(ix.clone());
        }
        Ok(ix)
    }

    /// The deep-mode index over the files with deep prints, rebuilt when the library changed.
    fn deep_library(&self, db: &Db) -> Result<Arc<(i64, baton_signal::deep::Library)>> {
        let generation = db.generation()?;
        let cached = self.deep.locked().clone();
        if let Some(lib) = cached.filter(|l| l.0 == generation) {
            return Ok(lib);
        }
        let lib = Arc::new((generation, baton_signal::deep::Library::new(db.deep_unit_prints()?)));
        *self.deep.locked() = Some(lib.clone());
        Ok(lib)
    }

    /// Deep-mode matches ([`baton_signal::deep`]) of a query given as its prints at every
    /// [`baton_signal::deep::SPEEDS`] entry, against the library files that have deep prints, best
    /// contrast score first. Empty when no file has deep prints.
    pub fn deep_matches(
        &self,
        query: &[Vec<u32>],
        limit: usize,
        visible: impl Fn(&Path) -> bool,
        stop: impl Fn() -> bool,
    ) -> Result<Vec<LibraryMatch>> {
        let db = self.connection()?;
        let found = self.deep_search(&db, query, limit, visible, stop);
        self.idle.locked().push(db);
        found
    }

    fn deep_search(
        &self,
        db: &Db,
        query: &[Vec<u32>],
        limit: usize,
        visible: impl Fn(&Path) -> bool,
        stop: impl Fn() -> bool,
    ) -> Result<Vec<LibraryMatch>> {
        use baton_signal::deep::{UNIT, speeds_around, verify, verify_candidate};
        let lib = self.deep_library(db)?;
        let lib = &lib.1;
        let mut hits: Vec<(i64, Comparison)> = Vec::new();
        let q_len = query.get(UNIT).map_or(0, Vec::len);
        for c in lib.candidates(query, |_| true) {
            let (t, si) = (c.track, c.speed);
            if stop() {
                return Err(FpError::TaskTimeout { path: self.db_path.clone() });
            }
            // verified from the shorter side, like dedup; the query is `b` of the comparison
            let m = if q_len <= lib.prints[t].len() {
                verify_candidate(query, &c, &lib.prints[t]).map(|m| (m, true))
            } else {
                let Some(prints) = db.deep_prints(lib.ids[t])? else { continue };
                let inverse = baton_signal::deep::SPEEDS.len() - 1 - si;
                verify(&prints, &speeds_around(inverse), &query[UNIT]).map(|m| (m, false))
            };
            if let Some((m, query_is_b)) = m.filter(|(m, _)| m.is_match()) {
                hits.push((lib.ids[t], m.comparison(query_is_b)));
            }
        }
        hits.sort_by(|a, b| b.1.contrast.total_cmp(&a.1.contrast));
        library_matches(db, &hits, limit, visible)
    }

    /// The best `limit` library matches of `fp` by every method the library supports: the
    /// prefix method ([`Matcher::prefix_matches`]), and, when files have deep prints
    /// (`fp scan --deep`), deep mode as well ([`baton_signal::deep`]): `fp` (a print of up to 120 s,
    /// as plugins send) is taken as a deep query at every [`baton_signal::deep::SPEEDS`] entry by
    /// stretching it ([`baton_signal::deep::query_prints`]), so a clip, a radio edit or a tempo or
    /// speed change of a library file is found even where the prefixes do not overlap. A file
    /// both methods find keeps its prefix result; deep-only matches follow the prefix ones,
    /// best contrast score first; they are judged by the deep contrast threshold
    /// ([`baton_signal::deep::DeepMatch::is_match`]), not by `min_similarity` (a tempo-changed copy
    /// is rarely 0.85 similar anywhere, yet peaks sharply). (The 0.4 WIT `library-match` record has no method or speed:
    /// a plugin gets the deep match's similarity and offset.)
    pub fn best_matches(
        &self,
        fp: &[u32],
        min_similarity: f64,
        limit: usize,
        visible: impl Fn(&Path) -> bool,
        stop: impl Fn() -> bool,
    ) -> Result<Vec<LibraryMatch>> {
        let db = self.connection()?;
        let found = self.search(&db, fp, min_similarity, limit, &visible, &stop).and_then(|mut found| {
            if found.len() < limit && fp.len() >= baton_signal::deep::WINDOW && db.has_deep()? {
                let prints = baton_signal::deep::query_prints(fp);
                for m in self.deep_search(&db, &prints, limit, &visible, &stop)? {
                    if found.len() < limit && !found.iter().any(|f| f.path == m.path) {
                        found.push(m);
                    }
                }
            }
            Ok(found)
        });
        self.idle.locked().push(db);
        found
    }

    /// The best `limit` library files that match `fp` by the prefix method alone
    /// ([`baton_signal::compare::is_match`]: a sharp peak at some offset with at least 10 s of
    /// overlap, at least `min_similarity` similar), best first, among those `visible` accepts
    /// (the plugin host passes "inside the plugin's grants"). A file is compared only if it
    /// shares a sampled value with the query, as in duplicate grouping. `stop` is polled while
    /// comparing; when it says so (the task's time ran out) the call ends with
    /// [`FpError::TaskTimeout`].
    pub fn prefix_matches(
        &self,
        fp: &[u32],
        min_similarity: f64,
        limit: usize,
        visible: impl Fn(&Path) -> bool,
        stop: impl Fn() -> bool,
    ) -> Result<Vec<LibraryMatch>> {
        let db = self.connection()?;
        let found = self.search(&db, fp, min_similarity, limit, visible, stop);
        self.idle.locked().push(db);
        found
    }

    fn search(
        &self,
        db: &Db,
        fp: &[u32],
        min_similarity: f64,
        limit: usize,
        visible: impl Fn(&Path) -> bool,
        stop: impl Fn() -> bool,
    ) -> Result<Vec<LibraryMatch>> {
        let timed_out = || FpError::TaskTimeout { path: self.db_path.clone() };
        let too_much = || {
            FpError::Invalid(format!(
                "the fingerprint library: this query needs more than {MAX_COMPARED} comparisons \
                 (a fingerprint of {} items is too short to index); send at least 10 s of audio",
                fp.len()
            ))
        };
        if stop() {
            return Err(timed_out());
        }
        let mut hits: Vec<(i64, Comparison)> = Vec::new();
        let mut compared = 0usize;
        let mut check = |id: i64, other: &[u32]| -> Result<bool> {
            compared += 1;
            if compared > MAX_COMPARED {
                return Err(too_much());
            }
            if compared.is_multiple_of(64) && stop() {
                return Err(timed_out());
            }
            if let Some(c) = search(other, fp)
                && is_match(&c, min_similarity)
            {
                hits.push((id, c));
            }
            Ok(true)
        };
        let keys = sample_keys(fp);
        if keys.is_empty() {
            // Too short to have sampled values: compare with everything, within the cap.
            db.try_for_each_fingerprint(&mut check)?;
        } else {
            let index = self.index(db)?;
            for id in candidates(&index.postings, &keys) {
                if let Some(other) = db.fingerprint_by_id(id)? {
                    check(id, &other)?;
                }
            }
        }
        hits.sort_by(|a, b| b.1.score.total_cmp(&a.1.score));
        // Only hits above the threshold get here (few), so load them all and filter before the cut.
        library_matches(db, &hits, limit, visible)
    }
}

/// The first `limit` of `hits` (already in rank order) whose files `visible` allows, with each
/// file's path, tags and duration read from the library in one query.
fn library_matches(
    db: &Db,
    hits: &[(i64, Comparison)],
    limit: usize,
    visible: impl Fn(&Path) -> bool,
) -> Result<Vec<LibraryMatch>> {
    let ids: Vec<i64> = hits.iter().map(|h| h.0).collect();
    let rows = db.rows_by_id(&ids)?;
    Ok(hits
        .iter()
        .filter_map(|(id, c)| {
            let r = rows.iter().find(|r| r.id == *id)?;
            Some(LibraryMatch {
                path: r.path.clone(),
                score: c.score,
                offset_seconds: c.offset_seconds,
                tags: r.tags.clone(),
                duration: r.duration,
                method: c.method,
                contrast: c.contrast,
                speed: c.speed,
            })
        })
        .filter(|m| visible(&m.path))
        .take(limit)
        .collect())
}

/// Ids of the library files sharing at least two sampled keys with the query `keys` (one when
/// the query has fewer than 8), skipping keys so common (over [`MAX_POSTINGS`] files) that they
/// say nothing. One shared 24-bit key is common by chance in a large library; two are not.
fn candidates(postings: &[u64], keys: &[u32]) -> Vec<i64> {
    let need = if keys.len() >= 8 { 2 } else { 1 };
    let mut ids: Vec<i64> = Vec::new();
    for &k in keys {
        let lo = postings.partition_point(|p| (p >> 32) < k as u64);
        let hi = lo + postings[lo..].partition_point(|p| (p >> 32) == k as u64);
        if hi - lo <= MAX_POSTINGS {
            ids.extend(postings[lo..hi].iter().map(|p| (p & 0xffff_ffff) as i64));
        }
    }
    ids.sort_unstable();
    ids.chunk_by(|x, y| x == y).filter(|r| r.len() >= need).map(|r| r[0]).collect()
}
