//! `next-track`: the track to file next, its playlists and where the plan would put it.
use super::*;

pub(super) fn planned_path(rec: &Value, ms: &[Membership]) -> Option<String> {
    let s = settings();
    let layout = s.get("layout").and_then(Value::as_str).unwrap_or(DEFAULT_LAYOUT);
    let ext = s.get("ext").and_then(Value::as_str).unwrap_or("m4a");
    let rule = primary_of(s.get("primary")).unwrap_or(Primary::Oldest);
    let tp = props(rec);
    let folder = logic::primary(ms, &rule).map(|x| x.0).unwrap_or_else(|| "Unassigned".into());
    let rel = logic::fill_layout(
        layout,
        &folder,
        &artist_line(tp),
        tp.get("title").and_then(Value::as_str).unwrap_or("Unknown Title"),
        tp.get("album").and_then(Value::as_str).unwrap_or("Unknown Album"),
        ext,
    )
    .ok()?;
    Some(match grant("music") {
        Some((root, _)) => format!("{root}/{rel}"),
        None => rel,
    })
}

/// What a returned track looked like: its record and its playlists. It is offered again
/// only when this changes.
pub(super) fn stamp(rec: &Value, ms: &[Membership]) -> String {
    let pls: Vec<&str> = ms.iter().map(|m| m.name.as_str()).collect();
    format!("{:016x}", fnv(&format!("{rec}\u{1}{}", pls.join("\u{1}"))))
}

pub(super) fn next_track(p: params::NextTrack) -> Result<Value, Fail> {
    let mut names = HashMap::new();
    let answer = |source: &str, key: &str, names: &mut HashMap<String, String>| -> Result<Value, Fail> {
        let rec = get("tracks", key)?
            .ok_or_else(|| Failure::Permanent(format!("track `{key}` vanished from the catalog")))?;
        let ms = memberships(key, names)?;
        host::kv_set(&format!("returned:{key}"), &stamp(&rec, &ms));
        Ok(json!({
            "source": source,
            "track": track_json(&rec),
            "playlists": ms.iter().filter(|m| m.name != LIKED).map(|m| json!({"name": m.name, "added_at": m.added_at})).collect::<Vec<_>>(),
            "planned_path": planned_path(&rec, &ms),
        }))
    };
    if let Some(uri) = p.uri.as_deref() {
        let key = match get("tracks", uri)? {
            Some(_) => uri.to_string(),
            None => match resolve(super::lookup::by_external_id(uri))? {
                Ok((k, _)) => k,
                Err(_) => return Err(invalid(format!("`{uri}` is not in the catalog: run `import` first"))),
            },
        };
        return answer("explicit", &key, &mut names);
    }
    let fresh = |key: &str, names: &mut HashMap<String, String>| -> Result<bool, Fail> {
        if local_file(key).is_some() {
            return Ok(false);
        }
        let Some(prev) = host::kv_get(&format!("returned:{key}")) else {
            return Ok(true);
        };
        let Some(rec) = get("tracks", key)? else { return Ok(false) };
        Ok(stamp(&rec, &memberships(key, names)?) != prev)
    };
    // New: tracks the change log shows added to a Spotify playlist since the last run.
    let since: u64 = host::kv_get("next:seq").and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut pending: Vec<(String, String)> =
        host::kv_get("next:pending").and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default();
    let mut seq = since;
    loop {
        let batch = catalog::changes_since(seq, 5000).map_err(|e| cat_err("reading the change log", e))?;
        if batch.is_empty() {
            break;
        }
        for c in &batch {
            seq = seq.max(c.seq);
            let Some(pk) = c.key.as_deref() else { continue };
            if c.collection != "playlists" || !pk.starts_with("spotify:playlist:") || pk == logic::playlist_key(LIKED) {
                continue;
            }
            let d: Value = serde_json::from_str(&c.detail).unwrap_or(Value::Null);
            for k in strings(d.pointer("/links/tracks/added")) {
                pending.push((k, c.at.clone()));
            }
        }
        if batch.len() < 5000 {
            break;
        }
    }
    host::kv_set("next:seq", &seq.to_string());
    // newest first: when it was added to the playlist
    let mut dated: Vec<(String, String)> = Vec::new();
    let mut seen = HashSet::new();
    for (k, _) in pending.iter().rev() {
        if seen.insert(k.clone()) {
            let ms = memberships(k, &mut names).unwrap_or_default();
            let at = ms.iter().filter(|m| m.name != LIKED).filter_map(|m| m.added_at.clone()).max().unwrap_or_default();
            dated.push((k.clone(), at));
        }
    }
    dated.sort_by(|a, b| b.1.cmp(&a.1));
    let mut pick = None;
    for (k, _) in &dated {
        if fresh(k, &mut names)? {
            pick = Some(k.clone());
            break;
        }
    }
    if let Some(k) = &pick {
        pending.retain(|(x, _)| x != k);
    }
    // keep only what may still be returned
    let mut keep = Vec::new();
    for (x, at) in pending {
        if fresh(&x, &mut names)? {
            keep.push((x, at));
        }
    }
    let pending = keep;
    host::kv_set("next:pending", &serde_json::to_string(&pending).unwrap_or_default());
    if let Some(k) = pick {
        return answer("new", &k, &mut names);
    }
    // Liked songs with no local file, most recently liked first.
    let liked = catalog::links("playlists", &logic::playlist_key(LIKED), "tracks").unwrap_or_default();
    let mut liked: Vec<(String, String)> = liked.into_iter().map(|l| (l.key, l.added_at.unwrap_or_default())).collect();
    liked.sort_by(|a, b| b.1.cmp(&a.1));
    for (k, _) in liked {
        if fresh(&k, &mut names)? {
            return answer("liked", &k, &mut names);
        }
    }
    Ok(json!({"source": "none", "track": null, "playlists": [], "planned_path": null}))
}
