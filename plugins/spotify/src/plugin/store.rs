//! The catalog and kv helpers every action uses: paged queries, batched upserts, a record's
//! props, the playlists holding a track, the plugin's own file links, and kv values larger
//! than the host's 1 MiB cap.
use super::*;

/// Every record of a collection matching `filter`, through the cursor.
pub(super) fn query_all(collection: &str, filter: &str) -> Result<Vec<Value>, Fail> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = catalog::query(collection, filter, cursor.as_deref(), 1000)
            .map_err(|e| cat_err(&format!("reading `{collection}`"), e))?;
        let recs: Vec<Value> = serde_json::from_str(&page.records)
            .map_err(|e| Failure::Permanent(format!("`{collection}` records: {e}")))?;
        out.extend(recs);
        match page.next {
            Some(n) => cursor = Some(n),
            None => return Ok(out),
        }
    }
}

pub(super) fn get(collection: &str, key: &str) -> Result<Option<Value>, Fail> {
    let r = catalog::get(collection, key, false).map_err(|e| cat_err(&format!("reading `{collection}` `{key}`"), e))?;
    Ok(r.and_then(|s| serde_json::from_str(&s).ok()))
}

/// JSON per `upsert` call: 7 MiB, under the host's per-call cap (8 MiB). Each call is one
/// transaction, and the records' keys are spread over the catalog's indexes, so every call
/// writes most of the index pages again (and SQLite checkpoints them again): few large calls
/// write far less than many small ones. 20,000 tracks fit in one call.
pub(super) const UPSERT_BYTES: usize = 7 << 20;

pub(super) fn upsert(collection: &str, records: &[Value]) -> Result<u64, Fail> {
    let mut changed = 0;
    let mut text = String::from("[");
    let mut send = |text: &mut String| -> Result<(), Fail> {
        text.push(']');
        let r = catalog::upsert(collection, text).map_err(|e| cat_err(&format!("writing `{collection}`"), e))?;
        changed += r.inserted + r.updated;
        text.clear();
        text.push('[');
        Ok(())
    };
    for rec in records {
        let one = serde_json::to_string(rec).unwrap_or_default();
        if text.len() > 1 && text.len() + one.len() + 2 > UPSERT_BYTES {
            send(&mut text)?;
        }
        if text.len() > 1 {
            text.push(',');
        }
        text.push_str(&one);
    }
    if text.len() > 1 {
        send(&mut text)?;
    }
    Ok(changed)
}

pub(super) fn props(rec: &Value) -> &Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    rec.get("props").and_then(Value::as_object).unwrap_or_else(|| EMPTY.get_or_init(Map::new))
}

pub(super) fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

pub(super) fn method_name(m: MatchMethod) -> &'static str {
    match m {
        MatchMethod::ExternalId => "external_id",
        MatchMethod::Isrc => "isrc",
        MatchMethod::Normalized => "normalized",
        MatchMethod::Fuzzy => "fuzzy",
        MatchMethod::Fingerprint => "fingerprint",
        MatchMethod::Manual => "manual",
    }
}

pub(super) fn candidate_json(c: &Candidate) -> Value {
    json!({"key": c.key, "title": c.title, "artists": c.artists, "duration_ms": c.duration_ms,
           "score": c.score, "method": method_name(c.method), "reasons": c.reasons})
}

/// A track record as results show it.
pub(super) fn track_json(rec: &Value) -> Value {
    let p = props(rec);
    let ids = strings(p.get("external_ids"));
    json!({
        "key": rec.get("key"),
        "uri": ids.iter().find(|i| i.starts_with("spotify:")),
        "title": p.get("title"),
        "artists": p.get("artists").cloned().unwrap_or(json!([])),
        "album": p.get("album"),
        "duration_ms": p.get("duration_ms"),
        "isrc": p.get("isrc"),
    })
}

/// The playlists holding a track (name, added_at), Liked Songs included, in link order.
pub(super) fn memberships(key: &str, names: &mut HashMap<String, String>) -> Result<Vec<Membership>, Fail> {
    let links = catalog::links("tracks", key, "playlists")
        .map_err(|e| cat_err(&format!("reading the playlists of `{key}`"), e))?;
    let mut out = Vec::new();
    for l in links {
        let name = match names.get(&l.key) {
            Some(n) => n.clone(),
            None => {
                let n = get("playlists", &l.key)?
                    .and_then(|r| props(&r).get("name").and_then(Value::as_str).map(str::to_string))
                    .unwrap_or_else(|| l.key.clone());
                names.insert(l.key.clone(), n.clone());
                n
            }
        };
        out.push(Membership { name, added_at: l.added_at });
    }
    // oldest addition first
    out.sort_by(|a, b| (a.added_at.is_none(), &a.added_at, &a.name).cmp(&(b.added_at.is_none(), &b.added_at, &b.name)));
    Ok(out)
}

/// The local file (guest path) linked to a track: the plugin's own record of it, else the
/// catalog's `files` link.
pub(super) fn local_file(key: &str) -> Option<String> {
    if let Some(p) = host::kv_get(&format!("local:{key}")) {
        return Some(p);
    }
    catalog::links("tracks", key, "files").ok().and_then(|l| l.into_iter().next()).map(|l| l.key)
}

pub(super) fn remember_link(path: &str, key: &str) {
    host::kv_set(&format!("file:{path}"), key);
    host::kv_set(&format!("local:{key}"), path);
}

pub(super) fn forget_link(path: &str, key: &str) {
    host::kv_delete(&format!("file:{path}"));
    if host::kv_get(&format!("local:{key}")).as_deref() == Some(path) {
        host::kv_delete(&format!("local:{key}"));
    }
}

/// Sets `key` unless it holds `value` already: an action run again with nothing new (a
/// re-import, link-local over the same files) writes nothing.
pub(super) fn kv_set_changed(key: &str, value: &str) {
    if host::kv_get(key).as_deref() != Some(value) {
        host::kv_set(key, value);
    }
}

/// The kv store holds values of at most 1 MiB: larger ones are kept in numbered pieces.
pub(super) fn kv_put_big(key: &str, value: &str) {
    let pieces = logic::chunks(value, 900 * 1024);
    let old: usize = host::kv_get(&format!("{key}#n")).and_then(|n| n.parse().ok()).unwrap_or(0);
    for (i, p) in pieces.iter().enumerate() {
        kv_set_changed(&format!("{key}#{i}"), p);
    }
    for i in pieces.len()..old {
        host::kv_delete(&format!("{key}#{i}"));
    }
    if old != pieces.len() {
        host::kv_set(&format!("{key}#n"), &pieces.len().to_string());
    }
}

pub(super) fn kv_get_big(key: &str) -> Option<String> {
    let n: usize = host::kv_get(&format!("{key}#n"))?.parse().ok()?;
    let mut s = String::new();
    for i in 0..n {
        s.push_str(&host::kv_get(&format!("{key}#{i}"))?);
    }
    Some(s)
}
