//! `sync`: each collection's folder found (by its marker) or made, and its sheet rewritten
//! when the catalog or the schema changed, keeping a person's edits and removed columns in
//! `_archive/` first.
use super::*;

pub(super) fn skipped_sync() -> Value {
    json!({"skipped": SKIPPED, "collections": [], "duplicates_found": 0, "edits_found": 0})
}

pub(super) fn pick(all: Vec<CollectionInfo>, wanted: &Option<Vec<String>>) -> Res<Vec<CollectionInfo>> {
    let Some(w) = wanted else { return Ok(all) };
    for n in w {
        if !all.iter().any(|c| &c.name == n) {
            let known: Vec<&str> = all.iter().map(|c| c.name.as_str()).collect();
            return Err(Failure::InvalidInput(format!(
                "collection `{n}` is not granted to drive-sync (granted: {}); add it to [plugins.drive-sync] catalog = {{ read = [...] }}",
                known.join(", ")
            )));
        }
    }
    Ok(all.into_iter().filter(|c| w.contains(&c.name)).collect())
}

pub(super) fn sync(_: &Ctx, p: SyncParams) -> Res<Done> {
    let drive = Drive::open()?;
    // Lock first: nothing below looks at the tree before the lock is held.
    if !drive.lock() {
        return Ok(Done::new(format!("skipped: {SKIPPED}"), skipped_sync()));
    }
    let out = sync_locked(&drive, &p);
    drive.unlock();
    out
}

pub(super) fn sync_locked(drive: &Drive, p: &SyncParams) -> Res<Done> {
    if p.consolidate_first {
        consolidate_locked(drive, true)?;
    }
    fs::create_dir_all(&drive.root).map_err(io(drive.root.display()))?;
    let all = collections()?;
    let infos = pick(all.clone(), &p.collections)?;
    let states: HashMap<String, ColState> =
        infos.iter().filter_map(|c| state(&c.name).map(|s| (c.name.clone(), s))).collect();
    // The change log says which collections changed since each was written. A collection
    // without a state is written anyway, so only those with one ask; when nothing came after
    // the oldest of them, finding that out is one call.
    let since = infos.iter().filter_map(|c| states.get(&c.name).map(|s| s.seq)).min();
    let last = last_seq_from(since.unwrap_or(0))?;
    let changed = match since {
        Some(since) if since < last => changed_since(since)?.0,
        _ => BTreeMap::new(),
    };
    let mut run = Run {
        drive,
        last,
        changed,
        folders: top_folders(&drive.root)?,
        results: Vec::new(),
        edits_found: 0,
        artifacts: Vec::new(),
    };
    let total = infos.len() as u64;
    host::progress(0, total, "syncing collections");
    for (i, c) in infos.iter().enumerate() {
        if run.collection(c, states.get(&c.name))? {
            host::progress(i as u64 + 1, total, &c.name);
        }
    }
    let dups = duplicate_groups(drive, &all)?.len() as u64;
    if dups > 0 {
        log(
            Level::Warn,
            &format!("{dups} duplicate folder groups; run `check`, then `consolidate {{\"execute\": true}}`"),
        );
    }
    let Run { results, edits_found, artifacts, .. } = run;
    let written = results.iter().filter(|r| r["written"] == true).count();
    Ok(Done::new(
        format!(
            "{} collections, {written} written, {dups} duplicate groups, {edits_found} edited sheets",
            results.len()
        ),
        json!({"skipped": null, "collections": results, "duplicates_found": dups, "edits_found": edits_found}),
    )
    .with_artifacts(artifacts))
}

/// One sync run under the lock: what the change log said, the tree's top folders (kept up
/// to date as folders are made and renamed), and what the run reports.
struct Run<'a> {
    drive: &'a Drive,
    /// The change log's last seq: every state written by this run is current up to it.
    last: u64,
    /// Collections changed since the oldest state (true: records, not only links).
    changed: BTreeMap<String, bool>,
    folders: Vec<(String, Option<Marker>)>,
    results: Vec<Value>,
    edits_found: u64,
    artifacts: Vec<String>,
}

/// A collection's sheet as it is on disk, read only when its stat differs from the one baton
/// recorded when it wrote it.
struct OnDisk {
    meta: Option<fs::Metadata>,
    /// Size and mtime are those baton recorded: the sheet is the one it wrote.
    stat_same: bool,
    /// Its bytes, when it exists and its stat changed.
    bytes: Option<Vec<u8>>,
    sha: Option<String>,
}

