//! Moving duplicates aside and back: `dedup --execute` moves every non-keeper into a quarantine
//! folder, writing a journal first; `undo` moves the last batch back. Nothing is ever deleted.
//!
//! Where a batch goes ([`Placement`]): by default into `<scan root>/.baton-quarantine/batch-N/`
//! of the root the file was scanned under (its path relative to that root kept), so the move is
//! a rename on the library's own file system, and scans skip that folder. `--quarantine DIR`
//! puts everything under `DIR/batch-N/<absolute path without the leading slash>`.
//!
//! Each move is safe on its own:
//! - the file is checked against the scan just before it moves (still a regular file, same size
//!   and mtime), and left in place with the reason otherwise;
//! - the rename never replaces a file (`renameat2(RENAME_NOREPLACE)`); across file systems the
//!   copy is created exclusively, synced, its folder synced, and only then is the source removed;
//! - the `fp_files` row follows the file in the same database transaction as the move, so the
//!   library never points at a moved file; a crash between the rename and the commit is
//!   repaired from the write-ahead `planned` row by [`Db::reconcile_moves`], which dedup,
//!   `execute` and `undo` run first.
//!
//! `undo` never overwrites a file that reappeared at the original path: it reports a conflict
//! and leaves the quarantined copy in place.
use std::io::Write;
use std::path::{Path, PathBuf};

use rusqlite::{TransactionBehavior, params};
use serde::{Deserialize, Serialize};

use crate::db::Db;
use crate::dedup::Group;
use crate::error::{FpError, Result};
use crate::scan::QUARANTINE_DIR;

/// Where [`execute`] puts the files it moves.
#[derive(Debug, Clone)]
pub enum Placement {
    /// `<scan root>/.baton-quarantine/` of the outermost recorded scan root that holds the file
    /// on the same file system; a file under no such root goes to `fallback` (absolute path kept).
    Library { fallback: PathBuf },
    /// One folder for every file (absolute path kept).
    Dir(PathBuf),
}

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
    /// The quarantine folders this batch used (one per scan root, or the `--quarantine` folder).
    pub quarantine_dirs: Vec<PathBuf>,
    /// The batch's journals, one per quarantine folder.
    pub journals: Vec<PathBuf>,
    pub moved: Vec<JournalEntry>,
    /// Files that were not moved (left in place), with the reason.
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
    /// Quarantined files that could not be moved back (left in the quarantine), with the reason.
    pub failed: Vec<(PathBuf, String)>,
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn mv_err(path: &Path, detail: impl Into<String>) -> FpError {
    FpError::Move { path: path.to_path_buf(), detail: detail.into() }
}

/// `rename` that fails with `AlreadyExists` instead of replacing `to`.
///
/// Local on purpose: baton-fp must not depend on baton-pipeline, which has the same primitive
/// (`fsops::rename_noreplace`); both are to move into one portable place later. rustix maps
/// this to `renameat2(RENAME_NOREPLACE)` on Linux and `renameatx_np(RENAME_EXCL)` on macOS.
fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE).map_err(std::io::Error::from)
}

/// fsync a folder, so that an entry created or removed in it survives a power cut.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

fn parent(p: &Path) -> &Path {
    p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// Moves `src` to `dst` (creating folders) without ever replacing `dst`: an existing `dst`
/// fails with `AlreadyExists` and nothing moves. Across file systems (or where the file system
/// has no no-replace rename) it copies into a file created exclusively, syncs the copy and its
/// folder, checks the size, and only then removes the source.
pub fn move_noreplace(src: &Path, dst: &Path) -> std::io::Result<()> {
    baton_fs::ensure_dir(parent(dst))?;
    match rename_noreplace(src, dst) {
        Ok(()) => {
            sync_dir(parent(dst))?;
            if parent(src) != parent(dst) {
                sync_dir(parent(src))?;
            }
            Ok(())
        }
        Err(e)
            if e.kind() == std::io::ErrorKind::CrossesDevices
                || e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) =>
        {
            copy_then_remove(src, dst)
        }
        Err(e) => Err(e),
    }
}

fn copy_then_remove(src: &Path, dst: &Path) -> std::io::Result<()> {
    let mut from = std::fs::File::open(src)?;
    let meta = from.metadata()?;
    let mut to = std::fs::OpenOptions::new().write(true).create_new(true).open(dst)?;
    let copied = (|| {
        let n = std::io::copy(&mut from, &mut to)?;
        if n != meta.len() {
            return Err(std::io::Error::other(format!("copied {n} of {} bytes", meta.len())));
        }
        to.set_permissions(meta.permissions())?;
        if let Ok(t) = meta.modified() {
            to.set_modified(t)?;
        }
        to.sync_all()?;
        sync_dir(parent(dst))
    })();
    if let Err(e) = copied {
        // Only our own incomplete copy goes; the original was never touched.
        drop(to);
        let _ = std::fs::remove_file(dst);
        return Err(e);
    }
    std::fs::remove_file(src)?;
    sync_dir(parent(src))
}

