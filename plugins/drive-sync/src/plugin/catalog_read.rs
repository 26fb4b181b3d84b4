//! What sync reads of the catalog: the granted collections, their schemas and rows, and
//! the change log that says which of them changed since they were written.
use super::*;

pub(super) fn collections() -> Res<Vec<CollectionInfo>> {
    catalog::collections().map_err(|e| cat_err("catalog collections", e))
}

pub(super) fn live_props(c: &CollectionInfo) -> Vec<&catalog::Property> {
    c.properties.iter().filter(|p| !p.archived).collect()
}

pub(super) fn kind_str(k: PropertyKind) -> &'static str {
    match k {
        PropertyKind::Text => "text",
        PropertyKind::Number => "number",
        PropertyKind::Date => "date",
        PropertyKind::Bool => "bool",
        PropertyKind::Select => "select",
        PropertyKind::MultiSelect => "multi-select",
        PropertyKind::Url => "url",
        PropertyKind::Relation => "relation",
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct PropInfo {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) kind: String,
}

pub(super) fn schema_of(c: &CollectionInfo) -> Vec<PropInfo> {
    live_props(c)
        .iter()
        .map(|p| PropInfo { id: p.id.clone(), name: p.name.clone(), kind: kind_str(p.kind).into() })
        .collect()
}

/// Every record of a collection as sheet rows (key, cells in schema order), paged.
pub(super) fn rows_of(c: &CollectionInfo) -> Res<Vec<(String, Vec<String>)>> {
    let props = live_props(c);
    let mut out = Vec::with_capacity(c.records as usize);
    baton_plugin::paging::catalog_each(&c.name, "", |r| {
        let key = r.get("key").and_then(Value::as_str).unwrap_or_default().to_string();
        let empty = Map::new();
        let pr = r.get("props").and_then(Value::as_object).unwrap_or(&empty);
        let cells = props.iter().map(|p| pr.get(&p.id).map(baton_sheet::cell).unwrap_or_default()).collect();
        out.push((key, cells));
        Ok(())
    })?;
    Ok(out)
}

/// One record's cells by property id (None: no such record).
pub(super) fn record_cells(c: &str, key: &str) -> Res<Option<Map<String, Value>>> {
    let got = catalog::get(c, key, false).map_err(|e| cat_err(&format!("reading {c}/{key}"), e))?;
    Ok(got
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v.get("props").and_then(Value::as_object).cloned()))
}

/// The last change-log sequence number the plugin can see (gap-free: gallop, then bisect).
pub(super) fn last_seq() -> Res<u64> {
    last_seq_from(0)
}

/// As [`last_seq`], knowing that the log reached `known` (a sequence number this plugin saw
/// earlier): when nothing came after it, that is one call to the host, whatever the log's size.
pub(super) fn last_seq_from(known: u64) -> Res<u64> {
    let has_after = |s: u64| -> Res<bool> {
        Ok(!catalog::changes_since(s, 1).map_err(|e| cat_err("catalog changes", e))?.is_empty())
    };
    if !has_after(known)? {
        return Ok(known);
    }
    let mut lo = known; // has changes after lo
    let mut step = 1u64;
    let mut hi = known.saturating_add(step);
    while has_after(hi)? {
        lo = hi;
        step = step.saturating_mul(2);
        hi = hi.saturating_add(step);
    }
    // changes after lo, none after hi: the last seq is in (lo, hi]
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if has_after(mid)? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(hi)
}

/// Collections with changes after `since` (true: records or links came or went, which the
/// relation columns of other collections show; false: only values changed).
pub(super) fn changed_since(since: u64) -> Res<(BTreeMap<String, bool>, u64)> {
    let mut out: BTreeMap<String, bool> = BTreeMap::new();
    let mut at = since;
    loop {
        let page = catalog::changes_since(at, 10_000).map_err(|e| cat_err("catalog changes", e))?;
        let n = page.len();
        for ch in page {
            at = at.max(ch.seq);
            let links = ch.op != "update"
                || serde_json::from_str::<Value>(&ch.detail).ok().is_none_or(|d| match &d["links"] {
                    Value::Null => false,
                    Value::Object(m) => !m.is_empty(),
                    Value::Array(a) => !a.is_empty(),
                    _ => true,
                });
            *out.entry(ch.collection).or_default() |= links;
        }
        if n < 10_000 {
            return Ok((out, at));
        }
    }
}
