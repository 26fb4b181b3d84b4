//! What baton remembers per collection in kv (folder, sheet, sha, schema, the base copy of
//! the sheet it wrote), and the edits a person made to a sheet since then.
use super::*;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ColState {
    pub(super) folder: String,
    pub(super) sheet: String,
    pub(super) seq: u64,
    pub(super) sha: String,
    pub(super) size: u64,
    pub(super) rows: u64,
    pub(super) schema: Vec<PropInfo>,
    /// `copy`: the sheet in `chunks` kv values; `hashes`: per-cell hashes.
    pub(super) base: String,
    pub(super) chunks: u32,
    pub(super) written_at: String,
    /// The sheet's modification time (ns since the epoch) after baton wrote it: with `size`,
    /// an unchanged stat means an unchanged sheet, so a sync with nothing to do reads no sheet.
    #[serde(default)]
    pub(super) mtime: String,
}

pub(super) fn mtime_of(m: &fs::Metadata) -> String {
    m.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos().to_string())
        .unwrap_or_default()
}

pub(super) fn kv_json<T: for<'de> Deserialize<'de>>(key: &str) -> Option<T> {
    host::kv_get(key).and_then(|t| serde_json::from_str(&t).ok())
}

pub(super) fn kv_put<T: Serialize>(key: &str, v: &T) {
    host::kv_set(key, &serde_json::to_string(v).unwrap_or_default());
}

pub(super) fn state(c: &str) -> Option<ColState> {
    kv_json(&format!("state:{c}"))
}

pub(super) fn store_base(c: &str, bytes: &[u8], old_chunks: u32, copy_max: usize) -> (String, u32) {
    let (mode, text) = if bytes.len() <= copy_max {
        ("copy", String::from_utf8_lossy(bytes).into_owned())
    } else {
        log(
            Level::Info,
            &format!("{c}: sheet of {} bytes is over the kv copy limit; keeping per-cell hashes", bytes.len()),
        );
        // parsed only here: a sheet kept as a copy is parsed when it is compared
        let sheet = baton_sheet::read_sheet(bytes).unwrap_or_default();
        ("hashes", Base::of(&sheet, false).hashes_text())
    };
    let n = kv::put_chunks(&mut kv::Host, &format!("base:{c}"), &text, old_chunks, kv::CHUNK);
    (mode.into(), n)
}

pub(super) fn load_base(c: &str, st: &ColState) -> Option<Base> {
    let text = kv::get_chunks(&mut kv::Host, &format!("base:{c}"), st.chunks)?;
    if st.base == "hashes" {
        Base::from_hashes_text(&text)
    } else {
        baton_sheet::read_sheet(text.as_bytes()).ok().map(|s| Base::of(&s, true))
    }
}

/// Pending edits of a collection: found, archived, not yet accepted.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct Pending {
    /// sha256 of each edited sheet already archived (so it is archived once).
    pub(super) archived: Vec<String>,
    /// Where the edited sheets were kept.
    pub(super) copies: Vec<String>,
    pub(super) edits: Vec<CellEdit>,
}

/// The edits a person made to a sheet, compared with the base and kept only where the sheet
/// also differs from the catalog now (an edit the catalog already has is no edit).
pub(super) fn find_edits(c: &CollectionInfo, st: &ColState, sheet_bytes: &[u8]) -> Res<edits::Diff> {
    let Some(base) = load_base(&c.name, st) else { return Ok(edits::Diff::default()) };
    let sheet = match baton_sheet::read_sheet(sheet_bytes) {
        Ok(s) => s,
        Err(e) => {
            log(Level::Warn, &format!("{}: the sheet does not parse as CSV ({e}); kept as it is", c.name));
            return Ok(edits::Diff::default());
        }
    };
    let mut d = edits::diff(&sheet, &base);
    if d.cells.len() <= 10_000 {
        let by_name: HashMap<&str, &str> = live_props(c).iter().map(|p| (p.name.as_str(), p.id.as_str())).collect();
        let mut cache: HashMap<String, Option<Map<String, Value>>> = HashMap::new();
        let mut keep = Vec::new();
        for e in d.cells {
            if !cache.contains_key(&e.key) {
                cache.insert(e.key.clone(), record_cells(&c.name, &e.key)?);
            }
            let now = cache[&e.key]
                .as_ref()
                .and_then(|m| by_name.get(e.column.as_str()).and_then(|id| m.get(*id)))
                .map(baton_sheet::cell);
            if now.as_deref() != Some(e.new.as_str()) {
                keep.push(e);
            }
        }
        d.cells = keep;
    }
    Ok(d)
}