/// [`move_noreplace`] with the error naming the file.
pub fn move_file(src: &Path, dst: &Path) -> Result<()> {
    move_noreplace(src, dst).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => mv_err(dst, "already exists; refusing to overwrite"),
        _ => mv_err(src, format!("cannot move to {}: {e}", dst.display())),
    })
}

fn append(journal: &Path, e: &JournalEntry) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(journal)
        .map_err(|er| mv_err(journal, format!("cannot write journal: {er}")))?;
    let line = serde_json::to_string(e).map_err(|er| mv_err(journal, er.to_string()))?;
    writeln!(f, "{line}")
        .and_then(|_| f.sync_data())
        .map_err(|er| mv_err(journal, format!("cannot write journal: {er}")))
}

fn batch_name(batch: i64) -> String {
    format!("batch-{batch:06}")
}

/// The batch folder a quarantined path lies in (the journal sits there).
fn batch_dir_of(dst: &Path, batch: i64) -> Option<&Path> {
    let name = batch_name(batch);
    dst.ancestors().find(|a| a.file_name().is_some_and(|n| n == name.as_str()))
}

/// Where `src` goes inside the batch folder: its absolute path without the leading slash.
pub fn quarantine_path(batch_dir: &Path, src: &Path) -> PathBuf {
    let rel: PathBuf = src.components().filter(|c| matches!(c, std::path::Component::Normal(_))).collect();
    batch_dir.join(rel)
}

#[cfg(unix)]
fn device(p: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(p).ok().map(|m| m.dev())
}

/// (quarantine folder, batch folder, destination) of `src`.
fn destination(placement: &Placement, roots: &[PathBuf], batch: i64, src: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let in_dir = |q: &Path| {
        let b = q.join(batch_name(batch));
        (q.to_path_buf(), b.clone(), quarantine_path(&b, src))
    };
    match placement {
        Placement::Dir(q) => in_dir(q),
        Placement::Library { fallback } => {
            let dev = device(src);
            // roots are sorted, so the first that holds the file is the outermost
            let root =
                roots.iter().find(|r| src.starts_with(r) && src != r.as_path() && dev.is_some() && device(r) == dev);
            match root {
                Some(r) => {
                    let q = r.join(QUARANTINE_DIR);
                    let b = q.join(batch_name(batch));
                    let rel = src.strip_prefix(r).unwrap_or(src);
                    (q, b.clone(), b.join(rel))
                }
                None => in_dir(fallback),
            }
        }
    }
}

/// Why `src` must not move now, if it changed since the scan (or is no longer a plain file).
fn changed_since_scan(db: &Db, src: &Path) -> Result<Option<String>> {
    let Some(row) = db.get(src)? else {
        return Ok(Some("no longer in the library database; run `baton fp scan` and dedup again".into()));
    };
    match std::fs::symlink_metadata(src) {
        Ok(m) if m.file_type().is_file() => {}
        Ok(_) => return Ok(Some("is no longer a regular file (a symlink or a folder now); left in place".into())),
        Err(e) => return Ok(Some(format!("cannot be read now ({e}); left in place"))),
    }
    let (size, mtime) = crate::scan::stat(src).map_err(|e| FpError::Io { path: src.to_path_buf(), source: e })?;
    if (size, mtime) != (row.size, row.mtime_ns) {
        return Ok(Some(format!(
            "changed since the scan (size {} -> {size} bytes, or its mtime); left in place: run `baton fp scan` and dedup again",
            row.size
        )));
    }
    Ok(None)
}

/// Crash injection for the end-to-end tests, like baton-pipeline's and behind the same
/// `failpoints` feature: `BATON_FAILPOINT=<name>` kills the process with SIGKILL when it passes
/// the named point.
#[cfg(any(test, feature = "failpoints"))]
fn failpoint(name: &str) {
    if std::env::var("BATON_FAILPOINT").is_ok_and(|v| v == name) {
        tracing::warn!(failpoint = name, "failpoint: killing this process");
        let _ = rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
    }
}

/// Without the `failpoints` feature the point passes, at no cost.
#[cfg(not(any(test, feature = "failpoints")))]
#[inline(always)]
fn failpoint(_name: &str) {}

