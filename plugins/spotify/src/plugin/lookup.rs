//! `playlists-for-track`: a track found by URI, ISRC, names or path, and the playlists that
//! hold it.
use super::*;

pub(super) fn playlists_for_track(p: params::Track) -> Result<Value, Fail> {
    let page = p.page;
    // Paged whichever way it ends: the candidates of an ambiguous match too.
    let mut out = track_answer(&p)?;
    logic::paginate(&mut out, page);
    Ok(out)
}

/// How link-local matched the file `path` (a track's file moved by `apply` keeps its track's),
/// as `{"method", "score", "via": "link-local"}`.
pub(super) fn link_match(path: &str, key: &str) -> Option<Value> {
    let mut m: Value = host::kv_get(&format!("linkmatch:{path}"))
        .or_else(|| host::kv_get(&format!("linkmatch:{key}")))
        .and_then(|s| serde_json::from_str(&s).ok())?;
    m["via"] = json!("link-local");
    Some(m)
}

pub(super) fn remember_match(path: &str, key: &str, c: &Candidate) {
    let m = json!({"method": method_name(c.method), "score": c.score}).to_string();
    for k in [format!("linkmatch:{path}"), format!("linkmatch:{key}")] {
        kv_set_changed(&k, &m);
    }
}

pub(super) fn track_answer(p: &params::Track) -> Result<Value, Fail> {
    let none = |candidates: Vec<Value>| json!({"track": null, "match": null, "candidates": candidates, "playlists": [], "liked": false});
    // A record read while resolving is not read again.
    let mut found: Option<Value> = None;
    let (key, m) = if let Some(uri) = p.uri.as_deref() {
        match get("tracks", uri)? {
            Some(rec) => {
                found = Some(rec);
                (uri.to_string(), json!({"method": "external_id", "score": 1.0}))
            }
            None => match resolve(by_external_id(uri))? {
                Ok(x) => x,
                Err(c) => return Ok(none(c)),
            },
        }
    } else if let Some(isrc) = p.isrc.as_deref() {
        match resolve(TrackQuery { isrc: Some(isrc.into()), ..by_names(String::new(), vec![]) })? {
            Ok(x) => x,
            Err(c) => return Ok(none(c)),
        }
    } else if let Some(title) = p.title.as_deref() {
        let artist = p
            .artist
            .as_deref()
            .ok_or_else(|| invalid("`title` needs `artist` too: {\"title\", \"artist\", \"duration_ms\"?}"))?;
        let duration_ms = p.duration_ms;
        let q = TrackQuery { duration_ms, ..by_names(title.into(), vec![artist.into()]) };
        let found = if duration_ms.is_none() { resolve_lookup(q)? } else { resolve(q)? };
        match found {
            Ok(x) => x,
            Err(c) => return Ok(none(c)),
        }
    } else if let Some(path) = p.path.as_deref() {
        // A file link-local linked: its track, matched as it was then. Otherwise (or for a
        // link stored before the method was), through the file's tags.
        let linked = host::kv_get(&format!("file:{path}")).and_then(|k| link_match(path, &k).map(|m| (k, m)));
        match linked {
            Some(x) => x,
            None => {
                let t = fingerprint::read_tags(path)
                    .map_err(|e| invalid(format!("reading the tags of `{path}`: {e:?}")))?;
                let title = t.tags.title.clone().unwrap_or_else(|| file_title(path).1);
                let artists: Vec<String> = t.tags.artist.clone().or_else(|| file_title(path).0).into_iter().collect();
                let q = TrackQuery {
                    duration_ms: t.info.duration.map(|d| (d * 1000.0).round() as u64),
                    isrc: t.tags.isrc.clone(),
                    path: Some(path.into()),
                    ..by_names(title, artists)
                };
                match resolve(q)? {
                    Ok(x) => x,
                    Err(c) => return Ok(none(c)),
                }
            }
        }
    } else {
        return Err(invalid(
            "give one of {\"uri\"}, {\"isrc\"}, {\"title\", \"artist\", \"duration_ms\"?} or {\"path\"}",
        ));
    };
    let rec = match found {
        Some(rec) => rec,
        None => match get("tracks", &key)? {
            Some(rec) => rec,
            None => return Ok(none(vec![])),
        },
    };
    let mut names = HashMap::new();
    let ms = memberships(&key, &mut names)?;
    let liked = ms.iter().any(|m| m.name == LIKED);
    let playlists: Vec<Value> =
        ms.iter().filter(|m| m.name != LIKED).map(|m| json!({"name": m.name, "added_at": m.added_at})).collect();
    Ok(json!({"track": track_json(&rec), "match": m, "candidates": [], "playlists": playlists, "liked": liked}))
}

