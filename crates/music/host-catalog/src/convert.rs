//! Between the catalog's own types and `baton:music/catalog@0.5.0`'s, and guest input checked
//! on its way in: guest paths made host paths (refused outside the plugin's grants), track
//! queries bounded before any work. Only the newest version's types appear here; older
//! versions reach these through `adapt`.
use baton_catalog::{Access, Catalog, Kind, Record};
use serde_json::Value;

use crate::call::{WitResult, denied, error, invalid};
use crate::paths::Files;
use crate::wit;
use crate::{MAX_QUERY_IDS, MAX_QUERY_TEXT};

pub(crate) fn kind_to_wit(k: Kind) -> wit::PropertyKind {
    match k {
        Kind::Text => wit::PropertyKind::Text,
        Kind::Number => wit::PropertyKind::Number,
        Kind::Date => wit::PropertyKind::Date,
        Kind::Bool => wit::PropertyKind::Bool,
        Kind::Select => wit::PropertyKind::Select,
        Kind::MultiSelect => wit::PropertyKind::MultiSelect,
        Kind::Url => wit::PropertyKind::Url,
        // The interface has no word for an ordered list with repeats: a plugin sees (and
        // declares, by an id ending in `entries`) a relation.
        Kind::Relation | Kind::Entries => wit::PropertyKind::Relation,
    }
}

pub(crate) fn kind_from_wit(k: wit::PropertyKind) -> Kind {
    match k {
        wit::PropertyKind::Text => Kind::Text,
        wit::PropertyKind::Number => Kind::Number,
        wit::PropertyKind::Date => Kind::Date,
        wit::PropertyKind::Bool => Kind::Bool,
        wit::PropertyKind::Select => Kind::Select,
        wit::PropertyKind::MultiSelect => Kind::MultiSelect,
        wit::PropertyKind::Url => Kind::Url,
        wit::PropertyKind::Relation => Kind::Relation,
    }
}

pub(crate) fn method_to_wit(m: baton_catalog::MatchMethod) -> wit::MatchMethod {
    use baton_catalog::MatchMethod as M;
    match m {
        M::ExternalId => wit::MatchMethod::ExternalId,
        M::Isrc => wit::MatchMethod::Isrc,
        M::Normalized => wit::MatchMethod::Normalized,
        M::Fuzzy => wit::MatchMethod::Fuzzy,
        M::Fingerprint => wit::MatchMethod::Fingerprint,
        M::Manual => wit::MatchMethod::Manual,
    }
}

/// How a stored link was made: a match method, or none for a data link (membership).
pub(crate) fn link_method(m: Option<&str>) -> Option<wit::MatchMethod> {
    Some(match m? {
        "manual" => wit::MatchMethod::Manual,
        "external_id" => wit::MatchMethod::ExternalId,
        "isrc" => wit::MatchMethod::Isrc,
        "normalized" => wit::MatchMethod::Normalized,
        "fuzzy" => wit::MatchMethod::Fuzzy,
        "fingerprint" => wit::MatchMethod::Fingerprint,
        _ => return None,
    })
}

pub(crate) fn method_from_wit(m: wit::MatchMethod) -> baton_catalog::MatchMethod {
    use baton_catalog::MatchMethod as M;
    match m {
        wit::MatchMethod::ExternalId => M::ExternalId,
        wit::MatchMethod::Isrc => M::Isrc,
        wit::MatchMethod::Normalized => M::Normalized,
        wit::MatchMethod::Fuzzy => M::Fuzzy,
        wit::MatchMethod::Fingerprint => M::Fingerprint,
        wit::MatchMethod::Manual => M::Manual,
    }
}

pub(crate) fn outcome_to_wit(o: baton_catalog::MatchOutcome, files: &Files) -> wit::MatchOutcome {
    use baton_catalog::Verdict;
    wit::MatchOutcome {
        verdict: match o.verdict {
            Verdict::Match => wit::Verdict::Match,
            Verdict::Ambiguous => wit::Verdict::Ambiguous,
            Verdict::None => wit::Verdict::None,
        },
        candidates: o
            .candidates
            .into_iter()
            .map(|c| wit::Candidate {
                reasons: c.reasons.into_iter().map(|r| files.reason(r)).collect(),
                key: c.key,
                title: c.title,
                artists: c.artists,
                duration_ms: c.duration_ms.and_then(|d| u64::try_from(d).ok()),
                score: c.score,
                method: method_to_wit(c.method),
            })
            .collect(),
    }
}

