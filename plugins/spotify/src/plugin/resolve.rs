//! `import`, matching: the catalog record each track of the exports becomes (by URI, ISRC,
//! else the host's matcher), and the records of tracks known by their names only.
use super::*;

/// What is known of the catalog's tracks before an import: keys by external id and by ISRC.
pub(super) struct Index {
    pub(super) by_id: HashMap<String, String>,
    pub(super) by_isrc: HashMap<String, String>,
    pub(super) props: HashMap<String, Map<String, Value>>,
}

pub(super) fn index_tracks() -> Result<Index, Fail> {
    let mut ix = Index { by_id: HashMap::new(), by_isrc: HashMap::new(), props: HashMap::new() };
    for rec in query_all("tracks", "")? {
        let Some(key) = rec.get("key").and_then(Value::as_str).map(str::to_string) else {
            continue;
        };
        let p = props(&rec).clone();
        for id in strings(p.get("external_ids")) {
            ix.by_id.entry(id).or_insert_with(|| key.clone());
        }
        if let Some(i) = p.get("isrc").and_then(Value::as_str) {
            ix.by_isrc.entry(i.to_string()).or_insert_with(|| key.clone());
        }
        ix.props.insert(key, p);
    }
    Ok(ix)
}

pub(super) fn artist_key(name: &str, uri: Option<&String>) -> String {
    match uri {
        Some(u) => u.clone(),
        None => format!("artist:{}", name.to_lowercase()),
    }
}

/// The tracks `held` (indexes into `tracks`) as one: the one whose URI is `key` (else the
/// first) takes in the others, in order.
pub(super) fn merged<'a>(key: &str, held: &[usize], tracks: &'a [TrackInfo]) -> std::borrow::Cow<'a, TrackInfo> {
    if let [one] = held {
        return std::borrow::Cow::Borrowed(&tracks[*one]);
    }
    let base = held.iter().copied().find(|&i| tracks[i].uris.iter().any(|u| u == key)).unwrap_or(held[0]);
    let mut t = tracks[base].clone();
    for &i in held.iter().filter(|&&i| i != base) {
        logic::absorb(&mut t, &tracks[i]);
    }
    std::borrow::Cow::Owned(t)
}

pub(super) fn artist_refs(t: &TrackInfo, artist_uri: &HashMap<String, String>) -> Vec<String> {
    t.artists.iter().map(|n| artist_key(n, artist_uri.get(n))).collect()
}

