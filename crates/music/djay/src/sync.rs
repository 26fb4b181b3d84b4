//! The id-sync ladder's decisions and the result shapes of `id-sync`, `sessions` and
//! `activity`, kept apart from WIT so they test natively.
//!
//! The ladder itself (external id, ISRC, normalised, fuzzy, fingerprint) is the catalog's
//! matcher; what is decided here is what to do with its outcome: a link made by hand is never
//! touched, a match links with the method the matcher names, two close candidates are
//! reported and never guessed between, and nothing else links.
use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{Value as Json, json};

use crate::library::Track;

/// Lists in results hold at most this many entries; `{"page": N}` reads the rest.
pub const PAGE: usize = 500;
/// The catalog's methods, in ladder order (manual links are counted apart).
pub const METHODS: [&str; 5] = ["external_id", "isrc", "normalized", "fuzzy", "fingerprint"];

/// A candidate as the catalog's matcher reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub key: String,
    pub title: String,
    pub artists: Vec<String>,
    pub duration_ms: Option<u64>,
    pub score: f64,
    pub method: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Match,
    Ambiguous,
    None,
}

/// What a djay track asks the matcher: external ids (streaming URIs and `djay:<titleID>`),
/// ISRC, title/artist/duration, and the guest path of its local file when it lies in a grant.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub title: String,
    pub artists: Vec<String>,
    pub duration_ms: Option<u64>,
    pub isrc: Option<String>,
    pub external_ids: Vec<String>,
    pub path: Option<String>,
}

