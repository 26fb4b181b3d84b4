//! `accept-edits`: cells a person edited in a sheet, written back into the catalog; conflicts
//! and relation edits are reported, never applied.
use super::*;

pub(super) fn accept_edits(_: &Ctx, p: ExecParams) -> Res<Done> {
    let drive = Drive::open()?;
    if !drive.lock() {
        return Err(Failure::Transient(format!("accept-edits: {SKIPPED}; try again")));
    }
    let out = accept_locked(&drive, p.execute);
    drive.unlock();
    out
}

/// A sheet cell as the catalog value of its property kind.
pub(super) fn parse_cell(kind: PropertyKind, integer: bool, raw: &str) -> Result<Value, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(Value::Null);
    }
    match kind {
        PropertyKind::Number => {
            if let Ok(i) = raw.parse::<i64>() {
                return Ok(Value::from(i));
            }
            if integer {
                return Err(format!("`{raw}` is not a whole number"));
            }
            let f: f64 = raw.parse().map_err(|_| format!("`{raw}` is not a number"))?;
            serde_json::Number::from_f64(f).map(Value::Number).ok_or_else(|| format!("`{raw}` is not a finite number"))
        }
        _ => Ok(Value::String(raw.to_string())),
    }
}

pub(super) fn accept_locked(drive: &Drive, execute: bool) -> Res<Done> {
    let infos = collections()?;
    let mut applied_out = Vec::new();
    let mut conflicts = Vec::new();
    let mut refused = Vec::new();
    let mut journal = Vec::new();
    let mut writes: BTreeMap<String, BTreeMap<String, Map<String, Value>>> = BTreeMap::new();
    for c in &infos {
        let Some(st) = state(&c.name) else { continue };
        let mut pending: Pending = kv_json(&format!("edits:{}", c.name)).unwrap_or_default();
        // the live sheet's edits (newest) override pending ones of the same cell
        let rel = format!("{}/{}", st.folder, st.sheet);
        let mut all: Vec<(CellEdit, String)> = pending
            .edits
            .iter()
            .map(|e| (e.clone(), pending.copies.last().map(|c| drive.guest(c)).unwrap_or_default()))
            .collect();
        if let Ok(bytes) = fs::read(drive.path(&rel))
            && sha256_hex(&bytes) != st.sha
        {
            for e in find_edits(c, &st, &bytes)?.cells {
                all.retain(|(o, _)| !(o.key == e.key && o.column == e.column));
                all.push((e, drive.guest(&rel)));
            }
        }
        // edits that exist only in a sync-conflict copy are refused
        let folder_names: Vec<String> = fs::read_dir(drive.path(&st.folder))
            .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        for n in folder_names {
            if conflict_copy_of(&n).as_deref() == Some(st.sheet.as_str())
                && let Ok(bytes) = fs::read(drive.path(&format!("{}/{n}", st.folder)))
            {
                for e in find_edits(c, &st, &bytes)?.cells {
                    if !all.iter().any(|(o, _)| o.key == e.key && o.column == e.column) {
                        refused.push(json!({"cell": {"collection": c.name, "key": e.key, "property": e.column, "value": e.new, "sheet": drive.guest(&format!("{}/{n}", st.folder))}, "reason": "found only in a sync-conflict copy; copy it into the sheet to accept it"}));
                    }
                }
            }
        }
        let props = live_props(c);
        let mut records: HashMap<String, Option<Map<String, Value>>> = HashMap::new();
        for (e, sheet) in all {
            let cell =
                json!({"collection": c.name, "key": e.key, "property": e.column, "value": e.new, "sheet": sheet});
            let Some(p) = props.iter().find(|p| p.name == e.column) else {
                refused.push(
                    json!({"cell": cell, "reason": format!("`{}` is not a property of {} now", e.column, c.name)}),
                );
                continue;
            };
            if c.read_only {
                refused.push(json!({"cell": cell, "reason": format!("{} is read-only", c.name)}));
                continue;
            }
            if !matches!(p.kind, PropertyKind::Text | PropertyKind::Number | PropertyKind::Date | PropertyKind::Select)
            {
                let why = if p.kind == PropertyKind::Relation {
                    "relation edits are refused; link by hand with `baton catalog link`".to_string()
                } else {
                    format!(
                        "{} properties are not accepted from the sheet (text, number, date and select are)",
                        kind_str(p.kind)
                    )
                };
                refused.push(json!({"cell": cell, "reason": why}));
                continue;
            }
            if !records.contains_key(&e.key) {
                records.insert(e.key.clone(), record_cells(&c.name, &e.key)?);
            }
            let Some(rec) = records[&e.key].as_ref() else {
                refused.push(json!({"cell": cell, "reason": format!("no record `{}` in {} (rows are not created from the sheet)", e.key, c.name)}));
                continue;
            };
            let current = rec.get(&p.id).cloned().unwrap_or(Value::Null);
            let now_cell = baton_sheet::cell(&current);
            if now_cell == e.new {
                continue; // the catalog has it already
            }
            // changed in the catalog too since baton wrote the sheet: a conflict
            let base_known = e.old.as_deref();
            if base_known.is_some_and(|o| o != now_cell) || base_known.is_none() && st.seq < last_seq_cached() {
                conflicts.push(json!({"cell": cell, "sheet_value": e.new, "catalog_value": now_cell, "base_value": e.old, "reason": "changed in the sheet and in the catalog since the last sync"}));
                continue;
            }
            let v = match parse_cell(p.kind, p.integer, &e.new) {
                Ok(v) => v,
                Err(m) => {
                    refused.push(json!({"cell": cell, "reason": m}));
                    continue;
                }
            };
            writes.entry(c.name.clone()).or_default().entry(e.key.clone()).or_default().insert(p.id.clone(), v.clone());
            journal.push(Applied {
                collection: c.name.clone(),
                key: e.key.clone(),
                property: p.id.clone(),
                before: current,
                after: v,
            });
            applied_out.push(json!({"collection": c.name, "key": e.key, "property": p.id, "column": e.column, "from": now_cell, "to": e.new, "sheet": sheet}));
        }
        if execute {
            // what was applied is done; conflicts and refusals stay pending (and reported)
            pending.edits.retain(|e| {
                !applied_out.iter().any(|a| {
                    a["collection"] == c.name.as_str() && a["key"] == e.key.as_str() && a["column"] == e.column.as_str()
                })
            });
            kv_put(&format!("edits:{}", c.name), &pending);
        }
    }
    let batch = new_batch_id("accept-edits");
    if execute && !journal.is_empty() {
        let b = Batch {
            batch: batch.clone(),
            kind: "accept-edits".into(),
            created_at: rfc3339(now()),
            state: "running".into(),
            moves: vec![],
            applied: journal,
        };
        kv_put(&format!("batch:{batch}"), &b);
        for (c, recs) in writes {
            let arr: Vec<Value> = recs.into_iter().map(|(k, props)| json!({"key": k, "props": props})).collect();
            catalog::upsert(&c, &Value::Array(arr).to_string())
                .map_err(|e| cat_err(&format!("applying edits to {c}"), e))?;
        }
        let mut b = b;
        b.state = "done".into();
        kv_put(&format!("batch:{batch}"), &b);
    }
    let executed = execute && !applied_out.is_empty();
    Ok(Done::new(
        format!(
            "{} edits {}, {} conflicts, {} refused",
            applied_out.len(),
            if executed { "applied" } else { "to apply (dry run: pass {\"execute\": true})" },
            conflicts.len(),
            refused.len()
        ),
        json!({"batch": batch, "executed": executed, "applied": applied_out, "conflicts": conflicts, "refused": refused}),
    ))
}

thread_local! {
    static LAST_SEQ: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
}

pub(super) fn last_seq_cached() -> u64 {
    LAST_SEQ.with(|c| {
        if let Some(v) = c.get() {
            return v;
        }
        let v = last_seq().unwrap_or(u64::MAX);
        c.set(Some(v));
        v
    })
}
