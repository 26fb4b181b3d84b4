//! `m3u`: one m3u8 per Spotify playlist in the `playlists` folder, with the local files it holds.
use super::*;

pub(super) fn spotify_playlists() -> Result<Vec<(String, String)>, Fail> {
    Ok(query_all("playlists", "source=spotify")?
        .into_iter()
        .filter_map(|r| {
            let k = r.get("key")?.as_str()?.to_string();
            let n = props(&r).get("name")?.as_str()?.to_string();
            Some((k, n))
        })
        .collect())
}

pub(super) fn m3u(p: params::Paged) -> Result<Value, Fail> {
    let out_dir = need_grant("playlists", true, "m3u")?;
    let music = grant("music").map(|g| g.0);
    let host_music = music.as_deref().and_then(host::host_path);
    let host_lists = host::host_path(&out_dir);
    // Relative paths when the playlists folder lies inside the music folder.
    let inside = match (&host_music, &host_lists) {
        (Some(m), Some(l)) => l.trim_end_matches('/').starts_with(&format!("{}/", m.trim_end_matches('/'))),
        _ => false,
    };
    let (mut written, mut unchanged, mut without) = (Vec::new(), 0u64, 0u64);
    let mut cache: HashMap<String, Option<Value>> = HashMap::new();
    // Two names can clean to one file name ("A/B" and "A_B"), and on a case-insensitive disk
    // ("Chill" and "chill") two file names are one file: the later playlist takes " (2)".
    let mut taken: HashSet<String> = HashSet::new();
    for (pkey, name) in spotify_playlists()? {
        // Every entry in order, repeats included (`entries`); a playlist imported before
        // entries existed has only its distinct `tracks`.
        let rec = get("playlists", &pkey)?;
        let listed: Vec<String> = rec
            .as_ref()
            .and_then(|r| props(r).get("entries").and_then(Value::as_array).cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|e| e.get("track").and_then(Value::as_str).map(str::to_string))
            .collect();
        let keys: Vec<String> = if listed.is_empty() {
            catalog::links("playlists", &pkey, "tracks")
                .map_err(|e| cat_err(&format!("reading playlist `{name}`"), e))?
                .into_iter()
                .map(|l| l.key)
                .collect()
        } else {
            listed
        };
        let mut entries = Vec::new();
        for key in keys {
            let rec = match cache.get(&key) {
                Some(r) => r.clone(),
                None => {
                    let r = get("tracks", &key)?;
                    cache.insert(key.clone(), r.clone());
                    r
                }
            };
            let Some(rec) = rec else { continue };
            let tp = props(&rec);
            // a linked file deleted since is no file
            let file = local_file(&key).filter(|f| Path::new(f).exists());
            let path = match &file {
                None => None,
                Some(f) => {
                    let hp = host::host_path(f);
                    match (inside, &hp, &host_lists) {
                        (true, Some(hp), Some(hl)) => Some(logic::relative(hl, hp)),
                        (_, Some(hp), _) => Some(hp.clone()),
                        _ => Some(f.clone()),
                    }
                }
            };
            if path.is_none() {
                without += 1;
            }
            entries.push(M3uEntry {
                artist: artist_line(tp),
                title: tp.get("title").and_then(Value::as_str).unwrap_or("").to_string(),
                duration_ms: tp.get("duration_ms").and_then(Value::as_u64),
                path,
                uri: strings(tp.get("external_ids"))
                    .into_iter()
                    .find(|i| i.starts_with("spotify:"))
                    .unwrap_or_else(|| key.clone()),
            });
        }
        let text = logic::m3u_text(&entries);
        let base = logic::component(&name);
        let file = (1..)
            .map(|n| if n == 1 { format!("{base}.m3u8") } else { format!("{base} ({n}).m3u8") })
            .find(|f| taken.insert(f.to_lowercase()))
            .unwrap_or_default();
        let path = format!("{out_dir}/{file}");
        if std::fs::read(&path).ok().as_deref() == Some(text.as_bytes()) {
            unchanged += 1;
            continue;
        }
        let tmp = format!("{out_dir}/.{file}.tmp");
        std::fs::write(&tmp, &text)
            .and_then(|_| std::fs::rename(&tmp, &path))
            .map_err(|e| Failure::Transient(format!("writing `{path}`: {e}")))?;
        written.push(json!(path));
    }
    let mut out = json!({"written": written, "unchanged": unchanged, "tracks_without_file": without});
    logic::paginate(&mut out, p.page);
    Ok(out)
}
