//! A person's edits: the cells of a sheet that differ from the copy baton last wrote.
//!
//! Pure, unit-tested natively. The copy ("base") is the CSV baton wrote, or, for a sheet too
//! big to keep in the plugin's kv store, one 64-bit hash per cell: then an edit is still found
//! per record and property, but its old value is not known.
use std::collections::HashMap;

use baton_sheet::Sheet;
use serde::{Deserialize, Serialize};

/// Sheets up to this size keep a full copy in kv; bigger ones keep per-cell hashes.
/// (The kv quota is 64 MiB per plugin by default, at most 1 MiB per value.)
pub const FULL_COPY_MAX: usize = 24 << 20;

/// FNV-1a, 64 bits: a cell's fingerprint in hash mode.
pub fn cell_hash(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// What baton last wrote, per record: its cells in header order (key column excluded).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Base {
    pub header: Vec<String>,
    pub rows: HashMap<String, Vec<BaseCell>>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum BaseCell {
    Value(String),
    Hash(u64),
}

impl BaseCell {
    pub fn matches(&self, s: &str) -> bool {
        match self {
            BaseCell::Value(v) => v == s,
            BaseCell::Hash(h) => *h == cell_hash(s),
        }
    }

    pub fn value(&self) -> Option<&str> {
        match self {
            BaseCell::Value(v) => Some(v),
            BaseCell::Hash(_) => None,
        }
    }
}

/// One edited cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CellEdit {
    pub key: String,
    /// The column's display name in the sheet.
    pub column: String,
    /// What baton wrote; none when only its hash was kept.
    pub old: Option<String>,
    pub new: String,
}

/// Rows a person added or removed, by key.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Diff {
    pub cells: Vec<CellEdit>,
    pub added_rows: Vec<String>,
    pub removed_rows: Vec<String>,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty() && self.added_rows.is_empty() && self.removed_rows.is_empty()
    }

    /// Distinct records touched.
    pub fn records(&self) -> usize {
        let mut keys: Vec<&str> = self.cells.iter().map(|c| c.key.as_str()).collect();
        keys.extend(self.added_rows.iter().map(String::as_str));
        keys.extend(self.removed_rows.iter().map(String::as_str));
        keys.sort_unstable();
        keys.dedup();
        keys.len()
    }
}

impl Base {
    /// The base of a sheet baton wrote (as read back), in full or as hashes.
    pub fn of(sheet: &Sheet, full: bool) -> Base {
        let k = sheet.key_column().unwrap_or(0);
        let header: Vec<String> =
            sheet.header.iter().enumerate().filter(|(i, _)| *i != k).map(|(_, h)| h.clone()).collect();
        let mut rows = HashMap::with_capacity(sheet.rows.len());
        for r in &sheet.rows {
            let Some(key) = r.get(k) else { continue };
            let cells = r
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != k)
                .map(|(_, c)| if full { BaseCell::Value(c.clone()) } else { BaseCell::Hash(cell_hash(c)) })
                .collect();
            rows.insert(key.clone(), cells);
        }
        Base { header, rows }
    }

    /// Hash mode as text: the header as one JSON line, then `key\thash hash …` per record.
    pub fn hashes_text(&self) -> String {
        let mut out = serde_json::to_string(&self.header).unwrap_or_default();
        out.push('\n');
        let mut keys: Vec<&String> = self.rows.keys().collect();
        keys.sort();
        for k in keys {
            out.push_str(&k.replace(['\t', '\n'], " "));
            out.push('\t');
            let hs: Vec<String> = self.rows[k]
                .iter()
                .map(|c| match c {
                    BaseCell::Hash(h) => format!("{h:016x}"),
                    BaseCell::Value(v) => format!("{:016x}", cell_hash(v)),
                })
                .collect();
            out.push_str(&hs.join(" "));
            out.push('\n');
        }
        out
    }

    pub fn from_hashes_text(text: &str) -> Option<Base> {
        let mut lines = text.lines();
        let header: Vec<String> = serde_json::from_str(lines.next()?).ok()?;
        let mut rows = HashMap::new();
        for l in lines {
            let (k, hs) = l.split_once('\t')?;
            let cells = hs
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(|h| u64::from_str_radix(h, 16).map(BaseCell::Hash).ok())
                .collect::<Option<Vec<_>>>()?;
            rows.insert(k.to_string(), cells);
        }
        Some(Base { header, rows })
    }
}

/// The cells of `sheet` that differ from `base`, by key and column name. Columns only one of
/// them has are ignored (a column a person added is not a property).
pub fn diff(sheet: &Sheet, base: &Base) -> Diff {
    let mut d = Diff::default();
    let Some(k) = sheet.key_column() else { return d };
    // sheet column index → base column index
    let map: Vec<(usize, usize)> = sheet
        .header
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != k)
        .filter_map(|(i, h)| base.header.iter().position(|b| b == h).map(|j| (i, j)))
        .collect();
    let mut seen = std::collections::HashSet::with_capacity(sheet.rows.len());
    for r in &sheet.rows {
        let Some(key) = r.get(k) else { continue };
        if key.is_empty() {
            continue;
        }
        seen.insert(key.as_str());
        let Some(old) = base.rows.get(key) else {
            d.added_rows.push(key.clone());
            continue;
        };
        for &(i, j) in &map {
            let new = r.get(i).map(String::as_str).unwrap_or("");
            let Some(was) = old.get(j) else { continue };
            if !was.matches(new) {
                d.cells.push(CellEdit {
                    key: key.clone(),
                    column: sheet.header[i].clone(),
                    old: was.value().map(str::to_string),
                    new: new.to_string(),
                });
            }
        }
    }
    let mut removed: Vec<String> = base.rows.keys().filter(|k| !seen.contains(k.as_str())).cloned().collect();
    removed.sort();
    d.removed_rows = removed;
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_sheet::{read_sheet, write_sheet};

    fn sheet(rows: &[(&str, &str, &str)]) -> Sheet {
        let cols = vec!["Title".to_string(), "Album".to_string()];
        let bytes = write_sheet(
            &cols,
            rows.iter().map(|(k, a, b)| ((*k).to_string(), vec![(*a).to_string(), (*b).to_string()])),
        )
        .unwrap();
        read_sheet(&bytes).unwrap()
    }

    #[test]
    fn edited_added_and_removed_in_both_modes() {
        let wrote = sheet(&[("k1", "One", "A"), ("k2", "=Two", "B"), ("k3", "Three", "C")]);
        let now = sheet(&[("k1", "One!", "A"), ("k2", "=Two", "B2"), ("k4", "Four", "D")]);
        for full in [true, false] {
            let base = if full {
                Base::of(&wrote, true)
            } else {
                Base::from_hashes_text(&Base::of(&wrote, false).hashes_text()).unwrap()
            };
            let d = diff(&now, &base);
            let cells: Vec<(&str, &str, &str)> =
                d.cells.iter().map(|c| (c.key.as_str(), c.column.as_str(), c.new.as_str())).collect();
            assert_eq!(cells, [("k1", "Title", "One!"), ("k2", "Album", "B2")]);
            assert_eq!(d.cells[0].old.as_deref(), if full { Some("One") } else { None });
            assert_eq!(d.added_rows, ["k4"]);
            assert_eq!(d.removed_rows, ["k3"]);
            assert_eq!(d.records(), 4);
        }
        assert!(diff(&wrote, &Base::of(&wrote, true)).is_empty());
    }
}
