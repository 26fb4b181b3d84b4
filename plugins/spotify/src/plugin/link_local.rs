//! `link-local`: the library's music files linked to the catalog's tracks.
use super::*;

/// The local audio files the plugin may see (`files`, limited by the host to its grants),
/// inside the `music` folder.
pub(super) fn music_files(root: &str) -> Result<Vec<Value>, Fail> {
    let prefix = format!("{root}/");
    Ok(query_all("files", "")?
        .into_iter()
        .filter(|r| r.get("key").and_then(Value::as_str).is_some_and(|k| k.starts_with(&prefix)))
        .collect())
}

pub(super) fn link_local(p: params::Paged) -> Result<Value, Fail> {
    let root = need_grant("music", false, "link-local")?;
    let files = music_files(&root)?;
    let (mut linked, mut ambiguous, mut unmatched) = (0u64, Vec::new(), Vec::new());
    for (i, f) in files.iter().enumerate() {
        if i % 100 == 0 {
            host::progress(i as u64, files.len() as u64, "linking local files");
        }
        let path = f["key"].as_str().unwrap_or_default().to_string();
        let fp = props(f);
        let (fa, ft) = file_title(&path);
        let title = fp.get("title").and_then(Value::as_str).map(str::to_string).unwrap_or(ft);
        let artists: Vec<String> =
            fp.get("artist").and_then(Value::as_str).map(str::to_string).or(fa).into_iter().collect();
        let q = TrackQuery {
            duration_ms: fp.get("duration_ms").and_then(Value::as_u64),
            isrc: fp.get("isrc").and_then(Value::as_str).map(str::to_string),
            ..super::lookup::by_names(title, artists)
        };
        let duration_ms = q.duration_ms.and_then(|d| i64::try_from(d).ok());
        let mut out = catalog::match_track(&q).map_err(|e| cat_err(&format!("matching `{path}`"), e))?;
        // Ambiguous by names alone (a record without a duration): the file's album tag decides.
        if out.verdict == Verdict::Ambiguous {
            let album = fp.get("album").and_then(Value::as_str);
            if let (Some(k), _) = certain_by_names(album, duration_ms, &out)? {
                out.candidates.retain(|c| c.key == k);
                out.verdict = Verdict::Match;
            }
        }
        match (out.verdict, out.candidates.first()) {
            (Verdict::Match, Some(c)) => {
                match catalog::link("tracks", &c.key, "files", &path, None, Some(c.method)) {
                    Ok(_) => {}
                    Err(CatalogError::Io(m)) => return Err(Failure::Transient(format!("linking `{path}`: {m}"))),
                    Err(e) => host::log(Level::Warn, &format!("linking `{path}` to `{}` in the catalog: {e:?}", c.key)),
                }
                if host::kv_get(&format!("file:{path}")).as_deref() != Some(c.key.as_str()) {
                    remember_link(&path, &c.key);
                }
                remember_match(&path, &c.key, c);
                linked += 1;
            }
            (Verdict::Ambiguous, _) => ambiguous.push(
                json!({"path": path, "candidates": out.candidates.iter().map(candidate_json).collect::<Vec<_>>()}),
            ),
            _ => unmatched.push(json!(path)),
        }
    }
    let coverage =
        if files.is_empty() { 0.0 } else { (linked as f64 / files.len() as f64 * 10000.0).round() / 10000.0 };
    let mut out = json!({"linked": linked, "ambiguous": ambiguous, "unmatched": unmatched, "coverage": coverage, "files": files.len()});
    logic::paginate(&mut out, p.page);
    Ok(out)
}
