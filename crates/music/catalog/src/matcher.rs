//! The track matcher every plugin shares: given what one source knows about a track, which
//! `tracks` record is it? It works down a ladder and stops at the first rung that finds
//! anything: the same external id, the same ISRC, the normalised title and artists with the
//! duration within a tolerance, a fuzzy (typo-tolerant, word-for-word) title with overlapping
//! artists and close duration; the fingerprint of a local file is tried by
//! [`crate::Catalog::match_track`] when all of these fail. Two candidates too close to call are
//! reported as `ambiguous`, never guessed between.
//!
//! The name rungs obey the identity rule of [`baton_normalize::identity`]: a record holding
//! other ids of a kind the query holds too (two Spotify URIs, two ISRCs, …) is never a
//! candidate, and a match by names where a duration is missing is certain only with the same
//! album on both sides, else the verdict is `ambiguous`.
//!
//! The index is built once from the `tracks` records and kept between calls (the catalog
//! rebuilds it when `tracks` changes), so a query costs hash lookups, not a scan.
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::normalize;
use crate::normalize::identity;

/// A candidate is accepted from this score up.
pub const ACCEPT: f64 = 0.80;
/// Two accepted candidates closer than this are ambiguous.
pub const MARGIN: f64 = 0.05;
/// Largest duration difference for the normalised rung, in ms.
pub const DURATION_TOLERANCE_MS: i64 = 3_000;
/// Largest duration difference for the fuzzy rung, in ms.
pub const FUZZY_DURATION_TOLERANCE_MS: i64 = 2_000;
/// Smallest per-word similarity (Jaro-Winkler) for the fuzzy rung.
pub const FUZZY_WORD: f64 = 0.90;
/// Title words shared by more tracks than this are not used to find fuzzy candidates.
const MAX_POSTINGS: usize = 2_000;

/// How a match (or a link) was made. One enum everywhere: WIT, CLI JSON, links.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchMethod {
    ExternalId,
    Isrc,
    Normalized,
    Fuzzy,
    Fingerprint,
    Manual,
}

impl MatchMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchMethod::ExternalId => "external_id",
            MatchMethod::Isrc => "isrc",
            MatchMethod::Normalized => "normalized",
            MatchMethod::Fuzzy => "fuzzy",
            MatchMethod::Fingerprint => "fingerprint",
            MatchMethod::Manual => "manual",
        }
    }
}

/// What a source knows about a track.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrackQuery {
    #[serde(default)]
    pub title: String,
    /// Artist fields as the source has them (each may hold several names: "A & B", "A, B").
    #[serde(default)]
    pub artists: Vec<String>,
    #[serde(default)]
    pub duration_ms: Option<i64>,
    /// Any spelling; normalised (a malformed one is ignored by the caller with a warning).
    #[serde(default)]
    pub isrc: Option<String>,
    #[serde(default)]
    pub external_ids: Vec<String>,
    /// A local file (host path) whose stored fingerprint is the last rung.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// The album, when the source knows it: without a duration, names link only with the same
    /// album on both sides ([`baton_normalize::identity::name_link`]).
    #[serde(default)]
    pub album: Option<String>,
}

/// One possible answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    pub key: String,
    pub title: String,
    pub artists: Vec<String>,
    pub duration_ms: Option<i64>,
    pub score: f64,
    pub method: MatchMethod,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Match,
    Ambiguous,
    None,
}

/// The verdict and the candidates behind it, best first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatchOutcome {
    pub verdict: Verdict,
    pub candidates: Vec<Candidate>,
}

/// A track as the index keeps it.
#[derive(Debug, Clone, Default)]
pub struct TrackEntry {
    pub key: String,
    pub title: String,
    pub artists: Vec<String>,
    pub duration_ms: Option<i64>,
    pub isrc: Option<String>,
    pub external_ids: Vec<String>,
    pub album: Option<String>,
}

