//! The catalog as a CSV sheet, written by exactly one encoder.
//!
//! Why a crate of its own: `baton catalog export COLLECTION --csv` (host) and the `drive-sync`
//! plugin (wasm32-wasip2) must write byte-identical files, so a person can diff the synced sheet
//! against an export. Both call [`write_sheet`]; neither formats cells itself.
//!
//! The format: a header row (`_key`, then each property's display name), one row per record,
//! `csv`'s defaults (`,`, quotes only where needed, `\n`). Lists (multi-select, relations) are
//! joined with `;`. A cell that a spreadsheet would run as a formula (it starts with `=`, `+`,
//! `-` or `@`) is written with a leading `'`; so is a cell that starts with `'`, so that
//! [`unescape`] (strip one leading `'`) gives every value back exactly.
use std::borrow::Cow;
use std::io::Write;

use serde_json::Value;

/// A value as one display field: lists joined with `;`, null as the empty string; an entry of a
/// playlist (`{"track", "position"}`) as its track's key, so a list of entries is its keys in
/// order, repeats included.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(cell).collect::<Vec<_>>().join(";"),
        Value::Object(o) if o.get("track").is_some_and(Value::is_string) => cell(&o["track"]),
        other => other.to_string(),
    }
}

/// The cell as written: with a leading `'` when it starts with `=`, `+`, `-`, `@` or `'`.
pub fn escape(s: &str) -> Cow<'_, str> {
    match s.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\'') => Cow::Owned(format!("'{s}")),
        _ => Cow::Borrowed(s),
    }
}

/// The cell as read: one leading `'` removed.
pub fn unescape(s: &str) -> &str {
    s.strip_prefix('\'').unwrap_or(s)
}

/// One record's cells in column order (the key first), unescaped.
pub type Row = Vec<String>;

/// Writes the header and rows as the sheet's CSV. `header` excludes `_key`; every row is the
/// key followed by one cell per header column (raw values: escaping happens here).
pub struct SheetWriter<W: Write> {
    w: csv::Writer<W>,
}

impl<W: Write> SheetWriter<W> {
    pub fn new(out: W, columns: &[String]) -> csv::Result<Self> {
        let mut w = csv::Writer::from_writer(out);
        let mut header: Vec<Cow<'_, str>> = vec![Cow::Borrowed("_key")];
        header.extend(columns.iter().map(|c| escape(c)));
        w.write_record(header.iter().map(|c| c.as_bytes()))?;
        Ok(SheetWriter { w })
    }

    /// One record: its key and its cells (already joined by [`cell`]).
    pub fn row<S: AsRef<str>>(&mut self, key: &str, cells: &[S]) -> csv::Result<()> {
        let mut out: Vec<Cow<'_, str>> = Vec::with_capacity(cells.len() + 1);
        out.push(escape(key));
        out.extend(cells.iter().map(|c| escape(c.as_ref())));
        self.w.write_record(out.iter().map(|c| c.as_bytes()))
    }

    pub fn finish(self) -> std::io::Result<W> {
        self.w.into_inner().map_err(|e| e.into_error())
    }
}

/// A sheet as read back: header (without `_key`'s position assumed) and rows, unescaped.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sheet {
    /// Every header cell, `_key` included, unescaped.
    pub header: Vec<String>,
    /// Every row's cells, unescaped, as many as the header.
    pub rows: Vec<Row>,
}

impl Sheet {
    /// Which column holds the key.
    pub fn key_column(&self) -> Option<usize> {
        self.header.iter().position(|h| h == "_key")
    }

    /// The column named `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }
}

/// Why a sheet could not be read or written; a row's error names its line or its record.
#[derive(Debug, thiserror::Error)]
pub enum SheetError {
    #[error("line {line}: {source}")]
    Line { line: usize, source: csv::Error },
    #[error("record `{key}`: {source}")]
    Record { key: String, source: csv::Error },
    #[error(transparent)]
    Csv(#[from] csv::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Reads a sheet. Errors name the line.
pub fn read_sheet(bytes: &[u8]) -> Result<Sheet, SheetError> {
    let mut rd = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(bytes);
    let mut sheet = Sheet::default();
    for (i, rec) in rd.records().enumerate() {
        let rec = rec.map_err(|source| SheetError::Line { line: i + 1, source })?;
        let row: Row = rec.iter().map(|c| unescape(c).to_string()).collect();
        if i == 0 {
            sheet.header = row;
        } else {
            sheet.rows.push(row);
        }
    }
    Ok(sheet)
}

/// The whole sheet in memory. Fails only on a row whose cell count differs from the header's.
pub fn write_sheet(
    columns: &[String],
    rows: impl IntoIterator<Item = (String, Vec<String>)>,
) -> Result<Vec<u8>, SheetError> {
    let mut w = SheetWriter::new(Vec::new(), columns)?;
    for (k, cells) in rows {
        w.row(&k, &cells).map_err(|source| SheetError::Record { key: k, source })?;
    }
    Ok(w.finish()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn formula_cells_get_a_quote_and_lose_it_on_reading() {
        for raw in ["=HYPERLINK(\"x\")", "+1", "-2", "@SUM(A1)", "'quoted", "''two"] {
            assert_eq!(escape(raw), format!("'{raw}"));
            assert_eq!(unescape(&escape(raw)), raw);
        }
        for raw in ["plain", "", "a=b", " =x", "1.5"] {
            assert_eq!(escape(raw), raw);
            assert_eq!(unescape(&escape(raw)), raw);
        }
    }

    #[test]
    fn round_trip_with_quotes_commas_newlines_and_lists() {
        let cols = vec!["Title".to_string(), "Artists".to_string()];
        let rows = vec![
            ("k1".to_string(), vec!["Hello, \"World\"\nline 2".to_string(), cell(&json!(["A", "B"]))]),
            ("k2".to_string(), vec!["=cmd|' /C calc'!A0".to_string(), cell(&json!(null))]),
            ("-k3".to_string(), vec![cell(&json!(-1.5)), cell(&json!(42))]),
        ];
        let bytes = write_sheet(&cols, rows.clone()).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with("_key,Title,Artists\n"), "{text}");
        assert!(text.contains("'=cmd"), "{text}");
        assert!(text.contains("'-k3,'-1.5,42\n"), "{text}");
        let back = read_sheet(&bytes).unwrap();
        assert_eq!(back.header, ["_key", "Title", "Artists"]);
        let got: Vec<(String, Vec<String>)> = back.rows.iter().map(|r| (r[0].clone(), r[1..].to_vec())).collect();
        assert_eq!(got, rows);
        assert_eq!(got[0].1[1], "A;B");
    }
}
