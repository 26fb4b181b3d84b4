//! `consolidate` and `undo`: duplicate folders merged into the canonical one, journalled in a
//! batch that undo plays back.
use super::*;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Batch {
    pub(super) batch: String,
    pub(super) kind: String,
    pub(super) created_at: String,
    /// `running`, `done`, `undone`.
    pub(super) state: String,
    #[serde(default)]
    pub(super) moves: Vec<Move>,
    /// accept-edits: what was applied, with the values before.
    #[serde(default)]
    pub(super) applied: Vec<Applied>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Applied {
    pub(super) collection: String,
    pub(super) key: String,
    pub(super) property: String,
    pub(super) before: Value,
    pub(super) after: Value,
}

pub(super) fn new_batch_id(kind: &str) -> String {
    let t = now();
    format!("{kind}-{}-{:09}", stamp(t), t.1)
}

pub(super) fn consolidate(_: &Ctx, p: ExecParams) -> Res<Done> {
    let drive = Drive::open()?;
    if !drive.lock() {
        return Err(Failure::Transient(format!("consolidate: {SKIPPED}; try again")));
    }
    let out = consolidate_locked(&drive, p.execute);
    drive.unlock();
    let (batch, executed, moves, resumed) = out?;
    let n = moves.len();
    let shown: Vec<Value> = moves
        .iter()
        .map(|m| json!({"from": drive.guest(&m.from), "to": drive.guest(&m.to), "reason": m.reason}))
        .collect();
    let mut result = json!({"batch": batch, "executed": executed, "moves": shown});
    if let Some(r) = resumed {
        result["resumed"] = json!(r);
    }
    Ok(Done::new(
        format!("{n} moves {}", if executed { "done" } else { "planned (dry run: pass {\"execute\": true})" }),
        result,
    ))
}

/// Runs the moves of a journalled batch that are not done yet (a re-run after a crash).
pub(super) fn run_moves(drive: &Drive, b: &Batch) -> Res<()> {
    for (i, m) in b.moves.iter().enumerate() {
        let (f, t) = (drive.path(&m.from), drive.path(&m.to));
        if !f.exists() && t.exists() {
            continue; // done before
        }
        if !f.exists() {
            log(Level::Warn, &format!("batch {}: {} is gone; move {} skipped", b.batch, f.display(), i + 1));
            continue;
        }
        drive.mv(&m.from, &m.to)?;
        if i + 1 < b.moves.len() {
            drive.pause();
        }
    }
    Ok(())
}

pub(super) fn consolidate_locked(drive: &Drive, execute: bool) -> Res<(String, bool, Vec<Move>, Option<String>)> {
    // finish a batch a killed run left behind
    let mut resumed = None;
    if let Some(id) = host::kv_get("open-batch")
        && let Some(mut b) = kv_json::<Batch>(&format!("batch:{id}"))
    {
        if execute {
            log(Level::Warn, &format!("finishing consolidate batch {id} left by an interrupted run"));
            run_moves(drive, &b)?;
            b.state = "done".into();
            kv_put(&format!("batch:{id}"), &b);
            host::kv_delete("open-batch");
            resumed = Some(id);
        } else {
            log(
                Level::Warn,
                &format!("consolidate batch {id} was interrupted; `consolidate {{\"execute\": true}}` finishes it"),
            );
        }
    }
    let infos = collections()?;
    let groups = duplicate_groups(drive, &infos)?;
    let t = now();
    let trash = format!("_baton_trash/{}", stamp(t));
    let mut moves = Vec::new();
    for (_, members) in &groups {
        let canonical = children(&drive.path(&members[0].0), &members[0].0, members[0].1.is_some());
        let others: Vec<Folder> = members[1..].iter().map(|(n, m)| children(&drive.path(n), n, m.is_some())).collect();
        moves.extend(plan::merge(&canonical, &others, &trash));
    }
    if moves.is_empty()
        && let Some(id) = &resumed
        && let Some(b) = kv_json::<Batch>(&format!("batch:{id}"))
    {
        return Ok((id.clone(), true, b.moves, None));
    }
    let batch = new_batch_id("consolidate");
    if !execute || moves.is_empty() {
        return Ok((batch, false, moves, resumed));
    }
    // journal first, then move
    let b = Batch {
        batch: batch.clone(),
        kind: "consolidate".into(),
        created_at: rfc3339(t),
        state: "running".into(),
        moves: moves.clone(),
        applied: vec![],
    };
    kv_put(&format!("batch:{batch}"), &b);
    host::kv_set("open-batch", &batch);
    run_moves(drive, &b)?;
    let mut b = b;
    b.state = "done".into();
    kv_put(&format!("batch:{batch}"), &b);
    host::kv_delete("open-batch");
    Ok((batch, true, moves, resumed))
}

pub(super) fn undo(_: &Ctx, p: UndoParams) -> Res<Done> {
    let drive = Drive::open()?;
    let Some(mut b) = kv_json::<Batch>(&format!("batch:{}", p.batch)) else {
        return Err(Failure::InvalidInput(format!(
            "no batch `{}` (batch ids are in the results of consolidate and accept-edits)",
            p.batch
        )));
    };
    if b.state == "undone" {
        return Err(Failure::InvalidInput(format!("batch `{}` was undone already", p.batch)));
    }
    if !drive.lock() {
        return Err(Failure::Transient(format!("undo: {SKIPPED}; try again")));
    }
    let mut restored = 0u64;
    let mut skipped = Vec::new();
    let r = (|| -> Res<()> {
        for m in b.moves.iter().rev() {
            let (f, t) = (drive.path(&m.from), drive.path(&m.to));
            if t.exists() && !f.exists() {
                drive.mv(&m.to, &m.from)?;
                restored += 1;
                // trash folders this batch made, now empty, go (they held nothing else)
                let mut up = t.parent().map(Path::to_path_buf);
                while let Some(d) = up {
                    if !d.starts_with(drive.path("_baton_trash"))
                        || d == drive.path("_baton_trash")
                        || fs::remove_dir(&d).is_err()
                    {
                        break;
                    }
                    up = d.parent().map(Path::to_path_buf);
                }
            } else {
                skipped.push(json!({"from": drive.guest(&m.from), "to": drive.guest(&m.to), "reason": if f.exists() { "the original place is taken" } else { "not found where the batch put it" }}));
            }
        }
        let _ = fs::remove_dir(drive.path("_baton_trash"));
        // accept-edits: put the catalog values back
        let mut by_coll: BTreeMap<String, BTreeMap<String, Map<String, Value>>> = BTreeMap::new();
        for a in b.applied.iter().rev() {
            by_coll
                .entry(a.collection.clone())
                .or_default()
                .entry(a.key.clone())
                .or_default()
                .insert(a.property.clone(), a.before.clone());
        }
        for (c, recs) in by_coll {
            let arr: Vec<Value> = recs.into_iter().map(|(k, props)| json!({"key": k, "props": props})).collect();
            let n = arr.len() as u64;
            catalog::upsert(&c, &Value::Array(arr).to_string())
                .map_err(|e| cat_err(&format!("undoing edits in {c}"), e))?;
            restored += n;
        }
        Ok(())
    })();
    drive.unlock();
    r?;
    b.state = "undone".into();
    kv_put(&format!("batch:{}", b.batch), &b);
    if host::kv_get("open-batch").as_deref() == Some(b.batch.as_str()) {
        host::kv_delete("open-batch");
    }
    Ok(Done::new(
        format!("batch {}: {restored} restored, {} skipped", b.batch, skipped.len()),
        json!({"batch": b.batch, "restored": restored, "skipped": skipped}),
    ))
}
