//! Moving duplicates aside and back: `dedup --execute` moves every non-keeper into the
//! quarantine folder (keeping its path: `<quarantine>/<batch>/<absolute path without the leading
//! slash>`), writing a journal first; `undo` moves the last batch back. Nothing is ever deleted,
//! and undo never overwrites a file that reappeared at the original path (it reports a conflict
//! and leaves the quarantined copy in place).
use std::io::Write;
use std::path::{Path, PathBuf};

use rusqlite::params;
use serde::{Deserialize, Serialize};

use crate::db::Db;
use crate::dedup::Group;
use crate::error::{FpError, Result};

/// One journal line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JournalEntry {
    pub batch: i64,
    pub seq: i64,
    pub src: PathBuf,
    pub dst: PathBuf,
    /// `planned`, `moved` or `restored`.
    pub state: String,
}

/// Result of [`execute`].
#[derive(Debug, Clone, Serialize)]
pub struct ExecuteReport {
    pub batch_id: i64,
    pub quarantine_dir: PathBuf,
    pub journal: PathBuf,
    pub moved: Vec<JournalEntry>,
    /// Files that could not be moved (left in place), with the reason.
    pub failed: Vec<(PathBuf, String)>,
}

/// A file that reappeared at its original path.
#[derive(Debug, Clone, Serialize)]
pub struct Conflict {
    pub original: PathBuf,
    pub quarantined: PathBuf,
}

/// Result of [`undo`].
#[derive(Debug, Clone, Serialize)]
pub struct UndoReport {
    pub batch_id: i64,
    pub restored: Vec<PathBuf>,
    pub conflicts: Vec<Conflict>,
    /// Quarantined files that are gone from the quarantine.
    pub missing: Vec<PathBuf>,
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn mv_err(path: &Path, detail: impl Into<String>) -> FpError {
    FpError::Move { path: path.to_path_buf(), detail: detail.into() }
}

/// Moves `src` to `dst` (creating folders). Falls back to copy + fsync + remove across file
/// systems, after checking the copy's size. Refuses to overwrite.
pub fn move_file(src: &Path, dst: &Path) -> Result<()> {
    if dst.exists() {
        return Err(mv_err(dst, "already exists; refusing to overwrite"));
    }
    if let Some(p) = dst.parent() {
        std::fs::create_dir_all(p).map_err(|e| mv_err(p, format!("cannot create folder: {e}")))?;
    }
    match std::fs::rename(src, dst) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::CrossesDevices => {
            let n = std::fs::copy(src, dst).map_err(|e| mv_err(src, format!("cannot copy to {}: {e}", dst.display())))?;
            let f = std::fs::File::open(dst).map_err(|e| mv_err(dst, e.to_string()))?;
            f.sync_all().map_err(|e| mv_err(dst, e.to_string()))?;
            let orig = std::fs::metadata(src).map_err(|e| mv_err(src, e.to_string()))?.len();
            if orig != n {
                return Err(mv_err(dst, "copy has the wrong size; original kept"));
            }
            std::fs::remove_file(src).map_err(|e| mv_err(src, format!("copied but cannot remove the original: {e}")))
        }
        Err(e) => Err(mv_err(src, format!("cannot move to {}: {e}", dst.display()))),
    }
}

fn append(journal: &Path, e: &JournalEntry) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(journal)
        .map_err(|er| mv_err(journal, format!("cannot write journal: {er}")))?;
    let line = serde_json::to_string(e).map_err(|er| mv_err(journal, er.to_string()))?;
    writeln!(f, "{line}").and_then(|_| f.sync_data()).map_err(|er| mv_err(journal, format!("cannot write journal: {er}")))
}

/// Where `src` goes inside the batch folder.
pub fn quarantine_path(batch_dir: &Path, src: &Path) -> PathBuf {
    let rel: PathBuf = src.components().filter(|c| matches!(c, std::path::Component::Normal(_))).collect();
    batch_dir.join(rel)
}

