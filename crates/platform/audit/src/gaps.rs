//! The latest report's open gaps and false claims as flat rows (key, properties): what the
//! catalog's read-only `audit_gaps` collection shows. Plain JSON, so a reader (the catalog)
//! needs nothing of this crate's model; the host wires [`latest`] into it.
use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::model::Report;

/// One row: its key (`plan::path`) and its properties.
pub type Row = (String, Map<String, Value>);

/// The latest report in `dir` (its path) and its rows, sorted by key; `None` when the folder
/// holds no readable report.
pub fn latest(dir: &Path) -> Option<(PathBuf, Vec<Row>)> {
    let (path, report) = crate::store::latest_report(dir)?;
    Some((path, rows(&report)))
}

/// The rows of one report: each gap, and each false claim the gaps somehow lack.
pub fn rows(report: &Report) -> Vec<Row> {
    let text = |s: &str| Value::String(s.to_string());
    let false_claims: HashSet<(&str, &str)> =
        report.false_claims.iter().map(|f| (f.plan.as_str(), f.path.as_str())).collect();
    let mut rows: Vec<Row> = Vec::with_capacity(report.gaps.len());
    for g in &report.gaps {
        let mut m = Map::new();
        m.insert("plan".into(), text(&g.plan));
        m.insert("path".into(), text(&g.path));
        m.insert("group".into(), text(&g.group));
        m.insert("status".into(), text(g.status.as_str()));
        if let Some(r) = &g.reason {
            m.insert("reason".into(), text(r));
        }
        m.insert("claimed_done".into(), Value::Bool(g.claimed_done));
        m.insert("false_claim".into(), Value::Bool(false_claims.contains(&(g.plan.as_str(), g.path.as_str()))));
        m.insert("first_seen".into(), text(&g.first_seen));
        m.insert("new".into(), Value::Bool(g.new));
        if let Some(e) = &g.emitted {
            m.insert("emitted".into(), text(e));
        }
        m.insert("report".into(), text(&report.generated_at));
        rows.push((g.key.clone(), m));
    }
    // A false claim is a gap too; one the gaps somehow lack is still listed.
    let gap_keys: HashSet<String> = rows.iter().map(|(k, _)| k.clone()).collect();
    for f in &report.false_claims {
        let key = format!("{}::{}", f.plan, f.path);
        if gap_keys.contains(&key) {
            continue;
        }
        let mut m = Map::new();
        m.insert("plan".into(), text(&f.plan));
        m.insert("path".into(), text(&f.path));
        m.insert("status".into(), text(f.status.as_str()));
        if let Some(r) = &f.reason {
            m.insert("reason".into(), text(r));
        }
        m.insert("claimed_done".into(), Value::Bool(true));
        m.insert("false_claim".into(), Value::Bool(true));
        m.insert("report".into(), text(&report.generated_at));
        rows.push((key, m));
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows.dedup_by(|a, b| a.0 == b.0);
    rows
}