impl OnDisk {
    fn look(path: &Path, st: Option<&ColState>) -> OnDisk {
        let meta = fs::metadata(path).ok();
        let stat_same = matches!((st, &meta), (Some(s), Some(m)) if !s.mtime.is_empty() && s.size == m.len() && s.mtime == mtime_of(m));
        let bytes: Option<Vec<u8>> = if meta.is_none() || stat_same { None } else { fs::read(path).ok() };
        let sha = if stat_same { st.map(|s| s.sha.clone()) } else { bytes.as_deref().map(sha256_hex) };
        OnDisk { meta, stat_same, bytes, sha }
    }

    fn mtime(&self) -> String {
        self.meta.as_ref().map(mtime_of).unwrap_or_default()
    }
}

impl Run<'_> {
    /// A relation column shows keys of its target: links or records changing there rewrite
    /// this sheet too.
    fn touched(&self, c: &CollectionInfo, seq: u64) -> bool {
        seq < self.last
            && (self.changed.contains_key(&c.name)
                || c.properties
                    .iter()
                    .any(|p| p.target.as_ref().is_some_and(|t| self.changed.get(t).copied().unwrap_or(false))))
    }

    /// Syncs one collection; true when its sheet was written.
    fn collection(&mut self, c: &CollectionInfo, st: Option<&ColState>) -> Res<bool> {
        let drive = self.drive;
        let display = drive.display(&c.name);
        let schema = schema_of(c);
        let folder = self.folder_of(c, &display, &schema)?;
        let sheet_name = format!("{display}.csv");
        let sheet_rel = format!("{folder}/{sheet_name}");
        // the sheet baton wrote last may carry another name (renamed collection)
        if let Some(st) = st
            && st.sheet != sheet_name
            && drive.path(&format!("{folder}/{}", st.sheet)).is_file()
            && !drive.path(&sheet_rel).exists()
        {
            drive.mv(&format!("{folder}/{}", st.sheet), &sheet_rel)?;
        }
        let sheet_path = drive.path(&sheet_rel);
        let disk = OnDisk::look(&sheet_path, st);
        // a person's edits: kept in _archive/ once, recorded for accept-edits
        if let (Some(st), Some(bytes), Some(sha)) = (st, disk.bytes.as_deref(), disk.sha.as_ref())
            && *sha != st.sha
        {
            self.keep_edits(c, st, &sheet_name, &sheet_rel, bytes, sha)?;
        }
        let schema_changed = st.is_none_or(|s| s.schema != schema);
        let missing = disk.meta.is_none() || !drive.path(&format!("{folder}/schema.json")).is_file();
        let moved = st.is_some_and(|s| s.folder != folder || s.sheet != sheet_name);
        let dirty = st.is_none()
            || c.read_only
            || schema_changed
            || missing
            || moved
            || self.touched(c, st.map_or(0, |s| s.seq));
        if !dirty {
            self.results.push(json!({"name": c.name, "folder": drive.guest(&folder), "rows": st.map_or(0, |s| s.rows), "written": false}));
            if let Some(s) = st {
                self.note_unchanged(c, s, &disk);
            }
            return Ok(false);
        }
        let rows = rows_of(c)?;
        let columns: Vec<String> = schema.iter().map(|p| p.name.clone()).collect();
        let nrows = rows.len() as u64;
        let bytes = baton_sheet::write_sheet(&columns, rows)
            .map_err(|e| Failure::Permanent(format!("writing the {} sheet: {e}", c.name)))?;
        let sha = sha256_hex(&bytes);
        let same = disk.sha.as_deref() == Some(sha.as_str()) && st.is_some_and(|s| s.sha == sha && s.schema == schema);
        if same && !missing {
            let mut s = st.cloned().unwrap_or_else(empty_state);
            s.seq = self.last;
            s.folder = folder.clone();
            s.sheet = sheet_name.clone();
            s.mtime = disk.mtime();
            kv_put(&format!("state:{}", c.name), &s);
            self.results.push(json!({"name": c.name, "folder": drive.guest(&folder), "rows": nrows, "written": false}));
            return Ok(false);
        }
        if let Some(st) = st {
            self.archive_removed_columns(c, st, &schema, &disk, &sheet_path)?;
        }
        // an edited sheet about to be replaced was archived above; a sheet baton never wrote
        // (a plain folder adopted, or one merged in by a consolidate) is kept there too
        if st.is_none()
            && let Some(old) = disk.bytes.as_deref()
            && old != bytes.as_slice()
        {
            self.archive_replaced(c, &sheet_name, &sheet_rel, old)?;
        }
        drive.write_atomic(
            &format!("{folder}/schema.json"),
            &serde_json::to_vec_pretty(&json!({"collection": c.name, "properties": schema})).unwrap_or_default(),
        )?;
        drive.write_atomic(&sheet_rel, &bytes)?;
        let (mode, chunks) = store_base(&c.name, &bytes, st.map_or(0, |s| s.chunks), drive.settings.copy_max_bytes);
        let new_state = ColState {
            folder: folder.clone(),
            sheet: sheet_name,
            seq: self.last,
            sha,
            size: bytes.len() as u64,
            rows: nrows,
            schema,
            base: mode,
            chunks,
            written_at: rfc3339(now()),
            mtime: fs::metadata(&sheet_path).map(|m| mtime_of(&m)).unwrap_or_default(),
        };
        kv_put(&format!("state:{}", c.name), &new_state);
        self.results.push(json!({"name": c.name, "folder": drive.guest(&folder), "rows": nrows, "written": true}));
        Ok(true)
    }

    /// The collection's folder: the one its marker names (the first-written one when there
    /// are several), else a plain folder of its display name adopted, else a new one; renamed
    /// to the display name when the collection was renamed and that name is free.
    fn folder_of(&mut self, c: &CollectionInfo, display: &str, schema: &[PropInfo]) -> Res<String> {
        let drive = self.drive;
        let mut mine: Vec<(String, Option<Marker>)> =
            self.folders.iter().filter(|(_, m)| m.as_ref().is_some_and(|m| m.collection == c.name)).cloned().collect();
        canonical_order(&mut mine);
        let mut folder = match mine.first() {
            Some((name, _)) => name.clone(),
            None => {
                let marker = Marker {
                    collection: c.name.clone(),
                    schema_ids: schema.iter().map(|p| p.id.clone()).collect(),
                    created_at: rfc3339(now()),
                };
                let bytes = serde_json::to_vec_pretty(&marker).unwrap_or_default();
                if drive.path(display).is_dir() {
                    drive.write_atomic(&format!("{display}/{MARKER}"), &bytes)?;
                } else {
                    // built under a temporary name, then renamed: never a folder without a marker
                    let tmp = format!(".{display}.tmp");
                    let _ = fs::create_dir_all(drive.path(&tmp));
                    drive.write_atomic(&format!("{tmp}/{MARKER}"), &bytes)?;
                    drive.mv(&tmp, display)?;
                }
                self.folders.push((display.to_string(), Some(marker)));
                display.to_string()
            }
        };
        if folder != display && !drive.path(display).exists() && !mine.is_empty() {
            drive.mv(&folder, display)?;
            for f in self.folders.iter_mut() {
                if f.0 == folder {
                    f.0 = display.to_string();
                }
            }
            folder = display.to_string();
        }
        Ok(folder)
    }

    /// A sheet a person edited since baton wrote it (`sha` differs from the state's): the
    /// edited cells are recorded for accept-edits and the sheet kept in `_archive/`, once per
    /// version of it.
    fn keep_edits(
        &mut self,
        c: &CollectionInfo,
        st: &ColState,
        sheet_name: &str,
        sheet_rel: &str,
        bytes: &[u8],
        sha: &String,
    ) -> Res<()> {
        let drive = self.drive;
        let mut pending: Pending = kv_json(&format!("edits:{}", c.name)).unwrap_or_default();
        let d = find_edits(c, st, bytes)?;
        if !d.is_empty() {
            self.edits_found += 1;
        }
        if pending.archived.contains(sha) {
            return Ok(());
        }
        if !d.is_empty() {
            let (stem, ext) = names::split_ext(sheet_name);
            let arch = format!("_archive/{}/{stem}__edited__{}{ext}", c.name, stamp(now()));
            let arch = unique(drive, &arch);
            drive.write_atomic(&arch, bytes)?;
            log(
                Level::Warn,
                &format!(
                    "{}: {} cells in {} records edited in {}; kept as {}",
                    c.name,
                    d.cells.len(),
                    d.records(),
                    drive.guest(sheet_rel),
                    drive.guest(&arch)
                ),
            );
            pending.copies.push(arch.clone());
            pending.edits.retain(|e| !d.cells.iter().any(|n| n.key == e.key && n.column == e.column));
            pending.edits.extend(d.cells);
            self.artifacts.push(drive.guest(&arch));
        }
        pending.archived.push(sha.clone());
        kv_put(&format!("edits:{}", c.name), &pending);
        Ok(())
    }

    /// A collection with nothing to write: its state is brought up to the change log's seq,
    /// and to the sheet's new stat when only that changed (same bytes), so the next sync
    /// reads nothing.
    fn note_unchanged(&self, c: &CollectionInfo, s: &ColState, disk: &OnDisk) {
        let restat = !disk.stat_same && disk.sha.as_deref() == Some(s.sha.as_str());
        if s.seq < self.last || restat {
            let mut s = s.clone();
            s.seq = self.last;
            if restat {
                s.mtime = disk.mtime();
            }
            kv_put(&format!("state:{}", c.name), &s);
        }
    }

    /// Removed properties: their column (key and value) is kept in `_archive/` before the
    /// sheet is rewritten without it.
    fn archive_removed_columns(
        &mut self,
        c: &CollectionInfo,
        st: &ColState,
        schema: &[PropInfo],
        disk: &OnDisk,
        sheet_path: &Path,
    ) -> Res<()> {
        let drive = self.drive;
        let removed: Vec<&PropInfo> = st.schema.iter().filter(|o| !schema.iter().any(|n| n.id == o.id)).collect();
        if removed.is_empty() {
            return Ok(());
        }
        let old_bytes = disk.bytes.clone().or_else(|| fs::read(sheet_path).ok());
        let old_sheet = old_bytes.as_deref().and_then(|b| baton_sheet::read_sheet(b).ok());
        for prop in removed {
            let mut rows_out = Vec::new();
            if let Some(s) = &old_sheet
                && let (Some(k), Some(col)) = (s.key_column(), s.column(&prop.name))
            {
                for r in &s.rows {
                    rows_out
                        .push((r.get(k).cloned().unwrap_or_default(), vec![r.get(col).cloned().unwrap_or_default()]));
                }
            }
            let arch = unique(drive, &format!("_archive/{}/{}__{}.csv", c.name, prop.id, stamp(now())));
            let col = baton_sheet::write_sheet(std::slice::from_ref(&prop.name), rows_out)
                .map_err(|e| Failure::Permanent(format!("archiving {}.{}: {e}", c.name, prop.id)))?;
            drive.write_atomic(&arch, &col)?;
            log(
                Level::Info,
                &format!("{}: property `{}` removed; its column is kept in {}", c.name, prop.id, drive.guest(&arch)),
            );
            self.artifacts.push(drive.guest(&arch));
        }
        Ok(())
    }

    /// A sheet baton never wrote, about to be replaced: kept in `_archive/` first.
    fn archive_replaced(&mut self, c: &CollectionInfo, sheet_name: &str, sheet_rel: &str, old: &[u8]) -> Res<()> {
        let drive = self.drive;
        let (stem, ext) = names::split_ext(sheet_name);
        let arch = unique(drive, &format!("_archive/{}/{stem}__replaced__{}{ext}", c.name, stamp(now())));
        drive.write_atomic(&arch, old)?;
        log(
            Level::Warn,
            &format!(
                "{}: {} was not written by baton; kept as {} before writing the sheet",
                c.name,
                drive.guest(sheet_rel),
                drive.guest(&arch)
            ),
        );
        self.artifacts.push(drive.guest(&arch));
        Ok(())
    }
}

pub(super) fn empty_state() -> ColState {
    ColState {
        folder: String::new(),
        sheet: String::new(),
        seq: 0,
        sha: String::new(),
        size: 0,
        rows: 0,
        schema: vec![],
        base: "copy".into(),
        chunks: 0,
        written_at: String::new(),
        mtime: String::new(),
    }
}

/// `rel`, or `rel` with ` 2`, ` 3`, … before its extension when it exists.
pub(super) fn unique(drive: &Drive, rel: &str) -> String {
    if !drive.path(rel).exists() {
        return rel.to_string();
    }
    let (stem, ext) = names::split_ext(rel);
    (2..).map(|n| format!("{stem} {n}{ext}")).find(|r| !drive.path(r).exists()).unwrap_or_else(|| rel.to_string())
}