/// The record key of each track (parallel to `tracks`): the catalog's record that holds one
/// of its URIs, else its ISRC (exact lookups in what the catalog held before); else the
/// catalog's matcher; else its own record under its first URI. Local files (no Spotify id)
/// are never matched.
///
/// The matcher is a host call, so it is asked only where it could answer: every track when
/// the catalog held tracks before this import, and otherwise only a track that
/// [`logic::likely_same`] pairs with an earlier one of this import. A track is asked once every
/// earlier track it pairs with has its record, and those records are written first (round by
/// round), so the matcher sees them; its answer is taken when it names one of those records or
/// one that existed before. (The matcher itself never takes two known, different ISRCs for one
/// recording.) Returns the keys, the ambiguous matches, and what those early writes changed.
pub(super) fn resolve_tracks(
    tracks: &[TrackInfo],
    ix: &Index,
    artist_uri: &HashMap<String, String>,
) -> Result<(Vec<String>, Vec<Value>, u64), Fail> {
    let mut keys: Vec<Option<String>> = tracks
        .iter()
        .map(|t| {
            t.uris
                .iter()
                .find_map(|u| ix.by_id.get(u))
                .or_else(|| t.isrc.as_ref().and_then(|i| ix.by_isrc.get(i)))
                .cloned()
        })
        .collect();
    let mut pending = Vec::new();
    for (i, t) in tracks.iter().enumerate() {
        if keys[i].is_none() {
            if t.uri.starts_with("spotify:local:") {
                keys[i] = Some(t.uri.clone());
            } else {
                pending.push(i);
            }
        }
    }
    let before = !ix.props.is_empty();
    let earlier = logic::likely_same(tracks, &pending);
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        Open,
        Own,
        Merged,
    }
    let mut state = vec![State::Open; pending.len()];
    let mut written = vec![false; pending.len()];
    let (mut ambiguous, mut changed, mut asked, mut rounds, mut refused, mut early) =
        (Vec::new(), 0u64, 0u64, 0u64, 0u64, 0usize);
    let to_ask = if before { pending.len() } else { earlier.iter().filter(|e| !e.is_empty()).count() } as u64;
    loop {
        let ready: Vec<usize> = (0..pending.len())
            .filter(|&p| state[p] == State::Open && earlier[p].iter().all(|&e| state[e] != State::Open))
            .collect();
        if ready.is_empty() {
            break;
        }
        rounds += 1;
        for p in ready {
            let t = &tracks[pending[p]];
            state[p] = State::Own;
            if before || !earlier[p].is_empty() {
                if asked % 500 == 0 {
                    host::progress(asked, to_ask, "matching tracks");
                }
                asked += 1;
                let q = TrackQuery {
                    duration_ms: t.duration_ms,
                    isrc: t.isrc.clone(),
                    external_ids: t.uris.clone(),
                    ..super::lookup::by_names(t.title.clone(), t.artists.clone())
                };
                let out = catalog::match_track(&q).map_err(|e| cat_err(&format!("matching `{}`", t.uri), e))?;
                match (out.verdict, out.candidates.first()) {
                    // A record of this import the track was not paired with (another
                    // artist, title or duration) is refused: within Spotify's own metadata
                    // one recording has one spelling, and the fuzzy rung is meant for other
                    // sources' spellings.
                    (Verdict::Match, Some(c))
                        if !ix.props.contains_key(&c.key)
                            && !earlier[p].iter().any(|&e| keys[pending[e]].as_deref() == Some(c.key.as_str())) =>
                    {
                        refused += 1;
                    }
                    (Verdict::Match, Some(c)) => {
                        keys[pending[p]] = Some(c.key.clone());
                        state[p] = State::Merged;
                    }
                    (Verdict::Ambiguous, _) => ambiguous
                        .push(json!({"uri": t.uri, "title": t.title, "artists": t.artists,
                        "candidates": out.candidates.iter().map(candidate_json).collect::<Vec<_>>()})),
                    _ => {}
                }
            }
            if state[p] == State::Own {
                keys[pending[p]] = Some(t.uri.clone());
            }
        }
        // The new records that tracks still to be asked pair with: written now, so the
        // matcher sees them.
        let mut heads: Vec<usize> = (0..pending.len())
            .filter(|&p| state[p] == State::Open)
            .flat_map(|p| earlier[p].iter().copied())
            .filter(|&e| state[e] == State::Own && !written[e])
            .collect();
        heads.sort_unstable();
        heads.dedup();
        if !heads.is_empty() {
            let recs: Vec<Value> = heads
                .iter()
                .map(|&e| {
                    written[e] = true;
                    early += 1;
                    let t = &tracks[pending[e]];
                    track_record(t, &t.uri, &artist_refs(t, artist_uri), t.uris.clone())
                })
                .collect();
            changed += upsert("tracks", &recs)?;
        }
    }
    host::log(
        Level::Info,
        &format!(
            "{} tracks: {} new, {asked} asked of the matcher in {rounds} rounds, {early} written first, {refused} matches refused (a record of this import not paired with)",
            tracks.len(),
            pending.len(),
        ),
    );
    Ok((keys.into_iter().map(Option::unwrap_or_default).collect(), ambiguous, changed))
}

