//! `plan`, `apply` and `undo`: the music files moved into a layout by playlist, journalled so
//! undo restores them.
use super::*;

pub(super) const DEFAULT_LAYOUT: &str = "{playlist}/{artist} - {title}.{ext}";

/// `primary` from `[plugins.spotify.settings]` (the params' own is typed): `oldest` by default.
pub(super) fn primary_of(v: Option<&Value>) -> Result<Primary, Fail> {
    match v {
        None | Some(Value::Null) => Ok(Primary::Oldest),
        Some(v) => serde_json::from_value::<params::PrimaryRule>(v.clone()).map(Primary::from).map_err(|_| {
            invalid(format!(
                "`primary` in [plugins.spotify.settings] must be \"oldest\", \"newest\" or a list of playlist names, got {v}"
            ))
        }),
    }
}

pub(super) fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100000001b3))
}

pub(super) fn artist_line(p: &Map<String, Value>) -> String {
    let a = strings(p.get("artists"));
    if a.is_empty() { "Unknown Artist".into() } else { a.join(", ") }
}

/// With `primary: "ask"`, the sender's pick of the playlist that decides a track's folder,
/// asked once per track on several playlists (Liked Songs aside): the question is named by the
/// track, so a second run asks it again only if it was never answered.
fn asked_primary(
    ctx: &Ctx,
    key: &str,
    tp: &Map<String, Value>,
    ms: &[Membership],
) -> Result<Option<(String, String)>, Fail> {
    let names: Vec<&str> = ms.iter().map(|m| m.name.as_str()).filter(|n| *n != LIKED).collect();
    if names.len() < 2 {
        return Ok(None);
    }
    let title = tp.get("title").and_then(Value::as_str).unwrap_or("Unknown Title");
    let question = format!(
        "\"{title}\" by {} is on {} playlists ({}): which one decides its folder?",
        artist_line(tp),
        names.len(),
        names.join(", ")
    );
    let schema = json!({"type": "object", "required": ["playlist"], "additionalProperties": false,
                        "properties": {"playlist": {"enum": names}}});
    let answer = ctx.ask_as(&format!("primary-{:016x}", fnv(key)), &question, schema)?;
    let chosen = answer["playlist"].as_str().unwrap_or_default().to_string();
    Ok(Some((chosen, "chosen by the sender, asked".to_string())))
}

pub(super) fn plan(ctx: &Ctx, p: params::Plan) -> Result<Value, Fail> {
    let s = settings();
    let layout = p
        .layout
        .clone()
        .or_else(|| s.get("layout").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| DEFAULT_LAYOUT.to_string());
    let rule = match p.primary.clone() {
        Some(r) => Primary::from(r),
        None => primary_of(s.get("primary"))?,
    };
    logic::fill_layout(&layout, "p", "a", "t", "al", "e").map_err(invalid)?;
    let root = need_grant("music", false, "plan")?;
    let mut paths: Vec<String> =
        music_files(&root)?.iter().filter_map(|f| f["key"].as_str().map(str::to_string)).collect();
    // Files moved by `apply` are known by their new path until the next `baton fp scan`.
    paths.retain(|p| Path::new(p).exists());
    paths.sort();
    let mut names = HashMap::new();
    let mut taken: HashSet<String> = HashSet::new();
    let (mut moves, mut unassigned, mut unmatched) = (Vec::new(), Vec::new(), Vec::new());
    for from in &paths {
        let Some(key) = host::kv_get(&format!("file:{from}")) else {
            unmatched.push(json!(from));
            continue;
        };
        let Some(rec) = get("tracks", &key)? else {
            unmatched.push(json!(from));
            continue;
        };
        let tp = props(&rec);
        let ms = memberships(&key, &mut names)?;
        let asked = if rule == Primary::Ask { asked_primary(ctx, &key, tp, &ms)? } else { None };
        let (folder, reason) = asked
            .or_else(|| logic::primary(&ms, &rule))
            .unwrap_or_else(|| ("Unassigned".into(), "on no playlist".into()));
        let ext =
            from.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).filter(|e| !e.contains('/')).unwrap_or_default();
        let rel = logic::fill_layout(
            &layout,
            &folder,
            &artist_line(tp),
            tp.get("title").and_then(Value::as_str).unwrap_or("Unknown Title"),
            tp.get("album").and_then(Value::as_str).unwrap_or("Unknown Album"),
            &ext,
        )
        .map_err(invalid)?;
        let mut to = format!("{root}/{rel}");
        if &to == from {
            taken.insert(to);
            continue;
        }
        let mut n = 2;
        while taken.contains(&to) || (Path::new(&to).exists() && &to != from) {
            to = format!("{root}/{}", logic::numbered(&rel, n));
            n += 1;
        }
        if &to == from {
            taken.insert(to);
            continue;
        }
        taken.insert(to.clone());
        let pls: Vec<&str> = ms.iter().map(|m| m.name.as_str()).collect();
        if ms.is_empty() {
            unassigned.push(json!(from));
        }
        moves.push(json!({"from": from, "to": to, "playlists": pls, "reason": reason, "track": key}));
    }
    let text = serde_json::to_string(&moves).unwrap_or_default();
    let plan_id = format!("plan-{:016x}", fnv(&text));
    kv_put_big(&format!("plan:{plan_id}"), &text);
    let mut out =
        json!({"plan_id": plan_id, "moves": moves, "unassigned": unassigned, "unmatched": unmatched, "layout": layout});
    logic::paginate(&mut out, p.page);
    Ok(out)
}