impl TrackEntry {
    /// From a `tracks` record's properties.
    pub fn from_props(key: String, p: &Map<String, Value>) -> TrackEntry {
        let list = |id: &str| -> Vec<String> {
            p.get(id)
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
                .unwrap_or_default()
        };
        TrackEntry {
            key,
            title: p.get("title").and_then(Value::as_str).unwrap_or("").to_string(),
            artists: list("artists"),
            duration_ms: p.get("duration_ms").and_then(Value::as_i64),
            isrc: p.get("isrc").and_then(Value::as_str).map(str::to_string),
            external_ids: list("external_ids"),
            album: p.get("album").and_then(Value::as_str).map(str::to_string),
        }
    }
}

/// Normalised form of a track (query or entry).
struct Norm {
    title: normalize::Title,
    artists: BTreeSet<String>,
}

impl Norm {
    /// Words of the title's core (`split(' ')` pieces, as the fuzzy rung compares them).
    fn words(&self) -> usize {
        self.title.core.bytes().filter(|&b| b == b' ').count() + 1
    }
}

fn norm(title: &str, artists: &[String]) -> Norm {
    let t = normalize::title(title);
    let mut a = normalize::artists(artists.iter().map(String::as_str));
    a.extend(t.featured.iter().cloned());
    Norm { title: t, artists: a }
}

/// The in-memory index over `tracks`.
pub struct MatchIndex {
    entries: Vec<TrackEntry>,
    norms: Vec<Norm>,
    by_external: HashMap<String, Vec<u32>>,
    by_isrc: HashMap<String, Vec<u32>>,
    /// "core|version" -> entries.
    by_text: HashMap<String, Vec<u32>>,
    /// Title word and artist name -> entries (candidates for the fuzzy rung).
    by_word: HashMap<String, Vec<u32>>,
}