/// Moves the duplicates of `groups` into `quarantine_dir` as a new batch.
pub fn execute(db_path: &Path, groups: &[Group], quarantine_dir: &Path) -> Result<ExecuteReport> {
    let db = Db::open(db_path)?;
    std::fs::create_dir_all(quarantine_dir).map_err(|e| mv_err(quarantine_dir, format!("cannot create quarantine: {e}")))?;
    db.conn
        .execute(
            "INSERT INTO fp_batches (created_at, quarantine_dir, journal, state) VALUES (?1, ?2, '', 'executing')",
            params![now(), quarantine_dir.to_string_lossy()],
        )
        .map_err(|e| db.err(e))?;
    let batch = db.conn.last_insert_rowid();
    let batch_dir = quarantine_dir.join(format!("batch-{batch:06}"));
    std::fs::create_dir_all(&batch_dir).map_err(|e| mv_err(&batch_dir, format!("cannot create: {e}")))?;
    let journal = batch_dir.join("journal.jsonl");
    db.conn
        .execute("UPDATE fp_batches SET journal = ?1 WHERE id = ?2", params![journal.to_string_lossy(), batch])
        .map_err(|e| db.err(e))?;
    let mut report = ExecuteReport { batch_id: batch, quarantine_dir: quarantine_dir.to_path_buf(), journal: journal.clone(), moved: vec![], failed: vec![] };
    let mut seq = 0;
    for g in groups {
        for d in &g.duplicates {
            seq += 1;
            let dst = quarantine_path(&batch_dir, &d.path);
            let mut e = JournalEntry { batch, seq, src: d.path.clone(), dst: dst.clone(), state: "planned".into() };
            // write-ahead: the journal and the database know the move before it happens
            append(&journal, &e)?;
            db.conn
                .execute(
                    "INSERT INTO fp_moves (batch_id, seq, src, dst, state) VALUES (?1, ?2, ?3, ?4, 'planned')",
                    params![batch, seq, d.path.to_string_lossy(), dst.to_string_lossy()],
                )
                .map_err(|er| db.err(er))?;
            match move_file(&d.path, &dst) {
                Ok(()) => {
                    e.state = "moved".into();
                    append(&journal, &e)?;
                    db.conn
                        .execute("UPDATE fp_moves SET state='moved' WHERE batch_id=?1 AND seq=?2", params![batch, seq])
                        .map_err(|er| db.err(er))?;
                    db.conn
                        .execute(
                            "UPDATE fp_files SET quarantined = 1, path = ?2 WHERE path = ?1",
                            params![d.path.to_string_lossy(), dst.to_string_lossy()],
                        )
                        .map_err(|er| db.err(er))?;
                    tracing::info!(src = %d.path.display(), dst = %dst.display(), "quarantined");
                    report.moved.push(e);
                }
                Err(er) => {
                    tracing::warn!(error = %er, "not moved");
                    db.conn
                        .execute("UPDATE fp_moves SET state='failed' WHERE batch_id=?1 AND seq=?2", params![batch, seq])
                        .map_err(|er| db.err(er))?;
                    report.failed.push((d.path.clone(), er.to_string()));
                }
            }
        }
    }
    db.conn.execute("UPDATE fp_batches SET state='done' WHERE id=?1", [batch]).map_err(|e| db.err(e))?;
    Ok(report)
}

/// Restores the most recent batch that is not fully undone.
pub fn undo(db_path: &Path) -> Result<UndoReport> {
    let db = Db::open(db_path)?;
    let batch: Option<i64> = db
        .conn
        .query_row("SELECT max(id) FROM fp_batches WHERE state IN ('executing', 'done', 'partly-undone')", [], |r| r.get(0))
        .map_err(|e| db.err(e))?;
    let Some(batch) = batch else {
        return Err(FpError::Invalid("nothing to undo: no `baton fp dedup --execute` batch is recorded in this state database".into()));
    };
    let mut st = db
        .conn
        .prepare("SELECT seq, src, dst FROM fp_moves WHERE batch_id=?1 AND state IN ('moved', 'planned') ORDER BY seq DESC")
        .map_err(|e| db.err(e))?;
    let moves: Vec<(i64, PathBuf, PathBuf)> = st
        .query_map([batch], |r| Ok((r.get(0)?, PathBuf::from(r.get::<_, String>(1)?), PathBuf::from(r.get::<_, String>(2)?))))
        .map_err(|e| db.err(e))?
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| db.err(e))?;
    drop(st);
    let mut report = UndoReport { batch_id: batch, restored: vec![], conflicts: vec![], missing: vec![] };
    let journal: String = db.conn.query_row("SELECT journal FROM fp_batches WHERE id=?1", [batch], |r| r.get(0)).map_err(|e| db.err(e))?;
    let journal = PathBuf::from(journal);
    for (seq, src, dst) in moves {
        if !dst.exists() {
            if src.exists() {
                // a `planned` move that never happened
                db.conn.execute("UPDATE fp_moves SET state='restored' WHERE batch_id=?1 AND seq=?2", params![batch, seq]).map_err(|e| db.err(e))?;
            } else {
                report.missing.push(dst);
            }
            continue;
        }
        if src.exists() {
            report.conflicts.push(Conflict { original: src, quarantined: dst });
            continue;
        }
        move_file(&dst, &src)?;
        db.conn.execute("DELETE FROM fp_files WHERE path = ?1 AND quarantined = 0", [src.to_string_lossy()]).map_err(|e| db.err(e))?;
        let _ = append(&journal, &JournalEntry { batch, seq, src: src.clone(), dst: dst.clone(), state: "restored".into() });
        db.conn.execute("UPDATE fp_moves SET state='restored' WHERE batch_id=?1 AND seq=?2", params![batch, seq]).map_err(|e| db.err(e))?;
        db.conn
            .execute("UPDATE fp_files SET quarantined = 0, path = ?1 WHERE path = ?2", params![src.to_string_lossy(), dst.to_string_lossy()])
            .map_err(|e| db.err(e))?;
        report.restored.push(src);
    }
    let state = if report.conflicts.is_empty() && report.missing.is_empty() { "undone" } else { "partly-undone" };
    db.conn.execute("UPDATE fp_batches SET state=?1 WHERE id=?2", params![state, batch]).map_err(|e| db.err(e))?;
    Ok(report)
}