/// The relation properties of `collection` that point at `files` (their values are host paths
/// in the store and guest paths for the plugin).
pub(crate) fn file_relations(cat: &Catalog, access: &Access, collection: &str) -> WitResult<Vec<String>> {
    if collection == baton_catalog::schema::FILES {
        return Ok(Vec::new());
    }
    Ok(cat
        .schema(access, collection)
        .map_err(error)?
        .into_iter()
        .filter(|p| {
            matches!(p.kind, Kind::Relation | Kind::Entries)
                && p.target.as_deref() == Some(baton_catalog::schema::FILES)
        })
        .map(|p| p.id)
        .collect())
}

pub(crate) fn track_query(mut q: wit::TrackQuery, files: &Files) -> WitResult<baton_catalog::TrackQuery> {
    // Inputs are bounded before any work: a list of one id repeated 12,000 times once took
    // the host from 79 MB to 2.8 GB.
    let mut seen = std::collections::HashSet::new();
    q.external_ids.retain(|id| seen.insert(id.clone()));
    if q.external_ids.len() > MAX_QUERY_IDS || q.artists.len() > MAX_QUERY_IDS {
        return Err(invalid(format!(
            "tracks: a track query has {} distinct external ids and {} artists; at most {MAX_QUERY_IDS} of each",
            q.external_ids.len(),
            q.artists.len()
        )));
    }
    let longest = std::iter::once(&q.title)
        .chain(&q.artists)
        .chain(&q.external_ids)
        .chain(q.isrc.as_ref())
        .map(String::len)
        .max()
        .unwrap_or(0);
    if longest > MAX_QUERY_TEXT {
        return Err(invalid(format!(
            "tracks: a track query holds a text of {longest} bytes; at most {MAX_QUERY_TEXT}"
        )));
    }
    let file = match q.path {
        Some(p) => {
            Some(files.host(&p).ok_or_else(|| denied(format!("tracks: path {p} is not inside the plugin's grants")))?)
        }
        None => None,
    };
    Ok(baton_catalog::TrackQuery {
        title: q.title,
        artists: q.artists,
        duration_ms: q.duration_ms.map(|d| i64::try_from(d).unwrap_or(i64::MAX)),
        isrc: q.isrc,
        external_ids: q.external_ids,
        file,
        // The WIT query carries no album: a match by names without a duration is ambiguous.
        album: None,
    })
}

/// Parses an upsert's JSON array of records, with guest paths in relations to `files` made
/// host paths (refused when outside the grants).
pub(crate) fn parse_records(
    collection: &str,
    text: &str,
    file_props: &[String],
    files: &Files,
    cat: &Catalog,
    access: &Access,
) -> WitResult<Vec<Record>> {
    let mut records: Vec<Record> = serde_json::from_str(text).map_err(|e| {
        invalid(format!("{collection}: the records are not a JSON array of {{\"key\", \"props\"}}: {e}"))
    })?;
    for r in &mut records {
        for prop in file_props {
            let Some(v) = r.props.get_mut(prop) else { continue };
            let Value::Array(items) = v else { continue };
            for item in items.iter_mut() {
                let slot = match item {
                    Value::String(s) => s,
                    // A link `{"key", …}`, or an entry `{"track", "position"}`.
                    Value::Object(o) => {
                        let field = if o.contains_key("key") { "key" } else { "track" };
                        match o.get_mut(field) {
                            Some(Value::String(s)) => s,
                            _ => continue,
                        }
                    }
                    _ => continue,
                };
                *slot = files.stored_key(cat, access, slot).ok_or_else(|| {
                    denied(format!(
                        "{collection}/{}: property `{prop}`: {slot} is not a library file inside the plugin's grants",
                        r.key
                    ))
                })?;
            }
        }
    }
    Ok(records)
}