/// The query for one djay track; `guest_file` is its first local file mapped into a grant.
pub fn query_for(t: &Track, guest_file: Option<String>) -> Query {
    let mut ids: Vec<String> = Vec::new();
    for s in t.streams.iter().filter(|s| s.contains(':')) {
        for id in stream_ids(s) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    if !t.key.contains(':') {
        ids.push(format!("djay:{}", t.key));
    }
    Query {
        title: t.title.clone(),
        artists: if t.artist.trim().is_empty() { Vec::new() } else { vec![t.artist.clone()] },
        duration_ms: t.duration_ms.and_then(|d| u64::try_from(d).ok()),
        isrc: t.isrc.clone(),
        external_ids: ids,
        path: guest_file,
    }
}

/// The spellings under which a streaming id may sit in the catalog's `external_ids`: as djay
/// stores it, and in the canonical URI form (`spotify:track:<id>` for an open.spotify.com link
/// or a URI with a query; SoundCloud both as djay's plural `tracks` and the singular `track`).
pub fn stream_ids(uri: &str) -> Vec<String> {
    let uri = uri.trim();
    let mut out = vec![uri.to_string()];
    let spotify = uri
        .strip_prefix("https://open.spotify.com/track/")
        .or_else(|| uri.strip_prefix("http://open.spotify.com/track/"))
        .or_else(|| uri.strip_prefix("spotify:track:"));
    if let Some(rest) = spotify {
        let id: String = rest.chars().take_while(char::is_ascii_alphanumeric).collect();
        if !id.is_empty() {
            out.push(format!("spotify:track:{id}"));
        }
    }
    if let Some(id) = uri.strip_prefix("soundcloud:tracks:") {
        out.push(format!("soundcloud:track:{id}"));
    } else if let Some(id) = uri.strip_prefix("soundcloud:track:") {
        out.push(format!("soundcloud:tracks:{id}"));
    }
    out.dedup();
    out
}

/// The link a djay track already has, if any.
#[derive(Debug, Clone, PartialEq)]
pub enum Existing {
    None,
    /// Made by hand (`baton catalog link`): never overwritten.
    Manual(String),
    /// Made by a plugin (an earlier id-sync).
    Plugin(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// A link made by hand stays as it is.
    Manual(String),
    Link {
        key: String,
        method: String,
        score: f64,
    },
    Ambiguous(Vec<Candidate>),
    Unmatched(String),
}

/// What to do with one track, given its link and the matcher's outcome.
pub fn decide(q: &Query, existing: &Existing, verdict: Verdict, candidates: &[Candidate]) -> Decision {
    if let Existing::Manual(k) = existing {
        return Decision::Manual(k.clone());
    }
    // The ladder's order: a track that carries a streaming id links by that id first, whatever
    // a later rung scored. Several tracks holding the id are reported, never guessed between.
    if !q.external_ids.is_empty() {
        let by_id: Vec<&Candidate> = candidates.iter().filter(|c| c.method == "external_id").collect();
        match by_id.as_slice() {
            [one] => return Decision::Link { key: one.key.clone(), method: one.method.clone(), score: one.score },
            [] => {}
            many => {
                let mut keys: Vec<&str> = many.iter().map(|c| c.key.as_str()).collect();
                keys.sort_unstable();
                keys.dedup();
                if let [k] = keys.as_slice() {
                    return Decision::Link { key: k.to_string(), method: "external_id".into(), score: many[0].score };
                }
                return Decision::Ambiguous(many.iter().map(|c| (*c).clone()).collect());
            }
        }
    }
    match (verdict, candidates.first()) {
        (Verdict::Match, Some(top)) => {
            Decision::Link { key: top.key.clone(), method: top.method.clone(), score: top.score }
        }
        (Verdict::Ambiguous, _) => {
            let best = candidates.first().map(|c| c.score).unwrap_or(0.0);
            Decision::Ambiguous(candidates.iter().filter(|c| best - c.score < 0.05 + 1e-9).cloned().collect())
        }
        (_, Some(top)) => Decision::Unmatched(format!(
            "best candidate {} ({} \u{2013} {}) scored {:.2} by {}, below the catalog's threshold",
            top.key,
            top.artists.join(", "),
            top.title,
            top.score,
            top.method
        )),
        (_, None) => {
            let mut tried = Vec::new();
            if !q.external_ids.is_empty() {
                tried.push("external ids");
            }
            if q.isrc.is_some() {
                tried.push("ISRC");
            }
            if !q.title.trim().is_empty() {
                tried.push("title and artist");
            }
            if q.path.is_some() {
                tried.push("library fingerprint");
            }
            let mut reason = if tried.is_empty() {
                "nothing to match on (no title, ids, ISRC or local file)".to_string()
            } else {
                format!("no catalog track matches by {}", tried.join(", "))
            };
            if q.path.is_none() {
                reason.push_str("; no local file inside a granted music folder");
            }
            Decision::Unmatched(reason)
        }
    }
}

/// One page of a list: the entries and whether more follow.
pub fn page_of<T: Clone>(list: &[T], page: usize) -> (Vec<T>, bool) {
    let start = page.saturating_mul(PAGE).min(list.len());
    let end = (start + PAGE).min(list.len());
    (list[start..end].to_vec(), end < list.len())
}

fn candidate_json(c: &Candidate) -> Json {
    json!({"key": c.key, "title": c.title, "artists": c.artists, "duration_ms": c.duration_ms, "score": c.score, "method": c.method})
}

/// `id-sync`'s tally.
#[derive(Debug, Default)]
pub struct IdSync {
    pub total: u64,
    pub linked: BTreeMap<String, u64>,
    pub manual: u64,
    pub ambiguous: Vec<Json>,
    pub unmatched: Vec<Json>,
    /// djay track key → (catalog key, method), for the links to write.
    pub links: Vec<(String, String, String)>,
}

impl IdSync {
    pub fn add(&mut self, djay: &Json, decision: &Decision) {
        self.total += 1;
        match decision {
            Decision::Manual(_) => self.manual += 1,
            Decision::Link { key, method, .. } => {
                *self.linked.entry(method.clone()).or_default() += 1;
                if let Some(k) = djay["key"].as_str() {
                    self.links.push((k.to_string(), key.clone(), method.clone()));
                }
            }
            Decision::Ambiguous(c) => self
                .ambiguous
                .push(json!({"djay": djay, "candidates": c.iter().map(candidate_json).collect::<Vec<_>>()})),
            Decision::Unmatched(reason) => self.unmatched.push(json!({"djay": djay, "reason": reason})),
        }
    }

    /// Linked (by any rule, or by hand) over total.
    pub fn coverage(&self) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        let n: u64 = self.linked.values().sum::<u64>() + self.manual;
        (n as f64 / self.total as f64 * 10_000.0).round() / 10_000.0
    }

    /// The result: `{"total", "linked": {external_id, isrc, normalized, fuzzy, fingerprint},
    /// "ambiguous", "unmatched", "coverage"}` plus `manual`, `execute`, `page`, `truncated`.
    pub fn to_json(&self, page: usize, execute: bool) -> Json {
        let mut linked = serde_json::Map::new();
        for m in METHODS {
            linked.insert(m.into(), json!(self.linked.get(m).copied().unwrap_or(0)));
        }
        let (amb, t1) = page_of(&self.ambiguous, page);
        let (unm, t2) = page_of(&self.unmatched, page);
        json!({
            "total": self.total,
            "linked": linked,
            "manual": self.manual,
            "ambiguous": amb,
            "unmatched": unm,
            "ambiguous_total": self.ambiguous.len(),
            "unmatched_total": self.unmatched.len(),
            "coverage": self.coverage(),
            "execute": execute,
            "page": page,
            "truncated": t1 || t2,
        })
    }
}

/// One play as `sessions` and `activity` see it.
#[derive(Debug, Clone, PartialEq)]
pub struct PlayRow {
    pub key: String,
    pub session: String,
    pub position: i64,
    pub title: String,
    pub artist: String,
    /// Unix ms.
    pub start: Option<i64>,
    pub title_id: Option<String>,
}

/// Per catalog track: djay's own play count (summed over the djay tracks linked to it), the
/// number of session plays, the last play and the sessions it was played in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Activity {
    pub play_count: i64,
    pub session_plays: u64,
    pub last_played: Option<i64>,
    pub sessions: BTreeSet<String>,
}

