//! Track matching over the catalog: the index of `tracks`, rebuilt when the collection
//! changes, and a file's library fingerprint as the last rung.
use super::*;

impl Catalog {
    /// Matches a track against `tracks`, down the ladder (external id, ISRC, normalised text
    /// and duration, fuzzy text, fingerprint of a local file). The index is kept between calls
    /// and rebuilt only when `tracks` changed.
    pub fn match_track(&mut self, access: &Access, q: &TrackQuery) -> Result<MatchOutcome> {
        self.check_read(access, "tracks")?;
        let generation = self.db.query_one("SELECT generation FROM cat_collections WHERE name = 'tracks'", &[])?.int(0);
        if self.index.as_ref().is_none_or(|(g, _)| *g != generation) {
            let _span = tracing::info_span!("catalog.index", generation).entered();
            // The index serves every call and task: its reading is not charged to this call.
            let index = MatchIndex::build(crate::bounds::unmetered(|| self.track_entries())?);
            self.index = Some((generation, index));
        }
        let Some((_, index)) = &self.index else { unreachable!("index set above") };
        let mut outcome = index.match_track(q);
        if outcome.verdict == crate::Verdict::None
            && let Some(file) = &q.file
        {
            outcome = self.match_by_fingerprint(file)?;
            // The fingerprint rung obeys the ISRC rule too: two ISRCs are two recordings.
            if let Some((_, index)) = &self.index {
                outcome = index.without_isrc_conflicts(q, outcome);
            }
        }
        Ok(outcome)
    }

    pub(super) fn track_entries(&self) -> Result<Vec<TrackEntry>> {
        let rows = self.db.query("SELECT key, props FROM cat_records WHERE collection = 'tracks'", &[])?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let v: Map<String, Value> = serde_json::from_str(row.str(1)).unwrap_or_default();
            out.push(TrackEntry::from_props(row.text(0), &v));
        }
        Ok(out)
    }

    /// The tracks linked (`tracks.files`) to library files that sound like `file`.
    pub(super) fn match_by_fingerprint(&self, file: &Path) -> Result<MatchOutcome> {
        use crate::matcher::{Candidate, Verdict};
        let none = || MatchOutcome { verdict: Verdict::None, candidates: Vec::new() };
        let Some((source, conn)) = self.library() else { return Ok(none()) };
        let Some(print) = source.fingerprint(conn, &file.to_string_lossy())? else { return Ok(none()) };
        let hits =
            source.sounds_like(&print, file, 20, &crate::bounds::should_stop).map_err(CatalogError::Fingerprint)?;
        crate::bounds::check()?;
        let mut candidates: Vec<Candidate> = Vec::new();
        for (path, score) in hits {
            let keys: Vec<String> = self
                .db
                .query(
                    "SELECT key FROM cat_links WHERE collection = 'tracks' AND property = 'files' AND target_key = ?1 AND removed = 0",
                    vals![&path],
                )?
                .iter()
                .map(|r| r.text(0))
                .collect();
            for key in keys {
                if candidates.iter().any(|c| c.key == key) {
                    continue;
                }
                let props: Map<String, Value> = self
                    .db
                    .query_opt("SELECT props FROM cat_records WHERE collection = 'tracks' AND key = ?1", vals![&key])?
                    .and_then(|r| serde_json::from_str(r.str(0)).ok())
                    .unwrap_or_default();
                let e = TrackEntry::from_props(key.clone(), &props);
                candidates.push(Candidate {
                    key,
                    title: e.title,
                    artists: e.artists,
                    duration_ms: e.duration_ms,
                    score,
                    method: MatchMethod::Fingerprint,
                    reasons: vec![format!("fingerprint similarity {score:.3} with {path}")],
                });
            }
        }
        Ok(crate::matcher::decide(candidates))
    }
}