/// Moves the duplicates of `groups` into the quarantine as a new batch.
pub fn execute(db_path: &Path, groups: &[Group], placement: &Placement) -> Result<ExecuteReport> {
    let _span = tracing::info_span!("quarantine").entered();
    let db = Db::open(db_path)?;
    db.reconcile_moves()?;
    let roots = db.roots()?;
    let label = match placement {
        Placement::Dir(q) => q.to_string_lossy().into_owned(),
        Placement::Library { .. } => format!("<scan root>/{QUARANTINE_DIR}"),
    };
    db.conn
        .execute(
            "INSERT INTO fp_batches (created_at, quarantine_dir, journal, state) VALUES (?1, ?2, '', 'executing')",
            params![now(), label],
        )
        .map_err(|e| db.err(e))?;
    let batch = db.conn.last_insert_rowid();
    let mut report =
        ExecuteReport { batch_id: batch, quarantine_dirs: vec![], journals: vec![], moved: vec![], failed: vec![] };
    let mut seq = 0;
    for g in groups {
        for d in &g.duplicates {
            if let Some(link) = d.symlinks.first() {
                report.failed.push((
                    d.path.clone(),
                    format!("the symlink {} points to it and would be left dangling; left in place (remove the link, or keep this file)", link.display()),
                ));
                continue;
            }
            // a file reached by several hard links is one file: all its names move
            for src in std::iter::once(&d.path).chain(&d.hardlinks) {
                if let Some(why) = changed_since_scan(&db, src)? {
                    tracing::warn!(path = %src.display(), reason = %why, "not moved");
                    report.failed.push((src.clone(), why));
                    continue;
                }
                seq += 1;
                let (qdir, batch_dir, dst) = destination(placement, &roots, batch, src);
                baton_fs::ensure_dir(&batch_dir)
                    .map_err(|e| mv_err(&batch_dir, format!("cannot create the quarantine folder: {e}")))?;
                let journal = batch_dir.join("journal.jsonl");
                if !report.quarantine_dirs.contains(&qdir) {
                    report.quarantine_dirs.push(qdir);
                    report.journals.push(journal.clone());
                }
                match move_one(&db, batch, seq, src, &dst, &journal)? {
                    Ok(e) => report.moved.push(e),
                    Err(why) => report.failed.push((src.clone(), why)),
                }
            }
        }
    }
    let journals = report.journals.iter().map(|j| j.to_string_lossy()).collect::<Vec<_>>().join("\n");
    db.conn
        .execute("UPDATE fp_batches SET state = 'done', journal = ?2 WHERE id = ?1", params![batch, journals])
        .map_err(|e| db.err(e))?;
    Ok(report)
}

/// One write-ahead, no-replace move with its `fp_files` row in the same transaction. The outer
/// error is the database's or the journal's (stop); the inner one is this file's (go on).
fn move_one(
    db: &Db,
    batch: i64,
    seq: i64,
    src: &Path,
    dst: &Path,
    journal: &Path,
) -> Result<std::result::Result<JournalEntry, String>> {
    let mut e = JournalEntry { batch, seq, src: src.to_path_buf(), dst: dst.to_path_buf(), state: "planned".into() };
    // write-ahead: the journal and the database know the move before it happens
    append(journal, &e)?;
    db.conn
        .execute(
            "INSERT INTO fp_moves (batch_id, seq, src, dst, state) VALUES (?1, ?2, ?3, ?4, 'planned')",
            params![batch, seq, src.to_string_lossy(), dst.to_string_lossy()],
        )
        .map_err(|er| db.err(er))?;
    let tx = rusqlite::Transaction::new_unchecked(&db.conn, TransactionBehavior::Immediate).map_err(|er| db.err(er))?;
    tx.execute(
        "UPDATE fp_files SET quarantined = 1, path = ?2 WHERE path = ?1",
        params![src.to_string_lossy(), dst.to_string_lossy()],
    )
    .map_err(|er| db.err(er))?;
    tx.execute("UPDATE fp_moves SET state = 'moved' WHERE batch_id = ?1 AND seq = ?2", params![batch, seq])
        .map_err(|er| db.err(er))?;
    if let Err(er) = move_file(src, dst) {
        drop(tx); // rolls back: the row stays at `src`
        tracing::warn!(error = %er, "not moved");
        db.conn
            .execute("UPDATE fp_moves SET state = 'failed' WHERE batch_id = ?1 AND seq = ?2", params![batch, seq])
            .map_err(|er| db.err(er))?;
        return Ok(Err(er.to_string()));
    }
    failpoint("fp-quarantine-moved");
    if let Err(er) = tx.commit() {
        // The database cannot follow the file: put the file back so the library stays true.
        let back = move_noreplace(dst, src);
        tracing::error!(error = %er, restored = back.is_ok(), src = %src.display(), "database commit failed after the move");
        return Err(db.err(er));
    }
    e.state = "moved".into();
    append(journal, &e)?;
    tracing::info!(src = %src.display(), dst = %dst.display(), "quarantined");
    Ok(Ok(e))
}

