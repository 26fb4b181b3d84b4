//! Parallel, incremental library scan into the state database.
//!
//! Walks the given folders for audio files, skips those whose (path, size, mtime) are unchanged
//! since the last scan, fingerprints the rest in decoding workers ([`crate::worker`], one thread
//! per worker here) and writes every result as its own transaction as soon as it is ready.
//! A file that fails (including one that crashes its worker or overruns the per-file limit)
//! gets an error row, and is not tried again until its size or mtime changes or the scan is
//! asked to retry errors. A scan killed at any point therefore resumes where it
//! stopped: only the files that were in flight (being decoded, or waiting in the small bounded
//! hand-over queue) are done again. Memory stays bounded: the host holds fingerprints only, and
//! the queue holds at most `2 × workers` results.
use std::path::{Path, PathBuf};
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use serde::Serialize;

use crate::db::{Db, FileRow};
use crate::error::{FpError, Result};
use crate::worker::{Workers, open_regular};
use baton_signal::decode::{absolute, is_audio_path};

/// Options of [`scan`].
#[derive(Clone, Copy, Default)]
pub struct ScanOptions<'a> {
    /// Called on the writer thread after every file.
    pub progress: Option<&'a (dyn Fn(&Progress) + Sync)>,
    /// Try again the files whose last scan failed, even if unchanged since.
    pub retry_errors: bool,
    /// Deep mode ([`baton_signal::deep`]): decode whole tracks and store their prints at every speed
    /// too. Unchanged files that have no deep prints yet are decoded again.
    pub deep: bool,
}

/// Progress of a running scan.
#[derive(Debug, Clone, Serialize)]
pub struct Progress {
    /// Files to fingerprint in this run (changed or new).
    pub total: u64,
    /// Of those, done so far.
    pub done: u64,
    pub failed: u64,
    pub elapsed: Duration,
    pub current: PathBuf,
}

/// The end-of-scan summary.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScanSummary {
    /// Audio files found under the folders.
    pub found: u64,
    /// Unchanged since the last scan (not decoded again).
    pub skipped: u64,
    /// Decoded in this run.
    pub scanned: u64,
    /// Of `scanned`, fingerprinted.
    pub fingerprinted: u64,
    /// Of `scanned`, failed with a per-file error.
    pub failed: u64,
    /// Rows of files that disappeared, dropped from the database.
    pub forgotten: u64,
    pub seconds: f64,
    pub files_per_second: f64,
    /// Per-file errors of this run.
    pub errors: Vec<FileError>,
    /// Whether whole-track deep prints were stored (`--deep`).
    pub deep: bool,
}

/// One per-file error.
#[derive(Debug, Clone, Serialize)]
pub struct FileError {
    pub path: PathBuf,
    pub error: String,
}

/// The folder a scan root's quarantine lives in (where a batch goes by default); scans never
/// descend into it.
pub const QUARANTINE_DIR: &str = ".baton-quarantine";

/// (size, mtime in ns) of a file.
pub fn stat(path: &Path) -> std::io::Result<(u64, i64)> {
    let m = std::fs::metadata(path)?;
    let mtime = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    Ok((m.len(), mtime))
}