pub(super) fn plan_id(p: &params::PlanId) -> Result<String, Fail> {
    let id = &p.plan_id;
    if host::kv_get(&format!("plan:{id}#n")).is_none() {
        return Err(invalid(format!("no stored plan `{id}`: run `plan` and use its plan_id")));
    }
    Ok(id.to_string())
}

/// One journal entry per move of a plan, written before the move and updated after it:
/// `{from, to, track, dirs, state}` with state `moving`, `done`, `failed` or `undone`.
pub(super) fn journal_get(id: &str, i: usize) -> Option<Value> {
    host::kv_get(&format!("journal:{id}:{i}")).and_then(|s| serde_json::from_str(&s).ok())
}

pub(super) fn journal_set(id: &str, i: usize, entry: &Value) {
    host::kv_set(&format!("journal:{id}:{i}"), &entry.to_string());
}

/// Moves the catalog's file link of `key` from `from` to `to` (and the plugin's own record).
///
/// The plugin's own record (kv `local:`/`file:`) follows at once, so `playlists-for-track
/// {"path"}`, `plan`, `m3u` and `next-track` see the new path right away. So does the catalog's
/// `tracks.files` link: a link to `files` must name a file of the fingerprint library, and the
/// host has the library follow a file this plugin moved inside its writable grant (same size
/// and mtime, old path gone), fingerprint and tags with it. Only when that cannot be told (two
/// identical copies) does the link wait for the next `baton fp scan` and `link-local`; the
/// unlink of `from` goes through either way, so no link points at a path that is gone.
pub(super) fn relink(key: &str, from: &str, to: &str) {
    forget_link(from, key);
    remember_link(to, key);
    // The moved file is the same match: it keeps the method it was linked by.
    let method = catalog::links("tracks", key, "files")
        .ok()
        .and_then(|ls| ls.into_iter().find(|l| l.key == from))
        .and_then(|l| l.method)
        .filter(|m| *m != MatchMethod::Manual);
    let _ = catalog::unlink("tracks", key, "files", from);
    if let Err(e) = catalog::link("tracks", key, "files", to, None, method) {
        host::log(Level::Info, &format!("`{to}` is not in the fingerprint library yet (run `baton fp scan`): {e:?}"));
    }
}