/// Restores the most recent batch that is not fully undone.
pub fn undo(db_path: &Path) -> Result<UndoReport> {
    let _span = tracing::info_span!("undo").entered();
    let db = Db::open(db_path)?;
    db.reconcile_moves()?;
    let batch: Option<i64> = db
        .conn
        .query_row("SELECT max(id) FROM fp_batches WHERE state IN ('executing', 'done', 'partly-undone')", [], |r| {
            r.get(0)
        })
        .map_err(|e| db.err(e))?;
    let Some(batch) = batch else {
        return Err(FpError::Invalid(
            "nothing to undo: no `baton fp dedup --execute` batch is recorded in this state database".into(),
        ));
    };
    let mut st = db
        .conn
        .prepare("SELECT seq, src, dst FROM fp_moves WHERE batch_id = ?1 AND state IN ('moved', 'planned') ORDER BY seq DESC")
        .map_err(|e| db.err(e))?;
    let moves: Vec<(i64, PathBuf, PathBuf)> = st
        .query_map([batch], |r| {
            Ok((r.get(0)?, PathBuf::from(r.get::<_, String>(1)?), PathBuf::from(r.get::<_, String>(2)?)))
        })
        .map_err(|e| db.err(e))?
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| db.err(e))?;
    drop(st);
    let mut report =
        UndoReport { batch_id: batch, restored: vec![], conflicts: vec![], missing: vec![], failed: vec![] };
    for (seq, src, dst) in moves {
        if dst.symlink_metadata().is_err() {
            report.missing.push(dst);
            continue;
        }
        let tx =
            rusqlite::Transaction::new_unchecked(&db.conn, TransactionBehavior::Immediate).map_err(|e| db.err(e))?;
        tx.execute("DELETE FROM fp_files WHERE path = ?1 AND quarantined = 0", [src.to_string_lossy()])
            .map_err(|e| db.err(e))?;
        tx.execute(
            "UPDATE fp_files SET quarantined = 0, path = ?1 WHERE path = ?2",
            params![src.to_string_lossy(), dst.to_string_lossy()],
        )
        .map_err(|e| db.err(e))?;
        tx.execute("UPDATE fp_moves SET state = 'restored' WHERE batch_id = ?1 AND seq = ?2", params![batch, seq])
            .map_err(|e| db.err(e))?;
        match move_noreplace(&dst, &src) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                drop(tx);
                report.conflicts.push(Conflict { original: src, quarantined: dst });
                continue;
            }
            Err(e) => {
                drop(tx);
                report.failed.push((dst.clone(), format!("cannot move back to {}: {e}", src.display())));
                continue;
            }
        }
        if let Err(er) = tx.commit() {
            let back = move_noreplace(&src, &dst);
            tracing::error!(error = %er, returned = back.is_ok(), src = %src.display(), "database commit failed after moving back");
            return Err(db.err(er));
        }
        if let Some(b) = batch_dir_of(&dst, batch) {
            let _ = append(
                &b.join("journal.jsonl"),
                &JournalEntry { batch, seq, src: src.clone(), dst: dst.clone(), state: "restored".into() },
            );
        }
        report.restored.push(src);
    }
    let state = if report.conflicts.is_empty() && report.missing.is_empty() && report.failed.is_empty() {
        "undone"
    } else {
        "partly-undone"
    };
    db.conn.execute("UPDATE fp_batches SET state = ?1 WHERE id = ?2", params![state, batch]).map_err(|e| db.err(e))?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn move_never_replaces() {
        let d = tempfile::tempdir().unwrap();
        let (a, b) = (d.path().join("a"), d.path().join("sub/b"));
        std::fs::write(&a, b"one").unwrap();
        std::fs::create_dir_all(b.parent().unwrap()).unwrap();
        std::fs::write(&b, b"two").unwrap();
        let e = move_noreplace(&a, &b).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!((std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap()), (b"one".to_vec(), b"two".to_vec()));
        std::fs::remove_file(&b).unwrap();
        move_noreplace(&a, &b).unwrap();
        assert!(!a.exists());
        assert_eq!(std::fs::read(&b).unwrap(), b"one");
    }

    #[test]
    fn copy_keeps_bytes_and_mtime_and_never_replaces() {
        let d = tempfile::tempdir().unwrap();
        let (a, b) = (d.path().join("a"), d.path().join("b"));
        std::fs::write(&a, vec![7u8; 100_000]).unwrap();
        let t = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        std::fs::File::options().write(true).open(&a).unwrap().set_modified(t).unwrap();
        copy_then_remove(&a, &b).unwrap();
        assert!(!a.exists());
        assert_eq!(std::fs::read(&b).unwrap(), vec![7u8; 100_000]);
        assert_eq!(std::fs::metadata(&b).unwrap().modified().unwrap(), t);
        std::fs::write(&a, b"new").unwrap();
        assert_eq!(copy_then_remove(&a, &b).unwrap_err().kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&a).unwrap(), b"new");
    }
}