/// `Ok((key, {method, score}))` on a match, `Err(candidates)` when ambiguous or none.
/// A catalog query by title and artists only; the other fields are set with struct update
/// syntax where they are known (`TrackQuery { isrc, ..by_names(..) }`).
pub(super) fn by_names(title: String, artists: Vec<String>) -> TrackQuery {
    TrackQuery { title, artists, duration_ms: None, isrc: None, external_ids: vec![], path: None }
}

/// A catalog query for the track an external id (a Spotify URI) names, and nothing else.
pub(super) fn by_external_id(uri: &str) -> TrackQuery {
    TrackQuery { external_ids: vec![uri.into()], ..by_names(String::new(), vec![]) }
}

pub(super) fn resolve(q: TrackQuery) -> Result<Result<(String, Value), Vec<Value>>, Fail> {
    let out: MatchOutcome = catalog::match_track(&q).map_err(|e| cat_err("matching the track", e))?;
    Ok(match (out.verdict, out.candidates.first()) {
        (Verdict::Match, Some(c)) => Ok((c.key.clone(), json!({"method": method_name(c.method), "score": c.score}))),
        (Verdict::Ambiguous, _) => Err(out.candidates.iter().map(candidate_json).collect()),
        _ => Err(vec![]),
    })
}

/// A lookup by title and artist with no duration. The matcher never links such names for
/// certain (the identity rule is for merging two records), so the lookup's own rule follows:
/// exactly one candidate with the query's names (the matcher's normalised title and artists,
/// [`baton_normalize::identity::same_names`]) is the answer, `{"method": "title+artist",
/// "score"}`; several are listed as candidates and answer none.
pub(super) fn resolve_lookup(q: TrackQuery) -> Result<Result<(String, Value), Vec<Value>>, Fail> {
    let out: MatchOutcome = catalog::match_track(&q).map_err(|e| cat_err("matching the track", e))?;
    if let (Verdict::Match, Some(c)) = (out.verdict, out.candidates.first()) {
        return Ok(Ok((c.key.clone(), json!({"method": method_name(c.method), "score": c.score}))));
    }
    let same: Vec<&Candidate> = out
        .candidates
        .iter()
        .filter(|c| baton_normalize::identity::same_names(&q.title, &q.artists, &c.title, &c.artists))
        .collect();
    Ok(match same.as_slice() {
        [one] => Ok((one.key.clone(), json!({"method": "title+artist", "score": one.score}))),
        _ if matches!(out.verdict, Verdict::Ambiguous) => Err(out.candidates.iter().map(candidate_json).collect()),
        _ => Err(vec![]),
    })
}

/// `(artist, title)` from a file name `Artist - Title.ext`.
pub(super) fn file_title(path: &str) -> (Option<String>, String) {
    let name = path.rsplit('/').next().unwrap_or(path);
    let stem = name.rsplit_once('.').map(|(s, _)| s).unwrap_or(name);
    match stem.split_once(" - ") {
        Some((a, t)) => (Some(a.trim().to_string()), t.trim().to_string()),
        None => (None, stem.trim().to_string()),
    }
}
