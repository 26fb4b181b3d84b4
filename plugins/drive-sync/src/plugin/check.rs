//! `check`: read-only report of duplicate folders, sync-conflict copies, twins, schema drift
//! and edited sheets.
use super::*;

pub(super) fn check(_: &Ctx, _: CheckParams) -> Res<Done> {
    let drive = Drive::open()?;
    if !drive.lock() {
        return Err(Failure::Transient(format!("check: {SKIPPED}; try again")));
    }
    let out = check_locked(&drive);
    drive.unlock();
    out
}

pub(super) fn check_locked(drive: &Drive) -> Res<Done> {
    let infos = collections()?;
    let groups = duplicate_groups(drive, &infos)?;
    let duplicates: Vec<Value> = groups
        .iter()
        .map(|(c, members)| json!({"collection": c, "folders": members.iter().map(|(n, _)| drive.guest(n)).collect::<Vec<_>>(), "canonical": drive.guest(&members[0].0)}))
        .collect();
    // conflict copies and case/Unicode twins, in the root and one level down
    let mut conflicts: Vec<String> = Vec::new();
    let mut scan = |dir: &Path, rel: &str| {
        let names_here: Vec<String> = fs::read_dir(dir)
            .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        let join = |n: &str| if rel.is_empty() { n.to_string() } else { format!("{rel}/{n}") };
        for n in &names_here {
            // `a.sync-conflict-….csv`, `a (conflicted copy …).csv`, and a file `a (1).csv` beside `a.csv`
            let numbered =
                numbered_sibling(n).is_some_and(|(base, _)| names_here.contains(&base) && dir.join(n).is_file());
            if conflict_copy_of(n).is_some() || numbered {
                conflicts.push(drive.guest(&join(n)));
            }
        }
        for group in folding_conflicts(names_here.iter().map(String::as_str)) {
            for n in group {
                conflicts.push(drive.guest(&join(&n)));
            }
        }
    };
    scan(&drive.root, "");
    let folders = top_folders(&drive.root)?;
    for (name, _) in &folders {
        scan(&drive.path(name), name);
    }
    conflicts.sort();
    conflicts.dedup();
    let mut drift = Vec::new();
    let mut edited = Vec::new();
    for c in &infos {
        let mut mine: Vec<(String, Option<Marker>)> =
            folders.iter().filter(|(_, m)| m.as_ref().is_some_and(|m| m.collection == c.name)).cloned().collect();
        canonical_order(&mut mine);
        let Some((folder, _)) = mine.into_iter().next() else { continue };
        let schema = schema_of(c);
        if let Ok(b) = fs::read(drive.path(&format!("{folder}/schema.json")))
            && let Ok(v) = serde_json::from_slice::<Value>(&b)
        {
            let disk: Vec<PropInfo> = serde_json::from_value(v["properties"].clone()).unwrap_or_default();
            let added: Vec<&str> =
                schema.iter().filter(|p| !disk.iter().any(|d| d.id == p.id)).map(|p| p.id.as_str()).collect();
            let removed: Vec<&str> =
                disk.iter().filter(|d| !schema.iter().any(|p| p.id == d.id)).map(|d| d.id.as_str()).collect();
            let renamed: Vec<Value> = disk
                .iter()
                .filter_map(|d| {
                    schema
                        .iter()
                        .find(|p| p.id == d.id && p.name != d.name)
                        .map(|p| json!({"id": p.id, "from": d.name, "to": p.name}))
                })
                .collect();
            if !(added.is_empty() && removed.is_empty() && renamed.is_empty()) {
                drift.push(json!({"collection": c.name, "schema": drive.guest(&format!("{folder}/schema.json")), "added": added, "removed": removed, "renamed": renamed}));
            }
        }
        if let Some(st) = state(&c.name) {
            let rel = format!("{folder}/{}", st.sheet);
            if let Ok(bytes) = fs::read(drive.path(&rel))
                && sha256_hex(&bytes) != st.sha
            {
                let d = find_edits(c, &st, &bytes)?;
                if !d.is_empty() {
                    edited.push(json!({
                        "collection": c.name, "sheet": drive.guest(&rel), "records": d.records(), "cells": d.cells.len(),
                        "changes": d.cells.iter().take(100).map(|e| json!({"key": e.key, "property": e.column, "old": e.old, "new": e.new})).collect::<Vec<_>>(),
                        "added_rows": d.added_rows, "removed_rows": d.removed_rows,
                    }));
                }
            }
        }
    }
    let summary = format!(
        "{} duplicate groups, {} conflict copies, {} schema drifts, {} edited sheets",
        duplicates.len(),
        conflicts.len(),
        drift.len(),
        edited.len()
    );
    Ok(Done::new(
        summary,
        json!({"duplicates": duplicates, "conflict_copies": conflicts, "schema_drift": drift, "edited": edited}),
    ))
}