impl MatchIndex {
    pub fn build(mut entries: Vec<TrackEntry>) -> MatchIndex {
        // ISRCs are kept normalised, so every rung compares them as one spelling.
        for e in &mut entries {
            e.isrc = e.isrc.as_deref().and_then(crate::schema::normalize_isrc);
        }
        let mut idx = MatchIndex {
            norms: Vec::with_capacity(entries.len()),
            entries: Vec::new(),
            by_external: HashMap::new(),
            by_isrc: HashMap::new(),
            by_text: HashMap::new(),
            by_word: HashMap::new(),
        };
        for (i, e) in entries.iter().enumerate() {
            let i = i as u32;
            for x in &e.external_ids {
                idx.by_external.entry(x.clone()).or_default().push(i);
            }
            if let Some(isrc) = e.isrc.clone() {
                idx.by_isrc.entry(isrc).or_default().push(i);
            }
            let n = norm(&e.title, &e.artists);
            if !n.title.core.is_empty() {
                idx.by_text.entry(format!("{}|{}", n.title.core, n.title.version)).or_default().push(i);
                let mut words: Vec<&str> = n.title.core.split(' ').collect();
                words.sort_unstable();
                words.dedup();
                for w in words.into_iter().chain(n.artists.iter().map(String::as_str)) {
                    idx.by_word.entry(w.to_string()).or_default().push(i);
                }
            }
            idx.norms.push(n);
        }
        idx.entries = entries;
        idx
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn candidate(&self, i: u32, score: f64, method: MatchMethod, reasons: Vec<String>) -> Candidate {
        let e = &self.entries[i as usize];
        Candidate {
            key: e.key.clone(),
            title: e.title.clone(),
            artists: e.artists.clone(),
            duration_ms: e.duration_ms,
            score,
            method,
            reasons,
        }
    }

    /// Whether entry `i` and a query's normalised ISRC name two recordings: both known and
    /// different. Such a pair is never one track, on any rung.
    fn isrc_conflict(&self, i: u32, q_isrc: Option<&str>) -> bool {
        match (q_isrc, self.entries[i as usize].isrc.as_deref()) {
            (Some(a), Some(b)) => a != b,
            _ => false,
        }
    }

    /// `outcome` without the candidates whose record carries an ISRC other than the query's
    /// (for rungs decided outside the index, such as the fingerprint), decided again.
    pub fn without_isrc_conflicts(&self, q: &TrackQuery, outcome: MatchOutcome) -> MatchOutcome {
        let Some(q_isrc) = q.isrc.as_deref().and_then(crate::schema::normalize_isrc) else { return outcome };
        let other = |key: &str| {
            self.entries.iter().find(|e| e.key == key).and_then(|e| e.isrc.as_deref()).is_some_and(|i| i != q_isrc)
        };
        let kept: Vec<Candidate> = outcome.candidates.into_iter().filter(|c| !other(&c.key)).collect();
        decide(kept)
    }

    /// Matches one query down the ladder. Rule on every rung: a record whose ISRC differs from
    /// the query's (both known, compared normalised) is never a candidate.
    pub fn match_track(&self, q: &TrackQuery) -> MatchOutcome {
        let q_isrc = q.isrc.as_deref().and_then(crate::schema::normalize_isrc);
        // 1. The same external id.
        let mut hits: Vec<Candidate> = Vec::new();
        for x in &q.external_ids {
            for &i in self.by_external.get(x).into_iter().flatten() {
                if !self.isrc_conflict(i, q_isrc.as_deref()) {
                    hits.push(self.candidate(i, 1.0, MatchMethod::ExternalId, vec![format!("same external id {x}")]));
                }
            }
        }
        if !hits.is_empty() {
            return decide(hits);
        }
        // 2. The same ISRC.
        if let Some(isrc) = q_isrc.clone() {
            for &i in self.by_isrc.get(&isrc).into_iter().flatten() {
                hits.push(self.candidate(i, 0.99, MatchMethod::Isrc, vec![format!("same ISRC {isrc}")]));
            }
            if !hits.is_empty() {
                return decide(hits);
            }
        }
        let qn = norm(&q.title, &q.artists);
        if qn.title.core.is_empty() {
            return decide(hits);
        }
        // 3. Normalised title and artists, duration within the tolerance.
        let text = format!("{}|{}", qn.title.core, qn.title.version);
        let mut uncertain = std::collections::HashSet::new();
        for &i in self.by_text.get(&text).into_iter().flatten() {
            if let Some((c, sure)) = self.score_normalized(i, &qn, q) {
                if !sure {
                    uncertain.insert(c.key.clone());
                }
                hits.push(c);
            }
        }
        if hits.iter().any(|c| c.score >= ACCEPT) {
            let mut out = decide(hits);
            // Names without a duration and without the album on both sides are never certain.
            if out.verdict == Verdict::Match && out.candidates.first().is_some_and(|c| uncertain.contains(&c.key)) {
                out.verdict = Verdict::Ambiguous;
            }
            return out;
        }
        // 4. Fuzzy: the same words up to typos, overlapping artists, close duration.
        let mut seen = std::collections::HashSet::new();
        for w in qn.title.core.split(' ').chain(qn.artists.iter().map(String::as_str)) {
            let Some(list) = self.by_word.get(w) else { continue };
            if list.len() > MAX_POSTINGS {
                continue;
            }
            for &i in list {
                // The duration first: it rules out most of a shared word's tracks without
                // hashing them into `seen` (score_fuzzy would refuse them anyway).
                let close = match (q.duration_ms, self.entries[i as usize].duration_ms) {
                    (Some(a), Some(b)) => (a - b).abs() <= FUZZY_DURATION_TOLERANCE_MS,
                    _ => false,
                };
                if close
                    && seen.insert(i)
                    && let Some(c) = self.score_fuzzy(i, &qn, q)
                {
                    hits.push(c);
                }
            }
        }
        decide(hits)
    }

    /// What the identity rule says of query `q` and entry `i` for a match by names: None when
    /// they are two tracks (different ids of one kind, or no duration and two albums), else
    /// whether names can be certain (a reason when not).
    fn name_rule(&self, i: u32, q: &TrackQuery) -> Option<Option<String>> {
        let e = &self.entries[i as usize];
        fn side<'a>(
            ids: &'a [String],
            isrc: Option<&'a str>,
            d: Option<i64>,
            album: Option<&'a str>,
        ) -> identity::Side<'a> {
            identity::Side { ids: identity::Ids { external_ids: ids, isrc }, duration_ms: d, album }
        }
        match identity::name_link(
            side(&q.external_ids, q.isrc.as_deref(), q.duration_ms, q.album.as_deref()),
            side(&e.external_ids, e.isrc.as_deref(), e.duration_ms, e.album.as_deref()),
        ) {
            identity::NameLink::May => Some(None),
            identity::NameLink::Never(_) => None,
            identity::NameLink::Uncertain(why) => Some(Some(why)),
        }
    }

    /// The normalised rung's candidate for entry `i`, and whether it is certain.
    fn score_normalized(&self, i: u32, qn: &Norm, q: &TrackQuery) -> Option<(Candidate, bool)> {
        let doubt = self.name_rule(i, q)?;
        let n = &self.norms[i as usize];
        let e = &self.entries[i as usize];
        let mut reasons = vec![format!("same normalised title \"{}\"", qn.title.core)];
        if !qn.title.version.is_empty() {
            reasons.push(format!("same version \"{}\"", qn.title.version));
        }
        let mut score = match artist_relation(&qn.artists, &n.artists) {
            ArtistRelation::Equal => {
                reasons.push("same artists".into());
                0.97
            }
            ArtistRelation::Overlap(shared) => {
                reasons.push(format!("artists overlap ({shared} shared; the rest missing on one side)"));
                0.87
            }
            ArtistRelation::Disjoint => return None,
        };
        match (q.duration_ms, e.duration_ms) {
            (Some(a), Some(b)) => {
                let d = (a - b).abs();
                if d > DURATION_TOLERANCE_MS {
                    return None;
                }
                score -= 0.02 * d as f64 / DURATION_TOLERANCE_MS as f64;
                reasons.push(format!("duration within {:.1} s", d as f64 / 1000.0));
            }
            _ => {
                score -= 0.03;
                reasons.push("no duration to compare".into());
                if doubt.is_none() {
                    reasons.push("same album".into());
                }
            }
        }
        let sure = doubt.is_none();
        reasons.extend(doubt);
        Some((self.candidate(i, score, MatchMethod::Normalized, reasons), sure))
    }

    /// The fuzzy rung's score of entry `i`, or None. Every test is a filter, so they run
    /// cheapest first (the answer is the same in any order): the version and the duration
    /// (integers: most candidates of a shared word end here), the word count, and only then the
    /// string similarities, the title's stopping at its first word below [`FUZZY_WORD`].
    ///
    /// Two things are never typos: a number ("Song 199" is not "Song 19965", "Artist 780" is not
    /// "Artist 1771"; Jaro-Winkler rates both above 0.9 for their shared prefix), and a different
    /// ISRC on both sides (an ISRC names one recording: two of them are two recordings, which a
    /// guess from similar names must not merge).
    fn score_fuzzy(&self, i: u32, qn: &Norm, q: &TrackQuery) -> Option<Candidate> {
        let n = &self.norms[i as usize];
        let e = &self.entries[i as usize];
        if n.title.version != qn.title.version {
            return None;
        }
        // Different ids of one kind (an ISRC among them): two tracks, whatever the names.
        self.name_rule(i, q)?;
        let d = match (q.duration_ms, e.duration_ms) {
            (Some(a), Some(b)) => (a - b).abs(),
            _ => return None,
        };
        if d > FUZZY_DURATION_TOLERANCE_MS {
            return None;
        }
        let (words, q_words) = (n.words(), qn.words());
        if words != q_words {
            return None;
        }
        let mut sum = 0.0;
        for (x, y) in qn.title.core.split(' ').zip(n.title.core.split(' ')) {
            let s = if x != y && (has_digit(x) || has_digit(y)) { 0.0 } else { strsim::jaro_winkler(x, y) };
            if s < FUZZY_WORD {
                return None;
            }
            sum += s;
        }
        let title_sim = sum / words as f64;
        let artist_sim = match artist_relation(&qn.artists, &n.artists) {
            ArtistRelation::Equal => 1.0,
            ArtistRelation::Overlap(_) => 0.8,
            ArtistRelation::Disjoint => fuzzy_artists(&qn.artists, &n.artists),
        };
        if artist_sim < 0.8 {
            return None;
        }
        let score = 0.5 * title_sim + 0.3 * artist_sim + 0.2 * (1.0 - d as f64 / FUZZY_DURATION_TOLERANCE_MS as f64);
        // A fuzzy match never outranks a normalised one.
        let score = (score * 0.9).min(0.89);
        Some(self.candidate(
            i,
            score,
            MatchMethod::Fuzzy,
            vec![
                format!("title words alike ({:.2})", title_sim),
                format!("artists alike ({artist_sim:.2})"),
                format!("duration within {:.1} s", d as f64 / 1000.0),
            ],
        ))
    }
}