/// Aggregates plays (only those at or after `since`, Unix ms) and djay play counts per catalog
/// track. `link` maps a djay track key to its catalog track.
pub fn activity(
    plays: &[PlayRow],
    play_counts: &HashMap<String, i64>,
    link: &HashMap<String, String>,
    since: Option<i64>,
) -> BTreeMap<String, Activity> {
    let mut out: BTreeMap<String, Activity> = BTreeMap::new();
    for (djay, n) in play_counts {
        if let Some(k) = link.get(djay) {
            out.entry(k.clone()).or_default().play_count += n;
        }
    }
    for p in plays {
        let Some(k) = p.title_id.as_ref().and_then(|t| link.get(t)) else { continue };
        if since.is_some_and(|s| p.start.is_none_or(|t| t < s)) {
            continue;
        }
        let a = out.entry(k.clone()).or_default();
        a.session_plays += 1;
        a.sessions.insert(p.session.clone());
        if p.start > a.last_played {
            a.last_played = p.start;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(key: &str, score: f64, method: &str) -> Candidate {
        Candidate {
            key: key.into(),
            title: "T".into(),
            artists: vec!["A".into()],
            duration_ms: Some(1000),
            score,
            method: method.into(),
        }
    }

    fn q() -> Query {
        query_for(
            &Track {
                key: "0123456789abcdef0123456789abcdef".into(),
                title: "T".into(),
                artist: "A".into(),
                ..Track::default()
            },
            None,
        )
    }

    #[test]
    fn a_manual_link_is_never_replaced() {
        let d = decide(&q(), &Existing::Manual("t9".into()), Verdict::Match, &[cand("t1", 1.0, "external_id")]);
        assert_eq!(d, Decision::Manual("t9".into()));
    }

    #[test]
    fn matches_link_with_the_matchers_method_and_never_guess() {
        let d = decide(&q(), &Existing::Plugin("old".into()), Verdict::Match, &[cand("t1", 0.97, "normalized")]);
        assert_eq!(d, Decision::Link { key: "t1".into(), method: "normalized".into(), score: 0.97 });
        let d = decide(
            &q(),
            &Existing::None,
            Verdict::Ambiguous,
            &[cand("t1", 0.97, "normalized"), cand("t2", 0.95, "normalized"), cand("t3", 0.5, "fuzzy")],
        );
        let Decision::Ambiguous(c) = d else { panic!("{d:?}") };
        assert_eq!(c.iter().map(|c| c.key.as_str()).collect::<Vec<_>>(), ["t1", "t2"]);
        let d = decide(&q(), &Existing::None, Verdict::None, &[cand("t1", 0.6, "fuzzy")]);
        assert!(matches!(&d, Decision::Unmatched(r) if r.contains("t1") && r.contains("0.60")), "{d:?}");
        let d = decide(&q(), &Existing::None, Verdict::None, &[]);
        assert!(
            matches!(&d, Decision::Unmatched(r) if r.contains("title and artist") && r.contains("music folder")),
            "{d:?}"
        );
    }

    #[test]
    fn a_streaming_id_links_first_whatever_scored_higher() {
        let q = query_for(
            &Track {
                key: "k".into(),
                title: "T".into(),
                streams: vec!["https://open.spotify.com/track/5UqCQaDshqbIk3pkhy4Pjg?si=x".into()],
                ..Track::default()
            },
            None,
        );
        assert_eq!(q.external_ids[1], "spotify:track:5UqCQaDshqbIk3pkhy4Pjg");
        let d =
            decide(&q, &Existing::None, Verdict::Match, &[cand("t1", 0.99, "isrc"), cand("t2", 1.0, "external_id")]);
        assert_eq!(d, Decision::Link { key: "t2".into(), method: "external_id".into(), score: 1.0 });
        let d = decide(
            &q,
            &Existing::None,
            Verdict::Ambiguous,
            &[cand("t2", 1.0, "external_id"), cand("t3", 1.0, "external_id")],
        );
        assert!(matches!(&d, Decision::Ambiguous(c) if c.len() == 2), "{d:?}");
        assert_eq!(stream_ids("soundcloud:tracks:1"), ["soundcloud:tracks:1", "soundcloud:track:1"]);
    }

    #[test]
    fn the_query_carries_ids_isrc_and_the_file() {
        let t = Track {
            key: "0123456789abcdef0123456789abcdef".into(),
            title: "Levels".into(),
            artist: "Avicii".into(),
            duration_ms: Some(199_000),
            isrc: Some("SE-AT1-11-00001".into()),
            streams: vec!["spotify:track:5UqCQaDshqbIk3pkhy4Pjg".into()],
            ..Track::default()
        };
        let q = query_for(&t, Some("/music/a.flac".into()));
        assert_eq!(q.external_ids, ["spotify:track:5UqCQaDshqbIk3pkhy4Pjg", "djay:0123456789abcdef0123456789abcdef"]);
        assert_eq!(q.duration_ms, Some(199_000));
        assert_eq!(q.path.as_deref(), Some("/music/a.flac"));
    }

    #[test]
    fn tally_pages_and_coverage() {
        let mut s = IdSync::default();
        for i in 0..1200 {
            let d = if i % 2 == 0 {
                Decision::Link { key: format!("t{i}"), method: "isrc".into(), score: 0.99 }
            } else {
                Decision::Unmatched("no".into())
            };
            s.add(&json!({"key": format!("d{i}")}), &d);
        }
        s.add(&json!({"key": "m"}), &Decision::Manual("t".into()));
        let j = s.to_json(0, false);
        assert_eq!(j["total"], 1201);
        assert_eq!(j["linked"]["isrc"], 600);
        assert_eq!(j["linked"]["fingerprint"], 0);
        assert_eq!(j["unmatched"].as_array().unwrap().len(), 500);
        assert_eq!(j["truncated"], true);
        assert_eq!(j["coverage"], 0.5004);
        let j = s.to_json(1, false);
        assert_eq!(j["unmatched"].as_array().unwrap().len(), 100);
        assert_eq!(j["truncated"], false);
        assert_eq!(s.links.len(), 600);
    }

    #[test]
    fn activity_counts_plays_per_catalog_track() {
        let p = |key: &str, s: &str, t: i64, tid: &str| PlayRow {
            key: key.into(),
            session: s.into(),
            position: 0,
            title: String::new(),
            artist: String::new(),
            start: Some(t),
            title_id: Some(tid.into()),
        };
        let plays = vec![p("1", "s1", 10, "a"), p("2", "s1", 20, "b"), p("3", "s2", 30, "a"), p("4", "s2", 40, "x")];
        let link: HashMap<String, String> = [("a".into(), "T".into()), ("b".into(), "T".into())].into();
        let counts: HashMap<String, i64> = [("a".into(), 5), ("b".into(), 2), ("x".into(), 9)].into();
        let all = activity(&plays, &counts, &link, None);
        assert_eq!(all.len(), 1);
        let t = &all["T"];
        assert_eq!((t.play_count, t.session_plays, t.last_played, t.sessions.len()), (7, 3, Some(30), 2));
        let recent = activity(&plays, &counts, &link, Some(25));
        assert_eq!((recent["T"].session_plays, recent["T"].sessions.len()), (1, 1));
    }
}