/// The record key of each track known only by its names (`named`, from
/// [`logic::named_tracks`]), by its name id: the catalog's matcher on its title and artist
/// (no duration, no id: only its text rungs can answer). Without a duration, names link only
/// with the same album on both sides (`baton_normalize::identity::name_link`); the host's
/// matcher does not see the album, so it answers `ambiguous` and the plugin applies the rule
/// to each candidate's record: one candidate of the same album is taken. Any other item keeps
/// a record of its own under its `uri` (keyed by its names), never dropped; when a candidate
/// could have been it (no album to compare, or two alike), the item is listed in `ambiguous`
/// with its candidates. Returns the keys and what the new records changed.
pub(super) fn resolve_named(
    named: &[(String, TrackInfo)],
    artist_uri: &HashMap<String, String>,
    ambiguous: &mut Vec<Value>,
) -> Result<(HashMap<String, String>, u64), Fail> {
    let mut keys = HashMap::new();
    let mut recs = Vec::new();
    for (i, (id, t)) in named.iter().enumerate() {
        if i % 500 == 0 {
            host::progress(i as u64, named.len() as u64, "matching tracks known by name only");
        }
        let q = super::lookup::by_names(t.title.clone(), t.artists.clone());
        let out = catalog::match_track(&q).map_err(|e| cat_err(&format!("matching `{}`", t.title), e))?;
        let (key, doubt) = if out.candidates.iter().any(|c| c.key == t.uri) {
            (Some(t.uri.clone()), Vec::new())
        } else {
            certain_by_names(t.album.as_deref(), None, &out)?
        };
        match key {
            Some(k) => {
                keys.insert(id.clone(), k);
            }
            None => {
                recs.push(track_record(t, &t.uri, &artist_refs(t, artist_uri), Vec::new()));
                keys.insert(id.clone(), t.uri.clone());
            }
        }
        if !doubt.is_empty() {
            ambiguous.push(json!({"uri": null, "title": t.title, "artists": t.artists, "album": t.album, "key": t.uri,
            "reason": "known by its names only (no URI in the export), and names alone are not certain: kept as a record of its own",
            "candidates": doubt.iter().map(|c| candidate_json(c)).collect::<Vec<_>>()}));
        }
    }
    let written = if recs.is_empty() { 0 } else { upsert("tracks", &recs)? };
    Ok((keys, written))
}

/// The matcher's answer to a query by names (no id), decided with what the host's matcher does
/// not see, the query's album, by the identity rule (`name_link`): the one accepted candidate
/// that names can link with certainty (a duration on both sides, or the same album), or None;
/// and the candidates that could have been it but are not certain (to list as ambiguous).
pub(super) fn certain_by_names<'a>(
    album: Option<&str>,
    duration_ms: Option<i64>,
    out: &'a MatchOutcome,
) -> Result<(Option<String>, Vec<&'a Candidate>), Fail> {
    use baton_normalize::identity::{Ids, NameLink, Side, name_link};
    let accepted: Vec<&Candidate> = out.candidates.iter().filter(|c| c.score >= 0.80).collect();
    if out.verdict == Verdict::None || accepted.is_empty() {
        return Ok((None, Vec::new()));
    }
    let mut sure = Vec::new();
    let mut doubt = Vec::new();
    for c in accepted {
        let rec = get("tracks", &c.key)?;
        let p = rec.as_ref().map(props);
        let ids = p.map(|p| strings(p.get("external_ids"))).unwrap_or_default();
        let isrc = p.and_then(|p| p.get("isrc")).and_then(Value::as_str);
        let theirs = Side {
            ids: Ids { external_ids: &ids, isrc },
            duration_ms: p.and_then(|p| p.get("duration_ms")).and_then(Value::as_i64),
            album: p.and_then(|p| p.get("album")).and_then(Value::as_str),
        };
        let ours = Side { ids: Ids::default(), duration_ms, album };
        match name_link(ours, theirs) {
            NameLink::May => sure.push(c),
            NameLink::Uncertain(_) => doubt.push(c),
            NameLink::Never(_) => {}
        }
    }
    match (sure.as_slice(), doubt.is_empty()) {
        ([one], true) => Ok((Some(one.key.clone()), Vec::new())),
        _ => {
            doubt.extend(sure);
            Ok((None, doubt))
        }
    }
}

pub(super) fn track_record(t: &TrackInfo, key: &str, refs: &[String], external_ids: Vec<String>) -> Value {
    let mut p = json!({
        "title": t.title,
        "artists": t.artists,
        "external_ids": external_ids,
        "artist_refs": refs,
    });
    if let Some(a) = &t.album {
        p["album"] = json!(a);
    }
    if let Some(d) = t.duration_ms {
        p["duration_ms"] = json!(d);
    }
    if let Some(i) = &t.isrc {
        p["isrc"] = json!(i);
    }
    json!({"key": key, "props": p})
}