enum ArtistRelation {
    Equal,
    Overlap(usize),
    Disjoint,
}

/// Equal sets; or one inside the other (features missing on one side); else disjoint.
fn artist_relation(a: &BTreeSet<String>, b: &BTreeSet<String>) -> ArtistRelation {
    if a.is_empty() || b.is_empty() {
        return ArtistRelation::Disjoint;
    }
    if a == b {
        return ArtistRelation::Equal;
    }
    let shared = a.intersection(b).count();
    if shared > 0 && (shared == a.len() || shared == b.len()) {
        ArtistRelation::Overlap(shared)
    } else {
        ArtistRelation::Disjoint
    }
}

/// Best Jaro-Winkler between the names of two artist sets (typos in a name), counting only
/// names whose numbers agree ("Artist 780" and "Artist 1771" are two artists, not a typo).
fn fuzzy_artists(a: &BTreeSet<String>, b: &BTreeSet<String>) -> f64 {
    let numbers = |name: &str| name.split(' ').filter(|w| has_digit(w)).map(str::to_string).collect::<Vec<_>>();
    a.iter()
        .flat_map(|x| b.iter().filter(move |y| numbers(x) == numbers(y)).map(move |y| strsim::jaro_winkler(x, y)))
        .fold(0.0, f64::max)
}

