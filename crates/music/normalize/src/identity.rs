//! When two track records may be one track: the rule every importer (the spotify and djay
//! plugins, `baton catalog import-playlist`) and the catalog's matcher apply, written once here
//! so none of them guesses differently.
//!
//! - A streaming or library id is identity. Ids are grouped by kind ([`id_kind`]: a Spotify
//!   track URI, an Apple Music or iTunes id, a djay id, a Rekordbox TrackID *within one source
//!   file*, …), and the ISRC is a kind of its own. Two records that share an id are one track
//!   (the matcher's id rungs). Two records that both carry ids of one kind and share none of
//!   them are two tracks, whatever their names say: a studio and a live take, a single and its
//!   album track under two URIs with one title.
//! - Names (title, artists, album, duration) link only records where at most one side has an id
//!   of each kind. Without a duration on both sides names are not enough: the album must be
//!   known on both sides and the same; when it is unknown on either side the pair is
//!   [`NameLink::Uncertain`], which the matcher reports as `ambiguous`, never as a match.
//! - That rule is for *merging* two records. A *lookup* by title and artist (`playlists-for-track`,
//!   `baton catalog match`) with no duration answers the track when exactly one candidate has
//!   the query's names ([`same_names`]: the matcher's normalised title, and artists that agree);
//!   with several, it lists them and answers none.
use std::collections::BTreeSet;

/// Whether two (title, artists) pairs name one track as the matcher's name rung reads names:
/// the same normalised title core and version, and artists that agree (the same set, or every
/// artist of one side among the other's: "Bob Band" for a track by Bob Band and Cee Crew;
/// featured artists of the title counted as artists).
pub fn same_names(a_title: &str, a_artists: &[String], b_title: &str, b_artists: &[String]) -> bool {
    let names = |title: &str, artists: &[String]| {
        let t = crate::title(title);
        let mut a = crate::artists(artists.iter().map(String::as_str));
        a.extend(t.featured.iter().cloned());
        (t.core, t.version, a)
    };
    let (a, b) = (names(a_title, a_artists), names(b_title, b_artists));
    !a.0.is_empty()
        && (a.0, a.1) == (b.0, b.1)
        && !a.2.is_empty()
        && !b.2.is_empty()
        && (a.2.is_subset(&b.2) || b.2.is_subset(&a.2))
}

/// The kind of an external id: the namespace it is unique in, or None for what is no identity
/// (a `file://` path, a URL, `spotify:local:` URIs, which are made of the names, and
/// `spotify:name:` keys). `spotify:track:ID` → `spotify:track`; `rekordbox:<source>:<id>` →
/// `rekordbox:<source>` (each Rekordbox file numbers its own tracks); `djay:<id>` → `djay`;
/// `com.apple.iTunes:<id>` → `com.apple.iTunes`; in general what comes before the last `:`.
pub fn id_kind(id: &str) -> Option<&str> {
    let id = id.trim();
    if id.contains("://") || id.starts_with("spotify:local:") || id.starts_with("spotify:name:") {
        return None;
    }
    let (kind, rest) = id.rsplit_once(':')?;
    if kind.is_empty() || rest.is_empty() {
        return None;
    }
    // SoundCloud ids are written `soundcloud:tracks:N` (djay) and `soundcloud:track:N`: one kind.
    Some(if kind == "soundcloud:tracks" { "soundcloud:track" } else { kind })
}

/// What one side of a comparison knows that is identity: its external ids and its ISRC
/// (normalised, see [`crate::isrc`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Ids<'a> {
    pub external_ids: &'a [String],
    pub isrc: Option<&'a str>,
}

/// The kind under which two records carry ids and share none of them (so they are two tracks),
/// or None when no kind says so. The ISRC is kind `isrc`.
pub fn distinct_by(a: Ids, b: Ids) -> Option<String> {
    if let (Some(x), Some(y)) = (a.isrc.and_then(crate::isrc), b.isrc.and_then(crate::isrc))
        && x != y
    {
        return Some("isrc".into());
    }
    let by_kind = |ids: &[String]| {
        let mut m: std::collections::BTreeMap<String, BTreeSet<String>> = Default::default();
        for id in ids {
            if let Some(k) = id_kind(id) {
                m.entry(k.to_string()).or_default().insert(canonical(id));
            }
        }
        m
    };
    let (ka, kb) = (by_kind(a.external_ids), by_kind(b.external_ids));
    ka.iter().find(|(k, xs)| kb.get(*k).is_some_and(|ys| xs.is_disjoint(ys))).map(|(k, _)| k.clone())
}

/// An id as compared: the two SoundCloud spellings are one.
fn canonical(id: &str) -> String {
    let id = id.trim();
    match id.strip_prefix("soundcloud:tracks:") {
        Some(n) => format!("soundcloud:track:{n}"),
        None => id.to_string(),
    }
}

/// What names may say about two records whose ids do not tell them apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameLink {
    /// Names may link them (the matcher still compares the names themselves).
    May,
    /// They are two tracks: the reason.
    Never(String),
    /// Names alone cannot say (no duration, and the album unknown on a side): ambiguous.
    Uncertain(String),
}