/// Audio files under `root` (recursively, not following symlinked folders, skipping the
/// quarantine folders), sorted.
pub fn walk(root: &Path) -> Result<Vec<PathBuf>> {
    let meta = std::fs::metadata(root).map_err(|e| FpError::Io { path: root.to_path_buf(), source: e })?;
    if meta.is_file() {
        return Ok(vec![root.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot list folder; skipped");
                continue;
            }
        };
        for entry in rd.flatten() {
            let p = entry.path();
            let Ok(ft) = entry.file_type() else { continue };
            if ft.is_dir() {
                if entry.file_name() != QUARANTINE_DIR {
                    stack.push(p);
                }
            } else if (ft.is_file() || ft.is_symlink()) && is_audio_path(&p) && p.is_file() {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The row of one file, or `Err` when the workers themselves failed (not the file's fault:
/// nothing is recorded for it).
fn row_for(
    workers: &Workers,
    path: &Path,
    size: u64,
    mtime_ns: i64,
    deep: bool,
) -> Result<(FileRow, Option<Vec<Vec<u32>>>)> {
    let result = match open_regular(path) {
        Ok(file) => workers.scan_file(file, path, None, deep),
        Err(e) => Err((e, None)),
    };
    Ok(match result {
        Ok((fp, prints)) => (
            FileRow {
                path: path.to_path_buf(),
                size,
                mtime_ns,
                duration: Some(fp.duration),
                tags: fp.tags,
                info: fp.info,
                fingerprint: Some(fp.fingerprint),
                ..Default::default()
            },
            prints,
        ),
        Err((e @ (FpError::Worker(_) | FpError::TaskTimeout { .. }), _)) => return Err(e),
        Err((e, tags)) => {
            let (info, tags) = tags.unwrap_or_default();
            (
                FileRow {
                    path: path.to_path_buf(),
                    size,
                    mtime_ns,
                    duration: info.duration,
                    tags,
                    info,
                    error: Some(e.to_string()),
                    error_kind: Some(e.kind().to_string()),
                    ..Default::default()
                },
                None,
            )
        }
    })
}

/// Scans `roots` into the database at `db_path`, decoding in `workers` (one scan thread per
/// worker the pool allows).
pub fn scan(db_path: &Path, roots: &[PathBuf], workers: &Workers, opts: ScanOptions<'_>) -> Result<ScanSummary> {
    let start = Instant::now();
    let db = Db::open(db_path)?;
    let mut summary = ScanSummary::default();
    let retry: std::collections::HashSet<PathBuf> =
        if opts.retry_errors { db.errors()?.into_iter().map(|(p, _)| p).collect() } else { Default::default() };
    let deep_done = if opts.deep { Some(db.deep_done()?) } else { None };
    let mut todo: Vec<(PathBuf, u64, i64)> = Vec::new();
    let mut gone = Vec::new();
    for root in roots {
        let root = absolute(root);
        let files = walk(&root)?;
        db.add_root(if root.is_dir() { &root } else { root.parent().unwrap_or(&root) })?;
        let mut known = db.known_under(&root)?;
        for f in files {
            summary.found += 1;
            let Ok((size, mtime)) = stat(&f) else { continue };
            let k = known.remove(&f);
            let quarantined = k.is_some_and(|k| k.0 == u64::MAX);
            let lacks_deep = deep_done.as_ref().is_some_and(|d| !d.contains(&f));
            if quarantined || (k == Some((size, mtime)) && !retry.contains(&f) && !lacks_deep) {
                summary.skipped += 1;
            } else {
                todo.push((f, size, mtime));
            }
        }
        gone.extend(known.into_keys());
    }
    summary.forgotten = db.forget(&gone)? as u64;
    // overlapping roots must not fingerprint (or count) a file twice
    todo.sort_by(|a, b| a.0.cmp(&b.0));
    todo.dedup_by(|a, b| a.0 == b.0);
    let total = todo.len() as u64;
    let threads = workers.size();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("fp-scan-{i}"))
        .build()
        .map_err(|e| FpError::Invalid(format!("cannot start {threads} scan threads: {e}")))?;
    let (tx, rx) = sync_channel::<Result<(FileRow, Option<Vec<Vec<u32>>>)>>(threads * 2);
    let deep = opts.deep;
    let mut write_err: Option<FpError> = None;
    std::thread::scope(|s| {
        s.spawn(move || {
            pool.install(|| {
                todo.into_par_iter().with_max_len(1).for_each_with(tx, |tx, (path, size, mtime)| {
                    let _ = tx.send(row_for(workers, &path, size, mtime, deep));
                });
            });
        });
        for row in rx {
            if write_err.is_some() {
                continue;
            }
            let (row, prints) = match row {
                Ok(row) => row,
                Err(e) => {
                    write_err = Some(e);
                    continue;
                }
            };
            summary.scanned += 1;
            if let Some(e) = &row.error {
                summary.failed += 1;
                tracing::warn!(path = %row.path.display(), error = %e, "file not fingerprinted");
                summary.errors.push(FileError { path: row.path.clone(), error: e.clone() });
            } else {
                summary.fingerprinted += 1;
            }
            if let Err(e) = db.upsert_with_deep(&row, prints.as_deref()) {
                write_err = Some(e);
                continue;
            }
            if let Some(cb) = opts.progress {
                cb(&Progress {
                    total,
                    done: summary.scanned,
                    failed: summary.failed,
                    elapsed: start.elapsed(),
                    current: row.path.clone(),
                });
            }
        }
    });
    if let Some(e) = write_err {
        return Err(e);
    }
    summary.deep = opts.deep;
    summary.seconds = start.elapsed().as_secs_f64();
    summary.files_per_second = if summary.seconds > 0.0 { summary.scanned as f64 / summary.seconds } else { 0.0 };
    Ok(summary)
}

/// Coverage of the library in the database.
#[derive(Debug, Clone, Serialize)]
pub struct Coverage {
    pub files: u64,
    pub fingerprinted: u64,
    pub failed: u64,
    /// `fingerprinted / files` (1.0 for an empty library).
    pub coverage: f64,
    pub threshold: f64,
    pub ok: bool,
    pub errors: Vec<FileError>,
}

/// The share of the library's audio files with a fingerprint, on an open connection to the
/// state database (the dashboard and the alerts read it every minute, so no write lock and
/// no error list): `None` before any scan made the table, 1.0 for an empty library.
pub fn coverage_ratio(conn: &rusqlite::Connection) -> rusqlite::Result<Option<f64>> {
    if !crate::db::library_exists(conn)? {
        return Ok(None);
    }
    let (files, fingerprinted): (i64, i64) =
        conn.query_row("SELECT count(*), count(fingerprint) FROM fp_files WHERE quarantined = 0", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    Ok(Some(if files == 0 { 1.0 } else { fingerprinted as f64 / files as f64 }))
}

/// Coverage report against `threshold` (0..=1).
pub fn coverage(db_path: &Path, threshold: f64) -> Result<Coverage> {
    let db = Db::open(db_path)?;
    let (files, fingerprinted, failed) = db.counts()?;
    let coverage = if files == 0 { 1.0 } else { fingerprinted as f64 / files as f64 };
    let errors = db.errors()?.into_iter().map(|(path, error)| FileError { path, error }).collect();
    Ok(Coverage { files, fingerprinted, failed, coverage, threshold, ok: coverage >= threshold, errors })
}