pub(super) fn apply(p: params::PlanId) -> Result<Value, Fail> {
    need_grant("music", true, "apply")?;
    let id = plan_id(&p)?;
    let moves: Vec<Value> =
        kv_get_big(&format!("plan:{id}")).and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default();
    let (mut moved, mut skipped) = (0u64, Vec::new());
    for (i, m) in moves.iter().enumerate() {
        if i % 100 == 0 {
            host::progress(i as u64, moves.len() as u64, "moving files");
        }
        let (from, to, key) =
            (m["from"].as_str().unwrap_or(""), m["to"].as_str().unwrap_or(""), m["track"].as_str().unwrap_or(""));
        if journal_get(&id, i).is_some_and(|e| e["state"] == "done") {
            skipped.push(json!({"from": from, "reason": "already moved by an earlier apply of this plan"}));
            continue;
        }
        if !Path::new(from).exists() {
            skipped.push(json!({"from": from, "reason": "the file is gone (moved or deleted since the plan)"}));
            continue;
        }
        if Path::new(to).exists() {
            skipped.push(json!({"from": from, "reason": format!("`{to}` exists; never overwritten")}));
            continue;
        }
        // Folders this move creates, outermost first, so undo can remove them when empty.
        let mut created = Vec::new();
        let mut dir = Path::new(to).parent();
        while let Some(d) = dir {
            if d.exists() {
                break;
            }
            created.push(d.display().to_string());
            dir = d.parent();
        }
        created.reverse();
        let mut entry = json!({"from": from, "to": to, "track": key, "dirs": created, "state": "moving"});
        journal_set(&id, i, &entry);
        let r = std::fs::create_dir_all(Path::new(to).parent().unwrap_or(Path::new("/"))).and_then(|_| {
            if Path::new(to).exists() {
                Err(std::io::Error::new(std::io::ErrorKind::AlreadyExists, "the target appeared"))
            } else {
                std::fs::rename(from, to)
            }
        });
        match r {
            Ok(()) => {
                entry["state"] = json!("done");
                journal_set(&id, i, &entry);
                relink(key, from, to);
                moved += 1;
            }
            Err(e) => {
                entry["state"] = json!("failed");
                journal_set(&id, i, &entry);
                for d in created.iter().rev() {
                    let _ = std::fs::remove_dir(d);
                }
                skipped.push(json!({"from": from, "reason": format!("moving to `{to}`: {e}")}));
            }
        }
    }
    let mut out = json!({"plan_id": id, "moved": moved, "skipped": skipped});
    logic::paginate(&mut out, p.page);
    Ok(out)
}

pub(super) fn undo(p: params::PlanId) -> Result<Value, Fail> {
    need_grant("music", true, "undo")?;
    let id = plan_id(&p)?;
    let count = kv_get_big(&format!("plan:{id}"))
        .and_then(|s| serde_json::from_str::<Vec<Value>>(&s).ok())
        .map_or(0, |m| m.len());
    let (mut restored, mut skipped) = (0u64, Vec::new());
    for i in (0..count).rev() {
        let Some(mut entry) = journal_get(&id, i) else { continue };
        // `moving`: the move may or may not have happened before a crash; the paths tell.
        let moving = entry["state"] == "moving";
        if entry["state"] != "done" && !moving {
            continue;
        }
        let (from, to, key) = (
            entry["from"].as_str().unwrap_or("").to_string(),
            entry["to"].as_str().unwrap_or("").to_string(),
            entry["track"].as_str().unwrap_or("").to_string(),
        );
        if moving && Path::new(&from).exists() {
            continue;
        }
        if !Path::new(&to).exists() {
            skipped.push(json!({"from": from, "reason": format!("`{to}` is gone; nothing to restore")}));
            continue;
        }
        if Path::new(&from).exists() {
            skipped.push(json!({"from": from, "reason": "a file is back at the original path; never overwritten"}));
            continue;
        }
        let r = std::fs::create_dir_all(Path::new(&from).parent().unwrap_or(Path::new("/")))
            .and_then(|_| std::fs::rename(&to, &from));
        match r {
            Ok(()) => {
                entry["state"] = json!("undone");
                journal_set(&id, i, &entry);
                relink(&key, &to, &from);
                for d in strings(entry.get("dirs")).iter().rev() {
                    // only when empty: never removes anything else
                    let _ = std::fs::remove_dir(d);
                }
                restored += 1;
            }
            Err(e) => skipped.push(json!({"from": from, "reason": format!("moving back from `{to}`: {e}")})),
        }
    }
    let mut out = json!({"plan_id": id, "restored": restored, "skipped": skipped});
    logic::paginate(&mut out, p.page);
    Ok(out)
}