/// One side of a name comparison.
#[derive(Debug, Clone, Copy, Default)]
pub struct Side<'a> {
    pub ids: Ids<'a>,
    pub duration_ms: Option<i64>,
    pub album: Option<&'a str>,
}

/// The rule: ids first ([`distinct_by`]), then, when a duration is missing on either side, the
/// album (folded) must be known on both and the same.
pub fn name_link(a: Side, b: Side) -> NameLink {
    if let Some(kind) = distinct_by(a.ids, b.ids) {
        return NameLink::Never(format!("different {kind} ids"));
    }
    if a.duration_ms.is_some() && b.duration_ms.is_some() {
        return NameLink::May;
    }
    let fold = |s: Option<&str>| s.map(crate::fold).filter(|s| !s.is_empty());
    match (fold(a.album), fold(b.album)) {
        (Some(x), Some(y)) if x == y => NameLink::May,
        (Some(x), Some(y)) => NameLink::Never(format!("no duration, and the albums differ (\"{x}\", \"{y}\")")),
        _ => {
            NameLink::Uncertain("no duration to compare and no album on both sides: names alone are not certain".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn kinds() {
        assert_eq!(id_kind("spotify:track:7oYTWS0BEJcddgKZBkiSJq"), Some("spotify:track"));
        assert_eq!(id_kind("rekordbox:a/b.xml:101"), Some("rekordbox:a/b.xml"));
        assert_eq!(id_kind("rekordbox:101"), Some("rekordbox"));
        assert_eq!(id_kind("djay:0123"), Some("djay"));
        assert_eq!(id_kind("com.apple.iTunes:8986230555104447322"), Some("com.apple.iTunes"));
        assert_eq!(id_kind("soundcloud:tracks:12"), id_kind("soundcloud:track:13"));
        assert_eq!(id_kind("spotify:local:A:B:C:200"), None);
        assert_eq!(id_kind("file:///m/a.mp3"), None);
        assert_eq!(id_kind("https://open.spotify.com/track/x"), None);
        assert_eq!(id_kind("plain"), None);
    }

    #[test]
    fn different_ids_of_one_kind_are_two_tracks() {
        let (a, b, c) = (ids(&["spotify:track:A"]), ids(&["spotify:track:B", "djay:1"]), ids(&["djay:1"]));
        fn side(ids: &[String]) -> Ids<'_> {
            Ids { external_ids: ids, isrc: None }
        }
        assert_eq!(distinct_by(side(&a), side(&b)).as_deref(), Some("spotify:track"));
        assert_eq!(distinct_by(side(&a), side(&c)), None, "only one side has a Spotify id");
        assert_eq!(distinct_by(side(&b), side(&c)), None, "they share the djay id");
        let two_sources = (ids(&["rekordbox:x.xml:1"]), ids(&["rekordbox:y.xml:1"]));
        assert_eq!(distinct_by(side(&two_sources.0), side(&two_sources.1)), None, "two sources number apart");
        let i = |isrc| Ids { external_ids: &[], isrc: Some(isrc) };
        assert_eq!(distinct_by(i("GB-SMU-14-29088"), i("GBSMU1429088")), None);
        assert_eq!(distinct_by(i("GBSMU1429089"), i("GBSMU1429088")).as_deref(), Some("isrc"));
    }

    #[test]
    fn without_a_duration_names_need_the_album() {
        let s = |d: Option<i64>, album: Option<&'static str>| Side { ids: Ids::default(), duration_ms: d, album };
        assert_eq!(name_link(s(Some(1), None), s(Some(2), None)), NameLink::May);
        assert_eq!(name_link(s(None, Some("Rumours")), s(Some(2), Some("RUMOURS"))), NameLink::May);
        assert!(matches!(name_link(s(None, Some("Rumours")), s(None, Some("Tusk"))), NameLink::Never(_)));
        assert!(matches!(name_link(s(None, None), s(None, Some("Tusk"))), NameLink::Uncertain(_)));
        let (a, b) = (ids(&["spotify:track:A"]), ids(&["spotify:track:B"]));
        fn with(ids: &[String]) -> Side<'_> {
            Side { ids: Ids { external_ids: ids, isrc: None }, duration_ms: Some(1), album: None }
        }
        assert!(matches!(name_link(with(&a), with(&b)), NameLink::Never(_)));
    }

    #[test]
    fn same_names_are_the_matchers_normalised_names() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(same_names("Twin", &v(&["Twins"]), "TWIN ", &v(&["twins"])));
        assert!(same_names("Song (feat. B)", &v(&["A"]), "Song", &v(&["A", "B"])));
        assert!(!same_names("Song (Live)", &v(&["A"]), "Song", &v(&["A"])), "another version");
        assert!(same_names("Song", &v(&["A"]), "Song", &v(&["A", "C"])), "one side's artists among the other's");
        assert!(!same_names("Song", &v(&["A", "B"]), "Song", &v(&["A", "C"])), "artists that only partly agree");
        assert!(!same_names("Song", &v(&["B"]), "Song", &v(&["A"])));
        assert!(!same_names("", &v(&["A"]), "", &v(&["A"])), "no title is no name");
    }
}
