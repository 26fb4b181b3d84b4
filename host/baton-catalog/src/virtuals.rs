//! Rows of the read-only virtual collections over the host's own data: `handoffs` (the ledger's
//! `tasks` table) and `audit_gaps` (the latest plans audit report). Nothing is copied into the
//! catalog: each read looks at the source, so a mirror such as drive-sync always sees what baton
//! itself sees, and nothing here can drift or be written through the catalog.
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rusqlite::{Connection, params};
use serde_json::{Map, Value};

use crate::error::Result;
use crate::store::RecordOut;

fn table_exists(conn: &Connection, name: &str) -> Result<bool> {
    Ok(conn.prepare_cached("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1")?.exists([name])?)
}

/// How many TASKs the ledger holds (0 before the first).
pub fn handoffs_count(conn: &Connection) -> Result<u64> {
    if !table_exists(conn, "tasks")? {
        return Ok(0);
    }
    Ok(conn.query_row("SELECT count(*) FROM tasks", [], |r| r.get::<_, i64>(0))? as u64)
}

/// `handoffs` records from the ledger: one by `key` (its handoff id), or a page after `after`,
/// by id.
pub fn handoffs_rows(conn: &Connection, key: Option<&str>, after: Option<&str>, limit: usize) -> Result<Vec<RecordOut>> {
    if !table_exists(conn, "tasks")? {
        return Ok(Vec::new());
    }
    let sql = "SELECT rowid, id, sender, plugin, action, title, state, claimed_at, finished_at, error_code, attempts, reply_to
               FROM tasks WHERE (?1 IS NULL OR id = ?1) AND id > ?2 ORDER BY id LIMIT ?3";
    let mut st = conn.prepare_cached(sql)?;
    let rows = st.query_map(params![key, after.unwrap_or(""), limit as i64], |r| {
        let id: String = r.get(1)?;
        let mut m = Map::new();
        m.insert("seq".into(), Value::from(r.get::<_, i64>(0)?));
        m.insert("id".into(), Value::String(id.clone()));
        m.insert("from".into(), Value::String(r.get(2)?));
        m.insert("to".into(), Value::String(r.get::<_, Option<String>>(3)?.unwrap_or_else(|| "baton".into())));
        for (i, prop) in [(4, "action"), (5, "title"), (6, "status"), (7, "created"), (8, "finished"), (9, "error_code"), (11, "reply_to")] {
            if let Some(s) = r.get::<_, Option<String>>(i)? {
                m.insert(prop.into(), Value::String(s));
            }
        }
        m.insert("attempts".into(), Value::from(r.get::<_, i64>(10)?));
        Ok(RecordOut { key: id, props: m, archived: Map::new() })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The open gaps and false claims of the latest report in a reports folder, sorted by key, with
/// what identifies that report (its path, size and mtime) so a reader can tell it is still the
/// latest without parsing it again.
pub struct AuditGaps {
    stamp: Option<(PathBuf, u64, Option<SystemTime>)>,
    rows: Vec<RecordOut>,
}

fn stamp_of(path: &Path) -> Option<(PathBuf, u64, Option<SystemTime>)> {
    let m = std::fs::metadata(path).ok()?;
    Some((path.to_path_buf(), m.len(), m.modified().ok()))
}

impl AuditGaps {
    /// Reads the latest report in `dir` (none: no records), reusing `cached` when it is still
    /// the same file.
    pub fn load(dir: Option<&Path>, cached: Option<AuditGaps>) -> AuditGaps {
        let Some((path, report)) = dir.and_then(baton_audit::store::latest_report) else {
            return AuditGaps { stamp: None, rows: Vec::new() };
        };
        let stamp = stamp_of(&path);
        if let Some(c) = cached
            && c.stamp.is_some()
            && c.stamp == stamp
        {
            return c;
        }
        AuditGaps { stamp, rows: rows_of(&report) }
    }

    pub fn count(&self) -> u64 {
        self.rows.len() as u64
    }

    /// One record by `key`, or a page after `after`.
    pub fn rows(&self, key: Option<&str>, after: Option<&str>, limit: usize) -> Vec<RecordOut> {
        if let Some(k) = key {
            return self.rows.iter().filter(|r| r.key == k).cloned().collect();
        }
        let after = after.unwrap_or("");
        let start = self.rows.partition_point(|r| r.key.as_str() <= after);
        self.rows[start..].iter().take(limit).cloned().collect()
    }
}

fn rows_of(report: &baton_audit::model::Report) -> Vec<RecordOut> {
    let text = |s: &str| Value::String(s.to_string());
    let false_claims: std::collections::HashSet<(&str, &str)> =
        report.false_claims.iter().map(|f| (f.plan.as_str(), f.path.as_str())).collect();
    let mut rows: Vec<RecordOut> = Vec::with_capacity(report.gaps.len());
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
        rows.push(RecordOut { key: g.key.clone(), props: m, archived: Map::new() });
    }
    // A false claim is a gap too; one the gaps somehow lack is still listed.
    let gap_keys: std::collections::HashSet<String> = rows.iter().map(|r| r.key.clone()).collect();
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
        rows.push(RecordOut { key, props: m, archived: Map::new() });
    }
    rows.sort_by(|a, b| a.key.cmp(&b.key));
    rows.dedup_by(|a, b| a.key == b.key);
    rows
}
