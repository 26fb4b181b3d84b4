//! Rows of the read-only virtual collections over the host's own data: `handoffs` (the ledger's
//! `tasks` table) and `audit_gaps` (the latest plans audit report). Nothing is copied into the
//! catalog: each read looks at the source, so a mirror such as drive-sync always sees what baton
//! itself sees, and nothing here can drift or be written through the catalog.
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::{Map, Value};

use crate::db::{Db, vals};
use crate::error::Result;
use crate::store::RecordOut;

/// How many TASKs the ledger holds (0 before the first).
pub fn handoffs_count(db: &Db) -> Result<u64> {
    if !db.table_exists("tasks")? {
        return Ok(0);
    }
    Ok(db.query_one("SELECT count(*) FROM tasks", &[])?.int(0).max(0) as u64)
}

/// `handoffs` records from the ledger: one by `key` (its handoff id), or a page after `after`,
/// by id. `seq` is SQLite's rowid (the order TASKs were recorded in); the PostgreSQL ledger's
/// `tasks` has no such number, so there a record has no `seq`.
pub fn handoffs_rows(db: &Db, key: Option<&str>, after: Option<&str>, limit: usize) -> Result<Vec<RecordOut>> {
    if !db.table_exists("tasks")? {
        return Ok(Vec::new());
    }
    let sql = db.pick(
        "SELECT rowid, id, sender, plugin, action, title, state, claimed_at, finished_at, error_code, attempts, reply_to
         FROM tasks WHERE (?1 IS NULL OR id = ?1) AND id > ?2 ORDER BY id LIMIT ?3",
        "SELECT NULL::bigint, id, sender, plugin, action, title, state, claimed_at, finished_at, error_code, attempts, reply_to
         FROM tasks WHERE (?1::text IS NULL OR id = ?1) AND id COLLATE \"C\" > ?2 ORDER BY id COLLATE \"C\" LIMIT ?3",
    );
    let rows = db.query(sql, vals![key, after.unwrap_or(""), limit as i64])?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let id = r.text(1);
            let mut m = Map::new();
            if let Some(seq) = r.opt_text(0).and_then(|s| s.parse::<i64>().ok()) {
                m.insert("seq".into(), Value::from(seq));
            }
            m.insert("id".into(), Value::String(id.clone()));
            m.insert("from".into(), Value::String(r.text(2)));
            m.insert("to".into(), Value::String(r.opt_text(3).unwrap_or_else(|| "baton".into())));
            for (i, prop) in [
                (4, "action"),
                (5, "title"),
                (6, "status"),
                (7, "created"),
                (8, "finished"),
                (9, "error_code"),
                (11, "reply_to"),
            ] {
                if let Some(s) = r.opt_text(i) {
                    m.insert(prop.into(), Value::String(s));
                }
            }
            m.insert("attempts".into(), Value::from(r.int(10)));
            RecordOut { key: id, props: m, archived: Map::new() }
        })
        .collect())
}

/// Where `audit_gaps` reads from: given the reports folder, the latest report's path and its
/// rows (key, properties), sorted by key. The host wires the plans audit's reader
/// (`baton_audit::gaps::latest`); the catalog knows no report format.
pub type AuditGapsSource =
    std::sync::Arc<dyn Fn(&Path) -> Option<(PathBuf, Vec<(String, Map<String, Value>)>)> + Send + Sync>;

/// The open gaps and false claims of the latest report in a reports folder, sorted by key, with
/// what identifies that report (its path, size and mtime).
pub struct AuditGaps {
    stamp: Option<(PathBuf, u64, Option<SystemTime>)>,
    rows: Vec<RecordOut>,
}

fn stamp_of(path: &Path) -> Option<(PathBuf, u64, Option<SystemTime>)> {
    let m = std::fs::metadata(path).ok()?;
    Some((path.to_path_buf(), m.len(), m.modified().ok()))
}

impl AuditGaps {
    /// Reads the latest report in `dir` through `source` (none: no records), keeping `cached`'s
    /// rows when it is still the same file.
    pub fn load(dir: Option<&Path>, source: Option<&AuditGapsSource>, cached: Option<AuditGaps>) -> AuditGaps {
        let Some((path, rows)) = dir.zip(source).and_then(|(d, s)| s(d)) else {
            return AuditGaps { stamp: None, rows: Vec::new() };
        };
        let stamp = stamp_of(&path);
        if let Some(c) = cached
            && c.stamp.is_some()
            && c.stamp == stamp
        {
            return c;
        }
        let rows = rows.into_iter().map(|(key, props)| RecordOut { key, props, archived: Map::new() }).collect();
        AuditGaps { stamp, rows }
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