fn has_digit(word: &str) -> bool {
    word.bytes().any(|b| b.is_ascii_digit())
}

/// The verdict over candidates: the best per key, best first; `match` when the best is accepted
/// and no other accepted candidate is within [`MARGIN`]; `ambiguous` when one is; else `none`.
pub fn decide(mut hits: Vec<Candidate>) -> MatchOutcome {
    hits.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.key.cmp(&b.key)));
    let mut seen = std::collections::HashSet::new();
    hits.retain(|c| seen.insert(c.key.clone()));
    hits.truncate(10);
    for c in &mut hits {
        c.score = (c.score * 1000.0).round() / 1000.0;
    }
    let verdict = match hits.as_slice() {
        [] => Verdict::None,
        [top, ..] if top.score < ACCEPT => Verdict::None,
        [top, second, ..] if second.score >= ACCEPT && top.score - second.score < MARGIN => Verdict::Ambiguous,
        _ => Verdict::Match,
    };
    MatchOutcome { verdict, candidates: hits }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, title: &str, artist: &str, isrc: Option<&str>, ids: &[&str]) -> TrackEntry {
        TrackEntry {
            key: key.into(),
            title: title.into(),
            artists: vec![artist.into()],
            duration_ms: Some(463_439),
            isrc: isrc.map(str::to_string),
            external_ids: ids.iter().map(|s| s.to_string()).collect(),
            album: None,
        }
    }

    /// Two records whose normalised ISRCs differ are never one track, on any rung: the same
    /// external id, the same normalised text (it used to subtract 0.05 and still match), the
    /// fuzzy rung; a hyphenated ISRC is the same ISRC.
    #[test]
    fn different_isrcs_are_never_one_track_on_any_rung() {
        let idx = MatchIndex::build(vec![entry(
            "t",
            "Far Over the Misty Mountains Cold",
            "Clamavi De Profundis",
            Some("GB-SMU-14-29088"),
            &["spotify:track:7oYTWS0BEJcddgKZBkiSJq"],
        )]);
        let q = |title: &str, isrc: Option<&str>, ids: &[&str]| TrackQuery {
            title: title.into(),
            artists: vec!["Clamavi De Profundis".into()],
            duration_ms: Some(463_000),
            isrc: isrc.map(str::to_string),
            external_ids: ids.iter().map(|s| s.to_string()).collect(),
            file: None,
            album: None,
        };
        let title = "Far Over the Misty Mountains Cold";
        let id = ["spotify:track:7oYTWS0BEJcddgKZBkiSJq"];
        for (query, want) in [
            (q(title, None, &id), Verdict::Match),
            (q(title, Some("GB-SMU-14-29088"), &[]), Verdict::Match),
            (q(title, Some("gbsmu1429088"), &id), Verdict::Match),
            (q(title, None, &[]), Verdict::Match),
            (q(title, Some("GBSMU1429089"), &id), Verdict::None),
            (q(title, Some("GBSMU1429089"), &[]), Verdict::None),
            (q("Far Over the Misty Mountain Cold", None, &[]), Verdict::Match),
            (q("Far Over the Misty Mountain Cold", Some("GBSMU1429089"), &[]), Verdict::None),
        ] {
            assert_eq!(idx.match_track(&query).verdict, want, "{query:?}");
        }
        // `&` and "and" are one word in titles, as between artists.
        let dust = MatchIndex::build(vec![entry("d", "Dust and Diesel", "Clamavi De Profundis", None, &[])]);
        assert_eq!(dust.match_track(&q("Dust & Diesel", None, &[])).verdict, Verdict::Match);
        let found = idx.match_track(&q(title, None, &[]));
        let refused = idx.without_isrc_conflicts(&q(title, Some("GBSMU1429089"), &[]), found.clone());
        assert_eq!((found.verdict, refused.verdict), (Verdict::Match, Verdict::None));
    }

    /// A streaming id is identity: two records holding different ids of one kind are two
    /// tracks whatever their names (a studio and a live take under two URIs, one title, no
    /// duration); names link only where one side has no id of that kind; without a duration
    /// they also need the album, else the pair is ambiguous.
    #[test]
    fn different_ids_of_one_kind_are_never_linked_by_names() {
        let mut e = entry("spotify:track:A", "Losing It", "Fisher", None, &["spotify:track:A"]);
        e.duration_ms = None;
        e.album = Some("Losing It".into());
        let idx = MatchIndex::build(vec![e]);
        let q = |ids: &[&str], duration_ms: Option<i64>, album: Option<&str>| TrackQuery {
            title: "Losing It".into(),
            artists: vec!["FISHER".into()],
            duration_ms,
            external_ids: ids.iter().map(|s| s.to_string()).collect(),
            album: album.map(str::to_string),
            ..TrackQuery::default()
        };
        let verdict = |q: TrackQuery| idx.match_track(&q).verdict;
        assert_eq!(verdict(q(&["spotify:track:B"], Some(250_000), Some("Losing It"))), Verdict::None);
        assert_eq!(verdict(q(&["spotify:track:B"], None, None)), Verdict::None);
        assert_eq!(verdict(q(&["spotify:track:A"], None, None)), Verdict::Match, "the same id");
        // Another kind of id on the query side only: names may link, with the album.
        assert_eq!(verdict(q(&["djay:1"], None, Some("LOSING IT"))), Verdict::Match);
        assert_eq!(verdict(q(&[], None, Some("Losing It"))), Verdict::Match);
        assert_eq!(verdict(q(&[], None, None)), Verdict::Ambiguous, "no duration, no album: never certain");
        assert_eq!(verdict(q(&[], None, Some("Live at Brixton"))), Verdict::None, "another album");
        // `Pt.`, `Pt` and `Part` are one word in titles.
        let pt = MatchIndex::build(vec![entry("p", "Adagio Pt. 2", "Fisher", None, &[])]);
        let part = TrackQuery { title: "Adagio Part 2".into(), ..q(&[], Some(463_000), None) };
        assert_eq!(pt.match_track(&part).verdict, Verdict::Match);
    }
}
